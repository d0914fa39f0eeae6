package webapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// SSO is what the Web API needs of the SSO adapter (internal/sso) to
// administer connections: the URLs the IdP is given, an SP key pair for a
// new SAML connection, and test sign-ins.
type SSO interface {
	// Endpoints are the absolute URLs of connection name; "" each when no
	// public URL is configured.
	Endpoints(name string) (login, metadata, acs, callback string)
	// NewSPKeyPair makes a SAML SP key and self-signed certificate.
	NewSPKeyPair(name string) (keyPEM, certPEM []byte, err error)
	// BeginTest returns the URL an admin opens to run a test sign-in
	// against connection name: nothing is created or changed, the answer
	// shows what the IdP sent and what Gatehouse derived.
	BeginTest(ctx context.Context, name string) (string, error)
}

// ssoConnectionJSON is a connection as the admin sees it: never a secret,
// only whether it is set.
type ssoConnectionJSON struct {
	Name                 string              `json:"name"`
	Protocol             string              `json:"protocol"`
	DisplayName          string              `json:"displayName"`
	Enabled              bool                `json:"enabled"`
	JIT                  bool                `json:"jit"`
	GroupsFromAssertions bool                `json:"groupsFromAssertions"`
	Mapping              identity.SSOMapping `json:"mapping"`
	IdPMetadataURL       string              `json:"idpMetadataUrl,omitempty"`
	IdPMetadataXMLSet    bool                `json:"idpMetadataXmlSet,omitempty"`
	EntityID             string              `json:"entityId,omitempty"`
	AllowIdPInitiated    bool                `json:"allowIdpInitiated,omitempty"`
	SPCertificate        string              `json:"spCertificate,omitempty"`
	Issuer               string              `json:"issuer,omitempty"`
	ClientID             string              `json:"clientId,omitempty"`
	ClientSecretSet      bool                `json:"clientSecretSet,omitempty"`
	Scopes               []string            `json:"scopes,omitempty"`
	Version              int64               `json:"version"`
	URLs                 ssoURLsJSON         `json:"urls"`
	CreatedAt            string              `json:"createdAt"`
	UpdatedAt            string              `json:"updatedAt"`
}

type ssoURLsJSON struct {
	Login    string `json:"login"`
	Metadata string `json:"metadata,omitempty"`
	ACS      string `json:"acs,omitempty"`
	Callback string `json:"callback,omitempty"`
}

type ssoPublicJSON struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	Protocol    string `json:"protocol"`
	LoginURL    string `json:"loginUrl"`
}

