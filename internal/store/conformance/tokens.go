package conformance

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var tokenTests = []test{
	{"CreateEachType", testTokenCreateEachType},
	{"GetByHash", testGetTokenByHash},
	{"NameUniquePerOwner", testTokenNameUnique},
	{"Rotate", testTokenRotate},
	{"Revoke", testTokenRevoke},
	{"UpdateKeepsExplicitProjects", testTokenUpdateKeepsProjects},
	{"Delete", testTokenDelete},
	{"NotFound", testTokenNotFound},
	{"ListFilters", testListTokensFilters},
	{"ListPaging", testListTokensPaging},
	{"ExplicitProjects", testTokenProjects},
	{"TenThousandProjects", testTokenManyProjects},
	{"TouchToken", testTouchToken},
}

// tokenOwners creates two users and a project for user-bound tokens.
func tokenOwners(t *testing.T, s store.Store) (alice, bob identity.User, app identity.Project) {
	t.Helper()
	alice = newUser(t, s, "alice")
	bob = newUser(t, s, "bob")
	app = newProject(t, s, "app", identity.Private)
	return alice, bob, app
}

// orgToken returns an organization token named name.
func orgToken(name string) identity.Token {
	return identity.Token{
		Name: name, Type: identity.TokenOrganization, Hash: hashOf(name), CreatedBy: "user:admin",
		Permissions: []identity.Permission{identity.PermScan},
	}
}

// userToken returns a token of type typ named name, owned by owner.
func userToken(name string, typ identity.TokenType, owner identity.User) identity.Token {
	return identity.Token{
		Name: name, Type: typ, UserID: owner.ID, Hash: hashOf(owner.Login + "/" + name), CreatedBy: "user:" + owner.Login,
	}
}

func testTokenCreateEachType(t *testing.T, s store.Store) {
	alice, _, app := tokenOwners(t, s)
	cases := []struct {
		name  string
		token identity.Token
	}{
		{"user", identity.Token{
			Name: "laptop", Description: "my laptop", Type: identity.TokenUser, UserID: alice.ID,
			Hash: hashOf("user"), CreatedBy: "user:alice", ExpiresAt: at(30 * 24 * time.Hour),
		}},
		{"global analysis", identity.Token{
			Name: "ci-global", Type: identity.TokenGlobalAnalysis, UserID: alice.ID, Hash: hashOf("global"), CreatedBy: "user:alice",
		}},
		{"project analysis", identity.Token{
			Name: "ci-app", Type: identity.TokenProjectAnalysis, UserID: alice.ID, ProjectID: app.ID,
			Hash: hashOf("project"), CreatedBy: "user:alice",
		}},
		{"organization", identity.Token{
			Name: "pipelines", Description: "Azure Pipelines", Type: identity.TokenOrganization,
			Hash: hashOf("org"), CreatedBy: "user:admin", ExpiresAt: at(90 * 24 * time.Hour),
			Permissions: []identity.Permission{identity.PermCodeViewer, identity.PermScan, identity.PermUser},
			Scope:       identity.TokenScope{Set: identity.SetPublic, Patterns: []string{`acme:.*`, `tools-[0-9]+`}},
		}},
		{"organization with patterns only", identity.Token{
			Name: "patterns", Type: identity.TokenOrganization, Hash: hashOf("org-patterns"), CreatedBy: "user:admin",
			Permissions: []identity.Permission{identity.PermAdmin},
			Scope:       identity.TokenScope{Patterns: []string{`legacy-.*`}},
		}},
		{"scim", identity.Token{
			Name: "okta", Type: identity.TokenSCIM, Hash: hashOf("scim"), CreatedBy: "user:admin",
			SCIMScopes: []string{"groups:read", "groups:write", "users:read", "users:write"},
		}},
		{"with given timestamps", identity.Token{
			Name: "dated", Type: identity.TokenUser, UserID: alice.ID, Hash: hashOf("dated"), CreatedBy: "user:alice",
			CreatedAt: at(0), UpdatedAt: at(time.Minute), LastUsedAt: at(time.Hour),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			created := mustCreate(t, s, tc.token, store.Tx.CreateToken)
			if created.ID <= 0 {
				t.Fatalf("CreateToken assigned id %d, want > 0", created.ID)
			}
			want := tc.token
			want.ID = created.ID
			if want.CreatedAt.IsZero() {
				checkFilled(t, "CreateToken CreatedAt", created.CreatedAt, start)
				checkFilled(t, "CreateToken UpdatedAt", created.UpdatedAt, start)
				want.CreatedAt, want.UpdatedAt = created.CreatedAt, created.UpdatedAt
			}
			assertEqual(t, "CreateToken result", want, created)
			got, err := s.GetToken(t.Context(), created.ID)
			noErr(t, "GetToken", err)
			assertEqual(t, "GetToken", want, got)
		})
	}
}

