package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/secretbox"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// fakeConnector serves a snapshot that tests edit, read in "pages" (one
// per user, group, membership, project and permission) so that a read can
// fail at any point.
type fakeConnector struct {
	mu     sync.Mutex
	snap   Snapshot
	failAt int // fail on the n-th page (1-based); 0 never
	reads  atomic.Int64
	checks atomic.Int64
}

var (
	_ Connector = (*fakeConnector)(nil)
	_ Checker   = (*fakeConnector)(nil)
	_ Source    = (*fakeSource)(nil)
)

func (c *fakeConnector) Settings() []Setting {
	return []Setting{
		{Name: "url", Desc: "where", Required: true},
		{Name: "token", Desc: "secret", Secret: true},
		{Name: "enabled", Desc: "sync on", Default: "true"},
		{Name: "interval", Desc: "go duration"},
	}
}

func (c *fakeConnector) Open(_ context.Context, v map[string]string) (Source, error) {
	if v["url"] == "" {
		return nil, identity.Errorf(identity.ErrInvalid, "setting url is required")
	}
	if v["enabled"] == "false" {
		return nil, ErrDisabled
	}
	var every time.Duration
	if v["interval"] != "" {
		d, err := time.ParseDuration(v["interval"])
		if err != nil {
			return nil, identity.Errorf(identity.ErrInvalid, "setting interval: %v", err)
		}
		every = d
	}
	return &fakeSource{c: c, every: every}, nil
}

func (c *fakeConnector) Check(_ context.Context, v map[string]string) error {
	c.checks.Add(1)
	if v["token"] == "bad" {
		return errors.New("the token is not valid (401)")
	}
	return nil
}

func (c *fakeConnector) set(f func(s *Snapshot)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.snap)
}

type fakeSource struct {
	c     *fakeConnector
	every time.Duration
}

func (s *fakeSource) Interval() time.Duration { return s.every }

func (s *fakeSource) Read(ctx context.Context) (Snapshot, error) {
	s.c.reads.Add(1)
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	var out Snapshot
	page := 0
	next := func() error {
		page++
		if s.c.failAt > 0 && page == s.c.failAt {
			return fmt.Errorf("page %d: 502 Bad Gateway", page)
		}
		return ctx.Err()
	}
	src := s.c.snap
	for _, u := range src.Users {
		if err := next(); err != nil {
			return Snapshot{}, err
		}
		out.Users = append(out.Users, u)
	}
	for _, g := range src.Groups {
		if err := next(); err != nil {
			return Snapshot{}, err
		}
		out.Groups = append(out.Groups, g)
	}
	for _, m := range src.Memberships {
		if err := next(); err != nil {
			return Snapshot{}, err
		}
		out.Memberships = append(out.Memberships, m)
	}
	out.ManagesProjects = src.ManagesProjects
	for _, p := range src.Projects {
		if err := next(); err != nil {
			return Snapshot{}, err
		}
		out.Projects = append(out.Projects, p)
	}
	for _, p := range src.Permissions {
		if err := next(); err != nil {
			return Snapshot{}, err
		}
		out.Permissions = append(out.Permissions, p)
	}
	return out, nil
}

func (s *fakeSource) pages() int {
	n := s.c.snap
	return len(n.Users) + len(n.Groups) + len(n.Memberships) + len(n.Projects) + len(n.Permissions)
}

// reverseSealer stands in for secretbox: reversible and visibly not the
// plaintext.
type reverseSealer struct{}

func (reverseSealer) SealFor(name, plain string) (string, error) {
	r := []rune(plain)
	slices.Reverse(r)
	return "sealed:" + name + ":" + string(r), nil
}

func (reverseSealer) OpenFor(name, sealed string) (string, error) {
	rest, ok := strings.CutPrefix(sealed, "sealed:"+name+":")
	if !ok {
		return "", errors.New("not sealed for " + name)
	}
	r := []rune(rest)
	slices.Reverse(r)
	return string(r), nil
}

