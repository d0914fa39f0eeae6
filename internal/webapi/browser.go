package webapi

import (
	"errors"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// BrowserSession is a signed-in browser as another adapter of the same
// binary (the admin web UI) sees it: the same session cookie the Web API
// reads, so signing in on either signs in on both.
type BrowserSession struct {
	// Principal is the signed-in user's, as for an API call.
	Principal authz.Principal
	// CSRF is the session's anti-forgery token (the XSRF-TOKEN cookie's
	// value). Forms echo it; a change without it is refused.
	CSRF string
}

// Authenticate returns the session a request's cookie names. Only the
// session cookie counts: a page in a browser has no bearer token. An
// ended, expired or unknown cookie is no session.
func (a *API) Authenticate(r *http.Request) (BrowserSession, bool) {
	p, csrf, ok := a.sessionPrincipal(r)
	if !ok {
		return BrowserSession{}, false
	}
	return BrowserSession{Principal: p, CSRF: csrf}, true
}

// SignIn checks a login and password exactly as api/authentication/login
// does (the same throttle, metrics and audited session) and on success
// sets the session cookies on w. A wrong password is an
// [identity.ErrUnauthenticated] error, a throttled client an
// [identity.ErrUnavailable] one (Retry-After is set on w); both carry the
// message to show.
func (a *API) SignIn(w http.ResponseWriter, r *http.Request, login, password string) (identity.User, error) {
	u, err := a.passwordSignIn(w, r, login, password)
	if errors.Is(err, identity.ErrThrottled) {
		w.Header().Set("Retry-After", retryAfter(err))
		return u, identity.Errorf(identity.ErrUnavailable, "%s", identity.Message(err))
	}
	var ae *apiError
	if errors.As(err, &ae) {
		kind := identity.ErrUnauthenticated
		if ae.status == http.StatusTooManyRequests {
			kind = identity.ErrUnavailable
		}
		return u, identity.Errorf(kind, "%s", ae.msg)
	}
	return u, err
}
