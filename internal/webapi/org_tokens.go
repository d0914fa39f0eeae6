package webapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/token"
)

// Limits of organization token parameters. A token may list many thousands
// of projects explicitly (SPEC §3); the request body cap (1 MiB) is the
// practical bound of one request, and addProjects lets callers go further.
const (
	orgTokenMaxProjects = 10_000
	orgTokenMaxGrace    = 30 * 24 * 60 * 60 // seconds, as state.RotateToken allows
)

// expiresInValues are the expiresIn presets: token.ExpiryPresetDays as
// "30d", "90d", "365d".
func expiresInValues() []string {
	out := make([]string, len(token.ExpiryPresetDays))
	for i, d := range token.ExpiryPresetDays {
		out[i] = strconv.Itoa(d) + "d"
	}
	return out
}

// orgTokenScopeParams are the parameters generate and update share.
func orgTokenScopeParams() []Param {
	perms := make([]string, len(identity.ProjectPermissions))
	for i, p := range identity.ProjectPermissions {
		perms[i] = string(p)
	}
	return []Param{
		{Name: "description", MaxLen: 1000, Desc: "What the token is for."},
		{Name: "permissions", MaxValues: len(perms), Desc: "Comma-separated project permissions the token carries (" + strings.Join(perms, ", ") + "); scan when absent on generate."},
		{Name: "projects", MaxValues: orgTokenMaxProjects, Desc: "Comma-separated project keys the token covers explicitly (send them in the form body when there are many). On update, replaces the explicit list."},
		{Name: "projectPattern", Multi: true, MaxLen: 500, Desc: "Regular expression over the whole project key; repeatable. On update, replaces the patterns (send it empty to clear them)."},
		{Name: "projectSet", Values: []string{"all", "public", "private"}, Desc: "Every project, including ones created later (all), every public or every private project. On update, send it empty to clear it."},
		{Name: "expiresIn", Values: expiresInValues(), Desc: "Expiry preset; excludes expirationDate."},
		{Name: "expirationDate", MaxLen: 10, Desc: "Expiry date (YYYY-MM-DD, at least tomorrow, UTC midnight); excludes expiresIn."},
	}
}

func (a *API) orgTokenRoutes() []Route {
	idParam := Param{Name: "id", Required: true, Int: true, Desc: "Organization token id."}
	generate := append([]Param{{Name: "name", Required: true, MaxLen: identity.MaxTokenNameLen, Desc: "Token name, unique among organization tokens."}}, orgTokenScopeParams()...)
	update := append([]Param{idParam, {Name: "name", MaxLen: identity.MaxTokenNameLen, Desc: "New name."}}, orgTokenScopeParams()...)
	update = append(update,
		Param{Name: "addProjects", MaxValues: orgTokenMaxProjects, Desc: "Comma-separated project keys to add to the explicit list."},
		Param{Name: "removeProjects", MaxValues: orgTokenMaxProjects, Desc: "Comma-separated project keys to remove from the explicit list."},
	)
	shape := " Answers {id, name, description, token?, createdAt, createdBy, expirationDate?, lastConnectionDate?, isExpired, permissions, scope:{projectSet, projectCount, explicitProjectCount, projectPatterns}}: expirationDate is omitted when the token never expires (as in api/user_tokens), projectSet is \"\" when the token has none; projectCount counts the projects the token covers now (set, patterns and explicit list together), explicitProjectCount the explicit list."
	return []Route{
		{Method: "POST", Path: "api/organization_tokens/generate", Access: admin, Params: generate, Out: orgTokenJSON{}, Handle: a.orgTokenGenerate,
			Summary: "Generate an organization token: not tied to a user, carrying project permissions over a project scope (explicit projects, key patterns and/or a project set). The secret is shown once." + shape},
		{Method: "POST", Path: "api/organization_tokens/update", Access: admin, Params: update, Out: orgTokenJSON{}, Handle: a.orgTokenUpdate,
			Summary: "Edit an organization token's name, description, permissions, scope or expiry; the secret stays the same. addProjects/removeProjects edit large explicit lists." + shape},
		{Method: "POST", Path: "api/organization_tokens/rotate", Access: admin, Out: orgTokenJSON{}, Handle: a.orgTokenRotate,
			Params:  []Param{idParam, {Name: "gracePeriod", Default: "0", MaxLen: 10, Desc: "Seconds the old secret stays valid (0 to 2592000); 0 invalidates it at once."}},
			Summary: "Give an organization token a new secret, shown once; the old one stays valid for gracePeriod seconds." + shape},
		{Method: "POST", Path: "api/organization_tokens/revoke", Access: admin, Params: []Param{idParam}, Response: "empty", Handle: a.orgTokenRevoke,
			Summary: "Revoke an organization token: it stops working at once and is kept for audit."},
		{Method: "GET", Path: "api/organization_tokens/search", Access: admin, Out: obj{"paging": paging{}, "organizationTokens": []orgTokenJSON{}}, Handle: a.orgTokenSearch,
			Params:  append([]Param{{Name: "q", MaxLen: identity.MaxTokenNameLen, Desc: "Substring of the name."}}, pagingParams(100, 500)...),
			Summary: "List organization tokens (never their secrets): {paging, organizationTokens:[…]}."},
		{Method: "GET", Path: "api/organization_tokens/show", Access: admin, Out: orgTokenShowJSON{}, Handle: a.orgTokenShow,
			Params: append([]Param{idParam, {Name: "explicit", Values: boolValues, Default: "false",
				Desc: "List only the token's explicit projects (those addProjects/removeProjects edit) instead of every project it covers."}}, pagingParams(100, 500)...),
			Summary: "One organization token (fields as in search) with a page of the projects it covers now (its project set, patterns and explicit list together; explicit=true: the explicit list only), in project id order: {…, projects:[{key, name}], paging}."},
	}
}

