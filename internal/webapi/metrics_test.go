package webapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/state"
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
