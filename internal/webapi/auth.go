package webapi

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/reqinfo"
	"github.com/gatehouse-dev/gatehouse/internal/token"
)

// Cookie names. SonarQube's web app reads XSRF-TOKEN and echoes it in the
// X-XSRF-TOKEN header; Gatehouse uses the same double-submit scheme.
const (
	sessionCookie = "GATEHOUSE-SESSION"
	xsrfCookie    = "XSRF-TOKEN"
	xsrfHeader    = "X-XSRF-TOKEN"
)

// authenticate resolves the request's credential, if any. Credentials that
// are present but wrong answer 401 even on public routes, as SonarQube does,
// except on routes that judge credentials themselves (api/authentication/
// validate answers {"valid":false}): there a bad credential is anonymous.
func (a *API) authenticate(c *call) (err error) {
	if c.route.sessionless() {
		return nil // login and logout read their own parameters and cookie
	}
	if c.route.badCredentialsAnonymous() {
		defer func() {
			if err != nil {
				c.principal, c.authed, err = authz.Principal{}, false, nil
				c.w.Header().Del("Retry-After")
			}
		}()
	}
	r := c.r
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		switch strings.ToLower(scheme) {
		case "bearer":
			return a.useToken(c, strings.TrimSpace(rest))
		case "basic":
			login, pw, ok := r.BasicAuth()
			if !ok {
				return errUnauthenticated
			}
			if pw == "" && token.LooksLikeToken(login) {
				return a.useToken(c, login)
			}
			if login == "" {
				// No account to lock ("Basic Og==" is a client without
				// credentials): not a failed sign-in, and no hash spent.
				return errUnauthenticated
			}
			c.cred = credPassword
			return a.usePassword(c, login, pw)
		default:
			return errUnauthenticated
		}
	}
	if p, csrf, ok := a.sessionPrincipal(r); ok {
		// Every method that writes (the v2 API's PATCH and DELETE too).
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !c.route.csrfExempt() {
			got := r.Header.Get(xsrfHeader)
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(csrf)) != 1 {
				return errorf(http.StatusForbidden, "Invalid or missing X-XSRF-TOKEN header: cookie-authenticated changes need the XSRF-TOKEN cookie's value in it")
			}
		}
		c.principal, c.authed, c.cred = p, true, credSession
	}
	return nil
}

// sessionPrincipal resolves the request's session cookie: the signed-in
// user's principal, freshened, and the session's XSRF value. It reads
// memory only (sessions are in the state's index, kept up to date with
// the store and the other replicas); an ended, expired or unknown cookie,
// or one of a deactivated user, is no session.
func (a *API) sessionPrincipal(r *http.Request) (authz.Principal, string, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return authz.Principal{}, "", false
	}
	p, err := a.st.AuthenticateSession(ck.Value)
	if err != nil {
		return authz.Principal{}, "", false
	}
	return p, csrfOf(ck.Value), true
}

func (r *Route) csrfExempt() bool {
	return r.Path == "api/authentication/login" || r.Path == "api/authentication/logout"
}

func (a *API) useToken(c *call, secret string) error {
	p, err := a.st.Authenticate(secret)
	if err != nil {
		a.metrics.tokenResolution(false)
		return errorf(http.StatusUnauthorized, identity.Message(err))
	}
	a.metrics.tokenResolution(true)
	c.principal, c.authed = p, true
	return nil
}

func (a *API) usePassword(c *call, login, pw string) error {
	// A script sends its password with every request: a verified one is
	// reused for a short time (state.SignInReusing) instead of spending
	// the KDF, the throttle's store read and an audit event each time.
	p, err := a.st.SignInReusing(c.ctx, login, pw, reqinfo.ClientAddress(c.r))
	if err != nil {
		return a.signInError(err) // 401, throttled (429), busy or store down (503)
	}
	c.principal, c.authed = p, true
	return nil
}

