package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMetricsAddr: with --metrics-addr, /metrics (still behind its token)
// is served on that listener only, and the main listener's OpenAPI
// document no longer lists it.
func TestMetricsAddr(t *testing.T) {
	cfg := testConfig(t)
	cfg.AdminPassword = "admin-password-for-tests-1"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.MetricsToken = "scrape-secret-1"
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if srv.MetricsAddr() == "" || srv.MetricsAddr() == srv.Addr() {
		t.Fatalf("metrics on %q, main on %q", srv.MetricsAddr(), srv.Addr())
	}
	scrape := bearer("scrape-secret-1")
	for _, tc := range []struct {
		name, url string
		auth      func(*http.Request)
		status    int
		body      string
	}{
		{"metrics listener", "http://" + srv.MetricsAddr() + "/metrics", scrape, 200, "gatehouse_authz_decisions_total"},
		{"metrics listener wants the token", "http://" + srv.MetricsAddr() + "/metrics", nil, 401, ""},
		{"metrics listener serves nothing else", "http://" + srv.MetricsAddr() + "/api/system/status", scrape, 404, ""},
		{"main listener no longer serves /metrics", "http://" + srv.Addr() + "/metrics", scrape, 404, ""},
		{"main listener serves the API", "http://" + srv.Addr() + "/api/system/status", nil, 200, "UP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body := call(t, "GET", tc.url, nil, tc.auth)
			if st != tc.status || !strings.Contains(body, tc.body) {
				t.Fatalf("%d %.300s; want %d with %q", st, body, tc.status, tc.body)
			}
		})
	}
	if _, doc := call(t, "GET", "http://"+srv.Addr()+"/api/openapi.json", nil, nil); strings.Contains(doc, `"/metrics"`) {
		t.Error("the OpenAPI document lists /metrics, which the main listener does not serve")
	}
}

// TestMetricsAddrInUse: a metrics address that cannot be bound stops the
// start before the store is created, naming the setting.
func TestMetricsAddrInUse(t *testing.T) {
	cfg := testConfig(t)
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.MetricsAddr = "127.0.0.1:99999"
	_, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard, "test")
	if err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Fatalf("New = %v, want an error naming --metrics-addr", err)
	}
	if _, err := os.Stat(cfg.DataDir); !os.IsNotExist(err) {
		t.Fatalf("the data directory was created: %v", err)
	}
}
