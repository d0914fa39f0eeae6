package ui

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (u *UI) scimRoutes() []route {
	return []route{
		{"GET /provisioning/scim", adminOnly, u.scimSetup},
		{"POST /provisioning/scim/tokens/new", adminOnly, u.generateSCIMToken},
		{"POST /provisioning/scim/tokens/{id}/revoke", adminOnly, u.revokeSCIMToken},
	}
}

type scimData struct {
	Endpoint  string
	Tokens    []identity.Token
	Name      string
	Expiry    expiryChoice
	Secret    string
	Created   string
	TokenMore int
}

// scimEndpoint is the URL an identity provider is given: this server's
// address as the browser reached it, with https when the request came over
// TLS (here or, for a trusted proxy, as it reported).
func scimEndpoint(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || r.URL.Scheme == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/scim/v2"
}

func (u *UI) scimData(p *pageCall) (scimData, error) {
	ts, total, err := u.st.Store().ListTokens(p.ctx, store.TokenFilter{Types: []identity.TokenType{identity.TokenSCIM}, Page: store.Page{Number: 1, Size: 100}})
	d := scimData{Endpoint: scimEndpoint(p.r), Tokens: ts, TokenMore: total - len(ts), Expiry: newExpiry(u.st.Now(), "365")}
	return d, err
}

// scimSetup is the SCIM setup assistant: the endpoint URL to copy, the
// bearer token (generate, shown once; revoke) and each identity
// provider's steps.
func (u *UI) scimSetup(p *pageCall) error {
	d, err := u.scimData(p)
	if err != nil {
		return err
	}
	return p.show("scim", "SCIM provisioning", d)
}

func (u *UI) generateSCIMToken(p *pageCall) error {
	d, err := u.scimData(p)
	if err != nil {
		return err
	}
	d.Name = strings.TrimSpace(p.r.PostForm.Get("name"))
	exp, at, err := readExpiry(p.r.PostForm, u.st.Now())
	d.Expiry = exp
	if err != nil {
		return p.showError("scim", "SCIM provisioning", d, err)
	}
	secret, t, err := u.st.GenerateSCIMToken(p.ctx, d.Name, nil, at)
	if err != nil {
		return p.showError("scim", "SCIM provisioning", d, err)
	}
	d, err = u.scimData(p)
	if err != nil {
		return err
	}
	d.Secret, d.Created = secret, "SCIM token "+t.Name+" created: paste it into your identity provider now."
	return p.show("scim", "SCIM provisioning", d)
}

func (u *UI) revokeSCIMToken(p *pageCall) error {
	raw := p.r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	notFound := identity.Errorf(identity.ErrNotFound, "SCIM token '%s' not found", raw)
	if err != nil {
		return notFound
	}
	t, err := u.st.Store().GetToken(p.ctx, id)
	if errors.Is(err, identity.ErrNotFound) || err == nil && (t.Type != identity.TokenSCIM || t.Revoked()) {
		return notFound
	}
	if err != nil {
		return err
	}
	if err := u.st.RevokeToken(p.ctx, id); err != nil {
		return err
	}
	return p.done("/provisioning/scim", "SCIM token "+t.Name+" revoked: the identity provider's next request is refused.")
}
