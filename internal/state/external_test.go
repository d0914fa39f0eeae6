package state

import (
	"errors"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// TestSignInExternal: an OAuth sign-in (GitLab) creates the user, then
// keeps its memberships in the source's groups those of the moment by the
// sync's rule — groups by external id, a name taken by a local group
// skipped, memberships in other groups left alone — and refuses logins it
// does not own.
func TestSignInExternal(t *testing.T) {
	e := newEnv(t)
	e.user("alice", "devs", "acme/taken")
	bob := identity.ExternalAccount{Login: "bob", Name: "Bob", Email: "bob@example.com", ExternalID: "3", Active: true, GroupsManaged: true}
	signIn := func(acc identity.ExternalAccount, groups ...ExternalGroup) (identity.User, error) {
		_, u, err := e.s.SignInExternal(e.ctx, identity.SourceGitLab, acc, groups)
		return u, err
	}

	u, err := signIn(bob, ExternalGroup{Name: "acme", ExternalID: "100"}, ExternalGroup{Name: "acme/taken", ExternalID: "105"})
	if err != nil || u.Source != identity.SourceGitLab || u.Email != "bob@example.com" {
		t.Fatalf("first sign-in = %+v %v", u, err)
	}
	if got, want := e.groupsOf(u), []string{"acme"}; !slices.Equal(got, want) {
		t.Fatalf("groups = %v, want %v", got, want)
	}
	if g, err := e.s.Store().GetGroupByName(e.ctx, "acme"); err != nil || g.Source != identity.SourceGitLab || g.ExternalID != "100" {
		t.Fatalf("group acme = %+v %v", g, err)
	}
	// A local group's membership is Gatehouse's own.
	if err := e.s.AddMember(e.ctx, "devs", "bob"); err != nil {
		t.Fatal(err)
	}
	// In GitLab bob left acme for acme/backend; his e-mail changed.
	bob.Email = "robert@example.com"
	if u, err = signIn(bob, ExternalGroup{Name: "acme/backend", ExternalID: "101"}); err != nil || u.Email != "robert@example.com" {
		t.Fatalf("second sign-in = %+v %v", u, err)
	}
	if got, want := e.groupsOf(u), []string{"acme/backend", "devs"}; !slices.Equal(got, want) {
		t.Fatalf("groups = %v, want %v", got, want)
	}
	// Without group sync (jit.enabled=false) memberships are left alone.
	bob.GroupsManaged = false
	if u, err = signIn(bob); err != nil || !slices.Equal(e.groupsOf(u), []string{"acme/backend", "devs"}) {
		t.Fatalf("sign-in without group sync = %v %v", e.groupsOf(u), err)
	}

	for name, acc := range map[string]identity.ExternalAccount{
		"a local user's login": {Login: "alice", Name: "Alice", ExternalID: "2", Active: true},
		"a blocked account":    {Login: "carol", Name: "Carol", ExternalID: "4", Active: false},
	} {
		if _, err := signIn(acc); !errors.Is(err, identity.ErrUnauthenticated) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
