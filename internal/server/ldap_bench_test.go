package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ldapconn "github.com/gatehouse-dev/gatehouse/internal/connector/ldap"
	"github.com/gatehouse-dev/gatehouse/internal/connector/ldap/ldaptest"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// ldapServer starts a slapd with the test directory and a Gatehouse
// connected to it with the given staleness bound; it returns the server,
// its handler and a token of the LDAP service account svc-ci, which holds
// global admin through the LDAP group gatehouse-admins, and a token of the
// local administrator.
func ldapServer(tb testing.TB, staleness string) (*Server, http.Handler, string, string, *ldaptest.Server) {
	tb.Helper()
	dir := ldaptest.Start(tb, ldaptest.Options{LDIF: []string{"../connector/ldap/testdata/directory.ldif"}})
	cfg := DefaultConfig()
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", tb.TempDir()
	cfg.AdminPassword = "admin-password-42"
	cfg.AccessLog = false
	cfg.LDAP = map[string]string{
		"ldap.url": dir.URL, "ldap.bindDn": ldaptest.BindDN, "ldap.bindPassword": ldaptest.BindPassword,
		"ldap.user.baseDn": "ou=people," + ldaptest.BaseDN, "ldap.group.baseDn": "ou=groups," + ldaptest.BaseDN,
		"ldap.group.request": "(|(member={dn})(uniqueMember={dn})(memberUid={uid}))", "ldap.tokenStaleness": staleness,
	}
	srv, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard, "bench")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	h := srv.http.Handler
	do := func(method, path string, form url.Values, login, pw string) string {
		req := httptest.NewRequest(method, "/"+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(login, pw)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 300 {
			tb.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body.String())
		}
		return rec.Body.String()
	}
	token := func(login, pw string) string {
		var gen struct{ Token string }
		_ = json.Unmarshal([]byte(do("POST", "api/user_tokens/generate", url.Values{"name": {"bench"}}, login, pw)), &gen)
		return gen.Token
	}
	ldapTok := token("svc-ci", "svc-ci-pw") // first sign-in creates svc-ci and its groups
	do("POST", "api/permissions/add_group", url.Values{"groupName": {"gatehouse-admins"}, "permission": {"admin"}}, "admin", cfg.AdminPassword)
	return srv, h, ldapTok, token("admin", cfg.AdminPassword), dir
}

