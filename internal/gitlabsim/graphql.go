package gitlabsim

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	graphql "github.com/graph-gophers/graphql-go"
)

// The GraphQL API (POST /api/graphql): the part of GitLab's schema a
// membership reader needs, with GitLab's type, field and enum names. Ids are
// global ids ("gid://gitlab/Group/12"), connections are cursor-paginated
// with at most 100 nodes a page, a group or project the caller cannot see
// is null. Members are resolved by relation as REST resolves members and
// members/all (groupMembers, projectMembers in fixture.go); a project's
// member is a ProjectMember where it is the project's own membership, else
// a GroupMember.
const graphQLSchema = `
schema { query: Query }

type Query {
	group(fullPath: ID!): Group
	project(fullPath: ID!): Project
	queryComplexity: QueryComplexity
}

type QueryComplexity {
	limit: Int
	score: Int
}

type Group {
	id: ID!
	fullPath: ID!
	name: String!
	visibility: String
	parent: Group
	descendantGroups(first: Int, after: String, includeParentDescendants: Boolean = true): GroupConnection
	groupMembers(first: Int, after: String, relations: [GroupMemberRelation!] = [DIRECT, INHERITED]): GroupMemberConnection
	projects(includeSubgroups: Boolean = false, first: Int, after: String): ProjectConnection!
}

type Project {
	id: ID!
	fullPath: ID!
	path: String!
	name: String!
	visibility: String
	group: Group
	projectMembers(first: Int, after: String, relations: [ProjectMemberRelation!] = [DIRECT, INHERITED]): MemberInterfaceConnection
}

type PageInfo {
	hasNextPage: Boolean!
	hasPreviousPage: Boolean!
	startCursor: String
	endCursor: String
}

type GroupConnection {
	count: Int!
	pageInfo: PageInfo!
	nodes: [Group]
}

type ProjectConnection {
	count: Int!
	pageInfo: PageInfo!
	nodes: [Project]
}

type GroupMemberConnection {
	pageInfo: PageInfo!
	nodes: [GroupMember]
}

type MemberInterfaceConnection {
	pageInfo: PageInfo!
	nodes: [MemberInterface]
}

enum GroupMemberRelation { DIRECT INHERITED DESCENDANTS SHARED_FROM_GROUPS }

enum ProjectMemberRelation { DIRECT INHERITED DESCENDANTS INVITED_GROUPS SHARED_INTO_ANCESTORS }

interface MemberInterface {` + memberFields + `}

type GroupMember implements MemberInterface {` + memberFields + `}

type ProjectMember implements MemberInterface {` + memberFields + `}

enum UserState { active blocked deactivated banned ldap_blocked blocked_pending_approval }

type UserCore {
	id: ID!
	username: String!
	name: String!
	state: UserState!
}

enum AccessLevelEnum { NO_ACCESS MINIMAL_ACCESS GUEST PLANNER REPORTER DEVELOPER MAINTAINER OWNER ADMIN }

type AccessLevel {
	integerValue: Int
	stringValue: AccessLevelEnum
	humanAccess: String
}

type MemberRole {
	id: ID!
	name: String!
	description: String
}
`

// memberFields are MemberInterface's, which GroupMember and ProjectMember
// implement.
const memberFields = `
	id: ID!
	user: UserCore
	accessLevel: AccessLevel
	memberRole: MemberRole
	createdAt: String
	expiresAt: String
`

// Query limits, GitLab's (doc/api/graphql/index.md, "Limits"): a query's
// complexity at most 250 for an authenticated caller (Options can lower
// it), nesting at most 15 levels deep, connections at most 100 nodes a
// page.
const (
	MaxQueryComplexity = 250
	maxQueryDepth      = 15
	maxPageSize        = 100
)

// Complexity is computed as GitLab's Types::BaseField does: every selected
// field costs 1; a connection field costs (its children + its resolver's
// complexity) × (1 + page size / 100), so a page of 100 counts its
// selection twice. A resolver's complexity is 1 (Resolvers::BaseResolver),
// 11 for a namespace's projects (NamespaceProjectsResolver adds 10).
// Aliases count each time. A query above the limit is refused as a whole,
// with GitLab's message, and none of its data.
type complexity struct {
	score atomic.Int64
	limit int32
}

