package conformance

import (
	"errors"
	"reflect"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var changeLogTests = []test{
	{"LogAndList", testChangeLogList},
	{"CommitsWithItsTransaction", testChangeLogTx},
	{"Prune", testChangeLogPrune},
}

// logged writes a bump and its change-log entry in one transaction and
// returns the new revision.
func logged(t *testing.T, s store.Store, changes ...store.Change) int64 {
	t.Helper()
	var rev int64
	write(t, s, func(tx store.Tx) error {
		var err error
		if rev, err = tx.BumpRevision(t.Context()); err != nil {
			return err
		}
		return tx.LogChanges(t.Context(), rev, at(0), changes)
	})
	return rev
}

// testChangeLogList checks that entries read back as written, every kind
// and subject intact, ascending, from a revision on and bounded by a limit.
func testChangeLogList(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.ListChanges(ctx, 0, 0)
	noErr(t, "ListChanges of a fresh store", err)
	if len(got) != 0 {
		t.Fatalf("fresh store lists %d entries, want none", len(got))
	}
	entries := [][]store.Change{
		{{Kind: store.ChangeUser, ID: 7}, {Kind: store.ChangeUserGroups, ID: 7}},
		{{Kind: store.ChangeGrants, ID: 0, Subject: identity.GroupSubject(3)}, {Kind: store.ChangeGrants, ID: 12, Subject: identity.Anyone}},
		{},
		{{Kind: store.ChangeToken, ID: 9}, {Kind: store.ChangeProject, ID: 12}, {Kind: store.ChangeProjectGrants, ID: 12},
			{Kind: store.ChangeGroup, ID: 3}, {Kind: store.ChangeGroupMembers, ID: 3}, {Kind: store.ChangeGrants, ID: 5, Subject: identity.UserSubject(7)},
			{Kind: store.ChangeSession, ID: 4}, {Kind: store.ChangeUserSessions, ID: 7}},
	}
	for i, ch := range entries {
		if rev := logged(t, s, ch...); rev != int64(i+1) {
			t.Fatalf("revision %d, want %d", rev, i+1)
		}
	}
	got, err = s.ListChanges(ctx, 0, 0)
	noErr(t, "ListChanges", err)
	if len(got) != len(entries) {
		t.Fatalf("ListChanges lists %d entries, want %d", len(got), len(entries))
	}
	for i, e := range got {
		if e.Revision != int64(i+1) {
			t.Errorf("entry %d has revision %d, want %d", i, e.Revision, i+1)
		}
		if !e.At.Equal(at(0)) {
			t.Errorf("entry %d at %v, want %v", i, e.At, at(0))
		}
		want := entries[i]
		if len(want) == 0 && len(e.Changes) == 0 {
			continue
		}
		if !reflect.DeepEqual(e.Changes, want) {
			t.Errorf("entry %d changes = %+v, want %+v", i, e.Changes, want)
		}
	}
	got, err = s.ListChanges(ctx, 1, 2)
	noErr(t, "ListChanges(after 1, limit 2)", err)
	if len(got) != 2 || got[0].Revision != 2 || got[1].Revision != 3 {
		t.Errorf("ListChanges(after 1, limit 2) = %+v, want revisions 2 and 3", got)
	}
	got, err = s.ListChanges(ctx, 4, 0)
	noErr(t, "ListChanges(after the last)", err)
	if len(got) != 0 {
		t.Errorf("ListChanges after the last revision = %+v, want none", got)
	}
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.LogChanges(ctx, 2, at(0), nil) })
	wantErrIs(t, "logging revision 2 twice", err, identity.ErrAlreadyExists)
}

// testChangeLogTx checks that an entry commits and rolls back with its
// transaction, so a replica never reads an entry of a write that did not
// happen, nor misses one of a write that did.
func testChangeLogTx(t *testing.T, s store.Store) {
	ctx := t.Context()
	errRollback := errors.New("roll back")
	err := s.Tx(ctx, func(tx store.Tx) error {
		rev, err := tx.BumpRevision(ctx)
		if err != nil {
			return err
		}
		if err := tx.LogChanges(ctx, rev, at(0), []store.Change{{Kind: store.ChangeUser, ID: 1}}); err != nil {
			return err
		}
		if in, err := tx.ListChanges(ctx, 0, 0); err != nil || len(in) != 1 {
			t.Errorf("inside its transaction ListChanges = %v, %v; want the entry", in, err)
		}
		return errRollback
	})
	wantErrIs(t, "rolled-back entry", err, errRollback)
	got, err := s.ListChanges(ctx, 0, 0)
	noErr(t, "ListChanges", err)
	if len(got) != 0 {
		t.Fatalf("a rolled-back entry is listed: %+v", got)
	}
	if rev := logged(t, s, store.Change{Kind: store.ChangeToken, ID: 4}); rev != 1 {
		t.Fatalf("revision after a rolled-back bump = %d, want 1", rev)
	}
	got, err = s.ListChanges(ctx, 0, 0)
	noErr(t, "ListChanges", err)
	if len(got) != 1 || got[0].Revision != 1 {
		t.Fatalf("ListChanges = %+v, want revision 1", got)
	}
}

// testChangeLogPrune checks that pruning removes exactly the entries up to
// the given revision, so a replica that was behind them sees the gap.
func testChangeLogPrune(t *testing.T, s store.Store) {
	ctx := t.Context()
	for range 5 {
		logged(t, s, store.Change{Kind: store.ChangeUser, ID: 1})
	}
	var n int
	write(t, s, func(tx store.Tx) error {
		var err error
		n, err = tx.PruneChanges(ctx, 3)
		return err
	})
	if n != 3 {
		t.Errorf("PruneChanges(3) deleted %d entries, want 3", n)
	}
	got, err := s.ListChanges(ctx, 0, 0)
	noErr(t, "ListChanges after pruning", err)
	if len(got) != 2 || got[0].Revision != 4 {
		t.Fatalf("after pruning up to 3, ListChanges = %+v, want revisions 4 and 5", got)
	}
	write(t, s, func(tx store.Tx) error {
		var err error
		n, err = tx.PruneChanges(ctx, 3)
		return err
	})
	if n != 0 {
		t.Errorf("pruning again deleted %d entries, want 0", n)
	}
	if rev, _ := s.Revision(ctx); rev != 5 {
		t.Errorf("Revision after pruning = %d, want 5: pruning must not move the counter", rev)
	}
}
