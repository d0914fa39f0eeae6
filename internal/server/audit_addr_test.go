package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAuditClientAddress: the audit log records the client address the
// trusted-proxy rule resolved, for Web API and SCIM writes alike. From a
// trusted proxy the forwarded client is recorded (and X-Forwarded-Proto
// makes SCIM's locations https); from an untrusted peer a spoofed
// X-Forwarded-For never reaches the log and X-Forwarded-Proto is ignored.
func TestAuditClientAddress(t *testing.T) {
	const spoofed = "203.0.113.50"
	for _, tc := range []struct {
		name        string
		trusted     []string
		wantAddress string
		wantScheme  string
	}{
		{"trusted proxy", []string{"127.0.0.1/32", "::1"}, spoofed, "https"},
		{"untrusted peer", nil, "127.0.0.1", "http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.AdminPassword = "admin-password-for-tests-1"
			cfg.TrustedProxies = tc.trusted
			srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard, "test")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- srv.Run(ctx) }()
			defer func() { cancel(); <-done }()
			base := "http://" + srv.Addr() + "/"
			send := func(method, path, contentType, body string, auth func(*http.Request)) (int, string) {
				t.Helper()
				req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
				if contentType != "" {
					req.Header.Set("Content-Type", contentType)
				}
				req.Header.Set("X-Forwarded-For", spoofed)
				req.Header.Set("X-Forwarded-Proto", "https")
				auth(req)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			admin := basic("admin", cfg.AdminPassword)
			form := "application/x-www-form-urlencoded"

			if st, body := send("POST", "api/user_groups/create", form, url.Values{"name": {"devs"}}.Encode(), admin); st != 200 {
				t.Fatalf("create group: %d %s", st, body)
			}
			st, body := send("POST", "api/scim_tokens/generate", form, url.Values{"name": {"idp"}}.Encode(), admin)
			var gen struct{ Token string }
			if st != 200 || json.Unmarshal([]byte(body), &gen) != nil {
				t.Fatalf("SCIM token: %d %s", st, body)
			}
			st, body = send("POST", "scim/v2/Users", "application/scim+json", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"carol","name":{"formatted":"Carol"}}`, bearer(gen.Token))
			var created struct {
				Meta struct{ Location string } `json:"meta"`
			}
			if st != 201 || json.Unmarshal([]byte(body), &created) != nil {
				t.Fatalf("SCIM create: %d %s", st, body)
			}
			if !strings.HasPrefix(created.Meta.Location, tc.wantScheme+"://") {
				t.Errorf("SCIM location %q, want the %s scheme", created.Meta.Location, tc.wantScheme)
			}

			st, body = send("GET", "api/audit/search?ps=500", "", "", admin)
			var page struct {
				Events []struct {
					Actor, Action, Target, ClientAddress string
				}
			}
			if st != 200 || json.Unmarshal([]byte(body), &page) != nil {
				t.Fatalf("audit search: %d %s", st, body)
			}
			seen := map[string]string{}
			for _, e := range page.Events {
				if e.ClientAddress != "" {
					seen[e.Action+" "+e.Target] = e.ClientAddress
				}
				if e.ClientAddress != "" && e.ClientAddress != tc.wantAddress {
					t.Errorf("event %s %s by %s recorded client %q, want %q", e.Action, e.Target, e.Actor, e.ClientAddress, tc.wantAddress)
				}
				if e.Actor == "system" && e.ClientAddress != "" {
					t.Errorf("the server's own %s recorded client %q", e.Action, e.ClientAddress)
				}
			}
			for _, want := range []string{"group.create group:devs", "user.create user:carol"} {
				if seen[want] != tc.wantAddress {
					t.Errorf("%s: client %q, want %q (events with an address: %v)", want, seen[want], tc.wantAddress, seen)
				}
			}
		})
	}
}
