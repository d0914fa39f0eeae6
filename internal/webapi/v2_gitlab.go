package webapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	gitlabconn "github.com/gatehouse-dev/gatehouse/internal/connector/gitlab"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
)

// SonarQube's v2 API for GitLab provisioning (what its UI and automation
// call), served over the same settings as api/provisioning/settings with
// source=gitlab: each field of a configuration is one setting, so both APIs
// read and change one configuration, checked on save the same way.
const (
	v2GitLabConfigs  = "api/v2/dop-translation/gitlab-configurations"
	v2GitLabRuns     = "api/v2/dop-translation/gitlab-synchronization-runs"
	v2GitLabMappings = "api/v2/dop-translation/gitlab-permission-mappings"

	// gitlabConfigID is the id of the one configuration (SonarQube
	// supports a single one too; its id is opaque to clients).
	gitlabConfigID = "gitlab-configuration"

	provisioningJIT  = "JIT"
	provisioningAuto = "AUTO_PROVISIONING"
)

// v2GitLabConfigJSON is a configuration resource; the secret and the
// provisioning token are write-only.
type v2GitLabConfigJSON struct {
	ID                 string   `json:"id"`
	Enabled            bool     `json:"enabled"`
	ApplicationID      string   `json:"applicationId"`
	URL                string   `json:"url"`
	SynchronizeGroups  bool     `json:"synchronizeGroups"`
	ProvisioningType   string   `json:"provisioningType"`
	AllowUsersToSignUp bool     `json:"allowUsersToSignUp"`
	AllowedGroups      []string `json:"allowedGroups"`
	ErrorMessage       string   `json:"errorMessage,omitempty"`
}

// v2GitLabField is one field of a configuration body and its setting.
type v2GitLabField struct {
	json, setting string
	kind          string // "boolean", "string", "array", "provisioningType"
}

// schemaType is the field's JSON schema type.
func (f v2GitLabField) schemaType() string {
	if f.kind == "provisioningType" {
		return "string"
	}
	return f.kind
}

var v2GitLabFields = []v2GitLabField{
	{"enabled", gitlabconn.SettingEnabled, "boolean"},
	{"applicationId", gitlabconn.SettingApplicationID, "string"},
	{"url", gitlabconn.SettingURL, "string"},
	{"secret", gitlabconn.SettingSecret, "string"},
	{"synchronizeGroups", gitlabconn.SettingJITEnabled, "boolean"},
	{"allowedGroups", gitlabconn.SettingAllowedGroups, "array"},
	{"provisioningType", gitlabconn.SettingSyncEnabled, "provisioningType"},
	{"provisioningToken", gitlabconn.SettingToken, "string"},
	{"allowUsersToSignUp", gitlabconn.SettingAllowSignUp, "boolean"},
}

// v2PermissionMappingJSON is one GitLab role's project permissions.
type v2PermissionMappingJSON struct {
	ID          string           `json:"id"`
	Role        string           `json:"role"`
	BaseRole    bool             `json:"baseRole"`
	Permissions v2PermissionsSet `json:"permissions"`
}

// v2PermissionsSet is SonarQube's v2 spelling of the project permissions.
type v2PermissionsSet struct {
	User                 bool `json:"user"`
	CodeViewer           bool `json:"codeViewer"`
	IssueAdmin           bool `json:"issueAdmin"`
	SecurityHotspotAdmin bool `json:"securityHotspotAdmin"`
	Admin                bool `json:"admin"`
	Scan                 bool `json:"scan"`
}

// v2PermissionField pairs a v2 field with its permission.
type v2PermissionField struct {
	json string
	perm identity.Permission
	get  func(*v2PermissionsSet) *bool
}

