package gitlab

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	gl "gitlab.com/gitlab-org/api/client-go/v2"
	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// memberNodes selects what a member listing reads of each membership.
const memberNodes = `nodes { user { id username name state } accessLevel { integerValue } memberRole { name } }`

// A pageKind is a field that GraphQL queries read pages of, one aliased
// field per group or project. GitLab refuses a query whose complexity
// passes 250 (authenticated callers): each field costs 1, a connection
// (its children + 1) × (1 + first/100), a group's projects (children +
// 11) × (1 + first/100).
type pageKind int

const (
	// groupMembersPage is a page of a group's effective members: the
	// relations REST members/all resolves (the group's own, its
	// ancestors', and invited groups' capped at the invitation). A group
	// costs 29 (1, plus (13 fields + 1) × 2), so 8 fit.
	groupMembersPage pageKind = iota
	// projectMembersPage is a page of a project's members: a shared
	// project's effective members (what REST members/all resolves: the
	// project's own, its namespace's and the namespace's ancestors',
	// those of the groups invited into it or into an ancestor, capped at
	// the invitation), else its direct ones. A project costs 29, as a
	// group.
	projectMembersPage
	// projectsPage is a page of a root group's projects, each with its
	// first directMembersInListing direct members. A root costs 75 (1,
	// plus (3 pageInfo + 1 nodes + 1 id + (13 + 1) × 1.5 for the members
	// + 11) × 2), so 3 fit.
	projectsPage
)

// directMembersInListing is how many direct members of each project the
// projects listing reads; a project with more goes on in its own
// projectMembersPage. 50 leaves room for 3 roots a query.
const directMembersInListing = 50

var pageKinds = [...]struct {
	field    string // %[1]s the alias, %[2]d the variables' index, %[3]s the relations
	perQuery int
	noun, of string // "the members of groups …"
}{
	groupMembersPage: {`%[1]s: group(fullPath: $p%[2]d) {
    groupMembers(first: 100, after: $a%[2]d, relations: [%[3]s]) { pageInfo { hasNextPage endCursor } ` + memberNodes + ` }
  }
`, 8, "members", "group"},
	projectMembersPage: {`%[1]s: project(fullPath: $p%[2]d) {
    projectMembers(first: 100, after: $a%[2]d, relations: [%[3]s]) { pageInfo { hasNextPage endCursor } ` + memberNodes + ` }
  }
`, 8, "members", "project"},
	projectsPage: {`%[1]s: group(fullPath: $p%[2]d) {
    projects(includeSubgroups: true, first: 100, after: $a%[2]d) {
      pageInfo { hasNextPage endCursor }
      nodes { id projectMembers(relations: [%[3]s], first: ` + strconv.Itoa(directMembersInListing) + `) { pageInfo { hasNextPage endCursor } ` + memberNodes + ` } }
    }
  }
`, 3, "projects", "group"},
}

const (
	groupMembersAll   = "DIRECT, INHERITED, SHARED_FROM_GROUPS"
	projectMembersAll = "DIRECT, INHERITED, INVITED_GROUPS, SHARED_INTO_ANCESTORS"
	directMembers     = "DIRECT"
)

// The answers' shapes: encoding/json matches their field names
// case-insensitively.
type (
	pageInfo struct {
		HasNextPage bool
		EndCursor   string
	}
	memberConnection struct {
		PageInfo pageInfo
		Nodes    []struct {
			User        *struct{ ID, Username, Name, State string }
			AccessLevel struct{ IntegerValue int }
			MemberRole  *struct{ Name string }
		}
	}
	// gqlData is one aliased field's answer, of any page kind.
	gqlData struct {
		GroupMembers, ProjectMembers *memberConnection
		Projects                     *struct {
			PageInfo pageInfo
			Nodes    []struct {
				ID             string
				ProjectMembers *memberConnection
			}
		}
	}
)

