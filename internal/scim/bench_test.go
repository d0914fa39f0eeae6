package scim_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// BenchmarkGroupMemberChange measures adding and removing one member of a
// group of 1,000 and of 100,000 members through the SCIM PATCH path of
// state (store transaction, audit event, index update): the cost is
// O(change), so both sizes cost the same per operation.
func BenchmarkGroupMemberChange(b *testing.B) {
	for _, size := range []int{1_000, 100_000} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			e := newEnv(b)
			gid, extra := benchGroup(b, e, size)
			ctx := state.WithActor(b.Context(), state.Actor{Name: "token:bench", Source: identity.SourceSCIM})
			edit := func(add bool) func(identity.Group) (state.GroupEdit, error) {
				return func(g identity.Group) (state.GroupEdit, error) {
					if add {
						return state.GroupEdit{Group: g, Add: []int64{extra}}, nil
					}
					return state.GroupEdit{Group: g, Remove: []int64{extra}}, nil
				}
			}
			b.ResetTimer()
			for i := range b.N {
				if _, err := e.st.SCIMUpdateGroup(ctx, gid, edit(i%2 == 0)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchGroup(b *testing.B, e *env, size int) (gid int64, extra int64) {
	b.Helper()
	ids := bulkUsers(b, e, size+1)
	var members []int64
	for _, s := range ids[:size] {
		id, _ := strconv.ParseInt(strings.TrimPrefix(s, "u-"), 10, 64)
		members = append(members, id)
	}
	extra, _ = strconv.ParseInt(strings.TrimPrefix(ids[size], "u-"), 10, 64)
	err := e.db.Tx(b.Context(), func(tx store.Tx) error {
		g, err := tx.CreateGroup(b.Context(), identity.Group{Name: fmt.Sprintf("big-%d", size), Source: identity.SourceSCIM})
		if err != nil {
			return err
		}
		gid = g.ID
		for _, u := range members {
			if _, err := tx.AddMember(b.Context(), u, g.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.st.Reload(b.Context()); err != nil {
		b.Fatal(err)
	}
	return gid, extra
}
