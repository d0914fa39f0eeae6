package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/gitlabsim"
)

// callJSON sends a JSON body (a merge patch for PATCH), as SonarQube's v2
// clients do.
func callJSON(t *testing.T, method, u, body string, auth func(*http.Request)) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, u, r)
	if body != "" {
		ct := "application/json"
		if method == http.MethodPatch {
			ct = "application/merge-patch+json"
		}
		req.Header.Set("Content-Type", ct)
	}
	return send(t, req, auth)
}

const (
	v2Configs  = "api/v2/dop-translation/gitlab-configurations"
	v2Runs     = "api/v2/dop-translation/gitlab-synchronization-runs"
	v2Mappings = "api/v2/dop-translation/gitlab-permission-mappings"
)

// gitlabConfigV2 is a configuration resource of SonarQube's v2 API.
type gitlabConfigV2 struct {
	ID                 string   `json:"id"`
	Enabled            bool     `json:"enabled"`
	ApplicationID      string   `json:"applicationId"`
	URL                string   `json:"url"`
	SynchronizeGroups  bool     `json:"synchronizeGroups"`
	ProvisioningType   string   `json:"provisioningType"`
	AllowUsersToSignUp bool     `json:"allowUsersToSignUp"`
	AllowedGroups      []string `json:"allowedGroups"`
	ErrorMessage       string   `json:"errorMessage"`
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

// createBody is what SonarQube's UI posts to create a configuration.
func (e *gitlabEnv) createBody(token string, allowed ...string) string {
	b, _ := json.Marshal(map[string]any{
		"enabled": true, "applicationId": "gatehouse-app", "url": e.simURL, "secret": "gatehouse-secret",
		"synchronizeGroups": true, "provisioningType": "AUTO_PROVISIONING", "provisioningToken": token,
		"allowedGroups": allowed,
	})
	return string(b)
}

// setting reads one GitLab setting through api/provisioning/settings.
func (e *gitlabEnv) setting(t *testing.T, name string) string {
	t.Helper()
	_, body := call(t, "GET", e.base+"api/provisioning/settings?source=gitlab", nil, e.admin)
	var out struct {
		Settings []struct{ Name, Value string }
	}
	_ = json.Unmarshal([]byte(body), &out)
	for _, s := range out.Settings {
		if s.Name == name {
			return s.Value
		}
	}
	t.Fatalf("no setting %s: %s", name, body)
	return ""
}

// TestGitLabSonarQubeV2Configuration drives GitLab provisioning only
// through SonarQube's v2 configuration shapes, from a fresh instance: the
// token checked on create and on change, one configuration shared with
// api/provisioning/settings, and the switch back to JIT removing the
// GitLab-managed groups as SonarQube does (issue 10, item 4).
func TestGitLabSonarQubeV2Configuration(t *testing.T) {
	e := startGitLab(t)
	st, body := call(t, "GET", e.base+v2Configs, nil, e.admin)
	if list := decode[struct{ GitlabConfigurations []gitlabConfigV2 }](t, body); st != 200 || len(list.GitlabConfigurations) != 0 {
		t.Fatalf("fresh list = %d %s", st, body)
	}
	for _, tc := range []struct {
		name, body, want string
		status           int
	}{
		{"wrong token", e.createBody("glpat-wrong", "acme"), "401", 400},
		{"token without read_api", e.createBody("glpat-read-user", "acme"), "read_api", 400},
		{"subgroup allowed", e.createBody(gitlabSyncToken, "acme/backend"), "root group 'acme'", 400},
		{"missing field", `{"enabled":true,"url":"` + e.simURL + `"}`, "'applicationId' field is required", 400},
		{"bad provisioning type", strings.Replace(e.createBody(gitlabSyncToken, "acme"), "AUTO_PROVISIONING", "SCIM", 1), "JIT or AUTO_PROVISIONING", 400},
		{"not JSON", `{"enabled":`, "not valid JSON", 400},
	} {
		if st, body := callJSON(t, "POST", e.base+v2Configs, tc.body, e.admin); st != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: create = %d %s, want %d with %q", tc.name, st, body, tc.status, tc.want)
		}
	}
	if st, body := call(t, "GET", e.base+v2Configs, nil, e.admin); !strings.Contains(body, `"gitlabConfigurations":[]`) {
		t.Fatalf("a refused create left a configuration: %d %s", st, body)
	}

	st, body = callJSON(t, "POST", e.base+v2Configs, e.createBody(gitlabSyncToken, "acme", "partners"), e.admin)
	if st != 200 {
		t.Fatalf("create = %d %s", st, body)
	}
	cfg := decode[gitlabConfigV2](t, body)
	if cfg.ID != "gitlab-configuration" || cfg.ProvisioningType != "AUTO_PROVISIONING" || !cfg.Enabled || cfg.AllowUsersToSignUp ||
		!slices.Equal(cfg.AllowedGroups, []string{"acme", "partners"}) || cfg.URL != e.simURL || !cfg.SynchronizeGroups {
		t.Fatalf("created = %+v", cfg)
	}
	if strings.Contains(body, gitlabSyncToken) || strings.Contains(body, "gatehouse-secret") {
		t.Fatalf("the create answer shows a secret: %s", body)
	}
	if run := waitSourceRun(t, e.base, e.admin, "gitlab", ""); run.Status != "success" {
		t.Fatalf("first run = %+v", run)
	}
	// One configuration, whichever API reads it.
	if got := e.setting(t, "allowedGroups"); got != "acme,partners" {
		t.Fatalf("allowedGroups through api/provisioning/settings = %q", got)
	}
	if got := e.setting(t, "token"); got != "********" {
		t.Fatalf("token reads %q", got)
	}
	if st, body := callJSON(t, "POST", e.base+v2Configs, e.createBody(gitlabSyncToken, "acme"), e.admin); st != 409 {
		t.Fatalf("second create = %d %s", st, body)
	}
	if st, body := call(t, "GET", e.base+v2Configs+"/other", nil, e.admin); st != 404 || !strings.Contains(body, `"message"`) {
		t.Fatalf("unknown id = %d %s", st, body)
	}
	st, body = call(t, "GET", e.base+v2Configs+"/gitlab-configuration", nil, e.admin)
	if got := decode[gitlabConfigV2](t, body); st != 200 || got.ID != cfg.ID || got.ErrorMessage != "" {
		t.Fatalf("get = %d %s", st, body)
	}

	// Changing the token is checked like creating: a refusal changes
	// nothing, not even the fields sent with it.
	st, body = callJSON(t, "PATCH", e.base+v2Configs+"/gitlab-configuration", `{"provisioningToken":"glpat-read-user","allowUsersToSignUp":true}`, e.admin)
	if st != 400 || !strings.Contains(body, "read_api") {
		t.Fatalf("patch with a token without read_api = %d %s", st, body)
	}
	if e.setting(t, "allowUsersToSignUp") != "false" {
		t.Fatal("a refused patch changed allowUsersToSignUp")
	}
	if groups := e.groupNames(t, "acme"); len(groups) == 0 {
		t.Fatal("no GitLab groups after the first run")
	}

	// Back to JIT: the GitLab-managed groups go, the users stay.
	st, body = callJSON(t, "PATCH", e.base+v2Configs+"/gitlab-configuration", `{"provisioningType":"JIT"}`, e.admin)
	if got := decode[gitlabConfigV2](t, body); st != 200 || got.ProvisioningType != "JIT" {
		t.Fatalf("patch to JIT = %d %s", st, body)
	}
	if groups := e.groupNames(t, "acme"); len(groups) != 0 {
		t.Fatalf("GitLab groups left after the switch to JIT: %v", groups)
	}
	if _, ok := e.user(t, "bob"); !ok {
		t.Fatal("the switch to JIT removed a user")
	}
	if st, body := call(t, "POST", e.base+v2Runs, nil, e.admin); st != 400 || !strings.Contains(body, "not enabled") {
		t.Fatalf("sync run in JIT mode = %d %s", st, body)
	}

	// Automatic provisioning again, and a run started through v2.
	if st, body := callJSON(t, "PATCH", e.base+v2Configs+"/gitlab-configuration", `{"provisioningType":"AUTO_PROVISIONING"}`, e.admin); st != 200 {
		t.Fatalf("patch to auto = %d %s", st, body)
	}
	waitSourceRun(t, e.base, e.admin, "gitlab", "")
	st, body = call(t, "POST", e.base+v2Runs, nil, e.admin)
	if st != 202 {
		t.Fatalf("sync run = %d %s", st, body)
	}
	queued := decode[struct{ Run runJSON }](t, body)
	if run := waitSourceRun(t, e.base, e.admin, "gitlab", queued.Run.ID); run.Status != "success" {
		t.Fatalf("v2 run = %+v", run)
	}
	if groups := e.groupNames(t, "acme"); len(groups) == 0 {
		t.Fatal("automatic provisioning did not bring the groups back")
	}

	// Deleting the configuration resets every setting and removes the
	// groups; a merge patch's null resets a field.
	if st, body := call(t, "DELETE", e.base+v2Configs+"/gitlab-configuration", nil, e.admin); st != 204 {
		t.Fatalf("delete = %d %s", st, body)
	}
	if _, body := call(t, "GET", e.base+v2Configs, nil, e.admin); !strings.Contains(body, `"gitlabConfigurations":[]`) {
		t.Fatalf("list after delete = %s", body)
	}
	if groups := e.groupNames(t, "acme"); len(groups) != 0 {
		t.Fatalf("GitLab groups left after delete: %v", groups)
	}
	if st, _ := call(t, "DELETE", e.base+v2Configs+"/gitlab-configuration", nil, e.admin); st != 404 {
		t.Fatalf("second delete = %d", st)
	}
}

