// Package sso is Gatehouse's single sign-on adapter: the browser flow of
// each configured SSO connection (SAML 2.0 through internal/sso/saml,
// OpenID Connect through internal/sso/oidc), the mapping of what the IdP
// asserted (internal/sso/claims) to a Gatehouse user, and test sign-ins.
//
// Routes, under the server's public URL:
//
//	GET  /sso/{name}/login     start a sign-in (return_to: a path on this server)
//	GET  /sso/{name}/metadata  SAML SP metadata, for the IdP
//	POST /sso/{name}/acs       SAML assertion consumer service (HTTP-POST)
//	GET  /sso/{name}/callback  OIDC redirect URI
//
// A sign-in ends in the Web API's session (the same cookies as a password
// sign-in); users are matched and created by state.SignInSSO.
package sso

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/sso/claims"
	"github.com/gatehouse-dev/gatehouse/internal/sso/oidc"
	"github.com/gatehouse-dev/gatehouse/internal/sso/saml"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// State is what the adapter needs of the coordinator.
type State interface {
	SSOConnection(ctx context.Context, name string) (identity.SSOConnection, error)
	SSOSecrets(c identity.SSOConnection) (clientSecret, spKeyPEM string, err error)
	MatchSSO(ctx context.Context, c identity.SSOConnection, acc identity.ExternalAccount) (state.SSOMatch, error)
	SignInSSO(ctx context.Context, c identity.SSOConnection, acc identity.ExternalAccount, groups []string) (authz.Principal, identity.User, error)
}

// Sessions starts the Web API session of a signed-in user (webapi's
// (*API).StartSession): the same cookies as a password sign-in.
type Sessions interface {
	StartSession(w http.ResponseWriter, r *http.Request, userID int64) error
}

// SessionFunc is a Sessions of one function.
type SessionFunc func(w http.ResponseWriter, r *http.Request, userID int64) error

// StartSession calls f.
func (f SessionFunc) StartSession(w http.ResponseWriter, r *http.Request, userID int64) error {
	return f(w, r, userID)
}

// Options configure the adapter.
type Options struct {
	Logger *slog.Logger
	// PublicURL is the server's absolute base URL as browsers and IdPs
	// reach it (https://gatehouse.example.com); the ACS, callback and
	// metadata URLs derive from it. Empty: SSO is off (every route
	// answers 503 saying so).
	PublicURL string
	Sessions  Sessions
	// HTTPClient fetches IdP metadata and calls OpenID providers; nil: the
	// protocol packages' defaults.
	HTTPClient *http.Client
	// Replay is shared by every SAML connection; nil: in memory.
	Replay saml.ReplayCache
	Now    func() time.Time
}

// testTTL is how long a test sign-in URL stays usable.
const testTTL = 10 * time.Minute

// testCookie marks a browser's sign-in as a test; scoped to the
// connection's paths.
const testCookie = "gatehouse_sso_test"

// Handler serves the SSO routes.
type Handler struct {
	st     State
	opts   Options
	log    *slog.Logger
	base   *url.URL
	replay saml.ReplayCache

	mu    sync.Mutex
	cache map[string]*entry // by connection name
}

// entry is a connection's protocol half, built once per version: SAML
// metadata is fetched and keys parsed when it is built.
type entry struct {
	// id and version identify the connection's settings: a connection
	// deleted and created again under its name has a new id.
	id, version int64
	sp          *saml.SP
	rp          *oidc.RP
}

// New returns the adapter. An invalid PublicURL is an error.
func New(st State, opts Options) (*Handler, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Handler{st: st, opts: opts, log: opts.Logger, cache: map[string]*entry{}, replay: opts.Replay}
	if h.replay == nil {
		h.replay = saml.NewMemoryReplayCache(0, opts.Now)
	}
	if opts.PublicURL != "" {
		u, err := url.Parse(strings.TrimSuffix(opts.PublicURL, "/"))
		if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" {
			return nil, errors.New("sso: the public URL must be an absolute http(s) URL without query, like https://gatehouse.example.com")
		}
		h.base = u
	}
	return h, nil
}

// Register adds the SSO routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /sso/{name}/login", h.login)
	mux.HandleFunc("GET /sso/{name}/metadata", h.metadata)
	mux.HandleFunc("POST /sso/{name}/acs", h.acs)
	mux.HandleFunc("GET /sso/{name}/callback", h.callback)
}

// Endpoints are the absolute URLs of connection name.
func (h *Handler) Endpoints(name string) (login, metadata, acs, callback string) {
	if h.base == nil {
		return "", "", "", ""
	}
	p := h.base.String() + "/sso/" + url.PathEscape(name)
	return p + "/login", p + "/metadata", p + "/acs", p + "/callback"
}

