package sqlstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestListenChanges checks that on PostgreSQL a listener is woken by every
// committed change-log entry and by none that rolled back, and that SQLite
// says it cannot listen.
func TestListenChanges(t *testing.T) {
	eachFlavor(t, func(t *testing.T, s *Store) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		wakes := make(chan struct{}, 16)
		done := make(chan error, 1)
		go func() { done <- s.ListenChanges(ctx, func() { wakes <- struct{}{} }) }()
		if !s.f.postgres {
			if err := <-done; !errors.Is(err, errors.ErrUnsupported) {
				t.Fatalf("ListenChanges on SQLite = %v, want errors.ErrUnsupported", err)
			}
			return
		}
		wait := func(what string) {
			t.Helper()
			select {
			case <-wakes:
			case err := <-done:
				t.Fatalf("%s: listener ended: %v", what, err)
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: no wake-up within 10 s", what)
			}
		}
		wait("the wake-up once listening")
		logEntry := func(fail bool) error {
			return s.Tx(ctx, func(tx store.Tx) error {
				rev, err := tx.BumpRevision(ctx)
				if err != nil {
					return err
				}
				if err := tx.LogChanges(ctx, rev, time.Time{}, []store.Change{{Kind: store.ChangeUser, ID: 1}}); err != nil {
					return err
				}
				if fail {
					return errors.New("roll back")
				}
				return nil
			})
		}
		if err := logEntry(true); err == nil {
			t.Fatal("the failing transaction committed")
		}
		if err := logEntry(false); err != nil {
			t.Fatal(err)
		}
		wait("a committed entry")
		select {
		case <-wakes:
			t.Fatal("woken twice: once for a rolled-back entry")
		case <-time.After(200 * time.Millisecond):
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("ListenChanges after its context ended = %v, want context.Canceled", err)
		}
	})
}
