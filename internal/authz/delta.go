package authz

import (
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// The methods below set one part of the index to what the store holds, each
// in one step under the lock, so that a replica applying another replica's
// change re-reads the rows the change names and sets them here: applying it
// twice, or after a later change of the same rows, is harmless.

// SetUserGroups sets the explicit groups of a user; unknown group ids are
// ignored.
func (ix *Index) SetUserGroups(userID int64, groupIDs []int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	u := ix.users[userID]
	if u == nil {
		return
	}
	gs := make([]*groupEntry, 0, len(groupIDs))
	for _, id := range groupIDs {
		if g := ix.groups[id]; g != nil && !slices.Contains(gs, g) {
			gs = append(gs, g)
		}
	}
	u.groups = gs
}

// SetGroupMembers sets the members of a group: userIDs join it, every other
// user leaves it.
func (ix *Index) SetGroupMembers(groupID int64, userIDs []int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	g := ix.groups[groupID]
	if g == nil {
		return
	}
	members := make(map[int64]struct{}, len(userIDs))
	for _, id := range userIDs {
		members[id] = struct{}{}
	}
	for id, u := range ix.users {
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
func (ix *Index) SetGrants(s identity.Subject, projectID int64, perms []identity.Permission) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	set := setOf(perms)
	gs := ix.grantsOf(s, set != 0)
	if gs == nil {
		return
	}
	gs.remove(projectID, ^permSet(0))
	if set != 0 {
		gs.add(projectID, set)
	}
}

// SetProjectGrants sets every grant on a project to gs, which must all be
// on that project.
func (ix *Index) SetProjectGrants(projectID int64, gs []identity.Grant) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.clearProjectGrants(projectID)
	for _, g := range gs {
		if g.ProjectID != projectID {
			continue
		}
		if to := ix.grantsOf(g.Subject, true); to != nil {
			to.add(projectID, bitOf(g.Permission))
		}
	}
}

// HasUser reports whether the index knows user id.
func (ix *Index) HasUser(id int64) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	_, ok := ix.users[id]
	return ok
}
