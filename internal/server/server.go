package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	ldapconn "github.com/gatehouse-dev/gatehouse/internal/connector/ldap"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
	"github.com/gatehouse-dev/gatehouse/internal/scim"
	"github.com/gatehouse-dev/gatehouse/internal/secretbox"
	"github.com/gatehouse-dev/gatehouse/internal/sso"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/ui"
	"github.com/gatehouse-dev/gatehouse/internal/webapi"
)

// Server is a running Gatehouse.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store store.Store
	state *state.State
	http  *http.Server
	ln    net.Listener
	api   *webapi.API
	// metrics and metricsLn serve /metrics on --metrics-addr; nil: on
	// the main listener.
	metrics   *http.Server
	metricsLn net.Listener
	// version is Gatehouse's own version, for the log.
	version string
	// certs serves HTTPS; nil: plain HTTP.
	certs *certReloader

	engine  *provision.Engine
	ldapDir atomic.Pointer[ldapconn.Directory] // nil: LDAP not configured
}

// New binds the listener, then opens and migrates the store, loads the
// state and bootstraps the first administrator on an empty store (printing
// its password to console once). The listener comes first so that a port
// in use fails before anything is written or a one-time password printed.
func New(ctx context.Context, cfg Config, log *slog.Logger, console io.Writer, version string) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var certs *certReloader
	if cfg.TLSCert != "" {
		var err error
		if certs, err = newCertReloader(cfg.TLSCert, cfg.TLSKey, log); err != nil {
			return nil, err
		}
	}
	// The keys and the LDAP file are read before anything is bound or
	// written, so a mistake fails before a migration runs or a password is
	// printed.
	ring, err := secretbox.Load(cfg.SecretKey, cfg.SecretKeyFile)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	if _, err := cfg.LDAPValues(); err != nil {
		return nil, err
	}
	ln, err := listen(cfg.Addr)
	if err != nil {
		return nil, err
	}
	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			ln.Close()
			return nil, fmt.Errorf("cannot listen on %s (--metrics-addr, GATEHOUSE_METRICS_ADDR): %w", cfg.MetricsAddr, err)
		}
	}
	closeListeners := func() {
		ln.Close()
		if metricsLn != nil {
			metricsLn.Close()
		}
	}
	st, err := OpenStore(ctx, cfg, log)
	if err != nil {
		closeListeners()
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, store: st, ln: ln, metricsLn: metricsLn, version: version, certs: certs}
	if err := s.init(ctx, console, version, ring); err != nil {
		closeListeners()
		st.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) init(ctx context.Context, console io.Writer, version string, ring *secretbox.Keyring) error {
	n, err := s.store.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if n > 0 {
		s.log.Info("applied migrations", "count", n)
	}
	sopts := state.Options{Logger: s.log, SignIn: s.cfg.signInPolicy(), PasswordReuse: s.cfg.PasswordReuse}
	if s.cfg.PasswordReuse == 0 {
		sopts.PasswordReuse = -1 // the option's 0 is off; the state's is its default
	}
	if ring.Configured() {
		sopts.Secrets = ring
	}
	s.state, err = state.New(ctx, s.store, sopts)
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	if err := Bootstrap(ctx, s.state, s.cfg.AdminPassword, console); err != nil {
		return fmt.Errorf("bootstrap administrator: %w", err)
	}
	if err := s.startProvisioning(ctx); err != nil {
		return err
	}
	ldapTest := func(ctx context.Context, login string) (any, bool) {
		dir := s.ldapDir.Load()
		if dir == nil {
			return nil, false
		}
		return dir.Test(ctx, login), true
	}
	collectors := []prometheus.Collector{newSyncCollector(s.engine)}
	if db, ok := s.store.(poolStater); ok {
		collectors = append(collectors, newPoolCollector(db))
	}
	if db, ok := s.store.(latencyStater); ok {
		collectors = append(collectors, newLatencyCollector(db))
	}
	// The SSO adapter ends its sign-ins in the Web API's session; the
	// Web API administers the adapter's connections.
	var api *webapi.API
	ssoHandler, err := sso.New(s.state, sso.Options{Logger: s.log, PublicURL: s.cfg.PublicURL,
		Sessions: sso.SessionFunc(func(w http.ResponseWriter, r *http.Request, userID int64) error {
			return api.StartSession(w, r, userID)
		})})
	if err != nil {
		return fmt.Errorf("public URL: %w", err)
	}
	api = webapi.New(s.state, webapi.Options{SSO: ssoHandler, Collectors: collectors, Logger: s.log, GatehouseVersion: version, AccessLog: s.cfg.AccessLog, SecureCookies: s.cfg.SecureCookies || s.certs != nil, SessionTTL: s.cfg.SessionTTL, MetricsToken: s.cfg.MetricsToken, MetricsElsewhere: s.metricsLn != nil,
		LDAPTest: ldapTest, BodyReadTimeout: s.cfg.BodyTimeout, Provisioner: s.engine, GitLabSignIn: s.openGitLabSignIn, DynamicIdentityProviders: s.identityProviders,
		Probes: probes()})
	s.api = api
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.ready)
	api.Register(mux)
	ssoHandler.Register(mux)
	pages, err := ui.New(s.state, api, ui.Options{Logger: s.log, SecureCookies: s.cfg.SecureCookies,
		Provisioner: s.engine, SSO: ssoHandler, LDAPTest: ldapTest})
	if err != nil {
		return err
	}
	pages.Register(mux)
	scimAPI := scim.New(s.state, scim.Options{Logger: s.log})
	trusted, err := parseTrustedProxies(s.cfg.TrustedProxies)
	if err != nil {
		return err
	}
	s.http = &http.Server{
		Handler: clientAddr(boundBody(scimAPI.Wrap(mux), s.cfg.BodyTimeout), trusted, s.cfg.ProxyHeader),
		// No ReadTimeout: it resets a deadline on every request, measurable
		// on the decision path. Slow headers are bounded by
		// ReadHeaderTimeout, bodies by boundBody, only for requests that
		// have one.
		ReadHeaderTimeout: s.cfg.HeaderTimeout,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.certs != nil {
		s.http.TLSConfig = s.certs.tlsConfig()
	}
	if s.metricsLn != nil {
		mmux := http.NewServeMux()
		mmux.Handle("GET /metrics", api.MetricsHandler())
		s.metrics = &http.Server{Handler: mmux, ReadHeaderTimeout: s.cfg.HeaderTimeout, WriteTimeout: 60 * time.Second,
			IdleTimeout: s.cfg.IdleTimeout, MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	}
	return nil
}

// probes are the health probes the server answers beside the API, listed
// in its OpenAPI document.
func probes() []webapi.Probe {
	return []webapi.Probe{
		{Path: "/healthz", Summary: "Liveness: answers ok while the process serves HTTP."},
		{Path: "/readyz", Summary: "Readiness: answers ready when the store answers, 503 otherwise."},
	}
}

// boundBody bounds the time to read the body of every request that
// announces one, before any routing: net/http reads the unread rest of a
// body after the handler returns (to reuse the connection), so a client that
// never sends its announced body would otherwise hold the connection
// forever even on /healthz or an unknown path. Past the bound the read
// fails and net/http closes the connection.
func boundBody(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		h.ServeHTTP(w, r)
	})
}