// NewSPKeyPair makes a SAML SP key pair for connection name.
func (h *Handler) NewSPKeyPair(name string) (keyPEM, certPEM []byte, err error) {
	return saml.GenerateKeyPair("Gatehouse SSO " + name)
}

// BeginTest issues a test sign-in URL for connection name. The ticket in
// it is signed with a key derived from the connection's secret (the SAML SP
// key, the OIDC client secret), so every replica recognises it whichever
// one the IdP's answer reaches, and it expires after testTTL.
func (h *Handler) BeginTest(ctx context.Context, name string) (string, error) {
	if h.base == nil {
		return "", errNoPublicURL
	}
	c, err := h.st.SSOConnection(ctx, name)
	if err != nil {
		return "", err
	}
	key, err := h.testKey(c)
	if err != nil {
		return "", err
	}
	login, _, _, _ := h.Endpoints(name)
	return login + "?test=" + url.QueryEscape(signTicket(key, h.opts.Now().Add(testTTL))), nil
}

// testKey derives the test tickets' MAC key of connection c.
func (h *Handler) testKey(c identity.SSOConnection) ([]byte, error) {
	secret, spKey, err := h.st.SSOSecrets(c)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, []byte("gatehouse sso test ticket v1"))
	m.Write([]byte(c.Name + "\x00" + secret + "\x00" + spKey))
	return m.Sum(nil), nil
}

// signTicket is base64url(expiry, 8 bytes | 16 random bytes | MAC).
func signTicket(key []byte, expires time.Time) string {
	b := make([]byte, 24, 24+sha256.Size)
	binary.BigEndian.PutUint64(b, uint64(expires.Unix()))
	_, _ = rand.Read(b[8:])
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(m.Sum(b))
}

