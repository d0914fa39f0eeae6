package state

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// SCIM writes. The SCIM adapter addresses users and groups by id and edits
// them by closure: the closure sees the stored object inside the write's
// transaction, so a precondition (an ETag) and the change are atomic. Each
// write records its audit event with the context's actor (the SCIM token).

// SCIMCreateUser creates a SCIM-managed user. A deactivated user with the
// same login is brought back with the new attributes (an IdP re-creating a
// user it deleted); an active one is identity.ErrAlreadyExists.
func (s *State) SCIMCreateUser(ctx context.Context, u identity.User) (identity.User, error) {
	u.Source, u.Active = identity.SourceSCIM, true
	if err := identity.ValidateUser(u); err != nil {
		return identity.User{}, err
	}
	var out identity.User
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		old, err := tx.GetUserByLogin(ctx, u.Login)
		switch {
		case err == nil && old.Active:
			return audit{}, nil, identity.Errorf(identity.ErrAlreadyExists, "A user with userName '%s' already exists", u.Login)
		case err == nil:
			u.ID, u.CreatedAt, u.PasswordHash, u.SCMAccounts = old.ID, old.CreatedAt, old.PasswordHash, old.SCMAccounts
			u.UpdatedAt = s.now()
			if err := tx.UpdateUser(ctx, u); err != nil {
				return audit{}, nil, err
			}
			out = u
			return audit{Action: "user.reactivate", Target: "user:" + u.Login, Before: viewUser(old), After: viewUser(u)}, func() { s.index.PutUser(out) }, nil
		case !errors.Is(err, identity.ErrNotFound):
			return audit{}, nil, err
		}
		out, err = tx.CreateUser(ctx, u)
		if err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "user.create", Target: "user:" + u.Login, After: viewUser(out)}, func() { s.index.PutUser(out) }, nil
	})
	return out, err
}

// SCIMUpdateUser rewrites user id with what edit returns from the stored
// user. Writing a local user adopts it (its source becomes scim): the IdP
// matched it by userName. Deactivating revokes the user's tokens at once.
func (s *State) SCIMUpdateUser(ctx context.Context, id int64, edit func(old identity.User) (identity.User, error)) (identity.User, error) {
	var out identity.User
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		old, err := tx.GetUser(ctx, id)
		if err != nil {
			return audit{}, nil, err
		}
		if old.Source.Managed() && old.Source != identity.SourceSCIM {
			return audit{}, nil, identity.Errorf(identity.ErrManaged, "User '%s' is managed by %s, not by SCIM", old.Login, old.Source)
		}
		u, err := edit(old)
		if err != nil {
			return audit{}, nil, err
		}
		u.ID, u.CreatedAt, u.PasswordHash, u.SCMAccounts = old.ID, old.CreatedAt, old.PasswordHash, old.SCMAccounts
		u.LastLoginAt, u.LastTokenAt = old.LastLoginAt, old.LastTokenAt
		u.Source = identity.SourceSCIM
		if err := identity.ValidateUser(u); err != nil {
			return audit{}, nil, err
		}
		if sameUser(u, old) {
			out = old
			return audit{}, nil, nil
		}
		if !u.Active && old.Active && s.removesLastAdmin(authz.Without{User: old.ID}) {
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "The last administrator user cannot be deactivated")
		}
		u.UpdatedAt = s.now()
		if u.Login != old.Login {
			if other, err := tx.GetUserByLogin(ctx, u.Login); err == nil && other.ID != u.ID {
				return audit{}, nil, identity.Errorf(identity.ErrAlreadyExists, "A user with userName '%s' already exists", u.Login)
			}
		}
		if err := tx.UpdateUser(ctx, u); err != nil {
			return audit{}, nil, err
		}
		out = u
		action := "user.update"
		var gone deactivation
		if !u.Active && old.Active {
			action = "user.deactivate"
			if gone, err = s.deactivate(ctx, tx, u); err != nil {
				return audit{}, nil, err
			}
		} else if u.Active && !old.Active {
			action = "user.activate"
		}
		apply := func() {
			s.index.PutUser(out)
			gone.apply(s, out.ID)
		}
		return audit{Action: action, Target: "user:" + old.Login, Before: viewUser(old), After: viewUser(u)}, apply, nil
	})
	return out, err
}

