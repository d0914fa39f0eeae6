package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore/sqltest"
)

// outageTally counts the answers of one kind of request during the test.
type outageTally struct {
	mu       sync.Mutex
	byStatus map[int]int
	bad      []string // answers the outage must never cause
}

func (o *outageTally) add(status int, retryAfter, body string, allowed ...int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.byStatus == nil {
		o.byStatus = map[int]int{}
	}
	o.byStatus[status]++
	ok := false
	for _, a := range allowed {
		ok = ok || a == status
	}
	switch {
	case !ok:
		o.bad = append(o.bad, fmt.Sprintf("%d %s", status, strings.TrimSpace(body)))
	case status == http.StatusServiceUnavailable && retryAfter == "":
		o.bad = append(o.bad, "503 without Retry-After: "+strings.TrimSpace(body))
	}
}

func (o *outageTally) count(status int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.byStatus[status]
}

// TestPostgresOutage stops and starts a private PostgreSQL under traffic:
// decisions and token checks go on from memory throughout; every route
// that needs the store answers 503 with Retry-After while it is down,
// never 500; every write answered 200 is there afterwards; and the server
// recovers without a restart.
func TestPostgresOutage(t *testing.T) {
	pg := sqltest.PrivatePostgres(t)
	cfg := testConfig(t)
	cfg.DatabaseURL = pg.URL()
	cfg.AdminPassword = "admin-password-for-outage-1"
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	base := "http://" + srv.Addr() + "/"
	client := &http.Client{Timeout: 30 * time.Second}
	call := func(method, path string, auth func(*http.Request), form url.Values) (int, string, string) {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequestWithContext(ctx, method, base+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if auth != nil {
			auth(req)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
	}
	asAdmin := func(r *http.Request) { r.SetBasicAuth(AdminLogin, cfg.AdminPassword) }
	status, _, body := call("POST", "api/user_tokens/generate", asAdmin, url.Values{"name": {"outage"}})
	if status != 200 {
		t.Fatalf("generate token: %d %s", status, body)
	}
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(body), &tok); err != nil {
		t.Fatal(err)
	}
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.Token) }
	status, _, body = call("POST", "api/scim_tokens/generate", asAdmin, url.Values{"name": {"idp"}})
	if status != 200 {
		t.Fatalf("generate SCIM token: %d %s", status, body)
	}
	var scimTok struct{ Token string }
	if err := json.Unmarshal([]byte(body), &scimTok); err != nil {
		t.Fatal(err)
	}
	asIdP := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+scimTok.Token) }

	var (
		decisions, reads, writes, signIns, ready, scimReads outageTally
		acked                                               sync.Map // group names answered 200
		seq                                                 atomic.Int64
		wg                                                  sync.WaitGroup
	)
	traffic, stopTraffic := context.WithCancel(ctx)
	// A steady trickle of each kind, not a flood on a small machine.
	loop := func(pause time.Duration, fn func()) {
		wg.Go(func() {
			for traffic.Err() == nil {
				fn()
				time.Sleep(pause)
			}
		})
	}
	loop(5*time.Millisecond, func() {
		s, ra, b := call("GET", "api/authz/check?permission=admin", bearer, nil)
		decisions.add(s, ra, b, 200)
		s, ra, b = call("GET", "api/authentication/validate", bearer, nil)
		decisions.add(s, ra, b, 200)
	})
	loop(20*time.Millisecond, func() {
		s, ra, b := call("GET", "api/users/search", bearer, nil)
		reads.add(s, ra, b, 200, 503)
	})
	loop(50*time.Millisecond, func() {
		s, ra, b := call("GET", "scim/v2/Users?count=5", asIdP, nil)
		scimReads.add(s, ra, b, 200, 503)
	})
	loop(50*time.Millisecond, func() {
		name := fmt.Sprintf("outage-%d", seq.Add(1))
		s, ra, b := call("POST", "api/user_groups/create", bearer, url.Values{"name": {name}})
		writes.add(s, ra, b, 200, 503)
		if s == 200 {
			acked.Store(name, true)
		}
	})
	loop(200*time.Millisecond, func() {
		s, ra, b := call("GET", "api/users/current", asAdmin, nil)
		signIns.add(s, ra, b, 200, 503)
		s, ra, b = call("GET", "readyz", nil, nil)
		ready.add(s, ra, b, 200, 503)
	})
	defer func() { stopTraffic(); wg.Wait() }()

	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60 s (reads %v, writes %v, sign-ins %v)", what, reads.byStatus, writes.byStatus, signIns.byStatus)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("traffic before the outage", func() bool { return writes.count(200) >= 3 && reads.count(200) >= 3 })
	pg.Stop()
	waitFor("503 while the database is down", func() bool {
		return reads.count(503) >= 3 && writes.count(503) >= 3 && signIns.count(503) >= 1 && ready.count(503) >= 1 && scimReads.count(503) >= 1
	})
	decisionsDuring := decisions.count(200)
	waitFor("decisions go on while the database is down", func() bool { return decisions.count(200) >= decisionsDuring+20 })
	pg.Start()
	okReads, okWrites, okSignIns, okSCIM := reads.count(200), writes.count(200), signIns.count(200), scimReads.count(200)
	waitFor("recovery without a restart", func() bool {
		return reads.count(200) > okReads+3 && writes.count(200) > okWrites+3 && signIns.count(200) > okSignIns && scimReads.count(200) > okSCIM
	})
	stopTraffic()
	wg.Wait()

	for name, tally := range map[string]*outageTally{"decision": &decisions, "read": &reads, "write": &writes, "sign-in": &signIns, "readiness": &ready, "SCIM read": &scimReads} {
		if len(tally.bad) > 0 {
			t.Errorf("%s answers the outage must not cause (%d), first: %s", name, len(tally.bad), tally.bad[0])
		}
	}
	t.Logf("decisions %v, reads %v, writes %v, sign-ins %v, readiness %v, SCIM %v", decisions.byStatus, reads.byStatus, writes.byStatus, signIns.byStatus, ready.byStatus, scimReads.byStatus)
	// Every acknowledged write is there.
	acked.Range(func(k, _ any) bool {
		if _, err := srv.State().Store().GetGroupByName(t.Context(), k.(string)); err != nil {
			t.Errorf("group %s was answered 200 but is not in the store: %v", k, err)
		}
		return true
	})
}
