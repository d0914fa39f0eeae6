package webapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// Bulk actions live under api/bulk, Gatehouse's own namespace like
// api/organization_tokens and api/authz: a bulk_* name inside SonarQube's
// namespaces (as its bulk_apply_template) could collide with an action a
// future SonarQube adds with other semantics. Each action batches the
// SonarQube action it is named after (api/bulk/add_group_members ↔
// api/user_groups/add_user), item for item with that action's rules and
// messages.
func (a *API) bulkRoutes() []Route {
	params := []Param{
		{Name: "atomic", Values: boolValues, Default: "false", Desc: "true: all items or none (400 when any item fails); false: each item on its own"},
	}
	userParams := append([]Param{
		{Name: "existing", Values: []string{"fail", "skip"}, Default: "fail", Desc: "An already active login fails its item, or is skipped as unchanged (re-runnable imports)"},
	}, params...)
	summary := fmt.Sprintf(" The body is JSON {\"items\":[…]}, at most %d items; the answer lists each item's status (changed, unchanged, failed, notWritten) and SonarQube-style errors: {\"summary\":{…},\"results\":[{\"index\",\"status\",\"errors\"?}]}.", state.MaxBulkItems)
	return []Route{
		{Method: http.MethodPost, Path: "api/bulk/create_users", Access: admin, Params: userParams, Out: bulkResultsJSON{}, In: obj{"items": []bulkUserJSON{}}, Handle: a.bulkCreateUsers,
			Summary: "Create many local users: items {login, name, email?, scmAccounts?, password?}; without a password a user cannot sign in with one until an administrator sets it (api/users/change_password)." + summary},
		{Method: http.MethodPost, Path: "api/bulk/add_group_members", Access: admin, Params: params, Out: bulkResultsJSON{}, In: obj{"items": []bulkMemberJSON{}}, Handle: a.bulkAddMembers,
			Summary: "Add many users to groups: items {group, login}, as api/user_groups/add_user." + summary},
		{Method: http.MethodPost, Path: "api/bulk/add_permissions", Access: admin, Params: params, Out: bulkResultsJSON{}, In: obj{"items": []bulkPermissionJSON{}}, Handle: a.bulkAddPermissions,
			Summary: "Grant many permissions: items {login | group, permission, projectKey?} (no project: global), as api/permissions/add_user and add_group." + summary},
	}
}

// bulkItems decodes the JSON body {"items":[…]} into items.
func bulkItems[T any](c *call) ([]T, error) {
	if mt, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type")); mt != "application/json" {
		return nil, badRequest("A bulk request's body must be JSON (Content-Type: application/json): {\"items\":[…]}")
	}
	var body struct {
		Items []T `json:"items"`
	}
	dec := json.NewDecoder(c.r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errorf(http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than %d bytes", c.api.opts.MaxBodyBytes))
		}
		return nil, badRequest("The request body is not a valid bulk request: " + safeParseError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("The request body holds more than one JSON value")
	}
	if len(body.Items) == 0 {
		return nil, badRequest("The 'items' list is missing or empty")
	}
	if len(body.Items) > state.MaxBulkItems {
		return nil, badRequest(fmt.Sprintf("A bulk request holds at most %d items, got %d", state.MaxBulkItems, len(body.Items)))
	}
	return body.Items, nil
}

func bulkOptions(c *call) state.BulkOptions {
	atomic, _ := c.boolean("atomic")
	return state.BulkOptions{Atomic: atomic, SkipExisting: c.str("existing") == "skip"}
}

type bulkResultJSON struct {
	Index  int        `json:"index"`
	Status string     `json:"status"`
	Errors []errorMsg `json:"errors,omitempty"`
}

type bulkSummaryJSON struct {
	Total     int `json:"total"`
	Changed   int `json:"changed"`
	Unchanged int `json:"unchanged"`
	Failed    int `json:"failed"`
}

// bulkResultsJSON is a bulk action's answer: 200, or 400 with errors when
// the request was refused as a whole.
type bulkResultsJSON struct {
	Errors  []errorMsg       `json:"errors,omitempty"`
	Summary bulkSummaryJSON  `json:"summary"`
	Results []bulkResultJSON `json:"results"`
}

func (bulkResultsJSON) sentOnRefusal() {}

// bulkAnswer merges the items refused before the write (early, by index)
// with the write's results. An atomic refusal answers 400 with the results.
func bulkAnswer(c *call, n int, early map[int]error, res []state.ItemResult, werr error) (any, error) {
	if werr != nil && !errors.Is(werr, state.ErrBulkRefused) {
		return nil, werr
	}
	refused := werr != nil || (bulkOptions(c).Atomic && len(early) > 0)
	out := bulkResultsJSON{Summary: bulkSummaryJSON{Total: n}, Results: make([]bulkResultJSON, n)}
	j := 0
	for i := range n {
		r := bulkResultJSON{Index: i}
		var err error
		if e, ok := early[i]; ok {
			err = e
		} else {
			if res != nil {
				err = res[j].Err
				if err == nil && res[j].Changed {
					r.Status = "changed"
				}
			}
			j++
		}
		switch {
		case err != nil:
			r.Status = "failed"
			r.Errors = []errorMsg{{Msg: itemMessage(err)}}
			out.Summary.Failed++
		case refused:
			r.Status = "notWritten"
		case r.Status == "changed":
			out.Summary.Changed++
		default:
			r.Status = "unchanged"
			out.Summary.Unchanged++
		}
		out.Results[i] = r
	}
	if refused {
		out.Errors = []errorMsg{{Msg: fmt.Sprintf("%d of %d items were refused; nothing was written", out.Summary.Failed, n)}}
		writeJSON(c.w, http.StatusBadRequest, out)
		return raw{}, nil
	}
	return out, nil
}