type complexityKey struct{}

// connections are the connection fields of the schema, with their
// resolvers' complexity.
var connections = map[string]int64{"groupMembers": 1, "descendantGroups": 1, "projectMembers": 1, "projects": 11}

// selectionCost is the cost of the fields under the resolver of ctx, from
// their paths ("groupMembers.nodes.user.id", …).
func selectionCost(ctx context.Context) int64 {
	paths := graphql.SelectedFieldNames(ctx)
	children := map[string][]string{}
	for _, p := range paths {
		parent := ""
		if i := strings.LastIndexByte(p, '.'); i >= 0 {
			parent = p[:i]
		}
		children[parent] = append(children[parent], p)
	}
	var cost func(path string) int64
	cost = func(path string) int64 {
		var sub int64
		for _, c := range children[path] {
			sub += cost(c)
		}
		if path == "" {
			return sub
		}
		resolver, ok := connections[lastField(path)]
		if !ok {
			return 1 + sub
		}
		var args struct{ First *int32 }
		size := int64(maxPageSize)
		if ok, _ := graphql.DecodeSelectedFieldArgs(ctx, path, &args); ok && args.First != nil {
			size = min(max(int64(*args.First), 0), maxPageSize)
		}
		return (sub + resolver) * (100 + size) / 100
	}
	return cost("")
}

func lastField(path string) string { return path[strings.LastIndexByte(path, '.')+1:] }

func (s *Server) graphQLSchema() *graphql.Schema {
	return graphql.MustParseSchema(graphQLSchema, &gqlQuery{}, graphql.MaxDepth(maxQueryDepth))
}

type gqlRequest struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

type gqlCall struct {
	ix     *index
	caller caller
}

type gqlCallKey struct{}

// graphQL answers POST /api/graphql. Authentication, the read_api scope,
// the rate limit (one request however many groups it reads), latency and
// faults are the REST endpoints'.
func (s *Server) graphQL(w http.ResponseWriter, r *http.Request, c caller, ix *index) {
	var req gqlRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil || req.Query == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": []map[string]string{{"message": "No query string was present"}}})
		return
	}
	cx := &complexity{limit: int32(s.opts.GraphQLComplexity)}
	ctx := context.WithValue(r.Context(), gqlCallKey{}, &gqlCall{ix: ix, caller: c})
	ctx = context.WithValue(ctx, complexityKey{}, cx)
	resp := s.gql.Exec(ctx, req.Query, req.OperationName, req.Variables)
	if score, limit := cx.score.Load(), int64(s.opts.GraphQLComplexity); score > limit {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []map[string]string{{
			"message": fmt.Sprintf("Query has complexity of %d, which exceeds max complexity of %d", score, limit),
		}}})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func callOf(ctx context.Context) *gqlCall { return ctx.Value(gqlCallKey{}).(*gqlCall) }

func gid(kind string, id int64) graphql.ID {
	return graphql.ID("gid://gitlab/" + kind + "/" + strconv.FormatInt(id, 10))
}

type gqlQuery struct{}

// count adds the cost of the field under the resolver of ctx, a
// top-level field, to the query's complexity.
func count(ctx context.Context) {
	if cx, ok := ctx.Value(complexityKey{}).(*complexity); ok {
		cx.score.Add(1 + selectionCost(ctx))
	}
}

func (*gqlQuery) Group(ctx context.Context, args struct{ FullPath graphql.ID }) *gqlGroup {
	count(ctx)
	call := callOf(ctx)
	g := call.ix.groupByKey[strings.ToLower(string(args.FullPath))]
	if g == nil || !call.ix.sees(call.caller, g) {
		return nil // GitLab answers null, not an error
	}
	return &gqlGroup{g: g}
}

