package conformance

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var templateTests = []test{
	{"CreateAndGet", testTemplateCreateAndGet},
	{"GetByNameCaseInsensitive", testTemplateGetByName},
	{"UniqueNameCaseInsensitive", testTemplateUniqueName},
	{"UpdateRewritesGrants", testTemplateUpdate},
	{"Delete", testTemplateDelete},
	{"NotFound", testTemplateNotFound},
	{"ListByName", testListTemplates},
}

// templateFixture creates a user and a group for template grants.
func templateFixture(t *testing.T, s store.Store) (identity.User, identity.Group) {
	t.Helper()
	alice := newUser(t, s, "alice")
	devs := newGroup(t, s, "devs")
	return alice, devs
}

func testTemplateCreateAndGet(t *testing.T, s store.Store) {
	alice, devs := templateFixture(t, s)
	start := time.Now()
	in := identity.Template{
		Name: "Backend projects", Description: "Grants for the backend team", KeyPattern: `acme:backend-.*`,
		Grants: []identity.TemplateGrant{
			{Subject: identity.UserSubject(alice.ID), Permission: identity.PermAdmin},
			{Subject: identity.GroupSubject(devs.ID), Permission: identity.PermCodeViewer},
			{Subject: identity.GroupSubject(devs.ID), Permission: identity.PermUser},
			{Subject: identity.Anyone, Permission: identity.PermScan},
			{Subject: identity.Subject{Kind: identity.SubjectCreator}, Permission: identity.PermAdmin},
		},
	}
	created := mustCreate(t, s, in, store.Tx.CreateTemplate)
	if created.ID <= 0 {
		t.Fatalf("CreateTemplate assigned id %d, want > 0", created.ID)
	}
	checkFilled(t, "CreateTemplate CreatedAt", created.CreatedAt, start)
	checkFilled(t, "CreateTemplate UpdatedAt", created.UpdatedAt, start)
	want := in
	want.ID, want.CreatedAt, want.UpdatedAt = created.ID, created.CreatedAt, created.UpdatedAt
	checkTemplate(t, "CreateTemplate result", want, created)

	got, err := s.GetTemplate(t.Context(), created.ID)
	noErr(t, "GetTemplate", err)
	checkTemplate(t, "GetTemplate", want, got)

	// A template without grants or pattern, with given timestamps.
	bare := identity.Template{Name: "Bare", CreatedAt: at(0), UpdatedAt: at(time.Minute)}
	created = mustCreate(t, s, bare, store.Tx.CreateTemplate)
	bare.ID = created.ID
	got, err = s.GetTemplate(t.Context(), created.ID)
	noErr(t, "GetTemplate", err)
	checkTemplate(t, "GetTemplate of a bare template", bare, got)
}

func testTemplateGetByName(t *testing.T, s store.Store) {
	created := mustCreate(t, s, identity.Template{Name: "Default Template"}, store.Tx.CreateTemplate)
	for _, name := range []string{"Default Template", "default template", "DEFAULT TEMPLATE"} {
		got, err := s.GetTemplateByName(t.Context(), name)
		noErr(t, "GetTemplateByName("+name+")", err)
		if got.ID != created.ID || got.Name != created.Name {
			t.Errorf("GetTemplateByName(%q) = %d %q, want %d %q", name, got.ID, got.Name, created.ID, created.Name)
		}
	}
}

func testTemplateUniqueName(t *testing.T, s store.Store) {
	mustCreate(t, s, identity.Template{Name: "Default"}, store.Tx.CreateTemplate)
	other := mustCreate(t, s, identity.Template{Name: "Other"}, store.Tx.CreateTemplate)

	for _, name := range []string{"Default", "DEFAULT", "default"} {
		err := tryCreate(t, s, identity.Template{Name: name}, store.Tx.CreateTemplate)
		wantErrIs(t, "CreateTemplate("+name+")", err, identity.ErrAlreadyExists)
	}
	other.Name = "dEFAULT"
	err := tryUpdate(t, s, other, store.Tx.UpdateTemplate)
	wantErrIs(t, "UpdateTemplate to a taken name in another case", err, identity.ErrAlreadyExists)

	got, err := s.ListTemplates(t.Context())
	noErr(t, "ListTemplates", err)
	checkKeys(t, "ListTemplates after refused writes", got, templateName, []string{"Default", "Other"})
}

