package conformance

import (
	"errors"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var settingTests = []test{
	{"GetAndSet", testSettings},
	{"Revision", testRevision},
}

func testSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	const key = "token.max_lifetime_days"
	_, err := s.GetSetting(ctx, key)
	wantErrIs(t, "GetSetting of an unset key", err, identity.ErrNotFound)

	set := func(key, value string) {
		t.Helper()
		write(t, s, func(tx store.Tx) error { return tx.SetSetting(ctx, key, value) })
	}
	check := func(key, want string) {
		t.Helper()
		got, err := s.GetSetting(ctx, key)
		noErr(t, "GetSetting("+key+")", err)
		if got != want {
			t.Errorf("GetSetting(%q) = %q, want %q", key, got, want)
		}
	}
	set(key, "90")
	check(key, "90")
	set(key, "30") // an upsert, not a second row
	check(key, "30")
	set("token.allow_non_expiring", "")
	check("token.allow_non_expiring", "")
	check(key, "30")
}

// testRevision checks the change counter: increments are seen by their own
// transaction, vanish with a rollback, and are never lost under concurrency.
func testRevision(t *testing.T, s store.Store) {
	ctx := t.Context()
	n, err := s.Revision(ctx)
	noErr(t, "Revision of a fresh store", err)
	if n != 0 {
		t.Fatalf("fresh Revision = %d, want 0", n)
	}
	write(t, s, func(tx store.Tx) error {
		got, err := tx.BumpRevision(ctx)
		if err == nil && got != 1 {
			t.Errorf("BumpRevision in tx = %d, want 1", got)
		}
		if seen, err := tx.Revision(ctx); err == nil && seen != 1 {
			t.Errorf("Revision inside the tx = %d, want 1", seen)
		}
		return err
	})
	errRollback := errors.New("roll back")
	err = s.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.BumpRevision(ctx); err != nil {
			return err
		}
		return errRollback
	})
	wantErrIs(t, "rolled-back bump", err, errRollback)
	if n, _ := s.Revision(ctx); n != 1 {
		t.Fatalf("Revision after a rolled-back bump = %d, want 1", n)
	}
	const workers, each = 8, 10
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := s.Tx(ctx, func(tx store.Tx) error { _, err := tx.BumpRevision(ctx); return err }); err != nil {
					t.Errorf("concurrent bump: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, _ := s.Revision(ctx); n != 1+workers*each {
		t.Fatalf("Revision after %d concurrent bumps = %d, want %d: an increment was lost", workers*each, n, 1+workers*each)
	}
}
