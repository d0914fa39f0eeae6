package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/conformance"
)

// postgresEnv names the variable holding the PostgreSQL URL of the tests.
const postgresEnv = "GATEHOUSE_TEST_POSTGRES"

// openSQLite returns an unmigrated store on a fresh file.
func openSQLite(t *testing.T) *Store {
	t.Helper()
	s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "sub", "gatehouse.db"), nil)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// postgresURL returns the test database URL. Without one the test is skipped,
// except on CI where PostgreSQL must be tested.
func postgresURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv(postgresEnv)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is not set: PostgreSQL must be tested on CI", postgresEnv)
		}
		t.Skipf("%s is not set; skipping PostgreSQL tests (e.g. %s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", postgresEnv, postgresEnv)
	}
	return u
}

// withSearchPath returns the URL (or keyword/value string) u connecting with
// search_path set to schema.
func withSearchPath(t *testing.T, u, schema string) string {
	t.Helper()
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatalf("parse %s: %v", postgresEnv, err)
		}
		q := pu.Query()
		q.Set("search_path", schema)
		pu.RawQuery = q.Encode()
		return pu.String()
	}
	return u + " search_path=" + schema
}

// openPostgres returns an unmigrated store in a fresh schema, dropped at
// cleanup. An unreachable server fails the test: the variable was set, so
// PostgreSQL was meant to be tested.
func openPostgres(t *testing.T) *Store {
	t.Helper()
	u := postgresURL(t)
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		t.Fatalf("parse %s: %v", postgresEnv, err)
	}
	admin := stdlib.OpenDB(*cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		t.Fatalf("PostgreSQL at %s=%q is unreachable: %v", postgresEnv, u, err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "gh_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	s, err := OpenPostgres(ctx, withSearchPath(t, u, schema), nil)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		// The test's context is done by now.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		_ = admin.Close()
	})
	return s
}

