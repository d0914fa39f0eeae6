package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

type projectView struct {
	Key        string              `json:"key"`
	Name       string              `json:"name"`
	Visibility identity.Visibility `json:"visibility"`
	Source     identity.Source     `json:"source"`
}

func viewProject(p identity.Project) *projectView {
	return &projectView{Key: p.Key, Name: p.Name, Visibility: p.Visibility, Source: p.Source}
}

// CreateProject creates a project and applies the first permission template
// whose key pattern matches it, else the default template; creatorID (0 for
// none) receives the template's project-creator grants.
func (s *State) CreateProject(ctx context.Context, p identity.Project, creatorID int64) (identity.Project, error) {
	if p.Source == "" {
		p.Source = identity.SourceLocal
	}
	if p.Visibility != "" {
		if err := identity.ValidateProject(p); err != nil {
			return identity.Project{}, err
		}
	}
	var out identity.Project
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		if p.Visibility == "" {
			v, err := defaultVisibility(ctx, tx)
			if err != nil {
				return audit{}, nil, err
			}
			p.Visibility = v
			if err := identity.ValidateProject(p); err != nil {
				return audit{}, nil, err
			}
		}
		var err error
		out, err = tx.CreateProject(ctx, p)
		if errors.Is(err, identity.ErrAlreadyExists) {
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "Could not create Project with key: \"%s\". A similar key already exists: \"%s\"", p.Key, p.Key)
		}
		if err != nil {
			return audit{}, nil, err
		}
		t, err := s.templateFor(ctx, tx, out.Key)
		if err != nil {
			return audit{}, nil, err
		}
		grants, err := applyTemplate(ctx, tx, t, out, creatorID)
		if err != nil {
			return audit{}, nil, err
		}
		apply := func() {
			s.index.PutProject(out)
			for _, g := range grants {
				s.index.AddGrant(g)
			}
		}
		return audit{Action: "project.create", Target: "project:" + out.Key, After: map[string]any{"project": viewProject(out), "template": t.Name}}, apply, nil
	})
	return out, err
}

// templateFor picks the template for a new project: the first (by name)
// whose pattern matches the key, else the default.
func (s *State) templateFor(ctx context.Context, r store.Reader, key string) (identity.Template, error) {
	ts, err := r.ListTemplates(ctx)
	if err != nil {
		return identity.Template{}, err
	}
	def, err := s.defaultTemplate(ctx, r)
	if err != nil {
		return identity.Template{}, err
	}
	return pickTemplate(ts, def, key), nil
}

// pickTemplate is [State.templateFor] over templates already read. A pattern
// that no longer compiles (validated on write) matches nothing.
func pickTemplate(ts []identity.Template, def identity.Template, key string) identity.Template {
	for _, t := range ts {
		if t.KeyPattern == "" {
			continue
		}
		if re, err := identity.CompileKeyPattern(t.KeyPattern); err == nil && re.MatchString(key) {
			return t
		}
	}
	return def
}

func (s *State) defaultTemplate(ctx context.Context, r store.Reader) (identity.Template, error) {
	v, err := r.GetSetting(ctx, settingDefaultTemplate)
	if err != nil {
		return identity.Template{}, fmt.Errorf("default template setting: %w", err)
	}
	var id int64
	if _, err := fmt.Sscan(v, &id); err != nil {
		return identity.Template{}, fmt.Errorf("default template setting %q: %w", v, err)
	}
	return r.GetTemplate(ctx, id)
}

// applyTemplate replaces the grants of project p with those of template t and
// returns the grants written. Implicit rights of public projects and Anyone
// grants on private ones are skipped, as SonarQube does.
func applyTemplate(ctx context.Context, tx store.Tx, t identity.Template, p identity.Project, creatorID int64) ([]identity.Grant, error) {
	if err := tx.DeleteProjectGrants(ctx, p.ID); err != nil {
		return nil, err
	}
	var out []identity.Grant
	for _, tg := range t.Grants {
		g := identity.Grant{Subject: tg.Subject, ProjectID: p.ID, Permission: tg.Permission}
		if tg.Subject.Kind == identity.SubjectCreator {
			if creatorID == 0 {
				continue
			}
			g.Subject = identity.UserSubject(creatorID)
		}
		if identity.ValidateGrant(g, &p) != nil {
			continue
		}
		if _, err := tx.AddGrant(ctx, g); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// DeleteProject deletes a project with its grants; project analysis tokens
// bound to it are deleted and organization token lists forget it.
func (s *State) DeleteProject(ctx context.Context, key string) error {
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		p, err := getProject(ctx, tx, key)
		if err != nil {
			return audit{}, nil, err
		}
		if err := tx.DeleteProject(ctx, p.ID); err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "project.delete", Target: "project:" + key, Before: viewProject(p)}, func() { s.index.DeleteProject(p.ID) }, nil
	})
}

