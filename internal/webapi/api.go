package webapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/internal/reqinfo"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// Version is the SonarQube API version Gatehouse presents to clients that
// gate features on it.
const Version = "26.7.0.0"

// Options configures the Web API.
type Options struct {
	Logger *slog.Logger
	// GatehouseVersion is Gatehouse's own version, shown by api/gatehouse/info.
	GatehouseVersion string
	// MaxBodyBytes bounds request bodies; 1 MiB when 0.
	MaxBodyBytes int64
	// SessionTTL is how long a sign-in lasts (sessions are stored: a
	// restart keeps them); 24 h when 0.
	SessionTTL time.Duration
	// AccessLog logs one line per request at info level; otherwise at debug.
	AccessLog bool
	// BodyReadTimeout bounds reading a request body; 30 s when 0.
	BodyReadTimeout time.Duration
	// SecureCookies marks session cookies Secure even on plain HTTP, for a
	// server behind a TLS-terminating proxy (they are always Secure when
	// the server itself speaks TLS).
	SecureCookies bool
	// Collectors are more Prometheus collectors for /metrics (the
	// store's pools, from the wiring).
	Collectors []prometheus.Collector
	// MetricsToken, when set, is the bearer token GET /metrics requires.
	MetricsToken string
	// MetricsElsewhere leaves /metrics out of Register and the OpenAPI
	// document: the server serves MetricsHandler on a listener of its own.
	MetricsElsewhere bool
	// LDAPTest answers api/ldap/test; nil when LDAP is not configured.
	LDAPTest DirectoryTester
	// IdentityProviders are the sign-ins besides a password (SSO, GitLab)
	// that api/users/identity_providers lists and update_identity_provider
	// accepts.
	IdentityProviders []IdentityProvider
	// DynamicIdentityProviders adds those whose settings change at run
	// time (GitLab sign-in, configured through api/provisioning/settings).
	DynamicIdentityProviders func(ctx context.Context) []IdentityProvider
	// Provisioner answers api/provisioning/*; nil when no pull source is
	// configured.
	Provisioner Provisioner
	// GitLabSignIn opens sign-in through GitLab from its current settings
	// for api/authentication/gitlab/*; nil when the wiring offers none.
	GitLabSignIn OAuthOpener
	// SSO administers single sign-on with the SSO adapter (api/sso/*);
	// nil: those actions answer that SSO is not available.
	SSO SSO
	// Probes are the server's plain-text endpoints besides the API (health
	// probes), listed in the OpenAPI document.
	Probes []Probe
}

// API is the Web API handler.
type API struct {
	st       *state.State
	log      *slog.Logger
	opts     Options
	routes   map[string]*Route // by path: the first route of each path
	byMethod map[string]*Route // by "METHOD path"
	ordered  []*Route
	v2       []*v2Route
	metrics  *metrics

	ridPrefix string
	ridSeq    atomic.Uint64
}

// New builds the Web API over st.
func New(st *state.State, opts Options) *API {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.SessionTTL == 0 {
		opts.SessionTTL = 24 * time.Hour
	}
	if opts.BodyReadTimeout == 0 {
		opts.BodyReadTimeout = 30 * time.Second
	}
	a := &API{
		st:       st,
		log:      opts.Logger,
		opts:     opts,
		routes:   map[string]*Route{},
		byMethod: map[string]*Route{},
		metrics:  newMetrics(),
	}
	a.metrics.reg.MustRegister(newStateCollector(st))
	a.metrics.reg.MustRegister(opts.Collectors...)
	var prefix [6]byte
	_, _ = rand.Read(prefix[:])
	a.ridPrefix = hex.EncodeToString(prefix[:])
	for _, group := range [][]Route{
		a.systemRoutes(),
		a.authenticationRoutes(),
		a.oauthSignInRoutes(),
		a.userRoutes(),
		a.userSelfRoutes(),
		a.groupRoutes(),
		a.permissionRoutes(),
		a.templateRoutes(),
		a.projectRoutes(),
		a.userTokenRoutes(),
		a.orgTokenRoutes(),
		a.scimTokenRoutes(),
		a.authzRoutes(),
		a.auditRoutes(),
		a.bulkRoutes(),
		a.settingsRoutes(),
		a.ldapRoutes(),
		a.provisioningRoutes(),
		a.ssoRoutes(),
	} {
		for i := range group {
			rt := &group[i]
			key := rt.Method + " " + rt.Path
			if _, dup := a.byMethod[key]; dup {
				panic("webapi: duplicate route " + key) // a programming error caught by every test
			}
			a.byMethod[key] = rt
			a.ordered = append(a.ordered, rt)
			if other := a.routes[rt.Path]; other != nil {
				// A second method on one path (GET and POST
				// api/provisioning/settings) shares its metrics.
				rt.series = other.series
				continue
			}
			rt.series = a.metrics.forRoute(rt.Path)
			a.routes[rt.Path] = rt
		}
	}
	for _, rt := range a.v2Routes() {
		rt.route = &Route{Method: rt.Method, Path: rt.Pattern, Summary: rt.Summary, Access: rt.Access, Params: rt.Query}
		rt.series = a.metrics.forRoute(rt.Pattern)
		a.v2 = append(a.v2, &rt)
	}
	return a
}

// Routes returns the route table, in declaration order.
func (a *API) Routes() []*Route { return a.ordered }

// Handler returns the HTTP handler: the API under /api/, the OpenAPI document
// and the metrics endpoint.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	a.Register(mux)
	return mux
}