func (a *API) ssoRoutes() []Route {
	name := Param{Name: "name", Required: true, MaxLen: 40, Desc: "Name of the connection: lower-case letters, digits and '-'; part of its URLs (/sso/{name}/…)."}
	settings := []Param{
		{Name: "displayName", MaxLen: 100, Desc: "Name shown on the sign-in page."},
		{Name: "enabled", Values: boolValues, Desc: "Whether users may sign in through the connection (a test sign-in works either way)."},
		{Name: "preset", Values: presetKeys(), Desc: "A documented attribute mapping (api/sso/connections/presets); attributes given explicitly win."},
		{Name: "loginAttribute", MaxLen: 300, Desc: "Attribute (SAML) or claim (OIDC) of the login; empty: the SAML NameID or OIDC sub."},
		{Name: "nameAttribute", MaxLen: 300, Desc: "Attribute or claim of the display name; missing: the login."},
		{Name: "emailAttribute", MaxLen: 300, Desc: "Attribute or claim of the e-mail address (trusted: no verification step)."},
		{Name: "groupsAttribute", MaxLen: 300, Desc: "Attribute or claim of the groups."},
		{Name: "externalIdAttribute", MaxLen: 300, Desc: "Attribute or claim matched against SCIM's externalId when the login is unknown; empty: the NameID or sub."},
		{Name: "jit", Values: boolValues, Desc: "Create a user (source sso) at the first sign-in of someone Gatehouse does not know."},
		{Name: "groupsFromAssertions", Values: boolValues, Desc: "An SSO user's memberships of SSO groups follow the groups the IdP sends. Default at creation: on unless SCIM manages groups."},
		{Name: "idpMetadataUrl", MaxLen: 2000, Desc: "SAML: URL of the IdP metadata (Entra ID's App Federation Metadata Url, Okta's Metadata URL)."},
		{Name: "idpMetadataXml", MaxLen: 1 << 20, Desc: "SAML: the IdP metadata XML, instead of its URL."},
		{Name: "entityId", MaxLen: 2000, Desc: "SAML: the SP entity id the IdP knows Gatehouse by; default the metadata URL."},
		{Name: "allowIdpInitiated", Values: boolValues, Desc: "SAML: accept sign-ins started at the IdP (its app launcher)."},
		{Name: "issuer", MaxLen: 2000, Desc: "OIDC: the issuer URL (discovery at /.well-known/openid-configuration)."},
		{Name: "clientId", MaxLen: 300, Desc: "OIDC: the client id."},
		{Name: "clientSecret", MaxLen: 2000, Desc: "OIDC: the client secret; stored encrypted, never shown again."},
		{Name: "scopes", MaxLen: 2000, MaxValues: 20, Desc: "OIDC: comma-separated scopes besides openid, profile and email (e.g. groups)."},
	}
	return []Route{
		{Method: "GET", Path: "api/sso/connections/list", Access: admin, Out: obj{"connections": []ssoConnectionJSON{}}, Handle: a.ssoList,
			Summary: "List the SSO connections (SAML 2.0 and OpenID Connect) with their settings and the URLs to give the IdP; secrets are never shown, only whether they are set."},
		{Method: "GET", Path: "api/sso/connections/show", Access: admin, Out: ssoConnectionJSON{}, Handle: a.ssoShow, Params: []Param{name},
			Summary: "One SSO connection, its settings, SP certificate and URLs."},
		{Method: "POST", Path: "api/sso/connections/create", Access: admin, Out: ssoConnectionJSON{}, Handle: a.ssoCreate,
			Params:  append([]Param{name, {Name: "protocol", Required: true, Values: []string{"saml", "oidc"}, Desc: "saml or oidc."}}, settings...),
			Summary: "Create an SSO connection. A SAML connection gets a new SP key pair (its certificate in the answer and the SP metadata). Answers the connection."},
		{Method: "POST", Path: "api/sso/connections/update", Access: admin, Out: ssoConnectionJSON{}, Handle: a.ssoUpdate,
			Params:  append([]Param{name}, settings...),
			Summary: "Change an SSO connection's settings; parameters not sent are kept (clientSecret too). Name and protocol stay."},
		{Method: "POST", Path: "api/sso/connections/delete", Access: admin, Response: respEmpty, Handle: a.ssoDelete, Params: []Param{name},
			Summary: "Delete an SSO connection; the users it created stay."},
		{Method: "GET", Path: "api/sso/connections/presets", Access: admin, Out: obj{"presets": []identity.SSOPreset{}}, Handle: a.ssoPresets,
			Summary: "The documented attribute mappings: Entra ID's claim URIs, Okta's and JumpCloud's attribute names, OpenID Connect's standard claims."},
		{Method: "POST", Path: "api/sso/connections/test", Access: admin, Out: obj{"url": ""}, Handle: a.ssoTest, Params: []Param{name},
			Summary: "Start a test sign-in: answers {url}; open it in a browser and sign in at the IdP (asked to authenticate again). The answer of the IdP's return shows the attributes it sent, the user Gatehouse derives and which existing user it matches, and names each mapped attribute that is missing; nothing is created or changed. The URL works for 10 minutes."},
		{Method: "GET", Path: "api/sso/connections/public", Access: public, Out: obj{"connections": []ssoPublicJSON{}}, Handle: a.ssoPublic,
			Summary: "The enabled SSO connections for the sign-in page: {connections:[{name, displayName, protocol, loginUrl}]}; needs no authentication. loginUrl takes return_to, a path on this server."},
	}
}

func presetKeys() []string {
	keys := make([]string, 0, len(identity.SSOPresets))
	for _, p := range identity.SSOPresets {
		keys = append(keys, p.Key)
	}
	return keys
}

var errSSOUnavailable = errorf(http.StatusBadRequest, "Single sign-on is not available on this server")

func (a *API) ssoView(c identity.SSOConnection) ssoConnectionJSON {
	s := c.Settings
	v := ssoConnectionJSON{Name: c.Name, Protocol: string(c.Protocol), DisplayName: s.DisplayName, Enabled: s.Enabled, JIT: s.JIT,
		GroupsFromAssertions: s.GroupsFromAssertions, Mapping: s.Mapping, IdPMetadataURL: s.IdPMetadataURL, IdPMetadataXMLSet: s.IdPMetadataXML != "",
		EntityID: s.EntityID, AllowIdPInitiated: s.AllowIdPInitiated, SPCertificate: s.SPCertPEM, Issuer: s.Issuer, ClientID: s.ClientID,
		ClientSecretSet: s.ClientSecretSealed != "", Scopes: s.Scopes, Version: c.Version,
		CreatedAt: formatTime(c.CreatedAt), UpdatedAt: formatTime(c.UpdatedAt)}
	if a.opts.SSO != nil {
		login, md, acs, cb := a.opts.SSO.Endpoints(c.Name)
		v.URLs.Login = login
		if c.Protocol == identity.SSOSAML {
			v.URLs.Metadata, v.URLs.ACS = md, acs
		} else {
			v.URLs.Callback = cb
		}
	}
	return v
}

