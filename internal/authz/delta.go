package authz

import (
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// Batch changes the index inside [Index.Apply]. Its methods set one part of
// the index to what the store holds, so that a replica applying another
// replica's writes re-reads the rows the change log names and sets them
// here: applying a change twice, or after a later change of the same rows,
// is harmless.
type Batch struct{ ix *Index }

// Apply runs fn under the index's write lock: decisions see either none or
// all of fn's changes, never a project made private without the grants that
// came with it.
func (ix *Index) Apply(fn func(b Batch) error) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return fn(Batch{ix: ix})
}

// PutUser is [Index.PutUser].
func (b Batch) PutUser(u identity.User) { b.ix.putUser(u) }

// PutGroup is [Index.PutGroup].
func (b Batch) PutGroup(g identity.Group) { b.ix.putGroup(g) }

// DeleteGroup is [Index.DeleteGroup].
func (b Batch) DeleteGroup(id int64) { b.ix.deleteGroup(id) }

// PutProject is [Index.PutProject].
func (b Batch) PutProject(p identity.Project) { b.ix.putProject(p) }

// DeleteProject is [Index.DeleteProject].
func (b Batch) DeleteProject(id int64) { b.ix.deleteProject(id) }

// PutToken is [Index.PutToken].
func (b Batch) PutToken(t identity.Token, projects []int64) error { return b.ix.putToken(t, projects) }

// RemoveToken is [Index.RemoveToken].
func (b Batch) RemoveToken(id int64) { b.ix.removeToken(id) }

// PutSession is [Index.PutSession].
func (b Batch) PutSession(s identity.Session) error { return b.ix.putSession(s) }

// RemoveSession is [Index.RemoveSession].
func (b Batch) RemoveSession(id int64) { b.ix.removeSession(id) }

// SetUserSessions sets the sessions of a user to ss: every other session
// of the user is forgotten.
func (b Batch) SetUserSessions(userID int64, ss []identity.Session) error {
	b.ix.removeUserSessions(userID)
	for _, s := range ss {
		if s.UserID != userID {
			continue
		}
		if err := b.ix.putSession(s); err != nil {
			return err
		}
	}
	return nil
}

// SetUserGroups sets the explicit groups of a user; unknown group ids are
// ignored.
func (b Batch) SetUserGroups(userID int64, groupIDs []int64) {
	u := b.ix.users[userID]
	if u == nil {
		return
	}
	gs := make([]*groupEntry, 0, len(groupIDs))
	for _, id := range groupIDs {
		if g := b.ix.groups[id]; g != nil && !slices.Contains(gs, g) {
			gs = append(gs, g)
		}
	}
	u.groups = gs
}

// SetGroupMembers sets the members of a group: userIDs join it, every other
// user leaves it.
func (b Batch) SetGroupMembers(groupID int64, userIDs []int64) {
	g := b.ix.groups[groupID]
	if g == nil {
		return
	}
	members := make(map[int64]struct{}, len(userIDs))
	for _, id := range userIDs {
		members[id] = struct{}{}
	}
	for id, u := range b.ix.users {
		_, in := members[id]
		has := slices.Contains(u.groups, g)
		switch {
		case in && !has:
			u.groups = append(u.groups, g)
		case !in && has:
			u.groups = slices.DeleteFunc(u.groups, func(x *groupEntry) bool { return x == g })
		}
	}
}

// SetGrants sets the permissions of a subject on a project (0: global) to
// perms.
func (b Batch) SetGrants(s identity.Subject, projectID int64, perms []identity.Permission) {
	set := setOf(perms)
	gs := b.ix.grantsOf(s, set != 0)
	if gs == nil {
		return
	}
	gs.remove(projectID, ^permSet(0))
	if set != 0 {
		gs.add(projectID, set)
	}
}

// SetProjectGrants sets every grant on a project to gs; grants on other
// projects in gs are ignored.
func (b Batch) SetProjectGrants(projectID int64, gs []identity.Grant) {
	b.ix.clearProjectGrants(projectID)
	for _, g := range gs {
		if g.ProjectID != projectID {
			continue
		}
		if to := b.ix.grantsOf(g.Subject, true); to != nil {
			to.add(projectID, bitOf(g.Permission))
		}
	}
}