// orgTokenJSON is an organization token as the API shows it.
type orgTokenJSON struct {
	ID                 string        `json:"id"`
	Name               string        `json:"name"`
	Description        string        `json:"description"`
	Token              string        `json:"token,omitempty"`
	CreatedAt          string        `json:"createdAt"`
	CreatedBy          string        `json:"createdBy"`
	ExpirationDate     *string       `json:"expirationDate,omitempty"`
	LastConnectionDate *string       `json:"lastConnectionDate,omitempty"`
	IsExpired          bool          `json:"isExpired"`
	Permissions        []string      `json:"permissions"`
	Scope              orgTokenScope `json:"scope"`
}

type orgTokenScope struct {
	ProjectSet string `json:"projectSet"`
	// ProjectCount is the number of projects the token covers now.
	ProjectCount int `json:"projectCount"`
	// ExplicitProjectCount is the size of its explicit project list.
	ExplicitProjectCount int      `json:"explicitProjectCount"`
	ProjectPatterns      []string `json:"projectPatterns"`
}

func (a *API) viewOrgToken(t identity.Token, secret string) orgTokenJSON {
	perms := make([]string, len(t.Permissions))
	for i, p := range t.Permissions {
		perms[i] = string(p)
	}
	patterns := t.Scope.Patterns
	if patterns == nil {
		patterns = []string{}
	}
	return orgTokenJSON{
		ID: idString(t.ID), Name: t.Name, Description: t.Description, Token: secret,
		CreatedAt: formatTime(t.CreatedAt), CreatedBy: t.CreatedBy,
		ExpirationDate: optTime(t.ExpiresAt), LastConnectionDate: optTime(t.LastUsedAt),
		IsExpired:   t.Expired(a.st.Now()),
		Permissions: perms,
		Scope: orgTokenScope{ProjectSet: string(t.Scope.Set), ProjectCount: a.st.Index().CountInScope(t.ID),
			ExplicitProjectCount: t.Scope.ProjectCount, ProjectPatterns: patterns},
	}
}

// orgTokenPermissions parses the permissions parameter; only project
// permissions are accepted. The error names 'permissions', the parameter
// the caller sent (identity's message names the singular one).
func orgTokenPermissions(items []string) ([]identity.Permission, error) {
	out := make([]identity.Permission, 0, len(items))
	for _, s := range items {
		p, err := identity.ParseProjectPermission(s)
		if err != nil {
			return nil, badRequest(fmt.Sprintf("Value of parameter 'permissions' (%s) must be one of: [%s]", s, strings.Join(projectPermissionKeys(), ", ")))
		}
		out = append(out, p)
	}
	return out, nil
}

