package webapi

import (
	"context"
	"strings"
	"testing"

	gitlabconn "github.com/gatehouse-dev/gatehouse/internal/connector/gitlab"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// TestV2GitLabShapes drives SonarQube's v2 GitLab actions over the real
// GitLab connector in JIT mode (no GitLab needed: only automatic
// provisioning contacts it on save), so every answer passes the test
// server's check against the OpenAPI document; the end-to-end behaviour
// against the simulator is in internal/server (TestGitLabSonarQubeV2*).
func TestV2GitLabShapes(t *testing.T) {
	s := newTestServerWith(t, nil, func(st *state.State, o *Options) {
		eng, err := provision.New(context.Background(), st, map[identity.Source]provision.SourceConfig{identity.SourceGitLab: {Connector: gitlabconn.Connector{}}}, provision.Config{Secrets: plainSealer{}})
		if err != nil {
			t.Fatal(err)
		}
		o.Provisioner = eng
	})
	const configs, runs, mappings = v2GitLabConfigs, v2GitLabRuns, v2GitLabMappings
	if body := s.v2("GET", configs, asAdmin, "").must(t, 200).body; !strings.Contains(string(body), `"gitlabConfigurations":[]`) {
		t.Fatalf("fresh list: %s", body)
	}
	s.v2("GET", configs+"/"+gitlabConfigID, asAdmin, "").must(t, 404)
	create := `{"enabled":true,"applicationId":"app","url":"https://gitlab.example.com","secret":"s3cret","synchronizeGroups":true,"provisioningType":"JIT","allowedGroups":["acme"]}`
	var cfg v2GitLabConfigJSON
	s.v2("POST", configs, asAdmin, create).must(t, 200).json(t, &cfg)
	if cfg.ID != gitlabConfigID || cfg.ProvisioningType != provisioningJIT || cfg.AllowUsersToSignUp || len(cfg.AllowedGroups) != 1 {
		t.Fatalf("created %+v", cfg)
	}
	for _, tc := range []struct {
		name, method, path, body string
		c                        cred
		status                   int
		msg                      string
	}{
		{"not admin", "GET", configs, "", cred{}, 401, "Authentication is required"},
		{"second create", "POST", configs, create, asAdmin, 409, "already exists"},
		{"wrong type", "PATCH", configs + "/" + gitlabConfigID, `{"enabled":"yes"}`, asAdmin, 400, "The 'enabled' field must be true or false"},
		{"NUL in a field", "PATCH", configs + "/" + gitlabConfigID, `{"applicationId":"a\u0000b"}`, asAdmin, 400, "not valid text"},
		{"bad URL", "PATCH", configs + "/" + gitlabConfigID, `{"url":"gitlab"}`, asAdmin, 400, "not the http(s) URL"},
		{"unknown id", "PATCH", configs + "/x", `{}`, asAdmin, 404, "GitLab configuration 'x' not found"},
		{"sync in JIT mode", "POST", runs, "", asAdmin, 400, "not enabled"},
		{"base role removed", "DELETE", mappings + "/Owner", "", asAdmin, 400, "base role 'Owner'"},
		{"unknown role", "DELETE", mappings + "/Nobody", "", asAdmin, 404, "Role 'Nobody' has no mapping"},
	} {
		if msg := s.v2(tc.method, tc.path, tc.c, tc.body).must(t, tc.status).v2Message(t); !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %q, want %q", tc.name, msg, tc.msg)
		}
	}
	s.v2("PATCH", configs+"/"+gitlabConfigID, asAdmin, `{"allowUsersToSignUp":true,"allowedGroups":null}`).must(t, 200).json(t, &cfg)
	if !cfg.AllowUsersToSignUp || len(cfg.AllowedGroups) != 0 {
		t.Fatalf("patched %+v", cfg)
	}
	var list struct {
		PermissionMappings []v2PermissionMappingJSON `json:"permissionMappings"`
	}
	s.v2("GET", mappings, asAdmin, "").must(t, 200).json(t, &list)
	if len(list.PermissionMappings) != len(gitlabconn.BaseRoles) {
		t.Fatalf("mappings %+v", list)
	}
	var m v2PermissionMappingJSON
	s.v2("POST", mappings, asAdmin, `{"role":"Auditor","permissions":{"user":true,"securityHotspotAdmin":true}}`).must(t, 200).json(t, &m)
	if m.BaseRole || !m.Permissions.SecurityHotspotAdmin || m.Permissions.Scan {
		t.Fatalf("custom %+v", m)
	}
	s.v2("PATCH", mappings+"/auditor", asAdmin, `{"permissions":{"scan":true}}`).must(t, 200).json(t, &m)
	if m.Role != "Auditor" || !m.Permissions.Scan || !m.Permissions.User {
		t.Fatalf("patched custom %+v", m)
	}
	s.v2("DELETE", mappings+"/Auditor", asAdmin, "").must(t, 204)
	s.v2("DELETE", configs+"/"+gitlabConfigID, asAdmin, "").must(t, 204)
	if body := s.v2("GET", configs, asAdmin, "").must(t, 200).body; !strings.Contains(string(body), `"gitlabConfigurations":[]`) {
		t.Fatalf("list after delete: %s", body)
	}
}
