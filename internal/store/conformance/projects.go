package conformance

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var projectTests = []test{
	{"CreateAndGet", testProjectCreateAndGet},
	{"Update", testProjectUpdate},
	{"UniqueKey", testProjectUniqueKey},
	{"NotFound", testProjectNotFound},
	{"DeleteCascades", testProjectDeleteCascades},
	{"ListFilters", testListProjectsFilters},
	{"ListPaging", testListProjectsPaging},
	{"TagsAndBadgeToken", testProjectTagsAndBadgeToken},
}

func testProjectCreateAndGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	start := time.Now()
	in := identity.Project{
		Key: "acme:backend-api", Name: "Backend API", Visibility: identity.Private,
		Source: identity.SourceGitLab, ExternalID: "42", ExternalPath: "acme/backend-api",
	}
	created := mustCreate(t, s, in, store.Tx.CreateProject)
	if created.ID <= 0 {
		t.Fatalf("CreateProject assigned id %d, want > 0", created.ID)
	}
	checkFilled(t, "CreateProject CreatedAt", created.CreatedAt, start)
	checkFilled(t, "CreateProject UpdatedAt", created.UpdatedAt, start)
	want := in
	want.ID, want.CreatedAt, want.UpdatedAt = created.ID, created.CreatedAt, created.UpdatedAt
	assertEqual(t, "CreateProject result", want, created)

	got, err := s.GetProject(ctx, created.ID)
	noErr(t, "GetProject", err)
	assertEqual(t, "GetProject", want, got)
	got, err = s.GetProjectByKey(ctx, in.Key)
	noErr(t, "GetProjectByKey", err)
	assertEqual(t, "GetProjectByKey", want, got)

	// Given timestamps are kept.
	local := identity.Project{Key: "tools", Name: "Tools", Visibility: identity.Public, Source: identity.SourceLocal, CreatedAt: at(0), UpdatedAt: at(time.Second)}
	created = mustCreate(t, s, local, store.Tx.CreateProject)
	local.ID = created.ID
	got, err = s.GetProject(ctx, created.ID)
	noErr(t, "GetProject", err)
	assertEqual(t, "GetProject of a project created with timestamps", local, got)
}

func testProjectUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := mustCreate(t, s, identity.Project{Key: "app", Name: "App", Visibility: identity.Public, Source: identity.SourceLocal, CreatedAt: at(0), UpdatedAt: at(0)}, store.Tx.CreateProject)
	p.Key = "acme:app"
	p.Name = "Acme App"
	p.Visibility = identity.Private
	p.Source = identity.SourceGitLab
	p.ExternalID = "7"
	p.ExternalPath = "acme/app"
	p.UpdatedAt = at(time.Hour)
	mustUpdate(t, s, p, store.Tx.UpdateProject)

	got, err := s.GetProject(ctx, p.ID)
	noErr(t, "GetProject after update", err)
	p.UpdatedAt = got.UpdatedAt // whether UpdateProject stamps its own is not specified
	assertEqual(t, "GetProject after update", p, got)
	_, err = s.GetProjectByKey(ctx, "app")
	wantErrIs(t, "GetProjectByKey(old key)", err, identity.ErrNotFound)
	got, err = s.GetProjectByKey(ctx, "acme:app")
	noErr(t, "GetProjectByKey(new key)", err)
	if got.ID != p.ID {
		t.Errorf("GetProjectByKey(new key) returned project %d, want %d", got.ID, p.ID)
	}
}

func testProjectUniqueKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	newProject(t, s, "app", identity.Public)
	lib := newProject(t, s, "lib", identity.Public)

	err := tryCreate(t, s, identity.Project{Key: "app", Name: "Other App", Visibility: identity.Private, Source: identity.SourceLocal}, store.Tx.CreateProject)
	wantErrIs(t, "CreateProject with a taken key", err, identity.ErrAlreadyExists)
	lib.Key = "app"
	err = tryUpdate(t, s, lib, store.Tx.UpdateProject)
	wantErrIs(t, "UpdateProject to a taken key", err, identity.ErrAlreadyExists)

	projects, total, err := s.ListProjects(ctx, store.ProjectFilter{})
	noErr(t, "ListProjects", err)
	checkKeys(t, "ListProjects after refused writes", projects, projectKey, []string{"app", "lib"})
	if total != 2 {
		t.Errorf("ListProjects total = %d, want 2", total)
	}
}

func testProjectNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newProject(t, s, "app", identity.Public)
	missing := p.ID + 1000
	checkNotFound(t, []missingCall{
		{"GetProject", func() error { _, err := s.GetProject(ctx, missing); return err }},
		{"GetProjectByKey", func() error { _, err := s.GetProjectByKey(ctx, "ghost"); return err }},
		{"UpdateProject", func() error {
			ghost := identity.Project{ID: missing, Key: "ghost", Name: "Ghost", Visibility: identity.Public, Source: identity.SourceLocal}
			return tryUpdate(t, s, ghost, store.Tx.UpdateProject)
		}},
	})
}

