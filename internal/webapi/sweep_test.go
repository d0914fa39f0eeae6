package webapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore/sqltest"
)

// TestBadInputNeverServerError sends every route, from the route table,
// the bad requests a careless or hostile client sends — wrong method, no or
// weak credentials, missing parameters, oversized values and bodies, wrong
// types, values outside the allowed set, unknown objects, garbage — and
// asserts the exact 4xx with SonarQube's error shape. No case may answer 5xx.
// It runs on both backends: PostgreSQL refuses text SQLite stores (a NUL
// byte), so a value reaching one store but not the other shows here.
func TestBadInputNeverServerError(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { sweepBadInput(t, newTestServer(t)) })
	t.Run("postgres", func(t *testing.T) {
		if testing.Short() {
			t.Skip("short: the SQLite sweep only")
		}
		sweepBadInput(t, newTestServerOn(t, sqltest.Postgres(t)))
	})
}

func sweepBadInput(t *testing.T, s *testServer) {
	ctx := context.Background()
	if _, err := s.st.CreateUser(ctx, state.NewUser{Login: "plain", Name: "Plain", Password: "plain-password-123"}); err != nil {
		t.Fatal(err)
	}
	// Tokens rather than passwords: a password check costs an argon2id hash,
	// and the sweep sends thousands of requests.
	asAdminToken := bearer(s.tokenFor("admin"))
	plain := bearer(s.tokenFor("plain"))

	type sweepCase struct {
		name   string
		method string
		cred   cred
		params url.Values
		status int    // exact status wanted; 0: any 4xx
		msg    string // exact message wanted, if any
	}
	var cases []sweepCase
	for _, rt := range s.api.Routes() {
		wrong := http.MethodPost
		if rt.Method == http.MethodPost {
			wrong = http.MethodGet
		}
		filled := url.Values{}
		for _, p := range rt.Params {
			if p.Required {
				filled.Set(p.Name, plausible(p))
			}
		}
		if s.api.byMethod[wrong+" "+rt.Path] == nil { // a path may serve both
			cases = append(cases, sweepCase{"wrong method", wrong, asAdminToken, filled, 405, "HTTP method " + rt.Method + " is required"})
		}
		if rt.Access != public {
			cases = append(cases, sweepCase{"anonymous", rt.Method, cred{}, filled, 401, "Authentication is required"})
			cases = append(cases, sweepCase{"bad password", rt.Method, cred{login: "admin", pw: "nope-nope-nope"}, filled, 401, ""})
			cases = append(cases, sweepCase{"bad token", rt.Method, bearer("gtu_notarealtoken"), filled, 401, ""})
			// Bad bytes in a credential are a failed sign-in.
			cases = append(cases, sweepCase{"NUL in login", rt.Method, cred{login: "ad\x00min", pw: adminPassword}, filled, 401, ""})
			cases = append(cases, sweepCase{"invalid UTF-8 password", rt.Method, cred{login: "admin", pw: "\xff" + adminPassword}, filled, 401, ""})
		}
		if rt.Access == admin {
			cases = append(cases, sweepCase{"not admin", rt.Method, plain, filled, 403, "Insufficient privileges"})
		}
		for _, p := range rt.Params {
			if p.Required {
				v := cloneValues(filled)
				v.Del(p.Name)
				cases = append(cases, sweepCase{"missing " + p.Name, rt.Method, asAdminToken, v, 400, fmt.Sprintf("The '%s' parameter is missing", p.Name)})
			}
			v := cloneValues(filled)
			v.Set(p.Name, strings.Repeat("x", oversize(p)))
			want := http.StatusBadRequest
			if rt.Method == http.MethodPost && oversize(p) >= 1<<20 {
				want = http.StatusRequestEntityTooLarge // past the body cap before any parameter rule
			}
			cases = append(cases, sweepCase{"oversized " + p.Name, rt.Method, asAdminToken, v, want, ""})
			if p.Int {
				for _, bad := range []string{"abc", "-1", "0", "1e9", "99999999999999999999"} {
					v := cloneValues(filled)
					v.Set(p.Name, bad)
					cases = append(cases, sweepCase{"non-integer " + p.Name + "=" + bad, rt.Method, asAdminToken, v, 400, ""})
				}
			}
			if len(p.Values) > 0 {
				v := cloneValues(filled)
				v.Set(p.Name, "not-a-value")
				cases = append(cases, sweepCase{"outside values " + p.Name, rt.Method, asAdminToken, v, 400, ""})
			}
			// Bytes no store keeps as given: refused before any store.
			for _, bad := range []string{"a\x00b", "\x00\x01", "a\xffb", "\xc3"} {
				v := cloneValues(filled)
				v.Set(p.Name, bad)
				cases = append(cases, sweepCase{fmt.Sprintf("bad bytes %s=%q", p.Name, bad), rt.Method, asAdminToken, v, 400, ""})
			}
			for _, junk := range []string{"'; DROP TABLE users; --", "%", "../../etc/passwd", "Анна", "(", "9223372036854775808"} {
				v := cloneValues(filled)
				v.Set(p.Name, junk)
				cases = append(cases, sweepCase{fmt.Sprintf("junk %s=%q", p.Name, junk), rt.Method, asAdminToken, v, 0, ""})
			}
		}
		// Unknown objects: every required parameter names something that does
		// not exist.
		cases = append(cases, sweepCase{"unknown objects", rt.Method, asAdminToken, filled, 0, ""})
		// Remember which route each case belongs to.
		for i := range cases {
			if !strings.Contains(cases[i].name, " @ ") {
				cases[i].name += " @ " + rt.Path
			}
		}
	}

	for _, tc := range cases {
		path := tc.name[strings.LastIndex(tc.name, " @ ")+3:]
		t.Run(path+"/"+tc.name[:strings.LastIndex(tc.name, " @ ")], func(t *testing.T) {
			r := s.do(tc.method, path, tc.cred, tc.params)
			if tc.cred.pw != "" {
				s.forgetSignInFailures() // deliberate failures must not lock the sweep out
			}
			if r.status >= 500 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if r.status < 400 {
				// Some junk values are valid names (e.g. a project key "%"
				// is rejected, but a query "%" is a fine search); only
				// cases with an exact expectation must fail.
				if tc.status != 0 {
					t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.body)
				}
				return
			}
			if tc.status != 0 && r.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.body)
			}
			msg := r.errMsg(t)
			if tc.msg != "" && msg != tc.msg {
				t.Fatalf("message %q, want %q", msg, tc.msg)
			}
		})
	}

	// An oversized body is refused before any parsing.
	big := url.Values{"name": {strings.Repeat("x", 2<<20)}}
	if r := s.do(http.MethodPost, "api/user_groups/create", asAdminToken, big); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("2 MiB body: status %d", r.status)
	}
	// The server is still healthy after the sweep.
	s.get("api/system/status", cred{}).must(t, 200)
}

