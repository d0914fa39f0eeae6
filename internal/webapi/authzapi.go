package webapi

import (
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// authzPermissionValues are the keys api/authz accepts: every global and
// project permission. Whether a key fits the question's level (global or
// project) is checked against the index.
var authzPermissionValues = func() []string {
	var out []string
	seen := map[identity.Permission]bool{}
	for _, ps := range [][]identity.Permission{identity.GlobalPermissions, identity.ProjectPermissions} {
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				out = append(out, string(p))
			}
		}
	}
	return out
}()

func (a *API) authzRoutes() []Route {
	params := []Param{
		{Name: "permission", Required: true, Values: authzPermissionValues, Desc: "A global permission (no projectKey) or a project permission (with projectKey)."},
		{Name: "projectKey", MaxLen: 400, Desc: "The project; absent for a global question."},
		{Name: "tokenId", Int: true, Desc: "Administrators only: judge this token instead of the caller's credential."},
	}
	return []Route{
		{Method: "GET", OrgToken: true, Path: "api/authz/check", Access: authenticated, Params: params, Out: authzCheckJSON{}, Handle: a.authzCheck,
			Summary: "May the caller's credential (or, for administrators, token tokenId) use permission on projectKey, or globally? Always 200 for a valid question: {allowed, permission, projectKey (\"\" for a global question), reason}. Unknown project: 404; a permission that does not exist at that level: 400."},
		{Method: "GET", OrgToken: true, Path: "api/authz/explain", Access: authenticated, Params: params, Out: authzExplainJSON{}, Handle: a.authzExplain,
			Summary: "The same question as api/authz/check, with the chain behind the answer (token → user → group → grant, each {kind, name, detail}) or the missing link: {allowed, permission, projectKey, reason, chain, missing?}."},
	}
}

// authzQuestion reads the principal, permission and project of a check or
// explain call and asks the state, which rejects questions the index cannot
// answer ([state.State.Ask]). It reads only memory.
func (c *call) authzQuestion() (authz.Principal, identity.Permission, string, authz.Decision, error) {
	q := state.Question{Permission: identity.Permission(c.form.Get("permission")), ProjectKey: c.form.Get("projectKey")}
	if s := c.form.Get("tokenId"); s != "" {
		q.TokenID, _ = strconv.ParseInt(s, 10, 64) // validated by the route
	}
	p, d, err := c.api.st.Ask(c.ctx, c.principal, c.isAdmin(), q)
	if err != nil {
		return p, q.Permission, q.ProjectKey, d, err
	}
	c.api.metrics.decision(d.Allowed, credKind(p, c.cred))
	return p, q.Permission, q.ProjectKey, d, nil
}

// authzCheckJSON is the answer of api/authz/check.
type authzCheckJSON struct {
	Allowed    bool   `json:"allowed"`
	Permission string `json:"permission"`
	ProjectKey string `json:"projectKey"`
	Reason     string `json:"reason"`
}

func (a *API) authzCheck(c *call) (any, error) {
	p, perm, key, d, err := c.authzQuestion()
	if err != nil {
		return nil, err
	}
	return &authzCheckJSON{Allowed: d.Allowed, Permission: string(perm), ProjectKey: key, Reason: a.authzReason(p, perm, key, d)}, nil
}

// authzReason is the one-line reason of a decision. It is on the hot path
// of api/authz/check, so the common reasons are written here in one string
// allocation, with the wording of [authz.Index.ReasonText]; the others ask
// the index, whose explanation builds the whole chain. A missing grant is
// stated without listing the user's groups (api/authz/explain lists them):
// on a large instance that list costs more than the rest of the request.
func (a *API) authzReason(p authz.Principal, perm identity.Permission, key string, d authz.Decision) string {
	where := "globally"
	if key != "" {
		where = "on project '" + key + "'"
	}
	switch d.Reason {
	case authz.ReasonNoGrant:
		missing := "no grant of '" + string(perm) + "' " + where + " to user " + a.st.Index().Login(p.UserID) + ", to any of its groups, or to Anyone"
		if perm == identity.PermScan && key != "" {
			return authz.ScanDenied + " (" + missing + ")"
		}
		return "denied: " + missing
	case authz.ReasonUserGrant:
		return "allowed: granted to user " + a.st.Index().Login(p.UserID) + " " + where
	case authz.ReasonGroupGrant:
		return "allowed: " + string(perm) + " " + where + " through group " + a.st.Index().GroupName(d.GroupID)
	case authz.ReasonAnyoneGrant:
		return "allowed: " + string(perm) + " " + where + " through group " + identity.GroupAnyone
	case authz.ReasonPublicProject:
		return "allowed: public: " + string(perm) + " is implicit for everyone"
	case authz.ReasonGlobalScan:
		return "allowed: global scan, which implies scan on every project"
	case authz.ReasonTokenScope:
		return "allowed: the organization token covers the project and carries " + string(perm)
	}
	_, reason := a.st.Index().ReasonText(p, perm, key)
	return reason
}

// authzExplainJSON is the answer of api/authz/explain.
type authzExplainJSON struct {
	Allowed    bool         `json:"allowed"`
	Permission string       `json:"permission"`
	ProjectKey string       `json:"projectKey"`
	Reason     string       `json:"reason"`
	Chain      []authz.Link `json:"chain"`
	Missing    string       `json:"missing,omitempty"`
}

func (a *API) authzExplain(c *call) (any, error) {
	p, perm, key, _, err := c.authzQuestion()
	if err != nil {
		return nil, err
	}
	e := a.st.Index().Explain(p, perm, key)
	return &authzExplainJSON{Allowed: e.Allowed, Permission: string(perm), ProjectKey: key, Reason: e.Reason, Chain: e.Chain, Missing: e.Missing}, nil
}