func testTemplateUpdate(t *testing.T, s store.Store) {
	alice, devs := templateFixture(t, s)
	tmpl := mustCreate(t, s, identity.Template{
		Name: "Backend", Description: "old", KeyPattern: "backend-.*", CreatedAt: at(0), UpdatedAt: at(0),
		Grants: []identity.TemplateGrant{
			{Subject: identity.UserSubject(alice.ID), Permission: identity.PermAdmin},
			{Subject: identity.GroupSubject(devs.ID), Permission: identity.PermUser},
		},
	}, store.Tx.CreateTemplate)

	tmpl.Name = "Services"
	tmpl.Description = "new"
	tmpl.KeyPattern = "svc-.*"
	tmpl.Grants = []identity.TemplateGrant{
		{Subject: identity.GroupSubject(devs.ID), Permission: identity.PermUser},
		{Subject: identity.GroupSubject(devs.ID), Permission: identity.PermScan},
		{Subject: identity.Subject{Kind: identity.SubjectCreator}, Permission: identity.PermAdmin},
	}
	tmpl.UpdatedAt = at(time.Hour)
	mustUpdate(t, s, tmpl, store.Tx.UpdateTemplate)

	got, err := s.GetTemplate(t.Context(), tmpl.ID)
	noErr(t, "GetTemplate after update", err)
	tmpl.UpdatedAt = got.UpdatedAt // whether UpdateTemplate stamps its own is not specified
	checkTemplate(t, "GetTemplate after update", tmpl, got)

	// Rewriting to no grants at all empties the list.
	tmpl.Grants = nil
	mustUpdate(t, s, tmpl, store.Tx.UpdateTemplate)
	got, err = s.GetTemplate(t.Context(), tmpl.ID)
	noErr(t, "GetTemplate after update", err)
	if len(got.Grants) != 0 {
		t.Errorf("template grants after an update without grants = %v, want none", got.Grants)
	}
}

func testTemplateDelete(t *testing.T, s store.Store) {
	alice, _ := templateFixture(t, s)
	doomed := mustCreate(t, s, identity.Template{
		Name:   "Doomed",
		Grants: []identity.TemplateGrant{{Subject: identity.UserSubject(alice.ID), Permission: identity.PermAdmin}},
	}, store.Tx.CreateTemplate)
	kept := mustCreate(t, s, identity.Template{Name: "Kept"}, store.Tx.CreateTemplate)

	write(t, s, func(tx store.Tx) error { return tx.DeleteTemplate(t.Context(), doomed.ID) })

	_, err := s.GetTemplate(t.Context(), doomed.ID)
	wantErrIs(t, "GetTemplate of the deleted template", err, identity.ErrNotFound)
	_, err = s.GetTemplateByName(t.Context(), "Doomed")
	wantErrIs(t, "GetTemplateByName of the deleted template", err, identity.ErrNotFound)
	got, err := s.ListTemplates(t.Context())
	noErr(t, "ListTemplates", err)
	checkKeys(t, "ListTemplates after DeleteTemplate", got, templateName, []string{kept.Name})

	// The name is free again.
	mustCreate(t, s, identity.Template{Name: "doomed"}, store.Tx.CreateTemplate)
}

func testTemplateNotFound(t *testing.T, s store.Store) {
	tmpl := mustCreate(t, s, identity.Template{Name: "Default"}, store.Tx.CreateTemplate)
	missing := tmpl.ID + 1000
	checkNotFound(t, []missingCall{
		{"GetTemplate", func() error { _, err := s.GetTemplate(t.Context(), missing); return err }},
		{"GetTemplateByName", func() error { _, err := s.GetTemplateByName(t.Context(), "Ghost"); return err }},
		{"UpdateTemplate", func() error {
			return tryUpdate(t, s, identity.Template{ID: missing, Name: "Ghost"}, store.Tx.UpdateTemplate)
		}},
	})
}

func testListTemplates(t *testing.T, s store.Store) {
	// Created out of order; every name starts with a capital letter so that
	// byte order and case-insensitive order agree.
	for _, name := range []string{"Mobile", "Default", "Web", "Backend"} {
		mustCreate(t, s, identity.Template{Name: name}, store.Tx.CreateTemplate)
	}
	got, err := s.ListTemplates(t.Context())
	noErr(t, "ListTemplates", err)
	names := make([]string, len(got))
	for i, tmpl := range got {
		names[i] = tmpl.Name
	}
	if want := []string{"Backend", "Default", "Mobile", "Web"}; !slices.Equal(names, want) {
		t.Errorf("ListTemplates = %q, want %q", names, want)
	}
}

func templateName(tmpl identity.Template) string { return tmpl.Name }

// checkTemplate compares two templates, their grants in any order.
func checkTemplate(t *testing.T, what string, want, got identity.Template) {
	t.Helper()
	key := func(g identity.TemplateGrant) string {
		return fmt.Sprintf("%s %d: %s", g.Subject.Kind, g.Subject.ID, g.Permission)
	}
	checkKeys(t, what+" grants", got.Grants, key, keysOf(want.Grants, key))
	want.Grants, got.Grants = nil, nil
	assertEqual(t, what, want, got)
}
