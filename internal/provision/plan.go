package provision

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// Current is the store's state as a plan starts from: every user, group
// and project (names, logins and keys are unique across sources, so the plan
// must see the others' too), every membership and every project grant.
type Current struct {
	Users       []identity.User
	Groups      []identity.Group
	Memberships []identity.Membership
	Projects    []identity.Project
	Grants      []identity.Grant
}

// PlanOptions are the inputs of a plan besides the two states.
type PlanOptions struct {
	Source identity.Source
	Policy Policy
	// FirstRun is true until the source's first successful run: that run
	// resets manual memberships and project permissions of the accounts it
	// provisions (SonarQube's rule, seed 002).
	FirstRun bool
}

// MemberRef names a membership to add by login and group name: the user or
// the group may only be created by the same plan.
type MemberRef struct {
	Login, Group string
}

// GrantRef names a project permission to grant to a user by login and
// project key.
type GrantRef struct {
	Login, Project string
	Permission     identity.Permission
}

// Plan is the difference between the store and a source's snapshot. Objects
// to update carry their new value (ID set); objects to create have none.
type Plan struct {
	CreateUsers     []identity.User
	UpdateUsers     []identity.User // new name, e-mail, login or external id
	ReactivateUsers []identity.User
	DeactivateUsers []identity.User

	CreateGroups []identity.Group
	UpdateGroups []identity.Group // renamed, or adopted (external id)
	RemoveGroups []identity.Group

	AddMembers    []MemberRef
	RemoveMembers []identity.Membership

	CreateProjects []identity.Project
	UpdateProjects []identity.Project // new name or visibility

	Grant  []GrantRef
	Revoke []identity.Grant

	// Warnings are what the plan skipped (a name taken by another source,
	// an invalid login…); they end up in the run.
	Warnings []string
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return p.Changes() == 0 }

// Changes counts the plan's changes.
func (p *Plan) Changes() int {
	return len(p.CreateUsers) + len(p.UpdateUsers) + len(p.ReactivateUsers) + len(p.DeactivateUsers) +
		len(p.CreateGroups) + len(p.UpdateGroups) + len(p.RemoveGroups) +
		len(p.AddMembers) + len(p.RemoveMembers) +
		len(p.CreateProjects) + len(p.UpdateProjects) + len(p.Grant) + len(p.Revoke)
}

// Removals counts the memberships the plan takes away, including those a
// removed group takes with it, given the memberships of cur.
func (p *Plan) Removals(cur Current) int {
	n := len(p.RemoveMembers)
	if len(p.RemoveGroups) == 0 {
		return n
	}
	gone := map[int64]bool{}
	for _, g := range p.RemoveGroups {
		gone[g.ID] = true
	}
	for _, m := range cur.Memberships {
		if gone[m.GroupID] {
			n++
		}
	}
	return n
}

// MakePlan computes what turns cur into what snap describes for one source.
// It is pure: the same inputs give the same plan, in a deterministic order.
// It never touches global permissions, users and groups of other sources
// (but, with Policy.UseExistingGroups, their memberships in groups the
// source names), or the built-in sonar-users group.
func MakePlan(cur Current, snap Snapshot, opts PlanOptions) Plan {
	pl := planner{cur: cur, snap: snap, opts: opts, src: opts.Source}
	pl.users()
	pl.groups()
	pl.memberships()
	if snap.ManagesProjects {
		pl.projects()
		pl.permissions()
	}
	pl.plan.Warnings = append(slices.Clone(snap.Warnings), pl.plan.Warnings...)
	return pl.plan
}

type planner struct {
	cur  Current
	snap Snapshot
	opts PlanOptions
	src  identity.Source
	plan Plan

	// loginOf maps a snapshot user's external id to the login it has after
	// the plan; users the plan skips are absent.
	loginOf map[string]string
	// sourceUser holds the ids of the source's users.
	sourceUser map[int64]bool
	// groupOf maps a snapshot group's external id to its Gatehouse name
	// after the plan; managedGroup holds the names whose memberships the
	// source owns.
	groupOf      map[string]string
	managedGroup map[string]bool
	// projectOf maps a snapshot project's external id to its key, and
	// publicKey holds the keys of projects public after the plan.
	projectOf map[string]string
	publicKey map[string]bool
}

