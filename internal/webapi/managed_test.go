package webapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// managedMsg is the message of a refused local edit of what src owns.
func managedMsg(src identity.Source, msg string) string {
	return identity.Message(identity.ManagedError(src, msg))
}

// TestSCIMManagedReadOnly walks every Web API write a SCIM-managed user or
// group refuses (SPEC §6): each answers 400 with a message naming the source,
// and nothing changes.
func TestSCIMManagedReadOnly(t *testing.T) {
	s := newTestServer(t)
	identManagedUser(t, s, "scim.user")
	identManagedUser(t, s, "scim.gone")
	identManagedGroup(t, s, "scim-group")
	s.createUser("alice")
	scimCtx := state.WithActor(context.Background(), state.Actor{Name: "connector:scim", Source: identity.SourceSCIM})
	if _, err := s.st.SetUserActive(scimCtx, "scim.gone", false); err != nil {
		t.Fatal(err)
	}
	if err := s.st.AddMember(scimCtx, "scim-group", "scim.user"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		kv         []string
	}{
		{"user name", "api/users/update", []string{"login", "scim.user", "name", "Mine"}},
		{"user email", "api/users/update", []string{"login", "scim.user", "email", "mine@example.com"}},
		{"user login", "api/users/update_login", []string{"login", "scim.user", "newLogin", "mine"}},
		{"user deactivate", "api/users/deactivate", []string{"login", "scim.user"}},
		{"user anonymize", "api/users/anonymize", []string{"login", "scim.gone"}},
		{"user reactivate", "api/users/create", []string{"login", "scim.gone", "name", "Mine", "password", "password-12345"}},
		{"user password", "api/users/change_password", []string{"login", "scim.user", "password", "password-12345"}},
		{"group rename", "api/user_groups/update", []string{"currentName", "scim-group", "name", "mine"}},
		{"group description", "api/user_groups/update", []string{"currentName", "scim-group", "description", "mine"}},
		{"group delete", "api/user_groups/delete", []string{"name", "scim-group"}},
		{"group add member", "api/user_groups/add_user", []string{"name", "scim-group", "login", "alice"}},
		{"group remove member", "api/user_groups/remove_user", []string{"name", "scim-group", "login", "scim.user"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.post(tc.path, asAdmin, tc.kv...).must(t, http.StatusBadRequest)
			if msg := r.errMsg(t); !strings.Contains(msg, "managed by SCIM (source scim)") {
				t.Fatalf("message %q does not name the source", msg)
			}
		})
	}
	t.Run("bulk add member", func(t *testing.T) {
		r := s.postJSON("api/bulk/add_group_members", `{"items":[{"group":"scim-group","login":"alice"}]}`).must(t, 200)
		if !strings.Contains(string(r.body), "managed by SCIM (source scim)") {
			t.Fatalf("bulk item does not name the source: %s", r.body)
		}
	})
	t.Run("unchanged", func(t *testing.T) {
		u, err := s.st.Store().GetUserByLogin(context.Background(), "scim.user")
		if err != nil || u.Name != "Managed scim.user" || !u.Active {
			t.Fatalf("user %+v, %v", u, err)
		}
		g, err := s.st.Store().GetGroupByName(context.Background(), "scim-group")
		if err != nil || g.Description != "" {
			t.Fatalf("group %+v, %v", g, err)
		}
		if !slices.Contains(s.st.Index().GroupNames(u.ID), "scim-group") {
			t.Fatal("membership lost")
		}
	})
}
