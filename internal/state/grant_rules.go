package state

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// MsgManagedProject refuses a local edit of a project an identity source
// manages (its permissions, its visibility).
const MsgManagedProject = "Operation not allowed when the project is externally managed."

// CheckGrantEdit applies the rules a person's permission edit keeps, for
// every adapter (the Web API's api/permissions/* and the admin UI), before
// [State.AddGrant] or [State.RemoveGrant]:
//   - Anyone never gets admin;
//   - a managed project's permissions are its source's: only an
//     administrator (byAdmin) adds to them locally or removes a group's, and
//     no one removes a managed user's;
//   - a public project's implicit permissions (browse, see source) cannot
//     be removed.
//
// proj is nil for a global permission; subjectSource is the source of the
// user or group. noop reports an edit that changes nothing and is answered
// as done (removing Anyone from a private project).
func CheckGrantEdit(proj *identity.Project, sub identity.Subject, subjectSource identity.Source, perm identity.Permission, add, byAdmin bool) (noop bool, err error) {
	if add && sub.Kind == identity.SubjectAnyone && perm == identity.PermAdmin {
		return false, identity.Errorf(identity.ErrInvalid, "It is not possible to add the '%s' permission to group 'Anyone'.", perm)
	}
	if proj == nil {
		return false, nil
	}
	user := sub.Kind == identity.SubjectUser
	switch {
	case proj.Source.Managed() && !byAdmin && (add || !user):
		return false, identity.ManagedError(proj.Source, MsgManagedProject)
	case !add && user && proj.Source.Managed() && subjectSource.Managed():
		return false, identity.ManagedError(proj.Source, MsgManagedProject)
	case !add && proj.Visibility == identity.Public && perm.ImplicitOnPublic():
		return false, identity.Errorf(identity.ErrInvalid, "Permission %s can't be removed from a public component", perm)
	case !add && proj.Visibility == identity.Private && sub.Kind == identity.SubjectAnyone:
		return true, nil
	}
	return false, nil
}

// EditGrant is a person's grant (add) or revoke of perm to sub, globally
// (proj nil) or on proj, under [CheckGrantEdit]'s rules: the one path of
// the Web API's api/permissions/* and the admin UI's permission pages.
func (s *State) EditGrant(ctx context.Context, proj *identity.Project, sub identity.Subject, subjectSource identity.Source, perm identity.Permission, add, byAdmin bool) error {
	noop, err := CheckGrantEdit(proj, sub, subjectSource, perm, add, byAdmin)
	if err != nil || noop {
		return err
	}
	g := identity.Grant{Subject: sub, Permission: perm}
	if proj != nil {
		g.ProjectID = proj.ID
	}
	if add {
		return s.AddGrant(ctx, g)
	}
	return s.RemoveGrant(ctx, g)
}

// MayEditPermissions reports whether p may manage permissions globally
// (projectKey "": global administrators only) or on the project projectKey
// (global administrators and holders of admin on it), as the index decides:
// the one rule of api/permissions/* and the admin UI's permission pages.
// An unknown key is refused to all but global administrators, so a
// refusal does not tell whether a project exists.
func (s *State) MayEditPermissions(p authz.Principal, projectKey string) bool {
	if s.index.Decide(p, identity.PermAdmin, "").Allowed {
		return true
	}
	return projectKey != "" && s.index.Decide(p, identity.PermAdmin, projectKey).Allowed
}

// MayCreateProjects is who may create a project: a global administrator
// or a holder of Create Projects (SonarQube's "provisioning"), as
// api/projects/create and the admin UI ask.
func (s *State) MayCreateProjects(p authz.Principal) bool {
	return s.index.Decide(p, identity.PermAdmin, "").Allowed || s.index.Decide(p, identity.PermProvisioning, "").Allowed
}

// maxGrantedKeys bounds the key list ProjectsWith sends the store; past it
// reading every project is as cheap.
const maxGrantedKeys = 1000

// ProjectsWith lists the projects matching f (its paging ignored) on which
// p holds perm, in the store's order, as the index decides: a listing
// shows p's rights as the next decision would.
func (s *State) ProjectsWith(ctx context.Context, p authz.Principal, perm identity.Permission, f store.ProjectFilter) ([]identity.Project, error) {
	f.Page = store.Page{}
	// Where the explicit grants tell, read only the projects they name
	// rather than every project.
	if keys, complete := s.index.GrantedProjectKeys(p, perm); complete && len(f.Keys) == 0 && len(keys) <= maxGrantedKeys {
		if len(keys) == 0 {
			return nil, nil
		}
		f.Keys = keys
	}
	all, _, err := s.store.ListProjects(ctx, f)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, pr := range all {
		if s.index.Decide(p, perm, pr.Key).Allowed {
			out = append(out, pr)
		}
	}
	return out, nil
}
