package state

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// countingLookUps counts the look-ups by name that writes make in their
// transactions.
type countingLookUps struct {
	store.Store
	n *atomic.Int64
}

func (c countingLookUps) Tx(ctx context.Context, fn func(store.Tx) error) error {
	return c.Store.Tx(ctx, func(tx store.Tx) error { return fn(lookUpCountingTx{tx, c.n}) })
}

type lookUpCountingTx struct {
	store.Tx
	n *atomic.Int64
}

func (c lookUpCountingTx) GetGroupByName(ctx context.Context, name string) (identity.Group, error) {
	c.n.Add(1)
	return c.Tx.GetGroupByName(ctx, name)
}

func (c lookUpCountingTx) GetUserByLogin(ctx context.Context, login string) (identity.User, error) {
	c.n.Add(1)
	return c.Tx.GetUserByLogin(ctx, login)
}

// TestRecordCache: a write's look-ups are served from what earlier
// committed writes read, and never from what has changed since — here, on
// a peer, or in a transaction that did not commit.
func TestRecordCache(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			dbs := be.open(t, 2)
			var reads atomic.Int64
			r := newReplicas(t, dbs, nil)
			ctx, b := r.ctx, r.b
			a, err := New(ctx, countingLookUps{dbs[0], &reads}, Options{})
			noErr(t, err)
			user(t, ctx, a, "alice")
			user(t, ctx, a, "bob")
			_, err = a.CreateGroup(ctx, identity.Group{Name: "devs"})
			noErr(t, err)

			noErr(t, a.AddMember(ctx, "devs", "alice"))
			before := reads.Load()
			noErr(t, a.RemoveMember(ctx, "devs", "alice"))
			noErr(t, a.AddMember(ctx, "devs", "alice"))
			if got := reads.Load() - before; got != 0 {
				t.Fatalf("%d look-ups for writes on names read before, want 0", got)
			}

			// Renamed here: the old name is gone at once.
			newName := "developers"
			_, err = a.UpdateGroup(ctx, "devs", GroupUpdate{Name: &newName})
			noErr(t, err)
			if err := a.AddMember(ctx, "devs", "bob"); !errors.Is(err, identity.ErrNotFound) {
				t.Fatalf("add to the old name after a rename = %v, want not found", err)
			}
			noErr(t, a.AddMember(ctx, "developers", "bob"))

			// Renamed on a peer: A has not caught up, and must not act on
			// the name it cached.
			oldName := "devs"
			_, err = b.UpdateGroup(ctx, "developers", GroupUpdate{Name: &oldName})
			noErr(t, err)
			if err := a.RemoveMember(ctx, "developers", "bob"); !errors.Is(err, identity.ErrNotFound) {
				t.Fatalf("remove from a name a peer renamed = %v, want not found", err)
			}
			noErr(t, a.RemoveMember(ctx, "devs", "bob"))

			// A group created in a write that is refused is not learned:
			// the refusal rolls the transaction back.
			err = a.write(ctx, func(tx store.Tx) (audit, func(), error) {
				if _, err := tx.CreateGroup(ctx, identity.Group{Name: "ghost", Source: identity.SourceLocal}); err != nil {
					return audit{}, nil, err
				}
				if _, err := lookUpGroupByName(ctx, tx, "ghost"); err != nil {
					return audit{}, nil, err
				}
				return audit{}, nil, identity.Errorf(identity.ErrInvalid, "refused")
			})
			if !errors.Is(err, identity.ErrInvalid) {
				t.Fatalf("refused write = %v", err)
			}
			if err := a.AddMember(ctx, "ghost", "bob"); !errors.Is(err, identity.ErrNotFound) {
				t.Fatalf("add to a group whose creation was rolled back = %v, want not found", err)
			}
		})
	}
}

// TestRecordsPut: learning a record again under a new name drops the old
// name; forgetting drops both.
func TestRecordsPut(t *testing.T) {
	c := newRecordCache()
	learn := func(g identity.Group, changed map[store.Change]struct{}) {
		memo := newRecordCache()
		put(memo, &memo.groups, g)
		c.merge(memo, changed)
	}
	learn(identity.Group{ID: 7, Name: "devs"}, nil)
	if g, ok := c.groupByName("devs"); !ok || g.ID != 7 {
		t.Fatalf("devs = %+v %v", g, ok)
	}
	learn(identity.Group{ID: 7, Name: "developers"}, nil)
	if _, ok := c.groupByName("devs"); ok {
		t.Fatal("the old name still resolves after the record came back renamed")
	}
	if g, ok := c.groupByName("developers"); !ok || g.ID != 7 {
		t.Fatalf("developers = %+v %v", g, ok)
	}
	// A record the batch changed is not learned.
	learn(identity.Group{ID: 8, Name: "ops"}, map[store.Change]struct{}{{Kind: store.ChangeGroup, ID: 8}: {}})
	if _, ok := c.groupByName("ops"); ok {
		t.Fatal("a record the batch changed was learned")
	}
	c.forget(store.Change{Kind: store.ChangeGroup, ID: 7})
	if _, ok := c.group(7); ok {
		t.Fatal("forgotten group still cached by id")
	}
	if _, ok := c.groupByName("developers"); ok {
		t.Fatal("forgotten group still cached by name")
	}
}

// TestRecordMemo: within one write a record is read from the store once,
// and again after the write changes it.
func TestRecordMemo(t *testing.T) {
	db := newEnv(t).db
	var reads atomic.Int64
	s, err := New(t.Context(), countingLookUps{db, &reads}, Options{})
	noErr(t, err)
	ctx := WithActor(t.Context(), Actor{Name: "user:test"})
	_, err = s.CreateGroup(ctx, identity.Group{Name: "devs"})
	noErr(t, err)
	s.records.clear() // nothing learned from earlier writes
	err = s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		before := reads.Load()
		for range 3 {
			if _, err := lookUpGroupByName(ctx, tx, "devs"); err != nil {
				return audit{}, nil, err
			}
		}
		if got := reads.Load() - before; got != 1 {
			t.Errorf("%d reads for three look-ups in one write, want 1", got)
		}
		g, _ := lookUpGroupByName(ctx, tx, "devs")
		g.Description = "changed"
		if err := tx.UpdateGroup(ctx, g); err != nil {
			return audit{}, nil, err
		}
		again, err := lookUpGroupByName(ctx, tx, "devs")
		if err != nil || again.Description != "changed" {
			t.Errorf("after the write: %+v %v, want the changed group read again", again, err)
		}
		if got := reads.Load() - before; got != 2 {
			t.Errorf("%d reads, want 2 (once more after the change)", got)
		}
		return audit{}, nil, nil
	})
	noErr(t, err)
}
