package state

import (
	"errors"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// UpdateGroup's rules, which the Web API's update, the v2 PATCH and the
// admin UI all rely on.
func TestUpdateGroupRules(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"qa", "ops"} {
		if _, err := e.s.CreateGroup(e.ctx, identity.Group{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	gitlab := WithActor(e.ctx, Actor{Name: "connector:gitlab", Source: identity.SourceGitLab})
	if _, err := e.s.CreateGroup(gitlab, identity.Group{Name: "backend", Source: identity.SourceGitLab, ExternalID: "42"}); err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name, group string
		upd         GroupUpdate
		err         error
	}{
		{"rename", "qa", GroupUpdate{Name: str("quality"), Description: str("Testers")}, nil},
		{"taken", "quality", GroupUpdate{Name: str("ops")}, identity.ErrInvalid},
		{"administrators keep their name", identity.GroupAdministrators, GroupUpdate{Name: str("admins")}, identity.ErrInvalid},
		{"administrators' description", identity.GroupAdministrators, GroupUpdate{Description: str("Admins")}, nil},
		{"default group's description", identity.GroupUsers, GroupUpdate{Description: str("x")}, identity.ErrInvalid},
		{"default group's name", identity.GroupUsers, GroupUpdate{Name: str("everyone")}, identity.ErrInvalid},
		{"managed, locally", "backend", GroupUpdate{Name: str("be")}, identity.ErrManaged},
		{"unknown", "nope", GroupUpdate{Name: str("x")}, identity.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.s.UpdateGroup(e.ctx, tc.group, tc.upd)
			if !errors.Is(err, tc.err) || tc.err == nil && err != nil {
				t.Fatalf("UpdateGroup = %v, want %v", err, tc.err)
			}
		})
	}
	// The source itself edits its group.
	if _, err := e.s.UpdateGroup(gitlab, "backend", GroupUpdate{Description: str("Back end")}); err != nil {
		t.Fatalf("the connector's edit: %v", err)
	}
}
