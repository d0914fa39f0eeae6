package webapi

// Client compatibility with the generated Go client for SonarQube's Web API,
// github.com/BoxBoxJason/sonarqube-client-go (package sonar, replayed from
// commit 33d605f0099f1053141a103187fd975f3caa277a). These tests send its V1
// requests as it builds them (NewSonarQubeV1APIRequest): every parameter in
// the query string, encoded from its option structs' `url` tags (omitempty:
// zero values left out; bools only as "true"; `comma` lists joined), GET or
// POST with an empty body, POST with "Content-Type: application/json",
// "Accept: application/json", and HTTP basic credentials: login:password,
// or the token as login with an empty password (WithToken).
//
// Answers are handled as its Do does: 200, 201, 202, 204 and 304 are
// success, anything else an error; an action with a result decodes the body
// with encoding/json's Decoder into a struct with the client's JSON tags and
// Go types (so an empty 204 where it expects a result, or a number where it
// has a string, fails here as there), an action without one ignores the body.
// The client does not decode strictly, but it has an opt-in SchemaObserver
// (WithSchemaObserver / CheckSchema) that reports every JSON key without a
// struct field; gcSchema mirrors it, and each test pins the keys Gatehouse
// sends beyond the client's structs, all of them fields of the reference.
//
// Beyond the client, actions without a result must answer 204 (the
// reference), and datetimes must use SonarQube's offset without a colon.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The client's response shapes, with its tags and types.

type gcPaging struct {
	PageIndex int64 `json:"pageIndex,omitempty"`
	PageSize  int64 `json:"pageSize,omitempty"`
	Total     int64 `json:"total,omitempty"`
}

type gcSystemStatus struct {
	ID      string `json:"id,omitempty"`
	Status  string `json:"status,omitempty"`
	Version string `json:"version,omitempty"`
}

type gcAuthenticationValidation struct {
	Valid bool `json:"valid,omitempty"`
}

type gcUser struct {
	Active           bool     `json:"active,omitempty"`
	Email            string   `json:"email,omitempty"`
	ExternalIdentity string   `json:"externalIdentity,omitempty"`
	ExternalProvider string   `json:"externalProvider,omitempty"`
	Groups           []string `json:"groups,omitempty"`
	Local            bool     `json:"local,omitempty"`
	Login            string   `json:"login,omitempty"`
	Name             string   `json:"name,omitempty"`
	ScmAccounts      []string `json:"scmAccounts,omitempty"`
}

type gcUsersSearchResult struct {
	Active                      bool     `json:"active,omitempty"`
	Avatar                      string   `json:"avatar,omitempty"`
	Email                       string   `json:"email,omitempty"`
	ExternalIdentity            string   `json:"externalIdentity,omitempty"`
	ExternalProvider            string   `json:"externalProvider,omitempty"`
	Groups                      []string `json:"groups,omitempty"`
	LastConnectionDate          string   `json:"lastConnectionDate,omitempty"`
	Local                       bool     `json:"local,omitempty"`
	Login                       string   `json:"login,omitempty"`
	Managed                     bool     `json:"managed,omitempty"`
	Name                        string   `json:"name,omitempty"`
	ScmAccounts                 []string `json:"scmAccounts,omitempty"`
	SonarLintLastConnectionDate string   `json:"sonarLintLastConnectionDate,omitempty"`
	TokensCount                 int64    `json:"tokensCount,omitempty"`
}

type gcUsersDeactivateResult struct {
	Active           bool   `json:"active,omitempty"`
	ExternalIdentity string `json:"externalIdentity,omitempty"`
	ExternalProvider string `json:"externalProvider,omitempty"`
	Groups           []any  `json:"groups,omitempty"`
	Local            bool   `json:"local,omitempty"`
	Login            string `json:"login,omitempty"`
	Name             string `json:"name,omitempty"`
	ScmAccounts      []any  `json:"scmAccounts,omitempty"`
}

type gcUsersGroup struct {
	Default     bool   `json:"default,omitempty"`
	Description string `json:"description,omitempty"`
	ID          string `json:"id,omitempty"`
	Name        string `json:"name,omitempty"`
	Selected    bool   `json:"selected,omitempty"`
}

type gcUsersCreate struct {
	User gcUser `json:"user,omitzero"`
}

type gcUsersUpdate struct {
	User gcUser `json:"user,omitzero"`
}

type gcUsersDeactivate struct {
	User gcUsersDeactivateResult `json:"user,omitzero"`
}

type gcUsersGroups struct {
	Groups []gcUsersGroup `json:"groups,omitempty"`
	Paging gcPaging       `json:"paging,omitzero"`
}

type gcUsersSearch struct {
	Users  []gcUsersSearchResult `json:"users,omitempty"`
	Paging gcPaging              `json:"paging,omitzero"`
}

type gcUserGroupsDetail struct {
	Description  string `json:"description,omitempty"`
	ID           string `json:"id,omitempty"`
	Name         string `json:"name,omitempty"`
	Organization string `json:"organization,omitempty"`
	MembersCount int64  `json:"membersCount,omitempty"`
	Default      bool   `json:"default,omitempty"`
	Managed      bool   `json:"managed,omitempty"`
}

type gcUserGroupsCreate struct {
	Group gcUserGroupsDetail `json:"group,omitzero"`
}

type gcUserGroupsSearch struct {
	Groups []gcUserGroupsDetail `json:"groups,omitempty"`
	Paging gcPaging             `json:"paging,omitzero"`
}

type gcUserGroupsUser struct {
	Login    string `json:"login,omitempty"`
	Name     string `json:"name,omitempty"`
	Managed  bool   `json:"managed,omitempty"`
	Selected bool   `json:"selected,omitempty"`
}

type gcUserGroupsUsers struct {
	Users    []gcUserGroupsUser `json:"users,omitempty"`
	Paging   gcPaging           `json:"paging,omitzero"`
	Page     int64              `json:"p,omitempty"`
	PageSize int64              `json:"ps,omitempty"`
	Total    int64              `json:"total,omitempty"`
}

type gcPermissionGroup struct {
	Description string   `json:"description,omitempty"`
	ID          string   `json:"id,omitempty"`
	Managed     bool     `json:"managed,omitempty"`
	Name        string   `json:"name,omitempty"`
	Permissions []string `json:"permissions,omitempty"`
}

type gcPermissionUser struct {
	Avatar      string   `json:"avatar,omitempty"`
	Email       string   `json:"email,omitempty"`
	Login       string   `json:"login,omitempty"`
	Managed     bool     `json:"managed,omitempty"`
	Name        string   `json:"name,omitempty"`
	Permissions []string `json:"permissions,omitempty"`
}

type gcPermissionsGroups struct {
	Groups []gcPermissionGroup `json:"groups,omitempty"`
	Paging gcPaging            `json:"paging,omitzero"`
}

type gcPermissionsUsers struct {
	Paging gcPaging           `json:"paging,omitzero"`
	Users  []gcPermissionUser `json:"users,omitempty"`
}

type gcTemplatePermission struct {
	GroupsCount        int64  `json:"groupsCount,omitempty"`
	Key                string `json:"key,omitempty"`
	UsersCount         int64  `json:"usersCount,omitempty"`
	WithProjectCreator bool   `json:"withProjectCreator,omitempty"`
}

