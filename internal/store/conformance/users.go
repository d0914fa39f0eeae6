package conformance

import (
	"math"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var userTests = []test{
	{"CreateAndGet", testUserCreateAndGet},
	{"CreateKeepsGivenTimestamps", testUserCreateKeepsTimestamps},
	{"Update", testUserUpdate},
	{"UpdateToTakenLogin", testUserUpdateToTakenLogin},
	{"LoginUniqueCaseSensitive", testUserLoginCaseSensitive},
	{"NotFound", testUserNotFound},
	{"ListFilters", testListUsersFilters},
	{"ListPaging", testListUsersPaging},
	{"TouchUserToken", testTouchUserToken},
	{"TouchUserLogin", testTouchUserLogin},
	{"PageFarBeyondTheEnd", testPageFarBeyondTheEnd},
	{"QueryWithoutEmail", testQueryWithoutEmail},
}

func testUserCreateAndGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	start := time.Now()
	in := identity.User{
		Login:        "alice",
		Name:         "Alice Liddell",
		Email:        "alice@example.com",
		Source:       identity.SourceLocal,
		Active:       true,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g",
		SCMAccounts:  []string{"alice-gh", "alice@old.example.com"},
		// Another zone than UTC: the store must keep the instant.
		LastLoginAt: at(-time.Hour).In(time.FixedZone("UTC+2", 2*60*60)),
	}
	created := mustCreate(t, s, in, store.Tx.CreateUser)
	if created.ID <= 0 {
		t.Fatalf("CreateUser assigned id %d, want > 0", created.ID)
	}
	checkFilled(t, "CreateUser CreatedAt", created.CreatedAt, start)
	checkFilled(t, "CreateUser UpdatedAt", created.UpdatedAt, start)
	want := in
	want.ID, want.CreatedAt, want.UpdatedAt = created.ID, created.CreatedAt, created.UpdatedAt
	assertEqual(t, "CreateUser result", want, created)

	got, err := s.GetUser(ctx, created.ID)
	noErr(t, "GetUser", err)
	assertEqual(t, "GetUser", want, got)
	got, err = s.GetUserByLogin(ctx, "alice")
	noErr(t, "GetUserByLogin", err)
	assertEqual(t, "GetUserByLogin", want, got)

	other := newUser(t, s, "bob")
	if other.ID == created.ID {
		t.Errorf("two users were given the same id %d", other.ID)
	}
}

func testUserCreateKeepsTimestamps(t *testing.T, s store.Store) {
	in := identity.User{
		Login: "dave", Name: "Dave", Source: identity.SourceLDAP, ExternalID: "uid=dave", Active: true,
		CreatedAt: at(0), UpdatedAt: at(time.Hour),
	}
	// A local user who signs in through an identity provider keeps it.
	sso := identity.User{Login: "erin", Name: "Erin", Source: identity.SourceLocal, Provider: "saml", ExternalID: "erin@corp", Active: true}
	gotSSO := mustCreate(t, s, sso, store.Tx.CreateUser)
	if back, err := s.GetUser(t.Context(), gotSSO.ID); err != nil || back.Provider != "saml" {
		t.Errorf("GetUser = %+v, %v; want provider saml", back, err)
	}
	created := mustCreate(t, s, in, store.Tx.CreateUser)
	want := in
	want.ID = created.ID
	assertEqual(t, "CreateUser result", want, created)
	got, err := s.GetUser(t.Context(), created.ID)
	noErr(t, "GetUser", err)
	assertEqual(t, "GetUser", want, got)
}

func testUserUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := mustCreate(t, s, identity.User{
		Login: "alice", Name: "Alice", Email: "alice@example.com", Source: identity.SourceLocal, Active: true,
		PasswordHash: "hash", SCMAccounts: []string{"alice-gh"}, CreatedAt: at(0), UpdatedAt: at(0),
	}, store.Tx.CreateUser)

	changed := alice
	changed.Login = "alice.liddell"
	changed.Name = "Alice Liddell"
	changed.Email = "alice@wonderland.example"
	changed.Source = identity.SourceSCIM
	changed.ExternalID = "2819c223-7f76-453a-919d-413861904646"
	changed.Active = false
	changed.PasswordHash = ""
	changed.SCMAccounts = nil
	changed.LastLoginAt = at(2 * time.Hour)
	changed.LastTokenAt = at(150 * time.Minute)
	changed.UpdatedAt = at(3 * time.Hour)
	mustUpdate(t, s, changed, store.Tx.UpdateUser)

	got, err := s.GetUser(ctx, alice.ID)
	noErr(t, "GetUser after update", err)
	// The contract does not say whether UpdateUser keeps the given UpdatedAt
	// or stamps its own.
	changed.UpdatedAt = got.UpdatedAt
	assertEqual(t, "GetUser after update", changed, got)

	_, err = s.GetUserByLogin(ctx, "alice")
	wantErrIs(t, "GetUserByLogin(old login)", err, identity.ErrNotFound)
	byLogin, err := s.GetUserByLogin(ctx, "alice.liddell")
	noErr(t, "GetUserByLogin(new login)", err)
	if byLogin.ID != alice.ID {
		t.Errorf("GetUserByLogin(new login) returned user %d, want %d", byLogin.ID, alice.ID)
	}

	changed.Active = true
	mustUpdate(t, s, changed, store.Tx.UpdateUser)
	got, err = s.GetUser(ctx, alice.ID)
	noErr(t, "GetUser after reactivation", err)
	if !got.Active {
		t.Error("user still inactive after an update with Active true")
	}
}

func testUserUpdateToTakenLogin(t *testing.T, s store.Store) {
	alice := newUser(t, s, "alice")
	newUser(t, s, "bob")

	renamed := alice
	renamed.Login = "bob"
	err := tryUpdate(t, s, renamed, store.Tx.UpdateUser)
	wantErrIs(t, "UpdateUser to a taken login", err, identity.ErrAlreadyExists)

	got, err := s.GetUser(t.Context(), alice.ID)
	noErr(t, "GetUser", err)
	if got.Login != "alice" {
		t.Errorf("login after a refused rename = %q, want %q", got.Login, "alice")
	}
}

func testUserLoginCaseSensitive(t *testing.T, s store.Store) {
	ctx := t.Context()
	lower := newUser(t, s, "bob")
	// Logins are case-sensitive, as in SonarQube: "Bob" is another user.
	upper := newUser(t, s, "Bob")

	err := tryCreate(t, s, identity.User{Login: "bob", Name: "Bob Again", Source: identity.SourceLocal, Active: true}, store.Tx.CreateUser)
	wantErrIs(t, "CreateUser with a duplicate login", err, identity.ErrAlreadyExists)

	for login, want := range map[string]int64{"bob": lower.ID, "Bob": upper.ID} {
		got, err := s.GetUserByLogin(ctx, login)
		noErr(t, "GetUserByLogin("+login+")", err)
		if got.ID != want {
			t.Errorf("GetUserByLogin(%q) returned user %d, want %d", login, got.ID, want)
		}
	}
	_, err = s.GetUserByLogin(ctx, "BOB")
	wantErrIs(t, "GetUserByLogin(BOB)", err, identity.ErrNotFound)

	users, total, err := s.ListUsers(ctx, store.UserFilter{})
	noErr(t, "ListUsers", err)
	if total != 2 {
		t.Errorf("ListUsers total = %d after a refused duplicate, want 2", total)
	}
	checkKeys(t, "ListUsers", users, userLogin, []string{"Bob", "bob"})
}

func testUserNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice")
	missing := alice.ID + 1000

	checkNotFound(t, []missingCall{
		{"GetUser", func() error { _, err := s.GetUser(ctx, missing); return err }},
		{"GetUserByLogin", func() error { _, err := s.GetUserByLogin(ctx, "ghost"); return err }},
		{"GetUserByLogin in another case", func() error { _, err := s.GetUserByLogin(ctx, "ALICE"); return err }},
		{"UpdateUser", func() error {
			ghost := identity.User{ID: missing, Login: "ghost", Name: "Ghost", Source: identity.SourceLocal, Active: true}
			return tryUpdate(t, s, ghost, store.Tx.UpdateUser)
		}},
	})
}