func (*gqlQuery) Project(ctx context.Context, args struct{ FullPath graphql.ID }) *gqlProject {
	count(ctx)
	call := callOf(ctx)
	p := call.ix.projByKey[strings.ToLower(string(args.FullPath))]
	if p == nil || !call.ix.seesProject(call.caller, p) {
		return nil
	}
	return &gqlProject{p: p}
}

type gqlComplexity struct{ limit int32 }

func (*gqlQuery) QueryComplexity(ctx context.Context) *gqlComplexity {
	count(ctx)
	cx, _ := ctx.Value(complexityKey{}).(*complexity)
	return &gqlComplexity{limit: cx.limit}
}

func (c *gqlComplexity) Limit() *int32 { return &c.limit }

// Score is the score so far: GitLab's is the whole query's, known before
// it runs; this one counts the fields resolved before this one.
func (c *gqlComplexity) Score(ctx context.Context) *int32 {
	cx, _ := ctx.Value(complexityKey{}).(*complexity)
	n := int32(cx.score.Load())
	return &n
}

type gqlGroup struct{ g *Group }

func (g *gqlGroup) ID() graphql.ID       { return gid("Group", g.g.ID) }
func (g *gqlGroup) FullPath() graphql.ID { return graphql.ID(g.g.FullPath) }
func (g *gqlGroup) Name() string         { return g.g.Name }
func (g *gqlGroup) Visibility() *string  { return &g.g.Visibility }

func (g *gqlGroup) Parent(ctx context.Context) *gqlGroup {
	if p := callOf(ctx).ix.parent[g.g.ID]; p != nil {
		return &gqlGroup{g: p}
	}
	return nil
}

type pageArgs struct {
	First *int32
	After *string
}

type gqlPageInfo struct {
	hasNext, hasPrev bool
	start, end       *string
}

func (p gqlPageInfo) HasNextPage() bool     { return p.hasNext }
func (p gqlPageInfo) HasPreviousPage() bool { return p.hasPrev }
func (p gqlPageInfo) StartCursor() *string  { return p.start }
func (p gqlPageInfo) EndCursor() *string    { return p.end }

// cursor is GitLab's keyset cursor: base64 of the JSON of the last node's
// sort key (here the id).
func cursor(id int64) *string {
	s := base64.StdEncoding.EncodeToString([]byte(`{"id":"` + strconv.FormatInt(id, 10) + `"}`))
	return &s
}

func parseCursor(s *string) (int64, error) {
	if s == nil || *s == "" {
		return 0, nil
	}
	b, err := base64.StdEncoding.DecodeString(*s)
	var k struct{ ID string }
	if err == nil {
		err = json.Unmarshal(b, &k)
	}
	var id int64
	if err == nil {
		id, err = strconv.ParseInt(k.ID, 10, 64)
	}
	if err != nil {
		return 0, fmt.Errorf("invalid cursor: %q", *s)
	}
	return id, nil
}

// page cuts the items after the cursor, sorted by id, into one page.
func page[T any](items []T, id func(T) int64, args pageArgs) ([]T, gqlPageInfo, error) {
	after, err := parseCursor(args.After)
	if err != nil {
		return nil, gqlPageInfo{}, err
	}
	size := maxPageSize
	if args.First != nil {
		if *args.First < 0 {
			return nil, gqlPageInfo{}, fmt.Errorf("first must be non-negative")
		}
		size = min(int(*args.First), maxPageSize)
	}
	i, _ := slices.BinarySearchFunc(items, after+1, func(t T, k int64) int { return int(id(t) - k) })
	sel := items[i:min(i+size, len(items))]
	info := gqlPageInfo{hasNext: i+size < len(items), hasPrev: i > 0}
	if len(sel) > 0 {
		info.start, info.end = cursor(id(sel[0])), cursor(id(sel[len(sel)-1]))
	}
	return sel, info, nil
}

// gqlConnection is one page of a connection: its nodes, its page info and
// the count of all its nodes (for the connections that have a count).
type gqlConnection[N any] struct {
	count int32
	info  gqlPageInfo
	nodes []N
}

func (c *gqlConnection[N]) Count() int32          { return c.count }
func (c *gqlConnection[N]) PageInfo() gqlPageInfo { return c.info }
func (c *gqlConnection[N]) Nodes() *[]N           { return &c.nodes }

