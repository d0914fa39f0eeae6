package sqlstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The helper process of TestLockHolderDies: it takes a lock, says so on
// stdout and waits to be killed.
const (
	lockHelperEnv    = "GATEHOUSE_LOCK_HELPER" // sqlite or postgres
	lockHelperTarget = "GATEHOUSE_LOCK_HELPER_TARGET"
	lockHelperName   = "provision.helper"
)

// openPostgresAt opens a second store on the schema of s, with a connection
// pool of its own, as another replica would.
func openPostgresAt(t *testing.T, s *Store) (*Store, string) {
	t.Helper()
	var schema string
	if err := s.rdb.QueryRowContext(t.Context(), "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatalf("current_schema: %v", err)
	}
	u := withSearchPath(t, postgresURL(t), schema)
	other, err := OpenPostgres(t.Context(), u, nil)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { _ = other.Close() })
	return other, u
}

// openSQLiteAt opens another store on the database file of s.
func openSQLiteAt(t *testing.T, s *Store) *Store {
	t.Helper()
	other, err := OpenSQLite(t.Context(), s.path, nil)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { _ = other.Close() })
	return other
}

// tryLock calls TryLock and fails the test on error.
func tryLock(t *testing.T, s *Store, name string) (func(), bool) {
	t.Helper()
	unlock, ok, err := s.TryLock(t.Context(), name)
	if err != nil {
		t.Fatalf("TryLock(%q): %v", name, err)
	}
	return unlock, ok
}

// eventuallyLock polls TryLock until it succeeds or the deadline passes:
// a dead holder's lock is freed by the kernel or the server, not at once.
func eventuallyLock(t *testing.T, s *Store, name string, within time.Duration) func() {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if unlock, ok := tryLock(t, s, name); ok {
			return unlock
		}
		if time.Now().After(deadline) {
			t.Fatalf("lock %q still held after %v", name, within)
		}
		<-tick.C
	}
}

// TestLockTwoStores checks that two stores on one database, as two replicas
// would have, exclude each other, and that closing the holder frees the lock.
func TestLockTwoStores(t *testing.T) {
	for _, f := range flavors {
		t.Run(f.name, func(t *testing.T) {
			a := f.open(t)
			var b *Store
			if a.f.postgres {
				b, _ = openPostgresAt(t, a)
			} else {
				b = openSQLiteAt(t, a)
			}
			const name = "provision.gitlab"
			unlock, ok := tryLock(t, a, name)
			if !ok {
				t.Fatal("first TryLock failed")
			}
			if _, ok := tryLock(t, b, name); ok {
				t.Fatal("the second store took a lock the first holds")
			}
			unlock()
			unlockB, ok := tryLock(t, b, name)
			if !ok {
				t.Fatal("the second store cannot take the lock after unlock")
			}
			if _, ok := tryLock(t, a, name); ok {
				t.Fatal("the first store took a lock the second holds")
			}
			unlockB()

			// Closing a store releases what it holds; its unlock is then a
			// no-op.
			c := f.open(t)
			var d *Store
			if c.f.postgres {
				d, _ = openPostgresAt(t, c)
			} else {
				d = openSQLiteAt(t, c)
			}
			unlockC, ok := tryLock(t, c, name)
			if !ok {
				t.Fatal("TryLock on a fresh store failed")
			}
			if err := c.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			eventuallyLock(t, d, name, 5*time.Second)()
			unlockC()
			if _, _, err := c.TryLock(t.Context(), name); err == nil {
				t.Error("TryLock on a closed store succeeded")
			}
		})
	}
}