// Register adds the API's routes to mux, so that a server with other
// routes (health probes) dispatches through one mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.Handle("/api/", a)
	a.registerV2(mux)
	mux.HandleFunc("GET /api/openapi.json", a.serveOpenAPI)
	if !a.opts.MetricsElsewhere {
		mux.Handle("GET /metrics", a.MetricsHandler())
	}
}

// MetricNames lists the metric families /metrics can report (sorted),
// whether or not they have a series yet: for the tests that keep the
// dashboard and the README in step with what is exported.
func (a *API) MetricNames() []string { return a.metrics.names() }

// MetricsHandler serves the Prometheus metrics (behind MetricsToken when
// set), for a server that offers them on an address of their own.
func (a *API) MetricsHandler() http.Handler { return a.metrics.handler(a.opts.MetricsToken) }

// newRequestID returns this process's random prefix and a sequence number:
// unique across restarts and replicas, and free of a system call per
// request.
func (a *API) newRequestID() string {
	b := make([]byte, 0, 24)
	b = append(b, a.ridPrefix...)
	b = append(b, '-')
	b = strconv.AppendUint(b, a.ridSeq.Add(1), 36)
	return string(b)
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP serves one Web API request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rid := r.Header.Get("X-Request-Id")
	if rid == "" || len(rid) > 64 || strings.ContainsFunc(rid, func(c rune) bool { return c < '!' || c > '~' }) {
		rid = a.newRequestID()
	}
	w.Header().Set("X-Request-Id", rid)
	ctx := r.Context()
	sw := &statusWriter{ResponseWriter: w}

	path := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/")
	rt := a.routes[path]
	label := path
	if rt == nil {
		label = "unknown"
	}
	defer func() {
		if rec := recover(); rec != nil {
			a.log.ErrorContext(ctx, "panic in handler", "route", label, "panic", fmt.Sprint(rec), "request_id", rid)
			if sw.status == 0 {
				writeError(sw, a.log, r, rid, errors.New("panic"))
			}
		}
		d := time.Since(start)
		var series *routeSeries
		if rt != nil {
			series = rt.series
		}
		a.metrics.observe(label, series, sw.status, d)
		level := slog.LevelDebug
		if a.opts.AccessLog || sw.status >= 500 {
			level = slog.LevelInfo
		}
		if a.log.Enabled(ctx, level) {
			a.log.LogAttrs(ctx, level, "request", slog.String("request_id", rid), slog.String("method", r.Method),
				slog.String("route", label), slog.Int("status", sw.status), slog.Duration("duration", d), slog.String("client", reqinfo.ClientAddress(r)))
		}
	}()

	if rt == nil {
		writeError(sw, a.log, r, rid, errorf(http.StatusNotFound, "Unknown url : /"+path))
		return
	}
	if byMethod := a.byMethod[r.Method+" "+path]; byMethod != nil {
		rt = byMethod
	} else {
		writeError(sw, a.log, r, rid, errorf(http.StatusMethodNotAllowed, "HTTP method "+rt.Method+" is required"))
		return
	}
	// Credentials first, as SonarQube does: an anonymous or under-privileged
	// caller learns nothing about parameters.
	c, err := a.newCall(sw, r, rt)
	if err == nil {
		// Any action may write (a GET creates a badge token on first use,
		// a sign-in creates a directory user): each carries its actor,
		// built only if a write asks for it, from the principal known then.
		c.rid = rid
		c.ctx = state.WithLazyActor(c.ctx, c)
		err = a.authenticate(c)
	}
	if err == nil {
		err = a.authorize(c)
	}
	if err == nil {
		err = rt.validate(c.form)
	}
	var body any
	if err == nil {
		body, err = rt.Handle(c)
	}
	if err != nil {
		writeError(sw, a.log, r, rid, err)
		return
	}
	switch b := body.(type) {
	case nil:
		sw.WriteHeader(http.StatusNoContent)
	case text:
		sw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		sw.WriteHeader(http.StatusOK)
		_, _ = sw.Write([]byte(b))
	case raw:
		// the handler already wrote the answer (e.g. set cookies first)
	default:
		writeJSON(sw, http.StatusOK, b)
	}
}

// text is a plain-text answer.
type text string

// raw marks an answer the handler wrote itself.
type raw struct{}

func (a *API) newCall(w http.ResponseWriter, r *http.Request, rt *Route) (*call, error) {
	if r.ContentLength != 0 {
		// A client trickling a body must not hold the connection forever;
		// body-less requests skip the cost of a deadline.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(a.opts.BodyReadTimeout))
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes)
	ct := r.Header.Get("Content-Type")
	var err error
	if strings.HasPrefix(ct, "multipart/form-data") {
		err = r.ParseMultipartForm(a.opts.MaxBodyBytes)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errorf(http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than %d bytes", a.opts.MaxBodyBytes))
		}
		return nil, badRequest("The request parameters cannot be parsed: " + safeParseError(err))
	}
	// ParseMultipartForm already merged multipart values into r.Form.
	form := r.Form
	return &call{ctx: r.Context(), r: r, w: w, api: a, form: form, route: rt}, nil
}

// safeParseError keeps parse errors short and free of request content.
func safeParseError(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

func (a *API) actor(c *call, rid string) state.Actor {
	act := state.Actor{Name: "anonymous", RequestID: rid, UserID: c.principal.UserID, ClientAddress: reqinfo.ClientAddress(c.r)}
	switch {
	case !c.authed:
	case c.principal.TokenID != 0 && c.principal.UserID == 0:
		act.Name = "token:" + idString(c.principal.TokenID)
	case c.principal.UserID != 0:
		act.Name = "user:" + a.st.Index().Login(c.principal.UserID)
		if c.principal.TokenID != 0 {
			act.Name += " (token:" + idString(c.principal.TokenID) + ")"
		}
	}
	return act
}