// seedUsers creates the population of the listing tests: every source, both
// states, and logins and names with the wildcard characters of SQL LIKE.
func seedUsers(t *testing.T, s store.Store) map[string]identity.User {
	t.Helper()
	fixtures := []identity.User{
		{Login: "alice", Name: "Alice Liddell", Email: "alice@example.com", Source: identity.SourceLocal, Active: true},
		{Login: "bob", Name: "Bob Builder", Email: "bob@construction.test", Source: identity.SourceSCIM, ExternalID: "scim-bob", Active: true},
		{Login: "carol", Name: "Carol Danvers", Email: "carol@EXAMPLE.com", Source: identity.SourceGitLab, ExternalID: "gl-7", Active: false},
		{Login: "dave", Name: "Dave", Source: identity.SourceLDAP, ExternalID: "uid=dave", Active: true},
		{Login: "erin", Name: "Erin Example", Email: "erin@corp.test", Source: identity.SourceLocal, Active: false},
		{Login: "svc_ci", Name: "CI bot (100% automated)", Source: identity.SourceLocal, Active: true},
		{Login: "svc-ci", Name: "Deploy bot", Source: identity.SourceSSO, ExternalID: "sso-9", Active: true},
	}
	users := make(map[string]identity.User, len(fixtures))
	for _, u := range createAll(t, s, fixtures, store.Tx.CreateUser) {
		users[u.Login] = u
	}
	return users
}

func testListUsersFilters(t *testing.T, s store.Store) {
	users := seedUsers(t, s)
	all := []string{"alice", "bob", "carol", "dave", "erin", "svc_ci", "svc-ci"}
	checkListCases(t, "ListUsers", []listCase[store.UserFilter]{
		{"no filter", store.UserFilter{}, all},
		{"query on login", store.UserFilter{Query: "SVC"}, []string{"svc_ci", "svc-ci"}},
		{"query on name", store.UserFilter{Query: "builder"}, []string{"bob"}},
		{"query on email", store.UserFilter{Query: "EXAMPLE.COM"}, []string{"alice", "carol"}},
		{"query across fields", store.UserFilter{Query: "example"}, []string{"alice", "carol", "erin"}},
		{"query underscore is literal", store.UserFilter{Query: "svc_"}, []string{"svc_ci"}},
		{"query percent is literal", store.UserFilter{Query: "%"}, []string{"svc_ci"}},
		{"query without match", store.UserFilter{Query: "zzz"}, nil},
		{"active", store.UserFilter{Active: new(true)}, []string{"alice", "bob", "dave", "svc_ci", "svc-ci"}},
		{"inactive", store.UserFilter{Active: new(false)}, []string{"carol", "erin"}},
		{"managed", store.UserFilter{Managed: new(true)}, []string{"bob", "carol", "dave", "svc-ci"}},
		{"not managed", store.UserFilter{Managed: new(false)}, []string{"alice", "erin", "svc_ci"}},
		{"source ldap", store.UserFilter{Source: identity.SourceLDAP}, []string{"dave"}},
		{"source local", store.UserFilter{Source: identity.SourceLocal}, []string{"alice", "erin", "svc_ci"}},
		{"external id", store.UserFilter{ExternalID: "gl-7"}, []string{"carol"}},
		{"ids", store.UserFilter{IDs: []int64{users["alice"].ID, users["dave"].ID}}, []string{"alice", "dave"}},
		{"query and active", store.UserFilter{Query: "example", Active: new(true)}, []string{"alice"}},
		{"managed and inactive", store.UserFilter{Managed: new(true), Active: new(false)}, []string{"carol"}},
		{"source and external id", store.UserFilter{Source: identity.SourceSCIM, ExternalID: "scim-bob"}, []string{"bob"}},
		{"source and other's external id", store.UserFilter{Source: identity.SourceLocal, ExternalID: "scim-bob"}, nil},
		{"ids and inactive", store.UserFilter{IDs: []int64{users["alice"].ID, users["erin"].ID}, Active: new(false)}, []string{"erin"}},
	}, userLogin, s.ListUsers)
}

