package webapi

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/token"
)

func (a *API) userTokenRoutes() []Route {
	loginParam := Param{Name: "login", Desc: "User login; another user's needs Administer System. Default: the caller"}
	return []Route{
		{Method: "POST", UserOnly: true, Path: "api/user_tokens/generate", Summary: "Generate a user, global analysis or project analysis token. The secret is shown once. " +
			"expirationDate is the first day (00:00 UTC) on which the token no longer works.",
			Access: authenticated, Params: []Param{
				loginParam,
				{Name: "name", Required: true, MaxLen: identity.MaxTokenNameLen, Desc: "Token name, unique per user"},
				{Name: "type", Default: string(identity.TokenUser), Values: tokenTypeValues(), Desc: "Token type"},
				{Name: "projectKey", Desc: "The only project a PROJECT_ANALYSIS_TOKEN can analyze"},
				{Name: "expirationDate", Desc: "Expiration date, YYYY-MM-DD, at least tomorrow"},
			}, Out: generatedTokenJSON{}, Handle: a.generateUserToken},
		{Method: "POST", UserOnly: true, Path: "api/user_tokens/revoke", Summary: "Revoke a user's token by name; it stops working at once.",
			Access: authenticated, Response: "empty", Params: []Param{
				loginParam,
				{Name: "name", Required: true, Desc: "Token name"},
			}, Handle: a.revokeUserToken},
		{Method: "GET", UserOnly: true, Path: "api/user_tokens/search", Summary: "List a user's tokens, never their secrets.",
			Access: authenticated, Params: []Param{loginParam}, Out: obj{"login": "", "userTokens": []userTokenJSON{}}, Handle: a.searchUserTokens},
	}
}

func tokenTypeValues() []string {
	out := make([]string, len(state.UserTokenTypes))
	for i, t := range state.UserTokenTypes {
		out[i] = string(t)
	}
	return out
}

// tokenOwner resolves the login parameter (default: the caller) to the user
// whose tokens are concerned; another user's needs Administer System.
func (a *API) tokenOwner(c *call) (u identity.User, self bool, err error) {
	login := c.str("login")
	callerLogin := ""
	if c.principal.UserID != 0 {
		callerLogin = a.st.Index().Login(c.principal.UserID)
	}
	if login == "" {
		if callerLogin == "" {
			// An organization token has no user to act for.
			return u, false, errForbidden
		}
		login = callerLogin
	}
	self = login == callerLogin
	if !self && !c.isAdmin() {
		return u, false, errForbidden
	}
	u, err = a.st.Store().GetUserByLogin(c.ctx, login)
	if errors.Is(err, identity.ErrNotFound) {
		return u, self, identity.Errorf(identity.ErrNotFound, "User with login '%s' doesn't exist", login)
	}
	return u, self, err
}

// parseExpirationDate reads expirationDate: the token stops working at
// 00:00 UTC of that day, which must be tomorrow or later.
func (a *API) parseExpirationDate(c *call) (time.Time, error) {
	v := c.str("expirationDate")
	if v == "" {
		return time.Time{}, nil
	}
	d, err := token.ExpiryDate(v, a.st.Now())
	switch {
	case errors.Is(err, token.ErrExpiryFormat):
		return time.Time{}, badRequest("Supplied date format for parameter expirationDate is wrong. Please supply date in the ISO 8601 date format (YYYY-MM-DD)")
	case errors.Is(err, token.ErrExpiryTooEarly):
		return time.Time{}, badRequest(fmt.Sprintf("The minimum value for parameter expirationDate is %s.", token.EarliestExpiry(a.st.Now()).Format(sonarDate)))
	}
	return d, nil
}

type generatedTokenJSON struct {
	Login          string  `json:"login"`
	Name           string  `json:"name"`
	Token          string  `json:"token"`
	CreatedAt      string  `json:"createdAt"`
	Type           string  `json:"type"`
	ProjectKey     string  `json:"projectKey,omitempty"`
	ExpirationDate *string `json:"expirationDate,omitempty"`
}

func (a *API) generateUserToken(c *call) (any, error) {
	// A token only ever narrows its user's rights: one that is capped
	// (analysis) or has no user (organization) cannot mint another.
	if c.principal.TokenID != 0 && c.principal.TokenType != identity.TokenUser {
		return nil, errForbidden
	}
	owner, _, err := a.tokenOwner(c)
	if err != nil {
		return nil, err
	}
	req := state.UserTokenRequest{Owner: owner, Name: c.str("name"), Type: identity.TokenType(c.str("type"))}
	if req.Type == identity.TokenProjectAnalysis {
		req.ProjectKey = c.str("projectKey")
	}
	if req.ExpiresAt, err = a.parseExpirationDate(c); err != nil {
		return nil, err
	}
	secret, t, err := a.st.IssueUserToken(c.ctx, c.principal, req)
	if err != nil {
		return nil, err
	}
	return generatedTokenJSON{
		Login: owner.Login, Name: t.Name, Token: secret, CreatedAt: formatTime(t.CreatedAt), Type: string(t.Type),
		ProjectKey: strings.TrimSpace(req.ProjectKey), ExpirationDate: optTime(t.ExpiresAt),
	}, nil
}

func (a *API) revokeUserToken(c *call) (any, error) {
	owner, _, err := a.tokenOwner(c)
	if err != nil {
		return nil, err
	}
	err = a.st.RevokeUserToken(c.ctx, owner.ID, c.str("name"))
	if errors.Is(err, identity.ErrNotFound) {
		// SonarQube answers 204 for a name without a token: revoking is
		// idempotent.
		return nil, nil
	}
	return nil, err
}

type tokenProjectJSON struct {
	Key  string `json:"key"`
	Name string `json:"name"`
}

type userTokenJSON struct {
	Name               string            `json:"name"`
	CreatedAt          string            `json:"createdAt"`
	LastConnectionDate *string           `json:"lastConnectionDate,omitempty"`
	Type               string            `json:"type"`
	Project            *tokenProjectJSON `json:"project,omitempty"`
	ExpirationDate     *string           `json:"expirationDate,omitempty"`
	IsExpired          bool              `json:"isExpired"`
}

func (a *API) searchUserTokens(c *call) (any, error) {
	owner, _, err := a.tokenOwner(c)
	if err != nil {
		return nil, err
	}
	ts, _, err := a.st.Store().ListTokens(c.ctx, store.TokenFilter{UserID: &owner.ID, Types: state.UserTokenTypes})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ts, func(x, y identity.Token) int { return strings.Compare(x.Name, y.Name) })
	now := a.st.Now()
	projects := map[int64]*tokenProjectJSON{}
	out := make([]userTokenJSON, 0, len(ts))
	for _, t := range ts {
		j := userTokenJSON{
			Name: t.Name, CreatedAt: formatTime(t.CreatedAt), LastConnectionDate: optTime(t.LastUsedAt),
			Type: string(t.Type), ExpirationDate: optTime(t.ExpiresAt), IsExpired: t.Expired(now),
		}
		if t.ProjectID != 0 {
			pj, ok := projects[t.ProjectID]
			if !ok {
				p, err := a.st.Store().GetProject(c.ctx, t.ProjectID)
				if err != nil && !errors.Is(err, identity.ErrNotFound) {
					return nil, err
				}
				if err == nil {
					pj = &tokenProjectJSON{Key: p.Key, Name: p.Name}
				}
				projects[t.ProjectID] = pj
			}
			j.Project = pj
		}
		out = append(out, j)
	}
	return map[string]any{"login": owner.Login, "userTokens": out}, nil
}
