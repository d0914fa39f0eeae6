package conformance

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var transactionTests = []test{
	{"RollbackOnError", testTxRollback},
	{"ReadsSeeOwnWrites", testTxReadsOwnWrites},
	{"DuplicateMidTransaction", testTxDuplicateMidway},
	{"SubUndoesOnlyItsWrites", testTxSub},
	{"EffectsCountWritesNotReads", testTxEffects},
}

var concurrencyTests = []test{
	{"ParallelWriters", testParallelWriters},
	{"ReadsDuringWrites", testReadsDuringWrites},
}

// errDeliberate is returned by transactions that must roll back.
var errDeliberate = errors.New("conformance: deliberate failure")

func testTxRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice")

	err := s.Tx(ctx, func(tx store.Tx) error {
		g, err := tx.CreateGroup(ctx, identity.Group{Name: "devs", Source: identity.SourceLocal})
		if err != nil {
			return err
		}
		if _, err := tx.AddMember(ctx, alice.ID, g.ID); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(ctx, identity.AuditEvent{Time: at(0), Actor: "user:admin", Action: "group.add_user", Target: "group:devs"}); err != nil {
			return err
		}
		deactivated := alice
		deactivated.Active = false
		if err := tx.UpdateUser(ctx, deactivated); err != nil {
			return err
		}
		if err := tx.SetSetting(ctx, "rolled.back", "yes"); err != nil {
			return err
		}
		return fmt.Errorf("after five writes: %w", errDeliberate)
	})
	if !errors.Is(err, errDeliberate) {
		t.Fatalf("Tx returned %v, want the error of its function", err)
	}

	_, err = s.GetGroupByName(ctx, "devs")
	wantErrIs(t, "GetGroupByName of a group created in a rolled back transaction", err, identity.ErrNotFound)
	ms, err := s.ListMemberships(ctx, alice.ID, 0)
	noErr(t, "ListMemberships", err)
	if len(ms) != 0 {
		t.Errorf("memberships after rollback = %v, want none", ms)
	}
	_, total, err := s.ListAudit(ctx, store.AuditFilter{})
	noErr(t, "ListAudit", err)
	if total != 0 {
		t.Errorf("audit events after rollback = %d, want 0", total)
	}
	got, err := s.GetUser(ctx, alice.ID)
	noErr(t, "GetUser", err)
	if !got.Active {
		t.Error("user deactivated by a rolled back transaction")
	}
	_, err = s.GetSetting(ctx, "rolled.back")
	wantErrIs(t, "GetSetting of a setting written in a rolled back transaction", err, identity.ErrNotFound)
}

func testTxReadsOwnWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	write(t, s, func(tx store.Tx) error {
		alice, err := tx.CreateUser(ctx, identity.User{Login: "alice", Name: "Alice", Source: identity.SourceLocal, Active: true})
		if err != nil {
			return err
		}
		if got, err := tx.GetUserByLogin(ctx, "alice"); err != nil || got.ID != alice.ID {
			t.Errorf("GetUserByLogin inside the transaction = %d, %v; want %d", got.ID, err, alice.ID)
		}
		if _, total, err := tx.ListUsers(ctx, store.UserFilter{}); err != nil || total != 1 {
			t.Errorf("ListUsers inside the transaction: total %d, %v; want 1", total, err)
		}

		devs, err := tx.CreateGroup(ctx, identity.Group{Name: "devs", Source: identity.SourceLocal})
		if err != nil {
			return err
		}
		if _, err := tx.AddMember(ctx, alice.ID, devs.ID); err != nil {
			return err
		}
		if ms, err := tx.ListMemberships(ctx, alice.ID, 0); err != nil || len(ms) != 1 {
			t.Errorf("ListMemberships inside the transaction = %v, %v; want one", ms, err)
		}
		if counts, err := tx.CountMembers(ctx, []int64{devs.ID}); err != nil || counts[devs.ID] != 1 {
			t.Errorf("CountMembers inside the transaction = %v, %v; want %d:1", counts, err, devs.ID)
		}

		grant := identity.Grant{Subject: identity.GroupSubject(devs.ID), Permission: identity.PermScan}
		if _, err := tx.AddGrant(ctx, grant); err != nil {
			return err
		}
		if grants, err := tx.ListGrants(ctx, store.GrantFilter{}); err != nil || len(grants) != 1 {
			t.Errorf("ListGrants inside the transaction = %v, %v; want one", grants, err)
		}

		tok, err := tx.CreateToken(ctx, userToken("laptop", identity.TokenUser, alice))
		if err != nil {
			return err
		}
		if got, err := tx.GetTokenByHash(ctx, tok.Hash); err != nil || got.ID != tok.ID {
			t.Errorf("GetTokenByHash inside the transaction = %d, %v; want %d", got.ID, err, tok.ID)
		}

		if _, err := tx.AppendAudit(ctx, identity.AuditEvent{Time: at(0), Actor: "system", Action: "user.create", Target: "user:alice"}); err != nil {
			return err
		}
		if _, total, err := tx.ListAudit(ctx, store.AuditFilter{}); err != nil || total != 1 {
			t.Errorf("ListAudit inside the transaction: total %d, %v; want 1", total, err)
		}

		if err := tx.SetSetting(ctx, "key", "value"); err != nil {
			return err
		}
		if got, err := tx.GetSetting(ctx, "key"); err != nil || got != "value" {
			t.Errorf("GetSetting inside the transaction = %q, %v; want %q", got, err, "value")
		}
		return nil
	})
}

