package state

import (
	"errors"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestCheckGrantEdit(t *testing.T) {
	local := &identity.Project{ID: 1, Key: "p", Visibility: identity.Private, Source: identity.SourceLocal}
	public := &identity.Project{ID: 2, Key: "pub", Visibility: identity.Public, Source: identity.SourceLocal}
	managed := &identity.Project{ID: 3, Key: "gl", Visibility: identity.Private, Source: identity.SourceGitLab}
	user, group := identity.UserSubject(7), identity.GroupSubject(8)
	for _, tc := range []struct {
		name      string
		proj      *identity.Project
		sub       identity.Subject
		subSource identity.Source
		perm      identity.Permission
		add, adm  bool
		noop      bool
		err       error
	}{
		{"user on a local project", local, user, identity.SourceLocal, identity.PermScan, true, false, false, nil},
		{"admin to Anyone, global", nil, identity.Anyone, "", identity.PermAdmin, true, true, false, identity.ErrInvalid},
		{"admin to Anyone on a project", local, identity.Anyone, "", identity.PermAdmin, true, true, false, identity.ErrInvalid},
		{"managed project, non admin adds", managed, user, identity.SourceLocal, identity.PermScan, true, false, false, identity.ErrManaged},
		{"managed project, admin adds", managed, user, identity.SourceLocal, identity.PermScan, true, true, false, nil},
		{"managed project, managed user removed", managed, user, identity.SourceGitLab, identity.PermScan, false, true, false, identity.ErrManaged},
		{"managed project, local user removed by admin", managed, user, identity.SourceLocal, identity.PermScan, false, true, false, nil},
		{"managed project, group removed by non admin", managed, group, "", identity.PermScan, false, false, false, identity.ErrManaged},
		{"public project keeps browse", public, group, "", identity.PermUser, false, true, false, identity.ErrInvalid},
		{"public project loses scan", public, group, "", identity.PermScan, false, true, false, nil},
		{"Anyone off a private project", local, identity.Anyone, "", identity.PermScan, false, true, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noop, err := CheckGrantEdit(tc.proj, tc.sub, tc.subSource, tc.perm, tc.add, tc.adm)
			if noop != tc.noop || (tc.err == nil) != (err == nil) || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("CheckGrantEdit = %v, %v; want %v, %v", noop, err, tc.noop, tc.err)
			}
		})
	}
}

// EditGrant writes what CheckGrantEdit lets through, and nothing else.
func TestEditGrant(t *testing.T) {
	e := newEnv(t)
	e.user("root", identity.GroupAdministrators)
	ann := e.user("ann")
	web := e.project("web", identity.Private, 0)
	user := identity.UserSubject(ann.ID)
	for _, tc := range []struct {
		name string
		proj *identity.Project
		sub  identity.Subject
		perm identity.Permission
		add  bool
		err  error
		want bool // ann holds perm afterwards (on web, or globally)
	}{
		{"Anyone never gets admin", &web, identity.Anyone, identity.PermAdmin, true, identity.ErrInvalid, false},
		{"grant", &web, user, identity.PermAdmin, true, nil, true},
		{"grant again", &web, user, identity.PermAdmin, true, nil, true},
		{"revoke", &web, user, identity.PermAdmin, false, nil, false},
		// ann keeps browse through sonar-users (the default template).
		{"Anyone off a private project: nothing to do", &web, identity.Anyone, identity.PermUser, false, nil, true},
		{"global", nil, user, identity.PermProvisioning, true, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.s.EditGrant(e.ctx, tc.proj, tc.sub, identity.SourceLocal, tc.perm, tc.add, true)
			if !errors.Is(err, tc.err) || tc.err == nil && err != nil {
				t.Fatalf("EditGrant = %v, want %v", err, tc.err)
			}
			p, perr := e.s.Index().UserPrincipal(ann.ID)
			if perr != nil {
				t.Fatal(perr)
			}
			key := ""
			if tc.proj != nil {
				key = tc.proj.Key
			}
			if got := e.s.Index().Decide(p, tc.perm, key).Allowed; got != tc.want {
				t.Fatalf("ann holds %s on %q: %v, want %v", tc.perm, key, got, tc.want)
			}
		})
	}
}

func TestMayEditPermissions(t *testing.T) {
	e := newEnv(t)
	root := e.user("root", identity.GroupAdministrators)
	pa := e.user("pa")
	plain := e.user("plain")
	web := e.project("web", identity.Private, 0)
	e.project("api", identity.Private, 0)
	if err := e.s.AddGrant(e.ctx, identity.Grant{Subject: identity.UserSubject(pa.ID), ProjectID: web.ID, Permission: identity.PermAdmin}); err != nil {
		t.Fatal(err)
	}
	principal := e.principal
	for _, tc := range []struct {
		name string
		who  identity.User
		key  string
		want bool
	}{
		{"administrator, global", root, "", true},
		{"administrator, a project", root, "api", true},
		{"administrator, an unknown key", root, "nope", true},
		{"project admin, global", pa, "", false},
		{"project admin, own project", pa, "web", true},
		{"project admin, another project", pa, "api", false},
		{"project admin, an unknown key", pa, "nope", false},
		{"plain user, a project", plain, "web", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.s.MayEditPermissions(principal(tc.who), tc.key); got != tc.want {
				t.Fatalf("MayEditPermissions = %v, want %v", got, tc.want)
			}
		})
	}
	listed := func(who identity.User, want []string) {
		t.Helper()
		ps, err := e.s.ProjectsWith(e.ctx, principal(who), identity.PermAdmin, store.ProjectFilter{Page: store.Page{Number: 1, Size: 1}})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, p := range ps {
			keys = append(keys, p.Key)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, want) {
			t.Errorf("ProjectsWith(%s) = %v, want %v (every page)", who.Login, keys, want)
		}
	}
	listed(root, []string{"api", "web"})
	listed(pa, []string{"web"})
	listed(plain, nil)
	// Through a group's grant.
	gpa := e.user("gpa", "ops")
	ops, _ := e.db.GetGroupByName(e.ctx, "ops")
	api, _ := e.db.GetProjectByKey(e.ctx, "api")
	if err := e.s.AddGrant(e.ctx, identity.Grant{Subject: identity.GroupSubject(ops.ID), ProjectID: api.ID, Permission: identity.PermAdmin}); err != nil {
		t.Fatal(err)
	}
	listed(gpa, []string{"api"})
}