// GroupEdit is a change of a SCIM group: its new attributes and the
// membership change. Replace, when non-nil, is the whole new member list;
// Add and Remove are applied after it.
type GroupEdit struct {
	Group       identity.Group
	Replace     *[]int64
	Add, Remove []int64
}

// SCIMCreateGroup creates a SCIM-managed group with its members. An
// existing group of that name is identity.ErrAlreadyExists.
func (s *State) SCIMCreateGroup(ctx context.Context, g identity.Group, members []int64) (identity.Group, error) {
	g.Source = identity.SourceSCIM
	if err := identity.ValidateGroup(g); err != nil {
		return identity.Group{}, err
	}
	var out identity.Group
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		var err error
		out, err = tx.CreateGroup(ctx, g)
		if errors.Is(err, identity.ErrAlreadyExists) {
			return audit{}, nil, identity.Errorf(identity.ErrAlreadyExists, "A group with displayName '%s' already exists", g.Name)
		}
		if err != nil {
			return audit{}, nil, err
		}
		added, err := s.addMembers(ctx, tx, out, members)
		if err != nil {
			return audit{}, nil, err
		}
		apply := func() {
			s.index.PutGroup(out)
			for _, u := range added {
				s.index.AddMember(u, out.ID)
			}
		}
		return audit{Action: "group.create", Target: "group:" + g.Name, After: map[string]any{"group": viewGroup(out), "membersAdded": len(added)}}, apply, nil
	})
	return out, err
}

// addMembers adds users to g, checking each exists; it returns those that
// were not members yet, in the order given. Two statements whatever the
// number of users or the group's size: a PATCH adding 100 members costs
// two round trips to the store, not 200.
func (s *State) addMembers(ctx context.Context, tx store.Tx, g identity.Group, ids []int64) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	exist, err := tx.ExistingUsers(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if !exist[id] {
			return nil, identity.Errorf(identity.ErrInvalid, "No user with id '%d' to add to group '%s'", id, g.Name)
		}
	}
	got, err := tx.AddMembers(ctx, g.ID, ids)
	if err != nil {
		return nil, err
	}
	fresh := make(map[int64]bool, len(got))
	for _, id := range got {
		fresh[id] = true
	}
	added := make([]int64, 0, len(got))
	for _, id := range ids {
		if fresh[id] {
			added = append(added, id)
			delete(fresh, id)
		}
	}
	return added, nil
}

