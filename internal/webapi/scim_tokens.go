package webapi

import (
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (a *API) scimTokenRoutes() []Route {
	idParam := Param{Name: "id", Required: true, Int: true, Desc: "SCIM token id."}
	scopes := "Comma-separated SCIM scopes (" + strings.Join(state.SCIMScopes, ", ") + "); all of them when absent, which is what full provisioning of users and groups needs."
	return []Route{
		{Method: "POST", Path: "api/scim_tokens/generate", Access: admin, Out: scimTokenJSON{}, Handle: a.scimTokenGenerate,
			Params: []Param{
				{Name: "name", Required: true, MaxLen: identity.MaxTokenNameLen, Desc: "Token name, unique among SCIM tokens."},
				{Name: "scopes", MaxValues: len(state.SCIMScopes), Desc: scopes},
				{Name: "expiresIn", Values: expiresInValues(), Desc: "Expiry preset; excludes expirationDate."},
				{Name: "expirationDate", MaxLen: 10, Desc: "Expiry date (YYYY-MM-DD, at least tomorrow); excludes expiresIn."},
			},
			Summary: "Generate a SCIM provisioning token (gts_…) for the identity provider, shown once: {id, name, token, scopes:[…], createdAt, expirationDate?}."},
		{Method: "GET", Path: "api/scim_tokens/search", Access: admin, Out: obj{"paging": paging{}, "scimTokens": []scimTokenJSON{}}, Handle: a.scimTokenSearch,
			Params:  append([]Param{{Name: "q", MaxLen: identity.MaxTokenNameLen, Desc: "Substring of the name."}}, pagingParams(100, 500)...),
			Summary: "List live SCIM tokens (never their secrets): {paging, scimTokens:[{id, name, scopes, createdAt, createdBy, expirationDate?, lastConnectionDate?}]}."},
		{Method: "POST", Path: "api/scim_tokens/revoke", Access: admin, Params: []Param{idParam}, Response: "empty", Handle: a.scimTokenRevoke,
			Summary: "Revoke a SCIM token: the identity provider's next request is refused; the token is kept for audit."},
	}
}

type scimTokenJSON struct {
	ID                 string   `json:"id"`
	Name               string   `json:"name"`
	Token              string   `json:"token,omitempty"`
	Scopes             []string `json:"scopes"`
	CreatedAt          string   `json:"createdAt"`
	CreatedBy          string   `json:"createdBy"`
	ExpirationDate     *string  `json:"expirationDate,omitempty"`
	LastConnectionDate *string  `json:"lastConnectionDate,omitempty"`
}

func viewSCIMToken(t identity.Token, secret string) scimTokenJSON {
	scopes := t.SCIMScopes
	if scopes == nil {
		scopes = []string{}
	}
	return scimTokenJSON{ID: idString(t.ID), Name: t.Name, Token: secret, Scopes: scopes, CreatedAt: formatTime(t.CreatedAt),
		CreatedBy: t.CreatedBy, ExpirationDate: optTime(t.ExpiresAt), LastConnectionDate: optTime(t.LastUsedAt)}
}

func (a *API) scimTokenGenerate(c *call) (any, error) {
	exp, _, err := c.orgTokenExpiry()
	if err != nil {
		return nil, err
	}
	secret, t, err := a.st.GenerateSCIMToken(c.ctx, c.str("name"), c.list("scopes"), exp)
	if err != nil {
		return nil, err
	}
	return viewSCIMToken(t, secret), nil
}

func (a *API) scimTokenSearch(c *call) (any, error) {
	p, ps := c.page()
	ts, total, err := a.st.Store().ListTokens(c.ctx, store.TokenFilter{
		Types: []identity.TokenType{identity.TokenSCIM}, Query: c.str("q"), Page: store.Page{Number: p, Size: ps},
	})
	if err != nil {
		return nil, err
	}
	out := make([]scimTokenJSON, len(ts))
	for i, t := range ts {
		out[i] = viewSCIMToken(t, "")
	}
	return map[string]any{"paging": paging{PageIndex: p, PageSize: ps, Total: total}, "scimTokens": out}, nil
}

func (a *API) scimTokenRevoke(c *call) (any, error) {
	id := c.orgTokenID()
	t, err := a.st.Store().GetToken(c.ctx, id)
	if err == nil && (t.Type != identity.TokenSCIM || t.Revoked()) {
		err = identity.ErrNotFound
	}
	if err != nil {
		return nil, identity.Errorf(identity.ErrNotFound, "SCIM token '%d' not found", id)
	}
	return nil, a.st.RevokeToken(c.ctx, id)
}