type env struct {
	t    *testing.T
	ctx  context.Context
	db   store.Store
	st   *state.State
	conn *fakeConnector
	e    *Engine
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	ctx := state.WithActor(t.Context(), state.Actor{Name: "user:admin", RequestID: "req-1"})
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "g.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := state.New(ctx, db, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Project rights must come from the source alone: drop a fresh
	// instance's default global scan and provisioning of sonar-users.
	users, err := db.GetGroupByName(ctx, identity.GroupUsers)
	if err != nil {
		t.Fatal(err)
	}
	for _, perm := range []identity.Permission{identity.PermScan, identity.PermProvisioning} {
		if err := st.RemoveGrant(ctx, identity.Grant{Subject: identity.GroupSubject(users.ID), Permission: perm}); err != nil {
			t.Fatal(err)
		}
	}
	conn := &fakeConnector{}
	if cfg.Secrets == nil {
		cfg.Secrets = reverseSealer{}
	}
	e, err := New(ctx, st, map[identity.Source]SourceConfig{gl: {Connector: conn, Defaults: map[string]string{"url": "https://gitlab.test"}}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, db: db, st: st, conn: conn, e: e}
}

// fixture is a source of n users in groups of ten, each user a member of
// its group and able to scan its group's project.
func fixture(n int) Snapshot {
	var s Snapshot
	s.ManagesProjects = true
	for i := range n {
		uid, gid, pid := fmt.Sprintf("u%d", i), fmt.Sprintf("g%d", i/10), fmt.Sprintf("p%d", i/10)
		s.Users = append(s.Users, User{ExternalID: uid, Login: fmt.Sprintf("user%d", i), Name: fmt.Sprintf("User %d", i), Email: uid + "@example.com", Active: true})
		if i%10 == 0 {
			s.Groups = append(s.Groups, Group{ExternalID: gid, Name: "acme/team" + gid})
			s.Projects = append(s.Projects, Project{ExternalID: pid, Key: "proj-" + pid, Name: "Project " + pid, Visibility: identity.Private})
		}
		s.Memberships = append(s.Memberships, Membership{uid, gid})
		s.Permissions = append(s.Permissions, ProjectPermission{uid, pid, identity.PermScan})
	}
	return s
}

func (v *env) run(force bool) identity.SyncRun {
	v.t.Helper()
	run, err := v.e.RunOnce(v.ctx, gl, RunOptions{Trigger: identity.TriggerManual, Force: force})
	if err != nil {
		v.t.Fatal(err)
	}
	return run
}

// dump is the store's provisioned state in names, for comparisons.
func (v *env) dump() []string {
	v.t.Helper()
	snap, err := v.db.Snapshot(v.ctx)
	if err != nil {
		v.t.Fatal(err)
	}
	login, group, proj := map[int64]string{}, map[int64]string{}, map[int64]string{}
	var out []string
	for _, u := range snap.Users {
		login[u.ID] = u.Login
		out = append(out, fmt.Sprintf("user %s %s %s %s active=%v", u.Login, u.Name, u.Email, u.Source, u.Active))
	}
	for _, g := range snap.Groups {
		group[g.ID] = g.Name
		out = append(out, fmt.Sprintf("group %s %s", g.Name, g.Source))
	}
	for _, p := range snap.Projects {
		proj[p.ID] = p.Key
		out = append(out, fmt.Sprintf("project %s %s %s", p.Key, p.Visibility, p.Source))
	}
	for _, m := range snap.Memberships {
		out = append(out, "member "+login[m.UserID]+" "+group[m.GroupID])
	}
	for _, g := range snap.Grants {
		if g.Subject.Kind == identity.SubjectUser {
			out = append(out, fmt.Sprintf("grant %s %s %s", login[g.Subject.ID], proj[g.ProjectID], g.Permission))
		}
	}
	slices.Sort(out)
	return out
}

// auditedLogins counts the logins the connector's events of action name
// (a batch's new members of a group are one event).
func (v *env) auditedLogins(action string) int {
	v.t.Helper()
	evs, _, err := v.db.ListAudit(v.ctx, store.AuditFilter{Action: action, Actor: "connector:gitlab"})
	if err != nil {
		v.t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		var after struct{ Logins []string }
		if err := json.Unmarshal([]byte(ev.After), &after); err != nil {
			v.t.Fatalf("%s event %s: %v", action, ev.After, err)
		}
		n += len(after.Logins)
	}
	return n
}

func TestEngineFirstRunAndNoChangeRerun(t *testing.T) {
	v := newEnv(t, Config{BatchSize: 50, AddBatchSize: 50})
	v.conn.set(func(s *Snapshot) { *s = fixture(95) })
	run := v.run(false)
	if run.Status != identity.SyncSuccess {
		t.Fatalf("run = %+v", run)
	}
	c := run.Counts
	if c.UsersCreated != 95 || c.GroupsCreated != 10 || c.MembershipsAdded != 95 || c.ProjectsCreated != 10 || c.PermissionsGranted != 95 {
		t.Fatalf("counts = %+v", c)
	}
	if c.Writes != 95+10+95+10+95 {
		t.Fatalf("writes = %d", c.Writes)
	}
	// Every change is audited with the connector as actor: a batch's new
	// members of a group in one event.
	if n := v.auditedLogins("group.add_user"); n != 95 {
		t.Fatalf("audited memberships = %d", n)
	}
	// Decisions follow: a provisioned user may scan their project.
	u, err := v.db.GetUserByLogin(v.ctx, "user3")
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.st.Index().UserPrincipal(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := v.st.Index().Decide(p, identity.PermScan, "proj-p0"); !d.Allowed {
		t.Fatalf("user3 cannot scan proj-p0: %+v", d)
	}
	rev, _ := v.db.Revision(v.ctx)
	again := v.run(false)
	if again.Status != identity.SyncSuccess || again.Counts.Writes != 0 {
		t.Fatalf("rerun = %+v", again)
	}
	if rev2, _ := v.db.Revision(v.ctx); rev2 != rev {
		t.Fatalf("a no-change run wrote: revision %d → %d", rev, rev2)
	}
}

func TestEngineFollowsTheSource(t *testing.T) {
	v := newEnv(t, Config{})
	v.conn.set(func(s *Snapshot) { *s = fixture(30) })
	v.run(false)
	u, _ := v.db.GetUserByLogin(v.ctx, "user3")
	secret, _, err := v.st.GenerateUserToken(v.ctx, state.NewUserToken{UserID: u.ID, Name: "ci", Type: identity.TokenUser})
	if err != nil {
		t.Fatal(err)
	}
	allowed := func() bool {
		p, _, err := v.st.Index().Resolve(secret)
		if err != nil {
			return false
		}
		return v.st.Index().Decide(p, identity.PermScan, "proj-p0").Allowed
	}
	if !allowed() {
		t.Fatal("token cannot scan before the change")
	}
	// The user's permission goes at the source: the next run revokes it.
	v.conn.set(func(s *Snapshot) {
		s.Permissions = slices.DeleteFunc(s.Permissions, func(p ProjectPermission) bool { return p.UserExternalID == "u3" })
	})
	if run := v.run(false); run.Counts.PermissionsRevoked != 1 {
		t.Fatalf("run = %+v", run)
	}
	if allowed() {
		t.Fatal("token can still scan after the run")
	}
	// The user leaves the source: deactivated, the token refused.
	v.conn.set(func(s *Snapshot) {
		s.Users = slices.DeleteFunc(s.Users, func(u User) bool { return u.ExternalID == "u4" })
	})
	if run := v.run(false); run.Counts.UsersDeactivated != 1 {
		t.Fatalf("run = %+v", run)
	}
	if u4, _ := v.db.GetUserByLogin(v.ctx, "user4"); u4.Active {
		t.Fatal("user4 still active")
	}
}

// TestEngineFailedReadAppliesNothing fails the read at every page: each run
// ends failed with the reason, and the store is exactly as before.
func TestEngineFailedReadAppliesNothing(t *testing.T) {
	v := newEnv(t, Config{})
	v.conn.set(func(s *Snapshot) { *s = fixture(20) })
	v.run(false)
	before := v.dump()
	// The next state would remove and deactivate a lot.
	v.conn.set(func(s *Snapshot) { *s = fixture(3) })
	pages := (&fakeSource{c: v.conn}).pages()
	for k := 1; k <= pages; k++ {
		v.conn.failAt = k
		run := v.run(true) // even forced
		if run.Status != identity.SyncFailed || len(run.Errors) != 1 || !strings.Contains(run.Errors[0], "502") || !strings.Contains(run.Errors[0], "nothing was applied") {
			t.Fatalf("failing at page %d: run = %+v", k, run)
		}
		if got := v.dump(); !slices.Equal(got, before) {
			t.Fatalf("failing at page %d changed the store", k)
		}
	}
}

func TestEngineGuardAbortsUnlessForced(t *testing.T) {
	v := newEnv(t, Config{})
	v.conn.set(func(s *Snapshot) { *s = fixture(100) })
	v.run(false)
	before := v.dump()
	v.conn.set(func(s *Snapshot) { *s = fixture(80) }) // 20% of the users gone
	run := v.run(false)
	if run.Status != identity.SyncAborted || !strings.Contains(run.Errors[0], "deactivate 20 of the source's 100") {
		t.Fatalf("run = %+v", run)
	}
	if !slices.Equal(v.dump(), before) {
		t.Fatal("an aborted run changed the store")
	}
	// Removing 20% of the memberships alone trips the other bound.
	v.conn.set(func(s *Snapshot) { *s = fixture(100); s.Memberships = s.Memberships[:80] })
	if run := v.run(false); run.Status != identity.SyncAborted || !strings.Contains(run.Errors[0], "remove 20 of 100 memberships") {
		t.Fatalf("run = %+v", run)
	}
	v.conn.set(func(s *Snapshot) { *s = fixture(80) })
	if run := v.run(true); run.Status != identity.SyncSuccess || run.Counts.UsersDeactivated != 20 {
		t.Fatalf("forced run = %+v", run)
	}
}

// TestEngineCrashMidApply stops the apply after batch k, as a crash would,
// and checks that a rerun ends exactly where a clean run ends.
func TestEngineCrashMidApply(t *testing.T) {
	clean := newEnv(t, Config{BatchSize: 40, AddBatchSize: 40})
	clean.conn.set(func(s *Snapshot) { *s = fixture(100) })
	clean.run(false)
	want := clean.dump()
	for _, k := range []int{1, 3, 5, 7, 8} {
		t.Run(fmt.Sprint("after batch ", k), func(t *testing.T) {
			v := newEnv(t, Config{BatchSize: 40, AddBatchSize: 40})
			v.conn.set(func(s *Snapshot) { *s = fixture(100) })
			v.e.afterBatch = func(n int) error {
				if n == k {
					return errors.New("killed")
				}
				return nil
			}
			if run := v.run(false); run.Status != identity.SyncFailed {
				t.Fatalf("crashed run = %+v", run)
			}
			v.e.afterBatch = nil
			// The crashed run committed whole batches only: the store
			// holds no membership without its user and group.
			run := v.run(false)
			if run.Status != identity.SyncSuccess {
				t.Fatalf("rerun = %+v", run)
			}
			if got := v.dump(); !slices.Equal(got, want) {
				t.Fatalf("rerun after a crash differs from a clean run:\n got %d rows\nwant %d rows", len(got), len(want))
			}
			// Decisions agree with the store after the crash and rerun.
			u, _ := v.db.GetUserByLogin(v.ctx, "user99")
			p, _ := v.st.Index().UserPrincipal(u.ID)
			if !v.st.Index().Decide(p, identity.PermScan, "proj-p9").Allowed {
				t.Fatal("index does not follow")
			}
		})
	}
}

func TestEngineFirstRunResetsManualAccess(t *testing.T) {
	v := newEnv(t, Config{})
	// A user that the source will provision was created by an earlier
	// sign-in and given manual access.
	ctx := state.WithActor(v.ctx, state.Actor{Name: "connector:gitlab", Source: gl})
	u, err := v.st.CreateUser(ctx, state.NewUser{Login: "user1", Name: "User 1", Source: gl, ExternalID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.st.CreateGroup(v.ctx, identity.Group{Name: "manual"}); err != nil {
		t.Fatal(err)
	}
	if err := v.st.AddMember(v.ctx, "manual", u.Login); err != nil {
		t.Fatal(err)
	}
	v.conn.set(func(s *Snapshot) { *s = fixture(5) })
	run := v.run(false)
	if run.Counts.MembershipsRemoved != 1 {
		t.Fatalf("first run = %+v", run)
	}
	// Later manual memberships are kept.
	if err := v.st.AddMember(v.ctx, "manual", u.Login); err != nil {
		t.Fatal(err)
	}
	if run := v.run(false); run.Counts.Writes != 0 {
		t.Fatalf("second run = %+v", run)
	}
}

func TestEngineDryRun(t *testing.T) {
	v := newEnv(t, Config{Samples: 3})
	v.conn.set(func(s *Snapshot) { *s = fixture(30) })
	res, err := v.e.DryRun(v.ctx, gl, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.UsersCreated != 30 || len(res.Samples["usersCreated"]) != 3 || res.Samples["usersCreated"][0] != "user0" {
		t.Fatalf("dry run = %+v", res)
	}
	if got := v.dump(); slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "user0") }) {
		t.Fatal("a dry run wrote")
	}
	if _, n, _ := v.e.Runs(v.ctx, gl, store.Page{}); n != 0 {
		t.Fatalf("a dry run recorded %d runs", n)
	}
	v.run(false)
	v.conn.set(func(s *Snapshot) { *s = fixture(10) })
	res, err = v.e.DryRun(v.ctx, gl, false)
	if err != nil || res.Aborted == "" || res.Counts.UsersDeactivated != 20 {
		t.Fatalf("dry run over the guard = %+v, %v", res, err)
	}
}

func TestEngineSettings(t *testing.T) {
	v := newEnv(t, Config{})
	vals, err := v.e.Settings(v.ctx, gl)
	if err != nil {
		t.Fatal(err)
	}
	if vals[0].Name != "url" || vals[0].Value != "https://gitlab.test" || !vals[0].IsSet {
		t.Fatalf("configured default not shown: %+v", vals[0])
	}
	if err := v.e.SetSettings(v.ctx, gl, map[string]string{"nope": "x"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown setting: %v", err)
	}
	if err := v.e.SetSettings(v.ctx, gl, map[string]string{"token": "bad"}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("checker not consulted: %v", err)
	}
	if err := v.e.SetSettings(v.ctx, gl, map[string]string{"interval": "soon"}); err == nil || !strings.Contains(err.Error(), "interval") {
		t.Fatalf("invalid value accepted: %v", err)
	}
	if err := v.e.SetSettings(v.ctx, gl, map[string]string{"token": "glpat-secret", "url": "https://gl.example"}); err != nil {
		t.Fatal(err)
	}
	raw, err := v.db.GetSetting(v.ctx, "provisioning.gitlab.token")
	if err != nil || strings.Contains(raw, "glpat-secret") || !strings.HasPrefix(raw, "sealed:") {
		t.Fatalf("secret stored as %q (%v)", raw, err)
	}
	vals, _ = v.e.Settings(v.ctx, gl)
	for _, s := range vals {
		if s.Name == "token" && s.Value != Masked {
			t.Fatalf("secret shown: %+v", s)
		}
		if s.Name == "url" && s.Value != "https://gl.example" {
			t.Fatalf("stored value not shown: %+v", s)
		}
	}
	// The audit shows the change with the secret masked.
	evs, _, _ := v.db.ListAudit(v.ctx, store.AuditFilter{Action: "provisioning.settings"})
	if len(evs) != 1 || strings.Contains(evs[0].After, "glpat") || !strings.Contains(evs[0].After, Masked) {
		t.Fatalf("audit = %+v", evs)
	}
	// Masked written back keeps the secret.
	if err := v.e.SetSettings(v.ctx, gl, map[string]string{"token": Masked}); err != nil {
		t.Fatal(err)
	}
	if got, _ := v.e.values(v.ctx, v.e.sources[gl]); got["token"] != "glpat-secret" {
		t.Fatalf("token = %q", got["token"])
	}
	// A stored secret without a key is a start-up error.
	if _, err := New(v.ctx, v.st, map[identity.Source]SourceConfig{gl: {Connector: v.conn}}, Config{Secrets: nilSealer{}}); err == nil {
		t.Fatal("want an error for an unreadable secret")
	}
	if _, err := New(v.ctx, v.st, map[identity.Source]SourceConfig{gl: {Connector: v.conn}}, Config{}); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_SECRET_KEY") {
		t.Fatalf("want a start-up error naming the key: %v", err)
	}
}

type nilSealer struct{}

func (nilSealer) SealFor(string, string) (string, error) { return "", errors.New("no") }
func (nilSealer) OpenFor(string, string) (string, error) { return "", errors.New("wrong key") }

func TestEngineQueueAndSchedule(t *testing.T) {
	v := newEnv(t, Config{Interval: time.Hour})
	v.conn.set(func(s *Snapshot) { *s = fixture(10) })
	q, err := v.e.Queue(v.ctx, gl, false)
	if err != nil || q.AlreadyPending || q.Run.Status != identity.SyncPending {
		t.Fatalf("queue = %+v, %v", q, err)
	}
	q2, err := v.e.Queue(v.ctx, gl, false)
	if err != nil || !q2.AlreadyPending || q2.Run.ID != q.Run.ID {
		t.Fatalf("second queue = %+v, %v", q2, err)
	}
	st, err := v.e.Status(v.ctx, gl)
	if err != nil || st.Pending == nil || !st.Enabled {
		t.Fatalf("status = %+v, %v", st, err)
	}
	ctx, cancel := context.WithCancel(v.ctx)
	done := make(chan struct{})
	go func() { v.e.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, func() bool {
		r, err := v.db.GetSyncRun(v.ctx, q.Run.ID)
		return err == nil && r.Status == identity.SyncSuccess
	})
	r, _ := v.db.GetSyncRun(v.ctx, q.Run.ID)
	if r.Trigger != identity.TriggerManual || r.Counts.UsersCreated != 10 {
		t.Fatalf("run = %+v", r)
	}
	// The queued run served the start-up one too: the next is an interval
	// after it ended.
	st, _ = v.e.Status(v.ctx, gl)
	if st.Last == nil || st.Last.ID != q.Run.ID || st.NextRun.Sub(st.Last.FinishedAt) != time.Hour || st.Pending != nil {
		t.Fatalf("status = %+v", st)
	}
	if reads := v.conn.reads.Load(); reads != 1 {
		t.Fatalf("reads = %d, want 1", reads)
	}
	// A short interval from the source's settings schedules runs.
	if err := v.e.SetSettings(v.ctx, gl, map[string]string{"interval": "50ms"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		_, n, _ := v.e.Runs(v.ctx, gl, store.Page{})
		return n >= 3
	})
	runs, _, _ := v.e.Runs(v.ctx, gl, store.Page{Size: 1})
	if runs[0].Trigger != identity.TriggerSchedule {
		t.Fatalf("latest run = %+v", runs[0])
	}
	// Disabled: nothing is queued and the status says why.
	if err := v.e.SetSettings(v.ctx, gl, map[string]string{"enabled": "false"}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.Queue(v.ctx, gl, false); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("queue while disabled: %v", err)
	}
	if st, _ := v.e.Status(v.ctx, gl); st.Enabled || !strings.Contains(st.Reason, "disabled") {
		t.Fatalf("status = %+v", st)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEngineOneRunAtATime runs many RunOnce calls at once: exactly one runs
// and the others are told a run is going on.
func TestEngineOneRunAtATime(t *testing.T) {
	v := newEnv(t, Config{})
	v.conn.set(func(s *Snapshot) { *s = fixture(200) })
	var ok, busy atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := v.e.RunOnce(v.ctx, gl, RunOptions{Trigger: identity.TriggerManual})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrBusy):
				busy.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() < 1 || ok.Load()+busy.Load() != 8 {
		t.Fatalf("ok %d busy %d", ok.Load(), busy.Load())
	}
	if u, _ := v.db.GetUserByLogin(v.ctx, "user199"); !u.Active {
		t.Fatal("run incomplete")
	}
}

func TestEngineUnknownSource(t *testing.T) {
	v := newEnv(t, Config{})
	if _, err := v.e.RunOnce(v.ctx, "nope", RunOptions{}); !errors.Is(err, identity.ErrNotFound) || !strings.Contains(err.Error(), "gitlab") {
		t.Fatalf("err = %v", err)
	}
}

// TestEngineRunsOnceConfigured: a source that never ran runs as soon as its
// settings become usable (trigger startup).
func TestEngineRunsOnceConfigured(t *testing.T) {
	v := newEnv(t, Config{})
	e, err := New(v.ctx, v.st, map[identity.Source]SourceConfig{gl: {Connector: v.conn}}, Config{Secrets: reverseSealer{}})
	if err != nil {
		t.Fatal(err)
	}
	v.conn.set(func(s *Snapshot) { *s = fixture(10) })
	ctx, cancel := context.WithCancel(v.ctx)
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond)
	if st, _ := e.Status(v.ctx, gl); st.Enabled || st.Last != nil {
		t.Fatalf("status before configuration = %+v", st)
	}
	if err := e.SetSettings(v.ctx, gl, map[string]string{"url": "https://gl"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		st, _ := e.Status(v.ctx, gl)
		return st.Last != nil
	})
	if st, _ := e.Status(v.ctx, gl); st.Last.Trigger != identity.TriggerStartup || st.Last.Status != identity.SyncSuccess {
		t.Fatalf("status = %+v", st.Last)
	}
}

// TestEngineLockAcrossReplicas: with the store's lock held by another
// replica (here: taken directly), a run does not start and says why.
func TestEngineLockAcrossReplicas(t *testing.T) {
	v := newEnv(t, Config{})
	locker := v.db.(store.Locker)
	e, err := New(v.ctx, v.st, map[identity.Source]SourceConfig{gl: {Connector: v.conn, Defaults: map[string]string{"url": "x"}}}, Config{Locker: locker})
	if err != nil {
		t.Fatal(err)
	}
	unlock, ok, err := locker.TryLock(v.ctx, "provision.gitlab")
	if err != nil || !ok {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	if _, err := e.RunOnce(v.ctx, gl, RunOptions{Trigger: identity.TriggerManual}); err == nil || !strings.Contains(err.Error(), "another replica") {
		t.Fatalf("run while locked: %v", err)
	}
	unlock()
	if run, err := e.RunOnce(v.ctx, gl, RunOptions{Trigger: identity.TriggerManual}); err != nil || run.Status != identity.SyncSuccess {
		t.Fatalf("run after unlock = %+v, %v", run, err)
	}
}

// TestEngineReseal: after a key rotation (new primary, the old key kept for
// reading), start-up re-encrypts stored secrets under the new key, so the
// old key can be retired.
func TestEngineReseal(t *testing.T) {
	k1, _ := secretbox.GenerateKey()
	k2, _ := secretbox.GenerateKey()
	ring1, err := secretbox.ParseKeyring(k1)
	if err != nil {
		t.Fatal(err)
	}
	v := newEnv(t, Config{Secrets: ring1})
	if err := v.e.SetSettings(v.ctx, gl, map[string]string{"token": "glpat-rotate"}); err != nil {
		t.Fatal(err)
	}
	before, _ := v.db.GetSetting(v.ctx, "provisioning.gitlab.token")
	ring2, err := secretbox.ParseKeyring(k2 + "\n" + k1)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := New(v.ctx, v.st, map[identity.Source]SourceConfig{gl: {Connector: v.conn}}, Config{Secrets: ring2})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := v.db.GetSetting(v.ctx, "provisioning.gitlab.token")
	id1, _ := secretbox.KeyID(before)
	id2, _ := secretbox.KeyID(after)
	if id1 == id2 || id2 != ring2.PrimaryID() {
		t.Fatalf("secret not resealed: %s → %s (primary %s)", id1, id2, ring2.PrimaryID())
	}
	if got, _ := e2.Values(v.ctx, gl); got["token"] != "glpat-rotate" {
		t.Fatalf("token after reseal = %q", got["token"])
	}
	// The old key can go now.
	ring3, _ := secretbox.ParseKeyring(k2)
	if _, err := New(v.ctx, v.st, map[identity.Source]SourceConfig{gl: {Connector: v.conn}}, Config{Secrets: ring3}); err != nil {
		t.Fatalf("start with the new key only: %v", err)
	}
}
