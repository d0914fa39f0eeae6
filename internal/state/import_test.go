package state

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestBulkCreateGroupsAndImportProjects(t *testing.T) {
	e := newEnv(t)
	groups := []identity.Group{{Name: "devs"}, {Name: identity.GroupUsers}, {Name: "anyone"}, {Name: "ops", Description: "Operations"}}
	projects := []identity.Project{{Key: "web", Name: "Web"}, {Key: "bad key!", Name: "Bad"}, {Key: "lib", Name: "Lib", Visibility: identity.Public}}
	cases := []struct {
		name        string
		opts        BulkOptions
		wantGroups  []string // per item: "" changed, "=" unchanged, else an error's text
		wantProject []string
	}{
		{"first", BulkOptions{}, []string{"", "already exists", "Anyone group cannot be used", ""}, []string{"", "Malformed key", ""}},
		{"again, skipping", BulkOptions{SkipExisting: true}, []string{"=", "=", "Anyone group cannot be used", "="}, []string{"=", "Malformed key", "="}},
		{"again, not skipping", BulkOptions{}, []string{"already exists", "already exists", "Anyone group cannot be used", "already exists"}, []string{"similar key already exists", "Malformed key", "similar key already exists"}},
	}
	check := func(t *testing.T, res []ItemResult, want []string) {
		t.Helper()
		for i, r := range res {
			switch {
			case want[i] == "" && (r.Err != nil || !r.Changed), want[i] == "=" && (r.Err != nil || r.Changed):
				t.Errorf("item %d: %+v; want %q", i, r, want[i])
			case want[i] != "" && want[i] != "=" && (r.Err == nil || !strings.Contains(identity.Message(r.Err), want[i])):
				t.Errorf("item %d: %+v; want an error with %q", i, r, want[i])
			}
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.s.CreateGroups(e.ctx, groups, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			check(t, res, tc.wantGroups)
			res, err = e.s.ImportProjects(e.ctx, projects, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			check(t, res, tc.wantProject)
		})
	}
	// An imported project has no grant: the template is not applied.
	p, err := e.s.Store().GetProjectByKey(e.ctx, "web")
	if err != nil || p.Visibility != identity.Private {
		t.Fatalf("web: %+v, %v", p, err)
	}
	gs, err := e.s.Store().ListGrants(e.ctx, store.GrantFilter{ProjectID: &p.ID})
	if err != nil || len(gs) != 0 {
		t.Errorf("web's grants %+v, %v; want none", gs, err)
	}
	// The index knows the projects at once: everyone browses public lib.
	pr, err := e.s.Index().UserPrincipal(e.user("reader").ID)
	if err != nil || !e.s.Index().Decide(pr, identity.PermUser, "lib").Allowed {
		t.Errorf("browse imported public project: %v", err)
	}
	evs, _, err := e.s.Store().ListAudit(e.ctx, store.AuditFilter{Target: "group:ops"})
	if err != nil || len(evs) != 1 || evs[0].Action != "group.create" || evs[0].Actor != "user:test" {
		t.Errorf("audit of ops: %+v, %v", evs, err)
	}
}
