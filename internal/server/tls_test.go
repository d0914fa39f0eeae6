package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/server/tlstest"
)

// TestServeTLS serves HTTPS with a generated certificate, replaces the
// files and reloads (what SIGHUP does): the new certificate is served
// without a restart; a bad new pair is refused and the old one kept.
// Session cookies are Secure and the URL is https.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tlstest.WriteCert(t, cert, key, "first")
	cfg := testConfig(t)
	cfg.TLSCert, cfg.TLSKey = cert, key
	cfg.AdminPassword = "tls-admin-password-1"
	var logs lockedBuffer
	srv, err := New(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)), &bytes.Buffer{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	if !strings.HasPrefix(srv.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %q, want https://127.0.0.1:…", srv.URL())
	}
	if got := tlstest.ServedName(t, srv.Addr()); got != "first" {
		t.Fatalf("served %q, want first", got)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.PostForm(srv.URL()+"/api/authentication/login", url.Values{"login": {"admin"}, "password": {cfg.AdminPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(resp.Cookies()) == 0 {
		t.Fatalf("login over TLS: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	for _, c := range resp.Cookies() {
		if !c.Secure {
			t.Fatalf("cookie %s is not Secure over TLS", c.Name)
		}
	}
	// Plain HTTP on the TLS port is refused.
	if resp, err := http.Get("http://" + srv.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP answered on the TLS listener")
		}
	}

	tlstest.WriteCert(t, cert, key, "second")
	if err := srv.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if got := tlstest.ServedName(t, srv.Addr()); got != "second" {
		t.Fatalf("after reload served %q, want second", got)
	}

	// A broken renewal: the key of another certificate. Refused, logged,
	// the previous certificate still served.
	other := filepath.Join(dir, "other")
	tlstest.WriteCert(t, other+".crt", other+".key", "third")
	b, _ := os.ReadFile(other + ".crt")
	if err := os.WriteFile(cert, b, 0o644); err != nil {
		t.Fatal(err)
	}
	err = srv.ReloadTLS()
	if err == nil || !strings.Contains(err.Error(), "does not belong to the certificate") {
		t.Fatalf("reload of a mismatched pair: %v", err)
	}
	if got := tlstest.ServedName(t, srv.Addr()); got != "second" {
		t.Fatalf("after a failed reload served %q, want second (the old one)", got)
	}
	if !strings.Contains(logs.String(), "TLS certificate not reloaded; the previous one is still served") {
		t.Fatalf("the failed reload was not logged: %s", logs.String())
	}
}

// TestTLSStartupErrors: a bad certificate or key is refused at start-up,
// before the store is opened, in words naming the file and the flag.
func TestTLSStartupErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tlstest.WriteCert(t, cert, key, "good")
	tlstest.WriteCert(t, filepath.Join(dir, "b.pem"), filepath.Join(dir, "b.key"), "other")
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, cert, key, want string
	}{
		{"missing cert", filepath.Join(dir, "nope.pem"), key, "TLS certificate file " + filepath.Join(dir, "nope.pem") + " (--tls-cert, GATEHOUSE_TLS_CERT) does not exist"},
		{"missing key", cert, filepath.Join(dir, "nope.key"), "TLS key file " + filepath.Join(dir, "nope.key") + " (--tls-key, GATEHOUSE_TLS_KEY) does not exist"},
		{"cert not PEM", junk, key, "TLS certificate file " + junk + " (--tls-cert, GATEHOUSE_TLS_CERT) holds no PEM certificate"},
		{"key not PEM", cert, junk, "TLS key file " + junk + " (--tls-key, GATEHOUSE_TLS_KEY) holds no PEM private key"},
		{"key of another cert", cert, filepath.Join(dir, "b.key"), "does not belong to the certificate " + cert},
		{"cert without key", cert, "", "HTTPS needs both a certificate and its key"},
		{"key without cert", "", key, "HTTPS needs both a certificate and its key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.DataDir = filepath.Join(cfg.DataDir, "data")
			cfg.TLSCert, cfg.TLSKey = tc.cert, tc.key
			var console bytes.Buffer
			srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), &console, "test")
			if err == nil {
				srv.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant %q", err, tc.want)
			}
			if regexp.MustCompile(`password`).MatchString(console.String()) {
				t.Fatalf("printed %q before failing", console.String())
			}
			if _, err := os.Stat(cfg.DataDir); err == nil {
				t.Fatal("the store was created before the TLS files were checked")
			}
		})
	}
}