// ready answers 200 when the store answers.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.state.DefaultTemplateID(ctx); err != nil {
		s.log.Warn("readiness check failed", "err", err)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// MetricsAddr is the address of the metrics listener (--metrics-addr);
// empty when /metrics is served on Addr.
func (s *Server) MetricsAddr() string {
	if s.metricsLn == nil {
		return ""
	}
	return s.metricsLn.Addr().String()
}

// URL is a URL of the server a person can open (localhost when it listens
// on every interface).
func (s *Server) URL() string { return DisplayURL(s.Addr(), s.certs != nil) }

// ErrNoTLS is returned by [Server.ReloadTLS] on a plain-HTTP server.
var ErrNoTLS = errors.New("no TLS certificate configured (--tls-cert, --tls-key): nothing to reload")

// ReloadTLS reads --tls-cert and --tls-key again (what SIGHUP does): the
// next handshake gets the new certificate. A pair that does not load is
// refused, logged and returned; the previous certificate stays in service.
func (s *Server) ReloadTLS() error {
	if s.certs == nil {
		return ErrNoTLS
	}
	return s.certs.Reload()
}

// State returns the coordinator, for commands that act on a running server.
func (s *Server) State() *state.State { return s.state }

// Run serves until ctx ends, then shuts down gracefully: in-flight requests
// finish (up to ShutdownTimeout) before the store closes.
func (s *Server) Run(ctx context.Context) error {
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	go s.state.Run(bg)
	engineDone := make(chan struct{})
	go func() { s.engine.Run(bg); close(engineDone) }()
	defer func() { stop(); <-engineDone }()
	errc := make(chan error, 1)
	go func() {
		if s.certs != nil {
			errc <- s.http.ServeTLS(s.ln, "", "") // the certificate comes from TLSConfig.GetCertificate
			return
		}
		errc <- s.http.Serve(s.ln)
	}()
	merrc := make(chan error, 1)
	if s.metrics != nil {
		go func() { merrc <- s.metrics.Serve(s.metricsLn) }()
		s.log.Info("metrics listening", "addr", s.MetricsAddr())
	}
	s.log.Info("gatehouse listening", "addr", s.Addr(), "url", s.URL(), "version", s.version)
	select {
	case err := <-errc:
		s.closeMetrics()
		s.store.Close()
		return err
	case err := <-merrc:
		s.http.Close()
		s.store.Close()
		return fmt.Errorf("metrics listener: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	s.closeMetrics()
	err := s.http.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	stop()
	if cerr := s.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// closeMetrics stops the metrics listener, if any: a scrape cut short
// loses nothing.
func (s *Server) closeMetrics() {
	if s.metrics != nil {
		s.metrics.Close()
	}
}

// Close releases the server without serving (for commands).
func (s *Server) Close() error {
	if s.ln != nil {
		s.ln.Close()
	}
	if s.metricsLn != nil {
		s.metricsLn.Close()
	}
	return s.store.Close()
}

// AdminLogin is the login of the first administrator.
const AdminLogin = "admin"

// Bootstrap creates the first administrator when the store has no user. The
// password is the given one, or a random one printed once to console (never
// to the log).
func Bootstrap(ctx context.Context, st *state.State, password string, console io.Writer) error {
	_, total, err := st.Store().ListUsers(ctx, store.UserFilter{Page: store.Page{Number: 1, Size: 1}})
	if err != nil {
		return err
	}
	if total > 0 {
		if password != "" {
			// Said on every start, so someone following a first-run
			// guide on an old data directory learns why the password
			// they chose does not work.
			fmt.Fprint(console, "GATEHOUSE_ADMIN_PASSWORD is ignored: this store already has users (it is not new).\n"+
				"Set the password with `gatehouse admin reset-password --password …`, or start from an empty store.\n")
		}
		return nil
	}
	printed := false
	if password == "" {
		if password, err = RandomPassword(); err != nil {
			return err
		}
		printed = true
	}
	ctx = state.WithActor(ctx, state.Actor{Name: "system"})
	if _, err := st.CreateUser(ctx, state.NewUser{Login: AdminLogin, Name: "Administrator", Password: password}); err != nil {
		return err
	}
	if err := st.AddMember(ctx, identity.GroupAdministrators, AdminLogin); err != nil {
		return err
	}
	if printed {
		fmt.Fprintf(console, "\nGatehouse created the administrator account.\n  login:    %s\n  password: %s\nIt is shown only this once; reset it with `gatehouse admin reset-password`.\n\n", AdminLogin, password)
	} else {
		fmt.Fprintf(console, "Gatehouse created the administrator account %q with the password from GATEHOUSE_ADMIN_PASSWORD.\n", AdminLogin)
	}
	return nil
}

// RandomPassword returns a 20-character password from an unambiguous
// alphabet.
func RandomPassword() (string, error) {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b), nil
}

// ErrUnknownLogin is returned by [ResetAdmin] for a login the store does
// not hold (or holds deactivated) when creating it was not asked for.
var ErrUnknownLogin = errors.New("unknown login")

// ResetAdmin sets a new password for login, reactivating it and making sure
// it is in sonar-administrators. A login the store does not hold, or holds
// deactivated, is created (reactivated) as a local administrator only when
// create is set: a typo must not quietly make a new administrator. It
// returns the password set.
func ResetAdmin(ctx context.Context, st *state.State, login, password string, create bool) (string, error) {
	ctx = state.WithActor(ctx, state.Actor{Name: "system"})
	u, err := st.Store().GetUserByLogin(ctx, login)
	missing := errors.Is(err, identity.ErrNotFound)
	if err != nil && !missing {
		return "", err
	}
	if !create {
		switch {
		case missing:
			return "", fmt.Errorf("%w: no user has the login %q; check it, or pass --create to create it as a new local administrator", ErrUnknownLogin, login)
		case !u.Active:
			return "", fmt.Errorf("%w: the user %q is deactivated; pass --create to reactivate it as an administrator", ErrUnknownLogin, login)
		}
	}
	if password == "" {
		if password, err = RandomPassword(); err != nil {
			return "", err
		}
	}
	if missing || !u.Active {
		if _, err := st.CreateUser(ctx, state.NewUser{Login: login, Name: "Administrator", Password: password}); err != nil {
			return "", err
		}
	} else if err := st.SetPassword(ctx, login, password, nil); err != nil {
		return "", err
	}
	if err := st.AddMember(ctx, identity.GroupAdministrators, login); err != nil {
		return "", err
	}
	return password, nil
}
