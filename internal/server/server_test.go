package server

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func testConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.ShutdownTimeout = 5 * time.Second
	return cfg
}

func get(t *testing.T, url, login, pw string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if login == "" {
		return send(t, req, nil)
	}
	return send(t, req, basic(login, pw))
}

// TestServeLifecycle starts on an empty SQLite store: the administrator is
// created with a password printed once, the probes answer, and cancelling
// the context shuts down gracefully.
func TestServeLifecycle(t *testing.T) {
	cfg := testConfig(t)
	var console bytes.Buffer
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), &console, "test")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(console.String())
	if m == nil {
		t.Fatalf("no password printed: %q", console.String())
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	base := "http://" + srv.Addr()
	for _, tc := range []struct {
		path, login, pw string
		status          int
		body            string
	}{
		{"/healthz", "", "", 200, "ok"},
		{"/readyz", "", "", 200, "ready"},
		{"/", "", "", 200, "Sign in to Gatehouse"}, // the web UI: a signed-out visitor lands on the sign-in page
		{"/api/system/info", "admin", m[1], 200, `"Edition"`},
		{"/api/system/info", "admin", "wrong-password", 401, "Authentication failed"},
	} {
		status, body := get(t, base+tc.path, tc.login, tc.pw)
		if status != tc.status || !strings.Contains(body, tc.body) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tc.path, status, body, tc.status, tc.body)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no graceful shutdown within 10s")
	}

	// A second start on the same store creates no second administrator and
	// prints no password.
	console.Reset()
	srv2, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), &console, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	if console.Len() != 0 {
		t.Fatalf("second start printed %q", console.String())
	}
	pw, err := ResetAdmin(t.Context(), srv2.State(), AdminLogin, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv2.State().CheckPassword(t.Context(), AdminLogin, pw); err != nil {
		t.Fatalf("reset password does not work: %v", err)
	}
	if _, _, err := srv2.State().CheckPassword(t.Context(), AdminLogin, m[1]); err == nil {
		t.Fatal("old password still works after reset")
	}
}

func TestBootstrapWithConfiguredPassword(t *testing.T) {
	cfg := testConfig(t)
	cfg.AdminPassword = "configured-password-1"
	var console bytes.Buffer
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), &console, "test")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(console.String(), cfg.AdminPassword) {
		t.Fatal("configured password echoed to the console")
	}
	if _, _, err := srv.State().CheckPassword(t.Context(), AdminLogin, cfg.AdminPassword); err != nil {
		t.Fatal(err)
	}
	srv.Close()

	// A later start with another password on the same store keeps the
	// administrator's and says the variable is ignored.
	cfg.AdminPassword = "another-password-2"
	console.Reset()
	srv2, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), &console, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	if !strings.Contains(console.String(), "GATEHOUSE_ADMIN_PASSWORD is ignored: this store already has users") {
		t.Fatalf("second start printed %q", console.String())
	}
	if _, _, err := srv2.State().CheckPassword(t.Context(), AdminLogin, cfg.AdminPassword); err == nil {
		t.Fatal("the ignored password was set")
	}
}

func TestConfigFromEnvAndFlags(t *testing.T) {
	env := map[string]string{"GATEHOUSE_ADDR": ":7000", "GATEHOUSE_DATA_DIR": "/tmp/x", "GATEHOUSE_LOG_LEVEL": "debug"}
	cases := []struct {
		name    string
		args    []string
		want    func(Config) bool
		wantErr bool
	}{
		{"env", nil, func(c Config) bool { return c.Addr == ":7000" && c.DataDir == "/tmp/x" && c.LogLevel == "debug" }, false},
		{"flag wins", []string{"--addr", ":7001"}, func(c Config) bool { return c.Addr == ":7001" }, false},
		{"bad level", []string{"--log-level", "loud"}, nil, true},
		{"bad url", []string{"--database-url", "mysql://x"}, nil, true},
		{"sign-in throttle", []string{"--signin-free-failures", "3", "--signin-backoff", "2s", "--signin-max-backoff", "1m", "--signin-forget", "2h"}, func(c Config) bool {
			p := c.signInPolicy()
			return p.FreeFailures == 3 && p.AddressFreeFailures == 50 && p.Backoff == 2*time.Second && p.MaxBackoff == time.Minute && p.Forget == 2*time.Hour
		}, false},
		{"no free failure", []string{"--signin-free-failures", "0"}, nil, true},
		{"forget shorter than the longest wait", []string{"--signin-forget", "1m"}, nil, true},
		{"session TTL", []string{"--session-ttl", "8h"}, func(c Config) bool { return c.SessionTTL == 8*time.Hour }, false},
		{"session TTL too short", []string{"--session-ttl", "30s"}, nil, true},
		{"password reuse off", []string{"--password-reuse", "0s"}, func(c Config) bool { return c.PasswordReuse == 0 }, false},
		{"password reuse past a minute", []string{"--password-reuse", "5m"}, nil, true},
		{"password reuse negative", []string{"--password-reuse", "-1s"}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var c Config
			if err := c.Flags(fs, func(k string) string { return env[k] }); err != nil {
				t.Fatal(err)
			}
			err := fs.Parse(tc.args)
			if err == nil {
				err = c.Validate()
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && !tc.want(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

// TestSlowClientsAreBounded holds connections the way a slow or idle client
// does, on routed and unrouted paths alike: each is closed by the server
// within its bound (a body announced and never sent, headers never
// finished, a kept-alive connection left idle).
func TestSlowClientsAreBounded(t *testing.T) {
	const bound = 300 * time.Millisecond
	cfg := testConfig(t)
	cfg.HeaderTimeout, cfg.BodyTimeout, cfg.IdleTimeout = bound, bound, bound
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	announce := func(method, path string) string {
		return method + " " + path + " HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nx"
	}
	for _, tc := range []struct{ name, send string }{
		{"body never sent, /healthz", announce("GET", "/healthz")},
		{"body never sent, wrong method", announce("POST", "/healthz")},
		{"body never sent, unknown path", announce("POST", "/no/such/path")},
		{"body never sent, Web API", announce("POST", "/api/users/create")},
		{"body never sent, SCIM", announce("POST", "/scim/v2/Users")},
		{"chunked body never finished", "POST /healthz HTTP/1.1\r\nHost: gatehouse\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"},
		{"headers never finished", "GET /healthz HTTP/1.1\r\nHost: gatehouse\r\n"},
		{"idle after a request", "GET /healthz HTTP/1.1\r\nHost: gatehouse\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			if _, err := io.WriteString(conn, tc.send); err != nil {
				t.Fatal(err)
			}
			// The client's own limit only ends the test: the server must
			// close first.
			_ = conn.SetReadDeadline(start.Add(10 * time.Second))
			_, err = io.Copy(io.Discard, conn)
			took := time.Since(start)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open after %v", took)
			}
			// Generous slack over the bound for a loaded 2-core machine.
			if took > bound+3*time.Second {
				t.Fatalf("closed after %v, bound %v", took, bound)
			}
		})
	}
}