type permissionMappingV2 struct {
	ID, Role    string
	BaseRole    bool
	Permissions map[string]bool
}

// TestGitLabSonarQubeV2PermissionMappings edits the role mapping through
// SonarQube's v2 shapes: base roles listed and editable but not removable,
// a custom role added by its GitLab name, and the next sync granting what
// the mapping says (issue 10, item 4).
func TestGitLabSonarQubeV2PermissionMappings(t *testing.T) {
	e := startGitLab(t)
	e.configure(t, "acme")
	mappings := func() map[string]permissionMappingV2 {
		st, body := call(t, "GET", e.base+v2Mappings, nil, e.admin)
		if st != 200 {
			t.Fatalf("mappings = %d %s", st, body)
		}
		out := map[string]permissionMappingV2{}
		for _, m := range decode[struct{ PermissionMappings []permissionMappingV2 }](t, body).PermissionMappings {
			out[m.Role] = m
		}
		return out
	}
	m := mappings()
	if len(m) != 6 || !m["Developer"].BaseRole || !m["Developer"].Permissions["scan"] || m["Developer"].Permissions["admin"] || !m["Owner"].Permissions["admin"] {
		t.Fatalf("default mappings = %+v", m)
	}
	// dave is a Reporter of acme/backend/payments with the custom role
	// "Security auditor", which has no mapping yet: Reporter's rights.
	dave := e.token(t, "admin-password-42", "dave")
	const ledger = "acme:backend:payments:ledger"
	if !e.allowed(t, dave, "codeviewer", ledger) || e.allowed(t, dave, "securityhotspotadmin", ledger) {
		t.Fatal("dave's rights before the custom mapping are not Reporter's")
	}

	for _, tc := range []struct {
		name, method, path, body, want string
		status                         int
	}{
		{"remove a base role", "DELETE", "/Developer", "", "base role", 400},
		{"change an unknown role", "PATCH", "/Nobody", `{"permissions":{"scan":true}}`, "no mapping", 404},
		{"unknown permission", "PATCH", "/Developer", `{"permissions":{"deploy":true}}`, "Unknown permission 'deploy'", 400},
		{"permissions not an object", "PATCH", "/Developer", `{"permissions":true}`, "'permissions' field must be", 400},
		{"custom role without a name", "POST", "", `{"role":" ","permissions":{}}`, "custom role", 400},
		{"base role added again", "POST", "", `{"role":"guest","permissions":{"user":true}}`, "already has a mapping", 409},
	} {
		if st, body := callJSON(t, tc.method, e.base+v2Mappings+tc.path, tc.body, e.admin); st != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s = %d %s, want %d with %q", tc.name, st, body, tc.status, tc.want)
		}
	}

	st, body := callJSON(t, "POST", e.base+v2Mappings, `{"role":"Security auditor","permissions":{"user":true,"codeViewer":true,"securityHotspotAdmin":true}}`, e.admin)
	if got := decode[permissionMappingV2](t, body); st != 200 || got.BaseRole || got.ID != "Security auditor" || !got.Permissions["securityHotspotAdmin"] || got.Permissions["scan"] {
		t.Fatalf("add custom role = %d %s", st, body)
	}
	if st, body := callJSON(t, "POST", e.base+v2Mappings, `{"role":"Security auditor","permissions":{}}`, e.admin); st != 409 {
		t.Fatalf("custom role added twice = %d %s", st, body)
	}
	st, body = callJSON(t, "PATCH", e.base+v2Mappings+"/Reporter", `{"permissions":{"codeViewer":false}}`, e.admin)
	if got := decode[permissionMappingV2](t, body); st != 200 || got.Permissions["codeViewer"] || !got.Permissions["user"] {
		t.Fatalf("patch Reporter = %d %s", st, body)
	}
	// The same mapping through api/provisioning/settings.
	if got := e.setting(t, "roleMapping"); !strings.Contains(got, `"Security auditor":["codeviewer","securityhotspotadmin","user"]`) || !strings.Contains(got, `"Reporter":["user"]`) {
		t.Fatalf("roleMapping setting = %s", got)
	}
	syncSource(t, e.base, e.admin, "gitlab")
	if !e.allowed(t, dave, "securityhotspotadmin", ledger) {
		t.Fatal("the custom role's mapping did not reach dave after a sync")
	}

	if st, body := call(t, "DELETE", e.base+v2Mappings+"/"+url.PathEscape("Security auditor"), nil, e.admin); st != 204 {
		t.Fatalf("remove custom role = %d %s", st, body)
	}
	if _, ok := mappings()["Security auditor"]; ok {
		t.Fatal("the custom role is still listed")
	}
	syncSource(t, e.base, e.admin, "gitlab")
	// Back to his base role, Reporter, which now only browses.
	if e.allowed(t, dave, "securityhotspotadmin", ledger) || e.allowed(t, dave, "codeviewer", ledger) || !e.allowed(t, dave, "user", ledger) {
		t.Fatal("dave's rights after the custom role went are not the changed Reporter's")
	}
}