// SCIMUpdateGroup applies what edit returns from the stored group. A local
// group is adopted (the IdP took it over by displayName), except the
// built-in ones, which stay local; sonar-users takes no members.
func (s *State) SCIMUpdateGroup(ctx context.Context, id int64, edit func(old identity.Group) (GroupEdit, error)) (identity.Group, error) {
	var out identity.Group
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		old, err := tx.GetGroup(ctx, id)
		if err != nil {
			return audit{}, nil, err
		}
		if old.Source.Managed() && old.Source != identity.SourceSCIM {
			return audit{}, nil, identity.Errorf(identity.ErrManaged, "Group '%s' is managed by %s, not by SCIM", old.Name, old.Source)
		}
		e, err := edit(old)
		if err != nil {
			return audit{}, nil, err
		}
		g := e.Group
		g.ID, g.CreatedAt, g.Source = old.ID, old.CreatedAt, identity.SourceSCIM
		if old.BuiltIn() {
			g.Source, g.Description = old.Source, old.Description
			if g.Name != old.Name {
				return audit{}, nil, identity.Errorf(identity.ErrInvalid, "Default group '%s' cannot be renamed", old.Name)
			}
			if old.Name == identity.GroupUsers && (e.Replace != nil || len(e.Add) > 0 || len(e.Remove) > 0) {
				return audit{}, nil, identity.Errorf(identity.ErrInvalid, "Default group '%s' cannot be used to perform this action: every active user is an implicit member", old.Name)
			}
		}
		if err := identity.ValidateGroup(g); err != nil {
			return audit{}, nil, err
		}
		add, remove := e.Add, e.Remove
		if e.Replace != nil {
			current, err := tx.ListMemberships(ctx, 0, id)
			if err != nil {
				return audit{}, nil, err
			}
			ids := make([]int64, len(current))
			for i, m := range current {
				ids[i] = m.UserID
			}
			plus, minus := diff(ids, dedupe(*e.Replace))
			add, remove = append(plus, add...), append(minus, remove...)
		}
		// Only a group that grants global admin can lock everyone out; the
		// check walks the index, so it is skipped for the others (a member
		// change must cost O(change), not O(users)).
		grantsAdmin := false
		if len(remove) > 0 {
			sub, global := identity.GroupSubject(id), int64(0)
			gs, err := tx.ListGrants(ctx, store.GrantFilter{Subject: &sub, ProjectID: &global, Permission: identity.PermAdmin})
			if err != nil {
				return audit{}, nil, err
			}
			grantsAdmin = len(gs) > 0
		}
		var removed []int64
		for _, u := range remove {
			if grantsAdmin && s.removesLastAdmin(authz.Without{Membership: identity.Membership{UserID: u, GroupID: id}}) {
				return audit{}, nil, identity.Errorf(identity.ErrInvalid, "The last administrator user cannot be removed")
			}
			ok, err := tx.RemoveMember(ctx, u, id)
			if err != nil {
				return audit{}, nil, err
			}
			if ok {
				removed = append(removed, u)
			}
		}
		added, err := s.addMembers(ctx, tx, g, add)
		if err != nil {
			return audit{}, nil, err
		}
		if g == old && len(added) == 0 && len(removed) == 0 {
			out = old
			return audit{}, nil, nil
		}
		// A membership change moves lastModified too, so that the group's
		// ETag changes with its members.
		g.UpdatedAt = s.now()
		err = tx.UpdateGroup(ctx, g)
		if errors.Is(err, identity.ErrAlreadyExists) {
			return audit{}, nil, identity.Errorf(identity.ErrAlreadyExists, "A group with displayName '%s' already exists", g.Name)
		}
		if err != nil {
			return audit{}, nil, err
		}
		out = g
		apply := func() {
			s.index.PutGroup(out)
			for _, u := range removed {
				s.index.RemoveMember(u, id)
			}
			for _, u := range added {
				s.index.AddMember(u, id)
			}
		}
		after := map[string]any{"group": viewGroup(g), "membersAdded": len(added), "membersRemoved": len(removed)}
		return audit{Action: "group.update", Target: "group:" + old.Name, Before: viewGroup(old), After: after}, apply, nil
	})
	return out, err
}

// SCIMDeleteGroup deletes a SCIM-managed group with its memberships and
// grants.
func (s *State) SCIMDeleteGroup(ctx context.Context, id int64) error {
	g, err := s.store.GetGroup(ctx, id)
	if err != nil {
		return err
	}
	if g.Source != identity.SourceSCIM {
		return identity.Errorf(identity.ErrManaged, "Group '%s' is not managed by SCIM (source %s) and cannot be deleted through it", g.Name, g.Source)
	}
	return s.DeleteGroup(ctx, g.Name)
}

// SCIMTokenScopes returns the scopes of a live SCIM token.
func (s *State) SCIMTokenScopes(ctx context.Context, tokenID int64) ([]string, error) {
	t, err := getLiveToken(ctx, s.store, tokenID)
	if err != nil {
		return nil, err
	}
	if t.Type != identity.TokenSCIM {
		return nil, identity.Errorf(identity.ErrForbidden, "Not a SCIM token")
	}
	return t.SCIMScopes, nil
}

// sameUser reports whether a SCIM write would change nothing SCIM manages.
func sameUser(a, b identity.User) bool {
	return a.Login == b.Login && a.Name == b.Name && a.Email == b.Email && a.ExternalID == b.ExternalID &&
		a.Active == b.Active && a.Source == b.Source
}
