package state

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The provisioning engine (package provision) plans a pull source's changes
// and applies them here, in batches: each batch is one write, each change in
// it its own audit event with the context's actor (the connector), and the
// index follows after the batch commits.

// SourceChangeKind says what a [SourceChange] does.
type SourceChangeKind int

// Kinds of source changes.
const (
	CreateUser SourceChangeKind = iota + 1
	// UpdateUser rewrites login, name, e-mail, external id and active of
	// User (by ID); deactivating revokes the user's tokens.
	UpdateUser
	CreateGroup
	UpdateGroup // name and external id of Group (by ID)
	DeleteGroup
	AddMember
	RemoveMember
	CreateProject
	UpdateProject // name, visibility and external path of Project (by ID)
	AddGrant
	RemoveGrant
)

// SourceChange is one change of a provisioning run. Only the field its kind
// names is read.
type SourceChange struct {
	Kind       SourceChangeKind
	User       identity.User
	Group      identity.Group
	Project    identity.Project
	Membership identity.Membership
	Grant      identity.Grant
}

// SourceResult is the outcome of one change: the id a create gave, whether
// it wrote anything, or the domain error that refused it.
type SourceResult struct {
	ID      int64
	Changed bool
	Err     error
}

// ProvisionSnapshot reads the whole store in one consistent read, for a
// plan.
func (s *State) ProvisionSnapshot(ctx context.Context) (store.Snapshot, error) {
	return s.store.Snapshot(ctx)
}

// ApplySource applies one batch of changes of source src. A change that
// refers to another source's object, or that the rules refuse (the last
// administrator…), is refused alone with its error; a store failure fails
// the batch, which then writes nothing.
//
// The batch's AddMember and AddGrant changes are applied together, after
// its other changes: a first GitLab run adds hundreds of thousands of
// memberships and grants millions. They are inserted many a statement,
// and each group's new members (group.add_user, After naming the logins)
// and each project's new grants (permission.add, After naming every
// subject's permissions) are one audit event rather than one each.
func (s *State) ApplySource(ctx context.Context, src identity.Source, changes []SourceChange) ([]SourceResult, error) {
	if !src.Managed() {
		return nil, identity.Errorf(identity.ErrInvalid, "source %q cannot provision", src)
	}
	ctx = WithActor(ctx, Actor{Name: "connector:" + string(src), Source: src, RequestID: ActorFrom(ctx).RequestID, ClientAddress: ActorFrom(ctx).ClientAddress})
	ids := make([]int64, len(changes))
	res, err := s.bulkThen(ctx, len(changes), BulkOptions{}, func(tx store.Tx, i int) (audit, func(), error) {
		if k := changes[i].Kind; k == AddMember || k == AddGrant {
			return audit{}, nil, nil // settled below
		}
		return s.sourceChangeTx(ctx, tx, src, changes[i], &ids[i])
	}, func(tx store.Tx, res []ItemResult) ([]audit, func(), error) {
		members, addMembers, err := s.sourceMembersTx(ctx, tx, src, changes, res)
		if err != nil {
			return nil, nil, err
		}
		grants, addGrants, err := s.sourceGrantsTx(ctx, tx, changes, res)
		if err != nil {
			return nil, nil, err
		}
		return append(members, grants...), func() {
			addMembers()
			addGrants()
		}, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]SourceResult, len(res))
	for i, r := range res {
		out[i] = SourceResult{ID: ids[i], Changed: r.Changed, Err: r.Err}
	}
	return out, nil
}

// membersView is the audit view of one write's new members of one group.
type membersView struct {
	Group  string   `json:"group"`
	Logins []string `json:"logins"`
}

