package state

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore/sqltest"
)

// fakeDirectory is an in-memory directory: accounts by login, a password
// per login, and a switch that makes it unreachable.
type fakeDirectory struct {
	mu       sync.Mutex
	accounts map[string]identity.ExternalAccount
	password map[string]string
	down     bool
	lookups  atomic.Int64
	gate     chan struct{} // when set, LookUp waits for it
}

func newFakeDirectory() *fakeDirectory {
	return &fakeDirectory{accounts: map[string]identity.ExternalAccount{}, password: map[string]string{}}
}

func (f *fakeDirectory) put(login, pw string, groups ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts[login] = identity.ExternalAccount{Login: login, Name: strings.ToUpper(login), Email: login + "@example.org", ExternalID: login, Active: true, Groups: groups, GroupsManaged: true}
	f.password[login] = pw
}

func (f *fakeDirectory) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

var errDown = identity.Errorf(identity.ErrUnavailable, "LDAP server ldap://fake cannot be reached: connection refused")

func (f *fakeDirectory) SignIn(_ context.Context, login, pw string) (identity.ExternalAccount, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return identity.ExternalAccount{}, errDown
	}
	acc, ok := f.accounts[login]
	if !ok || f.password[login] != pw || pw == "" {
		return identity.ExternalAccount{}, identity.Errorf(identity.ErrUnauthenticated, "Authentication failed")
	}
	return acc, nil
}

func (f *fakeDirectory) LookUp(_ context.Context, login string) (identity.ExternalAccount, error) {
	f.lookups.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return identity.ExternalAccount{}, errDown
	}
	acc, ok := f.accounts[login]
	if !ok {
		return identity.ExternalAccount{}, identity.Errorf(identity.ErrNotFound, "User '%s' not found in LDAP", login)
	}
	return acc, nil
}

// ldapEnv is an env with a fake directory connected as the LDAP source, a
// staleness bound of one minute, and an LDAP group that grants global admin.
func ldapEnv(t *testing.T) (*env, *fakeDirectory) {
	e := newEnv(t)
	d := newFakeDirectory()
	e.s.SetDirectory(identity.SourceLDAP, d, DirectoryOptions{Staleness: time.Minute, GroupsManaged: true})
	return e, d
}

func (e *env) signIn(login, pw string) identity.User {
	e.t.Helper()
	_, u, err := e.s.CheckPassword(e.ctx, login, pw)
	if err != nil {
		e.t.Fatalf("sign-in %s: %v", login, err)
	}
	return u
}

