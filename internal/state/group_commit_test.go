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

// TestGroupCommitUndoesAWriteThatFailsAfterWriting: a batch runs without
// savepoints first; a write that wrote and then failed makes the batch run
// again with them. The failed write leaves nothing, its batch-mates commit
// with their audit events, and a write refused before it wrote costs no
// second run.
func TestGroupCommitUndoesAWriteThatFailsAfterWriting(t *testing.T) {
	for _, tc := range backends {
		t.Run(tc.name, func(t *testing.T) {
			for _, failAfterWrite := range []bool{false, true} {
				e := newEnvOn(t, t.Context(), tc.open(t, 1)[0])
				const n = 8
				var (
					mu   sync.Mutex
					runs = map[string]int{}
				)
				create := func(name string, fail bool) func(tx store.Tx) (audit, func(), error) {
					return func(tx store.Tx) (audit, func(), error) {
						mu.Lock()
						runs[name]++
						mu.Unlock()
						if fail && !failAfterWrite {
							return audit{}, nil, identity.Errorf(identity.ErrInvalid, "refused before writing")
						}
						if _, err := tx.CreateGroup(e.ctx, identity.Group{Name: name, Source: identity.SourceLocal}); err != nil {
							return audit{}, nil, err
						}
						if fail {
							return audit{}, nil, identity.Errorf(identity.ErrInvalid, "refused after writing")
						}
						return audit{Action: "group.create", Target: "group:" + name}, nil, nil
					}
				}
				// Hold the write lock until every write is queued, so they
				// all go in one batch.
				e.s.writeMu.Lock()
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() { errs[i] = e.s.write(e.ctx, create(fmt.Sprint("g", i), i == 3)) })
				}
				for queued := 0; queued < n; {
					e.s.queueMu.Lock()
					queued = len(e.s.queue)
					e.s.queueMu.Unlock()
				}
				e.s.writeMu.Unlock()
				wg.Wait()
				for i := range n {
					_, gerr := e.db.GetGroupByName(e.ctx, fmt.Sprint("g", i))
					if i == 3 {
						if !errors.Is(errs[i], identity.ErrInvalid) || !errors.Is(gerr, identity.ErrNotFound) {
							t.Fatalf("failed write: %v, its group: %v; want refused and absent", errs[i], gerr)
						}
						continue
					}
					if errs[i] != nil || gerr != nil {
						t.Fatalf("write %d: %v, its group: %v", i, errs[i], gerr)
					}
				}
				if got := countAudit(t, e, "group.create"); got != n-1 {
					t.Fatalf("%d audit events, want %d", got, n-1)
				}
				wantRuns := 1
				if failAfterWrite {
					wantRuns = 2
				}
				if runs["g3"] != wantRuns {
					t.Fatalf("failAfterWrite=%v: the failing write ran %d times, want %d", failAfterWrite, runs["g3"], wantRuns)
				}
			}
		})
	}
}