func testProjectDeleteCascades(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice")
	devs := newGroup(t, s, "devs")
	doomed := newProject(t, s, "doomed", identity.Public)
	kept := newProject(t, s, "kept", identity.Private)

	keptGrants := []identity.Grant{
		{Subject: identity.UserSubject(alice.ID), Permission: identity.PermScan},
		{Subject: identity.GroupSubject(devs.ID), ProjectID: kept.ID, Permission: identity.PermUser},
	}
	addGrants(t, s,
		identity.Grant{Subject: identity.UserSubject(alice.ID), ProjectID: doomed.ID, Permission: identity.PermAdmin},
		identity.Grant{Subject: identity.GroupSubject(devs.ID), ProjectID: doomed.ID, Permission: identity.PermIssueAdmin},
		identity.Grant{Subject: identity.Anyone, ProjectID: doomed.ID, Permission: identity.PermScan},
	)
	addGrants(t, s, keptGrants...)
	org := mustCreate(t, s, identity.Token{
		Name: "ci", Type: identity.TokenOrganization, Hash: hashOf("org"), CreatedBy: "user:alice",
		Permissions: []identity.Permission{identity.PermScan},
	}, store.Tx.CreateToken)
	write(t, s, func(tx store.Tx) error { return tx.AddTokenProjects(ctx, org.ID, []int64{doomed.ID, kept.ID}) })
	doomedToken := mustCreate(t, s, identity.Token{
		Name: "doomed-scan", Type: identity.TokenProjectAnalysis, UserID: alice.ID, ProjectID: doomed.ID, Hash: hashOf("doomed"), CreatedBy: "user:alice",
	}, store.Tx.CreateToken)
	keptToken := mustCreate(t, s, identity.Token{
		Name: "kept-scan", Type: identity.TokenProjectAnalysis, UserID: alice.ID, ProjectID: kept.ID, Hash: hashOf("kept"), CreatedBy: "user:alice",
	}, store.Tx.CreateToken)
	userToken := mustCreate(t, s, identity.Token{
		Name: "laptop", Type: identity.TokenUser, UserID: alice.ID, Hash: hashOf("laptop"), CreatedBy: "user:alice",
	}, store.Tx.CreateToken)

	write(t, s, func(tx store.Tx) error { return tx.DeleteProject(ctx, doomed.ID) })

	_, err := s.GetProject(ctx, doomed.ID)
	wantErrIs(t, "GetProject of the deleted project", err, identity.ErrNotFound)
	_, err = s.GetProjectByKey(ctx, "doomed")
	wantErrIs(t, "GetProjectByKey of the deleted project", err, identity.ErrNotFound)

	grants, err := s.ListGrants(ctx, store.GrantFilter{})
	noErr(t, "ListGrants", err)
	checkGrants(t, "grants after DeleteProject", grants, keptGrants)

	ids, total, err := s.ListTokenProjects(ctx, org.ID, store.Page{})
	noErr(t, "ListTokenProjects", err)
	assertEqual(t, "token projects after DeleteProject", []int64{kept.ID}, ids)
	if total != 1 {
		t.Errorf("ListTokenProjects total = %d after DeleteProject, want 1", total)
	}
	got, err := s.GetToken(ctx, org.ID)
	noErr(t, "GetToken(organization)", err)
	if got.Scope.ProjectCount != 1 {
		t.Errorf("organization token ProjectCount = %d after DeleteProject, want 1", got.Scope.ProjectCount)
	}

	_, err = s.GetToken(ctx, doomedToken.ID)
	wantErrIs(t, "GetToken of the analysis token of the deleted project", err, identity.ErrNotFound)
	for _, tok := range []identity.Token{keptToken, userToken} {
		_, err := s.GetToken(ctx, tok.ID)
		noErr(t, "GetToken("+tok.Name+") after deleting another project", err)
	}
}

// seedProjects creates the population of the project listing tests and
// returns it by key.
func seedProjects(t *testing.T, s store.Store) map[string]identity.Project {
	t.Helper()
	fixtures := []identity.Project{
		{Key: "my_app", Name: "My App", Visibility: identity.Public, Source: identity.SourceLocal},
		{Key: "myxapp", Name: "Mystery X", Visibility: identity.Private, Source: identity.SourceLocal},
		{Key: "backend:api", Name: "Backend API", Visibility: identity.Private, Source: identity.SourceGitLab, ExternalID: "42", ExternalPath: "acme/backend-api"},
		{Key: "frontend", Name: "Web Front", Visibility: identity.Public, Source: identity.SourceGitLab, ExternalID: "43", ExternalPath: "acme/frontend"},
		{Key: "docs", Name: "Handbook", Visibility: identity.Public, Source: identity.SourceLocal},
	}
	projects := make(map[string]identity.Project, len(fixtures))
	for _, p := range createAll(t, s, fixtures, store.Tx.CreateProject) {
		projects[p.Key] = p
	}
	return projects
}