func (e *env) grantGlobal(group string, perm identity.Permission) {
	e.t.Helper()
	g := mustGroup(e.t, e, group)
	if err := e.s.AddGrant(e.ctx, identity.Grant{Subject: identity.GroupSubject(g.ID), Permission: perm}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) token(u identity.User) string {
	e.t.Helper()
	sec, _, err := e.s.GenerateUserToken(e.ctx, NewUserToken{UserID: u.ID, Name: "t", Type: identity.TokenUser})
	if err != nil {
		e.t.Fatal(err)
	}
	return sec
}

func (e *env) groupsOf(u identity.User) []string {
	g := e.s.Index().GroupNames(u.ID)
	slices.Sort(g)
	return g
}

func TestDirectorySignIn(t *testing.T) {
	e, d := ldapEnv(t)
	d.put("svc", "svc-pw", "ops", "devs")
	e.user("local", "devs")

	// First sign-in creates the user (source ldap) and its groups.
	u := e.signIn("svc", "svc-pw")
	if u.Source != identity.SourceLDAP || u.Name != "SVC" || u.Email != "svc@example.org" || !u.Active {
		t.Fatalf("user = %+v", u)
	}
	if got := e.groupsOf(u); !slices.Equal(got, []string{"devs", "ops"}) {
		t.Fatalf("groups = %v", got)
	}
	if g := mustGroup(t, e, "ops"); g.Source != identity.SourceLDAP {
		t.Errorf("created group source = %s, want ldap", g.Source)
	}
	// Wrong password, unknown login: the same refusal.
	for _, c := range [][2]string{{"svc", "nope"}, {"ghost", "x"}} {
		if _, _, err := e.s.CheckPassword(e.ctx, c[0], c[1]); err == nil || identity.Message(err) != "Authentication failed" {
			t.Errorf("CheckPassword(%s) = %v, want Authentication failed", c[0], err)
		}
	}
	// The directory overrides local membership of its users: a group added
	// locally is dropped at the next sign-in; the name changes too.
	if err := e.s.AddMember(WithActor(e.ctx, Actor{Name: "connector:ldap", Source: identity.SourceLDAP}), "sonar-administrators", "svc"); err != nil {
		t.Fatal(err)
	}
	d.put("svc", "svc-pw", "ops")
	e.signIn("svc", "svc-pw")
	if got := e.groupsOf(u); !slices.Equal(got, []string{"ops"}) {
		t.Errorf("groups after second sign-in = %v, want [ops]", got)
	}
	// Local users are untouched: password checked locally, groups kept.
	lu := e.signIn("local", "a-long-password-local")
	if got := e.groupsOf(lu); !slices.Equal(got, []string{"devs"}) || lu.Source != identity.SourceLocal {
		t.Errorf("local user = %+v groups %v", lu, got)
	}
	// A directory that cannot answer says so (503), it does not claim bad
	// credentials.
	d.setDown(true)
	if _, _, err := e.s.CheckPassword(e.ctx, "svc", "svc-pw"); !strings.Contains(identity.Message(err), "cannot be reached") {
		t.Errorf("sign-in with the directory down = %v", err)
	}
}

// The seed's fix: a token of a directory user whose groups are older than
// the bound is judged on groups re-read from the directory, without any
// sign-in.
func TestTokenUseRereadsStaleGroups(t *testing.T) {
	e, d := ldapEnv(t)
	d.put("svc", "svc-pw", "ldap-admins")
	u := e.signIn("svc", "svc-pw")
	e.grantGlobal("ldap-admins", identity.PermAdmin)
	tok := e.token(u)
	if !e.allowed(tok, identity.PermAdmin, "") {
		t.Fatal("token has no admin through its LDAP group")
	}
	lookups := d.lookups.Load()

	// Removed from the group in the directory: within the bound the cached
	// groups are trusted (and cost no look-up) …
	d.put("svc", "svc-pw")
	e.advance(59 * time.Second)
	if !e.allowed(tok, identity.PermAdmin, "") || d.lookups.Load() != lookups {
		t.Fatal("a fresh cache was re-read or refused")
	}
	// … past it, the very next use re-reads them and admin is gone.
	e.advance(2 * time.Second)
	if e.allowed(tok, identity.PermAdmin, "") {
		t.Fatal("token keeps admin after its user left the LDAP group")
	}
	if d.lookups.Load() != lookups+1 {
		t.Errorf("look-ups = %d, want one", d.lookups.Load()-lookups)
	}
	p, _ := e.s.Authenticate(tok)
	ex := e.s.Index().Explain(p, identity.PermAdmin, "")
	if !chainHas(ex.Chain, "groups", "last read from ldap at 2026-11-25T12:01:01") {
		t.Errorf("explain chain %+v does not say when the groups were read", ex.Chain)
	}
	// Gone from the directory altogether: no groups, and still no write
	// of anything else.
	d.mu.Lock()
	delete(d.accounts, "svc")
	d.mu.Unlock()
	e.advance(2 * time.Minute)
	e.allowed(tok, identity.PermAdmin, "")
	if got := e.groupsOf(u); len(got) != 0 {
		t.Errorf("groups of a user gone from LDAP = %v", got)
	}
}

func chainHas(chain []authz.Link, kind, detail string) bool {
	return slices.ContainsFunc(chain, func(l authz.Link) bool { return l.Kind == kind && strings.Contains(l.Detail, detail) })
}

func TestConcurrentStaleUsesShareOneLookup(t *testing.T) {
	e, d := ldapEnv(t)
	d.put("svc", "svc-pw", "ldap-admins")
	u := e.signIn("svc", "svc-pw")
	e.grantGlobal("ldap-admins", identity.PermAdmin)
	tok := e.token(u)
	e.advance(2 * time.Minute)
	before := d.lookups.Load()
	d.gate = make(chan struct{})
	const n = 1000
	var wg sync.WaitGroup
	var allowed atomic.Int64
	started := make(chan struct{}, n)
	for range n {
		wg.Go(func() {
			started <- struct{}{}
			if e.allowed(tok, identity.PermAdmin, "") {
				allowed.Add(1)
			}
		})
	}
	for range n {
		<-started
	}
	// Wait (with a deadline) until the one look-up is in flight, then let
	// it answer.
	deadline := time.Now().Add(5 * time.Second)
	for d.lookups.Load() == before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(d.gate)
	wg.Wait()
	d.gate = nil
	if got := d.lookups.Load() - before; got != 1 {
		t.Errorf("%d concurrent stale uses made %d look-ups, want 1", n, got)
	}
	if allowed.Load() != n {
		t.Errorf("%d of %d requests allowed", allowed.Load(), n)
	}
}

// Past the bound with the directory unreachable, rights from directory
// groups are refused with the reason; direct grants, sonar-users and local
// users keep working; the next successful read lifts the hold.
func TestUnreachableDirectoryFailsClosed(t *testing.T) {
	e, d := ldapEnv(t)
	d.put("svc", "svc-pw", "ldap-admins")
	u := e.signIn("svc", "svc-pw")
	e.grantGlobal("ldap-admins", identity.PermAdmin)
	if err := e.s.AddGrant(e.ctx, identity.Grant{Subject: identity.UserSubject(u.ID), Permission: identity.PermGateAdmin}); err != nil {
		t.Fatal(err)
	}
	e.grantGlobal(identity.GroupUsers, identity.PermProfileAdmin)
	local := e.user("local", "local-admins")
	e.grantGlobal("local-admins", identity.PermAdmin)
	tok, localTok := e.token(u), e.token(local)

	d.setDown(true)
	e.advance(30 * time.Second)
	if !e.allowed(tok, identity.PermAdmin, "") {
		t.Fatal("within the bound an unreachable directory must not matter")
	}
	e.advance(31 * time.Second)
	if e.allowed(tok, identity.PermAdmin, "") {
		t.Fatal("admin through an LDAP group granted past the bound with the directory down")
	}
	if !e.allowed(tok, identity.PermGateAdmin, "") || !e.allowed(tok, identity.PermProfileAdmin, "") {
		t.Error("direct grant or sonar-users grant refused: only LDAP group rights must be")
	}
	if !e.allowed(localTok, identity.PermAdmin, "") {
		t.Error("a local user's group rights were refused")
	}
	p, _ := e.s.Authenticate(tok)
	ex := e.s.Index().Explain(p, identity.PermAdmin, "")
	if ex.Allowed || !strings.Contains(ex.Missing, "cannot be re-read now") || !strings.Contains(ex.Missing, "cannot be reached") || !strings.Contains(ex.Reason, "refused until it answers") {
		t.Errorf("explain = %+v", ex)
	}
	// While held, the directory is asked again at most once a bound.
	n := d.lookups.Load()
	e.allowed(tok, identity.PermAdmin, "")
	if d.lookups.Load() != n {
		t.Error("a held user re-asked the directory on every request")
	}
	d.setDown(false)
	e.advance(61 * time.Second)
	if !e.allowed(tok, identity.PermAdmin, "") {
		t.Error("admin still refused after the directory answered again")
	}
}

func TestDisabledInDirectoryDeactivates(t *testing.T) {
	e, d := ldapEnv(t)
	d.put("svc", "svc-pw", "ops")
	u := e.signIn("svc", "svc-pw")
	tok := e.token(u)
	d.mu.Lock()
	acc := d.accounts["svc"]
	acc.Active = false
	d.accounts["svc"] = acc
	d.mu.Unlock()
	e.advance(2 * time.Minute)
	if _, err := e.s.Authenticate(tok); err != nil {
		t.Fatalf("the request that discovers the disabled account: %v", err)
	}
	if _, err := e.s.Authenticate(tok); err == nil {
		t.Error("token of a user disabled in the directory still works")
	}
}

// A fresh cache costs the decision path nothing it can measure: no
// allocation (BenchmarkAuthenticateDecideDirectoryUser gives the time).
func TestFreshCheckAllocatesNothing(t *testing.T) {
	e, d := ldapEnv(t)
	d.put("svc", "svc-pw", "ops")
	tok := e.token(e.signIn("svc", "svc-pw"))
	allocs := testing.AllocsPerRun(100, func() {
		p, err := e.s.Authenticate(tok)
		if err != nil {
			t.Fatal(err)
		}
		e.s.Index().Decide(p, identity.PermScan, "")
	})
	localTok := e.token(e.user("local"))
	base := testing.AllocsPerRun(100, func() {
		p, _ := e.s.Authenticate(localTok)
		e.s.Index().Decide(p, identity.PermScan, "")
	})
	if allocs != base {
		t.Errorf("a fresh directory user's authenticate+decide allocates %.1f times, a local user's %.1f", allocs, base)
	}
}

// BenchmarkFreshenFresh is the freshness check alone for a directory user
// whose groups are fresh: what the decision path pays for LDAP on top of a
// local user's request.
func BenchmarkFreshenFresh(b *testing.B) {
	ctx := context.Background()
	s, d := benchDirectoryState(b)
	d.put("svc", "svc-pw", "ops")
	_, u, err := s.CheckPassword(ctx, "svc", "svc-pw")
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := s.GenerateUserToken(ctx, NewUserToken{UserID: u.ID, Name: "t", Type: identity.TokenUser})
	if err != nil {
		b.Fatal(err)
	}
	p, _, err := s.Index().Resolve(tok)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Freshen(ctx, p)
	}
	if d.lookups.Load() != 0 {
		b.Fatal("a fresh user was looked up")
	}
}

