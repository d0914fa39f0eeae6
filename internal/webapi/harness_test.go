package webapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/secretbox"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// adminPassword is the password of the "admin" user every test server has.
const adminPassword = "admin-password-123"

// testServer is a Gatehouse Web API over a fresh SQLite store.
type testServer struct {
	t    *testing.T
	db   store.Store
	st   *state.State
	api  *API
	srv  *httptest.Server
	logs *syncBuffer
}

// syncBuffer collects the server's log for tests that inspect it.
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

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	return newTestServerOn(t, nil)
}

// newTestServerOn is newTestServer on a given migrated store; nil is a
// fresh SQLite store.
func newTestServerOn(t *testing.T, db store.Store) *testServer {
	t.Helper()
	return newTestServerWith(t, db, nil)
}

// newTestServerWith is newTestServerOn with options that need the state
// (the provisioning engine).
func newTestServerWith(t *testing.T, db store.Store, configure func(st *state.State, o *Options)) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if db == nil {
		lite, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "gatehouse.db"), log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lite.Close() })
		if _, err := lite.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		db = lite
	}
	key, err := secretbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := secretbox.ParseKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.New(ctx, db, state.Options{Logger: log, Secrets: ring})
	if err != nil {
		t.Fatal(err)
	}
	go st.Run(ctx)
	if _, err := st.CreateUser(ctx, state.NewUser{Login: "admin", Name: "Administrator", Password: adminPassword}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddMember(ctx, identity.GroupAdministrators, "admin"); err != nil {
		t.Fatal(err)
	}
	opts := Options{Logger: log, GatehouseVersion: "test", AccessLog: true}
	if configure != nil {
		configure(st, &opts)
	}
	api := New(st, opts)
	srv := httptest.NewServer((&answerChecker{t: t, api: api}).wrap(api.Handler()))
	t.Cleanup(srv.Close)
	return &testServer{t: t, db: db, st: st, api: api, srv: srv, logs: logs}
}

// forgetSignInFailures clears the sign-in throttle's records, for tests
// that fail sign-ins deliberately.
func (s *testServer) forgetSignInFailures() {
	s.t.Helper()
	err := s.db.Tx(context.Background(), func(tx store.Tx) error {
		_, err := tx.PruneSignInFailures(context.Background(), time.Now().Add(100*365*24*time.Hour))
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}
}

// signInFailures counts the failed sign-ins in the audit log.
func (s *testServer) signInFailures() int {
	s.t.Helper()
	_, n, err := s.st.Store().ListAudit(context.Background(), store.AuditFilter{Action: "signin.failure"})
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

// lockDown removes sonar-users' default global grants as the README shows,
// for tests about refusals a fresh instance's defaults would allow.
func (s *testServer) lockDown() {
	s.t.Helper()
	for _, perm := range []string{"scan", "provisioning"} {
		s.post("api/permissions/remove_group", asAdmin, "groupName", identity.GroupUsers, "permission", perm).must(s.t, 204)
	}
}

// cred is how a test request authenticates.
type cred struct {
	bearer        string // a token
	login, pw     string // basic auth
	cookies       []*http.Cookie
	xsrf          string
	basicToken    string // basic auth with the token as login
	authorization string // a raw Authorization header
}

var asAdmin = cred{login: "admin", pw: adminPassword}

func bearer(tok string) cred { return cred{bearer: tok} }

// response is a test request's answer.
type response struct {
	status  int
	body    []byte
	header  http.Header
	cookies []*http.Cookie
}

// json decodes the body into v, failing the test on error.
func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errMsg returns the first SonarQube error message of the body.
func (r response) errMsg(t *testing.T) string {
	t.Helper()
	var e errorBody
	r.json(t, &e)
	if len(e.Errors) == 0 {
		t.Fatalf("no error message in %s", r.body)
	}
	return e.Errors[0].Msg
}

// do sends method to path with params (query string for GET, form body for
// POST).
func (s *testServer) do(method, path string, c cred, params url.Values) response {
	s.t.Helper()
	u := s.srv.URL + "/" + strings.TrimPrefix(path, "/")
	var body io.Reader
	if method == http.MethodGet {
		if len(params) > 0 {
			u += "?" + params.Encode()
		}
	} else {
		body = strings.NewReader(params.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	switch {
	case c.authorization != "":
		req.Header.Set("Authorization", c.authorization)
	case c.bearer != "":
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	case c.basicToken != "":
		req.SetBasicAuth(c.basicToken, "")
	case c.login != "":
		req.SetBasicAuth(c.login, c.pw)
	}
	for _, ck := range c.cookies {
		req.AddCookie(ck)
	}
	if c.xsrf != "" {
		req.Header.Set(xsrfHeader, c.xsrf)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return response{status: resp.StatusCode, body: b, header: resp.Header, cookies: resp.Cookies()}
}

func (s *testServer) get(path string, c cred, kv ...string) response {
	s.t.Helper()
	return s.do(http.MethodGet, path, c, values(kv...))
}

func (s *testServer) post(path string, c cred, kv ...string) response {
	s.t.Helper()
	return s.do(http.MethodPost, path, c, values(kv...))
}

// values builds url.Values from key, value pairs; a key may repeat.
func values(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// must fails the test unless the response has the wanted status.
func (r response) must(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	return r
}

// createUser makes a local user with a password, via the API.
func (s *testServer) createUser(login string) {
	s.t.Helper()
	s.post("api/users/create", asAdmin, "login", login, "name", "User "+login, "password", login+"-password-1").must(s.t, 200)
}

// userToken generates a user token for login (as admin) and returns it.
func (s *testServer) userToken(login, name string) string {
	s.t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	s.post("api/user_tokens/generate", asAdmin, "login", login, "name", name).must(s.t, 200).json(s.t, &out)
	return out.Token
}

// refusal is a request that must fail with status and, when msg is set,
// SonarQube's error message msg.
type refusal struct {
	name   string
	c      cred
	kv     []string
	status int
	msg    string
}

// expectRefusals sends each refusal to path, one subtest each.
func (s *testServer) expectRefusals(t *testing.T, method, path string, cases []refusal) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(method, path, tc.c, values(tc.kv...)).must(t, tc.status)
			if tc.msg != "" {
				if got := r.errMsg(t); got != tc.msg {
					t.Fatalf("message %q, want %q", got, tc.msg)
				}
			}
		})
	}
}
