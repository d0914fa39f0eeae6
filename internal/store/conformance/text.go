package conformance

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var textTests = []test{
	{"BadTextRefused", testBadTextRefused},
	{"UnicodeKept", testUnicodeKept},
}

// testBadTextRefused sends a NUL byte and invalid UTF-8 through writes and
// lookups: every one is identity.ErrInvalid, and nothing is written.
func testBadTextRefused(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice")
	for _, bad := range []string{"a\x00b", "\x00", "a\xffb", "\xc3"} {
		for _, tc := range []struct {
			name string
			op   func(ctx context.Context) error
		}{
			{"CreateUser login", func(ctx context.Context) error {
				return s.Tx(ctx, func(tx store.Tx) error {
					_, err := tx.CreateUser(ctx, identity.User{Login: "x" + bad, Name: "X", Source: identity.SourceLocal, Active: true})
					return err
				})
			}},
			{"UpdateUser name", func(ctx context.Context) error {
				return s.Tx(ctx, func(tx store.Tx) error {
					u := alice
					u.Name = bad
					return tx.UpdateUser(ctx, u)
				})
			}},
			{"CreateGroup description", func(ctx context.Context) error {
				return s.Tx(ctx, func(tx store.Tx) error {
					_, err := tx.CreateGroup(ctx, identity.Group{Name: "g", Description: bad, Source: identity.SourceLocal})
					return err
				})
			}},
			{"CreateProject key", func(ctx context.Context) error {
				return s.Tx(ctx, func(tx store.Tx) error {
					_, err := tx.CreateProject(ctx, identity.Project{Key: bad, Name: "p", Visibility: identity.Public, Source: identity.SourceLocal})
					return err
				})
			}},
			{"SetSetting", func(ctx context.Context) error {
				return s.Tx(ctx, func(tx store.Tx) error { return tx.SetSetting(ctx, "k", bad) })
			}},
			{"GetUserByLogin", func(ctx context.Context) error { _, err := s.GetUserByLogin(ctx, bad); return err }},
			{"GetGroupByName", func(ctx context.Context) error { _, err := s.GetGroupByName(ctx, bad); return err }},
			{"GetProjectByKey", func(ctx context.Context) error { _, err := s.GetProjectByKey(ctx, bad); return err }},
			{"GetTemplateByName", func(ctx context.Context) error { _, err := s.GetTemplateByName(ctx, bad); return err }},
			{"GetSetting", func(ctx context.Context) error { _, err := s.GetSetting(ctx, bad); return err }},
			{"ListUsers query", func(ctx context.Context) error {
				_, _, err := s.ListUsers(ctx, store.UserFilter{Query: bad})
				return err
			}},
			{"ListAudit actor", func(ctx context.Context) error {
				_, _, err := s.ListAudit(ctx, store.AuditFilter{Actor: bad})
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if err := tc.op(ctx); !errors.Is(err, identity.ErrInvalid) {
					t.Fatalf("%q: error %v, want identity.ErrInvalid", bad, err)
				}
			})
		}
	}
	got, err := s.GetUser(ctx, alice.ID)
	noErr(t, "GetUser", err)
	if got.Name != alice.Name {
		t.Fatalf("name became %q", got.Name)
	}
	if _, n, err := s.ListGroups(ctx, store.GroupFilter{}); err != nil || n != 0 {
		t.Fatalf("groups after refused writes: %d, %v", n, err)
	}
}

// testUnicodeKept stores valid non-ASCII text, which must not be mistaken
// for bad bytes.
func testUnicodeKept(t *testing.T, s store.Store) {
	u := mustCreate(t, s, identity.User{Login: "anna", Name: "Анна 李 🙂", Source: identity.SourceLocal, Active: true}, store.Tx.CreateUser)
	got, err := s.GetUserByLogin(t.Context(), "anna")
	noErr(t, "GetUserByLogin", err)
	if got.Name != u.Name {
		t.Fatalf("name %q, want %q", got.Name, u.Name)
	}
}
