package ui

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// ssoRoutes are the SSO connections page's routes. The adapter's own
// routes are /sso/{name}/login, metadata, acs and callback; these keep
// clear of them.
func (u *UI) ssoRoutes() []route {
	return []route{
		{"GET /sso", adminOnly, u.ssoList},
		{"POST /sso", adminOnly, u.createSSO},
		{"GET /sso/{name}", adminOnly, u.ssoPage},
		{"POST /sso/{name}/update", adminOnly, u.updateSSO},
		{"POST /sso/{name}/enable", adminOnly, u.enableSSO},
		{"POST /sso/{name}/delete", adminOnly, u.deleteSSO},
		// A link, not a form: the test goes on to the IdP, another origin,
		// which the CSP's form-action 'self' would stop after a POST. It
		// changes nothing (the ticket is signed, not stored).
		{"GET /sso/{name}/test", adminOnly, u.testSSO},
	}
}

// ssoForm is a connection's form as shown: never a secret, only whether
// it is set.
type ssoForm struct {
	Name, Protocol, DisplayName, Preset     string
	Enabled, JIT, GroupsFromAssertions      bool
	AllowIdPInitiated                       bool
	Mapping                                 identity.SSOMapping
	IdPMetadataURL, EntityID                string
	Issuer, ClientID, Scopes                string
	MetadataXMLSet, ClientSecretSet, Exists bool
}

func formOf(c identity.SSOConnection) ssoForm {
	s := c.Settings
	return ssoForm{Name: c.Name, Protocol: string(c.Protocol), DisplayName: s.DisplayName, Enabled: s.Enabled, JIT: s.JIT,
		GroupsFromAssertions: s.GroupsFromAssertions, AllowIdPInitiated: s.AllowIdPInitiated, Mapping: s.Mapping,
		IdPMetadataURL: s.IdPMetadataURL, EntityID: s.EntityID, Issuer: s.Issuer, ClientID: s.ClientID,
		Scopes: strings.Join(s.Scopes, ", "), MetadataXMLSet: s.IdPMetadataXML != "", ClientSecretSet: s.ClientSecretSealed != "", Exists: c.ID != 0}
}

// ssoAttribute is one field of the attribute mapping.
type ssoAttribute struct {
	Field, Label, Hint string
	of                 func(*identity.SSOMapping) *string
}

var ssoAttributes = []ssoAttribute{
	{"loginAttribute", "Login attribute or claim", "Empty: the SAML NameID or the OIDC sub.", func(m *identity.SSOMapping) *string { return &m.Login }},
	{"nameAttribute", "Name attribute or claim", "Missing in a sign-in: the login.", func(m *identity.SSOMapping) *string { return &m.Name }},
	{"emailAttribute", "E-mail attribute or claim", "Trusted as sent: no verification step.", func(m *identity.SSOMapping) *string { return &m.Email }},
	{"groupsAttribute", "Groups attribute or claim", "", func(m *identity.SSOMapping) *string { return &m.Groups }},
	{"externalIdAttribute", "External id attribute or claim", "Matched against SCIM's externalId when the login is unknown; empty: the NameID or sub.", func(m *identity.SSOMapping) *string { return &m.ExternalID }},
}

// ssoAttributeField is an attribute field as the form shows it.
type ssoAttributeField struct {
	ssoAttribute
	Value string
}

// Attributes are the mapping's fields with their values.
func (f ssoForm) Attributes() []ssoAttributeField {
	out := make([]ssoAttributeField, len(ssoAttributes))
	for i, a := range ssoAttributes {
		out[i] = ssoAttributeField{a, *a.of(&f.Mapping)}
	}
	return out
}

type ssoURLs struct{ Login, Metadata, ACS, Callback string }

type ssoListData struct {
	Available   bool
	Connections []identity.SSOConnection
	Presets     []identity.SSOPreset
	Form        ssoForm
}

type ssoPageData struct {
	Available bool
	Form      ssoForm
	Presets   []identity.SSOPreset
	URLs      ssoURLs
	SPCert    string
	Conn      identity.SSOConnection
}

func (u *UI) ssoListData(p *pageCall, f ssoForm) (ssoListData, error) {
	cs, err := u.st.SSOConnections(p.ctx)
	return ssoListData{Available: u.opts.SSO != nil, Connections: cs, Presets: identity.SSOPresets, Form: f}, err
}

func (u *UI) ssoList(p *pageCall) error {
	d, err := u.ssoListData(p, ssoForm{Protocol: string(identity.SSOOIDC), Enabled: true})
	if err != nil {
		return err
	}
	return p.show("sso", "Single sign-on", d)
}