func testGetTokenByHash(t *testing.T, s store.Store) {
	alice, _, _ := tokenOwners(t, s)
	first := mustCreate(t, s, userToken("first", identity.TokenUser, alice), store.Tx.CreateToken)
	second := mustCreate(t, s, orgToken("second"), store.Tx.CreateToken)
	for _, want := range []identity.Token{first, second} {
		got, err := s.GetTokenByHash(t.Context(), want.Hash)
		noErr(t, "GetTokenByHash("+want.Name+")", err)
		assertEqual(t, "GetTokenByHash("+want.Name+")", want, got)
	}
	_, err := s.GetTokenByHash(t.Context(), hashOf("unknown"))
	wantErrIs(t, "GetTokenByHash(unknown)", err, identity.ErrNotFound)
}

func testTokenNameUnique(t *testing.T, s store.Store) {
	alice, bob, _ := tokenOwners(t, s)
	scim := func(name string) identity.Token {
		return identity.Token{Name: name, Type: identity.TokenSCIM, Hash: hashOf(name), CreatedBy: "user:admin"}
	}
	// Names are unique per owning user across types; tokens without a user
	// (organization, SCIM) have names unique per type.
	cases := []struct {
		name          string
		first, second identity.Token
		wantErr       error
	}{
		{"two users", userToken("", identity.TokenUser, alice), userToken("", identity.TokenUser, bob), nil},
		{"one user twice", userToken("", identity.TokenUser, alice), userToken("", identity.TokenUser, alice), identity.ErrAlreadyExists},
		{"one user across types", userToken("", identity.TokenUser, alice), userToken("", identity.TokenGlobalAnalysis, alice), identity.ErrAlreadyExists},
		{"organization and scim", orgToken(""), scim(""), nil},
		{"organization twice", orgToken(""), orgToken(""), identity.ErrAlreadyExists},
		{"scim twice", scim(""), scim(""), identity.ErrAlreadyExists},
		{"organization and a user's token", orgToken(""), userToken("", identity.TokenUser, alice), nil},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Each case takes a name of its own, and distinct hashes.
			name := fmt.Sprintf("token-%d", i)
			tc.first.Name, tc.first.Hash = name, hashOf(name+"/first")
			tc.second.Name, tc.second.Hash = name, hashOf(name+"/second")
			mustCreate(t, s, tc.first, store.Tx.CreateToken)
			err := tryCreate(t, s, tc.second, store.Tx.CreateToken)
			if tc.wantErr == nil {
				noErr(t, "CreateToken of the second token", err)
			} else {
				wantErrIs(t, "CreateToken of the second token", err, tc.wantErr)
			}
		})
	}

	// Renaming onto a taken name is refused too.
	taken := mustCreate(t, s, userToken("taken", identity.TokenUser, alice), store.Tx.CreateToken)
	other := mustCreate(t, s, userToken("other", identity.TokenUser, alice), store.Tx.CreateToken)
	other.Name = taken.Name
	err := tryUpdate(t, s, other, store.Tx.UpdateToken)
	wantErrIs(t, "UpdateToken to a taken name", err, identity.ErrAlreadyExists)
}