// migrated returns s after migrating it.
func migrated(t *testing.T, s *Store) *Store {
	t.Helper()
	if _, err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// flavors are the backends every test runs on.
var flavors = []struct {
	name string
	open func(t *testing.T) *Store
}{
	{"SQLite", openSQLite},
	{"Postgres", openPostgres},
}

// eachFlavor runs test on a fresh migrated store of each backend.
func eachFlavor(t *testing.T, test func(t *testing.T, s *Store)) {
	for _, f := range flavors {
		t.Run(f.name, func(t *testing.T) { test(t, migrated(t, f.open(t))) })
	}
}

// tx runs fn in a transaction and fails the test on error.
func tx(t *testing.T, s *Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := s.Tx(t.Context(), fn); err != nil {
		t.Fatalf("Tx: %v", err)
	}
}

// txErr runs fn in a transaction and returns its error.
func txErr(t *testing.T, s *Store, fn func(tx store.Tx) error) error {
	t.Helper()
	return s.Tx(t.Context(), fn)
}

func TestConformanceSQLite(t *testing.T) {
	conformance.RunTests(t, func(t *testing.T) store.Store { return migrated(t, openSQLite(t)) })
}

func TestConformancePostgres(t *testing.T) {
	postgresURL(t) // skips or fails before the suite starts
	conformance.RunTests(t, func(t *testing.T) store.Store { return migrated(t, openPostgres(t)) })
}

func TestMigrateIdempotent(t *testing.T) {
	for _, f := range flavors {
		t.Run(f.name, func(t *testing.T) {
			s := f.open(t)
			n, err := s.Migrate(t.Context())
			if err != nil || n != len(migrations) {
				t.Fatalf("first Migrate = %d, %v; want %d, nil", n, err, len(migrations))
			}
			n, err = s.Migrate(t.Context())
			if err != nil || n != 0 {
				t.Fatalf("second Migrate = %d, %v; want 0, nil", n, err)
			}
		})
	}
}

// TestMigrateGrantsByProject upgrades a store holding grants to the
// project-first key (version 12): every grant survives.
func TestMigrateGrantsByProject(t *testing.T) {
	all := migrations
	t.Cleanup(func() { migrations = all })
	for _, f := range flavors {
		t.Run(f.name, func(t *testing.T) {
			migrations = all[:slices.IndexFunc(all, func(m migration) bool { return m.version == 12 })]
			s := migrated(t, f.open(t))
			want := []identity.Grant{
				{Subject: identity.UserSubject(7), ProjectID: 3, Permission: identity.PermScan},
				{Subject: identity.GroupSubject(2), ProjectID: 3, Permission: identity.PermUser},
				{Subject: identity.Anyone, Permission: identity.PermProvisioning},
			}
			if err := s.Tx(t.Context(), func(tx store.Tx) error {
				for _, g := range want {
					if _, err := tx.AddGrant(t.Context(), g); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			migrations = all
			if n, err := s.Migrate(t.Context()); err != nil || n != 1 {
				t.Fatalf("upgrade = %d, %v", n, err)
			}
			got, err := s.ListGrants(t.Context(), store.GrantFilter{})
			if err != nil || len(got) != len(want) {
				t.Fatalf("grants after the upgrade = %v, %v; want %v", got, err, want)
			}
			for _, g := range want {
				if !slices.Contains(got, g) {
					t.Errorf("grant %+v lost in the upgrade", g)
				}
			}
		})
	}
}

// TestMigrationsAppendOnly checks the list's order: versions ascend from 1
// without repeats. A number may be missing while the work that reserved it
// has not landed (PROTOCOL: 6 sessions, 7 change log, 8 SSO); the runner
// applies it when it appears (TestNextMigrationFillsGaps).
func TestMigrationsAppendOnly(t *testing.T) {
	if len(migrations) == 0 || migrations[0].version != 1 {
		t.Fatal("the first migration must have version 1")
	}
	for i := 1; i < len(migrations); i++ {
		if migrations[i].version <= migrations[i-1].version {
			t.Errorf("migration %d has version %d after %d; versions must ascend", i, migrations[i].version, migrations[i-1].version)
		}
	}
}

// TestNextMigrationFillsGaps checks that a version landing after a higher
// one was applied is still applied, and nothing twice.
func TestNextMigrationFillsGaps(t *testing.T) {
	list := []migration{{version: 1}, {version: 2}, {version: 3}, {version: 4}}
	for _, tc := range []struct {
		name    string
		applied []int
		want    int // 0: none pending
	}{
		{"fresh", nil, 1},
		{"in order", []int{1, 2}, 3},
		{"a gap below the highest", []int{1, 2, 4}, 3},
		{"all", []int{1, 2, 3, 4}, 0},
		{"unknown newer versions", []int{1, 2, 3, 4, 9}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			applied := map[int]bool{}
			for _, v := range tc.applied {
				applied[v] = true
			}
			got := 0
			if m := nextMigration(list, applied); m != nil {
				got = m.version
			}
			if got != tc.want {
				t.Errorf("next migration = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestMigrateConcurrentPostgres(t *testing.T) {
	u := postgresURL(t)
	// Two stores on one fresh schema stand for two replicas starting at once.
	first := openPostgres(t)
	var schema string
	if err := first.rdb.QueryRowContext(t.Context(), "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	second, err := OpenPostgres(t.Context(), withSearchPath(t, u, schema), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	var wg sync.WaitGroup
	counts := make([]int, 2)
	errs := make([]error, 2)
	for i, s := range []*Store{first, second} {
		wg.Go(func() { counts[i], errs[i] = s.Migrate(t.Context()) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("concurrent Migrate errors: %v, %v", errs[0], errs[1])
	}
	if counts[0]+counts[1] != len(migrations) {
		t.Fatalf("concurrent Migrate applied %d+%d; want %d in all", counts[0], counts[1], len(migrations))
	}
}

func TestOpenSQLiteRejectsMemory(t *testing.T) {
	if _, err := OpenSQLite(t.Context(), ":memory:", nil); err == nil {
		t.Fatal("OpenSQLite(:memory:) succeeded; want an error")
	}
}

func TestRoundTrip(t *testing.T) {
	eachFlavor(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		at := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))
		var u identity.User
		var tok identity.Token
		var run identity.SyncRun
		var tpl identity.Template
		tx(t, s, func(tx store.Tx) error {
			var err error
			u, err = tx.CreateUser(ctx, identity.User{Login: "alice", Name: "Alice", Email: "a@x", Source: identity.SourceLDAP,
				ExternalID: "cn=alice", Active: true, PasswordHash: "h", SCMAccounts: []string{"al", "ice"}, LastLoginAt: at})
			if err != nil {
				return err
			}
			tok, err = tx.CreateToken(ctx, identity.Token{Name: "ci", Type: identity.TokenUser, UserID: u.ID,
				Hash: []byte{1, 2, 3}, PrevHash: []byte{4}, PrevValidUntil: at, ExpiresAt: at.Add(time.Hour),
				Permissions: []identity.Permission{identity.PermScan}, Scope: identity.TokenScope{Set: identity.SetPublic, Patterns: []string{"a.*"}},
				SCIMScopes: []string{"users:read"}})
			if err != nil {
				return err
			}
			run, err = tx.CreateSyncRun(ctx, identity.SyncRun{Source: identity.SourceGitLab, Trigger: identity.TriggerManual,
				Status: identity.SyncRunning, StartedAt: at, Counts: identity.SyncCounts{UsersCreated: 3}, Warnings: []string{"w"}})
			if err != nil {
				return err
			}
			tpl, err = tx.CreateTemplate(ctx, identity.Template{Name: "Default", KeyPattern: "x.*", Grants: []identity.TemplateGrant{
				{Subject: identity.Subject{Kind: identity.SubjectCreator}, Permission: identity.PermAdmin},
				{Subject: identity.UserSubject(u.ID), Permission: identity.PermUser},
			}})
			return err
		})
		if !u.LastLoginAt.Equal(at.Truncate(time.Microsecond)) || u.LastLoginAt.Location() != time.UTC {
			t.Errorf("CreateUser LastLoginAt = %v; want %v in UTC", u.LastLoginAt, at.Truncate(time.Microsecond))
		}
		gotU, err := s.GetUser(ctx, u.ID)
		if err != nil || !reflect.DeepEqual(gotU, u) {
			t.Errorf("GetUser = %+v, %v; want %+v", gotU, err, u)
		}
		gotT, err := s.GetTokenByHash(ctx, []byte{4})
		if err != nil || !reflect.DeepEqual(gotT, tok) {
			t.Errorf("GetTokenByHash(prev) = %+v, %v; want %+v", gotT, err, tok)
		}
		gotR, err := s.GetSyncRun(ctx, run.ID)
		if err != nil || !reflect.DeepEqual(gotR, run) {
			t.Errorf("GetSyncRun = %+v, %v; want %+v", gotR, err, run)
		}
		gotTpl, err := s.GetTemplateByName(ctx, "DEFAULT")
		if err != nil || !reflect.DeepEqual(gotTpl, tpl) {
			t.Errorf("GetTemplateByName = %+v, %v; want %+v", gotTpl, err, tpl)
		}
		if _, err := s.GetTokenByHash(ctx, []byte{9}); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("GetTokenByHash(unknown) error = %v; want ErrNotFound", err)
		}
	})
}

func TestUniqueViolations(t *testing.T) {
	eachFlavor(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		var alice identity.User
		tx(t, s, func(tx store.Tx) error {
			var err error
			if alice, err = tx.CreateUser(ctx, identity.User{Login: "alice", Source: identity.SourceLocal, Active: true}); err != nil {
				return err
			}
			if _, err := tx.CreateGroup(ctx, identity.Group{Name: "devs", Source: identity.SourceLocal}); err != nil {
				return err
			}
			if _, err := tx.CreateProject(ctx, identity.Project{Key: "p1", Visibility: identity.Private, Source: identity.SourceLocal}); err != nil {
				return err
			}
			if _, err := tx.CreateTemplate(ctx, identity.Template{Name: "Default"}); err != nil {
				return err
			}
			if _, err := tx.CreateToken(ctx, identity.Token{Name: "ci", Type: identity.TokenUser, UserID: alice.ID, Hash: []byte("h1")}); err != nil {
				return err
			}
			_, err = tx.CreateToken(ctx, identity.Token{Name: "org", Type: identity.TokenOrganization, Hash: []byte("h2")})
			return err
		})
		dups := map[string]func(tx store.Tx) error{
			"user login": func(tx store.Tx) error {
				_, err := tx.CreateUser(ctx, identity.User{Login: "alice", Source: identity.SourceLocal})
				return err
			},
			"group name": func(tx store.Tx) error {
				_, err := tx.CreateGroup(ctx, identity.Group{Name: "devs", Source: identity.SourceLocal})
				return err
			},
			"project key": func(tx store.Tx) error {
				_, err := tx.CreateProject(ctx, identity.Project{Key: "p1", Visibility: identity.Public, Source: identity.SourceLocal})
				return err
			},
			"template name, other case": func(tx store.Tx) error {
				_, err := tx.CreateTemplate(ctx, identity.Template{Name: "DEFAULT"})
				return err
			},
			"token name of user": func(tx store.Tx) error {
				_, err := tx.CreateToken(ctx, identity.Token{Name: "ci", Type: identity.TokenGlobalAnalysis, UserID: alice.ID, Hash: []byte("h3")})
				return err
			},
			"organization token name": func(tx store.Tx) error {
				_, err := tx.CreateToken(ctx, identity.Token{Name: "org", Type: identity.TokenOrganization, Hash: []byte("h4")})
				return err
			},
		}
		for name, fn := range dups {
			if err := txErr(t, s, fn); !errors.Is(err, identity.ErrAlreadyExists) {
				t.Errorf("%s: error = %v; want ErrAlreadyExists", name, err)
			}
		}
		oks := map[string]func(tx store.Tx) error{
			"user login, other case": func(tx store.Tx) error {
				_, err := tx.CreateUser(ctx, identity.User{Login: "Alice", Source: identity.SourceLocal})
				return err
			},
			"group name, other case": func(tx store.Tx) error {
				_, err := tx.CreateGroup(ctx, identity.Group{Name: "Devs", Source: identity.SourceLocal})
				return err
			},
			"SCIM token named like an organization token": func(tx store.Tx) error {
				_, err := tx.CreateToken(ctx, identity.Token{Name: "org", Type: identity.TokenSCIM, Hash: []byte("h5")})
				return err
			},
		}
		for name, fn := range oks {
			if err := txErr(t, s, fn); err != nil {
				t.Errorf("%s: error = %v; want nil", name, err)
			}
		}
		missing := map[string]func(tx store.Tx) error{
			"update user":   func(tx store.Tx) error { return tx.UpdateUser(ctx, identity.User{ID: 999, Login: "x"}) },
			"delete group":  func(tx store.Tx) error { return tx.DeleteGroup(ctx, 999) },
			"delete token":  func(tx store.Tx) error { return tx.DeleteToken(ctx, 999) },
			"add member":    func(tx store.Tx) error { _, err := tx.AddMember(ctx, alice.ID, 999); return err },
			"token project": func(tx store.Tx) error { return tx.AddTokenProjects(ctx, 999, []int64{1}) },
			"get setting":   func(tx store.Tx) error { _, err := tx.GetSetting(ctx, "nope"); return err },
		}
		for name, fn := range missing {
			if err := txErr(t, s, fn); !errors.Is(err, identity.ErrNotFound) {
				t.Errorf("%s: error = %v; want ErrNotFound", name, err)
			}
		}
		if _, err := s.GetProject(ctx, 999); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("GetProject(999) error = %v; want ErrNotFound", err)
		}
	})
}

func TestTokenProjects10k(t *testing.T) {
	eachFlavor(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		const n = 10_000
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = int64(n - i) // descending, to check the listing sorts
		}
		var tok identity.Token
		tx(t, s, func(tx store.Tx) error {
			var err error
			tok, err = tx.CreateToken(ctx, identity.Token{Name: "org", Type: identity.TokenOrganization, Hash: []byte("h")})
			if err != nil {
				return err
			}
			if err := tx.AddTokenProjects(ctx, tok.ID, ids); err != nil {
				return err
			}
			return tx.AddTokenProjects(ctx, tok.ID, ids[:100]) // idempotent
		})
		got, total, err := s.ListTokenProjects(ctx, tok.ID, store.Page{Number: 3, Size: 1000})
		if err != nil || total != n || len(got) != 1000 || got[0] != 2001 || got[999] != 3000 {
			t.Fatalf("ListTokenProjects page 3 = %d ids from %v, total %d, %v", len(got), got[:min(1, len(got))], total, err)
		}
		all, _, err := s.ListTokenProjects(ctx, tok.ID, store.Page{})
		if err != nil || len(all) != n {
			t.Fatalf("ListTokenProjects all = %d, %v", len(all), err)
		}
		if g, err := s.GetToken(ctx, tok.ID); err != nil || g.Scope.ProjectCount != n {
			t.Fatalf("GetToken ProjectCount = %d, %v; want %d", g.Scope.ProjectCount, err, n)
		}
		tx(t, s, func(tx store.Tx) error { return tx.RemoveTokenProjects(ctx, tok.ID, ids[:n-10]) })
		got, total, err = s.ListTokenProjects(ctx, tok.ID, store.Page{})
		if err != nil || total != 10 || !reflect.DeepEqual(got, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) {
			t.Fatalf("after remove: %v, total %d, %v", got, total, err)
		}
		tx(t, s, func(tx store.Tx) error { return tx.DeleteToken(ctx, tok.ID) })
		if _, total, _ := s.ListTokenProjects(ctx, tok.ID, store.Page{}); total != 0 {
			t.Fatalf("after DeleteToken %d rows remain", total)
		}
	})
}

func TestCascades(t *testing.T) {
	eachFlavor(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		var u identity.User
		var g identity.Group
		var p, q identity.Project
		var org, pa identity.Token
		tx(t, s, func(tx store.Tx) error {
			var err error
			if u, err = tx.CreateUser(ctx, identity.User{Login: "u", Source: identity.SourceLocal, Active: true}); err != nil {
				return err
			}
			if g, err = tx.CreateGroup(ctx, identity.Group{Name: "g", Source: identity.SourceLocal}); err != nil {
				return err
			}
			if p, err = tx.CreateProject(ctx, identity.Project{Key: "p", Visibility: identity.Private, Source: identity.SourceLocal}); err != nil {
				return err
			}
			if q, err = tx.CreateProject(ctx, identity.Project{Key: "q", Visibility: identity.Private, Source: identity.SourceLocal}); err != nil {
				return err
			}
			if org, err = tx.CreateToken(ctx, identity.Token{Name: "org", Type: identity.TokenOrganization, Hash: []byte("o")}); err != nil {
				return err
			}
			if pa, err = tx.CreateToken(ctx, identity.Token{Name: "pa", Type: identity.TokenProjectAnalysis, UserID: u.ID, ProjectID: p.ID, Hash: []byte("p")}); err != nil {
				return err
			}
			if err := tx.AddTokenProjects(ctx, org.ID, []int64{p.ID, q.ID}); err != nil {
				return err
			}
			if _, err := tx.AddMember(ctx, u.ID, g.ID); err != nil {
				return err
			}
			for _, gr := range []identity.Grant{
				{Subject: identity.GroupSubject(g.ID), ProjectID: p.ID, Permission: identity.PermUser},
				{Subject: identity.GroupSubject(g.ID), Permission: identity.PermScan},
				{Subject: identity.UserSubject(u.ID), ProjectID: p.ID, Permission: identity.PermAdmin},
				{Subject: identity.UserSubject(u.ID), ProjectID: q.ID, Permission: identity.PermAdmin},
			} {
				if _, err := tx.AddGrant(ctx, gr); err != nil {
					return err
				}
			}
			return nil
		})
		tx(t, s, func(tx store.Tx) error {
			if err := tx.DeleteGroup(ctx, g.ID); err != nil {
				return err
			}
			return tx.DeleteProject(ctx, p.ID)
		})
		grants, err := s.ListGrants(ctx, store.GrantFilter{})
		want := []identity.Grant{{Subject: identity.UserSubject(u.ID), ProjectID: q.ID, Permission: identity.PermAdmin}}
		if err != nil || !reflect.DeepEqual(grants, want) {
			t.Errorf("grants after deletes = %+v, %v; want %+v", grants, err, want)
		}
		if ms, err := s.ListMemberships(ctx, 0, 0); err != nil || len(ms) != 0 {
			t.Errorf("memberships after DeleteGroup = %v, %v", ms, err)
		}
		if _, err := s.GetToken(ctx, pa.ID); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("project analysis token after DeleteProject: %v; want ErrNotFound", err)
		}
		ids, _, err := s.ListTokenProjects(ctx, org.ID, store.Page{})
		if err != nil || !reflect.DeepEqual(ids, []int64{q.ID}) {
			t.Errorf("token projects after DeleteProject = %v, %v; want [%d]", ids, err, q.ID)
		}
	})
}

func TestListFilters(t *testing.T) {
	eachFlavor(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		tx(t, s, func(tx store.Tx) error {
			for _, u := range []identity.User{
				{Login: "bob", Name: "Bob 100%", Source: identity.SourceLocal, Active: true},
				{Login: "Alice", Name: "A_lice", Source: identity.SourceSCIM, ExternalID: "e1", Active: true},
				{Login: "carol", Email: "CAROL@x", Source: identity.SourceLocal, Active: false},
				{Login: "elodie", Name: "ÉLODIE", Source: identity.SourceLocal, Active: true},
			} {
				if _, err := tx.CreateUser(ctx, u); err != nil {
					return err
				}
			}
			return nil
		})
		logins := func(f store.UserFilter) ([]string, int) {
			t.Helper()
			us, total, err := s.ListUsers(ctx, f)
			if err != nil {
				t.Fatalf("ListUsers(%+v): %v", f, err)
			}
			var out []string
			for _, u := range us {
				out = append(out, u.Login)
			}
			return out, total
		}
		yes, no := true, false
		for _, c := range []struct {
			f     store.UserFilter
			want  []string
			total int
		}{
			{store.UserFilter{}, []string{"Alice", "bob", "carol", "elodie"}, 4},
			{store.UserFilter{Page: store.Page{Number: 2, Size: 3}}, []string{"elodie"}, 4},
			// Only ASCII letters fold, alike in both dialects.
			{store.UserFilter{Query: "Élod"}, []string{"elodie"}, 1},
			{store.UserFilter{Query: "élod"}, nil, 0},
			{store.UserFilter{Query: "%"}, []string{"bob"}, 1},
			{store.UserFilter{Query: "a_l"}, []string{"Alice"}, 1},
			{store.UserFilter{Query: "carol@"}, []string{"carol"}, 1},
			{store.UserFilter{Active: &no}, []string{"carol"}, 1},
			{store.UserFilter{Managed: &yes}, []string{"Alice"}, 1},
			{store.UserFilter{Managed: &no, Active: &yes}, []string{"bob", "elodie"}, 2},
			{store.UserFilter{Source: identity.SourceSCIM, ExternalID: "e1"}, []string{"Alice"}, 1},
			{store.UserFilter{IDs: []int64{}}, nil, 0},
		} {
			got, total := logins(c.f)
			if !reflect.DeepEqual(got, c.want) || total != c.total {
				t.Errorf("ListUsers(%+v) = %v, %d; want %v, %d", c.f, got, total, c.want, c.total)
			}
		}
	})
}

