package gitlabsim

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

// Fixture is the declarative content of a simulated GitLab instance. Groups
// and projects are named by full path; members and tokens refer to users by
// username. Ids are optional: missing ones are assigned in file order.
//
//	{
//	  "users":   [{"username": "alice", "name": "Alice"}],
//	  "groups":  [{"full_path": "acme", "members": [{"user": "alice", "access_level": 30}]},
//	              {"full_path": "acme/backend"}],
//	  "projects":[{"path_with_namespace": "acme/backend/api", "visibility": "internal"}],
//	  "tokens":  [{"token": "glpat-sync", "user": "root", "scopes": ["read_api"]}]
//	}
type Fixture struct {
	Users             []User             `json:"users"`
	Groups            []Group            `json:"groups"`
	Projects          []Project          `json:"projects"`
	MemberRoles       []MemberRole       `json:"member_roles,omitempty"`
	Tokens            []Token            `json:"tokens"`
	OAuthApplications []OAuthApplication `json:"oauth_applications,omitempty"`
}

// User is a GitLab user.
type User struct {
	ID       int64  `json:"id,omitempty"`
	Username string `json:"username"`
	Name     string `json:"name,omitempty"`
	Email    string `json:"email,omitempty"`
	// State is "active" (default) or "blocked".
	State string `json:"state,omitempty"`
	// Admin users see every group; others see public and internal groups
	// and those they are members of.
	Admin bool `json:"admin,omitempty"`
}

// Member is a direct membership of a user in a group or project.
type Member struct {
	User        string `json:"user"`
	AccessLevel int    `json:"access_level"`
	// MemberRole names a custom role (Ultimate) of [Fixture.MemberRoles].
	MemberRole string `json:"member_role,omitempty"`
}

// Share invites a group into a group or project at a maximum access level.
type Share struct {
	Group            string `json:"group"`
	GroupAccessLevel int    `json:"group_access_level"`
}

// Group is a GitLab group; its parent is the full path minus the last
// segment.
type Group struct {
	ID               int64    `json:"id,omitempty"`
	FullPath         string   `json:"full_path"`
	Name             string   `json:"name,omitempty"`
	Visibility       string   `json:"visibility,omitempty"`
	Members          []Member `json:"members,omitempty"`
	SharedWithGroups []Share  `json:"shared_with_groups,omitempty"`
}

// Project is a GitLab project in a group.
type Project struct {
	ID                int64    `json:"id,omitempty"`
	PathWithNamespace string   `json:"path_with_namespace"`
	Name              string   `json:"name,omitempty"`
	Visibility        string   `json:"visibility,omitempty"`
	Members           []Member `json:"members,omitempty"`
	SharedWithGroups  []Share  `json:"shared_with_groups,omitempty"`
}

// MemberRole is a custom role defined on a root group.
type MemberRole struct {
	ID              int64  `json:"id,omitempty"`
	Name            string `json:"name"`
	BaseAccessLevel int    `json:"base_access_level"`
	Group           string `json:"group,omitempty"`
}

// Token is a personal or group access token.
type Token struct {
	Token  string   `json:"token"`
	User   string   `json:"user"`
	Scopes []string `json:"scopes"`
}

// OAuthApplication is an OAuth2 application registered on the instance.
type OAuthApplication struct {
	ClientID     string   `json:"client_id"`
	Secret       string   `json:"secret"`
	RedirectURIs []string `json:"redirect_uris,omitempty"` // empty: any
}

// LoadFixture reads a JSON fixture file.
func LoadFixture(path string) (*Fixture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseFixture(f)
}

