package scim_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// goneAfterCommit is a store that goes away right after a write: once
// armed, the first transaction to commit makes membership listings fail as
// an unreachable database does, until disarmed.
type goneAfterCommit struct {
	*sqlstore.Store
	armed, down atomic.Bool
}

func (s *goneAfterCommit) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	err := s.Store.Tx(ctx, fn)
	if err == nil && s.armed.Load() {
		s.down.Store(true)
	}
	return err
}

func (s *goneAfterCommit) ListMemberships(ctx context.Context, userID, groupID int64) ([]identity.Membership, error) {
	if s.down.Load() {
		return nil, identity.Errorf(identity.ErrStoreUnavailable, "The database is unavailable. Please try again in a moment.")
	}
	return s.Store.ListMemberships(ctx, userID, groupID)
}

// TestWriteAnswersAfterCommit: a SCIM write that has committed answers its
// resource, memberships included, even when the store cannot list them
// right after the commit; a read that cannot answers 503, not 500.
func TestWriteAnswersAfterCommit(t *testing.T) {
	db := &goneAfterCommit{}
	e := newEnvOn(t, func(s *sqlstore.Store) store.Store { db.Store = s; return db })
	uid := e.do("POST", "/Users", map[string]any{"userName": "kim"}).must(t, 201).doc(t)["id"].(string)

	write := func(method, path string, body any, status int) map[string]any {
		t.Helper()
		db.down.Store(false)
		db.armed.Store(true)
		defer func() { db.armed.Store(false); db.down.Store(false) }()
		d := e.do(method, path, body).must(t, status).doc(t)
		if !db.down.Load() {
			t.Fatalf("%s %s did not commit", method, path)
		}
		return d
	}
	g := write("POST", "/Groups", map[string]any{"displayName": "eng", "members": []any{map[string]any{"value": uid}}}, 201)
	if ms, _ := g["members"].([]any); len(ms) != 1 {
		t.Fatalf("created group's members = %v, want kim", g["members"])
	}
	gid := g["id"].(string)
	g = write("PUT", "/Groups/"+gid, map[string]any{"displayName": "engineering", "members": []any{map[string]any{"value": uid}}}, 200)
	if ms, _ := g["members"].([]any); len(ms) != 1 || g["displayName"] != "engineering" {
		t.Fatalf("replaced group = %v", g)
	}
	u := write("PUT", "/Users/"+uid, map[string]any{"userName": "kim", "displayName": "Kim K."}, 200)
	if gs, _ := u["groups"].([]any); len(gs) != 1 {
		t.Fatalf("replaced user's groups = %v, want engineering", u["groups"])
	}
	write("POST", "/Users", map[string]any{"userName": "lee"}, 201)

	db.down.Store(true)
	defer db.down.Store(false)
	r := e.do("GET", "/Groups/"+gid, nil)
	r.must(t, 503)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}
