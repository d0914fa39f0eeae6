package conformance

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var lockTests = []test{
	{"TryLock", testTryLock},
	{"Names", testLockNames},
	{"Concurrent", testLockConcurrent},
}

// locker returns s as a store.Locker, or skips: the capability is optional.
func locker(t *testing.T, s store.Store) store.Locker {
	t.Helper()
	l, ok := s.(store.Locker)
	if !ok {
		t.Skipf("%T does not implement store.Locker", s)
	}
	return l
}

// mustLock takes the lock name and fails the test unless it was free.
func mustLock(t *testing.T, l store.Locker, name string) func() {
	t.Helper()
	unlock, ok, err := l.TryLock(t.Context(), name)
	if err != nil || !ok {
		t.Fatalf("TryLock(%q) = %v, %v; want it taken", name, ok, err)
	}
	return unlock
}

// wantBusy fails the test unless the lock name is held by someone else.
func wantBusy(t *testing.T, l store.Locker, name string) {
	t.Helper()
	unlock, ok, err := l.TryLock(t.Context(), name)
	if err != nil || ok {
		if ok {
			unlock()
		}
		t.Fatalf("TryLock(%q) of a held lock = %v, %v; want false, nil", name, ok, err)
	}
}

func testTryLock(t *testing.T, s store.Store) {
	l := locker(t, s)
	unlock := mustLock(t, l, "provision.gitlab")
	wantBusy(t, l, "provision.gitlab")
	// Names are independent.
	other := mustLock(t, l, "provision.ldap")
	unlock()
	unlock() // a second call is a no-op, not a release of a new holder
	again := mustLock(t, l, "provision.gitlab")
	unlock()
	wantBusy(t, l, "provision.gitlab")
	again()
	other()
	mustLock(t, l, "provision.ldap")()
}

func testLockNames(t *testing.T, s store.Store) {
	l := locker(t, s)
	for _, name := range []string{"a", "provision.gitlab", "A-Z_0.9", strings.Repeat("x", 100)} {
		mustLock(t, l, name)()
	}
	for _, name := range []string{"", ".hidden", "a/b", "../x", "a b", "a:b", "é", strings.Repeat("x", 101)} {
		unlock, ok, err := l.TryLock(t.Context(), name)
		if ok {
			unlock()
		}
		wantErrIs(t, "TryLock("+name+")", err, identity.ErrInvalid)
	}
}

// testLockConcurrent races holders of one name: never two at once.
func testLockConcurrent(t *testing.T, s store.Store) {
	l := locker(t, s)
	const workers, rounds = 8, 20
	var holders, wins atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				unlock, ok, err := l.TryLock(t.Context(), "provision.race")
				if err != nil {
					t.Errorf("TryLock: %v", err)
					return
				}
				if !ok {
					continue
				}
				if n := holders.Add(1); n != 1 {
					t.Errorf("%d holders of one lock at once", n)
				}
				wins.Add(1)
				holders.Add(-1)
				unlock()
			}
		}()
	}
	wg.Wait()
	if wins.Load() == 0 {
		t.Error("no worker ever got the lock")
	}
	mustLock(t, l, "provision.race")()
}