type bulkUserJSON struct {
	Login       string   `json:"login"`
	Name        string   `json:"name"`
	Email       string   `json:"email"`
	SCMAccounts []string `json:"scmAccounts"`
	Password    string   `json:"password"`
}

func (a *API) bulkCreateUsers(c *call) (any, error) {
	items, err := bulkItems[bulkUserJSON](c)
	if err != nil {
		return nil, err
	}
	ns := make([]state.NewUser, len(items))
	for i, it := range items {
		ns[i] = state.NewUser{Login: it.Login, Name: it.Name, Email: it.Email, SCMAccounts: it.SCMAccounts, Password: it.Password}
	}
	res, err := a.st.CreateUsers(c.ctx, ns, bulkOptions(c))
	return bulkAnswer(c, len(items), nil, res, err)
}

type bulkMemberJSON struct {
	Group string `json:"group"`
	Login string `json:"login"`
}

func (a *API) bulkAddMembers(c *call) (any, error) {
	items, err := bulkItems[bulkMemberJSON](c)
	if err != nil {
		return nil, err
	}
	early := map[int]error{}
	var ms []state.MemberChange
	for i, it := range items {
		// The rule of api/user_groups/add_user that lives in this layer.
		if _, err := a.activeUser(c, it.Login, "Could not find a user with login '%s'"); err != nil {
			if statusOf(err) >= 500 {
				return nil, err
			}
			early[i] = err
			continue
		}
		ms = append(ms, state.MemberChange{Group: it.Group, Login: it.Login})
	}
	return a.bulkWrite(c, len(items), early, len(ms), func(opts state.BulkOptions) ([]state.ItemResult, error) {
		return a.st.AddMembers(c.ctx, ms, opts)
	})
}

// bulkWrite runs the state's bulk write for the items that passed this
// layer's rules; an atomic request with early refusals writes nothing.
func (a *API) bulkWrite(c *call, n int, early map[int]error, pass int, write func(state.BulkOptions) ([]state.ItemResult, error)) (any, error) {
	opts := bulkOptions(c)
	if pass == 0 || opts.Atomic && len(early) > 0 {
		return bulkAnswer(c, n, early, nil, nil)
	}
	res, err := write(opts)
	return bulkAnswer(c, n, early, res, err)
}

type bulkPermissionJSON struct {
	Login      string `json:"login"`
	Group      string `json:"group"`
	Permission string `json:"permission"`
	ProjectKey string `json:"projectKey"`
}

func (a *API) bulkAddPermissions(c *call) (any, error) {
	items, err := bulkItems[bulkPermissionJSON](c)
	if err != nil {
		return nil, err
	}
	projects := map[string]*identity.Project{}
	early := map[int]error{}
	var gs []identity.Grant
	for i, it := range items {
		g, err := a.bulkGrant(c, projects, it)
		if err != nil {
			if statusOf(err) >= 500 {
				return nil, err
			}
			early[i] = err
			continue
		}
		gs = append(gs, g)
	}
	return a.bulkWrite(c, len(items), early, len(gs), func(opts state.BulkOptions) ([]state.ItemResult, error) {
		return a.st.AddGrants(c.ctx, gs, opts)
	})
}

// bulkGrant resolves one item with the rules of api/permissions/add_user
// and add_group (the caller is a global administrator).
func (a *API) bulkGrant(c *call, projects map[string]*identity.Project, it bulkPermissionJSON) (identity.Grant, error) {
	var proj *identity.Project
	if it.ProjectKey != "" {
		var ok bool
		if proj, ok = projects[it.ProjectKey]; !ok {
			p, err := a.st.Store().GetProjectByKey(c.ctx, it.ProjectKey)
			if errors.Is(err, identity.ErrNotFound) {
				return identity.Grant{}, identity.Errorf(identity.ErrNotFound, "Component key '%s' not found", it.ProjectKey)
			}
			if err != nil {
				return identity.Grant{}, err
			}
			proj = &p
			projects[it.ProjectKey] = proj
		}
	}
	perm, err := permParse(it.Permission, proj)
	if err != nil {
		return identity.Grant{}, err
	}
	var sub identity.Subject
	switch {
	case (it.Login == "") == (it.Group == ""):
		return identity.Grant{}, identity.Errorf(identity.ErrInvalid, "An item names either a 'login' or a 'group'")
	case it.Login != "":
		u, err := a.st.ActiveUser(c.ctx, it.Login)
		if err != nil {
			return identity.Grant{}, err
		}
		sub = identity.UserSubject(u.ID)
	default:
		if sub, _, err = a.st.GroupSubject(c.ctx, it.Group); err != nil {
			return identity.Grant{}, err
		}
	}
	if _, err := state.CheckGrantEdit(proj, sub, "", perm, true, true); err != nil {
		return identity.Grant{}, err
	}
	g := identity.Grant{Subject: sub, Permission: perm}
	if proj != nil {
		g.ProjectID = proj.ID
	}
	return g, nil
}

// itemMessage is the client-facing message of an item's refusal, as
// writeError words it.
func itemMessage(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.msg
	}
	return identity.Message(err)
}