func testTokenRotate(t *testing.T, s store.Store) {
	ctx := t.Context()
	v1, v2, v3 := hashOf("v1"), hashOf("v2"), hashOf("v3")
	tok := orgToken("pipelines")
	tok.Hash = v1
	tok = mustCreate(t, s, tok, store.Tx.CreateToken)

	// Rotation with a grace period: the old secret stays findable.
	tok.Hash, tok.PrevHash, tok.PrevValidUntil, tok.UpdatedAt = v2, v1, at(time.Hour), at(time.Minute)
	mustUpdate(t, s, tok, store.Tx.UpdateToken)
	got, err := s.GetToken(ctx, tok.ID)
	noErr(t, "GetToken after rotation", err)
	assertEqual(t, "GetToken after rotation", tok, got)
	for name, hash := range map[string][]byte{"new": v2, "previous": v1} {
		got, err := s.GetTokenByHash(ctx, hash)
		noErr(t, "GetTokenByHash("+name+" secret)", err)
		assertEqual(t, "GetTokenByHash("+name+" secret)", tok, got)
	}

	// Rotation without grace: only the newest secret is left.
	tok.Hash, tok.PrevHash, tok.PrevValidUntil, tok.UpdatedAt = v3, nil, time.Time{}, at(2*time.Minute)
	mustUpdate(t, s, tok, store.Tx.UpdateToken)
	got, err = s.GetTokenByHash(ctx, v3)
	noErr(t, "GetTokenByHash(newest secret)", err)
	assertEqual(t, "GetTokenByHash(newest secret)", tok, got)
	for name, hash := range map[string][]byte{"first": v1, "second": v2} {
		_, err := s.GetTokenByHash(ctx, hash)
		wantErrIs(t, "GetTokenByHash("+name+" secret) after rotation without grace", err, identity.ErrNotFound)
	}
}

func testTokenRevoke(t *testing.T, s store.Store) {
	alice, _, _ := tokenOwners(t, s)
	tok := mustCreate(t, s, userToken("laptop", identity.TokenUser, alice), store.Tx.CreateToken)
	tok.RevokedAt, tok.UpdatedAt = at(2*time.Hour), at(2*time.Hour)
	mustUpdate(t, s, tok, store.Tx.UpdateToken)
	got, err := s.GetToken(t.Context(), tok.ID)
	noErr(t, "GetToken after revocation", err)
	assertEqual(t, "GetToken after revocation", tok, got)
}

func testTokenUpdateKeepsProjects(t *testing.T, s store.Store) {
	ctx := t.Context()
	var projectIDs []int64
	for _, key := range []string{"one", "two"} {
		p := newProject(t, s, key, identity.Private)
		projectIDs = append(projectIDs, p.ID)
	}
	tok := orgToken("pipelines")
	tok.Scope.Set = identity.SetAll
	tok = mustCreate(t, s, tok, store.Tx.CreateToken)
	write(t, s, func(tx store.Tx) error { return tx.AddTokenProjects(ctx, tok.ID, projectIDs) })

	// UpdateToken rewrites every field but the id and the explicit list, which
	// a zero ProjectCount must not clear.
	tok.Name = "renamed"
	tok.Description = "now with a description"
	tok.CreatedBy = "user:root"
	tok.CreatedAt = at(-time.Hour)
	tok.UpdatedAt = at(time.Hour)
	tok.ExpiresAt = at(365 * 24 * time.Hour)
	tok.LastUsedAt = at(30 * time.Minute)
	tok.Permissions = []identity.Permission{identity.PermAdmin, identity.PermUser}
	tok.Scope = identity.TokenScope{Set: identity.SetNone, Patterns: []string{`one|two`}}
	mustUpdate(t, s, tok, store.Tx.UpdateToken)

	got, err := s.GetToken(ctx, tok.ID)
	noErr(t, "GetToken after update", err)
	tok.Scope.ProjectCount = len(projectIDs)
	assertEqual(t, "GetToken after update", tok, got)
	ids, total, err := s.ListTokenProjects(ctx, tok.ID, store.Page{})
	noErr(t, "ListTokenProjects", err)
	assertEqual(t, "token projects after UpdateToken", projectIDs, ids)
	if total != len(projectIDs) {
		t.Errorf("ListTokenProjects total = %d, want %d", total, len(projectIDs))
	}
}

func testTokenDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newProject(t, s, "app", identity.Private)
	doomed := mustCreate(t, s, orgToken("doomed"), store.Tx.CreateToken)
	kept := mustCreate(t, s, orgToken("kept"), store.Tx.CreateToken)
	write(t, s, func(tx store.Tx) error { return tx.AddTokenProjects(ctx, doomed.ID, []int64{app.ID}) })

	write(t, s, func(tx store.Tx) error { return tx.DeleteToken(ctx, doomed.ID) })

	_, err := s.GetToken(ctx, doomed.ID)
	wantErrIs(t, "GetToken of the deleted token", err, identity.ErrNotFound)
	_, err = s.GetTokenByHash(ctx, doomed.Hash)
	wantErrIs(t, "GetTokenByHash of the deleted token", err, identity.ErrNotFound)
	_, err = s.GetToken(ctx, kept.ID)
	noErr(t, "GetToken of the other token", err)
	_, err = s.GetProject(ctx, app.ID)
	noErr(t, "GetProject of a project in the deleted token's scope", err)
	// The name is free again.
	mustCreate(t, s, identity.Token{Name: "doomed", Type: identity.TokenOrganization, Hash: hashOf("doomed again"), CreatedBy: "user:admin"}, store.Tx.CreateToken)
}

func testTokenNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	tok := mustCreate(t, s, orgToken("pipelines"), store.Tx.CreateToken)
	missing := tok.ID + 1000
	checkNotFound(t, []missingCall{
		{"GetToken", func() error { _, err := s.GetToken(ctx, missing); return err }},
		{"GetTokenByHash", func() error { _, err := s.GetTokenByHash(ctx, hashOf("ghost")); return err }},
		{"UpdateToken", func() error {
			ghost := orgToken("ghost")
			ghost.ID = missing
			return tryUpdate(t, s, ghost, store.Tx.UpdateToken)
		}},
	})
}

// seedTokens creates the population of the token listing tests: tokens of
// two users and without a user, of every type, two of them revoked.
func seedTokens(t *testing.T, s store.Store) (alice, bob identity.User) {
	t.Helper()
	alice, bob, app := tokenOwners(t, s)
	revoked := func(tok identity.Token) identity.Token {
		tok.RevokedAt = at(0)
		return tok
	}
	projectToken := userToken("ci-app", identity.TokenProjectAnalysis, alice)
	projectToken.ProjectID = app.ID
	fixtures := []identity.Token{
		userToken("laptop", identity.TokenUser, alice),
		userToken("ci-global", identity.TokenGlobalAnalysis, alice),
		projectToken,
		revoked(userToken("old", identity.TokenUser, alice)),
		userToken("desktop", identity.TokenUser, bob),
		userToken("deploy_key", identity.TokenUser, bob),
		orgToken("pipelines"),
		revoked(orgToken("legacy-pipelines")),
		{Name: "okta", Type: identity.TokenSCIM, Hash: hashOf("okta"), CreatedBy: "user:admin", SCIMScopes: []string{"users:read"}},
	}
	createAll(t, s, fixtures, store.Tx.CreateToken)
	return alice, bob
}

