package gitlabsim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// created is the creation time every simulated object reports.
var created = time.Date(2024, 1, 15, 9, 30, 0, 0, time.UTC).Format(time.RFC3339)

type scopeNeed int

const (
	needAPI  scopeNeed = iota // api or read_api
	needUser                  // api, read_api or read_user
	needAny
)

// caller is the authenticated user of a request.
type caller struct {
	user   *User
	scopes []string
	key    string // rate-limit key
}

func (c caller) has(need scopeNeed) bool {
	switch need {
	case needAny:
		return true
	case needUser:
		if slices.Contains(c.scopes, "read_user") {
			return true
		}
	}
	return slices.Contains(c.scopes, "api") || slices.Contains(c.scopes, "read_api")
}

type handler func(w http.ResponseWriter, r *http.Request, c caller, ix *index)

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /api/v4/user", s.api(needUser, s.currentUser))
	m.HandleFunc("GET /api/v4/personal_access_tokens/self", s.api(needAny, s.tokenSelf))
	m.HandleFunc("GET /api/v4/users", s.api(needAPI, s.listUsers))
	m.HandleFunc("GET /api/v4/users/{id}", s.api(needAPI, s.getUser))
	m.HandleFunc("GET /api/v4/groups", s.api(needAPI, s.listGroups))
	m.HandleFunc("GET /api/v4/groups/{id}", s.api(needAPI, s.getGroup))
	m.HandleFunc("GET /api/v4/groups/{id}/subgroups", s.api(needAPI, s.subgroups(false)))
	m.HandleFunc("GET /api/v4/groups/{id}/descendant_groups", s.api(needAPI, s.subgroups(true)))
	m.HandleFunc("GET /api/v4/groups/{id}/members", s.api(needAPI, s.groupMembers(relDirect)))
	m.HandleFunc("GET /api/v4/groups/{id}/members/all", s.api(needAPI, s.groupMembers(groupMembersAll...)))
	m.HandleFunc("GET /api/v4/groups/{id}/projects", s.api(needAPI, s.groupProjects))
	m.HandleFunc("GET /api/v4/groups/{id}/member_roles", s.api(needAPI, s.groupMemberRoles))
	m.HandleFunc("GET /api/v4/member_roles", s.api(needAPI, s.instanceMemberRoles))
	m.HandleFunc("GET /api/v4/projects", s.api(needAPI, s.listProjects))
	m.HandleFunc("GET /api/v4/projects/{id}", s.api(needAPI, s.getProject))
	m.HandleFunc("GET /api/v4/projects/{id}/members", s.api(needAPI, s.projectMembers(relDirect)))
	m.HandleFunc("GET /api/v4/projects/{id}/members/all", s.api(needAPI, s.projectMembers(projectMembersAll...)))
	m.HandleFunc("POST /api/graphql", s.api(needAPI, s.graphQL))
	m.HandleFunc("GET /oauth/authorize", s.authorize)
	m.HandleFunc("POST /oauth/token", s.token)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
	})
	s.mux = m
}

// api authenticates the request (PRIVATE-TOKEN or Authorization: Bearer,
// personal or OAuth token), checks the token's scope, counts it against the
// rate limit and calls h with the data locked for reading.
func (s *Server) api(need scopeNeed, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		secret := r.Header.Get("PRIVATE-TOKEN")
		if secret == "" {
			if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
				secret = v
			}
		}
		s.mu.RLock()
		defer s.mu.RUnlock()
		ix := s.ix
		c, ok := s.authenticate(ix, secret)
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
			return
		}
		if !s.rateLimit(w, c.key) {
			return
		}
		if !c.has(need) {
			writeJSON(w, http.StatusForbidden, map[string]string{
				"error":             "insufficient_scope",
				"error_description": "The request requires higher privileges than provided by the access token.",
				"scope":             "api read_api",
			})
			return
		}
		h(w, r, c, ix)
	}
}

func (s *Server) authenticate(ix *index, secret string) (caller, bool) {
	if secret == "" {
		return caller{}, false
	}
	if t := ix.tokens[secret]; t != nil {
		u := ix.userByName[t.User]
		return caller{user: u, scopes: t.Scopes, key: "t:" + secret}, u.State == "active"
	}
	s.omu.Lock()
	g, ok := s.oauthTokens[secret]
	s.omu.Unlock()
	if !ok {
		return caller{}, false
	}
	u := ix.userByName[g.user]
	if u == nil || u.State != "active" {
		return caller{}, false
	}
	return caller{user: u, scopes: strings.Fields(g.scope), key: "o:" + secret}, true
}