// connectionOf sorts items by id and makes the nodes of one page.
func connectionOf[T, N any](items []T, id func(T) int64, args pageArgs, node func(T) N) (*gqlConnection[N], error) {
	sorted := slices.SortedFunc(slices.Values(items), func(a, b T) int { return cmp.Compare(id(a), id(b)) })
	sel, info, err := page(sorted, id, args)
	if err != nil {
		return nil, err
	}
	c := &gqlConnection[N]{count: int32(len(sorted)), info: info}
	for _, t := range sel {
		c.nodes = append(c.nodes, node(t))
	}
	return c, nil
}

func (g *gqlGroup) DescendantGroups(ctx context.Context, args struct {
	First                    *int32
	After                    *string
	IncludeParentDescendants bool
}) (*gqlConnection[*gqlGroup], error) {
	call := callOf(ctx)
	all := call.ix.children[g.g.ID]
	if args.IncludeParentDescendants {
		all = call.ix.descendants(g.g)
	}
	visible := slices.DeleteFunc(slices.Clone(all), func(d *Group) bool { return !call.ix.sees(call.caller, d) })
	return connectionOf(visible, func(d *Group) int64 { return d.ID }, pageArgs{args.First, args.After}, func(d *Group) *gqlGroup { return &gqlGroup{g: d} })
}

// Projects answers the projects of the group and, with includeSubgroups,
// of its subgroups at any depth: not those of other namespaces shared with
// them (as REST with_shared=false).
func (g *gqlGroup) Projects(ctx context.Context, args struct {
	IncludeSubgroups bool
	First            *int32
	After            *string
}) (*gqlConnection[*gqlProject], error) {
	call := callOf(ctx)
	all := slices.Clone(call.ix.projsOfNS[g.g.ID])
	if args.IncludeSubgroups {
		for _, d := range call.ix.descendants(g.g) {
			all = append(all, call.ix.projsOfNS[d.ID]...)
		}
	}
	visible := slices.DeleteFunc(all, func(p *Project) bool { return !call.ix.seesProject(call.caller, p) })
	return connectionOf(visible, func(p *Project) int64 { return p.ID }, pageArgs{args.First, args.After}, func(p *Project) *gqlProject { return &gqlProject{p: p} })
}

type gqlProject struct{ p *Project }

func (p *gqlProject) ID() graphql.ID       { return gid("Project", p.p.ID) }
func (p *gqlProject) FullPath() graphql.ID { return graphql.ID(p.p.PathWithNamespace) }
func (p *gqlProject) Path() string         { return lastSegment(p.p.PathWithNamespace) }
func (p *gqlProject) Name() string         { return p.p.Name }
func (p *gqlProject) Visibility() *string  { return &p.p.Visibility }

func (p *gqlProject) Group(ctx context.Context) *gqlGroup {
	call := callOf(ctx)
	if ns := call.ix.projNS[p.p.ID]; call.ix.sees(call.caller, ns) {
		return &gqlGroup{g: ns}
	}
	return nil
}

type memberArgs struct {
	First     *int32
	After     *string
	Relations []string
}

// memberPage cuts one page of resolved memberships, by user id.
func memberPage(acc map[int64]effective, args memberArgs, node func(effective) *gqlMember) (*gqlConnection[*gqlMember], error) {
	return connectionOf(slices.Collect(maps.Values(acc)), func(e effective) int64 { return e.user.ID }, pageArgs{args.First, args.After}, node)
}

// GroupMembers answers the group's members of the relations (default
// DIRECT and INHERITED); DIRECT, INHERITED and SHARED_FROM_GROUPS together
// are what REST members/all answers.
func (g *gqlGroup) GroupMembers(ctx context.Context, args memberArgs) (*gqlConnection[*gqlMember], error) {
	ix := callOf(ctx).ix
	acc := ix.groupMembers(g.g, relationsOr(args.Relations)...)
	return memberPage(acc, args, func(e effective) *gqlMember {
		return &gqlMember{e: e, typ: "GroupMember", source: g.g.ID, ix: ix}
	})
}

