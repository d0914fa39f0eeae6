package state

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestGroupCommit sends many writes at once: they share transactions (fewer
// revision bumps than writes), each keeps its own result — a refused write
// fails alone — and every acknowledged write is in the store and the index.
func TestGroupCommit(t *testing.T) {
	e := newEnv(t)
	const n = 64
	for i := range n {
		e.user(fmt.Sprintf("u%d", i))
	}
	if _, err := e.s.CreateGroup(e.ctx, identity.Group{Name: "team"}); err != nil {
		t.Fatal(err)
	}
	before, _ := e.db.Revision(e.ctx)
	var wg sync.WaitGroup
	errs := make([]error, n+1)
	start := make(chan struct{})
	for i := range n + 1 {
		wg.Go(func() {
			<-start
			login := fmt.Sprintf("u%d", i)
			if i == n {
				login = "nobody" // refused: no such user
			}
			errs[i] = e.s.AddMember(e.ctx, "team", login)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("write %d failed: %v", i, errs[i])
		}
	}
	if !errors.Is(errs[n], identity.ErrNotFound) {
		t.Fatalf("refused write = %v, want not found", errs[n])
	}
	after, _ := e.db.Revision(e.ctx)
	t.Logf("%d writes in %d commits", n+1, after-before)
	g, _ := e.db.GetGroupByName(e.ctx, "team")
	ms, err := e.db.ListMemberships(e.ctx, 0, g.ID)
	if err != nil || len(ms) != n {
		t.Fatalf("%d memberships stored (%v), want %d", len(ms), err, n)
	}
	names := map[string]bool{}
	for i := range n {
		u, _ := e.db.GetUserByLogin(e.ctx, fmt.Sprintf("u%d", i))
		for _, gn := range e.s.index.GroupNames(u.ID) {
			names[fmt.Sprint(i, gn)] = true
		}
		if !names[fmt.Sprint(i, "team")] {
			t.Fatalf("index misses u%d in team", i)
		}
	}
	// Every acknowledged write has its own audit event.
	if got := countAudit(t, e, "group.add_user"); got != n {
		t.Fatalf("%d audit events, want %d", got, n)
	}
}

// TestGroupCommitLastAdmin: two writes in one batch that each remove one of
// the last two administrators cannot both pass — the second sees the
// first's change.
func TestGroupCommitLastAdmin(t *testing.T) {
	e := newEnv(t)
	e.user("a1", identity.GroupAdministrators)
	e.user("a2", identity.GroupAdministrators)
	for round := range 20 {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := make(chan struct{})
		for i, login := range []string{"a1", "a2"} {
			wg.Go(func() {
				<-start
				errs[i] = e.s.RemoveMember(e.ctx, identity.GroupAdministrators, login)
			})
		}
		close(start)
		wg.Wait()
		if errs[0] == nil && errs[1] == nil {
			t.Fatalf("round %d: both last administrators removed", round)
		}
		// Put back whoever went.
		for i, login := range []string{"a1", "a2"} {
			if errs[i] == nil {
				if err := e.s.AddMember(e.ctx, identity.GroupAdministrators, login); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func countAudit(t *testing.T, e *env, action string) int {
	t.Helper()
	_, n, err := e.db.ListAudit(e.ctx, store.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