// --- JSON shapes (GitLab's documented fields that clients read) ---

func userJSON(r *http.Request, u *User) map[string]any {
	return map[string]any{
		"id": u.ID, "username": u.Username, "name": u.Name, "state": u.State, "locked": false,
		"avatar_url": "", "web_url": baseURL(r) + "/" + u.Username,
	}
}

func (ix *index) memberJSON(r *http.Request, e effective) map[string]any {
	m := userJSON(r, e.user)
	m["access_level"] = e.level
	m["created_at"] = created
	m["expires_at"] = nil
	m["membership_state"] = "active"
	if e.role != "" {
		role := ix.roles[e.role]
		var gid any
		if role.Group != "" {
			gid = ix.groupByKey[strings.ToLower(role.Group)].ID
		}
		m["member_role"] = map[string]any{"id": role.ID, "group_id": gid, "name": role.Name, "description": "", "base_access_level": role.BaseAccessLevel}
	}
	return m
}

func (ix *index) groupJSON(r *http.Request, g *Group, detail bool) map[string]any {
	var parent any
	if p := ix.parent[g.ID]; p != nil {
		parent = p.ID
	}
	full := []string{}
	for a := g; a != nil; a = ix.parent[a.ID] {
		full = append([]string{a.Name}, full...)
	}
	m := map[string]any{
		"id": g.ID, "web_url": baseURL(r) + "/groups/" + g.FullPath, "name": g.Name, "path": lastSegment(g.FullPath),
		"description": "", "visibility": g.Visibility, "full_name": strings.Join(full, " / "), "full_path": g.FullPath,
		"parent_id": parent, "created_at": created,
	}
	if detail {
		m["shared_with_groups"] = ix.sharesJSON(g.SharedWithGroups)
	}
	return m
}

func (ix *index) sharesJSON(ss []Share) []map[string]any {
	out := []map[string]any{}
	for _, s := range ss {
		sg := ix.groupByKey[strings.ToLower(s.Group)]
		out = append(out, map[string]any{"group_id": sg.ID, "group_name": sg.Name, "group_full_path": sg.FullPath, "group_access_level": s.GroupAccessLevel, "expires_at": nil})
	}
	return out
}

func (ix *index) projectJSON(r *http.Request, p *Project) map[string]any {
	ns := ix.projNS[p.ID]
	var nsParent any
	if pp := ix.parent[ns.ID]; pp != nil {
		nsParent = pp.ID
	}
	return map[string]any{
		"id": p.ID, "description": "", "name": p.Name, "name_with_namespace": ix.groupJSON(r, ns, false)["full_name"].(string) + " / " + p.Name,
		"path": lastSegment(p.PathWithNamespace), "path_with_namespace": p.PathWithNamespace, "created_at": created,
		"last_activity_at": created, "default_branch": "main", "web_url": baseURL(r) + "/" + p.PathWithNamespace,
		"visibility": p.Visibility, "archived": false,
		"namespace":          map[string]any{"id": ns.ID, "name": ns.Name, "path": lastSegment(ns.FullPath), "kind": "group", "full_path": ns.FullPath, "parent_id": nsParent, "web_url": baseURL(r) + "/groups/" + ns.FullPath},
		"shared_with_groups": ix.sharesJSON(p.SharedWithGroups),
	}
}

// --- lookups with GitLab's visibility rules ---

// sees reports whether c may see group g: admins see all; others see
// public and internal groups and those where they are a member of the group
// or of one of its subgroups.
func (ix *index) sees(c caller, g *Group) bool {
	if c.user.Admin || g.Visibility != "private" {
		return true
	}
	if _, ok := ix.groupMembers(g, groupMembersAll...)[c.user.ID]; ok {
		return true
	}
	for _, d := range ix.descendants(g) {
		for _, m := range d.Members {
			if m.User == c.user.Username {
				return true
			}
		}
	}
	return false
}

func (ix *index) seesProject(c caller, p *Project) bool {
	if c.user.Admin || p.Visibility != "private" {
		return true
	}
	_, ok := ix.projectMembers(p, projectMembersAll...)[c.user.ID]
	return ok
}

