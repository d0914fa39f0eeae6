package state

import (
	"context"
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// UserTokenTypes are the token types bound to a user, the ones
// api/user_tokens lists; organization and SCIM tokens are not among them.
var UserTokenTypes = []identity.TokenType{identity.TokenUser, identity.TokenGlobalAnalysis, identity.TokenProjectAnalysis}

// ExternallyManaged reports whether an external identity source manages any
// user or group: SonarQube's "managed instance", which enables the managed
// filters of the search actions.
func (s *State) ExternallyManaged(ctx context.Context) (bool, error) {
	managed := true
	one := store.Page{Number: 1, Size: 1}
	if _, n, err := s.store.ListUsers(ctx, store.UserFilter{Managed: &managed, Page: one}); err != nil || n > 0 {
		return n > 0, err
	}
	_, n, err := s.store.ListGroups(ctx, store.GroupFilter{Managed: &managed, Page: one})
	return n > 0, err
}

// GroupNamesByUser returns the names of the explicit groups of each user,
// sorted case-insensitively. sonar-users, implicit for every active user, is
// not among them.
func (s *State) GroupNamesByUser(ctx context.Context, userIDs []int64) (map[int64][]string, error) {
	out := make(map[int64][]string, len(userIDs))
	if len(userIDs) == 0 {
		return out, nil
	}
	groups, _, err := s.store.ListGroups(ctx, store.GroupFilter{})
	if err != nil {
		return nil, err
	}
	names := make(map[int64]string, len(groups))
	for _, g := range groups {
		names[g.ID] = g.Name
	}
	for _, id := range userIDs {
		ms, err := s.store.ListMemberships(ctx, id, 0)
		if err != nil {
			return nil, err
		}
		var gs []string
		for _, m := range ms {
			if n, ok := names[m.GroupID]; ok {
				gs = append(gs, n)
			}
		}
		slices.SortFunc(gs, compareFold)
		out[id] = gs
	}
	return out, nil
}

// UserTokenCount returns how many user-bound tokens of a user are not
// revoked (expired ones still count, as in SonarQube).
func (s *State) UserTokenCount(ctx context.Context, userID int64) (int, error) {
	_, n, err := s.store.ListTokens(ctx, store.TokenFilter{UserID: &userID, Types: UserTokenTypes, Page: store.Page{Number: 1, Size: 1}})
	return n, err
}
