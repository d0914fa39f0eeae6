package webapi

import (
	"context"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// goneAfterCommit is a store that goes away right after a write: once
// armed, the first transaction to commit makes every read below fail as
// an unreachable database does, until disarmed.
type goneAfterCommit struct {
	*sqlstore.Store
	armed, down atomic.Bool
}

var errGone = identity.Errorf(identity.ErrStoreUnavailable, "The database is unavailable. Please try again in a moment.")

func (s *goneAfterCommit) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	err := s.Store.Tx(ctx, fn)
	if err == nil && s.armed.Load() {
		s.down.Store(true)
	}
	return err
}

func (s *goneAfterCommit) gone() bool { return s.down.Load() }

func (s *goneAfterCommit) ListMemberships(ctx context.Context, userID, groupID int64) ([]identity.Membership, error) {
	if s.gone() {
		return nil, errGone
	}
	return s.Store.ListMemberships(ctx, userID, groupID)
}

func (s *goneAfterCommit) CountMembers(ctx context.Context, ids []int64) (map[int64]int, error) {
	if s.gone() {
		return nil, errGone
	}
	return s.Store.CountMembers(ctx, ids)
}

func (s *goneAfterCommit) ListGroups(ctx context.Context, f store.GroupFilter) ([]identity.Group, int, error) {
	if s.gone() {
		return nil, 0, errGone
	}
	return s.Store.ListGroups(ctx, f)
}

func (s *goneAfterCommit) ListUsers(ctx context.Context, f store.UserFilter) ([]identity.User, int, error) {
	if s.gone() {
		return nil, 0, errGone
	}
	return s.Store.ListUsers(ctx, f)
}

func (s *goneAfterCommit) GetUser(ctx context.Context, id int64) (identity.User, error) {
	if s.gone() {
		return identity.User{}, errGone
	}
	return s.Store.GetUser(ctx, id)
}

func (s *goneAfterCommit) GetUserByLogin(ctx context.Context, login string) (identity.User, error) {
	if s.gone() {
		return identity.User{}, errGone
	}
	return s.Store.GetUserByLogin(ctx, login)
}

func (s *goneAfterCommit) GetGroup(ctx context.Context, id int64) (identity.Group, error) {
	if s.gone() {
		return identity.Group{}, errGone
	}
	return s.Store.GetGroup(ctx, id)
}

func (s *goneAfterCommit) GetGroupByName(ctx context.Context, name string) (identity.Group, error) {
	if s.gone() {
		return identity.Group{}, errGone
	}
	return s.Store.GetGroupByName(ctx, name)
}

// TestWriteAnswersAfterCommit: the answer of a write that has committed
// never fails, even when the store cannot be read right after the commit;
// the same reads before a write answer 503 with Retry-After, not 500.
func TestWriteAnswersAfterCommit(t *testing.T) {
	lite, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "g.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	if _, err := lite.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	db := &goneAfterCommit{Store: lite}
	s := newTestServerOn(t, db)
	s.createUser("alice")
	s.post("api/user_groups/create", asAdmin, "name", "devs").must(t, 200)
	s.post("api/user_groups/add_user", asAdmin, "name", "devs", "login", "alice").must(t, 204)
	admin := bearer(s.userToken("admin", "after-commit"))
	s.get("api/authz/check", admin, "permission", "admin").must(t, 200)
	// Its first use is recorded in the background, in a transaction of its
	// own: wait for it, or it may commit during a case and arm the store
	// before the case's write.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ts, _, err := lite.ListTokens(t.Context(), store.TokenFilter{Types: []identity.TokenType{identity.TokenUser}})
		if err == nil && slices.ContainsFunc(ts, func(tk identity.Token) bool { return tk.Name == "after-commit" && !tk.LastUsedAt.IsZero() }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the token's use was never recorded (%v)", err)
		}
	}

	for _, tc := range []struct {
		name, path string
		kv         []string
		status     int
	}{
		{"create a group", "api/user_groups/create", []string{"name", "ops"}, 200},
		{"update a group", "api/user_groups/update", []string{"currentName", "devs", "description", "the developers"}, 200},
		{"update a user", "api/users/update", []string{"login", "alice", "name", "Alice A."}, 200},
		{"deactivate a user", "api/users/deactivate", []string{"login", "alice"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db.down.Store(false)
			db.armed.Store(true)
			defer func() { db.armed.Store(false); db.down.Store(false) }()
			r := s.post(tc.path, admin, tc.kv...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if !db.down.Load() {
				t.Fatal("the write did not commit")
			}
		})
	}
	// Before any write, the same failure is a 503 with Retry-After.
	db.down.Store(true)
	defer db.down.Store(false)
	r := s.post("api/user_groups/update", admin, "currentName", "devs", "description", "x").must(t, 503)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}
