package state

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func compareFold(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) }

type groupView struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Source      identity.Source `json:"source"`
	ExternalID  string          `json:"externalId,omitempty"`
}

func viewGroup(g identity.Group) *groupView {
	return &groupView{Name: g.Name, Description: g.Description, Source: g.Source, ExternalID: g.ExternalID}
}

// CreateGroup creates a group.
func (s *State) CreateGroup(ctx context.Context, g identity.Group) (identity.Group, error) {
	if g.Source == "" {
		g.Source = identity.SourceLocal
	}
	if err := identity.ValidateGroup(g); err != nil {
		return identity.Group{}, err
	}
	if err := mayEdit(ctx, g.Source, "Operation not allowed when the instance is externally managed."); err != nil {
		return identity.Group{}, err
	}
	var out identity.Group
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		var err error
		out, err = tx.CreateGroup(ctx, g)
		if errors.Is(err, identity.ErrAlreadyExists) {
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "Group '%s' already exists", g.Name)
		}
		if err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "group.create", Target: "group:" + g.Name, After: viewGroup(out)}, func() { s.index.PutGroup(out) }, nil
	})
	return out, err
}

// GroupUpdate holds the fields to change; nil leaves a field as it is.
type GroupUpdate struct {
	Name, Description, ExternalID *string
}

// UpdateGroup renames a group or changes its description: the one path
// of api/user_groups/update, the v2 PATCH and the admin UI. A managed
// group is its source's; sonar-users is not editable, sonar-administrators
// keeps its name.
func (s *State) UpdateGroup(ctx context.Context, name string, upd GroupUpdate) (identity.Group, error) {
	var out identity.Group
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		old, err := getGroup(ctx, tx, name)
		if err != nil {
			return audit{}, nil, err
		}
		if err := mayEdit(ctx, old.Source, "Operation not allowed when the instance is externally managed."); err != nil {
			return audit{}, nil, err
		}
		if old.Name == identity.GroupUsers {
			// Every active user's group: its name and text are SonarQube's.
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "Default group '%s' cannot be used to perform this action", old.Name)
		}
		g := old
		if upd.Name != nil {
			if old.BuiltIn() && *upd.Name != old.Name {
				return audit{}, nil, identity.Errorf(identity.ErrInvalid, "Default group '%s' cannot be used to perform this action", old.Name)
			}
			g.Name = *upd.Name
		}
		if upd.Description != nil {
			g.Description = *upd.Description
		}
		if upd.ExternalID != nil {
			g.ExternalID = *upd.ExternalID
		}
		if err := identity.ValidateGroup(g); err != nil {
			return audit{}, nil, err
		}
		g.UpdatedAt = s.now()
		err = tx.UpdateGroup(ctx, g)
		if errors.Is(err, identity.ErrAlreadyExists) {
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "Group '%s' already exists", g.Name)
		}
		if err != nil {
			return audit{}, nil, err
		}
		out = g
		return audit{Action: "group.update", Target: "group:" + name, Before: viewGroup(old), After: viewGroup(g)}, func() { s.index.PutGroup(out) }, nil
	})
	return out, err
}

// DeleteGroup deletes a group with its memberships and grants.
func (s *State) DeleteGroup(ctx context.Context, name string) error {
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		g, err := getGroup(ctx, tx, name)
		if err != nil {
			return audit{}, nil, err
		}
		if err := mayEdit(ctx, g.Source, "Deleting managed groups is not allowed."); err != nil {
			return audit{}, nil, err
		}
		if g.BuiltIn() {
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "Default group '%s' cannot be used to perform this action", g.Name)
		}
		if s.removesLastAdmin(authz.Without{Grant: &identity.Subject{Kind: identity.SubjectGroup, ID: g.ID}}) {
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "The last group with 'Administer System' permission cannot be deleted")
		}
		if err := tx.DeleteGroup(ctx, g.ID); err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "group.delete", Target: "group:" + name, Before: viewGroup(g)}, func() { s.index.DeleteGroup(g.ID) }, nil
	})
}

// AddMember adds a user to a group. Joining sonar-users is refused: every
// active user is an implicit member.
func (s *State) AddMember(ctx context.Context, groupName, login string) error {
	return s.editMember(ctx, groupName, login, true)
}

// RemoveMember removes a user from a group.
func (s *State) RemoveMember(ctx context.Context, groupName, login string) error {
	return s.editMember(ctx, groupName, login, false)
}

func (s *State) editMember(ctx context.Context, groupName, login string, add bool) error {
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		return s.memberTx(ctx, tx, groupName, login, add)
	})
}

// memberTx is one membership change inside a write: the rules of
// [State.AddMember] and [State.RemoveMember], shared with the bulk path. Its
// domain errors come before any write, so a refused change writes nothing.
// An empty audit means there was nothing to change.
func (s *State) memberTx(ctx context.Context, tx store.Tx, groupName, login string, add bool) (audit, func(), error) {
	g, err := lookUpGroupByName(ctx, tx, groupName)
	if err != nil {
		return audit{}, nil, err
	}
	u, err := lookUpUserByLogin(ctx, tx, login)
	if err != nil {
		return audit{}, nil, err
	}
	if g.Name == identity.GroupUsers {
		return audit{}, nil, identity.Errorf(identity.ErrInvalid, "Default group '%s' cannot be used to perform this action", g.Name)
	}
	if err := mayEdit(ctx, g.Source, "Operation not allowed when the instance is externally managed."); err != nil {
		return audit{}, nil, err
	}
	target := "group:" + g.Name
	after := map[string]string{"login": u.Login, "group": g.Name}
	if add {
		added, err := tx.AddMember(ctx, u.ID, g.ID)
		if err != nil || !added {
			return audit{}, nil, err
		}
		return audit{Action: "group.add_user", Target: target, After: after}, func() { s.index.AddMember(u.ID, g.ID) }, nil
	}
	if s.removesLastAdmin(authz.Without{Membership: identity.Membership{UserID: u.ID, GroupID: g.ID}}) {
		return audit{}, nil, identity.Errorf(identity.ErrInvalid, "The last administrator user cannot be removed")
	}
	removed, err := tx.RemoveMember(ctx, u.ID, g.ID)
	if err != nil || !removed {
		return audit{}, nil, err
	}
	return audit{Action: "group.remove_user", Target: target, Before: after}, func() { s.index.RemoveMember(u.ID, g.ID) }, nil
}

func getGroup(ctx context.Context, r store.Reader, name string) (identity.Group, error) {
	g, err := r.GetGroupByName(ctx, name)
	if errors.Is(err, identity.ErrNotFound) {
		return g, identity.Errorf(identity.ErrNotFound, "No group with name '%s'", name)
	}
	return g, err
}

// removesLastAdmin reports whether change w would leave no active user with
// global admin while one has it now; such a change locks everyone out.
func (s *State) removesLastAdmin(w authz.Without) bool {
	return s.index.HasGlobalHolderWithout(identity.PermAdmin, authz.Without{}) &&
		!s.index.HasGlobalHolderWithout(identity.PermAdmin, w)
}

func authzWithoutGrant(s *identity.Subject) authz.Without { return authz.Without{Grant: s} }