var v2PermissionFields = []v2PermissionField{
	{"user", identity.PermUser, func(s *v2PermissionsSet) *bool { return &s.User }},
	{"codeViewer", identity.PermCodeViewer, func(s *v2PermissionsSet) *bool { return &s.CodeViewer }},
	{"issueAdmin", identity.PermIssueAdmin, func(s *v2PermissionsSet) *bool { return &s.IssueAdmin }},
	{"securityHotspotAdmin", identity.PermSecurityHotspotAdmin, func(s *v2PermissionsSet) *bool { return &s.SecurityHotspotAdmin }},
	{"admin", identity.PermAdmin, func(s *v2PermissionsSet) *bool { return &s.Admin }},
	{"scan", identity.PermScan, func(s *v2PermissionsSet) *bool { return &s.Scan }},
}

func (a *API) v2GitLabRoutes() []v2Route {
	body := map[string]string{}
	for _, f := range v2GitLabFields {
		body[f.json] = f.schemaType()
	}
	perms := map[string]string{"permissions": "object"}
	return []v2Route{
		{Method: "GET", Pattern: v2GitLabConfigs, Summary: "The GitLab configuration, as a list of at most one (SonarQube's shape); the same settings as api/provisioning/settings?source=gitlab.",
			Access: admin, Status: http.StatusOK, Out: obj{"gitlabConfigurations": []v2GitLabConfigJSON{}, "page": v2Page{}}, Handle: a.v2ListGitLabConfigs},
		{Method: "POST", Pattern: v2GitLabConfigs, Summary: "Create the GitLab configuration (there is one at most). The provisioning token is checked against GitLab before it is saved: reachable, valid, with read_api.",
			Access: admin, Status: http.StatusOK, Body: body, Required: []string{"enabled", "applicationId", "url", "secret", "synchronizeGroups", "provisioningType"},
			Out: v2GitLabConfigJSON{}, Handle: a.v2CreateGitLabConfig},
		{Method: "GET", Pattern: v2GitLabConfigs + "/{id}", Summary: "The GitLab configuration by id (gitlab-configuration).",
			Access: admin, Status: http.StatusOK, Out: v2GitLabConfigJSON{}, Handle: a.v2GetGitLabConfig},
		{Method: "PATCH", Pattern: v2GitLabConfigs + "/{id}", Summary: "Change the GitLab configuration (JSON merge patch; null resets a field to its default). Switching provisioningType from AUTO_PROVISIONING to JIT, or enabled to false, removes the GitLab-managed groups, as SonarQube does.",
			Access: admin, Status: http.StatusOK, Body: body, Out: v2GitLabConfigJSON{}, Handle: a.v2PatchGitLabConfig},
		{Method: "DELETE", Pattern: v2GitLabConfigs + "/{id}", Summary: "Delete the GitLab configuration: every GitLab setting back to its default; GitLab-managed groups are removed if it provisioned automatically.",
			Access: admin, Status: http.StatusNoContent, Handle: a.v2DeleteGitLabConfig},
		{Method: "POST", Pattern: v2GitLabRuns, Summary: "Start a GitLab synchronization now (202); a request while one is pending queues nothing and says so.",
			Access: admin, Status: http.StatusAccepted, Out: obj{"run": syncRunJSON{}, "alreadyPending": true, "message?": ""}, Handle: a.v2StartGitLabRun},
		{Method: "GET", Pattern: v2GitLabMappings, Summary: "GitLab roles and the project permissions each grants: base roles, then custom roles.",
			Access: admin, Status: http.StatusOK, Out: obj{"permissionMappings": []v2PermissionMappingJSON{}}, Handle: a.v2ListPermissionMappings},
		{Method: "POST", Pattern: v2GitLabMappings, Summary: "Add a mapping for a GitLab custom role, named as in GitLab.",
			Access: admin, Status: http.StatusOK, Body: map[string]string{"role": "string", "permissions": "object"}, Required: []string{"role", "permissions"},
			Out: v2PermissionMappingJSON{}, Handle: a.v2CreatePermissionMapping},
		{Method: "PATCH", Pattern: v2GitLabMappings + "/{role}", Summary: "Change the permissions of a role (only the permissions given change).",
			Access: admin, Status: http.StatusOK, Body: perms, Required: []string{"permissions"}, Out: v2PermissionMappingJSON{}, Handle: a.v2PatchPermissionMapping},
		{Method: "DELETE", Pattern: v2GitLabMappings + "/{role}", Summary: "Remove a custom role's mapping (its members then get their base role's permissions); base roles cannot be removed.",
			Access: admin, Status: http.StatusNoContent, Handle: a.v2DeletePermissionMapping},
	}
}

