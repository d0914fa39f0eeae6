package scim_test

import (
	"fmt"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// bulkUsers creates n SCIM users in one store transaction (then reloads
// the index) and returns their SCIM ids: fixtures for large-group tests,
// whose subject is not user creation.
func bulkUsers(t testing.TB, e *env, n int) []string {
	t.Helper()
	ids := make([]string, n)
	err := e.db.Tx(t.Context(), func(tx store.Tx) error {
		for i := range ids {
			u, err := tx.CreateUser(t.Context(), identity.User{Login: fmt.Sprintf("bulk%06d", i), Name: "Bulk", Source: identity.SourceSCIM, Active: true})
			if err != nil {
				return err
			}
			ids[i] = fmt.Sprintf("u-%d", u.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	return ids
}
