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
	"strconv"
	"strings"
	"time"
)

// Config is Gatehouse's whole configuration. Every field has a flag and an
// environment variable; a flag given on the command line wins.
type Config struct {
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
	// SecureCookies marks session cookies Secure on plain HTTP too, for a
	// server behind a TLS-terminating proxy (GATEHOUSE_SECURE_COOKIES).
	SecureCookies bool
	// LDAPFile is a properties file with the LDAP settings under their
	// SonarQube names (ldap.url=…; GATEHOUSE_LDAP_CONFIG, --ldap-config).
	LDAPFile string
	// LDAP holds LDAP settings from the environment, GATEHOUSE_LDAP_URL for
	// ldap.url and so on; they override the file. It may hold the bind
	// password: never logged.
	LDAP map[string]string `secret:"true"`
	// SecretKey encrypts connector secrets at rest (GATEHOUSE_SECRET_KEY:
	// base64 of 32 bytes; older keys after the first, comma-separated, for
	// rotation). Environment only: a flag would show it in ps.
	SecretKey string `secret:"true"`
	// SecretKeyFile holds the keys instead, one per line, the first
	// current (GATEHOUSE_SECRET_KEY_FILE, --secret-key-file).
	SecretKeyFile string

	// gitlabRetries and gitlabRetryBase shorten the GitLab connector's
	// retries (tests of failing runs).
	gitlabRetries   int
	gitlabRetryBase time.Duration
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
	}
}

// Flags registers the configuration's flags on fs, with defaults taken from
// the environment over DefaultConfig.
func (c *Config) Flags(fs *flag.FlagSet, getenv func(string) string) error {
	d := DefaultConfig()
	str := func(p *string, name, env, def, usage string) {
		if v := getenv(env); v != "" {
			def = v
		}
		fs.StringVar(p, name, def, usage+" ($"+env+")")
	}
	str(&c.Addr, "addr", "GATEHOUSE_ADDR", d.Addr, "listen address")
	str(&c.DataDir, "data-dir", "GATEHOUSE_DATA_DIR", d.DataDir, "directory of the embedded SQLite database")
	str(&c.DatabaseURL, "database-url", "GATEHOUSE_DATABASE_URL", "", "PostgreSQL URL (postgres://…); empty: embedded SQLite")
	str(&c.LogLevel, "log-level", "GATEHOUSE_LOG_LEVEL", d.LogLevel, "log level: debug, info, warn, error")
	str(&c.LogFormat, "log-format", "GATEHOUSE_LOG_FORMAT", d.LogFormat, "log format: text or json")
	c.AdminPassword = getenv("GATEHOUSE_ADMIN_PASSWORD")
	str(&c.LDAPFile, "ldap-config", "GATEHOUSE_LDAP_CONFIG", "", "properties file of LDAP settings (ldap.url=…, SonarQube's names)")
	c.LDAP = readLDAPEnv(getenv)
	c.SecretKey = getenv("GATEHOUSE_SECRET_KEY")
	str(&c.SecretKeyFile, "secret-key-file", "GATEHOUSE_SECRET_KEY_FILE", "", "file of the keys that encrypt connector secrets (docs/secrets.md)")

	boolean := func(p *bool, name, env string, def bool, usage string) error {
		if v := getenv(env); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%s=%q: %w", env, v, err)
			}
			def = b
		}
		fs.BoolVar(p, name, def, usage+" ($"+env+")")
		return nil
	}
	if err := boolean(&c.AccessLog, "access-log", "GATEHOUSE_ACCESS_LOG", d.AccessLog, "log every request at info level"); err != nil {
		return err
	}
	if err := boolean(&c.SecureCookies, "secure-cookies", "GATEHOUSE_SECURE_COOKIES", false, "mark session cookies Secure on plain HTTP too (behind a TLS proxy)"); err != nil {
		return err
	}
	duration := func(p *time.Duration, name, env string, def time.Duration, usage string) error {
		if v := getenv(env); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%s=%q: %w", env, v, err)
			}
			def = t
		}
		fs.DurationVar(p, name, def, usage+" ($"+env+")")
		return nil
	}
	for _, o := range []struct {
		p              *time.Duration
		name, env, use string
		def            time.Duration
	}{
		{&c.ShutdownTimeout, "shutdown-timeout", "GATEHOUSE_SHUTDOWN_TIMEOUT", "graceful shutdown bound", d.ShutdownTimeout},
		{&c.HeaderTimeout, "header-timeout", "GATEHOUSE_HEADER_TIMEOUT", "bound on reading a request's headers", d.HeaderTimeout},
		{&c.BodyTimeout, "body-timeout", "GATEHOUSE_BODY_TIMEOUT", "bound on reading a request's body", d.BodyTimeout},
		{&c.IdleTimeout, "idle-timeout", "GATEHOUSE_IDLE_TIMEOUT", "idle kept-alive connections are closed after this", d.IdleTimeout},
	} {
		if err := duration(o.p, o.name, o.env, o.def, o.use); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log format %q: want text or json", c.LogFormat)
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return fmt.Errorf("database URL must start with postgres:// or postgresql://")
	}
	if c.HeaderTimeout <= 0 || c.BodyTimeout <= 0 || c.IdleTimeout <= 0 {
		return fmt.Errorf("header, body and idle timeouts must be positive: a slow client would hold its connection forever")
	}
	if c.DatabaseURL == "" && c.DataDir == "" {
		return fmt.Errorf("data directory is empty")
	}
	return nil
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