// gitlabProvisioner is the engine, when it has the GitLab source.
func (a *API) gitlabProvisioner() (Provisioner, error) {
	p := a.opts.Provisioner
	if p == nil || !slices.Contains(p.Sources(), identity.SourceGitLab) {
		return nil, errNoGitLab
	}
	return p, nil
}

// gitlabSettings reads the GitLab settings by name, and whether any is
// set (a configuration exists).
func (a *API) gitlabSettings(c *call) (Provisioner, map[string]provision.SettingValue, bool, error) {
	p, err := a.gitlabProvisioner()
	if err != nil {
		return nil, nil, false, err
	}
	vals, err := p.Settings(c.ctx, identity.SourceGitLab)
	if err != nil {
		return nil, nil, false, err
	}
	out := map[string]provision.SettingValue{}
	exists := false
	for _, v := range vals {
		out[v.Name] = v
		exists = exists || v.IsSet
	}
	return p, out, exists, nil
}

func (a *API) viewGitLabConfig(c *call, p Provisioner, vals map[string]provision.SettingValue) (v2GitLabConfigJSON, error) {
	on := func(name string) bool { b, _ := strconv.ParseBool(vals[name].Value); return b }
	out := v2GitLabConfigJSON{
		ID: gitlabConfigID, Enabled: on(gitlabconn.SettingEnabled), ApplicationID: vals[gitlabconn.SettingApplicationID].Value,
		URL: vals[gitlabconn.SettingURL].Value, SynchronizeGroups: on(gitlabconn.SettingJITEnabled),
		ProvisioningType: provisioningJIT, AllowUsersToSignUp: on(gitlabconn.SettingAllowSignUp), AllowedGroups: []string{},
	}
	if on(gitlabconn.SettingSyncEnabled) {
		out.ProvisioningType = provisioningAuto
	}
	for g := range strings.SplitSeq(vals[gitlabconn.SettingAllowedGroups].Value, ",") {
		if g = strings.TrimSpace(g); g != "" {
			out.AllowedGroups = append(out.AllowedGroups, g)
		}
	}
	// errorMessage: why automatic provisioning cannot run, or why its last
	// run failed.
	st, err := p.Status(c.ctx, identity.SourceGitLab)
	if err != nil {
		return out, err
	}
	switch {
	case out.Enabled && out.ProvisioningType == provisioningAuto && !st.Enabled:
		out.ErrorMessage = st.Reason
	case st.Last != nil && st.Last.Status == identity.SyncFailed && len(st.Last.Errors) > 0:
		out.ErrorMessage = st.Last.Errors[0]
	}
	return out, nil
}

func (a *API) v2ListGitLabConfigs(c *call) (any, error) {
	p, vals, exists, err := a.gitlabSettings(c)
	if errors.Is(err, errNoGitLab) {
		exists, err = false, nil
	}
	if err != nil {
		return nil, err
	}
	list := []v2GitLabConfigJSON{}
	if exists {
		cfg, err := a.viewGitLabConfig(c, p, vals)
		if err != nil {
			return nil, err
		}
		list = append(list, cfg)
	}
	return map[string]any{"gitlabConfigurations": list, "page": v2Page{PageIndex: 1, PageSize: max(len(list), 1), Total: len(list)}}, nil
}

var errNoGitLab = errorf(http.StatusNotFound, "GitLab provisioning is not available on this instance")

