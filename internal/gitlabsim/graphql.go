package gitlabsim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
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
// with at most 100 nodes a page, a group the caller cannot see is null.
const graphQLSchema = `
schema { query: Query }

type Query {
	group(fullPath: ID!): Group
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

type GroupMemberConnection {
	pageInfo: PageInfo!
	nodes: [GroupMember]
}

enum GroupMemberRelation { DIRECT INHERITED DESCENDANTS SHARED_FROM_GROUPS }

type GroupMember {
	id: ID!
	user: UserCore
	accessLevel: AccessLevel
	memberRole: MemberRole
	createdAt: String
	expiresAt: String
}

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
// field costs 1; a connection field costs (its children + 1) × (1 + page
// size / 100), so a page of 100 counts its selection twice. Aliases count
// each time. A query above the limit is refused as a whole, with GitLab's
// message, and none of its data.
type complexity struct {
	score atomic.Int64
	limit int32
}

type complexityKey struct{}

// connections are the connection fields of the schema.
var connections = map[string]bool{"groupMembers": true, "descendantGroups": true}

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
		if !connections[lastField(path)] {
			return 1 + sub
		}
		var args struct{ First *int32 }
		size := int64(maxPageSize)
		if ok, _ := graphql.DecodeSelectedFieldArgs(ctx, path, &args); ok && args.First != nil {
			size = min(max(int64(*args.First), 0), maxPageSize)
		}
		return (sub + 1) * (100 + size) / 100
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

func (*gqlQuery) Group(ctx context.Context, args struct{ FullPath graphql.ID }) *gqlGroup {
	if cx, ok := ctx.Value(complexityKey{}).(*complexity); ok {
		cx.score.Add(1 + selectionCost(ctx))
	}
	call := callOf(ctx)
	g := call.ix.groupByKey[strings.ToLower(string(args.FullPath))]
	if g == nil || !call.ix.sees(call.caller, g) {
		return nil // GitLab answers null, not an error
	}
	return &gqlGroup{g: g}
}

type gqlComplexity struct{ limit int32 }

func (*gqlQuery) QueryComplexity(ctx context.Context) *gqlComplexity {
	cx, _ := ctx.Value(complexityKey{}).(*complexity)
	cx.score.Add(1 + selectionCost(ctx))
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

type gqlGroupConnection struct {
	count int32
	info  gqlPageInfo
	nodes []*gqlGroup
}

func (c *gqlGroupConnection) Count() int32          { return c.count }
func (c *gqlGroupConnection) PageInfo() gqlPageInfo { return c.info }
func (c *gqlGroupConnection) Nodes() *[]*gqlGroup   { return &c.nodes }

func (g *gqlGroup) DescendantGroups(ctx context.Context, args struct {
	First                    *int32
	After                    *string
	IncludeParentDescendants bool
}) (*gqlGroupConnection, error) {
	call := callOf(ctx)
	var all []*Group
	if args.IncludeParentDescendants {
		all = call.ix.descendants(g.g)
	} else {
		all = call.ix.children[g.g.ID]
	}
	var visible []*Group
	for _, d := range all {
		if call.ix.sees(call.caller, d) {
			visible = append(visible, d)
		}
	}
	visible = slices.SortedFunc(slices.Values(visible), func(a, b *Group) int { return int(a.ID - b.ID) })
	sel, info, err := page(visible, func(d *Group) int64 { return d.ID }, pageArgs{args.First, args.After})
	if err != nil {
		return nil, err
	}
	c := &gqlGroupConnection{count: int32(len(visible)), info: info}
	for _, d := range sel {
		c.nodes = append(c.nodes, &gqlGroup{g: d})
	}
	return c, nil
}

type gqlMemberConnection struct {
	info  gqlPageInfo
	nodes []*gqlMember
}

func (c *gqlMemberConnection) PageInfo() gqlPageInfo { return c.info }
func (c *gqlMemberConnection) Nodes() *[]*gqlMember  { return &c.nodes }

// GroupMembers answers the group's members by relation: DIRECT (the
// group's own), INHERITED (its ancestors'), DESCENDANTS (its subgroups'),
// SHARED_FROM_GROUPS (members of groups invited into it or its ancestors,
// capped at the invitation's level). Each user is listed once, at the
// highest level, as GitLab's GroupMembersFinder does; DIRECT, INHERITED
// and SHARED_FROM_GROUPS together are what REST members/all answers.
func (g *gqlGroup) GroupMembers(ctx context.Context, args struct {
	First     *int32
	After     *string
	Relations []string
}) (*gqlMemberConnection, error) {
	ix := callOf(ctx).ix
	rel := []string{"DIRECT", "INHERITED"}
	if args.Relations != nil {
		rel = args.Relations
	}
	acc := map[int64]effective{}
	addAll := func(ms []Member) {
		for _, m := range ms {
			ix.add(acc, m, 0)
		}
	}
	if slices.Contains(rel, "DIRECT") {
		addAll(g.g.Members)
	}
	for a := ix.parent[g.g.ID]; a != nil && slices.Contains(rel, "INHERITED"); a = ix.parent[a.ID] {
		addAll(a.Members)
	}
	if slices.Contains(rel, "DESCENDANTS") {
		for _, d := range ix.descendants(g.g) {
			addAll(d.Members)
		}
	}
	for a := g.g; a != nil && slices.Contains(rel, "SHARED_FROM_GROUPS"); a = ix.parent[a.ID] {
		for _, s := range a.SharedWithGroups {
			for _, e := range ix.groupEffectiveNoShares(ix.groupByKey[strings.ToLower(s.Group)]) {
				ix.add(acc, Member{User: e.user.Username, AccessLevel: e.level, MemberRole: e.role}, s.GroupAccessLevel)
			}
		}
	}
	all := make([]effective, 0, len(acc))
	for _, e := range acc {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b effective) int { return int(a.user.ID - b.user.ID) })
	sel, info, err := page(all, func(e effective) int64 { return e.user.ID }, pageArgs{args.First, args.After})
	if err != nil {
		return nil, err
	}
	c := &gqlMemberConnection{info: info}
	for _, e := range sel {
		c.nodes = append(c.nodes, &gqlMember{e: e, group: g.g, ix: ix})
	}
	return c, nil
}

type gqlMember struct {
	e     effective
	group *Group
	ix    *index
}

// ID is the membership's id; the simulator has no membership ids, so it is
// made of the group's and the user's.
func (m *gqlMember) ID() graphql.ID     { return gid("GroupMember", m.group.ID*1_000_000+m.e.user.ID) }
func (m *gqlMember) User() *gqlUser     { return &gqlUser{m.e.user} }
func (m *gqlMember) CreatedAt() *string { return &created }
func (m *gqlMember) ExpiresAt() *string { return nil }

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