func (a *API) ssoList(c *call) (any, error) {
	cs, err := a.st.SSOConnections(c.ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ssoConnectionJSON, 0, len(cs))
	for _, conn := range cs {
		out = append(out, a.ssoView(conn))
	}
	return map[string]any{"connections": out}, nil
}

func (a *API) ssoShow(c *call) (any, error) {
	conn, err := a.st.SSOConnection(c.ctx, c.str("name"))
	if err != nil {
		return nil, err
	}
	return a.ssoView(conn), nil
}

// ssoInput applies the sent parameters to settings st.
func ssoInput(c *call, st identity.SSOSettings) state.SSOConnectionInput {
	in := state.SSOConnectionInput{Name: c.str("name")}
	if k := c.str("preset"); k != "" {
		p, _ := identity.SSOPresetByKey(k) // validated by Values
		st.Mapping = p.Mapping
	}
	strs := map[string]*string{
		"displayName": &st.DisplayName, "loginAttribute": &st.Mapping.Login, "nameAttribute": &st.Mapping.Name,
		"emailAttribute": &st.Mapping.Email, "groupsAttribute": &st.Mapping.Groups, "externalIdAttribute": &st.Mapping.ExternalID,
		"idpMetadataUrl": &st.IdPMetadataURL, "idpMetadataXml": &st.IdPMetadataXML, "entityId": &st.EntityID,
		"issuer": &st.Issuer, "clientId": &st.ClientID,
	}
	for p, dst := range strs {
		if v := c.opt(p); v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	// One of the two metadata sources replaces the other.
	if c.str("idpMetadataUrl") != "" && !c.has("idpMetadataXml") {
		st.IdPMetadataXML = ""
	}
	if c.str("idpMetadataXml") != "" && !c.has("idpMetadataUrl") {
		st.IdPMetadataURL = ""
	}
	bools := map[string]*bool{"enabled": &st.Enabled, "jit": &st.JIT, "allowIdpInitiated": &st.AllowIdPInitiated}
	for p, dst := range bools {
		if v, set := c.boolean(p); set {
			*dst = v
		}
	}
	if v, set := c.boolean("groupsFromAssertions"); set {
		in.GroupsFromAssertions = &v
	}
	if c.has("scopes") {
		st.Scopes = c.list("scopes")
	}
	in.ClientSecret = c.opt("clientSecret")
	in.Settings = st
	return in
}

func (a *API) ssoCreate(c *call) (any, error) {
	if a.opts.SSO == nil {
		return nil, errSSOUnavailable
	}
	st := identity.SSOSettings{Enabled: true, JIT: false}
	in := ssoInput(c, st)
	in.Protocol = identity.SSOProtocol(c.str("protocol"))
	if !c.has("enabled") {
		in.Settings.Enabled = true
	}
	in.NewKeyPair = a.opts.SSO.NewSPKeyPair
	conn, err := a.st.CreateSSOConnection(c.ctx, in)
	if err != nil {
		return nil, err
	}
	return a.ssoView(conn), nil
}

func (a *API) ssoUpdate(c *call) (any, error) {
	old, err := a.st.SSOConnection(c.ctx, c.str("name"))
	if err != nil {
		return nil, err
	}
	in := ssoInput(c, old.Settings)
	in.Protocol = old.Protocol
	conn, err := a.st.UpdateSSOConnection(c.ctx, old.Name, in)
	if err != nil {
		return nil, err
	}
	return a.ssoView(conn), nil
}

func (a *API) ssoDelete(c *call) (any, error) {
	return nil, a.st.DeleteSSOConnection(c.ctx, c.str("name"))
}

func (a *API) ssoPresets(*call) (any, error) {
	return map[string]any{"presets": identity.SSOPresets}, nil
}

func (a *API) ssoTest(c *call) (any, error) {
	if a.opts.SSO == nil {
		return nil, errSSOUnavailable
	}
	if _, err := a.st.SSOConnection(c.ctx, c.str("name")); err != nil {
		return nil, err
	}
	u, err := a.opts.SSO.BeginTest(c.ctx, c.str("name"))
	if err != nil {
		return nil, err
	}
	return map[string]string{"url": u}, nil
}

func (a *API) ssoPublic(c *call) (any, error) {
	out := []ssoPublicJSON{}
	if a.opts.SSO == nil {
		return map[string]any{"connections": out}, nil
	}
	choices, err := a.st.SSOSignInChoices(c.ctx, func(name string) string {
		login, _, _, _ := a.opts.SSO.Endpoints(name)
		return login
	})
	if err != nil {
		return nil, err
	}
	for _, ch := range choices {
		out = append(out, ssoPublicJSON{Name: ch.Name, DisplayName: ch.DisplayName, Protocol: string(ch.Protocol), LoginURL: ch.LoginURL})
	}
	return map[string]any{"connections": out}, nil
}