func testTxDuplicateMidway(t *testing.T, s store.Store) {
	ctx := t.Context()
	newGroup(t, s, "devs")

	err := s.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.CreateGroup(ctx, identity.Group{Name: "fresh", Source: identity.SourceLocal}); err != nil {
			return err
		}
		if _, err := tx.CreateGroup(ctx, identity.Group{Name: "devs", Source: identity.SourceLocal}); err != nil {
			return fmt.Errorf("second group: %w", err)
		}
		t.Error("CreateGroup with a taken name succeeded inside a transaction")
		return nil
	})
	wantErrIs(t, "Tx with a duplicate insert", err, identity.ErrAlreadyExists)
	_, err = s.GetGroupByName(ctx, "fresh")
	wantErrIs(t, "GetGroupByName of a group created before the duplicate", err, identity.ErrNotFound)

	// A failed transaction must not leave the store unusable.
	newGroup(t, s, "after")
}

// writeGroupWithAudit is the small write transaction of the concurrency
// tests: a group, its members and an audit event.
func writeGroupWithAudit(t *testing.T, s store.Store, name string, members []identity.User) error {
	ctx := t.Context()
	return s.Tx(ctx, func(tx store.Tx) error {
		g, err := tx.CreateGroup(ctx, identity.Group{Name: name, Source: identity.SourceLocal})
		if err != nil {
			return err
		}
		for _, u := range members {
			if _, err := tx.AddMember(ctx, u.ID, g.ID); err != nil {
				return err
			}
		}
		_, err = tx.AppendAudit(ctx, identity.AuditEvent{Time: at(0), Actor: "system", Action: "group.create", Target: "group:" + name})
		return err
	})
}

func concurrencyUsers(t *testing.T, s store.Store) []identity.User {
	t.Helper()
	var users []identity.User
	for _, login := range []string{"alice", "bob", "carol"} {
		users = append(users, newUser(t, s, login))
	}
	return users
}

func testParallelWriters(t *testing.T, s store.Store) {
	ctx := t.Context()
	users := concurrencyUsers(t, s)
	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				if err := writeGroupWithAudit(t, s, fmt.Sprintf("w%d-g%02d", w, i), users); err != nil {
					t.Errorf("worker %d, transaction %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()

	const want = workers * perWorker
	groups, total, err := s.ListGroups(ctx, store.GroupFilter{})
	noErr(t, "ListGroups", err)
	if total != want || len(groups) != want {
		t.Errorf("ListGroups after parallel writes: %d groups, total %d; want %d", len(groups), total, want)
	}
	ids := make([]int64, len(groups))
	for i, g := range groups {
		ids[i] = g.ID
	}
	counts, err := s.CountMembers(ctx, ids)
	noErr(t, "CountMembers", err)
	for _, g := range groups {
		if counts[g.ID] != len(users) {
			t.Errorf("group %s has %d members, want %d", g.Name, counts[g.ID], len(users))
		}
	}
	ms, err := s.ListMemberships(ctx, 0, 0)
	noErr(t, "ListMemberships", err)
	if len(ms) != want*len(users) {
		t.Errorf("ListMemberships after parallel writes: %d, want %d", len(ms), want*len(users))
	}
	_, total, err = s.ListAudit(ctx, store.AuditFilter{})
	noErr(t, "ListAudit", err)
	if total != want {
		t.Errorf("audit events after parallel writes: %d, want %d", total, want)
	}
}

// testReadsDuringWrites checks that readers, as a server has them, neither
// fail nor block writers.
func testReadsDuringWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	users := concurrencyUsers(t, s)
	const writers, readers, rounds = 4, 4, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range rounds {
				if err := writeGroupWithAudit(t, s, fmt.Sprintf("w%d-g%02d", w, i), users); err != nil {
					t.Errorf("writer %d, transaction %d: %v", w, i, err)
					return
				}
			}
		})
	}
	for r := range readers {
		wg.Go(func() {
			for i := range rounds {
				snap, err := s.Snapshot(ctx)
				if err != nil {
					t.Errorf("reader %d, snapshot %d: %v", r, i, err)
					return
				}
				// One consistent read: every membership's group is in it.
				groups := make(map[int64]bool, len(snap.Groups))
				for _, g := range snap.Groups {
					groups[g.ID] = true
				}
				for _, m := range snap.Memberships {
					if !groups[m.GroupID] {
						t.Errorf("reader %d, snapshot %d: membership of group %d without the group", r, i, m.GroupID)
						return
					}
				}
				if _, _, err := s.ListGroups(ctx, store.GroupFilter{Page: store.Page{Number: 1, Size: 10}}); err != nil {
					t.Errorf("reader %d, listing %d: %v", r, i, err)
					return
				}
			}
		})
	}
	wg.Wait()

	_, total, err := s.ListGroups(ctx, store.GroupFilter{})
	noErr(t, "ListGroups", err)
	if total != writers*rounds {
		t.Errorf("groups after writes with readers: %d, want %d", total, writers*rounds)
	}
}