// signIn is every password sign-in of the API (the login form and basic
// auth, local and directory users): the state's throttled check, counted
// in the metrics by outcome.
func (a *API) signIn(r *http.Request, login, pw string) (authz.Principal, identity.User, error) {
	p, u, err := a.st.SignIn(r.Context(), login, pw, reqinfo.ClientAddress(r))
	return p, u, a.signInError(err)
}

// signInError counts a password sign-in's outcome in the metrics and
// gives its answer.
func (a *API) signInError(err error) error {
	switch {
	case errors.Is(err, identity.ErrThrottled):
		a.metrics.signInThrottled.Inc()
	case errors.Is(err, identity.ErrUnauthenticated):
		a.metrics.signInFailures.Inc()
		return errorf(http.StatusUnauthorized, "Authentication failed")
	}
	return err
}

// authorize enforces the route's access level, and what each token type
// may reach at all: a token can only narrow its principal's rights.
func (a *API) authorize(c *call) error {
	if c.authed && c.route.Access != public {
		switch c.principal.TokenType {
		case identity.TokenSCIM:
			return errorf(http.StatusForbidden, "A SCIM token can only be used on the SCIM endpoint (/scim/v2)")
		case identity.TokenOrganization:
			if !c.route.OrgToken {
				return errorf(http.StatusForbidden, "An organization token cannot be used for this action")
			}
		case identity.TokenGlobalAnalysis, identity.TokenProjectAnalysis:
			if c.route.UserOnly {
				return errorf(http.StatusForbidden, "An analysis token cannot be used for this action: use a user token or sign in")
			}
		}
	}
	switch c.route.Access {
	case public:
		return nil
	case authenticated:
		if !c.authed {
			return errUnauthenticated
		}
	case admin:
		if !c.authed {
			return errUnauthenticated
		}
		if !c.isAdmin() {
			return c.forbidden()
		}
	}
	return nil
}

// forbidden is the 403 of a caller lacking a right. When the caller's
// directory groups are held (their source could not re-read them past the
// staleness bound), it says so: the refusal is the directory's, not a
// missing grant.
func (c *call) forbidden() error {
	if f := c.principal.Freshness(); f != nil {
		if why := f.Held(); why != "" {
			return errorf(http.StatusForbidden, "Insufficient privileges: "+why)
		}
	}
	return errForbidden
}

// isAdmin reports whether the caller holds global admin.
func (c *call) isAdmin() bool {
	return c.authed && c.api.st.Index().Decide(c.principal, identity.PermAdmin, "").Allowed
}

// may reports whether the caller holds perm, on projectKey or globally.
// sees reports whether the caller may know that project key exists: an
// administrator, or a caller who can browse, scan or administer it. Every
// action answers a caller who cannot see a project exactly as if it did not
// exist (no existence leak, no enumeration of ids).
func (c *call) sees(key string) bool {
	if !c.authed {
		return false
	}
	return c.api.st.SeesProject(c.principal, key)
}

func (c *call) may(perm identity.Permission, projectKey string) bool {
	if !c.authed {
		return false
	}
	d := c.api.st.Index().Decide(c.principal, perm, projectKey)
	c.api.metrics.decision(d.Allowed, credKind(c.principal, c.cred))
	return d.Allowed
}

// secure reports whether cookies must be Secure: the request came over TLS,
// to this server or (r.URL.Scheme "https", set by the server's trusted-proxy
// handling) to a trusted TLS-terminating proxy, or SecureCookies says so.
func (a *API) secure(r *http.Request) bool {
	return reqinfo.HTTPS(r) || a.opts.SecureCookies
}

func itoa(n int) string { return idString(int64(n)) }

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// csrfOf is the XSRF-TOKEN value of a session: derived from its secret,
// so that every replica can check it without storing it, and one-way, so
// that the readable cookie does not give the HttpOnly one away.
func csrfOf(sessionSecret string) string {
	h := sha256.Sum256([]byte("gatehouse-xsrf\x00" + sessionSecret))
	return base64.RawURLEncoding.EncodeToString(h[:18])
}
