// Package server wires Gatehouse together: configuration, the store, the
// coordinator and the HTTP listener with its health endpoints and graceful
// shutdown. cmd/gatehouse is a thin shell over it.
package server

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// Config is Gatehouse's whole configuration. Every field is one row of
// [Options]: a flag, an environment variable and a configuration-file key,
// read in that order of strength (flag over environment over file over
// default).
type Config struct {
	// ConfigFile is the YAML file the configuration was read from
	// (--config, GATEHOUSE_CONFIG); empty: none.
	ConfigFile string
	// Addr is the listen address (GATEHOUSE_ADDR, --addr).
	Addr string
	// DataDir holds the embedded SQLite database (GATEHOUSE_DATA_DIR,
	// --data-dir).
	DataDir string
	// DatabaseURL selects PostgreSQL when set (GATEHOUSE_DATABASE_URL,
	// --database-url). It may hold a password: never logged.
	DatabaseURL string `secret:"true"`
	// AdminPassword is the first administrator's password on an empty store
	// (GATEHOUSE_ADMIN_PASSWORD); random and printed once when empty.
	AdminPassword string `secret:"true"`
	// LogLevel is debug, info, warn or error (GATEHOUSE_LOG_LEVEL).
	LogLevel string
	// LogFormat is json or text (GATEHOUSE_LOG_FORMAT).
	LogFormat string
	// AccessLog logs every request at info level (GATEHOUSE_ACCESS_LOG).
	AccessLog bool
	// ShutdownTimeout bounds the graceful shutdown (GATEHOUSE_SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
	// HeaderTimeout bounds reading a request's headers
	// (GATEHOUSE_HEADER_TIMEOUT).
	HeaderTimeout time.Duration
	// BodyTimeout bounds reading a request's body, on every path, routed or
	// not, and whether or not the handler reads it (GATEHOUSE_BODY_TIMEOUT).
	BodyTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends no new request
	// (GATEHOUSE_IDLE_TIMEOUT).
	IdleTimeout time.Duration
	// TLSCert and TLSKey are the PEM certificate chain and private key of
	// HTTPS (GATEHOUSE_TLS_CERT, --tls-cert; GATEHOUSE_TLS_KEY, --tls-key):
	// both or neither. Reloaded on SIGHUP.
	TLSCert string
	TLSKey  string
	// SecureCookies marks session cookies Secure on plain HTTP too, for a
	// server behind a TLS-terminating proxy (GATEHOUSE_SECURE_COOKIES).
	SecureCookies bool
	// PublicURL is the server's absolute base URL as browsers and identity
	// providers reach it (GATEHOUSE_PUBLIC_URL, --public-url); the SSO
	// ACS, callback and metadata URLs derive from it. Empty: SSO is off.
	PublicURL string
	// SessionTTL is how long a browser sign-in lasts; sessions are stored,
	// so restarts keep them (GATEHOUSE_SESSION_TTL, --session-ttl).
	SessionTTL time.Duration
	// PasswordReuse is how long a verified basic-auth login and password
	// are reused without checking the password again; at most a minute,
	// 0 turns reuse off (GATEHOUSE_PASSWORD_REUSE, --password-reuse).
	PasswordReuse time.Duration
	// TrustedProxies are the CIDR prefixes (or addresses) of the reverse
	// proxies whose client-address headers are believed
	// (GATEHOUSE_TRUSTED_PROXIES, --trusted-proxies); empty: none, the TCP
	// peer is the client.
	TrustedProxies []string
	// ProxyHeader is the header those proxies set: x-forwarded-for or
	// forwarded (RFC 7239) (GATEHOUSE_PROXY_HEADER, --proxy-header).
	ProxyHeader string
	// SignInFreeFailures is how many failed password sign-ins a login may
	// have from one client address before each further attempt waits
	// (GATEHOUSE_SIGNIN_FREE_FAILURES).
	SignInFreeFailures int
	// SignInAddressFreeFailures is the same for a client address over
	// every login (GATEHOUSE_SIGNIN_ADDRESS_FREE_FAILURES).
	SignInAddressFreeFailures int
	// SignInBackoff is the first wait past the free failures; it doubles
	// with each further failure (GATEHOUSE_SIGNIN_BACKOFF) up to
	// SignInMaxBackoff (GATEHOUSE_SIGNIN_MAX_BACKOFF).
	SignInBackoff    time.Duration
	SignInMaxBackoff time.Duration
	// SignInForget is how long failures are remembered after the last one
	// (GATEHOUSE_SIGNIN_FORGET).
	SignInForget time.Duration
	// MetricsToken, when set, is the bearer token /metrics requires
	// (GATEHOUSE_METRICS_TOKEN or GATEHOUSE_METRICS_TOKEN_FILE).
	MetricsToken string `secret:"true"`
	// MetricsAddr, when set, is the address of a listener of its own for
	// /metrics, which the main listener then does not serve
	// (GATEHOUSE_METRICS_ADDR, --metrics-addr).
	MetricsAddr string
	// LDAPFile is a properties file with the LDAP settings under their
	// SonarQube names (ldap.url=…; GATEHOUSE_LDAP_CONFIG, --ldap-config).
	LDAPFile string
	// LDAP holds LDAP settings from the configuration file's ldap section
	// and the environment (GATEHOUSE_LDAP_URL for ldap.url and so on; the
	// environment wins); they override LDAPFile. It may hold the bind
	// password: never logged.
	LDAP map[string]string `secret:"true"`
	// SecretKey encrypts connector secrets at rest (GATEHOUSE_SECRET_KEY:
	// base64 of 32 bytes; older keys after the first, comma-separated, for
	// rotation). No flag: a flag would show it in ps.
	SecretKey string `secret:"true"`
	// SecretKeyFile holds the keys instead, one per line, the first
	// current (GATEHOUSE_SECRET_KEY_FILE, --secret-key-file).
	SecretKeyFile string

	// gitlabRetries and gitlabRetryBase shorten the GitLab connector's
	// retries (tests of failing runs).
	gitlabRetries   int
	gitlabRetryBase time.Duration
}

