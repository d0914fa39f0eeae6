package state

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// CreateProjects creates many projects in one transaction, applying each
// one's permission template as [State.CreateProject] does, with one audit
// event for the batch. It exists for imports and for fixtures of large
// organization-token scopes, where one transaction per project is too slow.
// A duplicate key fails the whole batch.
func (s *State) CreateProjects(ctx context.Context, ps []identity.Project) ([]identity.Project, error) {
	for i := range ps {
		if ps[i].Source == "" {
			ps[i].Source = identity.SourceLocal
		}
		if ps[i].Visibility == "" {
			ps[i].Visibility = identity.Private
		}
		if err := identity.ValidateProject(ps[i]); err != nil {
			return nil, err
		}
	}
	out := make([]identity.Project, 0, len(ps))
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		var all []identity.Grant
		// Templates are read once for the batch: the choice depends only on
		// the key, and the batch cannot change them.
		ts, err := tx.ListTemplates(ctx)
		if err != nil {
			return audit{}, nil, err
		}
		def, err := s.defaultTemplate(ctx, tx)
		if err != nil {
			return audit{}, nil, err
		}
		for _, p := range ps {
			created, err := tx.CreateProject(ctx, p)
			if errors.Is(err, identity.ErrAlreadyExists) {
				return audit{}, nil, identity.Errorf(identity.ErrInvalid, "Could not create Project with key: \"%s\". A similar key already exists: \"%s\"", p.Key, p.Key)
			}
			if err != nil {
				return audit{}, nil, err
			}
			// A new project has no grants to clear, unlike applyTemplate's
			// callers, so the template's grants are added directly.
			var grants []identity.Grant
			for _, tg := range pickTemplate(ts, def, created.Key).Grants {
				g := identity.Grant{Subject: tg.Subject, ProjectID: created.ID, Permission: tg.Permission}
				if tg.Subject.Kind == identity.SubjectCreator || identity.ValidateGrant(g, &created) != nil {
					continue
				}
				if _, err := tx.AddGrant(ctx, g); err != nil {
					return audit{}, nil, err
				}
				grants = append(grants, g)
			}
			all = append(all, grants...)
			out = append(out, created)
		}
		apply := func() {
			for _, p := range out {
				s.index.PutProject(p)
			}
			for _, g := range all {
				s.index.AddGrant(g)
			}
		}
		return audit{Action: "project.bulk_create", Target: "projects", After: map[string]any{"count": len(out)}}, apply, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