// plausible returns a well-formed value for a parameter, naming nothing that
// exists.
func plausible(p Param) string {
	switch {
	case len(p.Values) > 0:
		return p.Values[0]
	case p.Int:
		return "1"
	case strings.Contains(strings.ToLower(p.Name), "date"):
		return "2099-01-01"
	case p.Name == "permission":
		return "scan"
	case p.Name == "password" || p.Name == "previousPassword":
		return "a-long-enough-password"
	}
	return "does-not-exist"
}

// oversize returns a length past the parameter's bound.
func oversize(p Param) int {
	n := p.MaxLen
	if n == 0 {
		n = maxParamLen
		if p.MaxValues > 0 {
			n = p.MaxValues * 500
		}
	}
	return n + 1
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// tokenFor returns a fresh user token of login, generated through state.
func (s *testServer) tokenFor(login string) string {
	s.t.Helper()
	ctx := context.Background()
	u, err := s.st.Store().GetUserByLogin(ctx, login)
	if err != nil {
		s.t.Fatal(err)
	}
	secret, _, err := s.st.GenerateUserToken(ctx, state.NewUserToken{UserID: u.ID, Name: fmt.Sprintf("sweep-%d", len(s.t.Name())), Type: identity.TokenUser})
	if err != nil {
		s.t.Fatal(err)
	}
	return secret
}