func testListUsersPaging(t *testing.T, s store.Store) {
	seedUsers(t, s)
	ctx := t.Context()
	checkPaging(t, "ListUsers", 3, []string{"alice", "bob", "carol", "dave", "erin", "svc_ci", "svc-ci"}, userLogin,
		func(p store.Page) ([]identity.User, int, error) { return s.ListUsers(ctx, store.UserFilter{Page: p}) })
	checkPaging(t, "ListUsers active", 2, []string{"alice", "bob", "dave", "svc_ci", "svc-ci"}, userLogin,
		func(p store.Page) ([]identity.User, int, error) {
			return s.ListUsers(ctx, store.UserFilter{Active: new(true), Page: p})
		})
}

func testTouchUserToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice")
	for _, when := range []time.Time{at(5 * time.Minute), at(time.Hour)} {
		write(t, s, func(tx store.Tx) error { return tx.TouchUserToken(ctx, alice.ID, when) })
		got, err := s.GetUser(ctx, alice.ID)
		noErr(t, "GetUser", err)
		want := alice
		want.LastTokenAt = when
		// Touching is no profile change: UpdatedAt may or may not move.
		want.UpdatedAt = got.UpdatedAt
		assertEqual(t, "GetUser after TouchUserToken", want, got)
	}
}

// testTouchUserLogin checks that recording a sign-in writes only the login
// time: it must not undo a concurrent change such as a deactivation.
func testTouchUserLogin(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := mustCreate(t, s, identity.User{Login: "alice", Name: "Alice", Source: identity.SourceLocal, Active: true, PasswordHash: "old"}, store.Tx.CreateUser)
	when := time.Date(2026, 11, 25, 10, 30, 0, 123456000, time.UTC)
	write(t, s, func(tx store.Tx) error {
		// Another writer deactivates alice and changes her password in the
		// same transaction window; the touch must keep both.
		u, err := tx.GetUser(ctx, alice.ID)
		if err != nil {
			return err
		}
		u.Active, u.PasswordHash = false, "new"
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		return tx.TouchUserLogin(ctx, alice.ID, when)
	})
	got, err := s.GetUser(ctx, alice.ID)
	noErr(t, "GetUser", err)
	if !got.LastLoginAt.Equal(when) || got.Active || got.PasswordHash != "new" {
		t.Fatalf("after TouchUserLogin: lastLogin %v active %v hash %q", got.LastLoginAt, got.Active, got.PasswordHash)
	}
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.TouchUserLogin(ctx, 424242, when) })
	wantErrIs(t, "TouchUserLogin of a missing user", err, identity.ErrNotFound)
}

// testPageFarBeyondTheEnd asks for a page whose offset would overflow: an
// empty page, not an error.
func testPageFarBeyondTheEnd(t *testing.T, s store.Store) {
	newUser(t, s, "alice")
	us, total, err := s.ListUsers(t.Context(), store.UserFilter{Page: store.Page{Number: math.MaxInt, Size: 500}})
	noErr(t, "ListUsers far beyond the end", err)
	if len(us) != 0 || total != 1 {
		t.Fatalf("got %d users, total %d; want none of 1", len(us), total)
	}
}

// testQueryWithoutEmail checks that the flag keeps e-mail out of the match.
func testQueryWithoutEmail(t *testing.T, s store.Store) {
	mustCreate(t, s, identity.User{Login: "alice", Name: "Alice", Email: "secret@corp.example", Source: identity.SourceLocal, Active: true}, store.Tx.CreateUser)
	for _, tc := range []struct {
		query   string
		noEmail bool
		want    int
	}{
		{"secret@corp", false, 1},
		{"secret@corp", true, 0},
		{"ali", true, 1},
	} {
		_, total, err := s.ListUsers(t.Context(), store.UserFilter{Query: tc.query, QueryWithoutEmail: tc.noEmail})
		noErr(t, "ListUsers", err)
		if total != tc.want {
			t.Errorf("query %q without email %v: %d users, want %d", tc.query, tc.noEmail, total, tc.want)
		}
	}
}