type gcPermissionTemplate struct {
	CreatedAt         string                 `json:"createdAt,omitempty"`
	Description       string                 `json:"description,omitempty"`
	ID                string                 `json:"id,omitempty"`
	Name              string                 `json:"name,omitempty"`
	Permissions       []gcTemplatePermission `json:"permissions,omitempty"`
	ProjectKeyPattern string                 `json:"projectKeyPattern,omitempty"`
	UpdatedAt         string                 `json:"updatedAt,omitempty"`
}

// gcPermissionsTemplateBasic is the client's PermissionsTemplateBasic
// (create_template) and PermissionsTemplateUpdated (update_template): the
// same fields.
type gcPermissionsTemplateBasic = gcPermissionTemplate

type gcPermissionsCreateTemplate struct {
	PermissionTemplate gcPermissionsTemplateBasic `json:"permissionTemplate,omitzero"`
}

type gcPermissionsUpdateTemplate struct {
	PermissionTemplate gcPermissionsTemplateBasic `json:"permissionTemplate,omitzero"`
}

type gcPermissionsDefaultTemplate struct {
	Qualifier  string `json:"qualifier,omitempty"`
	TemplateID string `json:"templateId,omitempty"`
}

type gcPermissionsSearchTemplatePermission struct {
	Key         string `json:"key,omitempty"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
}

type gcPermissionsSearchTemplates struct {
	DefaultTemplates    []gcPermissionsDefaultTemplate          `json:"defaultTemplates,omitempty"`
	PermissionTemplates []gcPermissionTemplate                  `json:"permissionTemplates,omitempty"`
	Permissions         []gcPermissionsSearchTemplatePermission `json:"permissions,omitempty"`
}

type gcPermissionsTemplateGroup struct {
	Description string   `json:"description,omitempty"`
	ID          string   `json:"id,omitempty"`
	Name        string   `json:"name,omitempty"`
	Permissions []string `json:"permissions,omitempty"`
}

type gcPermissionsTemplateUser struct {
	Avatar      string   `json:"avatar,omitempty"`
	Email       string   `json:"email,omitempty"`
	Login       string   `json:"login,omitempty"`
	Name        string   `json:"name,omitempty"`
	Permissions []string `json:"permissions,omitempty"`
}

type gcPermissionsTemplateGroups struct {
	Groups []gcPermissionsTemplateGroup `json:"groups,omitempty"`
	Paging gcPaging                     `json:"paging,omitzero"`
}

type gcPermissionsTemplateUsers struct {
	Paging gcPaging                    `json:"paging,omitzero"`
	Users  []gcPermissionsTemplateUser `json:"users,omitempty"`
}

type gcProject struct {
	Key        string `json:"key,omitempty"`
	Name       string `json:"name,omitempty"`
	Qualifier  string `json:"qualifier,omitempty"`
	Visibility string `json:"visibility,omitempty"`
}

type gcProjectsCreate struct {
	Project gcProject `json:"project,omitzero"`
}

type gcProjectSearchComponent struct {
	Key              string `json:"key,omitempty"`
	Name             string `json:"name,omitempty"`
	Qualifier        string `json:"qualifier,omitempty"`
	Visibility       string `json:"visibility,omitempty"`
	LastAnalysisDate string `json:"lastAnalysisDate,omitempty"`
	Revision         string `json:"revision,omitempty"`
	ProjectUUID      string `json:"projectUuid,omitempty"`
	Managed          bool   `json:"managed,omitempty"`
}

type gcProjectsSearch struct {
	Components []gcProjectSearchComponent `json:"components,omitempty"`
	Paging     gcPaging                   `json:"paging,omitzero"`
}

type gcUserTokenProject struct {
	Key  string `json:"key,omitempty"`
	Name string `json:"name,omitempty"`
}

type gcUserToken struct {
	CreatedAt      string             `json:"createdAt,omitempty"`
	ExpirationDate string             `json:"expirationDate,omitempty"`
	IsExpired      bool               `json:"isExpired,omitempty"`
	Name           string             `json:"name,omitempty"`
	Project        gcUserTokenProject `json:"project,omitzero"`
	Type           string             `json:"type,omitempty"`
}

type gcUserTokensGenerate struct {
	CreatedAt      string `json:"createdAt,omitempty"`
	ExpirationDate string `json:"expirationDate,omitempty"`
	Login          string `json:"login,omitempty"`
	Name           string `json:"name,omitempty"`
	ProjectKey     string `json:"projectKey,omitempty"`
	Token          string `json:"token,omitempty"`
	Type           string `json:"type,omitempty"`
}

type gcUserTokensSearch struct {
	Login      string        `json:"login,omitempty"`
	UserTokens []gcUserToken `json:"userTokens,omitempty"`
}

// gcClient sends requests as the client's NewSonarQubeV1APIRequest and Do.
type gcClient struct {
	s               *testServer
	login, password string // WithBasicAuth
	token           string // WithToken
	// unmapped collects, per "METHOD path", the answer keys the client's
	// structs have no field for (its SchemaObserver's report).
	unmapped map[string][]string
}

func gcNewClient(s *testServer, login, password string) *gcClient {
	return &gcClient{s: s, login: login, password: password, unmapped: map[string][]string{}}
}

func gcTokenClient(s *testServer, token string) *gcClient {
	return &gcClient{s: s, token: token, unmapped: map[string][]string{}}
}

// gcResponseError is the client's ResponseError.
type gcResponseError struct {
	status int
	body   []byte
}

func (e *gcResponseError) Error() string { return fmt.Sprintf("%d %s", e.status, e.body) }

// gcCall is one client method: its HTTP method, path under api/, the query
// its option struct encodes to and the result it decodes (nil: none).
type gcCall struct {
	method, path string
	query        url.Values
	result       any
	// want is the status the reference gives the action; 0: 200 with a
	// result, 204 without.
	want int
}

// answers sets the status an action without a result gives per the
// reference (the client ignores the body of those).
func (c gcCall) answers(status int) gcCall { c.want = status; return c }

// gcQuery encodes options as go-querystring does with omitempty tags: empty
// values are left out. A key may repeat (`scmAccount` lists).
func gcQuery(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Add(kv[i], kv[i+1])
		}
	}
	return v
}

func gcGet(path string, result any, kv ...string) gcCall {
	return gcCall{method: http.MethodGet, path: path, query: gcQuery(kv...), result: result}
}

func gcPost(path string, result any, kv ...string) gcCall {
	return gcCall{method: http.MethodPost, path: path, query: gcQuery(kv...), result: result}
}

// send performs c; the status is returned even on error.
func (gc *gcClient) send(t *testing.T, c gcCall) (int, error) {
	t.Helper()
	u, err := url.Parse(gc.s.srv.URL + "/api/")
	if err != nil {
		t.Fatal(err)
	}
	u.Path += c.path
	u.RawQuery = c.query.Encode()
	req, err := http.NewRequestWithContext(t.Context(), c.method, u.String(), http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	if c.method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	txt, isText := c.result.(*string)
	if isText {
		req.Header.Set("Accept", "text/plain")
	}
	if gc.token != "" {
		req.SetBasicAuth(gc.token, "")
	} else {
		req.SetBasicAuth(gc.login, gc.password)
	}
	req.Header.Set("User-Agent", "sonarqube-client-go")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusNoContent, http.StatusNotModified:
	default:
		return resp.StatusCode, &gcResponseError{status: resp.StatusCode, body: body}
	}
	if c.result == nil {
		return resp.StatusCode, nil
	}
	if isText {
		*txt = string(body)
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(c.result); err != nil {
		return resp.StatusCode, fmt.Errorf("failed to decode %s %s response body %q: %w", c.method, c.path, body, err)
	}
	key := c.method + " " + c.path
	for _, p := range gcSchema(t, body, c.result) {
		if !slices.Contains(gc.unmapped[key], p) {
			gc.unmapped[key] = append(gc.unmapped[key], p)
		}
	}
	return resp.StatusCode, nil
}

// do performs c and fails the test unless the client would succeed; an
// action without a result must answer 204, one with a result 200.
func (gc *gcClient) do(t *testing.T, c gcCall) {
	t.Helper()
	status, err := gc.send(t, c)
	if err != nil {
		t.Fatalf("%s %s %s: %v", c.method, c.path, c.query.Encode(), err)
	}
	want := c.want
	switch {
	case want != 0:
	case c.result == nil:
		want = http.StatusNoContent
	default:
		want = http.StatusOK
	}
	if status != want {
		t.Fatalf("%s %s %s: status %d, want %d", c.method, c.path, c.query.Encode(), status, want)
	}
}

// fails performs c and wants the client's error with the given status.
func (gc *gcClient) fails(t *testing.T, c gcCall, status int) {
	t.Helper()
	got, err := gc.send(t, c)
	if err == nil || got != status {
		t.Fatalf("%s %s %s: status %d (err %v), want the client's error with %d", c.method, c.path, c.query.Encode(), got, err, status)
	}
}

// checkUnmapped compares the keys seen without a client field with want
// ("METHOD path" → sorted keys).
func (gc *gcClient) checkUnmapped(t *testing.T, want map[string][]string) {
	t.Helper()
	got := map[string][]string{}
	for k, v := range gc.unmapped {
		v = slices.Clone(v)
		slices.Sort(v)
		got[k] = v
	}
	for k, v := range want {
		v = slices.Clone(v)
		slices.Sort(v)
		want[k] = v
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("keys without a field in the client's structs:\n got %v\nwant %v", got, want)
	}
}

// gcSchema mirrors the client's CheckSchema: every object key, at any depth,
// that the destination type has no field for (paths like "users[].email").
func gcSchema(t *testing.T, body []byte, dest any) []string {
	t.Helper()
	var raw any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("schema check of %s: %v", body, err)
	}
	var out []string
	gcWalk(raw, reflect.TypeOf(dest), "", &out)
	return out
}

func gcWalk(raw any, typ reflect.Type, path string, out *[]string) {
	for typ != nil && typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if raw == nil || typ == nil {
		return
	}
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch typ.Kind() {
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			return
		}
		fields := gcFields(typ)
		for k, v := range obj {
			ft, ok := fields[k]
			if !ok {
				*out = append(*out, join(k))
				continue
			}
			gcWalk(v, ft, join(k), out)
		}
	case reflect.Slice, reflect.Array:
		if arr, ok := raw.([]any); ok {
			for _, item := range arr {
				gcWalk(item, typ.Elem(), path+"[]", out)
			}
		}
	case reflect.Map:
		if obj, ok := raw.(map[string]any); ok {
			for k, v := range obj {
				gcWalk(v, typ.Elem(), join(k), out)
			}
		}
	}
}

func gcFields(typ reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		switch {
		case name == "" && f.Anonymous:
			et := f.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range gcFields(et) {
					out[k] = v
				}
			}
		case f.PkgPath != "":
		case name == "":
			out[f.Name] = f.Type
		default:
			out[name] = f.Type
		}
	}
	return out
}

// gcDate checks a datetime as SonarQube formats it: clients parse
// 2006-01-02T15:04:05-0700, which RFC 3339's colon breaks.
func gcDate(t *testing.T, field, v string) {
	t.Helper()
	if _, err := time.Parse("2006-01-02T15:04:05-0700", v); err != nil {
		t.Errorf("%s %q is not a SonarQube datetime: %v", field, v, err)
	}
}

// gcAll replays the client's allPages: p from 1, ps as given (the client
// defaults to 500, 100 for permissions), until it holds total items. A
// server whose total overstates what the pages hold would loop it forever;
// here that fails after a bound.
func gcAll[T any](t *testing.T, gc *gcClient, c gcCall, ps int, items func() ([]T, int64)) []T {
	t.Helper()
	var all []T
	for page := 1; ; page++ {
		if page > 50 {
			t.Fatalf("%s: the client's page loop did not end: %d items, total %v", c.path, len(all), c.query)
		}
		q := url.Values{}
		for k, v := range c.query {
			q[k] = v
		}
		q.Set("p", fmt.Sprint(page))
		q.Set("ps", fmt.Sprint(ps))
		rv := reflect.ValueOf(c.result).Elem()
		rv.SetZero()
		gc.do(t, gcCall{method: c.method, path: c.path, query: q, result: c.result})
		got, total := items()
		all = append(all, got...)
		if int64(len(all)) >= total {
			return all
		}
	}
}

func TestGoClientServerProbes(t *testing.T) {
	s := newTestServer(t)
	s.createUser("probe")
	tok := s.userToken("probe", "probe-token")
	tests := []struct {
		name  string
		gc    *gcClient
		valid bool
	}{
		{"basic", gcNewClient(s, "admin", adminPassword), true},
		{"token", gcTokenClient(s, tok), true},
		{"bad password", gcNewClient(s, "admin", "wrong-password-123"), false},
		{"bad token", gcTokenClient(s, "squ_"+strings.Repeat("0", 40)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st gcSystemStatus
			if tt.valid {
				tt.gc.do(t, gcGet("system/status", &st))
				if st.Status != "UP" || st.Version == "" || st.ID == "" {
					t.Errorf("system/status: %+v", st)
				}
			}
			if tt.valid {
				// Ping and Version decode into a *string: Accept text/plain.
				for _, path := range []string{"system/ping", "server/version"} {
					var txt string
					tt.gc.do(t, gcGet(path, &txt))
					if txt == "" {
						t.Errorf("%s: empty", path)
					}
				}
			}
			var v gcAuthenticationValidation
			tt.gc.do(t, gcGet("authentication/validate", &v))
			if v.Valid != tt.valid {
				t.Errorf("authentication/validate: valid %v, want %v", v.Valid, tt.valid)
			}
			tt.gc.checkUnmapped(t, map[string][]string{})
		})
	}
}

func TestGoClientUsers(t *testing.T) {
	s := newTestServer(t)
	gc := gcNewClient(s, "admin", adminPassword)

	var created gcUsersCreate
	gc.do(t, gcPost("users/create", &created, "email", "ada@example.com", "local", "true", "login", "ada", "name", "Ada Lovelace",
		"password", "ada-password-123", "scmAccount", "ada-scm", "scmAccount", "ada@scm"))
	if u := created.User; u.Login != "ada" || u.Name != "Ada Lovelace" || u.Email != "ada@example.com" || !u.Active || !u.Local ||
		!slices.Equal(u.ScmAccounts, []string{"ada-scm", "ada@scm"}) {
		t.Errorf("users/create: %+v", u)
	}
	// The client leaves local out when false (omitempty): the default,
	// true, applies.
	gc.do(t, gcPost("users/create", &gcUsersCreate{}, "login", "bob", "name", "Bob", "password", "bob-password-123"))
	gc.do(t, gcPost("users/create", &gcUsersCreate{}, "email", "carol@example.com", "login", "carol", "name", "Carol", "password", "carol-password-123"))

	// Sign in once with a token so lastConnectionDate is set.
	tok := s.userToken("ada", "ada-token")
	adaClient := gcTokenClient(s, tok)
	adaClient.do(t, gcGet("authentication/validate", &gcAuthenticationValidation{}))
	// Token uses are recorded in the background: wait for this one.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		u, err := s.db.GetUserByLogin(t.Context(), "ada")
		if err == nil && !u.LastTokenAt.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ada's token use never recorded (%v)", err)
		}
	}

	tests := []gcStep{
		{"search q", gcGet("users/search", &gcUsersSearch{}, "q", "ada"), func(t *testing.T, r any) {
			res := r.(*gcUsersSearch)
			if len(res.Users) != 1 || res.Paging.Total != 1 || res.Paging.PageIndex != 1 || res.Paging.PageSize != 50 {
				t.Fatalf("%+v", res)
			}
			u := res.Users[0]
			if u.Login != "ada" || !u.Active || !u.Local || u.Email != "ada@example.com" || u.TokensCount != 1 || u.Avatar == "" ||
				!slices.Contains(u.Groups, "sonar-users") || u.ExternalProvider != "sonarqube" || u.ExternalIdentity != "ada" {
				t.Errorf("%+v", u)
			}
			gcDate(t, "lastConnectionDate", u.LastConnectionDate)
		}},
		{"update", gcPost("users/update", &gcUsersUpdate{}, "email", "ada@example.org", "login", "ada", "name", "Ada King", "scmAccount", "ada-king"), func(t *testing.T, r any) {
			u := r.(*gcUsersUpdate).User
			if u.Login != "ada" || u.Name != "Ada King" || u.Email != "ada@example.org" || !slices.Equal(u.ScmAccounts, []string{"ada-king"}) ||
				!slices.Contains(u.Groups, "sonar-users") {
				t.Errorf("%+v", u)
			}
		}},
		{"groups", gcGet("users/groups", &gcUsersGroups{}, "login", "ada"), func(t *testing.T, r any) {
			res := r.(*gcUsersGroups)
			if len(res.Groups) != 1 || res.Groups[0].Name != "sonar-users" || !res.Groups[0].Default || !res.Groups[0].Selected ||
				res.Groups[0].ID == "" || res.Paging.Total != 1 || res.Paging.PageSize != 25 {
				t.Errorf("%+v", res)
			}
		}},
		{"groups all", gcGet("users/groups", &gcUsersGroups{}, "login", "ada", "selected", "all"), func(t *testing.T, r any) {
			res := r.(*gcUsersGroups)
			if res.Paging.Total != 2 || len(res.Groups) != 2 {
				t.Errorf("%+v", res)
			}
		}},
		{"change_password as admin", gcPost("users/change_password", nil, "login", "ada", "password", "ada-password-456"), nil},
		{"deactivate", gcPost("users/deactivate", &gcUsersDeactivate{}, "login", "bob"), func(t *testing.T, r any) {
			u := r.(*gcUsersDeactivate).User
			if u.Login != "bob" || u.Active || !u.Local {
				t.Errorf("%+v", u)
			}
		}},
		{"deactivate with e-mail", gcPost("users/deactivate", &gcUsersDeactivate{}, "login", "carol"), func(t *testing.T, r any) {
			if u := r.(*gcUsersDeactivate).User; u.Login != "carol" || u.Active {
				t.Errorf("%+v", u)
			}
		}},
		{"search deactivated", gcGet("users/search", &gcUsersSearch{}, "deactivated", "true"), func(t *testing.T, r any) {
			res := r.(*gcUsersSearch)
			if len(res.Users) != 2 || res.Users[0].Login != "bob" || res.Users[0].Active {
				t.Errorf("%+v", res)
			}
		}},
	}
	gcRunSteps(t, gc, tests)

	// One's own password, as the client sends it with previousPassword.
	gcNewClient(s, "ada", "ada-password-456").do(t, gcPost("users/change_password", nil,
		"login", "ada", "password", "ada-password-789", "previousPassword", "ada-password-456"))
	gcNewClient(s, "ada", "ada-password-789").do(t, gcGet("authentication/validate", &gcAuthenticationValidation{}))

	errs := []struct {
		name   string
		call   gcCall
		status int
	}{
		{"create duplicate", gcPost("users/create", &gcUsersCreate{}, "login", "ada", "name", "Ada", "password", "ada-password-123"), 400},
		{"managed on an unmanaged instance", gcGet("users/search", &gcUsersSearch{}, "managed", "true"), 400},
		{"update unknown", gcPost("users/update", &gcUsersUpdate{}, "login", "nobody", "name", "X"), 404},
		{"deactivate unknown", gcPost("users/deactivate", &gcUsersDeactivate{}, "login", "nobody"), 404},
		{"short password", gcPost("users/change_password", nil, "login", "ada", "password", "short"), 400},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) { gc.fails(t, tt.call, tt.status) })
	}

	// SearchAll: ps=500, pages until total.
	for i := range 3 {
		s.createUser(fmt.Sprintf("page-user-%d", i))
	}
	var res gcUsersSearch
	all := gcAll(t, gc, gcGet("users/search", &res), 2, func() ([]gcUsersSearchResult, int64) { return res.Users, res.Paging.Total })
	if len(all) != 5 { // admin, ada, three page users
		t.Errorf("users SearchAll: %d users", len(all))
	}
	all = gcAll(t, gc, gcGet("users/search", &res), 500, func() ([]gcUsersSearchResult, int64) { return res.Users, res.Paging.Total })
	if len(all) != 5 {
		t.Errorf("users SearchAll (ps=500): %d users", len(all))
	}
	// GroupsAll.
	var ug gcUsersGroups
	for _, ps := range []int{1, 500} {
		if all := gcAll(t, gc, gcGet("users/groups", &ug, "login", "admin", "selected", "all"), ps, func() ([]gcUsersGroup, int64) { return ug.Groups, ug.Paging.Total }); len(all) != 2 {
			t.Errorf("users GroupsAll (ps=%d): %d groups", ps, len(all))
		}
	}

	// The client's deactivate struct has no email; Gatehouse shows a
	// deactivated user's e-mail as users/update does. Decoding ignores it;
	// the client's SchemaObserver reports it.
	// Deactivation answers SonarQube's shape: no e-mail (it is cleared).
	gc.checkUnmapped(t, map[string][]string{})
}

func TestGoClientUserGroups(t *testing.T) {
	s := newTestServer(t)
	gc := gcNewClient(s, "admin", adminPassword)
	s.createUser("ada")
	s.createUser("bob")

	var created gcUserGroupsCreate
	gc.do(t, gcPost("user_groups/create", &created, "description", "Analysts", "name", "analysts"))
	if g := created.Group; g.Name != "analysts" || g.Description != "Analysts" || g.ID == "" || g.Default || g.Managed || g.MembersCount != 0 {
		t.Errorf("user_groups/create: %+v", g)
	}

	tests := []gcStep{
		{"add_user ada", gcPost("user_groups/add_user", nil, "login", "ada", "name", "analysts"), nil},
		{"add_user bob", gcPost("user_groups/add_user", nil, "login", "bob", "name", "analysts"), nil},
		// SonarQube answers the group; the client's Update ignores it.
		{"update", gcPost("user_groups/update", nil, "currentName", "analysts", "description", "Data analysts", "name", "data-analysts").answers(200), nil},
		{"search", gcGet("user_groups/search", &gcUserGroupsSearch{}, "q", "analysts"), func(t *testing.T, r any) {
			res := r.(*gcUserGroupsSearch)
			if len(res.Groups) != 1 || res.Paging.Total != 1 || res.Paging.PageSize != 100 {
				t.Fatalf("%+v", res)
			}
			if g := res.Groups[0]; g.Name != "data-analysts" || g.Description != "Data analysts" || g.MembersCount != 2 || g.Default {
				t.Errorf("%+v", g)
			}
		}},
		{"search f", gcGet("user_groups/search", &gcUserGroupsSearch{}, "f", "name,membersCount"), func(t *testing.T, r any) {
			res := r.(*gcUserGroupsSearch)
			if len(res.Groups) != 3 {
				t.Fatalf("%+v", res)
			}
			for _, g := range res.Groups {
				if g.Name == "" || g.Description != "" {
					t.Errorf("%+v", g)
				}
			}
		}},
		// Managed is a *bool: the client can send managed=false, which
		// SonarQube (GroupService) accepts on an unmanaged instance.
		{"search managed=false", gcGet("user_groups/search", &gcUserGroupsSearch{}, "managed", "false"), func(t *testing.T, r any) {
			if res := r.(*gcUserGroupsSearch); len(res.Groups) != 3 {
				t.Errorf("%+v", res)
			}
		}},
		{"users", gcGet("user_groups/users", &gcUserGroupsUsers{}, "name", "data-analysts"), func(t *testing.T, r any) {
			res := r.(*gcUserGroupsUsers)
			if len(res.Users) != 2 || res.Paging.Total != 2 || res.Total != 2 || res.Page != 1 || res.PageSize != 25 || !res.Users[0].Selected {
				t.Errorf("%+v", res)
			}
		}},
		{"users deselected", gcGet("user_groups/users", &gcUserGroupsUsers{}, "name", "data-analysts", "q", "adm", "selected", "deselected"), func(t *testing.T, r any) {
			res := r.(*gcUserGroupsUsers)
			if len(res.Users) != 1 || res.Users[0].Login != "admin" || res.Users[0].Selected {
				t.Errorf("%+v", res)
			}
		}},
		{"remove_user", gcPost("user_groups/remove_user", nil, "login", "bob", "name", "data-analysts"), nil},
		{"users after remove", gcGet("user_groups/users", &gcUserGroupsUsers{}, "name", "data-analysts"), func(t *testing.T, r any) {
			res := r.(*gcUserGroupsUsers)
			if len(res.Users) != 1 || res.Users[0].Login != "ada" {
				t.Errorf("%+v", res)
			}
		}},
	}
	gcRunSteps(t, gc, tests)

	// SearchAll and UsersAll: ps=500 (and a small page), pages until total.
	var groups gcUserGroupsSearch
	for _, ps := range []int{1, 500} {
		if all := gcAll(t, gc, gcGet("user_groups/search", &groups), ps, func() ([]gcUserGroupsDetail, int64) { return groups.Groups, groups.Paging.Total }); len(all) != 3 {
			t.Errorf("user_groups SearchAll (ps=%d): %d groups", ps, len(all))
		}
	}
	var members gcUserGroupsUsers
	for _, ps := range []int{1, 500} {
		if all := gcAll(t, gc, gcGet("user_groups/users", &members, "name", "sonar-users", "selected", "all"), ps, func() ([]gcUserGroupsUser, int64) { return members.Users, members.Paging.Total }); len(all) != 3 {
			t.Errorf("user_groups UsersAll (ps=%d): %d users", ps, len(all))
		}
	}

	errs := []struct {
		name   string
		call   gcCall
		status int
	}{
		{"managed=true on an unmanaged instance", gcGet("user_groups/search", &gcUserGroupsSearch{}, "managed", "true"), 400},
		{"create Anyone", gcPost("user_groups/create", &gcUserGroupsCreate{}, "name", "anyone"), 400},
		{"create duplicate", gcPost("user_groups/create", &gcUserGroupsCreate{}, "name", "data-analysts"), 400},
		{"delete default", gcPost("user_groups/delete", nil, "name", "sonar-users"), 400},
		{"users of unknown", gcGet("user_groups/users", &gcUserGroupsUsers{}, "name", "nope"), 404},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) { gc.fails(t, tt.call, tt.status) })
	}
	gc.do(t, gcPost("user_groups/delete", nil, "name", "data-analysts"))
	gc.fails(t, gcGet("user_groups/users", &gcUserGroupsUsers{}, "name", "data-analysts"), 404)
	gc.checkUnmapped(t, map[string][]string{})
}

func TestGoClientPermissions(t *testing.T) {
	s := newTestServer(t)
	gc := gcNewClient(s, "admin", adminPassword)
	s.createUser("ada")
	gc.do(t, gcPost("user_groups/create", &gcUserGroupsCreate{}, "name", "devs"))
	gc.do(t, gcPost("projects/create", &gcProjectsCreate{}, "name", "Perm", "project", "perm", "visibility", "private"))

	tests := []gcStep{
		{"add_user global", gcPost("permissions/add_user", nil, "login", "ada", "permission", "provisioning"), nil},
		{"add_user project", gcPost("permissions/add_user", nil, "login", "ada", "permission", "issueadmin", "projectKey", "perm"), nil},
		{"add_group global", gcPost("permissions/add_group", nil, "groupName", "devs", "permission", "scan"), nil},
		{"add_group project", gcPost("permissions/add_group", nil, "groupName", "devs", "permission", "codeviewer", "projectKey", "perm"), nil},
		{"add_group Anyone", gcPost("permissions/add_group", nil, "groupName", "anyone", "permission", "scan"), nil},
		{"users global", gcGet("permissions/users", &gcPermissionsUsers{}, "permission", "provisioning"), func(t *testing.T, r any) {
			res := r.(*gcPermissionsUsers)
			if len(res.Users) != 1 || res.Users[0].Login != "ada" || !slices.Equal(res.Users[0].Permissions, []string{"provisioning"}) ||
				res.Paging.Total != 1 || res.Paging.PageSize != 20 {
				t.Errorf("%+v", res)
			}
		}},
		{"users project", gcGet("permissions/users", &gcPermissionsUsers{}, "projectKey", "perm", "q", "ada"), func(t *testing.T, r any) {
			res := r.(*gcPermissionsUsers)
			if len(res.Users) != 1 || !slices.Contains(res.Users[0].Permissions, "issueadmin") {
				t.Errorf("%+v", res)
			}
		}},
		{"groups project", gcGet("permissions/groups", &gcPermissionsGroups{}, "projectKey", "perm"), func(t *testing.T, r any) {
			res := r.(*gcPermissionsGroups)
			i := slices.IndexFunc(res.Groups, func(g gcPermissionGroup) bool { return g.Name == "devs" })
			if i < 0 || res.Groups[i].ID == "" || !slices.Equal(res.Groups[i].Permissions, []string{"codeviewer"}) {
				t.Errorf("%+v", res)
			}
		}},
		{"groups global", gcGet("permissions/groups", &gcPermissionsGroups{}, "permission", "scan"), func(t *testing.T, r any) {
			res := r.(*gcPermissionsGroups)
			if len(res.Groups) == 0 || res.Groups[0].Name != "Anyone" || res.Groups[0].ID != "" || !slices.Equal(res.Groups[0].Permissions, []string{"scan"}) {
				t.Fatalf("%+v", res)
			}
			if i := slices.IndexFunc(res.Groups, func(g gcPermissionGroup) bool { return g.Name == "devs" }); i < 0 || !slices.Contains(res.Groups[i].Permissions, "scan") {
				t.Errorf("%+v", res)
			}
		}},
		{"remove_user project", gcPost("permissions/remove_user", nil, "login", "ada", "permission", "issueadmin", "projectKey", "perm"), nil},
		{"remove_user global", gcPost("permissions/remove_user", nil, "login", "ada", "permission", "provisioning"), nil},
		{"remove_group project", gcPost("permissions/remove_group", nil, "groupName", "devs", "permission", "codeviewer", "projectKey", "perm"), nil},
		{"remove_group global", gcPost("permissions/remove_group", nil, "groupName", "devs", "permission", "scan"), nil},
		{"users after removal", gcGet("permissions/users", &gcPermissionsUsers{}, "permission", "provisioning"), func(t *testing.T, r any) {
			if res := r.(*gcPermissionsUsers); len(res.Users) != 0 || res.Paging.Total != 0 {
				t.Errorf("%+v", res)
			}
		}},
	}
	gcRunSteps(t, gc, tests)

	// UsersAll and GroupsAll cap ps at 100.
	var users gcPermissionsUsers
	if all := gcAll(t, gc, gcGet("permissions/users", &users, "projectKey", "perm"), 100, func() ([]gcPermissionUser, int64) { return users.Users, users.Paging.Total }); len(all) != 2 {
		t.Errorf("permissions UsersAll: %d users", len(all))
	}
	var groups gcPermissionsGroups
	for _, ps := range []int{1, 100} {
		if all := gcAll(t, gc, gcGet("permissions/groups", &groups), ps, func() ([]gcPermissionGroup, int64) { return groups.Groups, groups.Paging.Total }); len(all) != 4 {
			t.Errorf("permissions GroupsAll (ps=%d): %d groups", ps, len(all))
		}
	}

	errs := []struct {
		name   string
		call   gcCall
		status int
	}{
		{"unknown user", gcPost("permissions/add_user", nil, "login", "nobody", "permission", "scan"), 404},
		{"Anyone on a private project", gcPost("permissions/add_group", nil, "groupName", "Anyone", "permission", "user", "projectKey", "perm"), 400},
		{"unknown project", gcPost("permissions/add_user", nil, "login", "ada", "permission", "user", "projectKey", "nope"), 404},
		{"ps over 100", gcGet("permissions/users", &gcPermissionsUsers{}, "ps", "500"), 400},
		{"short q", gcGet("permissions/groups", &gcPermissionsGroups{}, "q", "de"), 400},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) { gc.fails(t, tt.call, tt.status) })
	}
	gc.checkUnmapped(t, map[string][]string{})
}

func TestGoClientPermissionTemplates(t *testing.T) {
	s := newTestServer(t)
	gc := gcNewClient(s, "admin", adminPassword)
	s.createUser("ada")
	gc.do(t, gcPost("user_groups/create", &gcUserGroupsCreate{}, "name", "devs"))

	var created gcPermissionsCreateTemplate
	gc.do(t, gcPost("permissions/create_template", &created, "description", "Finance projects", "name", "finance", "projectKeyPattern", `finance\..*`))
	tp := created.PermissionTemplate
	if tp.ID == "" || tp.Name != "finance" || tp.Description != "Finance projects" || tp.ProjectKeyPattern != `finance\..*` {
		t.Fatalf("create_template: %+v", tp)
	}
	gcDate(t, "createdAt", tp.CreatedAt)
	gcDate(t, "updatedAt", tp.UpdatedAt)
	id := tp.ID
	gc.do(t, gcPost("projects/create", &gcProjectsCreate{}, "name", "Ledger", "project", "ledger"))

	tests := []gcStep{
		{"update_template", gcPost("permissions/update_template", &gcPermissionsUpdateTemplate{}, "description", "Money", "id", id, "name", "finance-2"), func(t *testing.T, r any) {
			u := r.(*gcPermissionsUpdateTemplate).PermissionTemplate
			if u.ID != id || u.Name != "finance-2" || u.Description != "Money" || u.ProjectKeyPattern != `finance\..*` {
				t.Errorf("%+v", u)
			}
			gcDate(t, "updatedAt", u.UpdatedAt)
		}},
		{"add_user_to_template", gcPost("permissions/add_user_to_template", nil, "login", "ada", "permission", "admin", "templateId", id), nil},
		{"add_group_to_template", gcPost("permissions/add_group_to_template", nil, "groupName", "devs", "permission", "codeviewer", "templateName", "finance-2"), nil},
		{"add_group_to_template Anyone", gcPost("permissions/add_group_to_template", nil, "groupName", "Anyone", "permission", "user", "templateId", id), nil},
		{"add_project_creator_to_template", gcPost("permissions/add_project_creator_to_template", nil, "permission", "scan", "templateId", id), nil},
		{"search_templates", gcGet("permissions/search_templates", &gcPermissionsSearchTemplates{}, "q", "finance"), func(t *testing.T, r any) {
			res := r.(*gcPermissionsSearchTemplates)
			if len(res.PermissionTemplates) != 1 || len(res.DefaultTemplates) != 1 || res.DefaultTemplates[0].Qualifier != "TRK" ||
				res.DefaultTemplates[0].TemplateID == "" || len(res.Permissions) != 6 {
				t.Fatalf("%+v", res)
			}
			pt := res.PermissionTemplates[0]
			if pt.ID != id || pt.Name != "finance-2" {
				t.Errorf("%+v", pt)
			}
			counts := map[string]gcTemplatePermission{}
			for _, p := range pt.Permissions {
				counts[p.Key] = p
			}
			if counts["admin"].UsersCount != 1 || counts["codeviewer"].GroupsCount != 1 || counts["user"].GroupsCount != 1 || !counts["scan"].WithProjectCreator {
				t.Errorf("%+v", pt.Permissions)
			}
			gcDate(t, "createdAt", pt.CreatedAt)
		}},
		{"template_users", gcGet("permissions/template_users", &gcPermissionsTemplateUsers{}, "templateId", id), func(t *testing.T, r any) {
			res := r.(*gcPermissionsTemplateUsers)
			if len(res.Users) != 1 || res.Users[0].Login != "ada" || !slices.Equal(res.Users[0].Permissions, []string{"admin"}) || res.Paging.Total != 1 {
				t.Errorf("%+v", res)
			}
		}},
		{"template_groups", gcGet("permissions/template_groups", &gcPermissionsTemplateGroups{}, "templateName", "finance-2"), func(t *testing.T, r any) {
			res := r.(*gcPermissionsTemplateGroups)
			if len(res.Groups) < 2 || res.Groups[0].Name != "Anyone" || res.Groups[0].ID != "" {
				t.Fatalf("%+v", res)
			}
			i := slices.IndexFunc(res.Groups, func(g gcPermissionsTemplateGroup) bool { return g.Name == "devs" })
			if i < 0 || res.Groups[i].ID == "" || !slices.Equal(res.Groups[i].Permissions, []string{"codeviewer"}) {
				t.Errorf("%+v", res)
			}
		}},
		{"apply_template", gcPost("permissions/apply_template", nil, "projectKey", "ledger", "templateId", id), nil},
		{"users after apply", gcGet("permissions/users", &gcPermissionsUsers{}, "permission", "admin", "projectKey", "ledger"), func(t *testing.T, r any) {
			res := r.(*gcPermissionsUsers)
			if len(res.Users) != 1 || res.Users[0].Login != "ada" {
				t.Errorf("%+v", res)
			}
		}},
		{"bulk_apply_template", gcPost("permissions/bulk_apply_template", nil, "projects", "ledger", "templateName", "finance-2"), nil},
		{"remove_user_from_template", gcPost("permissions/remove_user_from_template", nil, "login", "ada", "permission", "admin", "templateId", id), nil},
		{"remove_group_from_template", gcPost("permissions/remove_group_from_template", nil, "groupName", "devs", "permission", "codeviewer", "templateId", id), nil},
		{"remove_project_creator_from_template", gcPost("permissions/remove_project_creator_from_template", nil, "permission", "scan", "templateId", id), nil},
		{"template_users after removal", gcGet("permissions/template_users", &gcPermissionsTemplateUsers{}, "templateId", id), func(t *testing.T, r any) {
			if res := r.(*gcPermissionsTemplateUsers); len(res.Users) != 0 {
				t.Errorf("%+v", res)
			}
		}},
		{"set_default_template", gcPost("permissions/set_default_template", nil, "qualifier", "TRK", "templateId", id), nil},
		{"default is the new template", gcGet("permissions/search_templates", &gcPermissionsSearchTemplates{}), func(t *testing.T, r any) {
			res := r.(*gcPermissionsSearchTemplates)
			if len(res.DefaultTemplates) != 1 || res.DefaultTemplates[0].TemplateID != id || len(res.PermissionTemplates) != 2 {
				t.Errorf("%+v", res)
			}
		}},
	}
	gcRunSteps(t, gc, tests)

	var tu gcPermissionsTemplateUsers
	gcAll(t, gc, gcGet("permissions/template_users", &tu, "templateId", id), 100, func() ([]gcPermissionsTemplateUser, int64) { return tu.Users, tu.Paging.Total })
	var tg gcPermissionsTemplateGroups
	if all := gcAll(t, gc, gcGet("permissions/template_groups", &tg, "templateId", id), 1, func() ([]gcPermissionsTemplateGroup, int64) { return tg.Groups, tg.Paging.Total }); len(all) == 0 {
		t.Errorf("permissions TemplateGroupsAll: no groups")
	}

	errs := []struct {
		name   string
		call   gcCall
		status int
	}{
		{"delete default", gcPost("permissions/delete_template", nil, "templateId", id), 400},
		{"unknown template", gcPost("permissions/add_user_to_template", nil, "login", "ada", "permission", "admin", "templateName", "nope"), 404},
		{"global permission in a template", gcPost("permissions/add_user_to_template", nil, "login", "ada", "permission", "provisioning", "templateId", id), 400},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) { gc.fails(t, tt.call, tt.status) })
	}
	var other gcPermissionsCreateTemplate
	gc.do(t, gcPost("permissions/create_template", &other, "name", "scratch"))
	gc.do(t, gcPost("permissions/delete_template", nil, "templateId", other.PermissionTemplate.ID))
	gc.fails(t, gcGet("permissions/template_users", &gcPermissionsTemplateUsers{}, "templateId", other.PermissionTemplate.ID), 404)
	gc.checkUnmapped(t, map[string][]string{})
}

func TestGoClientProjects(t *testing.T) {
	s := newTestServer(t)
	gc := gcNewClient(s, "admin", adminPassword)

	var created gcProjectsCreate
	gc.do(t, gcPost("projects/create", &created, "name", "Alpha", "project", "alpha", "visibility", "public"))
	if p := created.Project; p.Key != "alpha" || p.Name != "Alpha" || p.Qualifier != "TRK" || p.Visibility != "public" {
		t.Errorf("projects/create: %+v", p)
	}
	// mainBranch is accepted.
	gc.do(t, gcPost("projects/create", &gcProjectsCreate{}, "mainBranch", "main", "name", "Beta", "project", "beta"))
	gc.do(t, gcPost("projects/create", &gcProjectsCreate{}, "name", "Gamma", "project", "gamma"))

	tests := []gcStep{
		{"search", gcGet("projects/search", &gcProjectsSearch{}), func(t *testing.T, r any) {
			res := r.(*gcProjectsSearch)
			if len(res.Components) != 3 || res.Paging.Total != 3 || res.Paging.PageSize != 100 || res.Paging.PageIndex != 1 {
				t.Errorf("%+v", res)
			}
		}},
		// The client sends the deprecated projects (comma list) and
		// qualifiers.
		{"search projects", gcGet("projects/search", &gcProjectsSearch{}, "projects", "alpha,gamma", "qualifiers", "TRK"), func(t *testing.T, r any) {
			res := r.(*gcProjectsSearch)
			keys := []string{}
			for _, c := range res.Components {
				keys = append(keys, c.Key)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, []string{"alpha", "gamma"}) {
				t.Errorf("%+v", res)
			}
		}},
		{"update_visibility", gcPost("projects/update_visibility", nil, "project", "beta", "visibility", "public"), nil},
		{"search visibility", gcGet("projects/search", &gcProjectsSearch{}, "q", "beta"), func(t *testing.T, r any) {
			res := r.(*gcProjectsSearch)
			if len(res.Components) != 1 || res.Components[0].Visibility != "public" || res.Components[0].Qualifier != "TRK" {
				t.Errorf("%+v", res)
			}
		}},
		{"delete", gcPost("projects/delete", nil, "project", "gamma"), nil},
		{"search after delete", gcGet("projects/search", &gcProjectsSearch{}, "q", "gamma"), func(t *testing.T, r any) {
			if res := r.(*gcProjectsSearch); len(res.Components) != 0 || res.Paging.Total != 0 {
				t.Errorf("%+v", res)
			}
		}},
	}
	gcRunSteps(t, gc, tests)

	var res gcProjectsSearch
	for _, ps := range []int{1, 500} {
		if all := gcAll(t, gc, gcGet("projects/search", &res), ps, func() ([]gcProjectSearchComponent, int64) { return res.Components, res.Paging.Total }); len(all) != 2 {
			t.Errorf("projects SearchAll (ps=%d): %d projects", ps, len(all))
		}
	}

	errs := []struct {
		name   string
		call   gcCall
		status int
	}{
		{"create duplicate", gcPost("projects/create", &gcProjectsCreate{}, "name", "Alpha", "project", "alpha"), 400},
		{"delete unknown", gcPost("projects/delete", nil, "project", "gamma"), 404},
		{"bad visibility", gcPost("projects/update_visibility", nil, "project", "alpha", "visibility", "internal"), 400},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) { gc.fails(t, tt.call, tt.status) })
	}
	gc.checkUnmapped(t, map[string][]string{})
}

func TestGoClientUserTokens(t *testing.T) {
	s := newTestServer(t)
	gc := gcNewClient(s, "admin", adminPassword)
	s.createUser("ada")
	gc.do(t, gcPost("projects/create", &gcProjectsCreate{}, "name", "Alpha", "project", "alpha"))
	// No grant first: on a fresh instance sonar-users may scan, as in
	// SonarQube.
	ada := gcNewClient(s, "ada", "ada-password-1")
	expiry := s.st.Now().UTC().AddDate(0, 0, 30).Format("2006-01-02")

	tests := []struct {
		name   string
		gc     *gcClient
		params []string
		check  func(t *testing.T, g gcUserTokensGenerate)
	}{
		{"user token for another user", gc, []string{"login", "ada", "name", "ci"}, func(t *testing.T, g gcUserTokensGenerate) {
			if g.Login != "ada" || g.Type != "USER_TOKEN" || g.ExpirationDate != "" || g.ProjectKey != "" {
				t.Errorf("%+v", g)
			}
		}},
		{"expiring user token", ada, []string{"expirationDate", expiry, "name", "laptop", "type", "USER_TOKEN"}, func(t *testing.T, g gcUserTokensGenerate) {
			if g.Login != "ada" || !strings.HasPrefix(g.ExpirationDate, expiry) {
				t.Errorf("%+v", g)
			}
			gcDate(t, "expirationDate", g.ExpirationDate)
		}},
		{"global analysis token", ada, []string{"name", "global-scan", "type", "GLOBAL_ANALYSIS_TOKEN"}, func(t *testing.T, g gcUserTokensGenerate) {
			if g.Type != "GLOBAL_ANALYSIS_TOKEN" {
				t.Errorf("%+v", g)
			}
		}},
		{"project analysis token", ada, []string{"name", "alpha-scan", "projectKey", "alpha", "type", "PROJECT_ANALYSIS_TOKEN"}, func(t *testing.T, g gcUserTokensGenerate) {
			if g.Type != "PROJECT_ANALYSIS_TOKEN" || g.ProjectKey != "alpha" {
				t.Errorf("%+v", g)
			}
		}},
	}
	secrets := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g gcUserTokensGenerate
			tt.gc.do(t, gcPost("user_tokens/generate", &g, tt.params...))
			if g.Token == "" || g.Name == "" {
				t.Fatalf("%+v", g)
			}
			gcDate(t, "createdAt", g.CreatedAt)
			tt.check(t, g)
			secrets[g.Name] = g.Token
		})
	}

	// The client's WithToken: basic auth with the token as login.
	byToken := gcTokenClient(s, secrets["ci"])
	var v gcAuthenticationValidation
	byToken.do(t, gcGet("authentication/validate", &v))
	if !v.Valid {
		t.Fatalf("token not valid")
	}
	// Token uses are recorded in the background: wait for this one, as a
	// client searching a moment later would see it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ts, _, err := s.st.Store().ListTokens(t.Context(), store.TokenFilter{Query: "ci"})
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(ts, func(tk identity.Token) bool { return tk.Name == "ci" && !tk.LastUsedAt.IsZero() }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the token's use was not recorded within 10 s")
		}
	}

	var search gcUserTokensSearch
	byToken.do(t, gcGet("user_tokens/search", &search))
	if search.Login != "ada" || len(search.UserTokens) != 4 {
		t.Fatalf("user_tokens/search: %+v", search)
	}
	for _, tok := range search.UserTokens {
		gcDate(t, tok.Name+" createdAt", tok.CreatedAt)
		switch tok.Name {
		case "alpha-scan":
			if tok.Project.Key != "alpha" || tok.Project.Name != "Alpha" || tok.Type != "PROJECT_ANALYSIS_TOKEN" {
				t.Errorf("%+v", tok)
			}
		case "laptop":
			gcDate(t, "expirationDate", tok.ExpirationDate)
			if tok.IsExpired {
				t.Errorf("%+v", tok)
			}
		}
	}
	gc.do(t, gcGet("user_tokens/search", &gcUserTokensSearch{}, "login", "ada"))

	gc.do(t, gcPost("user_tokens/revoke", nil, "login", "ada", "name", "ci"))
	var after gcAuthenticationValidation
	byToken.do(t, gcGet("authentication/validate", &after))
	if after.Valid {
		t.Errorf("revoked token still valid")
	}
	ada.do(t, gcPost("user_tokens/revoke", nil, "name", "laptop"))

	errs := []struct {
		name   string
		gc     *gcClient
		call   gcCall
		status int
	}{
		{"duplicate name", ada, gcPost("user_tokens/generate", &gcUserTokensGenerate{}, "name", "global-scan"), 400},
		{"expiration today", ada, gcPost("user_tokens/generate", &gcUserTokensGenerate{}, "expirationDate", s.st.Now().UTC().Format("2006-01-02"), "name", "x"), 400},
		{"another user's tokens", ada, gcGet("user_tokens/search", &gcUserTokensSearch{}, "login", "admin"), 403},
		{"revoked token", byToken, gcGet("user_tokens/search", &gcUserTokensSearch{}), 401},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) { tt.gc.fails(t, tt.call, tt.status) })
	}
	// The reference lists lastConnectionDate (SonarQube 7.7); the client's
	// UserToken has no field for it, which its SchemaObserver reports.
	// Decoding ignores it.
	gc.checkUnmapped(t, map[string][]string{"GET user_tokens/search": {"userTokens[].lastConnectionDate"}})
	byToken.checkUnmapped(t, map[string][]string{"GET user_tokens/search": {"userTokens[].lastConnectionDate"}})
	ada.checkUnmapped(t, map[string][]string{})
}

// gcStep is one call of a replayed sequence and the check of its answer.
type gcStep struct {
	name  string
	call  gcCall
	check func(t *testing.T, result any)
}

// gcRunSteps replays steps in order, each as a subtest.
func gcRunSteps(t *testing.T, gc *gcClient, steps []gcStep) {
	t.Helper()
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			gc.do(t, st.call)
			if st.check != nil {
				st.check(t, st.call.result)
			}
		})
	}
}
