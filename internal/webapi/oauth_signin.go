package webapi

import (
	"context"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// OAuthSignIn is sign-in through an identity provider's OAuth2
// authorization-code flow (GitLab). The Web API keeps the state between
// the two steps in a short-lived cookie; the wiring adapts the connector.
type OAuthSignIn interface {
	// AuthCodeURL is where the browser goes to sign in at the provider.
	AuthCodeURL(state string) string
	// Exchange checks that state is wantState, exchanges code, and returns
	// the account and, when acc.GroupsManaged, its groups at that moment.
	// A refusal is an identity.ErrUnauthenticated.
	Exchange(ctx context.Context, code, state, wantState string) (identity.ExternalAccount, []state.ExternalGroup, error)
}

// OAuthOpener opens a source's sign-in from its current settings;
// redirectURL is Gatehouse's callback. A source whose sign-in is not
// configured answers identity.ErrInvalid, saying what is missing.
type OAuthOpener func(ctx context.Context, redirectURL string) (OAuthSignIn, error)

const (
	gitlabCallbackPath = "api/authentication/gitlab/callback"
	// oauthStateCookie holds the state of a sign-in in progress. It is
	// scoped to the callback and lives as long as a sign-in may take.
	oauthStateCookie = "GATEHOUSE-OAUTH-STATE"
	oauthStateMaxAge = 10 * 60
)

func (a *API) oauthSignInRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "api/authentication/gitlab/login", Access: public, Response: respRedirect, Handle: a.gitlabLogin,
			Summary: "Sign in through GitLab: answers 302 to GitLab's authorization page, with the sign-in's state in a short-lived cookie. Needs the GitLab settings oauth.applicationId and oauth.secret (the application's redirect URI: this server's api/authentication/gitlab/callback)."},
		{Method: "GET", Path: gitlabCallbackPath, Access: public, Response: respRedirect, Handle: a.gitlabCallback,
			Params: []Param{
				{Name: "code", MaxLen: 512, Desc: "The authorization code GitLab returns."},
				{Name: "state", MaxLen: 512, Desc: "The state GitLab returns; it must match the sign-in's cookie."},
				{Name: "error", MaxLen: 200, Desc: "GitLab's refusal (e.g. access_denied), instead of a code."},
			},
			Summary: "GitLab's redirect after sign-in: checks the state, exchanges the code, creates or updates the user (source gitlab) and, with jit.enabled, makes their memberships their groups among the allowed ones at that moment; then sets the session cookies and answers 302 to /. A refused sign-in answers 401."},
	}
}

func (a *API) gitlabOpen(c *call) (OAuthSignIn, error) {
	if a.opts.GitLabSignIn == nil {
		return nil, badRequest("Sign-in through GitLab is not available")
	}
	scheme := "http"
	if a.secure(c.r) {
		scheme = "https"
	}
	// GitLab only redirects to the URIs registered for the application, so
	// a forged Host cannot send the code elsewhere.
	return a.opts.GitLabSignIn(c.ctx, scheme+"://"+c.r.Host+"/"+gitlabCallbackPath)
}

func (a *API) gitlabLogin(c *call) (any, error) {
	si, err := a.gitlabOpen(c)
	if err != nil {
		return nil, err
	}
	st := randomString(24)
	http.SetCookie(c.w, &http.Cookie{Name: oauthStateCookie, Value: st, Path: "/" + gitlabCallbackPath, MaxAge: oauthStateMaxAge,
		HttpOnly: true, Secure: a.secure(c.r), SameSite: http.SameSiteLaxMode})
	http.Redirect(c.w, c.r, si.AuthCodeURL(st), http.StatusFound)
	return raw{}, nil
}

var errGitLabSignIn = identity.Errorf(identity.ErrUnauthenticated, "The GitLab sign-in could not be verified; please sign in again")

func (a *API) gitlabCallback(c *call) (any, error) {
	// The state is good for one attempt, whatever its outcome.
	http.SetCookie(c.w, &http.Cookie{Name: oauthStateCookie, Value: "", Path: "/" + gitlabCallbackPath, MaxAge: -1,
		HttpOnly: true, Secure: a.secure(c.r), SameSite: http.SameSiteLaxMode})
	if e := c.str("error"); e != "" {
		return nil, identity.Errorf(identity.ErrUnauthenticated, "GitLab refused the sign-in (%s)", e)
	}
	want := ""
	if ck, err := c.r.Cookie(oauthStateCookie); err == nil {
		want = ck.Value
	}
	if c.str("code") == "" || want == "" {
		return nil, errGitLabSignIn
	}
	si, err := a.gitlabOpen(c)
	if err != nil {
		return nil, err
	}
	acc, groups, err := si.Exchange(c.ctx, c.str("code"), c.str("state"), want)
	if err != nil {
		return nil, err
	}
	_, u, err := a.st.SignInExternal(c.ctx, identity.SourceGitLab, acc, groups)
	if err != nil {
		return nil, err
	}
	if err := a.StartSession(c.w, c.r.WithContext(c.ctx), u.ID); err != nil {
		return nil, err
	}
	http.Redirect(c.w, c.r, "/", http.StatusFound)
	return raw{}, nil
}