func TestSnapshotContents(t *testing.T) {
	eachFlavor(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		var live, revoked, expired identity.Token
		tx(t, s, func(tx store.Tx) error {
			u, err := tx.CreateUser(ctx, identity.User{Login: "u", PasswordHash: "secret", Source: identity.SourceLocal, Active: true})
			if err != nil {
				return err
			}
			if live, err = tx.CreateToken(ctx, identity.Token{Name: "live", Type: identity.TokenOrganization, Hash: []byte("l"),
				ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				return err
			}
			if revoked, err = tx.CreateToken(ctx, identity.Token{Name: "revoked", Type: identity.TokenUser, UserID: u.ID, Hash: []byte("r"),
				RevokedAt: time.Now()}); err != nil {
				return err
			}
			if expired, err = tx.CreateToken(ctx, identity.Token{Name: "expired", Type: identity.TokenOrganization, Hash: []byte("e"),
				ExpiresAt: time.Now().Add(-time.Hour)}); err != nil {
				return err
			}
			if err := tx.AddTokenProjects(ctx, live.ID, []int64{3, 1, 2}); err != nil {
				return err
			}
			return tx.AddTokenProjects(ctx, expired.ID, []int64{1})
		})
		snap, err := s.Snapshot(ctx)
		if err != nil {
			t.Fatalf("Snapshot: %v", err)
		}
		if len(snap.Users) != 1 || snap.Users[0].PasswordHash != "" {
			t.Errorf("snapshot users = %+v; want one without password", snap.Users)
		}
		if len(snap.Tokens) != 1 || snap.Tokens[0].ID != live.ID || snap.Tokens[0].Scope.ProjectCount != 3 {
			t.Errorf("snapshot tokens = %+v; want only %d with 3 projects", snap.Tokens, live.ID)
		}
		if want := map[int64][]int64{live.ID: {1, 2, 3}}; !reflect.DeepEqual(snap.TokenProjects, want) {
			t.Errorf("snapshot token projects = %v; want %v", snap.TokenProjects, want)
		}
		_ = revoked
	})
}

