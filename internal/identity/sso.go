package identity

import (
	"net/url"
	"regexp"
	"strings"
	"time"
)

// SSOProtocol is the protocol of an SSO connection.
type SSOProtocol string

// The SSO protocols.
const (
	SSOSAML SSOProtocol = "saml"
	SSOOIDC SSOProtocol = "oidc"
)

// SSOConnection is one single sign-on connection to one identity provider.
// Its name is the key in its URLs (/sso/{name}/…).
type SSOConnection struct {
	ID        int64
	Name      string
	Protocol  SSOProtocol
	Settings  SSOSettings
	Version   int64 // incremented by every update, so caches notice
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SSOSettings are an SSO connection's configuration. Secrets are sealed
// (package secretbox) before they reach the store.
type SSOSettings struct {
	DisplayName string `json:"displayName"`
	Enabled     bool   `json:"enabled"`

	// SAML: the IdP metadata by URL or as XML (exactly one), the SP key
	// pair (the key sealed), whether IdP-initiated sign-ins are accepted.
	IdPMetadataURL    string `json:"idpMetadataUrl,omitempty"`
	IdPMetadataXML    string `json:"idpMetadataXml,omitempty"`
	EntityID          string `json:"entityId,omitempty"`
	SPKeySealed       string `json:"spKeySealed,omitempty"`
	SPCertPEM         string `json:"spCertPem,omitempty"`
	AllowIdPInitiated bool   `json:"allowIdpInitiated,omitempty"`

	// OIDC: the issuer, the client, extra scopes (openid is implied).
	Issuer             string   `json:"issuer,omitempty"`
	ClientID           string   `json:"clientId,omitempty"`
	ClientSecretSealed string   `json:"clientSecretSealed,omitempty"`
	Scopes             []string `json:"scopes,omitempty"`

	// Mapping names the attributes (SAML) or claims (OIDC) each user
	// field is read from.
	Mapping SSOMapping `json:"mapping"`
	// JIT creates a user (source sso) at the first sign-in of someone
	// Gatehouse does not know; off, only existing (e.g. SCIM-provisioned)
	// users sign in.
	JIT bool `json:"jit"`
	// GroupsFromAssertions makes a user's memberships of SSO groups the
	// groups the IdP sent at each sign-in. Off when SCIM manages groups.
	GroupsFromAssertions bool `json:"groupsFromAssertions"`
}

// SSOMapping names the attribute or claim of each user field. An empty
// Login reads the subject (SAML NameID, OIDC sub); an empty ExternalID
// also reads the subject.
type SSOMapping struct {
	Login      string `json:"login"`
	Name       string `json:"name"`
	Email      string `json:"email"`
	Groups     string `json:"groups"`
	ExternalID string `json:"externalId"`
}

// SSOPreset is a documented attribute mapping for one identity provider.
type SSOPreset struct {
	Key         string      `json:"key"`
	Name        string      `json:"name"`
	Protocol    SSOProtocol `json:"protocol"`
	Mapping     SSOMapping  `json:"mapping"`
	Description string      `json:"description"`
}

// SSOPresets are the attribute mappings of the identity providers the
// README documents. Entra ID's are the claim URIs of its default SAML
// claims (user.userprincipalname, user.displayname, user.mail, the object
// id); its groups claim must be added in the app's "Attributes & Claims".
var SSOPresets = []SSOPreset{
	{Key: "entra-saml", Name: "Microsoft Entra ID (SAML)", Protocol: SSOSAML, Mapping: SSOMapping{
		Login:      "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
		Name:       "http://schemas.microsoft.com/identity/claims/displayname",
		Email:      "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
		Groups:     "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
		ExternalID: "http://schemas.microsoft.com/identity/claims/objectidentifier",
	}, Description: "Entra ID's default claims: login from the user principal name, e-mail from user.mail, the object id as external id (what Entra's SCIM provisioning sends as externalId). Add a group claim for groups."},
	{Key: "okta-saml", Name: "Okta (SAML)", Protocol: SSOSAML, Mapping: SSOMapping{
		Login: "login", Name: "displayName", Email: "email", Groups: "groups",
	}, Description: "Attribute statements to add in Okta: login = user.login, displayName = user.displayName, email = user.email; a group attribute statement named groups."},
	{Key: "jumpcloud-saml", Name: "JumpCloud (SAML)", Protocol: SSOSAML, Mapping: SSOMapping{
		Login: "username", Name: "fullname", Email: "email", Groups: "memberOf",
	}, Description: "JumpCloud user attributes: username, fullname and email; enable group attributes with the name memberOf."},
	{Key: "entra-oidc", Name: "Microsoft Entra ID (OpenID Connect)", Protocol: SSOOIDC, Mapping: SSOMapping{
		Login: "preferred_username", Name: "name", Email: "email", Groups: "groups", ExternalID: "oid",
	}, Description: "Entra ID's ID token claims; add the email and groups optional claims in the app registration."},
	{Key: "okta-oidc", Name: "Okta (OpenID Connect)", Protocol: SSOOIDC, Mapping: SSOMapping{
		Login: "preferred_username", Name: "name", Email: "email", Groups: "groups",
	}, Description: "Okta's standard claims; add a groups claim to the authorization server (or the app's group claim filter)."},
	{Key: "oidc", Name: "Any OpenID provider", Protocol: SSOOIDC, Mapping: SSOMapping{
		Login: "preferred_username", Name: "name", Email: "email", Groups: "groups",
	}, Description: "The standard claims of OpenID Connect Core; groups is a common, non-standard claim."},
}

// SSOPresetByKey returns the preset with key k.
func SSOPresetByKey(k string) (SSOPreset, bool) {
	for _, p := range SSOPresets {
		if p.Key == k {
			return p, true
		}
	}
	return SSOPreset{}, false
}

var ssoNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// ValidateSSOConnection checks a connection before it is stored.
func ValidateSSOConnection(c SSOConnection) error {
	s := c.Settings
	if !ssoNameRE.MatchString(c.Name) {
		return Errorf(ErrInvalid, "The SSO connection name '%s' must be 1 to 40 lower-case letters, digits or '-' (it is part of the connection's URLs)", c.Name)
	}
	if len(s.DisplayName) > 100 {
		return Errorf(ErrInvalid, "The display name of an SSO connection is at most 100 characters")
	}
	for field, v := range map[string]string{"login": s.Mapping.Login, "name": s.Mapping.Name, "email": s.Mapping.Email, "groups": s.Mapping.Groups, "externalId": s.Mapping.ExternalID} {
		if len(v) > 300 {
			return Errorf(ErrInvalid, "The %s attribute name is longer than 300 characters", field)
		}
	}
	switch c.Protocol {
	case SSOSAML:
		if (s.IdPMetadataURL == "") == (s.IdPMetadataXML == "") {
			return Errorf(ErrInvalid, "A SAML connection needs the IdP metadata: either its URL or its XML")
		}
		if s.IdPMetadataURL != "" && !httpURL(s.IdPMetadataURL) {
			return Errorf(ErrInvalid, "The IdP metadata URL must be an absolute http(s) URL")
		}
		if len(s.IdPMetadataXML) > 1<<20 {
			return Errorf(ErrInvalid, "The IdP metadata XML is larger than 1 MiB")
		}
		if s.SPKeySealed == "" || s.SPCertPEM == "" {
			return Errorf(ErrInvalid, "A SAML connection needs its SP key pair")
		}
		if s.Issuer != "" || s.ClientID != "" || s.ClientSecretSealed != "" {
			return Errorf(ErrInvalid, "issuer, clientId and clientSecret are OpenID Connect settings, not SAML ones")
		}
	case SSOOIDC:
		if !httpURL(s.Issuer) {
			return Errorf(ErrInvalid, "An OpenID Connect connection needs the issuer URL (absolute, http(s))")
		}
		if s.ClientID == "" || len(s.ClientID) > 300 {
			return Errorf(ErrInvalid, "An OpenID Connect connection needs a client id (at most 300 characters)")
		}
		if s.IdPMetadataURL != "" || s.IdPMetadataXML != "" || s.SPKeySealed != "" {
			return Errorf(ErrInvalid, "IdP metadata and the SP key are SAML settings, not OpenID Connect ones")
		}
		if len(s.Scopes) > 20 {
			return Errorf(ErrInvalid, "At most 20 scopes")
		}
		for _, sc := range s.Scopes {
			if sc == "" || len(sc) > 100 || strings.ContainsAny(sc, " \t\r\n") {
				return Errorf(ErrInvalid, "The scope '%s' is not valid", sc)
			}
		}
	default:
		return Errorf(ErrInvalid, "The protocol of an SSO connection is saml or oidc, not '%s'", c.Protocol)
	}
	return nil
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http")
}