func benchDirectoryState(b *testing.B) (*State, *fakeDirectory) {
	ctx := WithActor(context.Background(), Actor{Name: "system"})
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "g.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	s, err := New(ctx, db, Options{})
	if err != nil {
		b.Fatal(err)
	}
	d := newFakeDirectory()
	s.SetDirectory(identity.SourceLDAP, d, DirectoryOptions{Staleness: time.Hour, GroupsManaged: true})
	return s, d
}

// staleLoginStore answers the first reads of login (up to and including
// read number at) with ErrNotFound, running before at read at: reads
// that came just before a concurrent commit (before) of the same login.
type staleLoginStore struct {
	store.Store
	login  string
	at     int
	before func()
	mu     sync.Mutex
	reads  int
}

func (s *staleLoginStore) GetUserByLogin(ctx context.Context, login string) (identity.User, error) {
	if login == s.login {
		s.mu.Lock()
		s.reads++
		n := s.reads
		s.mu.Unlock()
		if n == s.at {
			s.before()
		}
		if n <= s.at {
			return identity.User{}, identity.Errorf(identity.ErrNotFound, "User '%s' not found", login)
		}
	}
	return s.Store.GetUserByLogin(ctx, login)
}

// TestDirectorySignInRacesSync checks that a first sign-in that loses the
// race to a periodic sync creating the same account signs in as that
// account, instead of failing with "already exists" (CI's TestLDAPSeed
// did, the start-up sync creating svc-ci during the sign-in).
func TestDirectorySignInRacesSync(t *testing.T) {
	ctx := WithActor(t.Context(), Actor{Name: "user:test"})
	db := sqltest.SQLite(t)
	var s *State
	// Read 1 is the password check's, read 2 the match of the first
	// sign-in: the sync commits right after it.
	racing := &staleLoginStore{Store: db, login: "svc", at: 2, before: func() {
		sync := WithActor(ctx, Actor{Name: "connector:ldap", Source: identity.SourceLDAP})
		if _, err := s.CreateUser(sync, NewUser{Login: "svc", Name: "SVC", Email: "svc@example.org", Source: identity.SourceLDAP, ExternalID: "svc"}); err != nil {
			t.Errorf("the sync's create: %v", err)
		}
	}}
	s, err := New(ctx, racing, Options{})
	noErr(t, err)
	d := newFakeDirectory()
	d.put("svc", "svc-pw", "ops")
	s.SetDirectory(identity.SourceLDAP, d, DirectoryOptions{Staleness: time.Minute, GroupsManaged: true})

	_, u, err := s.CheckPassword(ctx, "svc", "svc-pw")
	if err != nil {
		t.Fatalf("sign-in racing the sync: %v", err)
	}
	if u.Login != "svc" || u.Source != identity.SourceLDAP || !u.Active {
		t.Fatalf("signed in as %+v", u)
	}
	if g := s.Index().GroupNames(u.ID); !slices.Contains(g, "ops") {
		t.Errorf("groups after the raced sign-in = %v, want ops among them", g)
	}
}