func TestConcurrentWritesSQLite(t *testing.T) {
	s := migrated(t, openSQLite(t))
	ctx := t.Context()
	const workers, perWorker = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				err := s.Tx(ctx, func(tx store.Tx) error {
					u, err := tx.CreateUser(ctx, identity.User{Login: fmt.Sprintf("u%d-%d", w, i), Source: identity.SourceLocal, Active: true})
					if err != nil {
						return err
					}
					if _, err := tx.GetUser(ctx, u.ID); err != nil {
						return err
					}
					_, err = tx.AppendAudit(ctx, identity.AuditEvent{Actor: "system", Action: "user.create", Target: "user:" + u.Login})
					return err
				})
				if err != nil {
					errs <- err
				}
				if _, _, err := s.ListUsers(ctx, store.UserFilter{Page: store.Page{Size: 5}}); err != nil {
					errs <- err
				}
				if _, err := s.Snapshot(ctx); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, total, err := s.ListUsers(ctx, store.UserFilter{}); err != nil || total != workers*perWorker {
		t.Fatalf("users = %d, %v; want %d", total, err, workers*perWorker)
	}
}

func TestTxRollback(t *testing.T) {
	eachFlavor(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		boom := errors.New("boom")
		err := s.Tx(ctx, func(tx store.Tx) error {
			if _, err := tx.CreateUser(ctx, identity.User{Login: "x", Source: identity.SourceLocal}); err != nil {
				return err
			}
			if _, err := tx.GetUserByLogin(ctx, "x"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx error = %v; want boom", err)
		}
		if _, err := s.GetUserByLogin(ctx, "x"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("after rollback GetUserByLogin error = %v; want ErrNotFound", err)
		}
	})
}

// BenchmarkSnapshotLarge measures Snapshot on 10k users, 1k groups, 5k
// projects, 100k memberships and 200k grants on SQLite.
func BenchmarkSnapshotLarge(b *testing.B) {
	ctx := b.Context()
	s, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "large.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := fillLarge(ctx, s.wdb); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled in %v", time.Since(start))
	b.ResetTimer()
	for b.Loop() {
		snap, err := s.Snapshot(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(snap.Grants) != 200_000 || len(snap.Memberships) != 100_000 {
			b.Fatalf("snapshot has %d grants, %d memberships", len(snap.Grants), len(snap.Memberships))
		}
	}
}

// fillLarge bulk-loads the large data set with raw SQL, which is much faster
// than going through the store one row at a time.
func fillLarge(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmts := []string{
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
		 INSERT INTO users (id, login, name, email, source, active, created_at, updated_at)
		 SELECT i, 'user' || i, 'User ' || i, 'u' || i || '@example.com', 'local', 1, 1, 1 FROM n`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
		 INSERT INTO user_groups (id, name, source, created_at, updated_at) SELECT i, 'group' || i, 'local', 1, 1 FROM n`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
		 INSERT INTO projects (id, project_key, name, visibility, source, created_at, updated_at)
		 SELECT i, 'project' || i, 'Project ' || i, 'private', 'local', 1, 1 FROM n`,
		// 10 groups per user.
		`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
		 INSERT INTO group_members (user_id, group_id) SELECT i / 10 + 1, (i * 7 + i / 10) % 1000 + 1 FROM n WHERE true
		 ON CONFLICT DO NOTHING`,
		// 40 grants per project, split between users and groups.
		`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 199999)
		 INSERT INTO grants (subject_kind, subject_id, project_id, permission)
		 SELECT CASE WHEN i % 2 = 0 THEN 'user' ELSE 'group' END, (i * 13) % 1000 + 1, i / 40 + 1,
		        CASE i % 5 WHEN 0 THEN 'user' WHEN 1 THEN 'codeviewer' WHEN 2 THEN 'issueadmin' WHEN 3 THEN 'admin' ELSE 'scan' END
		 FROM n WHERE true ON CONFLICT DO NOTHING`,
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%.60s: %w", q, err)
		}
	}
	return tx.Commit()
}

// TestHasSchema: a fresh database holds no schema, a migrated one does, on
// both backends (commands refuse to create a store by mistake from it).
func TestHasSchema(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(*testing.T) *Store
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.open(t)
			if has, err := s.HasSchema(t.Context()); err != nil || has {
				t.Fatalf("fresh: HasSchema = %v, %v; want false", has, err)
			}
			migrated(t, s)
			if has, err := s.HasSchema(t.Context()); err != nil || !has {
				t.Fatalf("migrated: HasSchema = %v, %v; want true", has, err)
			}
		})
	}
}

func TestValueRows(t *testing.T) {
	for _, tc := range []struct {
		rows, cols int
		want       string
	}{
		{1, 1, "(?)"},
		{1, 3, "(?, ?, ?)"},
		{3, 2, "(?, ?), (?, ?), (?, ?)"},
	} {
		if got := valueRows(tc.rows, tc.cols); got != tc.want {
			t.Errorf("valueRows(%d, %d) = %q, want %q", tc.rows, tc.cols, got, tc.want)
		}
	}
}
