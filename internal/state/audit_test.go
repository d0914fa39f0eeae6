package state

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestEveryWriteIsAudited runs each mutator of the coordinator once and
// checks that it appended exactly one audit event, with the action, target
// and actor, and no secret in before/after.
func TestEveryWriteIsAudited(t *testing.T) {
	e := newEnv(t)
	e.user("root", identity.GroupAdministrators)
	var tplID, orgID int64
	var secrets []string
	keep := func(s string, tok identity.Token, err error) error {
		secrets = append(secrets, s)
		if tok.Type == identity.TokenOrganization {
			orgID = tok.ID
		}
		return err
	}
	name := "Renamed"
	cases := []struct {
		action, target string
		do             func() error
	}{
		{"user.create", "user:bob", func() error {
			_, err := e.s.CreateUser(e.ctx, NewUser{Login: "bob", Name: "Bob", Password: "bob-password-123"})
			return err
		}},
		{"user.update", "user:bob", func() error { _, err := e.s.UpdateUser(e.ctx, "bob", UserUpdate{Name: &name}); return err }},
		{"user.change_password", "user:bob", func() error { return e.s.SetPassword(e.ctx, "bob", "bob-password-456", nil) }},
		{"group.create", "group:devs", func() error { _, err := e.s.CreateGroup(e.ctx, identity.Group{Name: "devs"}); return err }},
		{"group.update", "group:devs", func() error {
			d := "Developers"
			_, err := e.s.UpdateGroup(e.ctx, "devs", GroupUpdate{Description: &d})
			return err
		}},
		{"group.add_user", "group:devs", func() error { return e.s.AddMember(e.ctx, "devs", "bob") }},
		{"project.create", "project:web", func() error {
			_, err := e.s.CreateProject(e.ctx, identity.Project{Key: "web", Name: "Web", Visibility: identity.Private}, 0)
			return err
		}},
		{"permission.add", "global", func() error {
			return e.s.AddGrant(e.ctx, identity.Grant{Subject: identity.GroupSubject(mustGroup(t, e, "devs").ID), Permission: identity.PermScan})
		}},
		{"permission.remove", "global", func() error {
			return e.s.RemoveGrant(e.ctx, identity.Grant{Subject: identity.GroupSubject(mustGroup(t, e, "devs").ID), Permission: identity.PermScan})
		}},
		{"project.update_visibility", "project:web", func() error { return e.s.SetVisibility(e.ctx, "web", identity.Public) }},
		{"template.create", "template:T", func() error {
			tpl, err := e.s.CreateTemplate(e.ctx, identity.Template{Name: "T"})
			tplID = tpl.ID
			return err
		}},
		{"template.update", "template:T", func() error {
			d := "desc"
			_, err := e.s.UpdateTemplate(e.ctx, tplID, TemplateUpdate{Description: &d})
			return err
		}},
		{"template.add_permission", "template:T", func() error {
			return e.s.EditTemplateGrant(e.ctx, tplID, identity.TemplateGrant{Subject: identity.Anyone, Permission: identity.PermScan}, true)
		}},
		{"template.apply", "template:T", func() error {
			p, _ := e.s.Store().GetProjectByKey(e.ctx, "web")
			_, err := e.s.ApplyTemplate(e.ctx, tplID, []int64{p.ID}, false)
			return err
		}},
		{"template.set_default", "template:T", func() error { return e.s.SetDefaultTemplate(e.ctx, tplID) }},
		{"token.generate", "token:", func() error {
			u, _ := e.s.Store().GetUserByLogin(e.ctx, "bob")
			return keep(e.s.GenerateUserToken(e.ctx, NewUserToken{UserID: u.ID, Name: "t", Type: identity.TokenUser}))
		}},
		{"token.generate", "token:", func() error {
			return keep(e.s.GenerateOrgToken(e.ctx, OrgTokenSpec{Name: "o", Permissions: []identity.Permission{identity.PermScan}, Set: identity.SetAll}))
		}},
		{"token.update", "token:", func() error {
			_, err := e.s.UpdateOrgToken(e.ctx, orgID, OrgTokenUpdate{Name: &name})
			return err
		}},
		{"token.rotate", "token:", func() error { return keep(e.s.RotateToken(e.ctx, orgID, time.Minute)) }},
		{"token.revoke", "token:", func() error { return e.s.RevokeToken(e.ctx, orgID) }},
		{"token.generate", "token:", func() error { return keep(e.s.GenerateSCIMToken(e.ctx, "scim", nil, time.Time{})) }},
		{"settings.token_policy", "settings", func() error { return e.s.SetTokenPolicy(e.ctx, DefaultTokenPolicy()) }},
		{"settings.default_visibility", "settings", func() error { return e.s.SetDefaultVisibility(e.ctx, identity.Private) }},
		{"group.remove_user", "group:devs", func() error { return e.s.RemoveMember(e.ctx, "devs", "bob") }},
		{"user.deactivate", "user:bob", func() error { _, err := e.s.SetUserActive(e.ctx, "bob", false); return err }},
		{"user.reactivate", "user:bob", func() error {
			_, err := e.s.CreateUser(e.ctx, NewUser{Login: "bob", Name: "Bob", Password: "bob-password-789"})
			return err
		}},
		{"group.delete", "group:devs", func() error { return e.s.DeleteGroup(e.ctx, "devs") }},
		{"project.delete", "project:web", func() error { return e.s.DeleteProject(e.ctx, "web") }},
		{"template.delete", "template:Default template", func() error {
			def, _ := e.s.Store().GetTemplateByName(e.ctx, "Default template")
			return e.s.DeleteTemplate(e.ctx, def.ID) // no longer the default
		}},
	}
	for _, tc := range cases {
		t.Run(tc.action, func(t *testing.T) {
			_, before, err := e.db.ListAudit(e.ctx, store.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.do(); err != nil {
				t.Fatal(err)
			}
			evs, after, err := e.db.ListAudit(e.ctx, store.AuditFilter{Page: store.Page{Number: 1, Size: 1}})
			if err != nil {
				t.Fatal(err)
			}
			if after != before+1 {
				t.Fatalf("%d audit events appended, want 1", after-before)
			}
			ev := evs[0]
			if ev.Action != tc.action || !strings.HasPrefix(ev.Target, tc.target) || ev.Actor != "user:test" || ev.RequestID != "req-1" {
				t.Fatalf("event %+v, want action %s target %s…", ev, tc.action, tc.target)
			}
		})
	}
	all, _, err := e.db.ListAudit(e.ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range all {
		for _, s := range append(secrets, "bob-password-123", "bob-password-456", "bob-password-789") {
			if strings.Contains(ev.Before+ev.After, s) {
				t.Errorf("event %s holds a secret", ev.Action)
			}
		}
		if strings.Contains(ev.Before+ev.After, "argon2id") {
			t.Errorf("event %s holds a password hash", ev.Action)
		}
	}
}