// gitlabConfigByID checks the {id} and that the configuration exists.
func (a *API) gitlabConfigByID(c *call) (Provisioner, map[string]provision.SettingValue, error) {
	p, vals, exists, err := a.gitlabSettings(c)
	if err != nil {
		return nil, nil, err
	}
	if id := c.r.PathValue("id"); id != gitlabConfigID || !exists {
		return nil, nil, errorf(http.StatusNotFound, fmt.Sprintf("GitLab configuration '%s' not found", clip(id)))
	}
	return p, vals, nil
}

func (a *API) v2GetGitLabConfig(c *call) (any, error) {
	p, vals, err := a.gitlabConfigByID(c)
	if err != nil {
		return nil, err
	}
	return a.viewGitLabConfig(c, p, vals)
}

// gitlabChanges turns a configuration body into setting changes; with
// patch, null resets a field to its default.
func gitlabChanges(body map[string]json.RawMessage, patch bool) (map[string]string, error) {
	changes := map[string]string{}
	for _, f := range v2GitLabFields {
		raw, ok := body[f.json]
		if !ok {
			continue
		}
		if string(raw) == "null" {
			if !patch {
				return nil, badRequest(fmt.Sprintf("The '%s' field cannot be null", f.json))
			}
			changes[f.setting] = ""
			continue
		}
		switch f.kind {
		case "boolean":
			var b bool
			if err := jsonUnmarshalField(raw, &b, f.json, "true or false"); err != nil {
				return nil, err
			}
			changes[f.setting] = strconv.FormatBool(b)
		case "string":
			var s string
			if err := jsonUnmarshalField(raw, &s, f.json, "a string"); err != nil {
				return nil, err
			}
			if err := checkText(f.json, s); err != nil {
				return nil, err
			}
			if s == "" && !patch {
				continue
			}
			changes[f.setting] = s
		case "array":
			var list []string
			if err := jsonUnmarshalField(raw, &list, f.json, "an array of strings"); err != nil {
				return nil, err
			}
			for _, g := range list {
				if err := checkText(f.json, g); err != nil {
					return nil, err
				}
				if strings.Contains(g, ",") {
					return nil, badRequest(fmt.Sprintf("The '%s' field: '%s' is not a GitLab group path", f.json, clip(g)))
				}
			}
			changes[f.setting] = strings.Join(list, ",")
		case "provisioningType":
			var s string
			if err := jsonUnmarshalField(raw, &s, f.json, "JIT or AUTO_PROVISIONING"); err != nil {
				return nil, err
			}
			switch s {
			case provisioningAuto:
				changes[f.setting] = "true"
			case provisioningJIT:
				changes[f.setting] = "false"
			default:
				return nil, badRequest(fmt.Sprintf("The 'provisioningType' field must be JIT or AUTO_PROVISIONING, not '%s'", clip(s)))
			}
		}
	}
	return changes, nil
}

// checkText refuses what no setting can hold: invalid UTF-8, NUL, and
// values longer than a parameter may be.
func checkText(field, s string) error {
	if !validText(s) {
		return badRequest(fmt.Sprintf("The '%s' field is not valid text of at most %d characters", field, maxParamLen))
	}
	return nil
}

func (a *API) v2CreateGitLabConfig(c *call) (any, error) {
	p, _, exists, err := a.gitlabSettings(c)
	if err != nil {
		return nil, err
	}
	var body map[string]json.RawMessage
	if err := c.jsonBody(&body); err != nil {
		return nil, err
	}
	for _, f := range []string{"enabled", "applicationId", "url", "secret", "synchronizeGroups", "provisioningType"} {
		if raw, ok := body[f]; !ok || string(raw) == "null" {
			return nil, badRequest(fmt.Sprintf("The '%s' field is required", f))
		}
	}
	if exists {
		return nil, errorf(http.StatusConflict, "A GitLab configuration already exists; only one is supported: change it with PATCH "+v2GitLabConfigs+"/"+gitlabConfigID)
	}
	changes, err := gitlabChanges(body, false)
	if err != nil {
		return nil, err
	}
	// SonarQube creates a configuration without sign-up unless asked.
	if _, ok := changes[gitlabconn.SettingAllowSignUp]; !ok {
		changes[gitlabconn.SettingAllowSignUp] = "false"
	}
	return a.saveGitLabConfig(c, p, changes)
}

