package state

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

func TestLookups(t *testing.T) {
	e := newEnv(t)
	ann := e.user("ann", "devs")
	e.user("gone")
	if _, err := e.s.DeactivateUser(e.ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	scim := WithActor(e.ctx, Actor{Name: "connector:scim", Source: identity.SourceSCIM})
	ops, err := e.s.CreateGroup(scim, identity.Group{Name: "ops", Source: identity.SourceSCIM, ExternalID: "g-1"})
	if err != nil {
		t.Fatal(err)
	}
	devs, err := e.s.Store().GetGroupByName(e.ctx, "devs")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ActiveUser", func(t *testing.T) {
		for _, tc := range []struct {
			login string
			id    int64
			err   string
		}{
			{"ann", ann.ID, ""},
			{"gone", 0, "User with login 'gone' is not found"},
			{"nobody", 0, "User with login 'nobody' is not found"},
		} {
			u, err := e.s.ActiveUser(e.ctx, tc.login)
			if tc.err == "" && (err != nil || u.ID != tc.id) || tc.err != "" && (!errors.Is(err, identity.ErrNotFound) || identity.Message(err) != tc.err) {
				t.Errorf("ActiveUser(%q) = %d, %v", tc.login, u.ID, err)
			}
		}
	})

	t.Run("GroupSubject", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			sub  identity.Subject
			src  identity.Source
			err  string
		}{
			{"devs", identity.GroupSubject(devs.ID), identity.SourceLocal, ""},
			{"ops", identity.GroupSubject(ops.ID), identity.SourceSCIM, ""},
			{"Anyone", identity.Anyone, "", ""},
			{"anyONE", identity.Anyone, "", ""},
			{"nope", identity.Subject{}, "", "No group with name 'nope'"},
		} {
			sub, src, err := e.s.GroupSubject(e.ctx, tc.name)
			if tc.err == "" && (err != nil || sub != tc.sub || src != tc.src) || tc.err != "" && (!errors.Is(err, identity.ErrNotFound) || identity.Message(err) != tc.err) {
				t.Errorf("GroupSubject(%q) = %v, %q, %v", tc.name, sub, src, err)
			}
		}
	})

	t.Run("ProjectIDs", func(t *testing.T) {
		var keys []string
		var want []int64
		// More than one chunk, in an order that is not the store's.
		for i := 1200; i > 0; i-- {
			keys = append(keys, fmt.Sprintf("p-%06d", i))
		}
		ids := e.bulkProjects("p", 1200)
		for i := range ids {
			want = append(want, ids[len(ids)-1-i])
		}
		for _, tc := range []struct {
			name string
			keys []string
			want []int64
			err  string
		}{
			{"none", nil, []int64{}, ""},
			{"all in order", keys, want, ""},
			{"one unknown", []string{"p-000001", "nope", "p-000002"}, nil, "Project 'nope' not found"},
			{"unknown in a later chunk", append(slices.Clone(keys), "late"), nil, "Project 'late' not found"},
		} {
			got, err := e.s.ProjectIDs(e.ctx, tc.keys)
			if tc.err == "" && (err != nil || !slices.Equal(got, tc.want)) || tc.err != "" && (!errors.Is(err, identity.ErrNotFound) || identity.Message(err) != tc.err) {
				t.Errorf("%s: ProjectIDs = %d ids, %v", tc.name, len(got), err)
			}
		}
	})
}