// TestLockPostgresConnectionDrops checks that the server frees the lock of a
// holder whose session ends without unlocking.
func TestLockPostgresConnectionDrops(t *testing.T) {
	a := openPostgres(t)
	b, _ := openPostgresAt(t, a)
	const name = "provision.ldap"
	unlock, ok := tryLock(t, a, name)
	if !ok {
		t.Fatal("first TryLock failed")
	}
	defer unlock()
	var schema string
	if err := b.rdb.QueryRowContext(t.Context(), "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	key := uint64(advisoryKey(schema, name))
	// pg_locks shows a bigint key as classid (high half) and objid (low
	// half) with objsubid 1.
	var killed int
	err := b.rdb.QueryRowContext(t.Context(), `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1
		AND classid::bigint = $1 AND objid::bigint = $2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
		int64(key>>32), int64(key&0xffffffff)).Scan(&killed)
	if err != nil {
		t.Fatalf("terminate the holder's backend: %v", err)
	}
	if killed != 1 {
		t.Fatalf("%d backends hold the lock, want 1", killed)
	}
	eventuallyLock(t, b, name, 10*time.Second)()
}

// TestLockPostgresSchemas checks that stores in two schemas of one database
// (two deployments, or two tests) do not share locks.
func TestLockPostgresSchemas(t *testing.T) {
	a, b := openPostgres(t), openPostgres(t)
	unlock, ok := tryLock(t, a, "provision.gitlab")
	if !ok {
		t.Fatal("TryLock failed")
	}
	defer unlock()
	unlockB, ok := tryLock(t, b, "provision.gitlab")
	if !ok {
		t.Fatal("a store in another schema contends for the lock")
	}
	unlockB()
}

// TestLockHolderDies kills a process holding the lock and checks that the
// lock is freed: by the kernel on SQLite, by the server on PostgreSQL.
func TestLockHolderDies(t *testing.T) {
	for _, f := range flavors {
		t.Run(f.name, func(t *testing.T) {
			s := f.open(t)
			target := s.path
			if s.f.postgres {
				_, target = openPostgresAt(t, s)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLockHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), lockHelperEnv+"="+f.name, lockHelperTarget+"="+target)
			cmd.Stderr = os.Stderr
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatalf("start helper: %v", err)
			}
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil || strings.TrimSpace(line) != "locked" {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("helper said %q, %v; want locked", line, err)
			}
			if _, ok := tryLock(t, s, lockHelperName); ok {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatal("took a lock another process holds")
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatalf("kill helper: %v", err)
			}
			_ = cmd.Wait()
			eventuallyLock(t, s, lockHelperName, 10*time.Second)()
		})
	}
}

// TestLockHelperProcess is the process TestLockHolderDies kills; run on its
// own it does nothing.
func TestLockHelperProcess(t *testing.T) {
	flavor, target := os.Getenv(lockHelperEnv), os.Getenv(lockHelperTarget)
	if flavor == "" {
		t.Skip("helper process of TestLockHolderDies")
	}
	var s *Store
	var err error
	if flavor == "Postgres" {
		s, err = OpenPostgres(t.Context(), target, nil)
	} else {
		s, err = OpenSQLite(t.Context(), target, nil)
	}
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	_, ok, err := s.TryLock(t.Context(), lockHelperName)
	if err != nil || !ok {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	fmt.Println("locked")
	// Hold the lock until killed (or until the parent goes away).
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
}

func TestAdvisoryKey(t *testing.T) {
	keys := map[int64]string{}
	for _, sn := range [][2]string{{"public", "provision.gitlab"}, {"public", "provision.ldap"}, {"other", "provision.gitlab"}, {"", "provision.gitlab"}} {
		k := advisoryKey(sn[0], sn[1])
		if k != advisoryKey(sn[0], sn[1]) {
			t.Fatalf("advisoryKey(%q, %q) is not stable", sn[0], sn[1])
		}
		if prev, dup := keys[k]; dup {
			t.Errorf("advisoryKey(%q, %q) = advisoryKey of %s", sn[0], sn[1], prev)
		}
		keys[k] = sn[0] + "/" + sn[1]
		if k == migrateLockKey {
			t.Errorf("advisoryKey(%q, %q) is the migration lock", sn[0], sn[1])
		}
	}
}

// TestLockFileName checks where the SQLite lock lives: beside the database,
// and left there after unlock.
func TestLockFileName(t *testing.T) {
	s := openSQLite(t)
	unlock, ok := tryLock(t, s, "provision.gitlab")
	if !ok {
		t.Fatal("TryLock failed")
	}
	unlock()
	want := s.path + ".provision.gitlab.lock"
	if _, err := os.Stat(want); err != nil {
		t.Errorf("lock file: %v", err)
	}
	if filepath.Dir(want) != filepath.Dir(s.path) {
		t.Errorf("lock file %s is not beside the database %s", want, s.path)
	}
}
