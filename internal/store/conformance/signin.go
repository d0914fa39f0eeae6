package conformance

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var signInTests = []test{
	{"CountAndForget", testSignInCount},
	{"ClearAndPrune", testSignInClearPrune},
	{"ConcurrentFailures", testSignInConcurrent},
}

// addFailure counts one failure of key at at, forgetting records older than
// forget, in a transaction of its own.
func addFailure(t *testing.T, s store.Store, key string, at time.Time, forget time.Duration) store.SignInFailure {
	t.Helper()
	var rec store.SignInFailure
	write(t, s, func(tx store.Tx) error {
		var err error
		rec, err = tx.AddSignInFailure(t.Context(), key, at, at.Add(-forget))
		return err
	})
	return rec
}

func testSignInCount(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.SignInFailures(ctx, []string{"k1", "k2"})
	noErr(t, "SignInFailures of a fresh store", err)
	if len(got) != 0 {
		t.Fatalf("fresh store has records %v", got)
	}
	const forget = time.Hour
	for i := 1; i <= 3; i++ {
		rec := addFailure(t, s, "k1", at(time.Duration(i)*time.Minute), forget)
		assertEqual(t, "record after failure", store.SignInFailure{Count: i, Last: at(time.Duration(i) * time.Minute)}, rec)
	}
	addFailure(t, s, "k2", at(0), forget)
	got, err = s.SignInFailures(ctx, []string{"k1", "k2", "absent"})
	noErr(t, "SignInFailures", err)
	assertEqual(t, "records", map[string]store.SignInFailure{
		"k1": {Count: 3, Last: at(3 * time.Minute)},
		"k2": {Count: 1, Last: at(0)},
	}, got)
	// A failure after a quiet hour starts the count again.
	rec := addFailure(t, s, "k1", at(3*time.Minute+forget+time.Second), forget)
	assertEqual(t, "record after the quiet period", store.SignInFailure{Count: 1, Last: at(3*time.Minute + forget + time.Second)}, rec)

	// A rolled-back failure is not counted.
	err = s.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.AddSignInFailure(ctx, "k2", at(time.Minute), at(-forget)); err != nil {
			return err
		}
		return errDeliberate
	})
	wantErrIs(t, "rolled-back failure", err, errDeliberate)
	got, _ = s.SignInFailures(ctx, []string{"k2"})
	if got["k2"].Count != 1 {
		t.Fatalf("count after a rolled-back failure = %d, want 1", got["k2"].Count)
	}
}

func testSignInClearPrune(t *testing.T, s store.Store) {
	ctx := t.Context()
	addFailure(t, s, "old", at(0), time.Hour)
	addFailure(t, s, "new", at(2*time.Hour), time.Hour)
	addFailure(t, s, "gone", at(2*time.Hour), time.Hour)
	checkTwice(t, "ClearSignInFailures", s, func(tx store.Tx) (bool, error) { return tx.ClearSignInFailures(ctx, "gone") })
	var pruned int
	write(t, s, func(tx store.Tx) error {
		var err error
		pruned, err = tx.PruneSignInFailures(ctx, at(time.Hour))
		return err
	})
	if pruned != 1 {
		t.Errorf("PruneSignInFailures deleted %d, want 1", pruned)
	}
	got, err := s.SignInFailures(ctx, []string{"old", "new", "gone"})
	noErr(t, "SignInFailures", err)
	assertEqual(t, "records left", map[string]store.SignInFailure{"new": {Count: 1, Last: at(2 * time.Hour)}}, got)
}

// testSignInConcurrent counts failures from parallel transactions: the
// count is the throttle's, so a lost increment is a free guess.
func testSignInConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				err := s.Tx(ctx, func(tx store.Tx) error {
					_, err := tx.AddSignInFailure(ctx, "hot", at(time.Minute), at(-time.Hour))
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	noErr(t, "concurrent AddSignInFailure", errors.Join(func() (out []error) {
		for err := range errs {
			out = append(out, err)
		}
		return out
	}()...))
	got, err := s.SignInFailures(ctx, []string{"hot"})
	noErr(t, "SignInFailures", err)
	if got["hot"].Count != workers*each {
		t.Fatalf("count after %d concurrent failures = %d: an increment was lost", workers*each, got["hot"].Count)
	}
}