// group resolves the {id} path value: a numeric id or a URL-encoded full
// path. An invisible group is answered like a missing one, as GitLab does.
func (ix *index) group(w http.ResponseWriter, r *http.Request, c caller) *Group {
	id := r.PathValue("id")
	var g *Group
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		g = ix.groupByID[n]
	} else {
		g = ix.groupByKey[strings.ToLower(id)]
	}
	if g == nil || !ix.sees(c, g) {
		notFound(w, "Group")
		return nil
	}
	return g
}

func (ix *index) project(w http.ResponseWriter, r *http.Request, c caller) *Project {
	id := r.PathValue("id")
	var p *Project
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		p = ix.projByID[n]
	} else {
		p = ix.projByKey[strings.ToLower(id)]
	}
	if p == nil || !ix.seesProject(c, p) {
		notFound(w, "Project")
		return nil
	}
	return p
}

// --- endpoints ---

func (s *Server) currentUser(w http.ResponseWriter, r *http.Request, c caller, ix *index) {
	m := userJSON(r, c.user)
	m["email"] = c.user.Email
	m["public_email"] = ""
	m["created_at"] = created
	m["is_admin"] = c.user.Admin
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) tokenSelf(w http.ResponseWriter, r *http.Request, c caller, ix *index) {
	writeJSON(w, http.StatusOK, map[string]any{
		"id": 1, "name": "simulated", "revoked": false, "created_at": created, "scopes": c.scopes,
		"user_id": c.user.ID, "last_used_at": nil, "active": true, "expires_at": nil,
	})
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, c caller, ix *index) {
	n, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	u := ix.userByID[n]
	if u == nil {
		notFound(w, "User")
		return
	}
	writeJSON(w, http.StatusOK, userJSON(r, u))
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, c caller, ix *index) {
	if r.URL.Query().Get("pagination") == "keyset" {
		page, ok := keysetPage(w, r, ix.users, func(u *User) int64 { return u.ID })
		if !ok {
			return
		}
		out := make([]map[string]any, 0, len(page))
		for _, u := range page {
			out = append(out, userJSON(r, u))
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	lo, hi := offsetPage(w, r, len(ix.users))
	out := make([]map[string]any, 0, hi-lo)
	for _, u := range ix.users[lo:hi] {
		out = append(out, userJSON(r, u))
	}
	writeJSON(w, http.StatusOK, out)
}

// listGroups answers GET /groups: the groups the caller sees, or with
// min_access_level those where the caller's effective level reaches it.
func (s *Server) listGroups(w http.ResponseWriter, r *http.Request, c caller, ix *index) {
	q := r.URL.Query()
	minLevel, _ := strconv.Atoi(q.Get("min_access_level"))
	topOnly := q.Get("top_level_only") == "true"
	var sel []*Group
	for _, g := range ix.groups {
		if topOnly && ix.parent[g.ID] != nil {
			continue
		}
		if minLevel > 0 {
			if e, ok := ix.groupMembers(g, groupMembersAll...)[c.user.ID]; !ok || e.level < minLevel {
				continue
			}
		} else if !ix.sees(c, g) {
			continue
		}
		sel = append(sel, g)
	}
	lo, hi := offsetPage(w, r, len(sel))
	out := make([]map[string]any, 0, hi-lo)
	for _, g := range sel[lo:hi] {
		out = append(out, ix.groupJSON(r, g, false))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request, c caller, ix *index) {
	if g := ix.group(w, r, c); g != nil {
		writeJSON(w, http.StatusOK, ix.groupJSON(r, g, true))
	}
}

func (s *Server) subgroups(all bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c caller, ix *index) {
		g := ix.group(w, r, c)
		if g == nil {
			return
		}
		sel := ix.children[g.ID]
		if all {
			sel = ix.descendants(g)
		}
		lo, hi := offsetPage(w, r, len(sel))
		out := make([]map[string]any, 0, hi-lo)
		for _, d := range sel[lo:hi] {
			out = append(out, ix.groupJSON(r, d, false))
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// members sorts resolved memberships by user id, filtered by user_ids[].
func members(r *http.Request, acc map[int64]effective) []effective {
	out := sortedByUser(acc)
	if ids := r.URL.Query()["user_ids[]"]; len(ids) > 0 {
		out = slices.DeleteFunc(out, func(e effective) bool { return !slices.Contains(ids, strconv.FormatInt(e.user.ID, 10)) })
	}
	return out
}

func (ix *index) writeMembers(w http.ResponseWriter, r *http.Request, acc map[int64]effective) {
	sel := members(r, acc)
	lo, hi := offsetPage(w, r, len(sel))
	out := make([]map[string]any, 0, hi-lo)
	for _, e := range sel[lo:hi] {
		out = append(out, ix.memberJSON(r, e))
	}
	writeJSON(w, http.StatusOK, out)
}

// groupMembers answers a group's members (DIRECT) or members/all.
func (s *Server) groupMembers(rel ...string) handler {
	return func(w http.ResponseWriter, r *http.Request, c caller, ix *index) {
		if g := ix.group(w, r, c); g != nil {
			ix.writeMembers(w, r, ix.groupMembers(g, rel...))
		}
	}
}

// projectMembers answers a project's members (DIRECT) or members/all.
func (s *Server) projectMembers(rel ...string) handler {
	return func(w http.ResponseWriter, r *http.Request, c caller, ix *index) {
		if p := ix.project(w, r, c); p != nil {
			ix.writeMembers(w, r, ix.projectMembers(p, rel...))
		}
	}
}

// groupProjects answers GET /groups/:id/projects with include_subgroups
// (default false) and with_shared (default true: projects of other
// namespaces shared with the group are listed too).
func (s *Server) groupProjects(w http.ResponseWriter, r *http.Request, c caller, ix *index) {
	g := ix.group(w, r, c)
	if g == nil {
		return
	}
	q := r.URL.Query()
	tree := map[int64]bool{g.ID: true}
	if q.Get("include_subgroups") == "true" {
		for _, d := range ix.descendants(g) {
			tree[d.ID] = true
		}
	}
	withShared := q.Get("with_shared") != "false"
	var sel []*Project
	for _, p := range ix.projects {
		in := tree[ix.projNS[p.ID].ID]
		if !in && withShared {
			for _, sh := range p.SharedWithGroups {
				if tree[ix.groupByKey[strings.ToLower(sh.Group)].ID] {
					in = true
					break
				}
			}
		}
		if in && ix.seesProject(c, p) {
			sel = append(sel, p)
		}
	}
	lo, hi := offsetPage(w, r, len(sel))
	out := make([]map[string]any, 0, hi-lo)
	for _, p := range sel[lo:hi] {
		out = append(out, ix.projectJSON(r, p))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request, c caller, ix *index) {
	var sel []*Project
	for _, p := range ix.projects {
		if ix.seesProject(c, p) {
			sel = append(sel, p)
		}
	}
	if r.URL.Query().Get("pagination") == "keyset" {
		page, ok := keysetPage(w, r, sel, func(p *Project) int64 { return p.ID })
		if !ok {
			return
		}
		out := make([]map[string]any, 0, len(page))
		for _, p := range page {
			out = append(out, ix.projectJSON(r, p))
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	lo, hi := offsetPage(w, r, len(sel))
	out := make([]map[string]any, 0, hi-lo)
	for _, p := range sel[lo:hi] {
		out = append(out, ix.projectJSON(r, p))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request, c caller, ix *index) {
	if p := ix.project(w, r, c); p != nil {
		writeJSON(w, http.StatusOK, ix.projectJSON(r, p))
	}
}

func roleJSON(ix *index, rs []*MemberRole) []map[string]any {
	out := []map[string]any{}
	for _, role := range rs {
		var gid any
		if role.Group != "" {
			gid = ix.groupByKey[strings.ToLower(role.Group)].ID
		}
		out = append(out, map[string]any{"id": role.ID, "group_id": gid, "name": role.Name, "description": "", "base_access_level": role.BaseAccessLevel})
	}
	return out
}

// groupMemberRoles answers GitLab.com's per-root-group custom roles.
func (s *Server) groupMemberRoles(w http.ResponseWriter, r *http.Request, c caller, ix *index) {
	g := ix.group(w, r, c)
	if g == nil {
		return
	}
	if ix.parent[g.ID] != nil {
		badRequest(w, "group must be a top-level group")
		return
	}
	writeJSON(w, http.StatusOK, roleJSON(ix, ix.rolesOf[g.ID]))
}

// instanceMemberRoles answers self-managed GitLab's instance custom roles
// (administrators only).
func (s *Server) instanceMemberRoles(w http.ResponseWriter, r *http.Request, c caller, ix *index) {
	if !c.user.Admin {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "403 Forbidden"})
		return
	}
	var rs []*MemberRole
	for i := range s.fix.MemberRoles {
		if s.fix.MemberRoles[i].Group == "" {
			rs = append(rs, &s.fix.MemberRoles[i])
		}
	}
	writeJSON(w, http.StatusOK, roleJSON(ix, rs))
}
