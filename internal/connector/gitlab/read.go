package gitlab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go/v2"
	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
)

const perPage = 100 // GitLab's maximum

// member is one effective membership as members/all (or a project's
// members) gives it.
type member struct {
	ID              int64       `json:"id"`
	Username        string      `json:"username"`
	Name            string      `json:"name"`
	State           string      `json:"state"`
	AccessLevel     int         `json:"access_level"`
	MembershipState string      `json:"membership_state"`
	MemberRole      *memberRole `json:"member_role"`
}

type memberRole struct {
	Name string `json:"name"`
}

func (m *member) role() string {
	if m.MemberRole != nil {
		return m.MemberRole.Name
	}
	return ""
}

// counts reports whether the membership gives access: awaiting (pending
// seat approval) and Minimal access memberships do not.
func (m *member) counts() bool {
	return m.AccessLevel >= minMemberLevel && m.MembershipState != "awaiting"
}

type group struct {
	id   int64
	path string
}

type project struct {
	id         int64
	path, name string
	ns         int64
	visibility string
	shared     bool
	members    []member // direct, or all for a shared project
}

// tree is what one allowed root group holds.
type tree struct {
	groups   []group // root first
	projects []*project
	roles    []string // custom roles; nil when GitLab does not list them
}

// Read returns the allowed root groups, all their descendant groups, their
// effective members, their projects and the project permissions of those
// members, as one snapshot. Any failed request (after its retries) is an
// error: a snapshot is never smaller than GitLab's data.
func (s *source) Read(ctx context.Context) (provision.Snapshot, error) {
	c, err := newClient(s.cfg.URL, s.cfg.Token, s.opts)
	if err != nil {
		return provision.Snapshot{}, err
	}
	snap, err := s.read(ctx, c)
	s.log.LogAttrs(ctx, levelOf(err), "gitlab read", logAttrs(c, snap, err)...)
	if err != nil {
		return provision.Snapshot{}, err
	}
	return snap, nil
}

