package state

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// CreateGroups creates many groups in one write, each with the rules and
// the audit event of [State.CreateGroup]. With SkipExisting a group whose
// name is taken is left as it is.
func (s *State) CreateGroups(ctx context.Context, gs []identity.Group, opts BulkOptions) ([]ItemResult, error) {
	if len(gs) > MaxBulkItems {
		return nil, tooMany(len(gs))
	}
	early := make([]error, len(gs))
	for i := range gs {
		if gs[i].Source == "" {
			gs[i].Source = identity.SourceLocal
		}
		early[i] = identity.ValidateGroup(gs[i])
		if early[i] == nil {
			early[i] = mayEdit(ctx, gs[i].Source, "Operation not allowed when the instance is externally managed.")
		}
	}
	return s.bulk(ctx, len(gs), opts, func(tx store.Tx, i int) (audit, func(), error) {
		if early[i] != nil {
			return audit{}, nil, early[i]
		}
		g := gs[i]
		_, err := tx.GetGroupByName(ctx, g.Name)
		switch {
		case err == nil && opts.SkipExisting:
			return audit{}, nil, nil
		case err == nil:
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "Group '%s' already exists", g.Name)
		case !errors.Is(err, identity.ErrNotFound):
			return audit{}, nil, err
		}
		out, err := tx.CreateGroup(ctx, g)
		if err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "group.create", Target: "group:" + g.Name, After: viewGroup(out)}, func() { s.index.PutGroup(out) }, nil
	})
}

// ImportProjects creates many projects in one write, one audit event each,
// WITHOUT applying a permission template: an import brings each project's
// own permissions, which a template would add to. With SkipExisting a
// project whose key is taken is left as it is, so an interrupted import can
// be run again.
func (s *State) ImportProjects(ctx context.Context, ps []identity.Project, opts BulkOptions) ([]ItemResult, error) {
	if len(ps) > MaxBulkItems {
		return nil, tooMany(len(ps))
	}
	early := make([]error, len(ps))
	for i := range ps {
		if ps[i].Source == "" {
			ps[i].Source = identity.SourceLocal
		}
		if ps[i].Visibility == "" {
			ps[i].Visibility = identity.Private
		}
		early[i] = identity.ValidateProject(ps[i])
	}
	return s.bulk(ctx, len(ps), opts, func(tx store.Tx, i int) (audit, func(), error) {
		if early[i] != nil {
			return audit{}, nil, early[i]
		}
		p := ps[i]
		_, err := tx.GetProjectByKey(ctx, p.Key)
		switch {
		case err == nil && opts.SkipExisting:
			return audit{}, nil, nil
		case err == nil:
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "Could not create Project with key: \"%s\". A similar key already exists: \"%s\"", p.Key, p.Key)
		case !errors.Is(err, identity.ErrNotFound):
			return audit{}, nil, err
		}
		out, err := tx.CreateProject(ctx, p)
		if err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "project.create", Target: "project:" + out.Key, After: map[string]any{"project": viewProject(out)}}, func() { s.index.PutProject(out) }, nil
	})
}