func (pl *planner) warn(format string, args ...any) {
	pl.plan.Warnings = append(pl.plan.Warnings, fmt.Sprintf(format, args...))
}

func (pl *planner) users() {
	pl.loginOf = map[string]string{}
	pl.sourceUser = map[int64]bool{}
	byExt := map[string]identity.User{}
	byLogin := map[string]identity.User{}
	for _, u := range pl.cur.Users {
		byLogin[u.Login] = u
		if u.Source == pl.src {
			pl.sourceUser[u.ID] = true
			if u.ExternalID != "" {
				byExt[u.ExternalID] = u
			}
		}
	}
	seen := map[int64]bool{}
	taken := map[string]bool{} // logins the plan gives out
	for _, su := range sortedBy(pl.snap.Users, func(u User) string { return u.ExternalID + "\x00" + u.Login }) {
		if su.ExternalID == "" {
			pl.warn("user %q has no external id: skipped", su.Login)
			continue
		}
		if _, dup := pl.loginOf[su.ExternalID]; dup {
			pl.warn("user external id %q appears twice: the second (%q) is skipped", su.ExternalID, su.Login)
			continue
		}
		if taken[su.Login] {
			pl.warn("login %q is used by two users of the source: %q skipped", su.Login, su.ExternalID)
			continue
		}
		old, ok := byExt[su.ExternalID]
		if !ok {
			// A user of this source without (or with another) external id
			// is the same account: LDAP sign-ins created it first.
			if u, byName := byLogin[su.Login]; byName && u.Source == pl.src && !seen[u.ID] {
				old, ok = u, true
			}
		}
		if other, clash := byLogin[su.Login]; clash && (!ok || other.ID != old.ID) {
			if ok {
				pl.warn("user %q cannot be renamed to %q: the login is taken by a %s user", old.Login, su.Login, other.Source)
				seen[old.ID] = true
				pl.loginOf[su.ExternalID] = old.Login
				taken[old.Login] = true
				continue
			}
			pl.warn("user %q is skipped: the login is taken by a %s user", su.Login, other.Source)
			continue
		}
		want := identity.User{Login: su.Login, Name: cmp.Or(su.Name, su.Login), Email: su.Email, ExternalID: su.ExternalID, Source: pl.src, Active: su.Active}
		if err := identity.ValidateUser(want); err != nil {
			pl.warn("user %q is skipped: %v", su.Login, err)
			continue
		}
		taken[su.Login] = true
		if !ok {
			if su.Active {
				pl.plan.CreateUsers = append(pl.plan.CreateUsers, want)
				pl.loginOf[su.ExternalID] = su.Login
			}
			continue
		}
		seen[old.ID] = true
		pl.loginOf[su.ExternalID] = su.Login
		if su.Email == "" {
			// The source does not tell (GitLab's member listings carry no
			// e-mail): keep what sign-in or an earlier source stored.
			want.Email = old.Email
		}
		next := old
		next.Login, next.Name, next.Email, next.ExternalID = want.Login, want.Name, want.Email, want.ExternalID
		changed := next.Login != old.Login || next.Name != old.Name || next.Email != old.Email || next.ExternalID != old.ExternalID
		switch {
		case su.Active && !old.Active:
			next.Active = true
			pl.plan.ReactivateUsers = append(pl.plan.ReactivateUsers, next)
		case !su.Active && old.Active:
			next.Active = false
			pl.plan.DeactivateUsers = append(pl.plan.DeactivateUsers, next)
		case changed:
			pl.plan.UpdateUsers = append(pl.plan.UpdateUsers, next)
		}
	}
	for _, u := range pl.cur.Users {
		if u.Source == pl.src && u.Active && !seen[u.ID] {
			next := u
			next.Active = false
			pl.plan.DeactivateUsers = append(pl.plan.DeactivateUsers, next)
		}
	}
}

