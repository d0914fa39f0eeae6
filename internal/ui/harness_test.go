package ui

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/scim"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/webapi"
)

const adminPassword = "admin-password-123"

// testServer is the binary's mux (Web API and UI) over a fresh SQLite
// store, with an administrator "admin".
type testServer struct {
	t   *testing.T
	ctx context.Context
	st  *state.State
	api *webapi.API
	srv *httptest.Server
}

// serverOption adds to a test server what a test needs beyond the
// defaults: state options (e.g. a secret sealer), and UI options or routes
// once the state and the Web API exist. Its URL is known by then:
// "http://"+ts.srv.Listener.Addr().String().
type serverOption struct {
	state func(*state.Options)
	ui    func(ts *testServer, mux *http.ServeMux, o *Options)
}

func newTestServer(t *testing.T, opts ...serverOption) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "gatehouse.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	stOpts := state.Options{Logger: log}
	for _, o := range opts {
		if o.state != nil {
			o.state(&stOpts)
		}
	}
	st, err := state.New(ctx, db, stOpts)
	if err != nil {
		t.Fatal(err)
	}
	go st.Run(ctx)
	ts := &testServer{t: t, ctx: ctx, st: st}
	ts.user("admin", adminPassword)
	if err := st.AddMember(ctx, identity.GroupAdministrators, "admin"); err != nil {
		t.Fatal(err)
	}
	ts.api = webapi.New(st, webapi.Options{Logger: log})
	ts.srv = httptest.NewUnstartedServer(nil)
	mux := http.NewServeMux()
	uiOpts := Options{Logger: log}
	for _, o := range opts {
		if o.ui != nil {
			o.ui(ts, mux, &uiOpts)
		}
	}
	pages, err := New(st, ts.api, uiOpts)
	if err != nil {
		t.Fatal(err)
	}
	ts.api.Register(mux)
	pages.Register(mux)
	ts.srv.Config.Handler = scim.New(st, scim.Options{Logger: log}).Wrap(mux)
	ts.srv.Start()
	t.Cleanup(ts.srv.Close)
	return ts
}

// user creates a local user.
func (ts *testServer) user(login, password string) identity.User {
	ts.t.Helper()
	u, err := ts.st.CreateUser(ts.ctx, state.NewUser{Login: login, Name: strings.ToUpper(login[:1]) + login[1:], Password: password})
	if err != nil {
		ts.t.Fatal(err)
	}
	return u
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests see each answer.
type browser struct {
	t    *testing.T
	ts   *testServer
	c    *http.Client
	csrf string // the last page's form token
}

func (ts *testServer) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: ts.t, ts: ts, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is one answer.
type page struct {
	t      *testing.T
	status int
	header http.Header
	body   string
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	p := &page{t: b.t, status: res.StatusCode, header: res.Header, body: string(body)}
	if m := csrfRE.FindStringSubmatch(p.body); m != nil {
		b.csrf = html.UnescapeString(m[1])
	}
	return p
}

func (b *browser) get(path string) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.ts.srv.URL+path, nil)
	return b.do(req)
}

// post sends a form with the last page's CSRF token (kv: name, value, …).
func (b *browser) post(path string, kv ...string) *page {
	b.t.Helper()
	form := url.Values{}
	form.Set("csrf", b.csrf)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == "csrf" {
			form.Set("csrf", kv[i+1])
			continue
		}
		form.Add(kv[i], kv[i+1])
	}
	return b.postForm(path, form)
}

func (b *browser) postForm(path string, form url.Values) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.ts.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// signIn signs in through the sign-in page.
func (b *browser) signIn(login, password string) {
	b.t.Helper()
	b.get("/signin").must(200)
	b.post("/signin", "login", login, "password", password).must(303)
}

func (p *page) must(status int) *page {
	p.t.Helper()
	if p.status != status {
		p.t.Fatalf("status %d, want %d; body:\n%s", p.status, status, p.body)
	}
	return p
}

func (p *page) contains(parts ...string) *page {
	p.t.Helper()
	for _, s := range parts {
		if !strings.Contains(p.body, s) {
			p.t.Fatalf("page lacks %q; body:\n%s", s, p.body)
		}
	}
	return p
}

func (p *page) lacks(parts ...string) *page {
	p.t.Helper()
	for _, s := range parts {
		if strings.Contains(p.body, s) {
			p.t.Fatalf("page has %q; body:\n%s", s, p.body)
		}
	}
	return p
}

func (p *page) location() string { return p.header.Get("Location") }

// principal is a user's principal, as the index decides for it.
func (ts *testServer) principal(login string) authz.Principal {
	ts.t.Helper()
	u, err := ts.st.Store().GetUserByLogin(ts.ctx, login)
	if err != nil {
		ts.t.Fatal(err)
	}
	p, err := ts.st.Index().UserPrincipal(u.ID)
	if err != nil {
		ts.t.Fatal(err)
	}
	return p
}

func mustID(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// lockDown removes sonar-users' default global grants (scan and
// provisioning), so that a plain user holds nothing.
func (ts *testServer) lockDown() {
	ts.t.Helper()
	g, err := ts.st.Store().GetGroupByName(ts.ctx, identity.GroupUsers)
	if err != nil {
		ts.t.Fatal(err)
	}
	for _, perm := range []identity.Permission{identity.PermScan, identity.PermProvisioning} {
		if err := ts.st.RemoveGrant(ts.ctx, identity.Grant{Subject: identity.GroupSubject(g.ID), Permission: perm}); err != nil {
			ts.t.Fatal(err)
		}
	}
}