type gqlAnswer struct {
	Data   map[string]*gqlData `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

// page is a page still to read, from after: of the members of group
// groups[i] or project projects[i], or of the projects of root group
// groups[i].
type page struct {
	kind  pageKind
	i     int
	after string
}

// gqlReader reads the members of many groups and projects, and the
// projects of root groups with their direct members, through GraphQL: a
// round sends the pages pending in batched queries of one kind
// (concurrently), and the next pages they lead to go to the next round.
// Each group's or project's members are written by one batch at a time.
type gqlReader struct {
	c        *client
	groups   []group
	eff      [][]member // by group
	projects []*project
	byID     map[int64]int // project id → index
	listed   []bool        // by project: its direct members came with a projects listing

	mu       sync.Mutex
	perQuery [len(pageKinds)]int
	warnings []string
}

// readMembers reads the effective members of groups and of the shared
// projects and, with direct, the direct members of the other projects
// (from the listing of roots' projects; a project it misses is read on
// its own). It sets the projects' members and returns the groups'.
func readMembers(ctx context.Context, c *client, groups []group, roots []int, projects []*project, direct bool) ([][]member, []string, error) {
	r := &gqlReader{c: c, groups: groups, eff: make([][]member, len(groups)), projects: projects,
		byID: make(map[int64]int, len(projects)), listed: make([]bool, len(projects))}
	for k := range pageKinds {
		r.perQuery[k] = pageKinds[k].perQuery
	}
	var queue []page
	for i := range groups {
		queue = append(queue, page{kind: groupMembersPage, i: i})
	}
	for i, p := range projects {
		r.byID[p.id] = i
		if p.shared {
			queue = append(queue, page{kind: projectMembersPage, i: i})
		}
	}
	if direct {
		for _, i := range roots {
			queue = append(queue, page{kind: projectsPage, i: i})
		}
	}
	if err := r.run(ctx, queue); err != nil {
		return nil, nil, err
	}
	if direct {
		// A project of the REST listing that the GraphQL one did not give
		// (moved or deleted in between, or one GraphQL leaves out) is
		// read on its own.
		queue = nil
		for i, p := range projects {
			if !p.shared && !r.listed[i] {
				queue = append(queue, page{kind: projectMembersPage, i: i})
			}
		}
		if err := r.run(ctx, queue); err != nil {
			return nil, nil, err
		}
	}
	return r.eff, r.warnings, nil
}

// run reads the pages of queue and the pages they lead to, in rounds.
func (r *gqlReader) run(ctx context.Context, queue []page) error {
	for len(queue) > 0 {
		var kinds [len(pageKinds)][]page
		for _, it := range queue {
			kinds[it.kind] = append(kinds[it.kind], it)
		}
		var batches [][]page
		for k, items := range kinds {
			for n := r.batchSize(pageKind(k)); len(items) > 0; {
				m := min(n, len(items))
				batches = append(batches, items[:m])
				items = items[m:]
			}
		}
		next := make([][]page, len(batches))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(cap(r.c.sem))
		for k, b := range batches {
			g.Go(func() (err error) {
				next[k], err = r.query(gctx, b)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		queue = nil
		for _, n := range next {
			queue = append(queue, n...)
		}
	}
	return nil
}

func (r *gqlReader) batchSize(k pageKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.perQuery[k]
}

// shrink halves the batch size of kind k after GitLab refused a query of
// n pages with GraphQL errors, and says so once per size.
func (r *gqlReader) shrink(k pageKind, n int, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if next := max(n/2, 1); next < r.perQuery[k] {
		r.perQuery[k] = next
		pk := pageKinds[k]
		r.warnings = append(r.warnings, fmt.Sprintf("GitLab refused a GraphQL query for the %s of %s (%s); %s are read %s per query", pk.noun, plural(n, pk.of), why, pk.noun, plural(next, pk.of)))
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// query reads one page of each of items (all of one kind) and returns the
// pages they lead to. GraphQL errors (a complexity or other query limit)
// make it retry with half the pages per query; one page's errors fail the
// read.
func (r *gqlReader) query(ctx context.Context, items []page) ([]page, error) {
	kind := items[0].kind
	if n := r.batchSize(kind); len(items) > n {
		var more []page
		for len(items) > 0 {
			k := min(n, len(items))
			m, err := r.query(ctx, items[:k])
			if err != nil {
				return nil, err
			}
			more = append(more, m...)
			items = items[k:]
		}
		return more, nil
	}
	var q strings.Builder
	q.WriteString("query(")
	vars := map[string]any{}
	for k, it := range items {
		if k > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "$p%d: ID!, $a%d: String", k, k)
		vars["p"+strconv.Itoa(k)] = r.path(it)
		if it.after != "" {
			vars["a"+strconv.Itoa(k)] = it.after
		}
	}
	q.WriteString(") {\n")
	for k, it := range items {
		fmt.Fprintf(&q, "  "+pageKinds[kind].field, "g"+strconv.Itoa(k), k, r.relations(it))
	}
	q.WriteString("}")
	what := r.what(items)
	var ans gqlAnswer
	_, err := r.c.do(ctx, func(o ...gl.RequestOptionFunc) (*gl.Response, error) {
		ans = gqlAnswer{}
		return r.c.gl.GraphQL.Do(gl.GraphQLQuery{Query: q.String(), Variables: vars}, &ans, o...)
	})
	if err != nil {
		var ge *gl.GraphQLResponseError
		if errors.As(err, &ge) {
			err = ge.Err // describe reads the HTTP status
		}
		return nil, describe(what, err)
	}
	if len(ans.Errors) > 0 {
		msgs := make([]string, len(ans.Errors))
		for i, e := range ans.Errors {
			msgs[i] = e.Message
		}
		why := strings.Join(msgs, "; ")
		if len(items) == 1 {
			return nil, identity.Errorf(identity.ErrUnavailable, "GitLab answered GraphQL errors to %s: %s", what, why)
		}
		r.shrink(kind, len(items), why)
		return r.query(ctx, items)
	}
	var more []page
	for k, it := range items {
		d := ans.Data["g"+strconv.Itoa(k)]
		if d == nil {
			return nil, identity.Errorf(identity.ErrNotFound, "GitLab answered no %s %s to %s: it does not exist or the token cannot see it", pageKinds[kind].of, r.path(it), what)
		}
		m, err := r.read(it, d, what)
		if err != nil {
			return nil, err
		}
		more = append(more, m...)
	}
	return more, nil
}

// read takes in one page's answer and returns the pages it leads to.
func (r *gqlReader) read(it page, d *gqlData, what string) ([]page, error) {
	var more []page
	switch it.kind {
	case groupMembersPage:
		ms, after, err := d.GroupMembers.members("group "+r.path(it), what)
		if err != nil {
			return nil, err
		}
		r.eff[it.i] = append(r.eff[it.i], ms...)
		if after != "" {
			more = append(more, page{kind: it.kind, i: it.i, after: after})
		}
	case projectMembersPage:
		p := r.projects[it.i]
		ms, after, err := d.ProjectMembers.members("project "+p.path, what)
		if err != nil {
			return nil, err
		}
		p.members = append(p.members, ms...)
		if after != "" {
			more = append(more, page{kind: it.kind, i: it.i, after: after})
		}
	case projectsPage:
		if d.Projects == nil {
			return nil, identity.Errorf(identity.ErrUnavailable, "GitLab answered no projects of group %s to %s", r.path(it), what)
		}
		for _, n := range d.Projects.Nodes {
			i, ok := r.byID[gidNumber(n.ID)]
			if !ok || r.projects[i].shared || r.listed[i] {
				continue // not in the snapshot (created after its listing), or read with its effective members
			}
			p := r.projects[i]
			ms, after, err := n.ProjectMembers.members("project "+p.path, what)
			if err != nil {
				return nil, err
			}
			p.members, r.listed[i] = ms, true
			if after != "" {
				more = append(more, page{kind: projectMembersPage, i: i, after: after})
			}
		}
		after, err := nextCursor(d.Projects.PageInfo, "the projects of group "+r.path(it))
		if err != nil {
			return nil, err
		}
		if after != "" {
			more = append(more, page{kind: it.kind, i: it.i, after: after})
		}
	}
	return more, nil
}

// members converts a page of memberships and returns the cursor of the
// next page ("" after the last). A missing connection is an error: the
// token may not read the members of whose.
func (mc *memberConnection) members(whose, what string) ([]member, string, error) {
	if mc == nil {
		return nil, "", identity.Errorf(identity.ErrUnavailable, "GitLab answered no members of %s to %s", whose, what)
	}
	var out []member
	for _, n := range mc.Nodes {
		if n.User == nil {
			continue // an invitation by email: not a user yet
		}
		id := gidNumber(n.User.ID)
		if id == 0 {
			return nil, "", identity.Errorf(identity.ErrUnavailable, "GitLab answered a user id '%s' that is not a global id to %s", n.User.ID, what)
		}
		m := member{ID: id, Username: n.User.Username, Name: n.User.Name, State: n.User.State, AccessLevel: n.AccessLevel.IntegerValue}
		if n.MemberRole != nil {
			m.MemberRole = &memberRole{Name: n.MemberRole.Name}
		}
		out = append(out, m)
	}
	after, err := nextCursor(mc.PageInfo, "the members of "+whose)
	return out, after, err
}

// nextCursor is the cursor of the page after pi ("" after the last).
func nextCursor(pi pageInfo, what string) (string, error) {
	if pi.HasNextPage && pi.EndCursor == "" {
		return "", identity.Errorf(identity.ErrUnavailable, "GitLab said %s go on but gave no cursor", what)
	}
	if !pi.HasNextPage {
		return "", nil
	}
	return pi.EndCursor, nil
}

// gidNumber is the number of a global id ("gid://gitlab/User/12"), 0 when
// it is none.
func gidNumber(gid string) int64 {
	n, err := strconv.ParseInt(gid[strings.LastIndexByte(gid, '/')+1:], 10, 64)
	if err != nil || !strings.HasPrefix(gid, "gid://") {
		return 0
	}
	return n
}

// path is the full path of the group or project of a page.
func (r *gqlReader) path(it page) string {
	if it.kind == projectMembersPage {
		return r.projects[it.i].path
	}
	return r.groups[it.i].path
}

// relations are those a page's members are read with.
func (r *gqlReader) relations(it page) string {
	switch {
	case it.kind == groupMembersPage:
		return groupMembersAll
	case it.kind == projectMembersPage && r.projects[it.i].shared:
		return projectMembersAll
	}
	return directMembers
}

// what names a query's pages for errors: "list the members of groups a, b".
func (r *gqlReader) what(items []page) string {
	paths := make([]string, len(items))
	for k, it := range items {
		paths[k] = r.path(it)
	}
	pk := pageKinds[items[0].kind]
	of := pk.of
	if len(paths) > 1 {
		of += "s"
	}
	return "list the " + pk.noun + " of " + of + " " + strings.Join(paths, ", ") + " (GraphQL)"
}