func (a *API) v2PatchGitLabConfig(c *call) (any, error) {
	p, _, err := a.gitlabConfigByID(c)
	if err != nil {
		return nil, err
	}
	body, err := c.mergePatch()
	if err != nil {
		return nil, err
	}
	changes, err := gitlabChanges(body, true)
	if err != nil {
		return nil, err
	}
	return a.saveGitLabConfig(c, p, changes)
}

// saveGitLabConfig applies changes (checked on save by the engine) and
// answers the configuration as stored.
func (a *API) saveGitLabConfig(c *call, p Provisioner, changes map[string]string) (any, error) {
	if len(changes) > 0 {
		if err := p.SetSettings(c.ctx, identity.SourceGitLab, changes); err != nil {
			return nil, err
		}
	}
	_, vals, _, err := a.gitlabSettings(c)
	if err != nil {
		return nil, err
	}
	return a.viewGitLabConfig(c, p, vals)
}

func (a *API) v2DeleteGitLabConfig(c *call) (any, error) {
	p, vals, err := a.gitlabConfigByID(c)
	if err != nil {
		return nil, err
	}
	changes := map[string]string{}
	for name := range vals {
		changes[name] = ""
	}
	return nil, p.SetSettings(c.ctx, identity.SourceGitLab, changes)
}

func (a *API) v2StartGitLabRun(c *call) (any, error) {
	p, err := a.gitlabProvisioner()
	if err != nil {
		return nil, err
	}
	st, err := p.Status(c.ctx, identity.SourceGitLab)
	if err != nil {
		return nil, err
	}
	if !st.Enabled {
		return nil, badRequest("GitLab automatic provisioning is not enabled: " + st.Reason)
	}
	q, err := p.Queue(c.ctx, identity.SourceGitLab, false)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"run": viewSyncRun(&q.Run), "alreadyPending": q.AlreadyPending}
	if q.AlreadyPending {
		out["message"] = fmt.Sprintf("A GitLab synchronization is already pending (run %d); nothing was queued", q.Run.ID)
	}
	return out, nil
}

// roleMapping reads the effective role mapping.
func (a *API) roleMapping(c *call) (Provisioner, gitlabconn.RoleMapping, error) {
	p, vals, _, err := a.gitlabSettings(c)
	if err != nil {
		return nil, gitlabconn.RoleMapping{}, err
	}
	m, err := gitlabconn.ParseRoleMapping(vals[gitlabconn.SettingRoleMapping].Value)
	return p, m, err
}

func viewPermissionMapping(e gitlabconn.RoleEntry) v2PermissionMappingJSON {
	out := v2PermissionMappingJSON{ID: e.Role, Role: e.Role, BaseRole: e.Base}
	for _, f := range v2PermissionFields {
		*f.get(&out.Permissions) = slices.Contains(e.Permissions, f.perm)
	}
	return out
}

func (a *API) v2ListPermissionMappings(c *call) (any, error) {
	_, m, err := a.roleMapping(c)
	if err != nil {
		return nil, err
	}
	out := []v2PermissionMappingJSON{}
	for _, e := range m.Entries() {
		out = append(out, viewPermissionMapping(e))
	}
	return map[string]any{"permissionMappings": out}, nil
}