// orgTokenExpiry reads expiresIn or expirationDate; set is false when
// neither was sent.
func (c *call) orgTokenExpiry() (at time.Time, set bool, err error) {
	in, date := c.str("expiresIn"), c.str("expirationDate")
	switch {
	case in != "" && date != "":
		return time.Time{}, false, badRequest("Parameters 'expiresIn' and 'expirationDate' cannot be used together")
	case in != "":
		days, _ := strconv.Atoi(strings.TrimSuffix(in, "d"))
		at, _ := token.PresetExpiry(days, c.api.st.Now())
		return at, true, nil
	case date != "":
		d, err := token.ExpiryDate(date, c.api.st.Now())
		switch {
		case errors.Is(err, token.ErrExpiryFormat):
			return time.Time{}, false, badRequest("The 'expirationDate' parameter must be a date in the format YYYY-MM-DD, got '" + date + "'")
		case errors.Is(err, token.ErrExpiryTooEarly):
			return time.Time{}, false, badRequest("The expiration date must be in the future: the minimum value is " + token.EarliestExpiry(c.api.st.Now()).Format(sonarDate))
		}
		return d, true, nil
	}
	return time.Time{}, false, nil
}

func (a *API) orgTokenGenerate(c *call) (any, error) {
	perms, err := orgTokenPermissions(splitList(c.str("permissions")))
	if err != nil {
		return nil, err
	}
	if len(perms) == 0 {
		perms = []identity.Permission{identity.PermScan}
	}
	patterns := c.all("projectPattern")
	exp, _, err := c.orgTokenExpiry()
	if err != nil {
		return nil, err
	}
	projects, err := a.st.ProjectIDs(c.ctx, c.list("projects"))
	if err != nil {
		return nil, err
	}
	secret, t, err := a.st.GenerateOrgToken(c.ctx, state.OrgTokenSpec{
		Name: c.str("name"), Description: c.str("description"), Permissions: perms,
		Set: identity.ProjectSet(c.str("projectSet")), Patterns: patterns, Projects: projects, ExpiresAt: exp,
	})
	if err != nil {
		return nil, err
	}
	return a.viewOrgToken(t, secret), nil
}

// orgToken loads a live organization token; any other token is not found, so
// these endpoints cannot touch user or SCIM tokens.
func (a *API) orgToken(ctx context.Context, id int64) (identity.Token, error) {
	t, err := a.st.Store().GetToken(ctx, id)
	if errors.Is(err, identity.ErrNotFound) || err == nil && (t.Type != identity.TokenOrganization || t.Revoked()) {
		return t, identity.Errorf(identity.ErrNotFound, "Organization token '%d' not found", id)
	}
	return t, err
}

func (c *call) orgTokenID() int64 {
	n, _ := strconv.ParseInt(c.str("id"), 10, 64)
	return n
}

func (a *API) orgTokenUpdate(c *call) (any, error) {
	id := c.orgTokenID()
	if _, err := a.orgToken(c.ctx, id); err != nil {
		return nil, err
	}
	var upd state.OrgTokenUpdate
	if c.str("name") != "" {
		name := c.str("name")
		upd.Name = &name
	}
	upd.Description = c.opt("description")
	if c.str("permissions") != "" {
		perms, err := orgTokenPermissions(c.list("permissions"))
		if err != nil {
			return nil, err
		}
		upd.Permissions = &perms
	}
	if c.has("projectPattern") {
		patterns := c.all("projectPattern")
		upd.Patterns = &patterns
	}
	if c.has("projectSet") {
		set := identity.ProjectSet(c.form.Get("projectSet"))
		upd.Set = &set
	}
	exp, set, err := c.orgTokenExpiry()
	if err != nil {
		return nil, err
	}
	if set {
		upd.ExpiresAt = &exp
	}
	if c.has("projects") {
		ids, err := a.st.ProjectIDs(c.ctx, c.list("projects"))
		if err != nil {
			return nil, err
		}
		upd.Projects = &ids
	}
	if upd.AddProjects, err = a.st.ProjectIDs(c.ctx, c.list("addProjects")); err != nil {
		return nil, err
	}
	if upd.RemoveProjects, err = a.st.ProjectIDs(c.ctx, c.list("removeProjects")); err != nil {
		return nil, err
	}
	t, err := a.st.UpdateOrgToken(c.ctx, id, upd)
	if err != nil {
		return nil, err
	}
	return a.viewOrgToken(t, ""), nil
}