// sourceMembersTx applies the AddMember changes of a batch: each is
// checked as the one-by-one path checks one, and each group's are added
// in one statement with one audit event.
func (s *State) sourceMembersTx(ctx context.Context, tx store.Tx, src identity.Source, changes []SourceChange, res []ItemResult) ([]audit, func(), error) {
	type pending struct {
		group identity.Group
		users []int64
		at    map[int64]int // change index + 1, by user
		login map[int64]string
	}
	byGroup := map[int64]*pending{}
	var order []int64
	refuse := func(i int, err error) error {
		if !isDomain(err) {
			return err
		}
		res[i].Err = err
		return nil
	}
	for i, c := range changes {
		if c.Kind != AddMember {
			continue
		}
		m := c.Membership
		p := byGroup[m.GroupID]
		if p == nil {
			g, err := lookUpGroup(ctx, tx, m.GroupID)
			if err != nil {
				if err := refuse(i, err); err != nil {
					return nil, nil, err
				}
				continue
			}
			p = &pending{group: g, at: map[int64]int{}, login: map[int64]string{}}
			byGroup[m.GroupID] = p
			order = append(order, m.GroupID)
		}
		u, err := lookUpUser(ctx, tx, m.UserID)
		if err != nil {
			if err := refuse(i, err); err != nil {
				return nil, nil, err
			}
			continue
		}
		if err := managesMembership(src, u, p.group); err != nil {
			res[i].Err = err
			continue
		}
		if p.at[u.ID] == 0 {
			p.at[u.ID] = i + 1
			p.login[u.ID] = u.Login
			p.users = append(p.users, u.ID)
		}
	}
	var events []audit
	var added []identity.Membership
	for _, gid := range order {
		p := byGroup[gid]
		if len(p.users) == 0 {
			continue
		}
		ids, err := tx.AddMembers(ctx, gid, p.users)
		if err != nil {
			return nil, nil, err
		}
		if len(ids) == 0 {
			continue
		}
		slices.Sort(ids)
		v := membersView{Group: p.group.Name}
		for _, id := range ids {
			res[p.at[id]-1].Changed = true
			v.Logins = append(v.Logins, p.login[id])
			added = append(added, identity.Membership{UserID: id, GroupID: gid})
		}
		slices.Sort(v.Logins)
		events = append(events, audit{Action: "group.add_user", Target: "group:" + p.group.Name, After: v})
	}
	return events, func() {
		for _, m := range added {
			s.index.AddMember(m.UserID, m.GroupID)
		}
	}, nil
}

// managesMembership says whether src may change u's membership in g: in
// the built-in sonar-users never, else when the user or the group is src's.
func managesMembership(src identity.Source, u identity.User, g identity.Group) error {
	if g.Name == identity.GroupUsers || (u.Source != src && g.Source != src) {
		return identity.Errorf(identity.ErrManaged, "The membership of '%s' in '%s' is not managed by %s", u.Login, g.Name, src)
	}
	return nil
}

var errSourceGrant = identity.Errorf(identity.ErrInvalid, "A source grants project permissions to users only")

// grantsView is the audit view of one write's grants on one project: each
// subject's permissions.
type grantsView struct {
	Project string                           `json:"project"`
	Grants  map[string][]identity.Permission `json:"grants"`
}

// sourceGrantsTx applies the AddGrant changes of a batch: each is checked
// as grantTx checks one, those not held yet are inserted together, and
// each project's are one audit event.
func (s *State) sourceGrantsTx(ctx context.Context, tx store.Tx, changes []SourceChange, res []ItemResult) ([]audit, func(), error) {
	projects := map[int64]identity.Project{}
	subjects := map[int64]string{}
	// A source's grants are users' project permissions: user, project and
	// permission identify one, and integers hash faster than a Grant.
	type userGrant struct {
		user, project int64
		perm          identity.Permission
	}
	at := map[userGrant]int{}
	var gs []identity.Grant
	for i, c := range changes {
		if c.Kind != AddGrant {
			continue
		}
		g := c.Grant
		if g.Global() || g.Subject.Kind != identity.SubjectUser {
			res[i].Err = errSourceGrant
			continue
		}
		p, ok := projects[g.ProjectID]
		if !ok {
			var err error
			if p, err = lookUpProject(ctx, tx, g.ProjectID); err != nil {
				if !isDomain(err) {
					return nil, nil, err
				}
				res[i].Err = err
				continue
			}
			projects[g.ProjectID] = p
		}
		if p.Visibility == identity.Public && g.Permission.ImplicitOnPublic() {
			continue // everyone holds it (grantTx)
		}
		if err := identity.ValidateGrant(g, &p); err != nil {
			res[i].Err = err
			continue
		}
		if _, ok := subjects[g.Subject.ID]; !ok {
			name, err := subjectName(ctx, tx, g.Subject)
			if err != nil {
				if !isDomain(err) {
					return nil, nil, err
				}
				res[i].Err = err
				continue
			}
			subjects[g.Subject.ID] = name
		}
		if k := (userGrant{g.Subject.ID, g.ProjectID, g.Permission}); at[k] == 0 {
			at[k] = i + 1 // 0: absent
			gs = append(gs, g)
		}
	}
	added, err := tx.AddGrants(ctx, gs)
	if err != nil {
		return nil, nil, err
	}
	views := map[int64]*grantsView{}
	for _, g := range added {
		res[at[userGrant{g.Subject.ID, g.ProjectID, g.Permission}]-1].Changed = true
		v := views[g.ProjectID]
		if v == nil {
			v = &grantsView{Project: projects[g.ProjectID].Key, Grants: map[string][]identity.Permission{}}
			views[g.ProjectID] = v
		}
		name := subjects[g.Subject.ID]
		v.Grants[name] = append(v.Grants[name], g.Permission)
	}
	events := make([]audit, 0, len(views))
	for _, pid := range slices.Sorted(maps.Keys(views)) {
		v := views[pid]
		for _, ps := range v.Grants {
			slices.Sort(ps)
		}
		events = append(events, audit{Action: "permission.add", Target: "project:" + v.Project, After: v})
	}
	return events, func() {
		for _, g := range added {
			s.index.AddGrant(g)
		}
	}, nil
}