// testTxSub: a failing Sub undoes its own writes only — including a
// uniqueness violation, which on PostgreSQL would otherwise abort the
// transaction — and the transaction commits the rest.
func testTxSub(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice")
	err := s.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.CreateGroup(ctx, identity.Group{Name: "kept-before", Source: identity.SourceLocal}); err != nil {
			return err
		}
		err := tx.Sub(ctx, func() error {
			g, err := tx.CreateGroup(ctx, identity.Group{Name: "undone", Source: identity.SourceLocal})
			if err != nil {
				return err
			}
			if _, err := tx.AddMember(ctx, alice.ID, g.ID); err != nil {
				return err
			}
			return errDeliberate
		})
		var sub *store.SubError
		if !errors.As(err, &sub) || !errors.Is(err, errDeliberate) {
			return fmt.Errorf("tx.Sub returned %v, want a SubError wrapping its function's error", err)
		}
		err = tx.Sub(ctx, func() error {
			_, err := tx.CreateGroup(ctx, identity.Group{Name: "kept-before", Source: identity.SourceLocal})
			return err
		})
		if !errors.Is(err, identity.ErrAlreadyExists) {
			return fmt.Errorf("duplicate inside Sub = %v, want ErrAlreadyExists", err)
		}
		if err := tx.Sub(ctx, func() error {
			_, err := tx.CreateGroup(ctx, identity.Group{Name: "kept-after", Source: identity.SourceLocal})
			return err
		}); err != nil {
			return err
		}
		_, err = tx.GetGroupByName(ctx, "undone")
		if !errors.Is(err, identity.ErrNotFound) {
			return fmt.Errorf("group of a failed Sub seen inside the transaction: %v", err)
		}
		return nil
	})
	noErr(t, "Tx with Subs", err)
	for _, name := range []string{"kept-before", "kept-after"} {
		_, err := s.GetGroupByName(ctx, name)
		noErr(t, "GetGroupByName "+name, err)
	}
	_, err = s.GetGroupByName(ctx, "undone")
	wantErrIs(t, "GetGroupByName of a failed Sub's group", err, identity.ErrNotFound)
	ms, err := s.ListMemberships(ctx, alice.ID, 0)
	noErr(t, "ListMemberships", err)
	if len(ms) != 0 {
		t.Fatalf("memberships of a failed Sub kept: %v", ms)
	}
}

// testTxEffects: reads, including one that finds nothing, leave Effects
// as it was; a write and a refused write each move it; the transaction
// stays usable after a read that found nothing.
func testTxEffects(t *testing.T, s store.Store) {
	ctx := t.Context()
	newUser(t, s, "alice")
	write(t, s, func(tx store.Tx) error {
		e0 := tx.Effects()
		if _, err := tx.GetUserByLogin(ctx, "nobody"); !errors.Is(err, identity.ErrNotFound) {
			return fmt.Errorf("GetUserByLogin(nobody) = %v, want ErrNotFound", err)
		}
		if _, err := tx.GetUserByLogin(ctx, "alice"); err != nil {
			return err
		}
		if _, _, err := tx.ListUsers(ctx, store.UserFilter{}); err != nil {
			return err
		}
		if e := tx.Effects(); e != e0 {
			return fmt.Errorf("effects after reads = %d, want %d", e, e0)
		}
		if _, err := tx.CreateGroup(ctx, identity.Group{Name: "devs", Source: identity.SourceLocal}); err != nil {
			return err
		}
		e1 := tx.Effects()
		if e1 == e0 {
			return fmt.Errorf("effects did not move on a write (%d)", e1)
		}
		err := tx.Sub(ctx, func() error {
			_, err := tx.CreateGroup(ctx, identity.Group{Name: "devs", Source: identity.SourceLocal})
			return err
		})
		if !errors.Is(err, identity.ErrAlreadyExists) {
			return fmt.Errorf("duplicate CreateGroup = %v, want ErrAlreadyExists", err)
		}
		if tx.Effects() == e1 {
			return fmt.Errorf("effects did not move on a refused write (%d)", e1)
		}
		return nil
	})
	if _, err := s.GetGroupByName(ctx, "devs"); err != nil {
		t.Fatalf("group written before the refused one: %v", err)
	}
}
