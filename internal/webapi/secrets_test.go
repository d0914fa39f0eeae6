package webapi

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestNoSecretInLogsOrAudit runs a full API session — users with passwords,
// sign-in, every kind of token, rotation, use by bearer and basic auth,
// failed attempts — and then greps the server log and the audit trail for
// every secret it used.
func TestNoSecretInLogsOrAudit(t *testing.T) {
	s := newTestServer(t)
	var secrets []string
	keep := func(v string) string { secrets = append(secrets, v); return v }
	keep(adminPassword)

	s.post("api/users/create", asAdmin, "login", "carol", "name", "Carol", "password", keep("carol-secret-password-1")).must(t, 200)
	s.post("api/users/change_password", asAdmin, "login", "carol", "password", keep("carol-new-password-22")).must(t, 204)
	s.post("api/authentication/login", cred{}, "login", "carol", "password", "carol-new-password-22").must(t, 200)
	s.post("api/authentication/login", cred{}, "login", "carol", "password", keep("a-wrong-guess-for-carol")).must(t, 401)
	s.post("api/projects/create", asAdmin, "project", "web", "name", "Web").must(t, 200)
	s.post("api/permissions/add_user", asAdmin, "login", "admin", "permission", "scan").must(t, 204)

	var tok struct {
		Token string `json:"token"`
		ID    string `json:"id"`
	}
	for _, typ := range []string{"USER_TOKEN", "GLOBAL_ANALYSIS_TOKEN"} {
		s.post("api/user_tokens/generate", asAdmin, "name", "t-"+typ, "type", typ).must(t, 200).json(t, &tok)
		keep(tok.Token)
		s.get("api/authentication/validate", bearer(tok.Token)).must(t, 200)
		s.get("api/authz/check", cred{basicToken: tok.Token}, "permission", "scan", "projectKey", "web").must(t, 200)
	}
	s.post("api/user_tokens/generate", asAdmin, "name", "t-project", "type", "PROJECT_ANALYSIS_TOKEN", "projectKey", "web").must(t, 200).json(t, &tok)
	keep(tok.Token)
	s.post("api/organization_tokens/generate", asAdmin, "name", "org", "projectSet", "all").must(t, 200).json(t, &tok)
	keep(tok.Token)
	s.get("api/authz/check", bearer(tok.Token), "permission", "scan", "projectKey", "web").must(t, 200)
	var rotated struct {
		Token string `json:"token"`
	}
	s.post("api/organization_tokens/rotate", asAdmin, "id", tok.ID, "gracePeriod", "60").must(t, 200).json(t, &rotated)
	keep(rotated.Token)
	s.get("api/authz/check", bearer(rotated.Token), "permission", "scan", "projectKey", "web").must(t, 200)
	// A token with a typo, and a revoked one, fail without echoing them.
	typo := []byte(rotated.Token)
	typo[len(typo)-1] ^= 1 // always a different character: a bad checksum or a malformed token
	s.get("api/authz/check", bearer(keep(string(typo))), "permission", "scan").must(t, 401)
	s.post("api/organization_tokens/revoke", asAdmin, "id", tok.ID).must(t, 204)
	s.get("api/authz/check", bearer(rotated.Token), "permission", "scan").must(t, 401)

	logs := s.logs.String()
	if !strings.Contains(logs, `"msg":"request"`) {
		t.Fatal("no request log lines captured: the test would prove nothing")
	}
	events, _, err := s.st.Store().ListAudit(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) < 8 {
		t.Fatalf("only %d audit events", len(events))
	}
	audit, _ := json.Marshal(events)
	for _, secret := range secrets {
		if secret == "" {
			t.Fatal("empty secret collected")
		}
		if strings.Contains(logs, secret) {
			t.Errorf("secret %.8s… appears in the log", secret)
		}
		if strings.Contains(string(audit), secret) {
			t.Errorf("secret %.8s… appears in the audit trail", secret)
		}
	}
}

// TestRequestIDsAndMetrics checks that every answer carries a request id
// that the log line of the request repeats, and that /metrics counts
// requests, decisions and token resolutions.
func TestRequestIDsAndMetrics(t *testing.T) {
	s := newTestServer(t)
	r := s.get("api/system/status", cred{})
	id := r.header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("no X-Request-Id")
	}
	if !strings.Contains(s.logs.String(), `"request_id":"`+id+`"`) {
		t.Fatalf("request id %s not in the log", id)
	}
	// A client-supplied id is kept.
	if got := s.do("GET", "api/system/ping", cred{}, nil).header.Get("X-Request-Id"); got == "" {
		t.Fatal("no id")
	}
	var tok struct {
		Token string `json:"token"`
	}
	s.post("api/user_tokens/generate", asAdmin, "name", "m").must(t, 200).json(t, &tok)
	s.get("api/authz/check", bearer(tok.Token), "permission", "admin").must(t, 200)
	s.get("api/authz/check", bearer("gtu_invalid"), "permission", "admin").must(t, 401)
	m := string(s.get("metrics", cred{}).must(t, 200).body)
	for _, want := range []string{
		`gatehouse_http_requests_total{route="api/system/status",status="200"} 1`,
		`gatehouse_http_request_duration_seconds_bucket{route="api/authz/check"`,
		`gatehouse_authz_decisions_total{credential="user_token",result="allowed"} 1`,
		`gatehouse_token_resolutions_total{result="valid"}`,
		`gatehouse_token_resolutions_total{result="invalid"}`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
