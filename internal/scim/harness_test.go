package scim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/scim"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/webapi"
)

const adminPassword = "admin-password-42"

// env is a running Gatehouse (store, state, Web API and SCIM) over HTTP.
type env struct {
	t     testing.TB
	st    *state.State
	db    store.Store
	srv   *httptest.Server
	token string // a SCIM token with every scope
	ua    string // User-Agent sent
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvOn(t, nil)
}

// newEnvOn is newEnv over wrap's store around the SQLite one (nil: that
// store itself).
func newEnvOn(t testing.TB, wrap func(*sqlstore.Store) store.Store) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "g.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var used store.Store = db
	if wrap != nil {
		used = wrap(db)
	}
	st, err := state.New(ctx, used, state.Options{})
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
	api := webapi.New(st, webapi.Options{})
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(scim.New(st, scim.Options{}).Wrap(mux))
	t.Cleanup(srv.Close)
	e := &env{t: t, st: st, db: used, srv: srv}
	e.token = e.generateToken("idp", "")
	return e
}

// generateToken drives api/scim_tokens/generate as the administrator.
func (e *env) generateToken(name, scopes string) string {
	e.t.Helper()
	form := url.Values{"name": {name}}
	if scopes != "" {
		form.Set("scopes", scopes)
	}
	r := e.webapi("POST", "api/scim_tokens/generate", form, "")
	r.must(e.t, 200)
	var out struct {
		Token  string   `json:"token"`
		Scopes []string `json:"scopes"`
	}
	r.decode(e.t, &out)
	if !strings.HasPrefix(out.Token, "gts_") {
		e.t.Fatalf("token %q", out.Token)
	}
	return out.Token
}

// webapi calls the Web API as the administrator (bearer == "") or with a
// bearer token.
func (e *env) webapi(method, path string, form url.Values, bearerToken string) resp {
	e.t.Helper()
	var body io.Reader
	u := e.srv.URL + "/" + path
	if method == "POST" {
		body = strings.NewReader(form.Encode())
	} else if form != nil {
		u += "?" + form.Encode()
	}
	req, _ := http.NewRequest(method, u, body)
	if method == "POST" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if bearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+bearerToken)
	} else {
		req.SetBasicAuth("admin", adminPassword)
	}
	return e.send(req)
}

// do sends a SCIM request with the env's token. path is relative to the
// base (/scim/v2); body is JSON-encoded unless it is a string.
func (e *env) do(method, path string, body any, hdr ...string) resp {
	e.t.Helper()
	return e.doAs(e.token, method, "/scim/v2"+path, body, hdr...)
}

func (e *env) doAs(token, method, path string, body any, hdr ...string) resp {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if e.ua != "" {
		req.Header.Set("User-Agent", e.ua)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) resp {
	e.t.Helper()
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, body: b, header: res.Header}
}

type resp struct {
	status int
	body   []byte
	header http.Header
}

func (r resp) must(t testing.TB, status int) resp {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

func (r resp) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// doc decodes a JSON object answer.
func (r resp) doc(t testing.TB) map[string]any {
	t.Helper()
	var d map[string]any
	r.decode(t, &d)
	return d
}

// list is a ListResponse.
type list struct {
	Schemas      []string         `json:"schemas"`
	TotalResults int              `json:"totalResults"`
	StartIndex   int              `json:"startIndex"`
	ItemsPerPage int              `json:"itemsPerPage"`
	Resources    []map[string]any `json:"Resources"`
}

func (r resp) list(t testing.TB) list {
	t.Helper()
	if !bytes.Contains(r.body, []byte(`"Resources":[`)) {
		t.Fatalf("Resources must be an array: %s", r.body)
	}
	var l list
	r.decode(t, &l)
	return l
}

// scimErr checks a SCIM error answer's status and scimType ("" for none).
func (r resp) scimErr(t testing.TB, status int, scimType string) map[string]any {
	t.Helper()
	r.must(t, status)
	d := r.doc(t)
	if d["status"] != itoa(status) || d["detail"] == "" {
		t.Fatalf("not a SCIM error body: %s", r.body)
	}
	if scimType != "" && d["scimType"] != scimType {
		t.Fatalf("scimType %v, want %s: %s", d["scimType"], scimType, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
		t.Fatalf("Content-Type %q", ct)
	}
	return d
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func q(s string) string { return url.QueryEscape(s) }

// entraUser is the body Entra ID posts to create a user.
func entraUser(login, extID string) map[string]any {
	return map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		"externalId": extID, "userName": login, "active": true,
		"emails": []any{map[string]any{"primary": true, "type": "work", "value": login}},
		"meta":   map[string]any{"resourceType": "User"},
		"name":   map[string]any{"formatted": "Given Family", "familyName": "Family", "givenName": "Given"},
		"roles":  []any{},
		"title":  nil,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"employeeNumber": "42", "department": nil},
	}
}