func (a *API) orgTokenRotate(c *call) (any, error) {
	grace, err := strconv.Atoi(c.str("gracePeriod"))
	if err != nil || grace < 0 || grace > orgTokenMaxGrace {
		return nil, badRequest("The 'gracePeriod' parameter must be a number of seconds between 0 and " + itoa(orgTokenMaxGrace))
	}
	id := c.orgTokenID()
	if _, err := a.orgToken(c.ctx, id); err != nil {
		return nil, err
	}
	secret, t, err := a.st.RotateToken(c.ctx, id, time.Duration(grace)*time.Second)
	if err != nil {
		return nil, err
	}
	return a.viewOrgToken(t, secret), nil
}

func (a *API) orgTokenRevoke(c *call) (any, error) {
	id := c.orgTokenID()
	if _, err := a.orgToken(c.ctx, id); err != nil {
		return nil, err
	}
	return nil, a.st.RevokeToken(c.ctx, id)
}

func (a *API) orgTokenSearch(c *call) (any, error) {
	p, ps := c.page()
	ts, total, err := a.st.Store().ListTokens(c.ctx, store.TokenFilter{
		Types: []identity.TokenType{identity.TokenOrganization}, Query: c.str("q"), Page: store.Page{Number: p, Size: ps},
	})
	if err != nil {
		return nil, err
	}
	out := make([]orgTokenJSON, len(ts))
	for i, t := range ts {
		out[i] = a.viewOrgToken(t, "")
	}
	return map[string]any{"paging": paging{PageIndex: p, PageSize: ps, Total: total}, "organizationTokens": out}, nil
}

// orgTokenShowJSON is the token with one page of its explicit projects.
type orgTokenShowJSON struct {
	orgTokenJSON
	Projects []orgTokenProjectRef `json:"projects"`
	Paging   paging               `json:"paging"`
}

type orgTokenProjectRef struct {
	Key  string `json:"key"`
	Name string `json:"name"`
}

func (a *API) orgTokenShow(c *call) (any, error) {
	t, err := a.orgToken(c.ctx, c.orgTokenID())
	if err != nil {
		return nil, err
	}
	p, ps := c.page()
	var ids []int64
	var total int
	if explicit, _ := c.boolean("explicit"); explicit {
		if ids, total, err = a.st.Store().ListTokenProjects(c.ctx, t.ID, store.Page{Number: p, Size: ps}); err != nil {
			return nil, err
		}
	} else {
		// The scope as the index decides it now: new projects of a set
		// or a pattern are in, deleted ones out.
		all := a.st.Index().ProjectsInScope(t.ID)
		slices.Sort(all)
		total = len(all)
		from := total
		if p-1 <= total/ps { // no overflow on a huge p
			from = min((p-1)*ps, total)
		}
		ids = all[from:min(from+ps, total)]
	}
	projects := make([]orgTokenProjectRef, 0, len(ids))
	if len(ids) > 0 {
		found, _, err := a.st.Store().ListProjects(c.ctx, store.ProjectFilter{IDs: ids})
		if err != nil {
			return nil, err
		}
		// Keep the listing's order (by project id) so that pages are stable.
		slices.SortFunc(found, func(x, y identity.Project) int { return cmp.Compare(x.ID, y.ID) })
		for _, pr := range found {
			projects = append(projects, orgTokenProjectRef{Key: pr.Key, Name: pr.Name})
		}
	}
	return orgTokenShowJSON{orgTokenJSON: a.viewOrgToken(t, ""), Projects: projects, Paging: paging{PageIndex: p, PageSize: ps, Total: total}}, nil
}
