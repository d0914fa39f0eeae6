// Package claims holds what an identity provider asserted about a person at
// sign-in, before Gatehouse maps it to a user. It is the one type the SSO
// protocols (SAML 2.0, OpenID Connect) hand to the SSO adapter, so the adapter
// maps attributes, matches users and explains a test sign-in the same way for
// both.
package claims

// Claims is one verified sign-in's raw statement from the identity provider.
type Claims struct {
	// Protocol is "saml" or "oidc".
	Protocol string
	// Issuer is the IdP entity id (SAML) or issuer URL (OIDC).
	Issuer string
	// Subject is the SAML NameID or the OIDC "sub" claim.
	Subject string
	// Attributes are the assertion's attributes (SAML: attribute Name →
	// values) or the ID token's and userinfo's claims (OIDC: claim name →
	// values, strings and string arrays flattened to strings), exactly as
	// sent, so a test sign-in can show them and name the ones a mapping
	// expects but the IdP did not send.
	Attributes map[string][]string
}

// First returns the first value of attribute name, or "".
func (c Claims) First(name string) string {
	if v := c.Attributes[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}