func (pl *planner) groups() {
	pl.groupOf = map[string]string{}
	pl.managedGroup = map[string]bool{}
	byExt := map[string]identity.Group{}
	byName := map[string]identity.Group{}
	for _, g := range pl.cur.Groups {
		byName[g.Name] = g
		if g.Source == pl.src && g.ExternalID != "" {
			byExt[g.ExternalID] = g
		}
	}
	kept := map[int64]bool{}
	names := map[string]bool{}
	for _, sg := range sortedBy(pl.snap.Groups, func(g Group) string { return g.ExternalID + "\x00" + g.Name }) {
		if sg.ExternalID == "" {
			pl.warn("group %q has no external id: skipped", sg.Name)
			continue
		}
		if _, dup := pl.groupOf[sg.ExternalID]; dup || names[sg.Name] {
			pl.warn("group %q (%s) appears twice: skipped", sg.Name, sg.ExternalID)
			continue
		}
		if sg.Name == identity.GroupUsers {
			// Every user is in it implicitly; it is nobody's to manage.
			continue
		}
		want := identity.Group{Name: sg.Name, Source: pl.src, ExternalID: sg.ExternalID, Description: "Synchronised from " + string(pl.src)}
		if err := identity.ValidateGroup(want); err != nil {
			pl.warn("group %q is skipped: %v", sg.Name, err)
			continue
		}
		old, ok := byExt[sg.ExternalID]
		other, clash := byName[sg.Name]
		switch {
		case ok && (!clash || other.ID == old.ID):
			kept[old.ID] = true
			if old.Name != sg.Name {
				next := old
				next.Name = sg.Name
				pl.plan.UpdateGroups = append(pl.plan.UpdateGroups, next)
			}
		case ok:
			kept[old.ID] = true
			pl.warn("group %q cannot be renamed to %q: the name is taken by a %s group", old.Name, sg.Name, other.Source)
			pl.groupOf[sg.ExternalID] = old.Name
			pl.managedGroup[old.Name] = true
			names[old.Name] = true
			continue
		case clash && other.Source == pl.src:
			// The source's group of that name under another id (recreated
			// at the source): adopt it rather than fail on the name.
			kept[other.ID] = true
			next := other
			next.ExternalID = sg.ExternalID
			pl.plan.UpdateGroups = append(pl.plan.UpdateGroups, next)
		case clash && pl.opts.Policy.UseExistingGroups:
			kept[other.ID] = true
		case clash:
			pl.warn("group %q is skipped: the name is taken by a %s group", sg.Name, other.Source)
			continue
		default:
			pl.plan.CreateGroups = append(pl.plan.CreateGroups, want)
		}
		names[sg.Name] = true
		pl.groupOf[sg.ExternalID] = sg.Name
		pl.managedGroup[sg.Name] = true
	}
	for _, g := range pl.cur.Groups {
		if g.Source == pl.src && !kept[g.ID] && !g.BuiltIn() {
			if pl.opts.Policy.UseExistingGroups {
				// The source maps onto groups by name and may name this one
				// again; it keeps the group and only drops the memberships.
				pl.managedGroup[g.Name] = true
				continue
			}
			pl.plan.RemoveGroups = append(pl.plan.RemoveGroups, g)
		}
	}
}

func (pl *planner) memberships() {
	want := map[MemberRef]bool{}
	for _, m := range pl.snap.Memberships {
		login, ok1 := pl.loginOf[m.UserExternalID]
		group, ok2 := pl.groupOf[m.GroupExternalID]
		if ok1 && ok2 {
			want[MemberRef{Login: login, Group: group}] = true
		}
	}
	users, loginAfter := pl.usersAfter()
	groups := map[int64]identity.Group{}
	for _, g := range pl.cur.Groups {
		groups[g.ID] = g
	}
	nameAfter := map[int64]string{}
	for _, g := range pl.plan.UpdateGroups {
		nameAfter[g.ID] = g.Name
	}
	removed := map[int64]bool{}
	for _, g := range pl.plan.RemoveGroups {
		removed[g.ID] = true
	}
	have := map[MemberRef]bool{}
	for _, m := range pl.cur.Memberships {
		u, g := users[m.UserID], groups[m.GroupID]
		if removed[g.ID] || g.Name == identity.GroupUsers {
			continue
		}
		ref := MemberRef{Login: cmp.Or(loginAfter[u.ID], u.Login), Group: cmp.Or(nameAfter[g.ID], g.Name)}
		have[ref] = true
		if want[ref] {
			continue
		}
		ownUser := pl.sourceUser[u.ID]
		managed := pl.managedGroup[ref.Group] && (g.Source == pl.src || ownUser)
		if ownUser && (pl.opts.Policy.OwnAllMemberships || pl.opts.FirstRun) {
			managed = true
		}
		if managed {
			pl.plan.RemoveMembers = append(pl.plan.RemoveMembers, m)
		}
	}
	for ref := range want {
		if !have[ref] {
			pl.plan.AddMembers = append(pl.plan.AddMembers, ref)
		}
	}
	slices.SortFunc(pl.plan.AddMembers, func(a, b MemberRef) int {
		return cmp.Or(strings.Compare(a.Group, b.Group), strings.Compare(a.Login, b.Login))
	})
}

