package scim_test

import (
	"fmt"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// bulkUsers creates n SCIM users through state and returns their SCIM ids.
func bulkUsers(t testing.TB, e *env, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		u, err := e.st.SCIMCreateUser(t.Context(), identity.User{Login: fmt.Sprintf("bulk%06d", i), Name: "Bulk"})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = fmt.Sprintf("u-%d", u.ID)
	}
	return ids
}
