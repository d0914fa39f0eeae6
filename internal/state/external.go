package state

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// ExternalGroup is a group of a source that identifies its groups by id
// (GitLab): Name is the Gatehouse name (GitLab's full path), ExternalID the
// source's id.
type ExternalGroup struct {
	Name, ExternalID string
}

// SignInExternal accepts a user that source src authenticated itself
// (GitLab's OAuth2 sign-in): created at the first sign-in, reactivated if
// the sync had deactivated it, otherwise updated (name, the e-mail the
// source gives the user themself, external id). With acc.GroupsManaged the
// user's memberships in src's groups become exactly groups at that moment,
// by the rule a sync of src applies (provision's zero Policy): src's groups
// are matched by external id and created when missing, a name taken by a
// group of another source is skipped, memberships in other groups are left
// alone. A login held by a local user or another source is
// identity.ErrUnauthenticated.
func (s *State) SignInExternal(ctx context.Context, src identity.Source, acc identity.ExternalAccount, groups []ExternalGroup) (authz.Principal, identity.User, error) {
	if !acc.Active {
		return authz.Principal{}, identity.User{}, errBadCredentials
	}
	var sync func(ctx context.Context, userID int64) error
	if acc.GroupsManaged {
		sync = func(ctx context.Context, userID int64) error {
			return s.syncSourceGroups(ctx, src, userID, groups)
		}
	}
	r := externalRule{src: src}
	if acc.NoSignUp {
		r.noCreate = errNoSignUp
	}
	return s.acceptExternalUser(ctx, r, acc, sync)
}

// syncSourceGroups makes userID's memberships in src's groups exactly
// want. A user whose memberships already match costs no write.
func (s *State) syncSourceGroups(ctx context.Context, src identity.Source, userID int64, want []ExternalGroup) error {
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		u, err := tx.GetUser(ctx, userID)
		if err != nil {
			return audit{}, nil, err
		}
		if u.Source != src {
			return audit{}, nil, identity.Errorf(identity.ErrManaged, "User '%s' is not managed by %s", u.Login, src)
		}
		ms, err := tx.ListMemberships(ctx, userID, 0)
		if err != nil {
			return audit{}, nil, err
		}
		current := map[string]identity.Group{} // src's groups by external id
		var before []string
		for _, m := range ms {
			g, err := tx.GetGroup(ctx, m.GroupID)
			if err != nil {
				return audit{}, nil, err
			}
			if g.Source == src {
				current[g.ExternalID] = g
				before = append(before, g.Name)
			}
		}
		var created []identity.Group
		var added, removed []int64
		after := []string{}
		kept := map[string]bool{}
		for _, w := range want {
			if w.ExternalID == "" || w.Name == identity.GroupUsers || kept[w.ExternalID] {
				continue
			}
			if g, ok := current[w.ExternalID]; ok {
				kept[w.ExternalID] = true
				after = append(after, g.Name)
				continue
			}
			gs, _, err := tx.ListGroups(ctx, store.GroupFilter{Source: src, ExternalID: w.ExternalID, Page: store.Page{Number: 1, Size: 1}})
			if err != nil {
				return audit{}, nil, err
			}
			var g identity.Group
			if len(gs) > 0 {
				g = gs[0]
			} else {
				other, err := tx.GetGroupByName(ctx, w.Name)
				switch {
				case err == nil:
					s.log.WarnContext(ctx, "sign-in: group skipped, its name is taken by another source's group", "group", w.Name, "source", src, "other", other.Source)
					continue
				case !errors.Is(err, identity.ErrNotFound):
					return audit{}, nil, err
				}
				ng := identity.Group{Name: w.Name, Source: src, ExternalID: w.ExternalID, Description: "Synchronised from " + string(src)}
				if identity.ValidateGroup(ng) != nil {
					s.log.WarnContext(ctx, "sign-in: group name not valid in Gatehouse: skipped", "group", w.Name, "source", src)
					continue
				}
				if g, err = tx.CreateGroup(ctx, ng); err != nil {
					return audit{}, nil, err
				}
				created = append(created, g)
			}
			if _, err := tx.AddMember(ctx, userID, g.ID); err != nil {
				return audit{}, nil, err
			}
			kept[w.ExternalID] = true
			added = append(added, g.ID)
			after = append(after, g.Name)
		}
		for ext, g := range current {
			if !kept[ext] {
				if _, err := tx.RemoveMember(ctx, userID, g.ID); err != nil {
					return audit{}, nil, err
				}
				removed = append(removed, g.ID)
			}
		}
		a, apply := s.groupSync(u, src, created, added, removed, before, after)
		return a, apply, nil
	})
}