func checkOnce(h http.Handler, tok string) int {
	req := httptest.NewRequest("GET", "/api/authz/check?permission=admin", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"allowed":true`) {
		return 0
	}
	return 1
}

// BenchmarkLDAPFreshCheck is api/authz/check through the whole handler
// (in process, no network) for a token of an LDAP user whose groups are
// fresh and, interleaved in the same run, for a local user's token: the
// difference is the freshness check on the decision path.
func BenchmarkLDAPFreshCheck(b *testing.B) {
	_, h, ldapTok, localTok, _ := ldapServer(b, "1h")
	for range 1000 { // warm both paths
		checkOnce(h, ldapTok)
		checkOnce(h, localTok)
	}
	var ldapT, localT []time.Duration
	i := 0
	for b.Loop() {
		tok := localTok
		if i%2 == 1 {
			tok = ldapTok
		}
		start := time.Now()
		ok := checkOnce(h, tok)
		d := time.Since(start)
		if ok != 1 {
			b.Fatal("check refused")
		}
		if i%2 == 1 {
			ldapT = append(ldapT, d)
		} else {
			localT = append(localT, d)
		}
		i++
	}
	q := func(ds []time.Duration, p float64) float64 {
		if len(ds) == 0 {
			return 0
		}
		slices.Sort(ds)
		return float64(ds[int(float64(len(ds)-1)*p)].Nanoseconds()) / 1e3
	}
	b.ReportMetric(q(ldapT, 0.5), "ldap-p50-µs")
	b.ReportMetric(q(ldapT, 0.99), "ldap-p99-µs")
	b.ReportMetric(q(localT, 0.5), "local-p50-µs")
	b.ReportMetric(q(localT, 0.99), "local-p99-µs")
	if m := q(localT, 0.5); m > 0 {
		b.ReportMetric(100*(q(ldapT, 0.5)/m-1), "p50-diff-%")
	}
}

// TestLDAPStaleTokenOneLookup sends 1,000 concurrent requests with one
// stale LDAP user's token: they share exactly one LDAP look-up.
func TestLDAPStaleTokenOneLookup(t *testing.T) {
	srv, h, ldapTok, _, _ := ldapServer(t, "1s")
	// Past the bound (a wall-clock wait: the bound is what is tested),
	// every request below finds the groups stale.
	time.Sleep(1100 * time.Millisecond)
	before := srv.state.DirectoryLookups()
	var wg sync.WaitGroup
	start := make(chan struct{})
	var mu sync.Mutex
	allowed := 0
	for range 1000 {
		wg.Go(func() {
			<-start
			ok := checkOnce(h, ldapTok)
			mu.Lock()
			allowed += ok
			mu.Unlock()
		})
	}
	burst := time.Now()
	close(start)
	wg.Wait()
	// One look-up per bound: a burst that outlasts the bound (a loaded
	// machine under -race) finds the groups stale once more, no more.
	most := 1 + int(time.Since(burst)/time.Second)
	if n := srv.state.DirectoryLookups() - before; n < 1 || n > int64(most) {
		t.Errorf("1000 concurrent requests with a stale token over %s made %d LDAP look-ups, want 1 (at most %d)", time.Since(burst).Round(time.Millisecond), n, most)
	}
	if allowed != 1000 {
		t.Errorf("%d of 1000 allowed", allowed)
	}
}

// BenchmarkLDAPRead50k reads a directory of GATEHOUSE_BENCH_LDAP_USERS
// users (default 50,000) in GATEHOUSE_BENCH_LDAP_GROUPS groups (2,000),
// each user in two groups, from slapd with paged searches: the read a
// periodic sync makes. It runs only when GATEHOUSE_BENCH_LDAP=1 (loading
// the directory takes a while); bench/ldap.sh sets it.
// bigDirectory loads GATEHOUSE_BENCH_LDAP_USERS users (default 50,000) in
// GATEHOUSE_BENCH_LDAP_GROUPS groups (2,000), each user in two groups, into
// a throwaway slapd and opens it. It skips unless GATEHOUSE_BENCH_LDAP=1.
func bigDirectory(b *testing.B) (users, groups int, d *ldapconn.Directory) {
	if os.Getenv("GATEHOUSE_BENCH_LDAP") != "1" {
		b.Skip("set GATEHOUSE_BENCH_LDAP=1 (bench/ldap.sh) to load a 50k-user directory")
	}
	users, groups = envInt("GATEHOUSE_BENCH_LDAP_USERS", 50000), envInt("GATEHOUSE_BENCH_LDAP_GROUPS", 2000)
	ldif := filepath.Join(b.TempDir(), "big.ldif")
	f, err := os.Create(ldif)
	if err != nil {
		b.Fatal(err)
	}
	for i := range users {
		fmt.Fprintf(f, "dn: uid=u%d,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nuid: u%d\ncn: User %d\nsn: %d\nmail: u%d@example.org\n\n", i, i, i, i, i)
	}
	members := make([][]int, groups)
	for i := range users {
		members[i%groups] = append(members[i%groups], i)
		members[(i*7+1)%groups] = append(members[(i*7+1)%groups], i)
	}
	for g := range groups {
		fmt.Fprintf(f, "dn: cn=g%d,ou=groups,dc=example,dc=org\nobjectClass: groupOfNames\ncn: g%d\n", g, g)
		for _, u := range slices.Compact(members[g]) {
			fmt.Fprintf(f, "member: uid=u%d,ou=people,dc=example,dc=org\n", u)
		}
		fmt.Fprintln(f)
	}
	f.Close()
	loadStart := time.Now()
	// A deployment lets the bind account page through everything.
	dir := ldaptest.Start(b, ldaptest.Options{SizeLimit: 500, LDIF: []string{ldif}})
	b.Logf("loaded %d users and %d groups into slapd in %v", users, groups, time.Since(loadStart).Round(time.Millisecond))
	d, err = ldapconn.Connector{}.OpenDirectory(map[string]string{
		"ldap.url": dir.URL, "ldap.bindDn": ldaptest.BindDN, "ldap.bindPassword": ldaptest.BindPassword,
		"ldap.user.baseDn": "ou=people," + ldaptest.BaseDN, "ldap.group.baseDn": "ou=groups," + ldaptest.BaseDN,
		"ldap.group.request": "(member={dn})", "ldap.timeout": "60s",
	})
	if err != nil {
		b.Fatal(err)
	}
	return users, groups, d
}

func BenchmarkLDAPRead50k(b *testing.B) {
	users, _, d := bigDirectory(b)
	runtime.GC()
	var heap runtime.MemStats
	for b.Loop() {
		snap, err := d.Read(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&heap)
		if len(snap.Users) != users {
			b.Fatalf("read %d users, want %d", len(snap.Users), users)
		}
		b.ReportMetric(float64(len(snap.Memberships)), "memberships")
	}
	b.ReportMetric(float64(heap.HeapAlloc)/(1<<20), "heap-MiB-after")
	b.ReportMetric(float64(peakRSS())/(1<<10), "peak-RSS-MiB")
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// peakRSS is the process's VmHWM in KiB.
func peakRSS() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			n, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkLDAPSync50k is the periodic sync of the big directory through the
// provisioning engine into a fresh SQLite store: the first run (every user,
// group and membership created) and a rerun with no change. bench/ldap.sh
// runs it with -benchtime 1x.
func BenchmarkLDAPSync50k(b *testing.B) {
	users, _, d := bigDirectory(b)
	values := map[string]string{
		"ldap.url": d.Config().Servers[0].URL, "ldap.bindDn": ldaptest.BindDN, "ldap.bindPassword": ldaptest.BindPassword,
		"ldap.user.baseDn": "ou=people," + ldaptest.BaseDN, "ldap.group.baseDn": "ou=groups," + ldaptest.BaseDN,
		"ldap.group.request": "(member={dn})", "ldap.timeout": "60s",
	}
	for b.Loop() {
		cfg := DefaultConfig()
		cfg.DataDir = b.TempDir()
		cfg.LDAP = values
		ctx := context.Background()
		db, err := OpenStore(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		st, err := state.New(ctx, db, state.Options{})
		if err != nil {
			b.Fatal(err)
		}
		eng, err := NewEngine(ctx, cfg, slog.New(slog.DiscardHandler), st, db, nil)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		first, err := eng.RunOnce(ctx, identity.SourceLDAP, provision.RunOptions{Trigger: identity.TriggerManual})
		if err != nil || first.Status != identity.SyncSuccess || first.Counts.UsersCreated != users {
			b.Fatalf("first sync: %+v %v", first, err)
		}
		firstDur := time.Since(start)
		start = time.Now()
		again, err := eng.RunOnce(ctx, identity.SourceLDAP, provision.RunOptions{Trigger: identity.TriggerManual})
		if err != nil || again.Status != identity.SyncSuccess || again.Counts.Writes != 0 {
			b.Fatalf("rerun: %+v %v", again, err)
		}
		b.ReportMetric(firstDur.Seconds(), "first-s")
		b.ReportMetric(float64(first.Counts.Writes), "first-writes")
		b.ReportMetric(time.Since(start).Seconds(), "rerun-s")
		b.ReportMetric(float64(peakRSS())/(1<<10), "peak-RSS-MiB")
		db.Close()
	}
}