// SetVisibility makes a project public or private. Going private removes
// Anyone's grants; going public removes grants of the now implicit rights.
func (s *State) SetVisibility(ctx context.Context, key string, v identity.Visibility) error {
	if !v.Valid() {
		return identity.Errorf(identity.ErrInvalid, "Value of parameter 'visibility' (%s) must be one of: [private, public]", v)
	}
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		old, err := getProject(ctx, tx, key)
		if err != nil {
			return audit{}, nil, err
		}
		if err := mayEdit(ctx, old.Source, "Operation not allowed when the project is externally managed."); err != nil {
			return audit{}, nil, err
		}
		if old.Visibility == v {
			return audit{}, nil, nil
		}
		p := old
		p.Visibility = v
		p.UpdatedAt = s.now()
		if err := tx.UpdateProject(ctx, p); err != nil {
			return audit{}, nil, err
		}
		pid := p.ID
		gs, err := tx.ListGrants(ctx, store.GrantFilter{ProjectID: &pid})
		if err != nil {
			return audit{}, nil, err
		}
		var dropped, added []identity.Grant
		holders := map[identity.Subject]bool{}
		for _, g := range gs {
			if identity.ValidateGrant(g, &p) != nil {
				if _, err := tx.RemoveGrant(ctx, g); err != nil {
					return audit{}, nil, err
				}
				dropped = append(dropped, g)
				continue
			}
			holders[g.Subject] = true
		}
		if v == identity.Private {
			// As SonarQube does: whoever held a permission on the public
			// project keeps browsing it once private.
			for sub := range holders {
				for _, perm := range []identity.Permission{identity.PermUser, identity.PermCodeViewer} {
					g := identity.Grant{Subject: sub, ProjectID: p.ID, Permission: perm}
					ok, err := tx.AddGrant(ctx, g)
					if err != nil {
						return audit{}, nil, err
					}
					if ok {
						added = append(added, g)
					}
				}
			}
		}
		apply := func() {
			s.index.PutProject(p)
			for _, g := range dropped {
				s.index.RemoveGrant(g)
			}
			for _, g := range added {
				s.index.AddGrant(g)
			}
		}
		return audit{Action: "project.update_visibility", Target: "project:" + key, Before: viewProject(old), After: viewProject(p)}, apply, nil
	})
}

// SetProjectKey renames a project's key. Grants and explicit token scopes
// follow the project (they hold its id); key patterns are matched against
// the new key from the next decision on.
func (s *State) SetProjectKey(ctx context.Context, from, to string) error {
	if err := identity.ValidateProjectKey(to); err != nil {
		return err
	}
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		old, err := getProject(ctx, tx, from)
		if err != nil {
			return audit{}, nil, err
		}
		if err := mayEdit(ctx, old.Source, "Operation not allowed when the project is externally managed."); err != nil {
			return audit{}, nil, err
		}
		if from == to {
			return audit{}, nil, nil
		}
		p := old
		p.Key, p.UpdatedAt = to, s.now()
		err = tx.UpdateProject(ctx, p)
		if errors.Is(err, identity.ErrAlreadyExists) {
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "Impossible to update key: a component with key \"%s\" already exists.", to)
		}
		if err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "project.update_key", Target: "project:" + from, Before: viewProject(old), After: viewProject(p)}, func() { s.index.PutProject(p) }, nil
	})
}

// SetProjectTags replaces a project's tags (lower-cased, validated).
func (s *State) SetProjectTags(ctx context.Context, key string, tags []string) error {
	tags, err := identity.NormalizeTags(tags)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		old, err := getProject(ctx, tx, key)
		if err != nil {
			return audit{}, nil, err
		}
		p := old
		p.Tags, p.UpdatedAt = tags, s.now()
		if err := tx.UpdateProject(ctx, p); err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "project.set_tags", Target: "project:" + key, Before: old.Tags, After: tags}, nil, nil
	})
}

// ProjectBadgeToken returns a project's badge token, creating it on first
// use; renew replaces it, so badge URLs holding the old one stop working.
func (s *State) ProjectBadgeToken(ctx context.Context, key string, renew bool) (string, error) {
	// Reading an existing token is no write: a write bumps the revision,
	// which makes every peer replica reload.
	if !renew {
		p, err := getProject(ctx, s.store, key)
		if err != nil {
			return "", err
		}
		if p.BadgeToken != "" {
			return p.BadgeToken, nil
		}
	}
	var out string
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		p, err := getProject(ctx, tx, key)
		if err != nil {
			return audit{}, nil, err
		}
		if p.BadgeToken != "" && !renew {
			out = p.BadgeToken
			return audit{}, nil, nil
		}
		var b [20]byte
		if _, err := rand.Read(b[:]); err != nil {
			return audit{}, nil, err
		}
		p.BadgeToken, p.UpdatedAt = hex.EncodeToString(b[:]), s.now()
		if err := tx.UpdateProject(ctx, p); err != nil {
			return audit{}, nil, err
		}
		out = p.BadgeToken
		// The badge token is not a credential of the API: it only unlocks
		// badge images, which SonarQube shows in READMEs. Still, the audit
		// names the change without the value.
		return audit{Action: "project.badge_token", Target: "project:" + key, After: map[string]bool{"renewed": renew}}, nil, nil
	})
	return out, err
}