func (s *State) sourceChangeTx(ctx context.Context, tx store.Tx, src identity.Source, c SourceChange, id *int64) (audit, func(), error) {
	switch c.Kind {
	case CreateUser:
		u := c.User
		u.Source, u.PasswordHash, u.Active = src, "", true
		if err := identity.ValidateUser(u); err != nil {
			return audit{}, nil, err
		}
		out, err := tx.CreateUser(ctx, u)
		if err != nil {
			return audit{}, nil, err
		}
		*id = out.ID
		return audit{Action: "user.create", Target: "user:" + out.Login, After: viewUser(out)}, func() { s.index.PutUser(out) }, nil

	case UpdateUser:
		old, err := tx.GetUser(ctx, c.User.ID)
		if err != nil {
			return audit{}, nil, err
		}
		if old.Source != src {
			return audit{}, nil, notSources(src, "user", old.Login, old.Source)
		}
		u := old
		u.Login, u.Name, u.Email, u.ExternalID, u.Active = c.User.Login, c.User.Name, c.User.Email, c.User.ExternalID, c.User.Active
		if err := identity.ValidateUser(u); err != nil {
			return audit{}, nil, err
		}
		if sameUser(u, old) {
			return audit{}, nil, nil
		}
		if !u.Active && old.Active && s.removesLastAdmin(authz.Without{User: old.ID}) {
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "The last administrator user cannot be deactivated")
		}
		u.UpdatedAt = s.now()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return audit{}, nil, err
		}
		action := "user.update"
		var gone deactivation
		switch {
		case !u.Active && old.Active:
			action = "user.deactivate"
			if gone, err = s.deactivate(ctx, tx, u); err != nil {
				return audit{}, nil, err
			}
		case u.Active && !old.Active:
			action = "user.activate"
		}
		apply := func() {
			s.index.PutUser(u)
			gone.apply(s, u.ID)
		}
		return audit{Action: action, Target: "user:" + old.Login, Before: viewUser(old), After: viewUser(u)}, apply, nil

	case CreateGroup:
		g := c.Group
		g.Source = src
		if err := identity.ValidateGroup(g); err != nil {
			return audit{}, nil, err
		}
		out, err := tx.CreateGroup(ctx, g)
		if err != nil {
			return audit{}, nil, err
		}
		*id = out.ID
		return audit{Action: "group.create", Target: "group:" + out.Name, After: viewGroup(out)}, func() { s.index.PutGroup(out) }, nil

	case UpdateGroup:
		old, err := tx.GetGroup(ctx, c.Group.ID)
		if err != nil {
			return audit{}, nil, err
		}
		if old.Source != src || old.BuiltIn() {
			return audit{}, nil, notSources(src, "group", old.Name, old.Source)
		}
		g := old
		g.Name, g.ExternalID = c.Group.Name, c.Group.ExternalID
		if err := identity.ValidateGroup(g); err != nil {
			return audit{}, nil, err
		}
		if g.Name == old.Name && g.ExternalID == old.ExternalID {
			return audit{}, nil, nil
		}
		g.UpdatedAt = s.now()
		if err := tx.UpdateGroup(ctx, g); err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "group.update", Target: "group:" + old.Name, Before: viewGroup(old), After: viewGroup(g)}, func() { s.index.PutGroup(g) }, nil

	case DeleteGroup:
		g, err := tx.GetGroup(ctx, c.Group.ID)
		if err != nil {
			return audit{}, nil, err
		}
		if g.Source != src || g.BuiltIn() {
			return audit{}, nil, notSources(src, "group", g.Name, g.Source)
		}
		if s.removesLastAdmin(authz.Without{Grant: &identity.Subject{Kind: identity.SubjectGroup, ID: g.ID}}) {
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "The last group with 'Administer System' permission cannot be deleted")
		}
		if err := tx.DeleteGroup(ctx, g.ID); err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "group.delete", Target: "group:" + g.Name, Before: viewGroup(g)}, func() { s.index.DeleteGroup(g.ID) }, nil

	case RemoveMember: // AddMember: sourceMembersTx
		m := c.Membership
		if s.removesLastAdmin(authz.Without{Membership: m}) {
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "The last administrator user cannot be removed")
		}
		u, err := tx.GetUser(ctx, m.UserID)
		if err != nil {
			return audit{}, nil, err
		}
		g, err := tx.GetGroup(ctx, m.GroupID)
		if err != nil {
			return audit{}, nil, err
		}
		if err := managesMembership(src, u, g); err != nil {
			return audit{}, nil, err
		}
		view := map[string]string{"login": u.Login, "group": g.Name}
		removed, err := tx.RemoveMember(ctx, m.UserID, m.GroupID)
		if err != nil || !removed {
			return audit{}, nil, err
		}
		return audit{Action: "group.remove_user", Target: "group:" + g.Name, Before: view}, func() { s.index.RemoveMember(m.UserID, m.GroupID) }, nil

	case CreateProject:
		p := c.Project
		p.Source = src
		if err := identity.ValidateProject(p); err != nil {
			return audit{}, nil, err
		}
		out, err := tx.CreateProject(ctx, p)
		if err != nil {
			return audit{}, nil, err
		}
		*id = out.ID
		// No permission template: the source's permissions are the
		// project's (SonarQube does the same for GitLab projects).
		return audit{Action: "project.create", Target: "project:" + out.Key, After: viewProject(out)}, func() { s.index.PutProject(out) }, nil

	case UpdateProject:
		old, err := tx.GetProject(ctx, c.Project.ID)
		if err != nil {
			return audit{}, nil, err
		}
		if old.Source != src {
			return audit{}, nil, notSources(src, "project", old.Key, old.Source)
		}
		p := old
		p.Name, p.Visibility, p.ExternalPath = c.Project.Name, c.Project.Visibility, c.Project.ExternalPath
		if err := identity.ValidateProject(p); err != nil {
			return audit{}, nil, err
		}
		if p.Name == old.Name && p.Visibility == old.Visibility && p.ExternalPath == old.ExternalPath {
			return audit{}, nil, nil
		}
		p.UpdatedAt = s.now()
		if err := tx.UpdateProject(ctx, p); err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "project.update", Target: "project:" + p.Key, Before: viewProject(old), After: viewProject(p)}, func() { s.index.PutProject(p) }, nil

	case RemoveGrant: // AddGrant: sourceGrantsTx
		g := c.Grant
		if g.Global() || g.Subject.Kind != identity.SubjectUser {
			return audit{}, nil, errSourceGrant
		}
		return s.grantTx(ctx, tx, g, false)
	}
	return audit{}, nil, fmt.Errorf("unknown source change kind %d", c.Kind)
}