// ssoInput reads the form over settings st: a preset fills the attribute
// fields left empty; an empty client secret or metadata XML keeps the
// stored one; one metadata source replaces the other.
func ssoInput(f url.Values, c identity.SSOConnection) (state.SSOConnectionInput, ssoForm) {
	get := func(k string) string { return strings.TrimSpace(f.Get(k)) }
	s := c.Settings
	s.DisplayName = get("displayName")
	s.Enabled, s.JIT = f.Get("enabled") != "", f.Get("jit") != ""
	preset, _ := identity.SSOPresetByKey(get("preset"))
	for _, a := range ssoAttributes {
		// A preset fills the fields left empty.
		v := get(a.Field)
		if v == "" {
			v = *a.of(&preset.Mapping)
		}
		*a.of(&s.Mapping) = v
	}
	in := state.SSOConnectionInput{Name: c.Name, Protocol: c.Protocol}
	switch c.Protocol {
	case identity.SSOSAML:
		s.EntityID, s.AllowIdPInitiated = get("entityId"), f.Get("allowIdpInitiated") != ""
		mdURL, mdXML := get("idpMetadataUrl"), get("idpMetadataXml")
		switch {
		case mdXML != "":
			s.IdPMetadataXML, s.IdPMetadataURL = mdXML, mdURL
		case mdURL != "":
			s.IdPMetadataURL, s.IdPMetadataXML = mdURL, ""
		default:
			s.IdPMetadataURL = ""
		}
	case identity.SSOOIDC:
		s.Issuer, s.ClientID = get("issuer"), get("clientId")
		s.Scopes = nil
		for _, sc := range strings.Split(f.Get("scopes"), ",") {
			if sc = strings.TrimSpace(sc); sc != "" {
				s.Scopes = append(s.Scopes, sc)
			}
		}
		if secret := f.Get("clientSecret"); secret != "" {
			in.ClientSecret = &secret
		}
	}
	if c.ID != 0 {
		g := f.Get("groupsFromAssertions") != ""
		in.GroupsFromAssertions = &g
	}
	in.Settings = s
	shown := formOf(identity.SSOConnection{ID: c.ID, Name: c.Name, Protocol: c.Protocol, Settings: s})
	shown.Preset = preset.Key
	// What was typed but refused is not shown again: secrets stay
	// write-only, even unsaved.
	shown.ClientSecretSet, shown.MetadataXMLSet = c.Settings.ClientSecretSealed != "", c.Settings.IdPMetadataXML != ""
	return in, shown
}

func (u *UI) createSSO(p *pageCall) error {
	if u.opts.SSO == nil {
		return errSSOUnavailable
	}
	f := p.r.PostForm
	c := identity.SSOConnection{Name: strings.TrimSpace(f.Get("name")), Protocol: identity.SSOProtocol(f.Get("protocol"))}
	in, shown := ssoInput(f, c)
	in.NewKeyPair = u.opts.SSO.NewSPKeyPair
	created, err := u.st.CreateSSOConnection(p.ctx, in)
	if err != nil {
		d, lerr := u.ssoListData(p, shown)
		if lerr != nil {
			return lerr
		}
		return p.showError("sso", "Single sign-on", d, err)
	}
	return p.done(ssoPath(created.Name), "SSO connection "+created.Name+" created: give the identity provider the URLs below.")
}

var errSSOUnavailable = identity.Errorf(identity.ErrInvalid, "Single sign-on is not available on this server.")

func ssoPath(name string) string { return "/sso/" + url.PathEscape(name) }

func (u *UI) ssoPageData(c identity.SSOConnection, f ssoForm) ssoPageData {
	d := ssoPageData{Available: u.opts.SSO != nil, Form: f, Presets: identity.SSOPresets, Conn: c, SPCert: c.Settings.SPCertPEM}
	if u.opts.SSO != nil {
		login, md, acs, cb := u.opts.SSO.Endpoints(c.Name)
		d.URLs = ssoURLs{Login: login}
		if c.Protocol == identity.SSOSAML {
			d.URLs.Metadata, d.URLs.ACS = md, acs
		} else {
			d.URLs.Callback = cb
		}
	}
	return d
}

func (u *UI) ssoPage(p *pageCall) error {
	c, err := u.st.SSOConnection(p.ctx, p.r.PathValue("name"))
	if err != nil {
		return err
	}
	return p.show("sso_connection", c.Name, u.ssoPageData(c, formOf(c)))
}

func (u *UI) updateSSO(p *pageCall) error {
	old, err := u.st.SSOConnection(p.ctx, p.r.PathValue("name"))
	if err != nil {
		return err
	}
	in, shown := ssoInput(p.r.PostForm, old)
	if _, err := u.st.UpdateSSOConnection(p.ctx, old.Name, in); err != nil {
		return p.showError("sso_connection", old.Name, u.ssoPageData(old, shown), err)
	}
	return p.done(ssoPath(old.Name), "SSO connection "+old.Name+" saved.")
}

// enableSSO switches a connection on or off, its other settings kept.
func (u *UI) enableSSO(p *pageCall) error {
	old, err := u.st.SSOConnection(p.ctx, p.r.PathValue("name"))
	if err != nil {
		return err
	}
	in := state.SSOConnectionInput{Name: old.Name, Protocol: old.Protocol, Settings: old.Settings}
	in.Settings.Enabled = p.r.PostForm.Get("enabled") == "true"
	if _, err := u.st.UpdateSSOConnection(p.ctx, old.Name, in); err != nil {
		return err
	}
	msg := "SSO connection " + old.Name + " enabled: the sign-in page offers it."
	if !in.Settings.Enabled {
		msg = "SSO connection " + old.Name + " disabled: nobody signs in through it (a test sign-in still works)."
	}
	to := "/sso"
	if p.r.PostForm.Get("from") == "connection" {
		to = ssoPath(old.Name)
	}
	return p.done(to, msg)
}

func (u *UI) deleteSSO(p *pageCall) error {
	name := p.r.PathValue("name")
	if err := u.st.DeleteSSOConnection(p.ctx, name); err != nil {
		return err
	}
	return p.done("/sso", "SSO connection "+name+" deleted; the users it created stay.")
}

// testSSO starts a test sign-in and sends the admin to it.
func (u *UI) testSSO(p *pageCall) error {
	if u.opts.SSO == nil {
		return errSSOUnavailable
	}
	to, err := u.opts.SSO.BeginTest(p.ctx, p.r.PathValue("name"))
	if err != nil {
		return err
	}
	http.Redirect(p.w, p.r, to, http.StatusSeeOther)
	return nil
}
