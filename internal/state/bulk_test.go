package state

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestBulkCreateUsersPerItem(t *testing.T) {
	e := newEnv(t)
	e.user("taken")
	res, err := e.s.CreateUsers(e.ctx, []NewUser{
		{Login: "ann", Name: "Ann"},
		{Login: "taken", Name: "Taken"},
		{Login: "x", Name: "Too short"},
		{Login: "bob", Name: "Bob", Email: "bob@example.com"},
		{Login: "ann", Name: "Ann again"},
	}, BulkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"", "An active user with login 'taken' already exists", "Login is too short", "", "An active user with login 'ann' already exists"}
	for i, r := range res {
		got := ""
		if r.Err != nil {
			got = identity.Message(r.Err)
		}
		if !strings.Contains(got, want[i]) || (want[i] == "") != (got == "") {
			t.Errorf("item %d: error %q; want %q", i, got, want[i])
		}
		if r.Changed != (want[i] == "") {
			t.Errorf("item %d: changed = %v", i, r.Changed)
		}
	}
	for _, login := range []string{"ann", "bob"} {
		u, err := e.s.Store().GetUserByLogin(e.ctx, login)
		if err != nil || u.PasswordHash != "" || !u.Active {
			t.Errorf("%s: %+v, %v; want an active user without password", login, u, err)
		}
		// Each item has its own audit event, by the request's actor.
		evs, _, err := e.s.Store().ListAudit(e.ctx, store.AuditFilter{Target: "user:" + login, Action: "user.create"})
		if err != nil || len(evs) != 1 || evs[0].Actor != "user:test" {
			t.Errorf("%s: audit %+v, %v; want one user.create by user:test", login, evs, err)
		}
	}
	// A user without a password cannot sign in with one.
	if _, _, err := e.s.CheckPassword(e.ctx, "ann", ""); err == nil {
		t.Error("a user without password signed in")
	}

	// Skipping existing users makes a re-run a no-op.
	res, err = e.s.CreateUsers(e.ctx, []NewUser{{Login: "ann", Name: "Ann"}, {Login: "cid", Name: "Cid"}}, BulkOptions{SkipExisting: true})
	if err != nil || res[0].Err != nil || res[0].Changed || res[1].Err != nil || !res[1].Changed {
		t.Errorf("skip existing: %+v, %v", res, err)
	}
}

func TestBulkAtomic(t *testing.T) {
	e := newEnv(t)
	e.user("ann")
	g, err := e.s.CreateGroup(e.ctx, identity.Group{Name: "devs"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.s.AddMembers(e.ctx, []MemberChange{{Group: "devs", Login: "ann"}, {Group: "devs", Login: "nobody"}}, BulkOptions{Atomic: true})
	if !errors.Is(err, ErrBulkRefused) {
		t.Fatalf("err = %v; want ErrBulkRefused", err)
	}
	if res[0].Err != nil || res[0].Changed || res[1].Err == nil || identity.Message(res[1].Err) != "User 'nobody' has not been found" {
		t.Errorf("results %+v", res)
	}
	if ms, _ := e.s.Store().ListMemberships(e.ctx, 0, g.ID); len(ms) != 0 {
		t.Errorf("an atomic refusal wrote %v", ms)
	}
	// Per item, the same request writes the item that passes.
	res, err = e.s.AddMembers(e.ctx, []MemberChange{{Group: "devs", Login: "ann"}, {Group: "devs", Login: "nobody"}, {Group: "devs", Login: "ann"}, {Group: identity.GroupUsers, Login: "ann"}}, BulkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Changed || res[1].Err == nil || res[2].Changed || res[2].Err != nil || res[3].Err == nil {
		t.Errorf("results %+v", res)
	}
	if ms, _ := e.s.Store().ListMemberships(e.ctx, 0, g.ID); len(ms) != 1 {
		t.Errorf("memberships %v; want ann's", ms)
	}
}

func TestBulkGrantsSeenByNextDecision(t *testing.T) {
	e := newEnv(t)
	e.lockDown()
	u := e.user("ann")
	p := e.project("app", identity.Private, 0)
	pub := e.project("pub", identity.Public, 0)
	secret := e.token(u)
	if e.allowed(secret, identity.PermScan, "app") {
		t.Fatal("scan before the grant")
	}
	res, err := e.s.AddGrants(e.ctx, []identity.Grant{
		{Subject: identity.UserSubject(u.ID), ProjectID: p.ID, Permission: identity.PermScan},
		{Subject: identity.UserSubject(u.ID), ProjectID: p.ID, Permission: identity.PermGateAdmin}, // not a project permission
		{Subject: identity.UserSubject(u.ID), ProjectID: pub.ID, Permission: identity.PermUser},    // implicit: no change
	}, BulkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Changed || res[1].Err == nil || res[2].Err != nil || res[2].Changed {
		t.Errorf("results %+v", res)
	}
	if !e.allowed(secret, identity.PermScan, "app") {
		t.Error("the bulk grant is not seen by the next decision")
	}
}

func TestBulkIsBounded(t *testing.T) {
	e := newEnv(t)
	_, err := e.s.AddMembers(e.ctx, make([]MemberChange, MaxBulkItems+1), BulkOptions{})
	if !errors.Is(err, identity.ErrInvalid) {
		t.Errorf("err = %v; want ErrInvalid", err)
	}
}
