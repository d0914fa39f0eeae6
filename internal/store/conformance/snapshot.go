package conformance

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var snapshotTests = []test{
	{"Contents", testSnapshot},
}

func testSnapshot(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now().Truncate(time.Microsecond)
	alice := mustCreate(t, s, identity.User{Login: "alice", Name: "Alice", Email: "alice@example.com", Source: identity.SourceLocal, Active: true, PasswordHash: "secret-hash", SCMAccounts: []string{"alice-gh"}}, store.Tx.CreateUser)
	bob := mustCreate(t, s, identity.User{Login: "bob", Name: "Bob", Source: identity.SourceSCIM, ExternalID: "scim-bob", Active: true}, store.Tx.CreateUser)
	devs := mustCreate(t, s, identity.Group{Name: "devs", Description: "Developers", Source: identity.SourceLocal}, store.Tx.CreateGroup)
	ops := mustCreate(t, s, identity.Group{Name: "ops", Source: identity.SourceSCIM, ExternalID: "g-ops"}, store.Tx.CreateGroup)
	app := newProject(t, s, "app", identity.Private)
	site := mustCreate(t, s, identity.Project{Key: "site", Name: "Site", Visibility: identity.Public, Source: identity.SourceGitLab, ExternalID: "9", ExternalPath: "acme/site"}, store.Tx.CreateProject)
	memberships := []identity.Membership{{UserID: alice.ID, GroupID: devs.ID}, {UserID: bob.ID, GroupID: ops.ID}}
	grants := []identity.Grant{
		{Subject: identity.UserSubject(alice.ID), Permission: identity.PermAdmin},
		{Subject: identity.GroupSubject(devs.ID), ProjectID: app.ID, Permission: identity.PermUser},
		{Subject: identity.Anyone, ProjectID: site.ID, Permission: identity.PermScan},
	}
	addMembers(t, s, memberships...)
	addGrants(t, s, grants...)
	// A template grant is no grant: it must not show in the snapshot.
	mustCreate(t, s, identity.Template{Name: "Default", Grants: []identity.TemplateGrant{{Subject: identity.UserSubject(bob.ID), Permission: identity.PermAdmin}}}, store.Tx.CreateTemplate)

	revoked := func(tok identity.Token) identity.Token {
		tok.RevokedAt = now.Add(-time.Minute)
		return tok
	}
	expiring := func(tok identity.Token, at time.Time) identity.Token {
		tok.ExpiresAt = at
		return tok
	}
	live := []identity.Token{
		userToken("laptop", identity.TokenUser, alice),
		expiring(orgToken("listed"), now.Add(24*time.Hour)),
		orgToken("unlisted"),
		{Name: "okta", Type: identity.TokenSCIM, Hash: hashOf("okta"), CreatedBy: "user:admin", SCIMScopes: []string{"users:read", "users:write"}},
	}
	gone := []identity.Token{
		revoked(userToken("old", identity.TokenUser, alice)),
		revoked(orgToken("revoked-org")),
		expiring(userToken("expired", identity.TokenUser, bob), now.Add(-time.Hour)),
	}
	tokens := map[string]identity.Token{}
	write(t, s, func(tx store.Tx) error {
		for _, tok := range slices.Concat(live, gone) {
			created, err := tx.CreateToken(ctx, tok)
			if err != nil {
				return err
			}
			tokens[tok.Name] = created
		}
		if err := tx.AddTokenProjects(ctx, tokens["listed"].ID, []int64{site.ID, app.ID}); err != nil {
			return err
		}
		return tx.AddTokenProjects(ctx, tokens["revoked-org"].ID, []int64{app.ID})
	})

	snap, err := s.Snapshot(ctx)
	noErr(t, "Snapshot", err)

	checkKeys(t, "Snapshot users", snap.Users, userLogin, []string{"alice", "bob"})
	for _, u := range snap.Users {
		want, err := s.GetUser(ctx, u.ID)
		noErr(t, "GetUser", err)
		want.PasswordHash = "" // never in a snapshot
		assertEqual(t, "Snapshot user "+u.Login, want, u)
	}
	checkKeys(t, "Snapshot groups", snap.Groups, groupName, []string{"devs", "ops"})
	for _, g := range snap.Groups {
		want, err := s.GetGroup(ctx, g.ID)
		noErr(t, "GetGroup", err)
		assertEqual(t, "Snapshot group "+g.Name, want, g)
	}
	checkMemberships(t, "Snapshot memberships", snap.Memberships, memberships)
	checkKeys(t, "Snapshot projects", snap.Projects, projectKey, []string{"app", "site"})
	for _, p := range snap.Projects {
		want, err := s.GetProject(ctx, p.ID)
		noErr(t, "GetProject", err)
		assertEqual(t, "Snapshot project "+p.Key, want, p)
	}
	checkGrants(t, "Snapshot grants", snap.Grants, grants)

	// Revoked and expired tokens are left out.
	checkKeys(t, "Snapshot tokens", snap.Tokens, tokenName, keysOf(live, tokenName))
	for _, tok := range snap.Tokens {
		want, err := s.GetToken(ctx, tok.ID)
		noErr(t, "GetToken", err)
		// The explicit list travels in TokenProjects; the count is not promised.
		want.Scope.ProjectCount = tok.Scope.ProjectCount
		assertEqual(t, "Snapshot token "+tok.Name, want, tok)
	}
	listed := slices.Sorted(slices.Values(snap.TokenProjects[tokens["listed"].ID]))
	assertEqual(t, "Snapshot TokenProjects of the listed token", slices.Sorted(slices.Values([]int64{app.ID, site.ID})), listed)
	if ids := snap.TokenProjects[tokens["unlisted"].ID]; len(ids) != 0 {
		t.Errorf("Snapshot TokenProjects of a token without a list = %v, want none", ids)
	}
}
