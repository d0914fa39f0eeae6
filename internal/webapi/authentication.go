package webapi

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

func (a *API) authenticationRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "api/authentication/login", Summary: "Sign in with a login and a password; sets the session cookie and the XSRF-TOKEN cookie. Answers 200 with an empty body, 401 on bad credentials.",
			Access: public, Response: respOK, Params: []Param{
				{Name: "login", Required: true, Desc: "Login of the user"},
				{Name: "password", Required: true, Desc: "Password of the user"},
			}, Handle: a.login},
		{Method: "POST", Path: "api/authentication/logout", Summary: "Sign out: ends the session and expires its cookies. Answers 200 with an empty body.",
			Access: public, Response: respOK, Handle: a.logout},
		{Method: "POST", Path: "api/sessions/sign_out", Summary: "Sign a user out everywhere: every session of the user ends on every replica, and so does any password check reused for its basic-auth scripts. Audited as user.sign_out. Answers {\"sessionsEnded\": n}.",
			Access: admin, UserOnly: true, Out: obj{"sessionsEnded": 0}, Params: []Param{
				{Name: "login", Required: true, Desc: "Login of the user to sign out"},
			}, Handle: a.signOutUser},
		{Method: "GET", Path: "api/authentication/validate", Summary: "Whether the request carries a working credential: {\"valid\":true|false}. A bad credential answers valid:false, not 401.",
			Access: public, Out: obj{"valid": true}, Handle: a.validateCredentials},
	}
}

// badCredentialsAnonymous reports whether the route judges credentials
// itself, so that the framework treats a bad one as no credential at all.
func (r *Route) badCredentialsAnonymous() bool { return r.Path == "api/authentication/validate" }

// sessionless reports whether the route is one SonarQube builds no user
// session for: its Authorization header is not looked at, so an unusable
// one (a client without credentials sends "Basic Og==") cannot fail it.
func (r *Route) sessionless() bool {
	switch r.Path {
	case "api/authentication/login", "api/authentication/logout",
		"api/system/status", "api/server/version", "api/users/identity_providers":
		return true
	}
	return false
}

func (a *API) login(c *call) (any, error) {
	if _, err := a.passwordSignIn(c.w, c.r.WithContext(c.ctx), c.str("login"), c.str("password")); err != nil {
		return nil, err
	}
	c.w.WriteHeader(http.StatusOK)
	return raw{}, nil
}

// passwordSignIn checks a login and password under the sign-in throttle
// and, when they match, starts a session. api/authentication/login and
// the admin UI's sign-in form ([API.SignIn]) share it.
func (a *API) passwordSignIn(w http.ResponseWriter, r *http.Request, login, pw string) (identity.User, error) {
	_, u, err := a.signIn(r, login, pw)
	if err != nil {
		return identity.User{}, err
	}
	if err := a.StartSession(w, r, u.ID); err != nil {
		return identity.User{}, err
	}
	return u, nil
}

// StartSession signs userID in on the browser of r: it stores a session
// (hashed; it outlives restarts and every replica accepts it at once),
// records the user's sign-in, audits it ("session.start", by the user) and
// sets the session cookie and the XSRF-TOKEN cookie on w. Password, GitLab
// and SSO sign-ins and the web UI share it; call it before writing the
// answer's status. A missing or deactivated user is refused with an error
// of kind identity.ErrUnauthenticated; a store failure is returned as is.
// The session lasts Options.SessionTTL.
func (a *API) StartSession(w http.ResponseWriter, r *http.Request, userID int64) error {
	ctx := r.Context()
	act := state.ActorFrom(ctx)
	ctx = state.WithActor(ctx, state.Actor{Name: "user:" + a.st.Index().Login(userID), UserID: userID, RequestID: act.RequestID, ClientAddress: act.ClientAddress})
	secret, _, err := a.st.StartSession(ctx, userID, a.opts.SessionTTL)
	if err != nil {
		return err
	}
	secure := a.secure(r)
	maxAge := int(a.opts.SessionTTL.Seconds())
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	// The web app reads this cookie and echoes it in X-XSRF-TOKEN, so it is
	// not HttpOnly.
	http.SetCookie(w, &http.Cookie{Name: xsrfCookie, Value: csrfOf(secret), Path: "/", MaxAge: maxAge, Secure: secure, SameSite: http.SameSiteLaxMode})
	return nil
}

// EndSession signs the browser of r out: its session (if its cookie names
// one) ends on every replica and is audited ("session.end"), and w gets
// both cookies expired. A request without a session is no error; a store
// failure is, and then the cookies are left alone.
func (a *API) EndSession(w http.ResponseWriter, r *http.Request) error {
	if ck, err := r.Cookie(sessionCookie); err == nil && ck.Value != "" {
		if err := a.st.EndSession(r.Context(), ck.Value); err != nil {
			return err
		}
	}
	secure := a.secure(r)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: xsrfCookie, Value: "", Path: "/", MaxAge: -1, Secure: secure, SameSite: http.SameSiteLaxMode})
	return nil
}

func (a *API) logout(c *call) (any, error) {
	if err := a.EndSession(c.w, c.r.WithContext(c.ctx)); err != nil {
		return nil, err
	}
	c.w.WriteHeader(http.StatusOK)
	return raw{}, nil
}

func (a *API) signOutUser(c *call) (any, error) {
	n, err := a.st.SignOutUser(c.ctx, c.str("login"))
	if err != nil {
		return nil, err
	}
	return map[string]int{"sessionsEnded": n}, nil
}

// validateCredentials answers whether the caller authenticated. Anonymous
// callers are not valid: Gatehouse always forces authentication.
func (a *API) validateCredentials(c *call) (any, error) {
	return map[string]bool{"valid": c.authed}, nil
}