func (pl *planner) projects() {
	pl.projectOf = map[string]string{}
	pl.publicKey = map[string]bool{}
	byExt := map[string]identity.Project{}
	byKey := map[string]identity.Project{}
	for _, p := range pl.cur.Projects {
		byKey[p.Key] = p
		if p.Source == pl.src && p.ExternalID != "" {
			byExt[p.ExternalID] = p
		}
	}
	keys := map[string]bool{}
	for _, sp := range sortedBy(pl.snap.Projects, func(p Project) string { return p.ExternalID + "\x00" + p.Key }) {
		if _, dup := pl.projectOf[sp.ExternalID]; dup || sp.ExternalID == "" || keys[sp.Key] {
			pl.warn("project %q (%q) has no external id or appears twice: skipped", sp.Key, sp.ExternalID)
			continue
		}
		vis := sp.Visibility
		if vis != identity.Public {
			vis = identity.Private
		}
		want := identity.Project{Key: sp.Key, Name: cmp.Or(sp.Name, sp.Key), Visibility: vis, Source: pl.src, ExternalID: sp.ExternalID, ExternalPath: sp.ExternalPath}
		old, ok := byExt[sp.ExternalID]
		if !ok {
			if other, clash := byKey[sp.Key]; clash {
				pl.warn("project %q is skipped: the key is taken by a %s project", sp.Key, other.Source)
				continue
			}
			if err := identity.ValidateProject(want); err != nil {
				pl.warn("project %q is skipped: %v", sp.Key, err)
				continue
			}
			keys[sp.Key] = true
			pl.projectOf[sp.ExternalID] = sp.Key
			pl.publicKey[sp.Key] = vis == identity.Public
			pl.plan.CreateProjects = append(pl.plan.CreateProjects, want)
			continue
		}
		// A provisioned project keeps its key: analyses refer to it.
		keys[old.Key] = true
		pl.projectOf[sp.ExternalID] = old.Key
		pl.publicKey[old.Key] = vis == identity.Public
		if old.Name != want.Name || old.Visibility != want.Visibility || old.ExternalPath != want.ExternalPath {
			next := old
			next.Name, next.Visibility, next.ExternalPath = want.Name, want.Visibility, want.ExternalPath
			pl.plan.UpdateProjects = append(pl.plan.UpdateProjects, next)
		}
	}
}