func testListTokensFilters(t *testing.T, s store.Store) {
	alice, bob := seedTokens(t, s)
	live := []string{"laptop", "ci-global", "ci-app", "desktop", "deploy_key", "pipelines", "okta"}
	checkListCases(t, "ListTokens", []listCase[store.TokenFilter]{
		{"no filter leaves out revoked", store.TokenFilter{}, live},
		{"including revoked", store.TokenFilter{IncludeRevoked: true}, append(slices.Clone(live), "old", "legacy-pipelines")},
		{"user", store.TokenFilter{UserID: &alice.ID}, []string{"laptop", "ci-global", "ci-app"}},
		{"user including revoked", store.TokenFilter{UserID: &alice.ID, IncludeRevoked: true}, []string{"laptop", "ci-global", "ci-app", "old"}},
		{"no user", store.TokenFilter{UserID: new(int64(0))}, []string{"pipelines", "okta"}},
		{"one type", store.TokenFilter{Types: []identity.TokenType{identity.TokenOrganization}}, []string{"pipelines"}},
		{"two types", store.TokenFilter{Types: []identity.TokenType{identity.TokenUser, identity.TokenGlobalAnalysis}}, []string{"laptop", "ci-global", "desktop", "deploy_key"}},
		{"type including revoked", store.TokenFilter{Types: []identity.TokenType{identity.TokenOrganization}, IncludeRevoked: true}, []string{"pipelines", "legacy-pipelines"}},
		{"query", store.TokenFilter{Query: "ci-"}, []string{"ci-global", "ci-app"}},
		{"query including revoked", store.TokenFilter{Query: "pipelines", IncludeRevoked: true}, []string{"pipelines", "legacy-pipelines"}},
		{"query underscore is literal", store.TokenFilter{Query: "_k"}, []string{"deploy_key"}},
		{"user and type", store.TokenFilter{UserID: &bob.ID, Types: []identity.TokenType{identity.TokenUser}}, []string{"desktop", "deploy_key"}},
		{"user and query", store.TokenFilter{UserID: &alice.ID, Query: "top"}, []string{"laptop"}},
	}, tokenName, s.ListTokens)
}

func testListTokensPaging(t *testing.T, s store.Store) {
	alice, _ := seedTokens(t, s)
	ctx := t.Context()
	checkPaging(t, "ListTokens", 3, []string{"laptop", "ci-global", "ci-app", "desktop", "deploy_key", "pipelines", "okta"}, tokenName,
		func(p store.Page) ([]identity.Token, int, error) {
			return s.ListTokens(ctx, store.TokenFilter{Page: p})
		})
	checkPaging(t, "ListTokens of a user including revoked", 3, []string{"laptop", "ci-global", "ci-app", "old"}, tokenName,
		func(p store.Page) ([]identity.Token, int, error) {
			return s.ListTokens(ctx, store.TokenFilter{UserID: &alice.ID, IncludeRevoked: true, Page: p})
		})
}

func testTokenProjects(t *testing.T, s store.Store) {
	ctx := t.Context()
	var p [5]int64
	for i := range p {
		key := fmt.Sprintf("project-%d", i)
		p[i] = newProject(t, s, key, identity.Private).ID
	}
	tok := mustCreate(t, s, orgToken("pipelines"), store.Tx.CreateToken)

	steps := []struct {
		name   string
		edit   func(tx store.Tx) error
		wantID []int64
	}{
		{"add", func(tx store.Tx) error { return tx.AddTokenProjects(ctx, tok.ID, []int64{p[3], p[1]}) }, []int64{p[1], p[3]}},
		{"add overlapping", func(tx store.Tx) error { return tx.AddTokenProjects(ctx, tok.ID, []int64{p[1], p[2]}) }, []int64{p[1], p[2], p[3]}},
		// Idempotence holds within one call too.
		{"add a repeated id", func(tx store.Tx) error { return tx.AddTokenProjects(ctx, tok.ID, []int64{p[4], p[4]}) }, []int64{p[1], p[2], p[3], p[4]}},
		{"add nothing", func(tx store.Tx) error { return tx.AddTokenProjects(ctx, tok.ID, nil) }, []int64{p[1], p[2], p[3], p[4]}},
		{"remove", func(tx store.Tx) error { return tx.RemoveTokenProjects(ctx, tok.ID, []int64{p[2], p[0]}) }, []int64{p[1], p[3], p[4]}},
		{"remove again", func(tx store.Tx) error { return tx.RemoveTokenProjects(ctx, tok.ID, []int64{p[2]}) }, []int64{p[1], p[3], p[4]}},
		{"remove nothing", func(tx store.Tx) error { return tx.RemoveTokenProjects(ctx, tok.ID, nil) }, []int64{p[1], p[3], p[4]}},
	}
	for _, step := range steps {
		write(t, s, step.edit)
		ids, total, err := s.ListTokenProjects(ctx, tok.ID, store.Page{})
		noErr(t, step.name+": ListTokenProjects", err)
		assertEqual(t, step.name+": ListTokenProjects", step.wantID, ids)
		if total != len(step.wantID) {
			t.Errorf("%s: ListTokenProjects total = %d, want %d", step.name, total, len(step.wantID))
		}
		got, err := s.GetToken(ctx, tok.ID)
		noErr(t, step.name+": GetToken", err)
		if got.Scope.ProjectCount != len(step.wantID) {
			t.Errorf("%s: Scope.ProjectCount = %d, want %d", step.name, got.Scope.ProjectCount, len(step.wantID))
		}
	}

	ids, total, err := s.ListTokenProjects(ctx, tok.ID, store.Page{Number: 2, Size: 2})
	noErr(t, "ListTokenProjects page 2", err)
	assertEqual(t, "ListTokenProjects page 2 of size 2", []int64{p[4]}, ids)
	if total != 3 {
		t.Errorf("ListTokenProjects page 2: total = %d, want 3", total)
	}
}

