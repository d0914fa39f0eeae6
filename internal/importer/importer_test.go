package importer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/dataset"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/importer"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore/sqltest"
	"github.com/gatehouse-dev/gatehouse/internal/webapi"
)

// gatehouse is a state over a fresh SQLite store.
type gatehouse struct {
	st    *state.State
	store store.Store
}

func newGatehouse(t *testing.T) gatehouse {
	t.Helper()
	return newGatehouseOn(t, sqltest.SQLite(t))
}

// flavors are the stores an import is tested on; PostgreSQL skips (or
// fails under CI=true) without a server.
var flavors = []struct {
	name string
	open func(testing.TB) *sqlstore.Store
}{{"sqlite", sqltest.SQLite}, {"postgres", sqltest.Postgres}}

func newGatehouseOn(t *testing.T, db store.Store) gatehouse {
	t.Helper()
	st, err := state.New(context.Background(), db, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return gatehouse{st: st, store: db}
}

func (g gatehouse) writer(actor string) *importer.Writer {
	return &importer.Writer{State: g.st, Store: g.store, Actor: actor}
}

// dump is the identity state of g by names, sorted, so that two instances
// compare whatever their ids.
func (g gatehouse) dump(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	snap, err := g.store.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	users, groups, projects := map[int64]string{}, map[int64]string{}, map[int64]identity.Project{}
	var out []string
	for _, u := range snap.Users {
		if !u.Active {
			continue // an import reads and writes active users only
		}
		users[u.ID] = u.Login
		out = append(out, fmt.Sprintf("user %s %q %s active=%v scm=%v", u.Login, u.Name, u.Email, u.Active, u.SCMAccounts))
	}
	for _, gr := range snap.Groups {
		groups[gr.ID] = gr.Name
		out = append(out, fmt.Sprintf("group %s %q", gr.Name, gr.Description))
	}
	for _, p := range snap.Projects {
		projects[p.ID] = p
		out = append(out, fmt.Sprintf("project %s %q %s", p.Key, p.Name, p.Visibility))
	}
	for _, m := range snap.Memberships {
		out = append(out, fmt.Sprintf("member %s %s", groups[m.GroupID], users[m.UserID]))
	}
	subject := func(s identity.Subject) string {
		switch s.Kind {
		case identity.SubjectUser:
			return "user:" + users[s.ID]
		case identity.SubjectGroup:
			return "group:" + groups[s.ID]
		}
		return string(s.Kind)
	}
	for _, gr := range snap.Grants {
		where := "global"
		if gr.ProjectID != 0 {
			where = projects[gr.ProjectID].Key
		}
		out = append(out, fmt.Sprintf("grant %s %s %s", where, subject(gr.Subject), gr.Permission))
	}
	ts, err := g.store.ListTemplates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	def, err := g.st.DefaultTemplateID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range ts {
		var gs []string
		for _, tg := range tm.Grants {
			gs = append(gs, subject(tg.Subject)+"="+string(tg.Permission))
		}
		slices.Sort(gs)
		out = append(out, fmt.Sprintf("template %s %q %q default=%v %v", tm.Name, tm.Description, tm.KeyPattern, tm.ID == def, gs))
	}
	slices.Sort(out)
	return out
}

// seed fills a source instance with one of everything an import reads.
func seed(t *testing.T, g gatehouse) (adminToken string) {
	t.Helper()
	ctx := state.WithActor(context.Background(), state.Actor{Name: "system"})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	admin, err := g.st.CreateUser(ctx, state.NewUser{Login: "admin", Name: "Administrator", Password: "admin-password-123"})
	must(err)
	must(g.st.AddMember(ctx, identity.GroupAdministrators, "admin"))
	alice, err := g.st.CreateUser(ctx, state.NewUser{Login: "alice", Name: "Alice Liddell", Email: "alice@example.com", SCMAccounts: []string{"aliddell"}})
	must(err)
	bob, err := g.st.CreateUser(ctx, state.NewUser{Login: "bob", Name: "Bob", Password: "bob-password-1234"})
	must(err)
	_, err = g.st.CreateUser(ctx, state.NewUser{Login: "gone", Name: "Gone"})
	must(err)
	_, err = g.st.SetUserActive(ctx, "gone", false)
	must(err)
	devs, err := g.st.CreateGroup(ctx, identity.Group{Name: "devs", Description: "Developers"})
	must(err)
	ops, err := g.st.CreateGroup(ctx, identity.Group{Name: "ops"})
	must(err)
	_, err = g.st.CreateGroup(ctx, identity.Group{Name: "empty"})
	must(err)
	must(g.st.AddMember(ctx, "devs", "alice"))
	must(g.st.AddMember(ctx, "devs", "bob"))
	must(g.st.AddMember(ctx, "ops", "bob"))

	tmpl, err := g.st.CreateTemplate(ctx, identity.Template{Name: "apps", Description: "Applications", KeyPattern: `apps\..*`})
	must(err)
	must(g.st.EditTemplateGrant(ctx, tmpl.ID, identity.TemplateGrant{Subject: identity.GroupSubject(devs.ID), Permission: identity.PermScan}, true))
	must(g.st.EditTemplateGrant(ctx, tmpl.ID, identity.TemplateGrant{Subject: identity.UserSubject(alice.ID), Permission: identity.PermIssueAdmin}, true))
	must(g.st.EditTemplateGrant(ctx, tmpl.ID, identity.TemplateGrant{Subject: identity.Subject{Kind: identity.SubjectCreator}, Permission: identity.PermAdmin}, true))
	must(g.st.EditTemplateGrant(ctx, tmpl.ID, identity.TemplateGrant{Subject: identity.Anyone, Permission: identity.PermUser}, true))
	// The projects get the default template's grants at creation, and
	// then some of their own: the import must bring exactly these.
	priv, err := g.st.CreateProject(ctx, identity.Project{Key: "apps.billing", Name: "Billing", Visibility: identity.Private}, 0)
	must(err)
	pub, err := g.st.CreateProject(ctx, identity.Project{Key: "lib-core", Name: "Core library", Visibility: identity.Public}, 0)
	must(err)
	must(g.st.SetDefaultTemplate(ctx, tmpl.ID))
	for _, gr := range []identity.Grant{
		{Subject: identity.GroupSubject(devs.ID), Permission: identity.PermProvisioning},
		{Subject: identity.UserSubject(alice.ID), Permission: identity.PermGateAdmin},
		{Subject: identity.Anyone, Permission: identity.PermScan},
		{Subject: identity.UserSubject(alice.ID), ProjectID: priv.ID, Permission: identity.PermAdmin},
		{Subject: identity.GroupSubject(ops.ID), ProjectID: priv.ID, Permission: identity.PermScan},
		{Subject: identity.UserSubject(bob.ID), ProjectID: pub.ID, Permission: identity.PermIssueAdmin},
		{Subject: identity.Anyone, ProjectID: pub.ID, Permission: identity.PermSecurityHotspotAdmin},
	} {
		must(g.st.AddGrant(ctx, gr))
	}
	// The default template gave sonar-users these; the source's
	// administrator took one away.
	users, err := g.store.GetGroupByName(ctx, identity.GroupUsers)
	must(err)
	must(g.st.RemoveGrant(ctx, identity.Grant{Subject: identity.GroupSubject(users.ID), ProjectID: priv.ID, Permission: identity.PermIssueAdmin}))

	_, _, err = g.st.GenerateUserToken(ctx, state.NewUserToken{UserID: alice.ID, Name: "ci", Type: identity.TokenUser})
	must(err)
	_, _, err = g.st.GenerateUserToken(ctx, state.NewUserToken{UserID: bob.ID, Name: "scanner", Type: identity.TokenProjectAnalysis, ProjectID: pub.ID})
	must(err)
	secret, _, err := g.st.GenerateUserToken(ctx, state.NewUserToken{UserID: admin.ID, Name: "import", Type: identity.TokenUser})
	must(err)
	return secret
}

// serve starts Gatehouse's SonarQube Web API over g.
func serve(t *testing.T, g gatehouse) string {
	t.Helper()
	srv := httptest.NewServer(webapi.New(g.st, webapi.Options{GatehouseVersion: "test"}).Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestImportFromGatehouse(t *testing.T) {
	for _, f := range flavors {
		t.Run(f.name, func(t *testing.T) { testImportFromGatehouse(t, newGatehouseOn(t, f.open(t))) })
	}
}

func testImportFromGatehouse(t *testing.T, dst gatehouse) {
	ctx := context.Background()
	src := newGatehouse(t)
	token := seed(t, src)
	sq := &importer.SonarQube{URL: serve(t, src), Token: token, Rate: 1000}
	ds, err := sq.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Tokens) != 3 {
		t.Errorf("tokens %+v; want alice's, bob's and admin's", ds.Tokens)
	}
	for _, u := range ds.Users {
		if u.Login == "gone" {
			t.Error("a deactivated user was read")
		}
	}

	before := dst.dump(t)
	plan, err := dst.writer("import:sonarqube").Plan(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	if got := dst.dump(t); !slices.Equal(got, before) {
		t.Fatalf("the dry run wrote:\n%s", diff(before, got))
	}
	if c := plan.Count(importer.KindUsers); c.Total != 3 || c.Written != 3 {
		t.Errorf("dry run users %+v; want 3 to write", c)
	}
	if c := plan.Count(importer.KindGroups); c.Existing != 2 || c.Written != 3 {
		t.Errorf("dry run groups %+v; want the 2 built-ins there and 3 to write", c)
	}

	sum, err := dst.writer("import:sonarqube").Apply(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	if sum.FailureCount != 0 {
		t.Fatalf("failures: %+v", sum.Failures)
	}
	if want, got := src.dump(t), dst.dump(t); !slices.Equal(want, got) {
		t.Fatalf("the import differs from its source:\n%s", diff(want, got))
	}
	// Each write is audited under the import's name.
	evs, _, err := dst.store.ListAudit(ctx, store.AuditFilter{Actor: "import:sonarqube", Page: store.Page{Number: 1, Size: 500}})
	if err != nil || len(evs) < sum.Written() {
		t.Errorf("audit: %d events by import:sonarqube, %v; want ≥ %d", len(evs), err, sum.Written())
	}
	u, err := dst.store.GetUserByLogin(ctx, "bob")
	if err != nil || u.PasswordHash != "" {
		t.Errorf("bob: %+v, %v; want no password", u, err)
	}

	// Once more: everything exists, nothing is written.
	again, err := dst.writer("import:sonarqube").Apply(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	if again.Written() != 0 || again.FailureCount != 0 {
		t.Errorf("second import wrote %d, failed %d: %+v", again.Written(), again.FailureCount, again.Counts)
	}
	plan, err = dst.writer("import:sonarqube").Plan(ctx, ds)
	if err != nil || plan.Written() != 0 {
		t.Errorf("dry run after the import: %+v, %v; want nothing to write", plan.Counts, err)
	}
}

func diff(want, got []string) string {
	var b strings.Builder
	for _, s := range want {
		if !slices.Contains(got, s) {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	for _, s := range got {
		if !slices.Contains(want, s) {
			fmt.Fprintf(&b, "+ %s\n", s)
		}
	}
	return b.String()
}

// generated is a small generated data set, by names.
func generated(t *testing.T) *importer.DataSet {
	t.Helper()
	set, err := dataset.Generate(dataset.Size{Users: 100, Groups: 12, Projects: 40, Memberships: 300, Grants: 400, Tokens: 10}, 7)
	if err != nil {
		t.Fatal(err)
	}
	return importer.FromSnapshot(set.Snapshot)
}

// cancelAfter cancels its context after n batches.
type cancelAfter struct {
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Start(string, int) {}
func (c *cancelAfter) Done()             {}
func (c *cancelAfter) Add(int) {
	if c.n--; c.n == 0 {
		c.cancel()
	}
}

func TestImportInterrupted(t *testing.T) {
	for _, f := range flavors {
		t.Run(f.name, func(t *testing.T) { testImportInterrupted(t, func() gatehouse { return newGatehouseOn(t, f.open(t)) }) })
	}
}

func testImportInterrupted(t *testing.T, fresh func() gatehouse) {
	ds := generated(t)
	clean := fresh()
	if sum, err := clean.writer("import:file").Apply(context.Background(), ds); err != nil || sum.FailureCount != 0 {
		t.Fatalf("clean import: %v, %+v", err, sum)
	}
	want := clean.dump(t)

	// Batches of 25: users 4, groups 1, projects 2, memberships 12, so
	// the cuts fall in the users, the memberships and the permissions.
	for _, cut := range []int{2, 10, 25} {
		t.Run(fmt.Sprint("after batch ", cut), func(t *testing.T) {
			g := fresh()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := g.writer("import:file")
			w.BatchSize, w.Progress = 25, &cancelAfter{n: cut, cancel: cancel}
			if _, err := w.Apply(ctx, ds); !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted import: %v; want canceled", err)
			}
			if got := g.dump(t); slices.Equal(got, want) {
				t.Fatal("the interrupted import did everything")
			}
			sum, err := g.writer("import:file").Apply(context.Background(), ds)
			if err != nil || sum.FailureCount != 0 {
				t.Fatalf("rerun: %v, %+v", err, sum.Failures)
			}
			if sum.Count(importer.KindUsers).Existing == 0 {
				t.Error("the rerun found no user already imported")
			}
			if got := g.dump(t); !slices.Equal(got, want) {
				t.Fatalf("interrupted + rerun differs from a clean import:\n%s", diff(want, got))
			}
		})
	}
}

func TestProgressPlain(t *testing.T) {
	var b strings.Builder
	p := importer.NewProgress(&b, false)
	p.Start("users", 1000)
	for range 10 {
		p.Add(100)
	}
	p.Done()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 11 || lines[0] != "users: 1000 to do" || lines[1] != "users: 100/1000 (10%)" || !strings.HasPrefix(lines[10], "users: 1000 done in ") {
		t.Errorf("plain progress:\n%s", b.String())
	}
	if strings.Contains(b.String(), "\r") {
		t.Error("plain progress redraws")
	}

	b.Reset()
	p = importer.NewProgress(&b, true)
	p.Start("grants", 200)
	p.Add(200)
	p.Done()
	if !strings.Contains(b.String(), "\rgrants") || !strings.Contains(b.String(), "[==============================] 200/200 100%") {
		t.Errorf("terminal progress: %q", b.String())
	}
}

func TestReadCSVDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("users.csv", "\ufefflogin,name,email,scmAccounts\nann,Ann,ann@example.com,ann-gh|ann2\nben, Ben ,,\n")
	write("memberships.csv", "login,group\nann,devs\n")
	write("permissions.csv", "permission,group,project\nscan,devs,web\nprovisioning,Anyone,\n")
	ds, err := importer.ReadFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := &importer.DataSet{
		Users:       []importer.User{{Login: "ann", Name: "Ann", Email: "ann@example.com", SCMAccounts: []string{"ann-gh", "ann2"}}, {Login: "ben", Name: "Ben"}},
		Memberships: []importer.Membership{{Group: "devs", Login: "ann"}},
		Permissions: []importer.Permission{{Permission: "scan", Group: "devs", Project: "web"}, {Permission: "provisioning", Group: "Anyone"}},
	}
	if got, _ := json.Marshal(ds); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("read %s; want %s", got, must(json.Marshal(want)))
	}

	for name, tc := range map[string]struct{ file, body, err string }{
		"unknown column":  {"groups.csv", "name,owner\ndevs,ann\n", `unknown column "owner"`},
		"no key column":   {"projects.csv", "name\nWeb\n", `column "key" is required`},
		"ragged row":      {"tokens.csv", "login,name\nann\n", "wrong number of fields"},
		"empty directory": {"", "", "no users.csv"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.file != "" {
				if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := importer.ReadFile(dir); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v; want %q", err, tc.err)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestImportLockedDownSource imports a source whose administrator removed
// sonar-users' default global grants into a fresh Gatehouse, which has
// them: the result is not more permissive than the source.
func TestImportLockedDownSource(t *testing.T) {
	ctx := context.Background()
	src := newGatehouse(t)
	token := seed(t, src)
	users, err := src.store.GetGroupByName(ctx, identity.GroupUsers)
	if err != nil {
		t.Fatal(err)
	}
	sysCtx := state.WithActor(ctx, state.Actor{Name: "system"})
	for _, p := range []identity.Permission{identity.PermScan, identity.PermProvisioning} {
		if err := src.st.RemoveGrant(sysCtx, identity.Grant{Subject: identity.GroupSubject(users.ID), Permission: p}); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := (&importer.SonarQube{URL: serve(t, src), Token: token, Rate: 1000}).Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dst := newGatehouse(t)
	plan, err := dst.writer("import:sonarqube").Plan(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	if c := plan.Count(importer.KindRevoked); c.Written != 2 {
		t.Errorf("dry run revocations %+v; want sonar-users' scan and provisioning", c)
	}
	if _, err := dst.writer("import:sonarqube").Apply(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if got, want := dst.dump(t), src.dump(t); !slices.Equal(got, want) {
		t.Fatalf("import of a locked-down source differs from it:\n%s", diff(want, got))
	}
	// A data set that does not claim every global permission (a partial
	// file) takes nothing away.
	partial := newGatehouse(t)
	ds.GlobalPermissionsComplete = false
	if _, err := partial.writer("import:file").Apply(ctx, ds); err != nil {
		t.Fatal(err)
	}
	dusers, _ := partial.store.GetGroupByName(ctx, identity.GroupUsers)
	gs, _ := partial.store.ListGrants(ctx, store.GrantFilter{Subject: &identity.Subject{Kind: identity.SubjectGroup, ID: dusers.ID}})
	if len(gs) == 0 {
		t.Fatal("a partial data set removed sonar-users' defaults")
	}
}