func (s *source) read(ctx context.Context, c *client) (provision.Snapshot, error) {
	trees := make([]tree, len(s.cfg.AllowedGroups))
	g, gctx := errgroup.WithContext(ctx)
	for i, path := range s.cfg.AllowedGroups {
		g.Go(func() (err error) {
			trees[i], err = readTree(gctx, c, path)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return provision.Snapshot{}, err
	}

	// Effective members of every group, and the members of projects that
	// need their own read.
	var groups []group
	var projects []*project
	for _, t := range trees {
		groups = append(groups, t.groups...)
		projects = append(projects, t.projects...)
	}
	groups = dedupe(groups, func(g group) int64 { return g.id })
	projects = dedupe(projects, func(p *project) int64 { return p.id })
	eff := make([][]member, len(groups))
	var warnings []string
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(cap(c.sem))
	if s.restMembers {
		for i, gr := range groups {
			g.Go(func() (err error) {
				eff[i], err = listMembers(gctx, c, "groups/"+strconv.FormatInt(gr.id, 10)+"/members/all", "list the members of group "+gr.path)
				return err
			})
		}
		for _, p := range projects {
			switch {
			case p.shared:
				// GitLab resolves the invited groups' members best.
				g.Go(func() (err error) {
					p.members, err = listMembers(gctx, c, "projects/"+strconv.FormatInt(p.id, 10)+"/members/all", "list the members of project "+p.path)
					return err
				})
			case s.cfg.ReadProjectMembers:
				g.Go(func() (err error) {
					p.members, err = listMembers(gctx, c, "projects/"+strconv.FormatInt(p.id, 10)+"/members", "list the direct members of project "+p.path)
					return err
				})
			}
		}
	} else {
		// GraphQL queries read the members of several groups or projects,
		// or several roots' projects with their direct members: a request
		// per group or project is what the rate limit cannot afford.
		roots := rootsOf(trees, groups)
		g.Go(func() (err error) {
			eff, warnings, err = readMembers(gctx, c, groups, roots, projects, s.cfg.ReadProjectMembers)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return provision.Snapshot{}, err
	}
	snap := s.assemble(trees, groups, eff, projects)
	snap.Warnings = append(warnings, snap.Warnings...)
	return snap, nil
}

// rootsOf are the indices in groups of the trees' root groups, each once.
func rootsOf(trees []tree, groups []group) []int {
	index := make(map[int64]int, len(groups))
	for i, g := range groups {
		index[g.id] = i
	}
	var out []int
	for _, t := range trees {
		if i := index[t.groups[0].id]; !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	return out
}

// readRoot reads an allowed group and checks it is a root group.
func readRoot(ctx context.Context, c *client, path string) (*gl.Group, error) {
	var root *gl.Group
	_, err := c.do(ctx, func(o ...gl.RequestOptionFunc) (r *gl.Response, err error) {
		// GitLab v4 still embeds up to 100 projects in the group unless
		// told not to; they are read from the projects listing instead.
		//lint:ignore SA1019 the parameter is what turns the embedding off
		root, r, err = c.gl.Groups.GetGroup(path, &gl.GetGroupOptions{WithProjects: gl.Ptr(false)}, o...)
		return r, err
	})
	if err != nil {
		d := describe("read allowed group "+path, err)
		if errors.Is(d, identity.ErrNotFound) {
			return nil, identity.Errorf(identity.ErrInvalid, "allowed group '%s' does not exist in GitLab or the token cannot see it", path)
		}
		return nil, d
	}
	if root.ParentID != 0 {
		return nil, identity.Errorf(identity.ErrInvalid, "allowed group '%s' is not a root group (it is %s); allow its root group, whose subgroups are included", path, root.FullPath)
	}
	return root, nil
}

// readTree reads one allowed root group: the group, its descendants, its
// projects and its custom roles.
func readTree(ctx context.Context, c *client, path string) (tree, error) {
	root, err := readRoot(ctx, c, path)
	if err != nil {
		return tree{}, err
	}
	t := tree{groups: []group{{id: root.ID, path: root.FullPath}}}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		ds, err := listAll(gctx, c, "list the subgroups of "+root.FullPath, func(page int64, o ...gl.RequestOptionFunc) ([]*gl.Group, *gl.Response, error) {
			return c.gl.Groups.ListDescendantGroups(root.ID, &gl.ListDescendantGroupsOptions{ListOptions: gl.ListOptions{Page: page, PerPage: perPage}}, o...)
		})
		for _, d := range ds {
			t.groups = append(t.groups, group{id: d.ID, path: d.FullPath})
		}
		return err
	})
	g.Go(func() error {
		ps, err := listAll(gctx, c, "list the projects of "+root.FullPath, func(page int64, o ...gl.RequestOptionFunc) ([]*gl.Project, *gl.Response, error) {
			return c.gl.Groups.ListGroupProjects(root.ID, &gl.ListGroupProjectsOptions{
				ListOptions:      gl.ListOptions{Page: page, PerPage: perPage},
				IncludeSubGroups: gl.Ptr(true), WithShared: gl.Ptr(false),
			}, o...)
		})
		for _, p := range ps {
			pr := &project{id: p.ID, path: p.PathWithNamespace, name: p.Name, visibility: string(p.Visibility), shared: len(p.SharedWithGroups) > 0}
			if p.Namespace != nil {
				pr.ns = p.Namespace.ID
			}
			t.projects = append(t.projects, pr)
		}
		return err
	})
	g.Go(func() error {
		var rs []*gl.MemberRole
		_, err := c.do(gctx, func(o ...gl.RequestOptionFunc) (r *gl.Response, err error) {
			rs, r, err = c.gl.MemberRolesService.ListMemberRoles(root.ID, o...)
			return r, err
		})
		var er *gl.ErrorResponse
		if errors.As(err, &er) && er.StatusCode >= 400 && er.StatusCode < 500 && er.StatusCode != http.StatusUnauthorized && er.StatusCode != http.StatusTooManyRequests {
			return nil // not Ultimate, or self-managed: custom roles still come with each member
		}
		if err != nil {
			return describe("list the custom roles of "+root.FullPath, err)
		}
		t.roles = []string{}
		for _, r := range rs {
			t.roles = append(t.roles, r.Name)
		}
		return nil
	})
	return t, g.Wait()
}

func listMembers(ctx context.Context, c *client, path, what string) ([]member, error) {
	return listAll(ctx, c, what, func(page int64, o ...gl.RequestOptionFunc) ([]member, *gl.Response, error) {
		req, err := c.gl.NewRequest(http.MethodGet, path, &gl.ListOptions{Page: page, PerPage: perPage}, o)
		if err != nil {
			return nil, nil, err
		}
		var ms []member
		resp, err := c.gl.Do(req, &ms)
		return ms, resp, err
	})
}

type pageOf[T any] struct {
	items []T
	next  int64
}

// listAll reads every page of an offset-paginated listing. With page 1 it
// learns the number of pages and fetches the rest concurrently; past 10,000
// records, where GitLab no longer counts, it follows X-Next-Page with a
// batch of pages at a time. A failed page fails the listing.
func listAll[T any](ctx context.Context, c *client, what string, fetch func(page int64, o ...gl.RequestOptionFunc) ([]T, *gl.Response, error)) ([]T, error) {
	get := func(ctx context.Context, page int64, total *int64) (pageOf[T], error) {
		var p pageOf[T]
		resp, err := c.do(ctx, func(o ...gl.RequestOptionFunc) (r *gl.Response, err error) {
			p.items, r, err = fetch(page, o...)
			return r, err
		})
		if err != nil {
			return p, describe(what+page1(page), err)
		}
		p.next = resp.NextPage
		if total != nil {
			*total = resp.TotalPages
		}
		if p.next == 0 && resp.TotalPages > page {
			p.next = page + 1 // a missing header would cut the listing short
		}
		return p, nil
	}
	var total int64
	first, err := get(ctx, 1, &total)
	if err != nil {
		return nil, err
	}
	out := first.items
	next := first.next
	for next != 0 {
		// A batch: every remaining page when GitLab counted them, else a
		// handful ahead.
		n := int64(cap(c.sem))
		if total >= next {
			n = total - next + 1
		}
		pages := make([]pageOf[T], n)
		g, gctx := errgroup.WithContext(ctx)
		for i := range n {
			g.Go(func() (err error) {
				pages[i], err = get(gctx, next+i, nil)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		from := next
		next = 0
		for i, p := range pages {
			out = append(out, p.items...)
			if p.next != from+int64(i)+1 {
				break // the last page (or GitLab restarted the count)
			}
			if i == len(pages)-1 {
				next = p.next
			}
		}
	}
	return out, nil
}

func page1(page int64) string {
	if page == 1 {
		return ""
	}
	return fmt.Sprintf(" (page %d)", page)
}

func dedupe[T any](xs []T, id func(T) int64) []T {
	seen := map[int64]bool{}
	return slices.DeleteFunc(xs, func(x T) bool {
		k := id(x)
		if seen[k] {
			return true
		}
		seen[k] = true
		return false
	})
}

// best is the highest role of a user in a project.
type best struct {
	level int
	role  string
}

func (b best) better(m *member) bool {
	// At the same level a custom role wins: it is its base role plus.
	return m.AccessLevel > b.level || (m.AccessLevel == b.level && b.role == "" && m.role() != "")
}

// assemble builds the snapshot from what was read.
func (s *source) assemble(trees []tree, groups []group, eff [][]member, projects []*project) provision.Snapshot {
	snap := provision.Snapshot{ManagesProjects: true}
	users := map[int64]*provision.User{}
	skipped := map[int64]bool{}
	ext := func(id int64) string { return strconv.FormatInt(id, 10) }
	addUser := func(m *member) bool {
		if users[m.ID] != nil {
			return true
		}
		if skipped[m.ID] {
			return false
		}
		if err := identity.ValidateLogin(m.Username); err != nil {
			skipped[m.ID] = true
			snap.Warnings = append(snap.Warnings, fmt.Sprintf("GitLab user %d '%s' skipped: %s", m.ID, m.Username, identity.Message(err)))
			return false
		}
		name := strings.TrimSpace(m.Name)
		if name == "" {
			name = m.Username
		}
		users[m.ID] = &provision.User{ExternalID: ext(m.ID), Login: m.Username, Name: name, Active: m.State == "active"}
		return true
	}
	effByGroup := make(map[int64][]member, len(groups))
	for i, gr := range groups {
		effByGroup[gr.id] = eff[i]
		snap.Groups = append(snap.Groups, provision.Group{ExternalID: ext(gr.id), Name: gr.path})
		for j := range eff[i] {
			m := &eff[i][j]
			if m.counts() && addUser(m) {
				snap.Memberships = append(snap.Memberships, provision.Membership{UserExternalID: users[m.ID].ExternalID, GroupExternalID: ext(gr.id)})
			}
		}
	}
	for _, u := range users {
		snap.Users = append(snap.Users, *u)
	}
	// Permissions: each provisioned user's highest role on each project,
	// mapped. They are gathered per project first and then copied into
	// one slice of the exact size: at 30,000 projects they number millions.
	roles := s.cfg.Roles
	type key struct {
		best
		public bool
	}
	mapped := map[key][]identity.Permission{}
	permsOf := func(b best, public bool) []identity.Permission {
		k := key{b, public}
		ps, ok := mapped[k]
		if !ok {
			for _, perm := range roles.Permissions(b.level, b.role) {
				if !public || !perm.ImplicitOnPublic() { // everyone has them on a public project
					ps = append(ps, perm)
				}
			}
			mapped[k] = ps
		}
		return ps
	}
	type grant struct {
		user  string
		perms []identity.Permission
	}
	type projectGrants struct {
		id     string
		grants []grant
	}
	var all []projectGrants
	total := 0
	top := map[int64]best{}
	for _, p := range projects {
		key := strings.ReplaceAll(p.path, "/", ":")
		if err := identity.ValidateProjectKey(key); err != nil {
			snap.Warnings = append(snap.Warnings, fmt.Sprintf("GitLab project %s skipped: %s", p.path, identity.Message(err)))
			continue
		}
		vis := identity.Private
		if p.visibility == "public" {
			vis = identity.Public
		}
		name := p.name
		if strings.TrimSpace(name) == "" {
			name = p.path
		}
		pid := ext(p.id)
		snap.Projects = append(snap.Projects, provision.Project{ExternalID: pid, Key: key, Name: name, Visibility: vis, ExternalPath: p.path})
		clear(top)
		consider := func(ms []member) {
			for j := range ms {
				m := &ms[j]
				if u := users[m.ID]; u == nil || !u.Active || !m.counts() {
					continue // only provisioned, active users get permissions
				}
				if b := top[m.ID]; b.better(m) {
					top[m.ID] = best{level: m.AccessLevel, role: m.role()}
				}
			}
		}
		if !p.shared {
			consider(effByGroup[p.ns]) // inherited from the namespace and its ancestors
		}
		consider(p.members)
		pg := projectGrants{id: pid, grants: make([]grant, 0, len(top))}
		for _, uid := range slices.Sorted(maps.Keys(top)) {
			if ps := permsOf(top[uid], vis == identity.Public); len(ps) > 0 {
				pg.grants = append(pg.grants, grant{users[uid].ExternalID, ps})
				total += len(ps)
			}
		}
		all = append(all, pg)
	}
	snap.Permissions = make([]provision.ProjectPermission, 0, total)
	for _, pg := range all {
		for _, g := range pg.grants {
			for _, perm := range g.perms {
				snap.Permissions = append(snap.Permissions, provision.ProjectPermission{UserExternalID: g.user, ProjectExternalID: pg.id, Permission: perm})
			}
		}
	}
	snap.Warnings = append(snap.Warnings, unknownRoles(trees, roles)...)
	sortSnapshot(&snap)
	return snap
}

// unknownRoles warns about mapped custom roles that no allowed group
// defines, when GitLab listed custom roles for every root.
func unknownRoles(trees []tree, m RoleMapping) []string {
	known := map[string]bool{}
	for _, t := range trees {
		if t.roles == nil {
			return nil
		}
		for _, r := range t.roles {
			known[strings.ToLower(r)] = true
		}
	}
	var out []string
	for _, e := range m.Entries() {
		if !e.Base && !known[strings.ToLower(e.Role)] {
			out = append(out, fmt.Sprintf("the role mapping names custom role '%s', which no allowed group defines", e.Role))
		}
	}
	return out
}

func num(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

// sortSnapshot orders users by id and groups and projects by name, for
// stable runs and tests; memberships and permissions are already in group
// and project order.
func sortSnapshot(s *provision.Snapshot) {
	slices.SortFunc(s.Users, func(a, b provision.User) int { return cmp.Compare(num(a.ExternalID), num(b.ExternalID)) })
	slices.SortFunc(s.Groups, func(a, b provision.Group) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(s.Projects, func(a, b provision.Project) int { return strings.Compare(a.Key, b.Key) })
}