// Scope says which commands an option belongs to: a command registers the
// flags, and lists in --help the options, of its scopes only. The
// environment and the file are read for every option whatever the command,
// so one file serves every command.
type Scope uint8

const (
	// ScopeStore is every command that opens the store.
	ScopeStore Scope = 1 << iota
	// ScopeServe is the server only: listener, HTTP, bootstrap.
	ScopeServe
	// ScopeProvision is the server and `gatehouse sync`: connectors and the
	// key of their secrets.
	ScopeProvision
)

// Option is one configuration setting: where it is read from and where it
// lands in [Config].
type Option struct {
	// Flag is the command-line flag, without dashes; empty for a setting
	// that must not appear in ps (a secret) or that only the file sets.
	Flag string
	// Env is the environment variable; empty for none.
	Env string
	// Key is the configuration file's key; empty for none.
	Key string
	// Scope is the commands the option belongs to.
	Scope Scope
	// Secret options are never printed (not in --help defaults, not in an
	// error) and may also be read from a file: the environment variable
	// Env+"_FILE" or the file key Key+"-file" names it.
	Secret bool
	// Usage is the one-line help.
	Usage string
	// Bind parses a value into the Config and prints the current one.
	Bind Binding
}

// Options is every configuration setting, one row each.
//
// To add an option: add the field to Config (and its default to
// DefaultConfig), then one row here — flag, environment variable, file key,
// scope, Secret when it is one, usage, and the binding of its type (Str,
// Bool, Duration, Int, List, Enum). The flag, the environment variable,
// the file key, `_FILE` for secrets, the human parse errors and --help all
// follow from the row; add the row to README's configuration table and to
// docs/gatehouse.example.yaml (TestExampleConfigComplete checks it).
func Options() []Option {
	return []Option{
		{Flag: "config", Env: "GATEHOUSE_CONFIG", Scope: ScopeStore, Usage: "YAML configuration file (docs/gatehouse.example.yaml); environment and flags override it", Bind: Str(func(c *Config) *string { return &c.ConfigFile })},
		{Flag: "data-dir", Env: "GATEHOUSE_DATA_DIR", Key: "data-dir", Scope: ScopeStore, Usage: "directory of the embedded SQLite database", Bind: Str(func(c *Config) *string { return &c.DataDir })},
		{Flag: "database-url", Env: "GATEHOUSE_DATABASE_URL", Key: "database-url", Scope: ScopeStore, Secret: true, Usage: "PostgreSQL URL (postgres://…); empty: embedded SQLite", Bind: Str(func(c *Config) *string { return &c.DatabaseURL })},
		{Flag: "log-level", Env: "GATEHOUSE_LOG_LEVEL", Key: "log-level", Scope: ScopeStore, Usage: "log level: debug, info, warn, error", Bind: Enum(func(c *Config) *string { return &c.LogLevel }, "debug", "info", "warn", "error")},
		{Flag: "log-format", Env: "GATEHOUSE_LOG_FORMAT", Key: "log-format", Scope: ScopeStore, Usage: "log format: text or json", Bind: Enum(func(c *Config) *string { return &c.LogFormat }, "text", "json")},
		{Flag: "addr", Env: "GATEHOUSE_ADDR", Key: "addr", Scope: ScopeServe, Usage: "listen address (host:port; :9000 is every interface)", Bind: Str(func(c *Config) *string { return &c.Addr })},
		{Env: "GATEHOUSE_ADMIN_PASSWORD", Key: "admin-password", Scope: ScopeServe, Secret: true, Usage: "first administrator's password, used only when the store has no user yet (random and printed once when empty)", Bind: Str(func(c *Config) *string { return &c.AdminPassword })},
		{Flag: "tls-cert", Env: "GATEHOUSE_TLS_CERT", Key: "tls-cert", Scope: ScopeServe, Usage: "PEM certificate chain file: with --tls-key, serve HTTPS (both reloaded on SIGHUP)", Bind: Str(func(c *Config) *string { return &c.TLSCert })},
		{Flag: "tls-key", Env: "GATEHOUSE_TLS_KEY", Key: "tls-key", Scope: ScopeServe, Usage: "PEM private key file of --tls-cert", Bind: Str(func(c *Config) *string { return &c.TLSKey })},
		{Flag: "access-log", Env: "GATEHOUSE_ACCESS_LOG", Key: "access-log", Scope: ScopeServe, Usage: "log every request at info level", Bind: Bool(func(c *Config) *bool { return &c.AccessLog })},
		{Flag: "public-url", Env: "GATEHOUSE_PUBLIC_URL", Key: "public-url", Scope: ScopeServe, Usage: "absolute base URL browsers and IdPs reach the server at (https://gatehouse.example.com); single sign-on needs it", Bind: Str(func(c *Config) *string { return &c.PublicURL })},
		{Flag: "secure-cookies", Env: "GATEHOUSE_SECURE_COOKIES", Key: "secure-cookies", Scope: ScopeServe, Usage: "mark session cookies Secure on plain HTTP too (behind a TLS-terminating proxy)", Bind: Bool(func(c *Config) *bool { return &c.SecureCookies })},
		{Flag: "session-ttl", Env: "GATEHOUSE_SESSION_TTL", Key: "session-ttl", Scope: ScopeServe, Usage: "how long a browser sign-in lasts (sessions are stored: restarts keep them)", Bind: Duration(func(c *Config) *time.Duration { return &c.SessionTTL })},
		{Flag: "password-reuse", Env: "GATEHOUSE_PASSWORD_REUSE", Key: "password-reuse", Scope: ScopeServe, Usage: "how long a verified basic-auth login and password are reused without a new check (at most 1m; 0: off)", Bind: Duration(func(c *Config) *time.Duration { return &c.PasswordReuse })},
		{Flag: "shutdown-timeout", Env: "GATEHOUSE_SHUTDOWN_TIMEOUT", Key: "shutdown-timeout", Scope: ScopeServe, Usage: "graceful shutdown bound", Bind: Duration(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
		{Flag: "header-timeout", Env: "GATEHOUSE_HEADER_TIMEOUT", Key: "header-timeout", Scope: ScopeServe, Usage: "bound on reading a request's headers", Bind: Duration(func(c *Config) *time.Duration { return &c.HeaderTimeout })},
		{Flag: "body-timeout", Env: "GATEHOUSE_BODY_TIMEOUT", Key: "body-timeout", Scope: ScopeServe, Usage: "bound on reading a request's body", Bind: Duration(func(c *Config) *time.Duration { return &c.BodyTimeout })},
		{Flag: "idle-timeout", Env: "GATEHOUSE_IDLE_TIMEOUT", Key: "idle-timeout", Scope: ScopeServe, Usage: "idle kept-alive connections are closed after this", Bind: Duration(func(c *Config) *time.Duration { return &c.IdleTimeout })},
		{Flag: "trusted-proxies", Env: "GATEHOUSE_TRUSTED_PROXIES", Key: "trusted-proxies", Scope: ScopeServe, Usage: "CIDR prefixes or addresses of reverse proxies whose client-address header is believed, comma-separated; empty: none", Bind: List(func(c *Config) *[]string { return &c.TrustedProxies })},
		{Flag: "proxy-header", Env: "GATEHOUSE_PROXY_HEADER", Key: "proxy-header", Scope: ScopeServe, Usage: "the client-address header the trusted proxies set: x-forwarded-for or forwarded (RFC 7239)", Bind: Enum(func(c *Config) *string { return &c.ProxyHeader }, headerXForwardedFor, headerForwarded)},
		{Flag: "metrics-addr", Env: "GATEHOUSE_METRICS_ADDR", Key: "metrics-addr", Scope: ScopeServe, Usage: "serve /metrics on this address of its own (host:port, plain HTTP) instead of on --addr; empty: on --addr", Bind: Str(func(c *Config) *string { return &c.MetricsAddr })},
		{Flag: "signin-free-failures", Env: "GATEHOUSE_SIGNIN_FREE_FAILURES", Key: "signin-free-failures", Scope: ScopeServe, Usage: "failed password sign-ins a login may have from one client address before each further attempt waits", Bind: Int(func(c *Config) *int { return &c.SignInFreeFailures })},
		{Flag: "signin-address-free-failures", Env: "GATEHOUSE_SIGNIN_ADDRESS_FREE_FAILURES", Key: "signin-address-free-failures", Scope: ScopeServe, Usage: "failed password sign-ins a client address may have over every login before each further attempt waits", Bind: Int(func(c *Config) *int { return &c.SignInAddressFreeFailures })},
		{Flag: "signin-backoff", Env: "GATEHOUSE_SIGNIN_BACKOFF", Key: "signin-backoff", Scope: ScopeServe, Usage: "first wait past the free failures; doubles with each further failure", Bind: Duration(func(c *Config) *time.Duration { return &c.SignInBackoff })},
		{Flag: "signin-max-backoff", Env: "GATEHOUSE_SIGNIN_MAX_BACKOFF", Key: "signin-max-backoff", Scope: ScopeServe, Usage: "longest wait between failed sign-ins", Bind: Duration(func(c *Config) *time.Duration { return &c.SignInMaxBackoff })},
		{Flag: "signin-forget", Env: "GATEHOUSE_SIGNIN_FORGET", Key: "signin-forget", Scope: ScopeServe, Usage: "failed sign-ins are forgotten this long after the last one (at least signin-max-backoff)", Bind: Duration(func(c *Config) *time.Duration { return &c.SignInForget })},
		{Env: "GATEHOUSE_METRICS_TOKEN", Key: "metrics-token", Scope: ScopeServe, Secret: true, Usage: "bearer token /metrics requires; empty: none", Bind: Str(func(c *Config) *string { return &c.MetricsToken })},
		{Flag: "ldap-config", Env: "GATEHOUSE_LDAP_CONFIG", Key: "ldap-config", Scope: ScopeProvision, Usage: "properties file of LDAP settings (ldap.url=…, SonarQube's names)", Bind: Str(func(c *Config) *string { return &c.LDAPFile })},
		{Env: "GATEHOUSE_SECRET_KEY", Key: "secret-key", Scope: ScopeProvision, Secret: true, Usage: "key(s) that encrypt connector secrets at rest: base64 of 32 bytes, older keys after a comma (docs/secrets.md)", Bind: Str(func(c *Config) *string { return &c.SecretKey })},
		{Flag: "secret-key-file", Env: "GATEHOUSE_SECRET_KEY_FILE", Key: "secret-key-file", Scope: ScopeProvision, Usage: "file of the keys that encrypt connector secrets, one per line (docs/secrets.md)", Bind: Str(func(c *Config) *string { return &c.SecretKeyFile })},
	}
}

// DefaultConfig returns the defaults of SPEC §7: port 9000, SQLite under
// ./data.
func DefaultConfig() Config {
	return Config{
		Addr:            ":9000",
		DataDir:         "./data",
		LogLevel:        "info",
		LogFormat:       "text",
		AccessLog:       true,
		ShutdownTimeout: 15 * time.Second,
		HeaderTimeout:   10 * time.Second,
		BodyTimeout:     30 * time.Second,
		IdleTimeout:     120 * time.Second,
		SessionTTL:      24 * time.Hour,
		PasswordReuse:   time.Minute,
		ProxyHeader:     headerXForwardedFor,

		SignInFreeFailures:        state.DefaultSignInPolicy.FreeFailures,
		SignInAddressFreeFailures: state.DefaultSignInPolicy.AddressFreeFailures,
		SignInBackoff:             state.DefaultSignInPolicy.Backoff,
		SignInMaxBackoff:          state.DefaultSignInPolicy.MaxBackoff,
		SignInForget:              state.DefaultSignInPolicy.Forget,
	}
}

// Flags sets c to the defaults overridden by the environment and registers
// every option's flag on fs, writing into c when fs parses. It reads no
// configuration file: commands use [Load]; this is for tests and tools
// that build a Config from an environment.
func (c *Config) Flags(fs *flag.FlagSet, getenv func(string) string) error {
	*c = DefaultConfig()
	if err := c.applyEnv(getenv); err != nil {
		return err
	}
	for _, o := range Options() {
		if o.Flag != "" {
			fs.Var(directValue{c: c, o: o}, o.Flag, o.Usage+envNote(o))
		}
	}
	return nil
}

// directValue is a flag writing straight into a Config.
type directValue struct {
	c *Config
	o Option
}

func (v directValue) String() string {
	if v.c == nil || v.o.Secret {
		return ""
	}
	return v.o.Bind.get(v.c)
}
func (v directValue) Set(s string) error { return v.o.Bind.set(v.c, s) }
func (v directValue) IsBoolFlag() bool   { return v.o.Bind.isBool }

func envNote(o Option) string {
	if o.Env == "" {
		return ""
	}
	return " ($" + o.Env + ")"
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := checkListenAddr(c.Addr); err != nil {
		return err
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log format %q: want text or json", c.LogFormat)
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return fmt.Errorf("database URL (GATEHOUSE_DATABASE_URL, --database-url) must start with postgres:// or postgresql://")
	}
	if c.HeaderTimeout <= 0 || c.BodyTimeout <= 0 || c.IdleTimeout <= 0 {
		return fmt.Errorf("header, body and idle timeouts must be positive: a slow client would hold its connection forever")
	}
	if c.SessionTTL < time.Minute {
		return fmt.Errorf("session TTL (GATEHOUSE_SESSION_TTL, --session-ttl) must be at least 1m")
	}
	if c.PasswordReuse < 0 || c.PasswordReuse > state.MaxPasswordReuse {
		return fmt.Errorf("password reuse (GATEHOUSE_PASSWORD_REUSE, --password-reuse) must be between 0 (off) and %s", state.MaxPasswordReuse)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("shutdown timeout must not be negative")
	}
	if _, err := parseTrustedProxies(c.TrustedProxies); err != nil {
		return fmt.Errorf("%w (GATEHOUSE_TRUSTED_PROXIES, --trusted-proxies)", err)
	}
	if c.ProxyHeader != headerXForwardedFor && c.ProxyHeader != headerForwarded {
		return fmt.Errorf("proxy header %q (GATEHOUSE_PROXY_HEADER, --proxy-header): want %s or %s", c.ProxyHeader, headerXForwardedFor, headerForwarded)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("HTTPS needs both a certificate and its key: set --tls-cert and --tls-key (GATEHOUSE_TLS_CERT, GATEHOUSE_TLS_KEY), or neither for plain HTTP")
	}
	if c.SignInFreeFailures < 1 || c.SignInAddressFreeFailures < 1 {
		return fmt.Errorf("sign-in free failures (GATEHOUSE_SIGNIN_FREE_FAILURES, GATEHOUSE_SIGNIN_ADDRESS_FREE_FAILURES) must be at least 1")
	}
	if c.SignInBackoff <= 0 || c.SignInMaxBackoff < c.SignInBackoff || c.SignInForget < c.SignInMaxBackoff {
		return fmt.Errorf("sign-in back-off: want 0 < signin-backoff <= signin-max-backoff <= signin-forget, got %v, %v, %v", c.SignInBackoff, c.SignInMaxBackoff, c.SignInForget)
	}
	if c.DatabaseURL == "" && c.DataDir == "" {
		return fmt.Errorf("data directory is empty: set --data-dir or GATEHOUSE_DATA_DIR (or --database-url for PostgreSQL)")
	}
	return nil
}

// signInPolicy is the sign-in throttle the configuration asks for.
func (c *Config) signInPolicy() state.SignInPolicy {
	return state.SignInPolicy{FreeFailures: c.SignInFreeFailures, AddressFreeFailures: c.SignInAddressFreeFailures,
		Backoff: c.SignInBackoff, MaxBackoff: c.SignInMaxBackoff, Forget: c.SignInForget}
}

// SQLitePath is the embedded database file.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, "gatehouse.db") }

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// NewLogger returns the logger the configuration asks for, writing to w.
func (c *Config) NewLogger(w *os.File) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