// ParseFixture decodes and checks a JSON fixture.
func ParseFixture(r io.Reader) (*Fixture, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f Fixture
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("gitlabsim: fixture: %w", err)
	}
	if _, err := buildIndex(&f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Clone returns a deep copy of f.
func (f *Fixture) Clone() *Fixture {
	b, err := json.Marshal(f)
	if err != nil {
		panic(err) // a Fixture always marshals
	}
	var c Fixture
	if err := json.Unmarshal(b, &c); err != nil {
		panic(err)
	}
	return &c
}

// index is the fixture resolved for serving: ids assigned, references
// checked, trees and effective memberships ready to look up.
type index struct {
	users      []*User // by id order
	userByID   map[int64]*User
	userByName map[string]*User
	groups     []*Group // file order, parents before children
	groupByID  map[int64]*Group
	groupByKey map[string]*Group // full path, lower case
	parent     map[int64]*Group
	children   map[int64][]*Group
	projects   []*Project // id order
	projByID   map[int64]*Project
	projByKey  map[string]*Project
	projNS     map[int64]*Group // project id → namespace group
	projsOfNS  map[int64][]*Project
	roles      map[string]*MemberRole
	rolesOf    map[int64][]*MemberRole // root group id → roles
	tokens     map[string]*Token
	apps       map[string]*OAuthApplication
}

func parentPath(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

func lastSegment(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

func buildIndex(f *Fixture) (*index, error) {
	ix := &index{
		userByID: map[int64]*User{}, userByName: map[string]*User{},
		groupByID: map[int64]*Group{}, groupByKey: map[string]*Group{},
		parent: map[int64]*Group{}, children: map[int64][]*Group{},
		projByID: map[int64]*Project{}, projByKey: map[string]*Project{},
		projNS: map[int64]*Group{}, projsOfNS: map[int64][]*Project{},
		roles: map[string]*MemberRole{}, rolesOf: map[int64][]*MemberRole{},
		tokens: map[string]*Token{}, apps: map[string]*OAuthApplication{},
	}
	next := int64(1)
	for i := range f.Users {
		u := &f.Users[i]
		if u.Username == "" {
			return nil, fmt.Errorf("gitlabsim: fixture: user %d has no username", i)
		}
		if u.ID == 0 {
			u.ID = next
		}
		next = max(next, u.ID+1)
		if u.State == "" {
			u.State = "active"
		}
		if u.Name == "" {
			u.Name = u.Username
		}
		if ix.userByID[u.ID] != nil || ix.userByName[u.Username] != nil {
			return nil, fmt.Errorf("gitlabsim: fixture: user %q is not unique", u.Username)
		}
		ix.userByID[u.ID], ix.userByName[u.Username] = u, u
		ix.users = append(ix.users, u)
	}
	slices.SortFunc(ix.users, func(a, b *User) int { return int(a.ID - b.ID) })
	checkMembers := func(where string, ms []Member) error {
		for _, m := range ms {
			if ix.userByName[m.User] == nil {
				return fmt.Errorf("gitlabsim: fixture: %s: unknown user %q", where, m.User)
			}
			if m.AccessLevel < 5 || m.AccessLevel > 50 {
				return fmt.Errorf("gitlabsim: fixture: %s: access level %d", where, m.AccessLevel)
			}
		}
		return nil
	}
	next = max(next, 1000)
	for i := range f.Groups {
		g := &f.Groups[i]
		if g.FullPath == "" || strings.HasPrefix(g.FullPath, "/") || strings.HasSuffix(g.FullPath, "/") {
			return nil, fmt.Errorf("gitlabsim: fixture: group %d: bad full_path %q", i, g.FullPath)
		}
		if g.ID == 0 {
			g.ID = next
		}
		next = max(next, g.ID+1)
		if g.Name == "" {
			g.Name = lastSegment(g.FullPath)
		}
		if g.Visibility == "" {
			g.Visibility = "private"
		}
		key := strings.ToLower(g.FullPath)
		if ix.groupByID[g.ID] != nil || ix.groupByKey[key] != nil {
			return nil, fmt.Errorf("gitlabsim: fixture: group %q is not unique", g.FullPath)
		}
		if pp := parentPath(g.FullPath); pp != "" {
			p := ix.groupByKey[strings.ToLower(pp)]
			if p == nil {
				return nil, fmt.Errorf("gitlabsim: fixture: group %q comes before its parent", g.FullPath)
			}
			ix.parent[g.ID] = p
			ix.children[p.ID] = append(ix.children[p.ID], g)
		}
		if err := checkMembers("group "+g.FullPath, g.Members); err != nil {
			return nil, err
		}
		ix.groupByID[g.ID], ix.groupByKey[key] = g, g
		ix.groups = append(ix.groups, g)
	}
	checkShares := func(where string, ss []Share) error {
		for _, s := range ss {
			if ix.groupByKey[strings.ToLower(s.Group)] == nil {
				return fmt.Errorf("gitlabsim: fixture: %s: unknown shared group %q", where, s.Group)
			}
		}
		return nil
	}
	for _, g := range ix.groups {
		if err := checkShares("group "+g.FullPath, g.SharedWithGroups); err != nil {
			return nil, err
		}
	}
	next = max(next, 100000)
	for i := range f.Projects {
		p := &f.Projects[i]
		ns := ix.groupByKey[strings.ToLower(parentPath(p.PathWithNamespace))]
		if ns == nil {
			return nil, fmt.Errorf("gitlabsim: fixture: project %q: unknown namespace", p.PathWithNamespace)
		}
		if p.ID == 0 {
			p.ID = next
		}
		next = max(next, p.ID+1)
		if p.Name == "" {
			p.Name = lastSegment(p.PathWithNamespace)
		}
		if p.Visibility == "" {
			p.Visibility = "private"
		}
		key := strings.ToLower(p.PathWithNamespace)
		if ix.projByID[p.ID] != nil || ix.projByKey[key] != nil {
			return nil, fmt.Errorf("gitlabsim: fixture: project %q is not unique", p.PathWithNamespace)
		}
		if err := checkMembers("project "+p.PathWithNamespace, p.Members); err != nil {
			return nil, err
		}
		if err := checkShares("project "+p.PathWithNamespace, p.SharedWithGroups); err != nil {
			return nil, err
		}
		ix.projByID[p.ID], ix.projByKey[key] = p, p
		ix.projNS[p.ID] = ns
		ix.projsOfNS[ns.ID] = append(ix.projsOfNS[ns.ID], p)
		ix.projects = append(ix.projects, p)
	}
	slices.SortFunc(ix.projects, func(a, b *Project) int { return int(a.ID - b.ID) })
	for i := range f.MemberRoles {
		r := &f.MemberRoles[i]
		if r.ID == 0 {
			r.ID = int64(i + 1)
		}
		ix.roles[r.Name] = r
		if r.Group != "" {
			g := ix.groupByKey[strings.ToLower(r.Group)]
			if g == nil {
				return nil, fmt.Errorf("gitlabsim: fixture: member role %q: unknown group %q", r.Name, r.Group)
			}
			ix.rolesOf[g.ID] = append(ix.rolesOf[g.ID], r)
		}
	}
	for _, ms := range memberLists(f) {
		for _, m := range ms {
			if m.MemberRole != "" && ix.roles[m.MemberRole] == nil {
				return nil, fmt.Errorf("gitlabsim: fixture: unknown member role %q", m.MemberRole)
			}
		}
	}
	for i := range f.Tokens {
		t := &f.Tokens[i]
		if ix.userByName[t.User] == nil {
			return nil, fmt.Errorf("gitlabsim: fixture: token of unknown user %q", t.User)
		}
		ix.tokens[t.Token] = t
	}
	for i := range f.OAuthApplications {
		a := &f.OAuthApplications[i]
		ix.apps[a.ClientID] = a
	}
	return ix, nil
}

func memberLists(f *Fixture) [][]Member {
	var out [][]Member
	for _, g := range f.Groups {
		out = append(out, g.Members)
	}
	for _, p := range f.Projects {
		out = append(out, p.Members)
	}
	return out
}

// descendants returns g's subgroups at any depth, parents before children.
func (ix *index) descendants(g *Group) []*Group {
	var out []*Group
	var walk func(*Group)
	walk = func(p *Group) {
		for _, c := range ix.children[p.ID] {
			out = append(out, c)
			walk(c)
		}
	}
	walk(g)
	return out
}

// effective is one resolved membership: a user at a level, with the custom
// role that level came from.
type effective struct {
	user  *User
	level int
	role  string
}

// sortedByUser lists resolved memberships by user id.
func sortedByUser(acc map[int64]effective) []effective {
	out := slices.Collect(maps.Values(acc))
	slices.SortFunc(out, func(a, b effective) int { return cmp.Compare(a.user.ID, b.user.ID) })
	return out
}

func (ix *index) add(acc map[int64]effective, m Member, capLevel int) {
	u := ix.userByName[m.User]
	lvl, role := m.AccessLevel, m.MemberRole
	if capLevel > 0 && lvl > capLevel {
		lvl, role = capLevel, ""
	}
	if cur, ok := acc[u.ID]; !ok || lvl > cur.level {
		acc[u.ID] = effective{user: u, level: lvl, role: role}
	}
}

// Member relations, with the names of GitLab's GroupMemberRelation and
// ProjectMemberRelation enums.
const (
	relDirect              = "DIRECT"
	relInherited           = "INHERITED"
	relDescendants         = "DESCENDANTS"
	relSharedFromGroups    = "SHARED_FROM_GROUPS"    // groups invited into the group or an ancestor
	relInvitedGroups       = "INVITED_GROUPS"        // groups invited into the project
	relSharedIntoAncestors = "SHARED_INTO_ANCESTORS" // groups invited into the project's namespace or an ancestor
)

// What REST members/all answers, and GraphQL with these relations.
var (
	groupMembersAll   = []string{relDirect, relInherited, relSharedFromGroups}
	projectMembersAll = []string{relDirect, relInherited, relInvitedGroups, relSharedIntoAncestors}
)

// groupMembers resolves a group's memberships of the given relations as
// GitLab's GroupMembersFinder does: DIRECT (the group's own), INHERITED
// (its ancestors'), DESCENDANTS (its subgroups'), SHARED_FROM_GROUPS
// (members of groups invited into it or an ancestor, capped at the
// invitation's level; GitLab does not follow invitations transitively);
// each user once, at the highest level.
func (ix *index) groupMembers(g *Group, rel ...string) map[int64]effective {
	acc := map[int64]effective{}
	if slices.Contains(rel, relDirect) {
		ix.addAll(acc, g.Members)
	}
	for a := ix.parent[g.ID]; a != nil && slices.Contains(rel, relInherited); a = ix.parent[a.ID] {
		ix.addAll(acc, a.Members)
	}
	if slices.Contains(rel, relDescendants) {
		for _, d := range ix.descendants(g) {
			ix.addAll(acc, d.Members)
		}
	}
	for a := g; a != nil && slices.Contains(rel, relSharedFromGroups); a = ix.parent[a.ID] {
		ix.addInvited(acc, a.SharedWithGroups)
	}
	return acc
}

// projectMembers resolves a project's memberships of the given relations
// as GitLab's MembersFinder does: DIRECT (the project's own), INHERITED
// (its namespace's and the namespace's ancestors'), DESCENDANTS (the
// namespace's subgroups'), INVITED_GROUPS (members of groups invited into
// the project, and of their ancestors, capped at the invitation's level),
// SHARED_INTO_ANCESTORS (members of groups invited into the namespace or an
// ancestor, capped). Like GitLab's finder, any relations but DIRECT alone
// also bring the namespace's direct and inherited members: they are not a
// way to tell a project's invited groups apart.
func (ix *index) projectMembers(p *Project, rel ...string) map[int64]effective {
	if len(rel) == 1 && rel[0] == relDirect {
		acc := map[int64]effective{}
		ix.addAll(acc, p.Members)
		return acc
	}
	nsRel := []string{relDirect, relInherited}
	if slices.Contains(rel, relDescendants) {
		nsRel = append(nsRel, relDescendants)
	}
	if slices.Contains(rel, relSharedIntoAncestors) {
		nsRel = append(nsRel, relSharedFromGroups)
	}
	acc := ix.groupMembers(ix.projNS[p.ID], nsRel...)
	if slices.Contains(rel, relDirect) {
		ix.addAll(acc, p.Members)
	}
	if slices.Contains(rel, relInvitedGroups) {
		ix.addInvited(acc, p.SharedWithGroups)
	}
	return acc
}

func (ix *index) addAll(acc map[int64]effective, ms []Member) {
	for _, m := range ms {
		ix.add(acc, m, 0)
	}
}

// addInvited adds the members of invited groups (their own and their
// ancestors'), capped at each invitation's level.
func (ix *index) addInvited(acc map[int64]effective, shares []Share) {
	for _, s := range shares {
		for _, e := range ix.groupMembers(ix.groupByKey[strings.ToLower(s.Group)], relDirect, relInherited) {
			ix.add(acc, Member{User: e.user.Username, AccessLevel: e.level, MemberRole: e.role}, s.GroupAccessLevel)
		}
	}
}

//go:embed testdata/acme.json
var exampleJSON []byte

// Example returns the example fixture (testdata/acme.json): root groups
// acme (with subgroups, custom roles and an invited group) and partners,
// sync token glpat-sync-token (read_api), OAuth application gatehouse-app
// with secret gatehouse-secret.
func Example() *Fixture {
	f, err := ParseFixture(bytes.NewReader(exampleJSON))
	if err != nil {
		panic(err) // the embedded example is tested
	}
	return f
}
