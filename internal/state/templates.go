package state

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

type templateView struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	KeyPattern  string `json:"projectKeyPattern,omitempty"`
}

func viewTemplate(t identity.Template) *templateView {
	return &templateView{Name: t.Name, Description: t.Description, KeyPattern: t.KeyPattern}
}

// CreateTemplate creates a permission template without grants.
func (s *State) CreateTemplate(ctx context.Context, t identity.Template) (identity.Template, error) {
	t.Grants = nil
	if err := identity.ValidateTemplate(t); err != nil {
		return identity.Template{}, err
	}
	var out identity.Template
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		var err error
		out, err = tx.CreateTemplate(ctx, t)
		if errors.Is(err, identity.ErrAlreadyExists) {
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "A template with the name '%s' already exists (case insensitive).", t.Name)
		}
		if err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "template.create", Target: "template:" + t.Name, After: viewTemplate(out)}, nil, nil
	})
	return out, err
}

// TemplateUpdate holds the fields to change; nil leaves a field as it is.
type TemplateUpdate struct {
	Name, Description, KeyPattern *string
}

// UpdateTemplate changes a template's name, description or key pattern.
func (s *State) UpdateTemplate(ctx context.Context, id int64, upd TemplateUpdate) (identity.Template, error) {
	var out identity.Template
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		old, err := getTemplate(ctx, tx, id)
		if err != nil {
			return audit{}, nil, err
		}
		t := old
		if upd.Name != nil {
			t.Name = *upd.Name
		}
		if upd.Description != nil {
			t.Description = *upd.Description
		}
		if upd.KeyPattern != nil {
			t.KeyPattern = *upd.KeyPattern
		}
		if err := identity.ValidateTemplate(t); err != nil {
			return audit{}, nil, err
		}
		t.UpdatedAt = s.now()
		err = tx.UpdateTemplate(ctx, t)
		if errors.Is(err, identity.ErrAlreadyExists) {
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "A template with the name '%s' already exists (case insensitive).", t.Name)
		}
		if err != nil {
			return audit{}, nil, err
		}
		out = t
		return audit{Action: "template.update", Target: "template:" + old.Name, Before: viewTemplate(old), After: viewTemplate(t)}, nil, nil
	})
	return out, err
}

// DeleteTemplate deletes a template; the default template cannot be deleted.
func (s *State) DeleteTemplate(ctx context.Context, id int64) error {
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		t, err := getTemplate(ctx, tx, id)
		if err != nil {
			return audit{}, nil, err
		}
		def, err := s.defaultTemplate(ctx, tx)
		if err != nil {
			return audit{}, nil, err
		}
		if def.ID == t.ID {
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "It is not possible to delete the default permission template for projects")
		}
		if err := tx.DeleteTemplate(ctx, id); err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "template.delete", Target: "template:" + t.Name, Before: viewTemplate(t)}, nil, nil
	})
}

// EditTemplateGrant adds or removes one grant of a template; subject kind
// creator edits the project-creator grants. Anyone never gets admin.
func (s *State) EditTemplateGrant(ctx context.Context, id int64, tg identity.TemplateGrant, add bool) error {
	if !tg.Permission.IsProject() {
		return identity.Errorf(identity.ErrInvalid, "Value of parameter 'permission' (%s) must be one of: [admin, codeviewer, issueadmin, securityhotspotadmin, scan, user]", tg.Permission)
	}
	if add && tg.Subject.Kind == identity.SubjectAnyone && tg.Permission == identity.PermAdmin {
		return identity.Errorf(identity.ErrInvalid, "It is not possible to add the '%s' permission to the group 'Anyone'.", tg.Permission)
	}
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		t, err := getTemplate(ctx, tx, id)
		if err != nil {
			return audit{}, nil, err
		}
		name, err := subjectName(ctx, tx, tg.Subject)
		if err != nil {
			return audit{}, nil, err
		}
		has := slices.Contains(t.Grants, tg)
		switch {
		case add && has, !add && !has:
			return audit{}, nil, nil
		case add:
			t.Grants = append(t.Grants, tg)
		default:
			t.Grants = slices.DeleteFunc(t.Grants, func(x identity.TemplateGrant) bool { return x == tg })
		}
		t.UpdatedAt = s.now()
		if err := tx.UpdateTemplate(ctx, t); err != nil {
			return audit{}, nil, err
		}
		action := "template.remove_permission"
		if add {
			action = "template.add_permission"
		}
		return audit{Action: action, Target: "template:" + t.Name, After: grantView{Subject: name, Permission: tg.Permission}}, nil, nil
	})
}

// SetDefaultTemplate makes a template the default for new projects.
func (s *State) SetDefaultTemplate(ctx context.Context, id int64) error {
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		t, err := getTemplate(ctx, tx, id)
		if err != nil {
			return audit{}, nil, err
		}
		if err := tx.SetSetting(ctx, settingDefaultTemplate, fmt.Sprint(t.ID)); err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "template.set_default", Target: "template:" + t.Name}, nil, nil
	})
}

// DefaultTemplateID returns the id of the default template.
func (s *State) DefaultTemplateID(ctx context.Context) (int64, error) {
	t, err := s.defaultTemplate(ctx, s.store)
	return t.ID, err
}

// ApplyTemplate replaces the permissions of the given projects with those of
// a template. Managed projects are skipped unless skipManaged is false, in
// which case a managed project is an error. It returns how many projects
// were changed.
func (s *State) ApplyTemplate(ctx context.Context, id int64, projectIDs []int64, skipManaged bool) (int, error) {
	applied := 0
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		t, err := getTemplate(ctx, tx, id)
		if err != nil {
			return audit{}, nil, err
		}
		type change struct {
			projectID int64
			grants    []identity.Grant
		}
		var changes []change
		var keys []string
		for _, pid := range projectIDs {
			p, err := tx.GetProject(ctx, pid)
			if err != nil {
				return audit{}, nil, err
			}
			if p.Source.Managed() && ActorFrom(ctx).Source != p.Source {
				if skipManaged {
					continue
				}
				return audit{}, nil, identity.ManagedError(p.Source, "Operation not allowed when the project is externally managed.")
			}
			gs, err := applyTemplate(ctx, tx, t, p, 0)
			if err != nil {
				return audit{}, nil, err
			}
			changes = append(changes, change{p.ID, gs})
			keys = append(keys, p.Key)
		}
		applied = len(changes)
		if applied == 0 {
			return audit{}, nil, nil
		}
		apply := func() {
			for _, c := range changes {
				s.index.ClearProjectGrants(c.projectID)
				for _, g := range c.grants {
					s.index.AddGrant(g)
				}
			}
		}
		return audit{Action: "template.apply", Target: "template:" + t.Name, After: map[string]any{"projects": keys}}, apply, nil
	})
	return applied, err
}

func getTemplate(ctx context.Context, r store.Reader, id int64) (identity.Template, error) {
	t, err := r.GetTemplate(ctx, id)
	if errors.Is(err, identity.ErrNotFound) {
		return t, identity.Errorf(identity.ErrNotFound, "Permission template with id '%d' is not found", id)
	}
	return t, err
}
