package sqlstore

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestQueryLatency: reads outside transactions, statements inside one,
// whole transactions and snapshots each land in their own histogram, on
// both backends.
func TestQueryLatency(t *testing.T) {
	eachFlavor(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		before := s.QueryLatency()
		tx(t, s, func(tx store.Tx) error {
			_, err := tx.CreateUser(ctx, identity.User{Login: "lat", Source: identity.SourceLocal})
			return err
		})
		if _, err := s.GetUserByLogin(ctx, "lat"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ListUsers(ctx, store.UserFilter{}); err != nil { // a count and a listing
			t.Fatal(err)
		}
		if _, err := s.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
		after := s.QueryLatency()
		for op, atLeast := range map[string]uint64{"read": 3, "write": 1, "tx": 1, "snapshot": 1} {
			b, a := before[op], after[op]
			if a.Count-b.Count < atLeast {
				t.Errorf("%s: %d more observations, want at least %d", op, a.Count-b.Count, atLeast)
			}
			if a.Sum <= b.Sum {
				t.Errorf("%s: sum %v did not grow from %v", op, a.Sum, b.Sum)
			}
			if top := a.Buckets[LatencyBuckets[len(LatencyBuckets)-1]]; top > a.Count {
				t.Errorf("%s: %d in the buckets, more than the count %d", op, top, a.Count)
			}
		}
	})
}

func TestHistogramBuckets(t *testing.T) {
	s := &Store{}
	for _, d := range []time.Duration{50 * time.Microsecond, 100 * time.Microsecond, 3 * time.Millisecond, 10 * time.Second} {
		s.lat[opRead].observe(d)
	}
	l := s.QueryLatency()["read"]
	for le, want := range map[float64]uint64{.0001: 2, .001: 2, .005: 3, 5: 3} {
		if got := l.Buckets[le]; got != want {
			t.Errorf("le %v: %d, want %d", le, got, want)
		}
	}
	if l.Count != 4 || l.Sum != 10*time.Second+3*time.Millisecond+150*time.Microsecond {
		t.Errorf("count %d sum %v", l.Count, l.Sum)
	}
}

// BenchmarkLatencyObserve is the cost the timing adds to each statement:
// compare with BenchmarkGetUser, the cheapest statement there is.
func BenchmarkLatencyObserve(b *testing.B) {
	var h histogram
	for b.Loop() {
		h.since(time.Now())
	}
}

// BenchmarkGetUser is one primary-key read on SQLite, timed as every read
// is.
func BenchmarkGetUser(b *testing.B) {
	ctx := b.Context()
	s, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	var u identity.User
	if err := s.Tx(ctx, func(tx store.Tx) error {
		u, err = tx.CreateUser(ctx, identity.User{Login: "bench", Source: identity.SourceLocal})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.GetUser(ctx, u.ID); err != nil {
			b.Fatal(err)
		}
	}
}