// ProjectMembers answers the project's members of the relations (default
// DIRECT and INHERITED): DIRECT alone is what REST members answers; DIRECT,
// INHERITED, INVITED_GROUPS and SHARED_INTO_ANCESTORS what members/all
// answers.
func (p *gqlProject) ProjectMembers(ctx context.Context, args memberArgs) (*gqlConnection[*gqlMember], error) {
	ix := callOf(ctx).ix
	acc := ix.projectMembers(p.p, relationsOr(args.Relations)...)
	own := ix.projectMembers(p.p, relDirect)
	return memberPage(acc, args, func(e effective) *gqlMember {
		if d, ok := own[e.user.ID]; ok && d.level == e.level {
			return &gqlMember{e: e, typ: "ProjectMember", source: p.p.ID, ix: ix}
		}
		return &gqlMember{e: e, typ: "GroupMember", source: ix.projNS[p.p.ID].ID, ix: ix}
	})
}

// relationsOr is the relations asked for, or GitLab's default.
func relationsOr(rel []string) []string {
	if rel == nil {
		return []string{relDirect, relInherited}
	}
	return rel
}

// gqlMember is a GroupMember or a ProjectMember (typ) of a group or
// project (source).
type gqlMember struct {
	e      effective
	typ    string
	source int64
	ix     *index
}

// ID is the membership's id; the simulator has no membership ids, so it is
// made of the source's and the user's.
func (m *gqlMember) ID() graphql.ID     { return gid(m.typ, m.source*1_000_000+m.e.user.ID) }
func (m *gqlMember) User() *gqlUser     { return &gqlUser{m.e.user} }
func (m *gqlMember) CreatedAt() *string { return &created }
func (m *gqlMember) ExpiresAt() *string { return nil }

func (m *gqlMember) ToGroupMember() (*gqlMember, bool)   { return m, m.typ == "GroupMember" }
func (m *gqlMember) ToProjectMember() (*gqlMember, bool) { return m, m.typ == "ProjectMember" }

func (m *gqlMember) AccessLevel() *gqlAccessLevel { return &gqlAccessLevel{m.e.level} }

func (m *gqlMember) MemberRole() *gqlMemberRole {
	if m.e.role == "" {
		return nil
	}
	return &gqlMemberRole{m.ix.roles[m.e.role]}
}

type gqlUser struct{ u *User }

func (u *gqlUser) ID() graphql.ID   { return gid("User", u.u.ID) }
func (u *gqlUser) Username() string { return u.u.Username }
func (u *gqlUser) Name() string     { return u.u.Name }
func (u *gqlUser) State() string    { return u.u.State }

type gqlAccessLevel struct{ level int }

// accessLevels are GitLab's AccessLevelEnum values and human names.
var accessLevels = map[int][2]string{
	0: {"NO_ACCESS", "No access"}, 5: {"MINIMAL_ACCESS", "Minimal Access"}, 10: {"GUEST", "Guest"},
	15: {"PLANNER", "Planner"}, 20: {"REPORTER", "Reporter"}, 30: {"DEVELOPER", "Developer"},
	40: {"MAINTAINER", "Maintainer"}, 50: {"OWNER", "Owner"}, 60: {"ADMIN", "Admin"},
}

func (a *gqlAccessLevel) IntegerValue() *int32 { n := int32(a.level); return &n }

func (a *gqlAccessLevel) StringValue() *string {
	if v, ok := accessLevels[a.level]; ok {
		return &v[0]
	}
	return nil
}

func (a *gqlAccessLevel) HumanAccess() *string {
	if v, ok := accessLevels[a.level]; ok {
		return &v[1]
	}
	return nil
}

type gqlMemberRole struct{ r *MemberRole }

func (r *gqlMemberRole) ID() graphql.ID       { return gid("MemberRole", r.r.ID) }
func (r *gqlMemberRole) Name() string         { return r.r.Name }
func (r *gqlMemberRole) Description() *string { s := ""; return &s }
