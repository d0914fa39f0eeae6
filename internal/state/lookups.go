package state

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Look-ups by name for the adapters' forms and parameters (the Web API, the
// UI), with SonarQube's not-found texts, so both answer alike.

// ActiveUser finds an active user by login, as a permission or a grant
// needs it: a deactivated user is not found.
func (s *State) ActiveUser(ctx context.Context, login string) (identity.User, error) {
	u, err := s.store.GetUserByLogin(ctx, login)
	if errors.Is(err, identity.ErrNotFound) || err == nil && !u.Active {
		return identity.User{}, identity.Errorf(identity.ErrNotFound, "User with login '%s' is not found", login)
	}
	return u, err
}

// GroupSubject resolves a group name to a grant subject and the group's
// source; "Anyone", in any case, is the Anyone pseudo-group (no source).
func (s *State) GroupSubject(ctx context.Context, name string) (identity.Subject, identity.Source, error) {
	if strings.EqualFold(name, identity.GroupAnyone) {
		return identity.Anyone, "", nil
	}
	g, err := s.store.GetGroupByName(ctx, name)
	if errors.Is(err, identity.ErrNotFound) {
		return identity.Subject{}, "", identity.Errorf(identity.ErrNotFound, "No group with name '%s'", name)
	}
	if err != nil {
		return identity.Subject{}, "", err
	}
	return identity.GroupSubject(g.ID), g.Source, nil
}

// ProjectIDs maps project keys to ids in the order given, reading the store
// in chunks; an unknown key is not found, named.
func (s *State) ProjectIDs(ctx context.Context, keys []string) ([]int64, error) {
	const chunk = 500
	ids := make([]int64, 0, len(keys))
	byKey := make(map[string]int64, min(len(keys), chunk))
	for i := 0; i < len(keys); i += chunk {
		part := keys[i:min(i+chunk, len(keys))]
		ps, _, err := s.store.ListProjects(ctx, store.ProjectFilter{Keys: part})
		if err != nil {
			return nil, err
		}
		clear(byKey)
		for _, p := range ps {
			byKey[p.Key] = p.ID
		}
		for _, k := range part {
			id, ok := byKey[k]
			if !ok {
				return nil, identity.Errorf(identity.ErrNotFound, "Project '%s' not found", k)
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}
