package authz

import "github.com/gatehouse-dev/gatehouse/internal/identity"

// Without describes a change that is about to happen, for
// [Index.HasGlobalHolderWithout]: a user deactivated, a membership removed
// or a subject's grant removed. Zero fields describe nothing.
type Without struct {
	User       int64               // deactivated user
	Membership identity.Membership // removed membership
	Grant      *identity.Subject   // subject losing the global permission
}

// HasGlobalHolderWithout reports whether some active user would still hold
// the global permission perm after the change w. It guards against removing
// the last administrator.
func (ix *Index) HasGlobalHolderWithout(perm identity.Permission, w Without) bool {
	b := bitOf(perm)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	lost := func(s identity.Subject) bool { return w.Grant != nil && *w.Grant == s }
	if ix.anyone.global&b != 0 && !lost(identity.Anyone) {
		return len(ix.users) > 0
	}
	suHolds := ix.sonarUsers != nil && ix.sonarUsers.grants.global&b != 0 && !lost(identity.GroupSubject(ix.sonarUsers.id))
	for _, u := range ix.users {
		if !u.active || u.id == w.User || u.login == "" {
			continue
		}
		if suHolds || u.grants.global&b != 0 && !lost(identity.UserSubject(u.id)) {
			return true
		}
		for _, g := range u.groups {
			if g.grants.global&b == 0 || lost(identity.GroupSubject(g.id)) {
				continue
			}
			if w.Membership.UserID == u.id && w.Membership.GroupID == g.id {
				continue
			}
			return true
		}
	}
	return false
}
