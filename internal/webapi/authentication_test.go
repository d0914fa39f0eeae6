package webapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// authnLogin signs in through api/authentication/login and returns the
// cookies and the XSRF value.
func authnLogin(t *testing.T, s *testServer, login, pw string) ([]*http.Cookie, string) {
	t.Helper()
	r := s.post("api/authentication/login", cred{}, "login", login, "password", pw).must(t, 200)
	var xsrf string
	for _, ck := range r.cookies {
		if ck.Name == xsrfCookie {
			xsrf = ck.Value
		}
	}
	if len(r.cookies) != 2 || xsrf == "" {
		t.Fatalf("login cookies = %v", r.cookies)
	}
	return r.cookies, xsrf
}

func authnValid(t *testing.T, s *testServer, c cred) bool {
	t.Helper()
	var out map[string]any
	s.get("api/authentication/validate", c).must(t, 200).json(t, &out)
	if len(out) != 1 {
		t.Fatalf("validate answered %v", out)
	}
	v, ok := out["valid"].(bool)
	if !ok {
		t.Fatalf("validate answered %v", out)
	}
	return v
}

func TestAuthenticationLogin(t *testing.T) {
	s := newTestServer(t)
	s.createUser("alice")
	s.createUser("gone")
	s.post("api/users/deactivate", asAdmin, "login", "gone").must(t, 200)

	for _, tc := range []struct {
		name, login, pw string
		status          int
		msg             string
	}{
		{"success", "alice", "alice-password-1", 200, ""},
		{"wrong password", "alice", "nope-nope-nope", 401, "Authentication failed"},
		{"unknown login", "nobody", "whatever-123456", 401, "Authentication failed"},
		{"deactivated user", "gone", "gone-password-1", 401, "Authentication failed"},
		{"missing password", "alice", "", 400, "The 'password' parameter is missing"},
		{"missing login", "", "alice-password-1", 400, "The 'login' parameter is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.post("api/authentication/login", cred{}, "login", tc.login, "password", tc.pw).must(t, tc.status)
			if tc.msg != "" {
				if got := r.errMsg(t); got != tc.msg {
					t.Fatalf("message %q, want %q", got, tc.msg)
				}
				if len(r.cookies) != 0 {
					t.Fatalf("failed login set cookies %v", r.cookies)
				}
				return
			}
			if len(r.body) != 0 {
				t.Fatalf("login body %q, want empty", r.body)
			}
			byName := map[string]*http.Cookie{}
			for _, ck := range r.cookies {
				byName[ck.Name] = ck
			}
			sess, xsrf := byName[sessionCookie], byName[xsrfCookie]
			if sess == nil || xsrf == nil {
				t.Fatalf("cookies %v", r.cookies)
			}
			if !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != "/" || sess.Secure {
				t.Fatalf("session cookie flags %+v", sess)
			}
			if xsrf.HttpOnly || xsrf.SameSite != http.SameSiteLaxMode || xsrf.Path != "/" || xsrf.Value == "" {
				t.Fatalf("xsrf cookie flags %+v", xsrf)
			}
			u, err := s.st.Store().GetUserByLogin(context.Background(), "alice")
			if err != nil || u.LastLoginAt.IsZero() {
				t.Fatalf("last login not recorded: %v %v", u.LastLoginAt, err)
			}
		})
	}
	if msg := s.get("api/authentication/login", cred{}, "login", "alice", "password", "alice-password-1").must(t, 405).errMsg(t); msg != "HTTP method POST is required" {
		t.Fatalf("405 message %q", msg)
	}
}

func TestAuthenticationSessionCSRF(t *testing.T) {
	s := newTestServer(t)
	cookies, xsrf := authnLogin(t, s, "admin", adminPassword)

	if !authnValid(t, s, cred{cookies: cookies}) {
		t.Fatal("session not valid")
	}
	// A cookie-authenticated change needs the XSRF header.
	for _, tc := range []struct {
		name   string
		xsrf   string
		status int
	}{
		{"no header", "", 403},
		{"wrong header", "forged", 403},
		{"right header", xsrf, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.post("api/user_groups/create", cred{cookies: cookies, xsrf: tc.xsrf}, "name", "csrf-"+tc.name).must(t, tc.status)
		})
	}
	// Reads need no header.
	s.get("api/users/search", cred{cookies: cookies}).must(t, 200)
}

