package dataset_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/dataset"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// TestLoad loads a small set into SQLite and checks that a state over it
// authenticates every secret and decides as an index built from the set.
func TestLoad(t *testing.T) {
	ctx := context.Background()
	set, err := dataset.Generate(dataset.Size{Users: 40, Groups: 8, Projects: 30, Memberships: 60, Grants: 120, Tokens: 20}, 3)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "g.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := dataset.Load(ctx, db, set)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Users) != 40 || len(m.Projects) != 30 || len(m.Tokens) != len(set.Secrets) {
		t.Fatalf("map sizes: %d users, %d projects, %d tokens", len(m.Users), len(m.Projects), len(m.Tokens))
	}
	st, err := state.New(ctx, db, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := authz.NewIndex(nil)
	if err := want.Load(set.Snapshot); err != nil {
		t.Fatal(err)
	}
	for i, secret := range set.Secrets {
		p, err := st.Authenticate(secret)
		if err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		if p.TokenID != m.Tokens[set.Snapshot.Tokens[i].ID] {
			t.Fatalf("token %d resolved to id %d", i, p.TokenID)
		}
		wp, _, err := want.Resolve(secret)
		if err != nil {
			t.Fatal(err)
		}
		for _, proj := range set.Snapshot.Projects {
			for _, perm := range identity.ProjectPermissions {
				got, exp := st.Index().Decide(p, perm, proj.Key).Allowed, want.Decide(wp, perm, proj.Key).Allowed
				if got != exp {
					t.Fatalf("token %d, %s on %s: got %v, want %v", i, perm, proj.Key, got, exp)
				}
			}
		}
	}
}