// TestGitLabSignUpAndSwitchOff: with allowUsersToSignUp off only users who
// exist sign in through GitLab; with enabled off GitLab sign-in is neither
// offered nor accepted and no sync is scheduled, its settings kept.
func TestGitLabSignUpAndSwitchOff(t *testing.T) {
	e := startGitLab(t)
	st, body := callJSON(t, "POST", e.base+v2Configs, e.createBody(gitlabSyncToken, "acme", "partners"), e.admin)
	if st != 200 {
		t.Fatalf("create = %d %s", st, body)
	}
	waitSourceRun(t, e.base, e.admin, "gitlab", "")
	// ivan is in no allowed group at the sync; he joins acme afterwards.
	if _, ok := e.user(t, "ivan"); ok {
		t.Fatal("ivan exists before his sign-in")
	}
	if err := e.sim.Update(func(f *gitlabsim.Fixture) {
		for i := range f.Groups {
			if f.Groups[i].FullPath == "acme" {
				f.Groups[i].Members = append(f.Groups[i].Members, gitlabsim.Member{User: "ivan", AccessLevel: 20})
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if st, body := newGitLabBrowser(t).signIn(e.base, "ivan"); st != 401 || !strings.Contains(body, "no account in Gatehouse") {
		t.Fatalf("ivan's sign-up with allowUsersToSignUp off = %d %s", st, body)
	}
	if _, ok := e.user(t, "ivan"); ok {
		t.Fatal("a refused sign-up created the user")
	}
	if st, body := newGitLabBrowser(t).signIn(e.base, "bob"); st != 302 {
		t.Fatalf("bob (provisioned) = %d %s", st, body)
	}
	if st, body := callJSON(t, "PATCH", e.base+v2Configs+"/gitlab-configuration", `{"allowUsersToSignUp":true}`, e.admin); st != 200 {
		t.Fatalf("allow sign-up = %d %s", st, body)
	}
	if st, body := newGitLabBrowser(t).signIn(e.base, "ivan"); st != 302 {
		t.Fatalf("ivan's sign-up allowed = %d %s", st, body)
	}

	// Switched off: not listed, not accepted, no sync; settings kept.
	if st, body := callJSON(t, "PATCH", e.base+v2Configs+"/gitlab-configuration", `{"enabled":false}`, e.admin); st != 200 || !strings.Contains(body, `"enabled":false`) {
		t.Fatalf("disable = %d %s", st, body)
	}
	if _, body := call(t, "GET", e.base+"api/users/identity_providers", nil, nil); strings.Contains(body, "gitlab") {
		t.Fatalf("identity_providers lists a disabled GitLab: %s", body)
	}
	b := newGitLabBrowser(t)
	if st, _, body := b.get(e.base + "api/authentication/gitlab/login"); st == 302 {
		t.Fatalf("GitLab sign-in starts while disabled: %s", body)
	}
	if _, body := call(t, "GET", e.base+"api/provisioning/status?source=gitlab", nil, e.admin); !strings.Contains(body, `"enabled":false`) {
		t.Fatalf("status while disabled = %s", body)
	}
	if groups := e.groupNames(t, "acme"); len(groups) != 0 {
		t.Fatalf("GitLab groups left after disabling: %v", groups)
	}
	if got := e.setting(t, "allowedGroups"); got != "acme,partners" {
		t.Fatalf("disabling lost allowedGroups: %q", got)
	}
}
