package state

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestApplySourceGrants applies a batch whose grants are settled together:
// each refused alone with grantTx's reasons, a grant held already or
// implicit on a public project is no change, the rest are written with one
// audit event per project and reach the index.
func TestApplySourceGrants(t *testing.T) {
	e := newEnv(t)
	e.user("root", identity.GroupAdministrators)
	ann, bob := e.user("ann"), e.user("bob")
	web, docs := e.project("web", identity.Private, 0), e.project("docs", identity.Public, 0)
	devs, err := e.s.CreateGroup(e.ctx, identity.Group{Name: "devs"})
	if err != nil {
		t.Fatal(err)
	}
	held := identity.Grant{Subject: identity.UserSubject(ann.ID), ProjectID: web.ID, Permission: identity.PermUser}
	if err := e.s.AddGrant(e.ctx, held); err != nil {
		t.Fatal(err)
	}
	grant := func(u int64, p int64, perm identity.Permission) SourceChange {
		return SourceChange{Kind: AddGrant, Grant: identity.Grant{Subject: identity.UserSubject(u), ProjectID: p, Permission: perm}}
	}
	changes := []SourceChange{
		grant(ann.ID, web.ID, identity.PermScan),
		{Kind: AddMember, Membership: identity.Membership{UserID: bob.ID, GroupID: devs.ID}}, // refused: neither is GitLab's
		grant(ann.ID, web.ID, identity.PermUser),                                             // held already
		grant(bob.ID, web.ID, identity.PermIssueAdmin),                                       //
		grant(ann.ID, web.ID, identity.PermScan),                                             // twice in the batch
		grant(bob.ID, docs.ID, identity.PermUser),                                            // implicit on a public project
		grant(bob.ID, docs.ID, identity.PermAdmin),                                           //
		grant(bob.ID, 999, identity.PermScan),                                                // no such project
		grant(999, web.ID, identity.PermScan),                                                // no such user
		{Kind: AddGrant, Grant: identity.Grant{Subject: identity.GroupSubject(devs.ID), ProjectID: web.ID, Permission: identity.PermScan}},
		{Kind: AddGrant, Grant: identity.Grant{Subject: identity.UserSubject(bob.ID), Permission: identity.PermScan}}, // global
	}
	res, err := e.s.ApplySource(e.ctx, identity.SourceGitLab, changes)
	if err != nil {
		t.Fatal(err)
	}
	wantChanged := []bool{true, false, false, true, false, false, true, false, false, false, false}
	wantErr := []error{nil, identity.ErrManaged, nil, nil, nil, nil, nil, identity.ErrNotFound, identity.ErrNotFound, identity.ErrInvalid, identity.ErrInvalid}
	for i, r := range res {
		if r.Changed != wantChanged[i] || (wantErr[i] == nil) != (r.Err == nil) || (wantErr[i] != nil && !errors.Is(r.Err, wantErr[i])) {
			t.Errorf("change %d: changed %v, error %v; want %v, %v", i, r.Changed, r.Err, wantChanged[i], wantErr[i])
		}
	}

	evs, _, err := e.db.ListAudit(e.ctx, store.AuditFilter{Action: "permission.add", Actor: "connector:gitlab"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]grantsView{}
	for _, ev := range evs {
		var v grantsView
		if err := json.Unmarshal([]byte(ev.After), &v); err != nil {
			t.Fatalf("event %s: %v", ev.After, err)
		}
		got[ev.Target] = v
	}
	want := map[string]grantsView{
		"project:web":  {Project: "web", Grants: map[string][]identity.Permission{"user:ann": {identity.PermScan}, "user:bob": {identity.PermIssueAdmin}}},
		"project:docs": {Project: "docs", Grants: map[string][]identity.Permission{"user:bob": {identity.PermAdmin}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("audit events = %+v, want %+v", got, want)
	}
	for _, c := range []struct {
		u    identity.User
		perm identity.Permission
		key  string
		want bool
	}{
		{ann, identity.PermScan, "web", true},
		{bob, identity.PermIssueAdmin, "web", true},
		{bob, identity.PermAdmin, "docs", true},
		{bob, identity.PermAdmin, "web", false},
	} {
		if got := e.s.Index().Decide(e.principal(c.u), c.perm, c.key).Allowed; got != c.want {
			t.Errorf("%s %s on %s = %v, want %v", c.u.Login, c.perm, c.key, got, c.want)
		}
	}
	// A second apply finds the work done.
	res, err = e.s.ApplySource(e.ctx, identity.SourceGitLab, changes[:1])
	if err != nil || res[0].Changed || res[0].Err != nil {
		t.Fatalf("second apply = %+v, %v", res, err)
	}
}
