package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var _ store.Locker = (*Store)(nil)

// maxLockName bounds lock names, which become file names on SQLite.
const maxLockName = 100

// unlockTimeout bounds the release of a PostgreSQL lock; unlock has no
// context of its own.
const unlockTimeout = 10 * time.Second

// lockTable is the set of locks a Store holds. It makes a second TryLock of
// the same name in this process fail without asking the database, and lets
// Close release what is still held: a *sql.Conn kept out of a closed pool
// would otherwise hold its advisory lock until the process exits.
type lockTable struct {
	mu sync.Mutex
	// held maps a name to its unlock function, nil while TryLock is still
	// asking the database.
	held   map[string]func()
	closed bool
}

var errStoreClosed = errors.New("store is closed")

// reserve claims name for a TryLock in progress; false if it is held or
// claimed already.
func (lt *lockTable) reserve(name string) (bool, error) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if lt.closed {
		return false, errStoreClosed
	}
	if _, taken := lt.held[name]; taken {
		return false, nil
	}
	if lt.held == nil {
		lt.held = make(map[string]func())
	}
	lt.held[name] = nil
	return true, nil
}

// commit records the unlock function of a reserved name. It fails when the
// store was closed in between; the caller then releases the lock itself.
func (lt *lockTable) commit(name string, unlock func()) bool {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if lt.closed {
		return false
	}
	lt.held[name] = unlock
	return true
}

// drop forgets name (after its release or a failed acquisition).
func (lt *lockTable) drop(name string) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	delete(lt.held, name)
}

// closeAll marks the table closed and releases every lock held.
func (lt *lockTable) closeAll() {
	lt.mu.Lock()
	lt.closed = true
	unlocks := make([]func(), 0, len(lt.held))
	for _, u := range lt.held {
		if u != nil {
			unlocks = append(unlocks, u)
		}
	}
	lt.mu.Unlock()
	for _, u := range unlocks {
		u()
	}
}

// TryLock implements store.Locker. On PostgreSQL the lock is a session-level
// advisory lock on a connection set aside until unlock, so the server frees it
// when the process dies or the connection drops; its key is derived from the
// schema and the name, so stores in different schemas of one database do not
// contend. On SQLite it is an exclusive flock(2) on the file
// "<database>.<name>.lock", which the kernel frees when the process dies.
func (s *Store) TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error) {
	if err := checkLockName(name); err != nil {
		return nil, false, err
	}
	ok, err = s.locks.reserve(name)
	if err != nil || !ok {
		if err != nil {
			err = fmt.Errorf("lock %s: %w", name, err)
		}
		return nil, false, err
	}
	var release func()
	if s.f.postgres {
		release, ok, err = s.tryAdvisoryLock(ctx, name)
	} else {
		release, ok, err = tryFileLock(s.path + "." + name + ".lock")
	}
	if err != nil || !ok {
		s.locks.drop(name)
		if err != nil {
			err = fmt.Errorf("lock %s: %w", name, err)
		}
		return nil, false, err
	}
	var once sync.Once
	unlock = func() {
		once.Do(func() {
			release()
			s.locks.drop(name)
		})
	}
	if !s.locks.commit(name, unlock) {
		unlock()
		return nil, false, fmt.Errorf("lock %s: %w", name, errStoreClosed)
	}
	return unlock, true, nil
}

// checkLockName accepts the names the store.Locker contract allows.
func checkLockName(name string) error {
	if name == "" || len(name) > maxLockName {
		return identity.Errorf(identity.ErrInvalid, "lock name must have 1 to %d characters", maxLockName)
	}
	for i := range len(name) {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return identity.Errorf(identity.ErrInvalid, "lock name %q: only letters, digits, '.', '_' and '-' are allowed", name)
		}
	}
	if name[0] == '.' {
		return identity.Errorf(identity.ErrInvalid, "lock name %q must not start with '.'", name)
	}
	return nil
}

// advisoryKey is the PostgreSQL advisory lock key of a lock name in a
// schema. Gatehouse's other advisory lock (migrateLockKey) is a constant; a
// collision with it would only make a lock wait for a migration.
func advisoryKey(schema, name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("gatehouse:" + schema + ":" + name))
	return int64(h.Sum64())
}

// tryAdvisoryLock takes the session-level advisory lock of name on a
// connection of its own, kept until release.
func (s *Store) tryAdvisoryLock(ctx context.Context, name string) (release func(), ok bool, err error) {
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("get connection: %w", err)
	}
	var schema string
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(current_schema(), '')").Scan(&schema); err != nil {
		discardConn(conn)
		return nil, false, fmt.Errorf("read schema: %w", err)
	}
	key := advisoryKey(schema, name)
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
		// The lock may have been granted before the error (a cancelled
		// context): only ending the session is sure to free it.
		discardConn(conn)
		return nil, false, fmt.Errorf("pg_try_advisory_lock: %w", err)
	}
	if !ok {
		if err := conn.Close(); err != nil {
			s.logger.WarnContext(ctx, "return connection to the pool", "err", err)
		}
		return nil, false, nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
		defer cancel()
		var released bool
		err := conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", key).Scan(&released)
		if err != nil || !released {
			// A session that may still hold the lock must not go back
			// to the pool; closing it frees the lock.
			s.logger.WarnContext(ctx, "advisory unlock failed; closing its connection", "lock", name, "released", released, "err", err)
			discardConn(conn)
			return
		}
		if err := conn.Close(); err != nil {
			s.logger.WarnContext(ctx, "return connection to the pool", "lock", name, "err", err)
		}
	}, true, nil
}

// discardConn closes conn's driver connection instead of returning it to the
// pool: database/sql drops a connection whose Raw callback reports it bad.
func discardConn(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}
