package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/server/tlstest"
)

// syncBuffer is an output the server's goroutines may write while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeTLSReloadOnSIGHUP runs `gatehouse serve` with --tls-cert and
// --tls-key from the environment: the banner prints an https URL, and
// after the files are replaced a real SIGHUP makes the new certificate
// served without a restart.
func TestServeTLSReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tlstest.WriteCert(t, cert, key, "before-hup")
	env := map[string]string{
		"GATEHOUSE_DATA_DIR":       filepath.Join(dir, "data"),
		"GATEHOUSE_TLS_CERT":       cert,
		"GATEHOUSE_TLS_KEY":        key,
		"GATEHOUSE_ADMIN_PASSWORD": "tls-admin-password-1",
		"GATEHOUSE_LOG_LEVEL":      "warn",
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, &out, &errOut)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v (%s)", err, errOut.String())
		}
	}()
	re := regexp.MustCompile(`is serving on https://(127\.0\.0\.1:\d+) `)
	var addr string
	for deadline := time.Now().Add(20 * time.Second); addr == ""; {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no https banner: stdout %q stderr %q", out.String(), errOut.String())
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if got := tlstest.ServedName(t, addr); got != "before-hup" {
		t.Fatalf("served %q", got)
	}
	tlstest.WriteCert(t, cert, key, "after-hup")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		got := tlstest.ServedName(t, addr)
		if got == "after-hup" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving %q 10s after SIGHUP (stderr %q)", got, errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