// applyPermissions changes perms by the fields of a v2 permissions object
// that are present; unknown fields are refused, naming them.
func applyPermissions(raw json.RawMessage, perms []identity.Permission) ([]identity.Permission, error) {
	var fields map[string]json.RawMessage
	if err := jsonUnmarshalField(raw, &fields, "permissions", "an object of permission to true or false"); err != nil {
		return nil, err
	}
	if fields == nil {
		return nil, badRequest("The 'permissions' field must be an object of permission to true or false")
	}
	out := slices.Clone(perms)
	for name, v := range fields {
		i := slices.IndexFunc(v2PermissionFields, func(f v2PermissionField) bool { return f.json == name })
		if i < 0 {
			return nil, badRequest(fmt.Sprintf("Unknown permission '%s'; known: user, codeViewer, issueAdmin, securityHotspotAdmin, admin, scan", clip(name)))
		}
		var on bool
		if err := jsonUnmarshalField(v, &on, "permissions."+name, "true or false"); err != nil {
			return nil, err
		}
		p := v2PermissionFields[i].perm
		out = slices.DeleteFunc(out, func(q identity.Permission) bool { return q == p })
		if on {
			out = append(out, p)
		}
	}
	return out, nil
}

// saveRoleMapping stores m and answers role's mapping from what was stored.
func (a *API) saveRoleMapping(c *call, p Provisioner, m gitlabconn.RoleMapping, role string) (any, error) {
	if err := p.SetSettings(c.ctx, identity.SourceGitLab, map[string]string{gitlabconn.SettingRoleMapping: m.String()}); err != nil {
		return nil, err
	}
	if role == "" {
		return nil, nil
	}
	_, saved, err := a.roleMapping(c)
	if err != nil {
		return nil, err
	}
	e, _ := saved.Entry(role)
	return viewPermissionMapping(e), nil
}

func (a *API) v2CreatePermissionMapping(c *call) (any, error) {
	p, m, err := a.roleMapping(c)
	if err != nil {
		return nil, err
	}
	var body map[string]json.RawMessage
	if err := c.jsonBody(&body); err != nil {
		return nil, err
	}
	var role string
	if raw, ok := body["role"]; !ok || string(raw) == "null" {
		return nil, badRequest("The 'role' field is required")
	} else if err := jsonUnmarshalField(raw, &role, "role", "a string"); err != nil {
		return nil, err
	}
	role = strings.TrimSpace(role)
	if role == "" || !validText(role) || len(role) > 255 {
		return nil, badRequest("The 'role' field must be a GitLab custom role's name")
	}
	if _, exists := m.Entry(role); exists {
		return nil, errorf(http.StatusConflict, fmt.Sprintf("Role '%s' already has a mapping: change it with PATCH %s/%s", clip(role), v2GitLabMappings, clip(role)))
	}
	raw, ok := body["permissions"]
	if !ok {
		return nil, badRequest("The 'permissions' field is required")
	}
	perms, err := applyPermissions(raw, nil)
	if err != nil {
		return nil, err
	}
	return a.saveRoleMapping(c, p, m.With(role, perms), role)
}

func (a *API) v2PatchPermissionMapping(c *call) (any, error) {
	p, m, err := a.roleMapping(c)
	if err != nil {
		return nil, err
	}
	e, ok := m.Entry(c.r.PathValue("role"))
	if !ok {
		return nil, errorf(http.StatusNotFound, fmt.Sprintf("Role '%s' has no mapping", clip(c.r.PathValue("role"))))
	}
	body, err := c.mergePatch()
	if err != nil {
		return nil, err
	}
	raw, ok := body["permissions"]
	if !ok || string(raw) == "null" {
		return nil, badRequest("The 'permissions' field is required")
	}
	perms, err := applyPermissions(raw, e.Permissions)
	if err != nil {
		return nil, err
	}
	return a.saveRoleMapping(c, p, m.With(e.Role, perms), e.Role)
}

func (a *API) v2DeletePermissionMapping(c *call) (any, error) {
	p, m, err := a.roleMapping(c)
	if err != nil {
		return nil, err
	}
	e, ok := m.Entry(c.r.PathValue("role"))
	switch {
	case !ok:
		return nil, errorf(http.StatusNotFound, fmt.Sprintf("Role '%s' has no mapping", clip(c.r.PathValue("role"))))
	case e.Base:
		return nil, badRequest(fmt.Sprintf("Deleting the mapping of base role '%s' is not allowed; change its permissions instead", e.Role))
	}
	return a.saveRoleMapping(c, p, m.Without(e.Role), "")
}
