// Package sqltest opens throwaway stores for the tests of packages above the
// store: a SQLite file in the test's temporary directory, or a fresh schema
// of the PostgreSQL server named by GATEHOUSE_TEST_POSTGRES, dropped at
// cleanup.
package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// PostgresEnv names the variable holding the PostgreSQL URL of the tests.
const PostgresEnv = "GATEHOUSE_TEST_POSTGRES"

// SQLite returns a migrated store on a fresh file.
func SQLite(t testing.TB) *sqlstore.Store {
	t.Helper()
	return SQLiteReplicas(t, 1)[0]
}

// SQLiteReplicas returns n stores opened on one fresh, migrated file, as n
// replicas sharing it would open it.
func SQLiteReplicas(t testing.TB, n int) []*sqlstore.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	out := make([]*sqlstore.Store, n)
	for i := range out {
		s, err := sqlstore.OpenSQLite(t.Context(), path, nil)
		if err != nil {
			t.Fatalf("OpenSQLite: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		out[i] = migrated(t, s)
	}
	return out
}

// Postgres returns a migrated store in a fresh schema. Without
// GATEHOUSE_TEST_POSTGRES the test is skipped, except under CI=true, where
// PostgreSQL must be tested and its absence fails the test.
func Postgres(t testing.TB) *sqlstore.Store {
	t.Helper()
	return PostgresReplicas(t, 1)[0]
}

// PostgresReplicas returns n stores connected to one fresh, migrated
// schema, as n replicas sharing it would connect; skipped as Postgres is.
func PostgresReplicas(t testing.TB, n int) []*sqlstore.Store {
	t.Helper()
	u := PostgresURL(t)
	out := make([]*sqlstore.Store, n)
	// Registered after PostgresURL's cleanup, so it runs first: the stores
	// close before the schema is dropped.
	t.Cleanup(func() {
		for _, s := range out {
			if s != nil {
				_ = s.Close()
			}
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for i := range out {
		s, err := sqlstore.OpenPostgres(ctx, u, nil)
		if err != nil {
			t.Fatalf("OpenPostgres: %v", err)
		}
		out[i] = migrated(t, s)
	}
	return out
}

// PostgresURL returns the URL of a fresh, empty schema (no migration
// applied), dropped at cleanup, for tests of what opens a store by its
// URL; skipped as Postgres is.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(PostgresEnv)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is not set: PostgreSQL must be tested on CI", PostgresEnv)
		}
		t.Skipf("%s is not set; skipping the PostgreSQL variant", PostgresEnv)
	}
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	admin := stdlib.OpenDB(*cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "gh_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = admin.Close()
		t.Fatalf("PostgreSQL at %s: create schema: %v", PostgresEnv, err)
	}
	t.Cleanup(func() { dropSchema(t, admin, schema) })
	return withSearchPath(t, u, schema)
}

func dropSchema(t testing.TB, admin *sql.DB, schema string) {
	// The test's context is done by now.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
	}
	_ = admin.Close()
}

// withSearchPath returns the URL (or keyword/value string) u connecting with
// search_path set to schema.
func withSearchPath(t testing.TB, u, schema string) string {
	t.Helper()
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatalf("parse %s: %v", PostgresEnv, err)
		}
		q := pu.Query()
		q.Set("search_path", schema)
		pu.RawQuery = q.Encode()
		return pu.String()
	}
	return u + " search_path=" + schema
}

func migrated(t testing.TB, s *sqlstore.Store) *sqlstore.Store {
	t.Helper()
	if _, err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}