func notSources(src identity.Source, kind, name string, owner identity.Source) error {
	return identity.Errorf(identity.ErrManaged, "The %s '%s' is managed by %s, not by %s", kind, name, owner, src)
}

// StartSyncRun stores a new sync run. Runs are bookkeeping: they change no
// right, so they bump no revision and write no audit event of their own.
func (s *State) StartSyncRun(ctx context.Context, r identity.SyncRun) (identity.SyncRun, error) {
	var out identity.SyncRun
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.CreateSyncRun(ctx, r)
		return err
	})
	return out, err
}

// UpdateSyncRun rewrites a sync run (its status, counts, messages).
func (s *State) UpdateSyncRun(ctx context.Context, r identity.SyncRun) error {
	return s.store.Tx(ctx, func(tx store.Tx) error { return tx.UpdateSyncRun(ctx, r) })
}

// SetSourceSettings stores the settings of a source under their keys, in
// one write with one audit event. view is what the audit shows (secrets
// masked by the caller); values are stored as given (secrets sealed by the
// caller).
func (s *State) SetSourceSettings(ctx context.Context, src identity.Source, values, view map[string]string) error {
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		for k, v := range values {
			if err := tx.SetSetting(ctx, k, v); err != nil {
				return audit{}, nil, err
			}
		}
		return audit{Action: "provisioning.settings", Target: "source:" + string(src), After: view}, nil, nil
	})
}