func getProject(ctx context.Context, r store.Reader, key string) (identity.Project, error) {
	p, err := r.GetProjectByKey(ctx, key)
	if errors.Is(err, identity.ErrNotFound) {
		return p, identity.Errorf(identity.ErrNotFound, "Project '%s' not found", key)
	}
	return p, err
}

type grantView struct {
	Subject    string              `json:"subject"`
	Project    string              `json:"project,omitempty"`
	Permission identity.Permission `json:"permission"`
}

// AddGrant grants a permission. Subjects are named: the caller resolved them.
func (s *State) AddGrant(ctx context.Context, g identity.Grant) error {
	return s.editGrant(ctx, g, true)
}

// RemoveGrant removes a grant. Removing global admin from the last holder is
// refused.
func (s *State) RemoveGrant(ctx context.Context, g identity.Grant) error {
	return s.editGrant(ctx, g, false)
}

func (s *State) editGrant(ctx context.Context, g identity.Grant, add bool) error {
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		return s.grantTx(ctx, tx, g, add)
	})
}

// grantTx is one grant change inside a write: the rules of [State.AddGrant]
// and [State.RemoveGrant], shared with the bulk path. Its domain errors come
// before any write; an empty audit means there was nothing to change.
func (s *State) grantTx(ctx context.Context, tx store.Tx, g identity.Grant, add bool) (audit, func(), error) {
	view := grantView{Permission: g.Permission}
	var proj *identity.Project
	if g.ProjectID != 0 {
		p, err := lookUpProject(ctx, tx, g.ProjectID)
		if err != nil {
			return audit{}, nil, err
		}
		proj, view.Project = &p, p.Key
	}
	if add && proj != nil && proj.Visibility == identity.Public && g.Permission.ImplicitOnPublic() {
		// Everyone already holds it: SonarQube answers such an add as
		// done, and clients (the Terraform provider) rely on that.
		return audit{}, nil, nil
	}
	if err := identity.ValidateGrant(g, proj); err != nil {
		return audit{}, nil, err
	}
	name, err := subjectName(ctx, tx, g.Subject)
	if err != nil {
		return audit{}, nil, err
	}
	view.Subject = name
	target := "global"
	if proj != nil {
		target = "project:" + proj.Key
	}
	if add {
		added, err := tx.AddGrant(ctx, g)
		if err != nil || !added {
			return audit{}, nil, err
		}
		return audit{Action: "permission.add", Target: target, After: view}, func() { s.index.AddGrant(g) }, nil
	}
	if g.Global() && g.Permission == identity.PermAdmin {
		subj := g.Subject
		if s.removesLastAdmin(authzWithoutGrant(&subj)) {
			return audit{}, nil, identity.Errorf(identity.ErrInvalid, "Last group with permission 'admin'. Permission cannot be removed.")
		}
	}
	removed, err := tx.RemoveGrant(ctx, g)
	if err != nil || !removed {
		return audit{}, nil, err
	}
	return audit{Action: "permission.remove", Target: target, Before: view}, func() { s.index.RemoveGrant(g) }, nil
}

func subjectName(ctx context.Context, r store.Reader, sub identity.Subject) (string, error) {
	switch sub.Kind {
	case identity.SubjectUser:
		u, err := lookUpUser(ctx, r, sub.ID)
		return "user:" + u.Login, err
	case identity.SubjectGroup:
		g, err := lookUpGroup(ctx, r, sub.ID)
		return "group:" + g.Name, err
	case identity.SubjectAnyone:
		return "group:" + identity.GroupAnyone, nil
	case identity.SubjectCreator:
		return "project-creator", nil
	}
	return "", identity.Errorf(identity.ErrInvalid, "Unknown grant subject '%s'", sub.Kind)
}

// settingDefaultVisibility is SonarQube's projects.default.visibility.
const settingDefaultVisibility = "projects.default.visibility"

func defaultVisibility(ctx context.Context, r store.Reader) (identity.Visibility, error) {
	v, err := r.GetSetting(ctx, settingDefaultVisibility)
	if errors.Is(err, identity.ErrNotFound) {
		return identity.Public, nil // SonarQube's default
	}
	if err != nil {
		return "", err
	}
	return identity.Visibility(v), nil
}

// DefaultVisibility is the visibility of a project created without one:
// public unless set otherwise, as in SonarQube.
func (s *State) DefaultVisibility(ctx context.Context) (identity.Visibility, error) {
	return defaultVisibility(ctx, s.store)
}

// SetDefaultVisibility sets the visibility of projects created without one;
// existing projects keep theirs.
func (s *State) SetDefaultVisibility(ctx context.Context, v identity.Visibility) error {
	if !v.Valid() {
		return identity.Errorf(identity.ErrInvalid, "Value of parameter 'projectVisibility' (%s) must be one of: [private, public]", v)
	}
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		old, err := defaultVisibility(ctx, tx)
		if err != nil {
			return audit{}, nil, err
		}
		if old == v {
			return audit{}, nil, nil
		}
		if err := tx.SetSetting(ctx, settingDefaultVisibility, string(v)); err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "settings.default_visibility", Target: "settings", Before: old, After: v}, nil, nil
	})
}