func (pl *planner) permissions() {
	// A grant is one integer: its key's, login's and permission's ranks in
	// sorted order, so that sorting the integers sorts the grants by
	// project, login and permission. A first GitLab run plans millions,
	// which as strings in maps cost most of the plan.
	users, loginAfter := pl.usersAfter()
	projects := make(map[int64]identity.Project, len(pl.cur.Projects))
	var logins, keys []string
	for _, p := range pl.cur.Projects {
		projects[p.ID] = p
		keys = append(keys, p.Key)
	}
	for _, u := range pl.cur.Users {
		logins = append(logins, cmp.Or(loginAfter[u.ID], u.Login))
	}
	for _, l := range pl.loginOf {
		logins = append(logins, l)
	}
	for _, k := range pl.projectOf {
		keys = append(keys, k)
	}
	loginRank, loginAt := ranks(logins)
	keyRank, keyAt := ranks(keys)
	permRank, permAt := ranks(identity.ProjectPermissions)
	if len(loginAt) >= 1<<grantLoginBits || len(keyAt) >= 1<<(64-grantLoginBits-grantPermBits) {
		pl.warn("%d logins and %d projects are more than a plan can hold: project permissions are left as they are", len(loginAt), len(keyAt))
		return
	}
	pack := func(key, login, perm int) uint64 {
		return uint64(key)<<(grantLoginBits+grantPermBits) | uint64(login)<<grantPermBits | uint64(perm)
	}

	userOf := make(map[string]int, len(pl.loginOf))
	for ext, l := range pl.loginOf {
		userOf[ext] = loginRank[l]
	}
	projectOf := make(map[string]int, len(pl.projectOf))
	for ext, k := range pl.projectOf {
		projectOf[ext] = keyRank[k]
	}
	want := make([]uint64, 0, len(pl.snap.Permissions))
	for _, p := range pl.snap.Permissions {
		login, ok1 := userOf[p.UserExternalID]
		key, ok2 := projectOf[p.ProjectExternalID]
		perm, ok3 := permRank[p.Permission]
		// Everyone holds browse and see-source on a public project; such
		// a grant would be a no-op the next run plans again.
		if ok1 && ok2 && ok3 && !(pl.publicKey[keyAt[key]] && p.Permission.ImplicitOnPublic()) {
			want = append(want, pack(key, login, perm))
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)

	type held struct {
		grant uint64
		at    int // in cur.Grants
	}
	have := make([]held, 0, len(pl.cur.Grants))
	for i, g := range pl.cur.Grants {
		if g.Global() || g.Subject.Kind != identity.SubjectUser {
			continue
		}
		u, okU := users[g.Subject.ID]
		p, okP := projects[g.ProjectID]
		if !okU || !okP {
			continue
		}
		perm, ok := permRank[g.Permission]
		if !ok {
			perm = len(permAt) // not a project permission: never wanted
		}
		have = append(have, held{pack(keyRank[p.Key], loginRank[cmp.Or(loginAfter[u.ID], u.Login)], perm), i})
	}
	slices.SortFunc(have, func(a, b held) int { return cmp.Compare(a.grant, b.grant) })

	var revoke []int
	i := 0
	for _, h := range have {
		for i < len(want) && want[i] < h.grant {
			pl.plan.Grant = append(pl.plan.Grant, grantRef(want[i], loginAt, keyAt, permAt))
			i++
		}
		if i < len(want) && want[i] == h.grant {
			i++
		}
		if i > 0 && want[i-1] == h.grant {
			continue // wanted and held (by this grant or an earlier one)
		}
		g := pl.cur.Grants[h.at]
		// The source owns its users' permissions on its projects, and on
		// the first run every project permission of its users.
		if pl.sourceUser[g.Subject.ID] && (projects[g.ProjectID].Source == pl.src || pl.opts.FirstRun) {
			revoke = append(revoke, h.at)
		}
	}
	for ; i < len(want); i++ {
		pl.plan.Grant = append(pl.plan.Grant, grantRef(want[i], loginAt, keyAt, permAt))
	}
	slices.Sort(revoke) // in the store's order
	for _, at := range revoke {
		pl.plan.Revoke = append(pl.plan.Revoke, pl.cur.Grants[at])
	}
}

// The bits of a planned grant: the rest (36) are the project key's rank.
const (
	grantLoginBits = 24
	grantPermBits  = 4
)

func grantRef(g uint64, loginAt, keyAt []string, permAt []identity.Permission) GrantRef {
	return GrantRef{
		Project:    keyAt[g>>(grantLoginBits+grantPermBits)],
		Login:      loginAt[g>>grantPermBits&(1<<grantLoginBits-1)],
		Permission: permAt[g&(1<<grantPermBits-1)],
	}
}

// ranks sorts and dedupes xs and returns each value's rank.
func ranks[T cmp.Ordered](xs []T) (map[T]int, []T) {
	sorted := slices.Compact(slices.Sorted(slices.Values(xs)))
	rank := make(map[T]int, len(sorted))
	for i, x := range sorted {
		rank[x] = i
	}
	return rank, sorted
}

// usersAfter returns the store's users by id and the login each has after
// the plan's user changes (listed for the users the plan changes).
func (pl *planner) usersAfter() (map[int64]identity.User, map[int64]string) {
	users := map[int64]identity.User{}
	for _, u := range pl.cur.Users {
		users[u.ID] = u
	}
	loginAfter := map[int64]string{}
	for _, list := range [][]identity.User{pl.plan.UpdateUsers, pl.plan.ReactivateUsers, pl.plan.DeactivateUsers} {
		for _, u := range list {
			loginAfter[u.ID] = u.Login
		}
	}
	return users, loginAfter
}

// sortedBy returns xs sorted by key, leaving xs as it is: a connector's
// order must not change the plan.
func sortedBy[T any](xs []T, key func(T) string) []T {
	out := slices.Clone(xs)
	slices.SortStableFunc(out, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	return out
}