func testTokenManyProjects(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 10_000
	ids := make([]int64, 0, n)
	// One transaction keeps ten thousand inserts fast on every backend.
	write(t, s, func(tx store.Tx) error {
		for i := range n {
			key := fmt.Sprintf("bulk-%05d", i)
			p, err := tx.CreateProject(ctx, identity.Project{Key: key, Name: key, Visibility: identity.Private, Source: identity.SourceLocal})
			if err != nil {
				return err
			}
			ids = append(ids, p.ID)
		}
		return nil
	})
	tok := mustCreate(t, s, orgToken("everything"), store.Tx.CreateToken)
	// Added in descending order: the listing must sort.
	descending := slices.Clone(ids)
	slices.Reverse(descending)
	write(t, s, func(tx store.Tx) error { return tx.AddTokenProjects(ctx, tok.ID, descending) })
	slices.Sort(ids)

	got, total, err := s.ListTokenProjects(ctx, tok.ID, store.Page{Number: 3, Size: 500})
	noErr(t, "ListTokenProjects page 3", err)
	if total != n {
		t.Errorf("ListTokenProjects total = %d, want %d", total, n)
	}
	if !slices.Equal(got, ids[1000:1500]) {
		t.Errorf("ListTokenProjects page 3 of size 500 is not the 1001st to 1500th id in ascending order: got %d ids from %v", len(got), firstAndLast(got))
	}
	got, _, err = s.ListTokenProjects(ctx, tok.ID, store.Page{})
	noErr(t, "ListTokenProjects all", err)
	if !slices.Equal(got, ids) {
		t.Errorf("ListTokenProjects without a page size returned %d ids from %v, want all %d ascending", len(got), firstAndLast(got), n)
	}
	got, total, err = s.ListTokenProjects(ctx, tok.ID, store.Page{Number: n/500 + 1, Size: 500})
	noErr(t, "ListTokenProjects past the end", err)
	if len(got) != 0 || total != n {
		t.Errorf("ListTokenProjects past the end = %d ids, total %d; want none, total %d", len(got), total, n)
	}

	tokGot, err := s.GetToken(ctx, tok.ID)
	noErr(t, "GetToken", err)
	if tokGot.Scope.ProjectCount != n {
		t.Errorf("Scope.ProjectCount = %d, want %d", tokGot.Scope.ProjectCount, n)
	}
}

// firstAndLast describes a long id list briefly.
func firstAndLast(ids []int64) string {
	if len(ids) == 0 {
		return "[]"
	}
	return fmt.Sprintf("[%d … %d]", ids[0], ids[len(ids)-1])
}

func testTouchToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	tok := mustCreate(t, s, orgToken("pipelines"), store.Tx.CreateToken)
	for _, when := range []time.Time{at(time.Minute), at(time.Hour)} {
		write(t, s, func(tx store.Tx) error { return tx.TouchToken(ctx, tok.ID, when) })
		got, err := s.GetToken(ctx, tok.ID)
		noErr(t, "GetToken after TouchToken", err)
		want := tok
		want.LastUsedAt = when
		want.UpdatedAt = got.UpdatedAt // use is no edit: UpdatedAt may or may not move
		assertEqual(t, "GetToken after TouchToken", want, got)
	}
}