// validTicket reports whether t is a ticket signed with key, unexpired.
func validTicket(key []byte, t string, now time.Time) bool {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || len(b) != 24+sha256.Size {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write(b[:24])
	return hmac.Equal(m.Sum(nil), b[24:]) && now.Unix() <= int64(binary.BigEndian.Uint64(b[:8]))
}

// isTest reports whether r carries a valid test ticket of c (the query's
// at /login, the cookie's at the ACS and callback).
func (h *Handler) isTest(c identity.SSOConnection, ticket string) (bool, error) {
	if ticket == "" {
		return false, nil
	}
	key, err := h.testKey(c)
	if err != nil {
		return false, err
	}
	return validTicket(key, ticket, h.opts.Now()), nil
}

// takeTest spends r's test cookie for connection c: whether this return
// from the IdP is a test sign-in's.
func (h *Handler) takeTest(w http.ResponseWriter, r *http.Request, c identity.SSOConnection) (bool, error) {
	ck, err := r.Cookie(testCookie)
	if err != nil || ck.Value == "" {
		return false, nil
	}
	http.SetCookie(w, h.testCookie(c.Name, "", -1))
	return h.isTest(c, ck.Value)
}

func (h *Handler) testCookie(name, value string, maxAge int) *http.Cookie {
	c := &http.Cookie{Name: testCookie, Value: value, Path: "/sso/" + name + "/", MaxAge: maxAge, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if h.base.Scheme == "https" {
		// The SAML response is a cross-site POST from the IdP, which
		// Lax cookies do not go with.
		c.Secure, c.SameSite = true, http.SameSiteNoneMode
	}
	return c
}

var errNoPublicURL = identity.Errorf(identity.ErrUnavailable, "Single sign-on needs the server's public URL: start Gatehouse with --public-url (GATEHOUSE_PUBLIC_URL)")

// connection returns the connection of the request and its protocol half,
// rebuilt when the connection changed since it was cached.
func (h *Handler) connection(ctx context.Context, name string) (identity.SSOConnection, *entry, error) {
	if h.base == nil {
		return identity.SSOConnection{}, nil, errNoPublicURL
	}
	c, err := h.st.SSOConnection(ctx, name)
	if err != nil {
		return c, nil, err
	}
	h.mu.Lock()
	e := h.cache[name]
	h.mu.Unlock()
	if e != nil && e.id == c.ID && e.version == c.Version {
		return c, e, nil
	}
	e, err = h.build(ctx, c)
	if err != nil {
		return c, nil, err
	}
	h.mu.Lock()
	h.cache[name] = e
	h.mu.Unlock()
	return c, e, nil
}

func (h *Handler) build(ctx context.Context, c identity.SSOConnection) (*entry, error) {
	secret, key, err := h.st.SSOSecrets(c)
	if err != nil {
		return nil, err
	}
	_, md, acs, cb := h.Endpoints(c.Name)
	s := c.Settings
	switch c.Protocol {
	case identity.SSOSAML:
		sp, err := saml.New(ctx, saml.Config{EntityID: s.EntityID, MetadataURL: md, ACSURL: acs, IdPMetadataURL: s.IdPMetadataURL,
			IdPMetadataXML: []byte(s.IdPMetadataXML), KeyPEM: []byte(key), CertPEM: []byte(s.SPCertPEM), AllowIdPInitiated: s.AllowIdPInitiated,
			HTTPClient: h.opts.HTTPClient, Replay: h.replay, Now: h.opts.Now})
		if err != nil {
			return nil, err
		}
		return &entry{id: c.ID, version: c.Version, sp: sp}, nil
	case identity.SSOOIDC:
		rp, err := oidc.New(ctx, oidc.Config{Issuer: s.Issuer, ClientID: s.ClientID, ClientSecret: secret, RedirectURL: cb,
			Scopes: append([]string{"profile", "email"}, s.Scopes...), HTTPClient: h.opts.HTTPClient, Now: h.opts.Now})
		if err != nil {
			return nil, err
		}
		return &entry{id: c.ID, version: c.Version, rp: rp}, nil
	}
	return nil, identity.Errorf(identity.ErrInvalid, "The SSO connection '%s' has an unknown protocol", c.Name)
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	c, e, err := h.connection(r.Context(), name)
	if err != nil {
		h.fail(w, r, name, err)
		return
	}
	t := r.URL.Query().Get("test")
	test, err := h.isTest(c, t)
	if err != nil {
		h.fail(w, r, name, err)
		return
	}
	if t != "" && !test {
		h.fail(w, r, name, identity.Errorf(identity.ErrUnauthenticated, "This test sign-in URL is not valid or has expired (they last %s); start a new test (api/sso/connections/test)", testTTL))
		return
	}
	if test {
		http.SetCookie(w, h.testCookie(name, t, int(testTTL.Seconds())))
	} else if !c.Settings.Enabled {
		h.fail(w, r, name, errDisabled(name))
		return
	}
	relay := SafeReturnPath(r.URL.Query().Get("return_to"))
	if e.sp != nil {
		err = e.sp.StartWith(w, r, relay, saml.StartOptions{ForceAuthn: test})
	} else {
		err = e.rp.Start(w, r, relay, oidc.StartOptions{ForceAuthn: test})
	}
	if err != nil {
		h.fail(w, r, name, err)
	}
}

func errDisabled(name string) error {
	return identity.Errorf(identity.ErrForbidden, "The SSO connection '%s' is disabled", name)
}

func (h *Handler) metadata(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	_, e, err := h.connection(r.Context(), name)
	if err == nil && e.sp == nil {
		err = identity.Errorf(identity.ErrNotFound, "The SSO connection '%s' is an OpenID Connect one: it has no SAML metadata", name)
	}
	if err != nil {
		h.fail(w, r, name, err)
		return
	}
	md, err := e.sp.Metadata()
	if err != nil {
		h.fail(w, r, name, err)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	_, _ = w.Write(md)
}

func (h *Handler) acs(w http.ResponseWriter, r *http.Request) {
	h.protocolReturn(w, r, func(e *entry) finisher {
		if e.sp == nil {
			return nil
		}
		return e.sp
	}, "an OpenID Connect one: its sign-ins return to /sso/%s/callback")
}

func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	h.protocolReturn(w, r, func(e *entry) finisher {
		if e.rp == nil {
			return nil
		}
		return e.rp
	}, "a SAML one: its sign-ins return to /sso/%s/acs")
}

// finisher is the protocol half that verifies what the IdP sent back
// (*saml.SP at the ACS, *oidc.RP at the callback).
type finisher interface {
	Finish(w http.ResponseWriter, r *http.Request) (claims.Claims, string, error)
}

// protocolReturn serves the IdP's return to a connection: the connection's
// half for this route (of returns nil when it is the other protocol, and
// other then names where its sign-ins return), the test ticket, the
// protocol's verification and the end of the sign-in.
func (h *Handler) protocolReturn(w http.ResponseWriter, r *http.Request, of func(*entry) finisher, other string) {
	name := r.PathValue("name")
	c, e, err := h.connection(r.Context(), name)
	var f finisher
	if err == nil {
		if f = of(e); f == nil {
			err = identity.Errorf(identity.ErrNotFound, "The SSO connection '%s' is "+other, name, name)
		}
	}
	if err != nil {
		h.fail(w, r, name, err)
		return
	}
	test, err := h.takeTest(w, r, c)
	if err != nil {
		h.fail(w, r, name, err)
		return
	}
	cl, relay, err := f.Finish(w, r)
	h.finish(w, r, c, test, cl, relay, err)
}

// finish ends a sign-in the protocol verified (or refused): a test answers
// its report, a real one signs the user in and returns to the relay path.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, c identity.SSOConnection, test bool, cl claims.Claims, relay string, err error) {
	if test {
		writeJSON(w, http.StatusOK, h.report(r.Context(), c, cl, err))
		return
	}
	if err != nil {
		h.fail(w, r, c.Name, err)
		return
	}
	d := derive(c, cl)
	if d.refusal != nil {
		h.fail(w, r, c.Name, d.refusal)
		return
	}
	_, u, err := h.st.SignInSSO(r.Context(), c, d.account(), d.Groups)
	if err != nil {
		h.fail(w, r, c.Name, err)
		return
	}
	h.log.InfoContext(r.Context(), "sso sign-in", "connection", c.Name, "login", u.Login, "user_id", u.ID)
	if err := h.opts.Sessions.StartSession(w, r, u.ID); err != nil {
		h.fail(w, r, c.Name, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, SafeReturnPath(relay), http.StatusSeeOther)
}

// SafeReturnPath returns p when it is a path on this server ("/projects?x=1"),
// else "/": a return address from the browser or the IdP must not send the
// user to another site (no scheme, no host, no "//" or "/\" that browsers
// read as one, no control characters).
func SafeReturnPath(p string) string {
	if p == "" || len(p) > 2000 || p[0] != '/' || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return "/"
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return p
}

// status maps an SSO refusal to its HTTP status and message, once for
// every route: the protocol packages' codes, then identity's kinds.
func status(err error) (int, string) {
	var se *saml.Error
	if errors.As(err, &se) {
		switch se.Code {
		case saml.ErrMalformed:
			return http.StatusBadRequest, "The SAML response cannot be read: " + se.Detail
		case saml.ErrTooLarge:
			return http.StatusRequestEntityTooLarge, "The SAML response is too large: " + se.Detail
		case saml.ErrUnavailable:
			return http.StatusServiceUnavailable, "The sign-in cannot be checked right now; please try again: " + se.Detail
		case saml.ErrMetadata, saml.ErrConfig:
			return http.StatusServiceUnavailable, "The SSO connection is not usable (ask an administrator): " + se.Detail
		default:
			return http.StatusUnauthorized, "The SAML sign-in was refused (" + string(se.Code) + "): " + se.Detail
		}
	}
	var oe *oidc.Error
	if errors.As(err, &oe) {
		switch oe.Code {
		case oidc.ErrMalformed:
			return http.StatusBadRequest, "The OpenID Connect answer cannot be read: " + oe.Detail
		case oidc.ErrUnavailable:
			return http.StatusServiceUnavailable, "The OpenID provider cannot be reached; please try again: " + oe.Detail
		case oidc.ErrDiscovery, oidc.ErrConfig:
			return http.StatusServiceUnavailable, "The SSO connection is not usable (ask an administrator): " + oe.Detail
		default:
			return http.StatusUnauthorized, "The OpenID Connect sign-in was refused (" + string(oe.Code) + "): " + oe.Detail
		}
	}
	msg := identity.Message(err)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return http.StatusNotFound, msg
	case errors.Is(err, identity.ErrInvalid), errors.Is(err, identity.ErrAlreadyExists):
		return http.StatusBadRequest, msg
	case errors.Is(err, identity.ErrUnauthenticated):
		return http.StatusUnauthorized, msg
	case errors.Is(err, identity.ErrForbidden):
		return http.StatusForbidden, msg
	case errors.Is(err, identity.ErrUnavailable):
		return http.StatusServiceUnavailable, msg
	}
	return http.StatusInternalServerError, "Internal error"
}

// fail answers err in SonarQube's error shape.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, conn string, err error) {
	code, msg := status(err)
	if code >= 500 && code != http.StatusServiceUnavailable {
		h.log.ErrorContext(r.Context(), "sso", "connection", conn, "path", r.URL.Path, "err", err)
	} else {
		h.log.InfoContext(r.Context(), "sso sign-in refused", "connection", conn, "path", r.URL.Path, "status", code, "err", err)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, map[string]any{"errors": []map[string]string{{"msg": msg}}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
