package webapi

import (
	"errors"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
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
	login, pw := c.str("login"), c.str("password")
	ip := clientIP(c.r)
	if wait := a.limiter.blocked(login, ip); wait > 0 {
		a.metrics.signInThrottled.Inc()
		c.w.Header().Set("Retry-After", itoa(int(wait.Seconds())+1))
		return nil, errorf(http.StatusTooManyRequests, "Too many failed login attempts. Please try again later.")
	}
	_, u, err := a.st.CheckPassword(c.ctx, login, pw)
	if errors.Is(err, identity.ErrUnauthenticated) {
		a.metrics.signInFailures.Inc()
		a.limiter.fail(login, ip)
		return nil, errorf(http.StatusUnauthorized, "Authentication failed")
	}
	if err != nil {
		return nil, err
	}
	a.limiter.succeed(login)
	a.startSession(c, u.ID)
	c.w.WriteHeader(http.StatusOK)
	return raw{}, nil
}

// startSession signs userID in: a session, its cookies, the "last
// connection" date. Password and OAuth sign-ins share it.
func (a *API) startSession(c *call, userID int64) {
	id, sess := a.sessions.create(userID)
	if err := a.st.RecordLogin(c.ctx, userID); err != nil {
		// The sign-in stands; only the "last connection" date is stale.
		a.log.WarnContext(c.ctx, "record login", "user_id", userID, "err", err)
	}
	secure := a.secure(c.r)
	maxAge := int(a.opts.SessionTTL.Seconds())
	http.SetCookie(c.w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	// The web app reads this cookie and echoes it in X-XSRF-TOKEN, so it is
	// not HttpOnly.
	http.SetCookie(c.w, &http.Cookie{Name: xsrfCookie, Value: sess.csrf, Path: "/", MaxAge: maxAge, Secure: secure, SameSite: http.SameSiteLaxMode})
}

func (a *API) logout(c *call) (any, error) {
	if ck, err := c.r.Cookie(sessionCookie); err == nil && ck.Value != "" {
		a.sessions.drop(ck.Value)
	}
	secure := a.secure(c.r)
	http.SetCookie(c.w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(c.w, &http.Cookie{Name: xsrfCookie, Value: "", Path: "/", MaxAge: -1, Secure: secure, SameSite: http.SameSiteLaxMode})
	c.w.WriteHeader(http.StatusOK)
	return raw{}, nil
}

// validateCredentials answers whether the caller authenticated. Anonymous
// callers are not valid: Gatehouse always forces authentication.
func (a *API) validateCredentials(c *call) (any, error) {
	return map[string]bool{"valid": c.authed}, nil
}
