package webapi

import (
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// TestMetricsDecisionsAndSignIns: decisions are counted by result and
// credential kind, refused password sign-ins by reason.
func TestMetricsDecisionsAndSignIns(t *testing.T) {
	s := newTestServer(t)
	var tok struct {
		Token string `json:"token"`
	}
	s.post("api/user_tokens/generate", asAdmin, "name", "m").must(t, 200).json(t, &tok)
	s.get("api/authz/check", bearer(tok.Token), "permission", "admin").must(t, 200)
	s.get("api/authz/check", asAdmin, "permission", "admin").must(t, 200)
	s.get("api/authz/check", asAdmin, "permission", "scan").must(t, 200)
	s.get("api/system/info", cred{login: "admin", pw: "wrong-password"}).must(t, 401)
	m := string(s.get("metrics", cred{}).must(t, 200).body)
	for _, want := range []string{
		`gatehouse_authz_decisions_total{credential="user_token",result="allowed"} 1`,
		`gatehouse_authz_decisions_total{credential="password",result="allowed"} 2`,
		`gatehouse_authz_decisions_total{credential="organization_token",result="denied"} 0`,
		`gatehouse_signin_failures_total{reason="failed"} 1`,
		`gatehouse_signin_failures_total{reason="throttled"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestMetricsToken: with MetricsToken, /metrics answers only the bearer of
// that token.
func TestMetricsToken(t *testing.T) {
	s := newTestServerWith(t, nil, func(_ *state.State, o *Options) { o.MetricsToken = "scrape-secret-1" })
	cases := []struct {
		name   string
		cred   cred
		status int
	}{
		{"no credential", cred{}, http.StatusUnauthorized},
		{"wrong token", cred{bearer: "scrape-secret-2"}, http.StatusUnauthorized},
		{"an administrator is not the scraper", asAdmin, http.StatusUnauthorized},
		{"the token", cred{bearer: "scrape-secret-1"}, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.get("metrics", tc.cred).must(t, tc.status)
			if tc.status == http.StatusOK && !strings.Contains(string(r.body), "gatehouse_http_requests_total") {
				t.Fatalf("metrics body: %.200s", r.body)
			}
		})
	}
}

// TestMetricsIndexAndExpiries: the index's size and the tokens expiring
// within 7 days are read at scrape time.
func TestMetricsIndexAndExpiries(t *testing.T) {
	s := newTestServer(t)
	soon := s.st.Now().UTC().AddDate(0, 0, 3).Format(sonarDate)
	later := s.st.Now().UTC().AddDate(0, 0, 30).Format(sonarDate)
	s.post("api/user_tokens/generate", asAdmin, "name", "soon", "expirationDate", soon).must(t, 200)
	s.post("api/user_tokens/generate", asAdmin, "name", "later", "expirationDate", later).must(t, 200)
	s.post("api/user_tokens/generate", asAdmin, "name", "never").must(t, 200)
	m := string(s.get("metrics", cred{}).must(t, 200).body)
	for _, want := range []string{
		`gatehouse_tokens_expiring_7d{type="user_token"} 1`,
		`gatehouse_tokens_expiring_7d{type="organization_token"} 0`,
		`gatehouse_index_objects{kind="users"} 1`,
		`gatehouse_index_objects{kind="tokens"} 3`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// metricValue reads one series' value from an exposition ("name" or
// `name{label="v"}` exactly as Prometheus prints it).
func metricValue(t *testing.T, exposition, series string) (float64, bool) {
	t.Helper()
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("series %s: value %q: %v", series, v, err)
			}
			return f, true
		}
	}
	return 0, false
}

// TestMetricsReplication: a peer replica's write reaches this replica as a
// catch-up from the change log, and /metrics reports the lag (revisions
// behind, seconds since caught up) and what the rebuild and the catch-up
// cost.
func TestMetricsReplication(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	open := func() *sqlstore.Store {
		db, err := sqlstore.OpenSQLite(t.Context(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return db
	}
	s := newTestServerOn(t, open())
	peer, err := state.New(t.Context(), open(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := state.WithActor(t.Context(), state.Actor{Name: "system"})
	if _, err := peer.CreateUser(ctx, state.NewUser{Login: "from-peer", Name: "Peer", Password: "a-long-password-1"}); err != nil {
		t.Fatal(err)
	}
	var m string
	deadline := time.Now().Add(5 * time.Second)
	for {
		m = string(s.get("metrics", cred{}).must(t, 200).body)
		if n, _ := metricValue(t, m, "gatehouse_index_delta_batches_total"); n >= 1 {
			if behind, _ := metricValue(t, m, "gatehouse_replica_revisions_behind"); behind == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the peer's write was not applied as a delta:\n%s", m)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	for _, tc := range []struct {
		series string
		ok     func(float64) bool
	}{
		{"gatehouse_index_rebuilds_total", func(v float64) bool { return v >= 1 }},
		{"gatehouse_index_delta_changes_total", func(v float64) bool { return v >= 1 }},
		{"gatehouse_index_last_rebuild_duration_seconds", func(v float64) bool { return v > 0 }},
		{"gatehouse_index_last_delta_duration_seconds", func(v float64) bool { return v > 0 }},
		{"gatehouse_index_last_applied_timestamp_seconds", func(v float64) bool { return v > float64(time.Now().Add(-time.Minute).Unix()) }},
		{"gatehouse_replica_seconds_since_caught_up", func(v float64) bool { return v >= 0 && v < 60 }},
		{"gatehouse_replica_last_apply_delay_seconds", func(v float64) bool { return v > 0 && v < 60 }},
		{"gatehouse_replica_revision", func(v float64) bool { return v == float64(peer.Replication().Revision) }},
		{"gatehouse_replica_store_revision", func(v float64) bool { return v == float64(peer.Replication().Revision) }},
	} {
		v, found := metricValue(t, m, tc.series)
		if !found || !tc.ok(v) {
			t.Errorf("%s = %v (found %v)", tc.series, v, found)
		}
	}
}