func TestAuthenticationLogout(t *testing.T) {
	s := newTestServer(t)
	cookies, _ := authnLogin(t, s, "admin", adminPassword)
	r := s.post("api/authentication/logout", cred{cookies: cookies}).must(t, 200)
	if len(r.body) != 0 {
		t.Fatalf("logout body %q", r.body)
	}
	expired := 0
	for _, ck := range r.cookies {
		if (ck.Name == sessionCookie || ck.Name == xsrfCookie) && ck.MaxAge < 0 {
			expired++
		}
	}
	if expired != 2 {
		t.Fatalf("logout cookies %v, want both expired", r.cookies)
	}
	// The old cookie no longer signs in.
	if authnValid(t, s, cred{cookies: cookies}) {
		t.Fatal("session still valid after logout")
	}
	s.get("api/users/groups", cred{cookies: cookies}, "login", "admin").must(t, 401)
	// Logging out without a session is harmless.
	s.post("api/authentication/logout", cred{}).must(t, 200)
}

// TestAuthenticationRateLimit: past its free failures a login at an
// address is refused unchecked (429 with Retry-After), on the form and in
// basic auth alike, while other logins there and the same login elsewhere
// sign in; each outcome is an audit event and a metric.
func TestAuthenticationRateLimit(t *testing.T) {
	s := newTestServer(t)
	s.createUser("alice")
	free := state.DefaultSignInPolicy.FreeFailures
	for i := range free - 1 {
		if r := s.post("api/authentication/login", cred{}, "login", "alice", "password", "wrong-password-x"); r.status != 401 {
			t.Fatalf("attempt %d: status %d", i+1, r.status)
		}
	}
	// Basic auth counts in the same throttle.
	s.get("api/users/search", cred{login: "alice", pw: "wrong-password-x"}).must(t, 401)
	// The next attempt is refused unchecked, even with the right password.
	r := s.post("api/authentication/login", cred{}, "login", "alice", "password", "alice-password-1").must(t, 429)
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Fatalf("Retry-After %q, want 1 (the first back-off)", got)
	}
	s.get("api/users/search", cred{login: "alice", pw: "alice-password-1"}).must(t, 429)
	// Other logins are not affected.
	s.post("api/authentication/login", cred{}, "login", "admin", "password", adminPassword).must(t, 200)
	// The same login from an address that has not failed signs in.
	other := httptest.NewServer(fromClient("198.51.100.2", s.api.Handler()))
	defer other.Close()
	req, _ := http.NewRequest("GET", other.URL+"/api/authentication/validate", nil)
	req.SetBasicAuth("alice", "alice-password-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"valid":true`) {
		t.Fatalf("alice from another address: %d %s", resp.StatusCode, body)
	}

	events := s.get("api/audit/search", asAdmin, "ps", "500").must(t, 200)
	for _, want := range []string{`"action":"signin.failure","target":"user:alice"`, `"action":"signin.throttled","target":"user:alice"`,
		`"actor":"user:alice","action":"signin.success","target":"user:alice"`} {
		if !strings.Contains(string(events.body), want) {
			t.Errorf("audit log lacks %s", want)
		}
	}
	metrics := string(s.get("metrics", cred{}).must(t, 200).body)
	for _, want := range []string{fmt.Sprintf(`gatehouse_signin_failures_total{reason="failed"} %d`, free), `gatehouse_signin_failures_total{reason="throttled"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// fromClient serves h as if every request came from addr (what a trusted
// proxy's header does in the server).
func fromClient(addr string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.RemoteAddr = addr + ":40000"
		h.ServeHTTP(w, r)
	})
}

func TestAuthenticationValidate(t *testing.T) {
	s := newTestServer(t)
	s.createUser("alice")
	tok := s.userToken("alice", "ci")
	ctx := context.Background()
	orgTok, _, err := s.st.GenerateOrgToken(ctx, state.OrgTokenSpec{Name: "org", Permissions: []identity.Permission{identity.PermScan}, Set: identity.SetAll})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		c     cred
		valid bool
	}{
		{"anonymous", cred{}, false},
		{"basic login and password", cred{login: "alice", pw: "alice-password-1"}, true},
		{"basic wrong password", cred{login: "alice", pw: "wrong-password-1"}, false},
		{"bearer user token", bearer(tok), true},
		{"basic token as login, empty password", cred{basicToken: tok}, true},
		{"unknown bearer token", bearer("gtu_notatoken"), false},
		{"organization token", bearer(orgTok), true},
		{"organization token in basic auth", cred{basicToken: orgTok}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := authnValid(t, s, tc.c); got != tc.valid {
				t.Fatalf("valid = %v, want %v", got, tc.valid)
			}
		})
	}
}

// TestAuthenticationFreshness checks SPEC §5 over HTTP: a membership removal
// or a deactivation reaches the very next request of an existing token.
func TestAuthenticationFreshness(t *testing.T) {
	s := newTestServer(t)
	s.createUser("ops")
	s.post("api/user_groups/add_user", asAdmin, "name", identity.GroupAdministrators, "login", "ops").must(t, 204)
	tok := s.userToken("ops", "automation")

	s.get("api/users/groups", bearer(tok), "login", "admin").must(t, 200)
	s.get("api/users/groups", cred{basicToken: tok}, "login", "admin").must(t, 200)

	s.post("api/user_groups/remove_user", asAdmin, "name", identity.GroupAdministrators, "login", "ops").must(t, 204)
	s.get("api/users/groups", bearer(tok), "login", "admin").must(t, 403)
	// The token itself still works for what the user may do.
	s.get("api/user_tokens/search", bearer(tok)).must(t, 200)

	s.post("api/users/deactivate", asAdmin, "login", "ops").must(t, 200)
	s.get("api/user_tokens/search", bearer(tok)).must(t, 401)
	if authnValid(t, s, bearer(tok)) {
		t.Fatal("token of a deactivated user is valid")
	}
}

// TestSessionlessActionsIgnoreAuthorization: the actions SonarQube builds no
// user session for answer as if no Authorization header were sent, however
// unusable it is, and an empty credential is never a failed sign-in.
func TestSessionlessActionsIgnoreAuthorization(t *testing.T) {
	s := newTestServer(t)
	headers := []string{"Basic Og==", "Basic !!!", "Bearer not-a-token", "Negotiate abc", "Basic " + "YWRtaW46d3Jvbmc="} // admin:wrong
	for _, h := range headers {
		c := cred{authorization: h}
		t.Run(h, func(t *testing.T) {
			r := s.post("api/authentication/login", c, "login", "admin", "password", adminPassword).must(t, 200)
			if len(r.cookies) != 2 {
				t.Fatalf("login cookies %v", r.cookies)
			}
			s.post("api/authentication/logout", c).must(t, 200)
			s.get("api/system/status", c).must(t, 200)
			s.get("api/server/version", c).must(t, 200)
			s.get("api/users/identity_providers", c).must(t, 200)
			if authnValid(t, s, c) {
				t.Fatal("validate: an unusable header is valid")
			}
		})
	}
	// Logout without any session or credential.
	s.post("api/authentication/logout", cred{}).must(t, 200)
	// Elsewhere an empty credential is refused, but never counted: a
	// credential-less client cannot lock anyone out.
	before := s.signInFailures()
	for range state.DefaultSignInPolicy.AddressFreeFailures + 5 {
		s.get("api/users/search", cred{authorization: "Basic Og=="}).must(t, 401)
	}
	if counted := s.signInFailures() - before; counted != 0 {
		t.Fatalf("empty credentials counted as %d failed sign-ins", counted)
	}
	s.get("api/users/search", asAdmin).must(t, 200)
}