func testListProjectsFilters(t *testing.T, s store.Store) {
	projects := seedProjects(t, s)
	checkListCases(t, "ListProjects", []listCase[store.ProjectFilter]{
		{"no filter", store.ProjectFilter{}, []string{"my_app", "myxapp", "backend:api", "frontend", "docs"}},
		{"query on key", store.ProjectFilter{Query: "FRONT"}, []string{"frontend"}},
		{"query on name", store.ProjectFilter{Query: "handbook"}, []string{"docs"}},
		{"query on key and name", store.ProjectFilter{Query: "api"}, []string{"backend:api"}},
		{"query across projects", store.ProjectFilter{Query: "my"}, []string{"my_app", "myxapp"}},
		{"query underscore is literal", store.ProjectFilter{Query: "my_"}, []string{"my_app"}},
		{"keys", store.ProjectFilter{Keys: []string{"frontend", "my_app", "absent"}}, []string{"frontend", "my_app"}},
		{"ids", store.ProjectFilter{IDs: []int64{projects["docs"].ID, projects["myxapp"].ID}}, []string{"docs", "myxapp"}},
		{"private", store.ProjectFilter{Visibility: identity.Private}, []string{"myxapp", "backend:api"}},
		{"public", store.ProjectFilter{Visibility: identity.Public}, []string{"my_app", "frontend", "docs"}},
		{"source", store.ProjectFilter{Source: identity.SourceGitLab}, []string{"backend:api", "frontend"}},
		{"public from gitlab", store.ProjectFilter{Visibility: identity.Public, Source: identity.SourceGitLab}, []string{"frontend"}},
		{"keys and private", store.ProjectFilter{Keys: []string{"my_app", "myxapp"}, Visibility: identity.Private}, []string{"myxapp"}},
		{"query and ids", store.ProjectFilter{Query: "my", IDs: []int64{projects["my_app"].ID, projects["docs"].ID}}, []string{"my_app"}},
	}, projectKey, s.ListProjects)
}

func testListProjectsPaging(t *testing.T, s store.Store) {
	seedProjects(t, s)
	ctx := t.Context()
	checkPaging(t, "ListProjects", 2, []string{"my_app", "myxapp", "backend:api", "frontend", "docs"}, projectKey,
		func(p store.Page) ([]identity.Project, int, error) {
			return s.ListProjects(ctx, store.ProjectFilter{Page: p})
		})
	checkPaging(t, "ListProjects public", 2, []string{"my_app", "frontend", "docs"}, projectKey,
		func(p store.Page) ([]identity.Project, int, error) {
			return s.ListProjects(ctx, store.ProjectFilter{Visibility: identity.Public, Page: p})
		})
}

// testProjectTagsAndBadgeToken checks that tags and the badge token
// round-trip through create, update, get, list and the snapshot.
func testProjectTagsAndBadgeToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := mustCreate(t, s, identity.Project{Key: "tagged", Name: "Tagged", Visibility: identity.Private, Source: identity.SourceLocal,
		Tags: []string{"java", "team-a"}}, store.Tx.CreateProject)
	got, err := s.GetProject(ctx, p.ID)
	noErr(t, "GetProject", err)
	if strings.Join(got.Tags, ",") != "java,team-a" || got.BadgeToken != "" {
		t.Fatalf("created: tags %v badge %q", got.Tags, got.BadgeToken)
	}
	got.Tags, got.BadgeToken = []string{"go"}, "badge-123"
	write(t, s, func(tx store.Tx) error { return tx.UpdateProject(ctx, got) })
	byKey, err := s.GetProjectByKey(ctx, "tagged")
	noErr(t, "GetProjectByKey", err)
	if strings.Join(byKey.Tags, ",") != "go" || byKey.BadgeToken != "badge-123" {
		t.Fatalf("updated: tags %v badge %q", byKey.Tags, byKey.BadgeToken)
	}
	got.Tags = nil
	write(t, s, func(tx store.Tx) error { return tx.UpdateProject(ctx, got) })
	ps, _, err := s.ListProjects(ctx, store.ProjectFilter{Keys: []string{"tagged"}})
	noErr(t, "ListProjects", err)
	if len(ps) != 1 || len(ps[0].Tags) != 0 || ps[0].BadgeToken != "badge-123" {
		t.Fatalf("listed: %+v", ps)
	}
}
