package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// bulkProjects inserts n private projects key-000001… in one transaction,
// bypassing templates, and reloads the index: fast set-up for scale tests.
func (e *env) bulkProjects(prefix string, n int) []int64 {
	e.t.Helper()
	var ids []int64
	err := e.db.Tx(e.ctx, func(tx store.Tx) error {
		for i := 1; i <= n; i++ {
			p, err := tx.CreateProject(e.ctx, identity.Project{Key: fmt.Sprintf("%s-%06d", prefix, i), Name: "p", Visibility: identity.Private, Source: identity.SourceLocal})
			if err != nil {
				return err
			}
			ids = append(ids, p.ID)
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.s.Reload(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	return ids
}

func TestOrganizationTokenScopes(t *testing.T) {
	e := newEnv(t)
	e.user("root", identity.GroupAdministrators)
	web := e.project("web", identity.Private, 0)
	e.project("docs", identity.Public, 0)
	e.project("team-a.api", identity.Private, 0)
	scan := []identity.Permission{identity.PermScan}
	gen := func(spec OrgTokenSpec) string {
		t.Helper()
		spec.Permissions = scan
		secret, tok, err := e.s.GenerateOrgToken(e.ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if tok.UserID != 0 || tok.Type != identity.TokenOrganization {
			t.Fatalf("token %+v", tok)
		}
		return secret
	}
	tokens := map[string]string{
		"explicit": gen(OrgTokenSpec{Name: "explicit", Projects: []int64{web.ID}}),
		"all":      gen(OrgTokenSpec{Name: "all", Set: identity.SetAll}),
		"public":   gen(OrgTokenSpec{Name: "public", Set: identity.SetPublic}),
		"private":  gen(OrgTokenSpec{Name: "private", Set: identity.SetPrivate}),
		"pattern":  gen(OrgTokenSpec{Name: "pattern", Patterns: []string{`team-a\..*`}}),
		"union":    gen(OrgTokenSpec{Name: "union", Set: identity.SetPublic, Patterns: []string{`team-a\..*`}, Projects: []int64{web.ID}}),
	}
	// Projects created after the tokens.
	e.project("team-a.new", identity.Private, 0)
	e.project("new-public", identity.Public, 0)
	cases := []struct {
		token string
		in    []string
	}{
		{"explicit", []string{"web"}},
		{"all", []string{"web", "docs", "team-a.api", "team-a.new", "new-public"}},
		{"public", []string{"docs", "new-public"}},
		{"private", []string{"web", "team-a.api", "team-a.new"}},
		{"pattern", []string{"team-a.api", "team-a.new"}},
		{"union", []string{"web", "docs", "team-a.api", "team-a.new", "new-public"}},
	}
	all := []string{"web", "docs", "team-a.api", "team-a.new", "new-public"}
	for _, tc := range cases {
		t.Run(tc.token, func(t *testing.T) {
			for _, key := range all {
				want := slices.Contains(tc.in, key)
				if got := e.allowed(tokens[tc.token], identity.PermScan, key); got != want {
					t.Errorf("scan on %s = %v, want %v", key, got, want)
				}
				if e.allowed(tokens[tc.token], identity.PermAdmin, key) {
					t.Errorf("admin on %s allowed; the token carries only scan", key)
				}
			}
			if e.allowed(tokens[tc.token], identity.PermScan, "") {
				t.Error("global scan allowed to an organization token")
			}
		})
	}
}

func TestOrganizationTokenValidation(t *testing.T) {
	e := newEnv(t)
	scan := []identity.Permission{identity.PermScan}
	cases := []struct {
		name string
		spec OrgTokenSpec
	}{
		{"no name", OrgTokenSpec{Permissions: scan, Set: identity.SetAll}},
		{"no scope", OrgTokenSpec{Name: "x", Permissions: scan}},
		{"no permission", OrgTokenSpec{Name: "x", Set: identity.SetAll}},
		{"global permission", OrgTokenSpec{Name: "x", Set: identity.SetAll, Permissions: []identity.Permission{identity.PermProvisioning}}},
		{"bad set", OrgTokenSpec{Name: "x", Set: "some", Permissions: scan}},
		{"bad pattern", OrgTokenSpec{Name: "x", Patterns: []string{"("}, Permissions: scan}},
		{"too many patterns", OrgTokenSpec{Name: "x", Patterns: slices.Repeat([]string{"a.*"}, MaxOrgTokenPatterns+1), Permissions: scan}},
		{"past expiry", OrgTokenSpec{Name: "x", Set: identity.SetAll, Permissions: scan, ExpiresAt: e.s.Now().Add(-time.Hour)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := e.s.GenerateOrgToken(e.ctx, tc.spec); !errors.Is(err, identity.ErrInvalid) {
				t.Fatalf("= %v, want ErrInvalid", err)
			}
		})
	}
	if _, _, err := e.s.GenerateOrgToken(e.ctx, OrgTokenSpec{Name: "x", Permissions: scan, Projects: []int64{999999}}); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("unknown project id = %v, want ErrNotFound", err)
	}
}

// A token over 10,000 explicit projects is created, checked, listed and
// edited without error.
func TestOrganizationTokenOverTenThousandProjects(t *testing.T) {
	e := newEnv(t)
	ids := e.bulkProjects("big", 10_500)
	secret, tok, err := e.s.GenerateOrgToken(e.ctx, OrgTokenSpec{Name: "big", Permissions: []identity.Permission{identity.PermScan}, Projects: ids[:10_000]})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Scope.ProjectCount != 10_000 {
		t.Fatalf("ProjectCount = %d", tok.Scope.ProjectCount)
	}
	for _, tc := range []struct {
		key     string
		allowed bool
	}{{"big-000001", true}, {"big-010000", true}, {"big-010001", false}} {
		if got := e.allowed(secret, identity.PermScan, tc.key); got != tc.allowed {
			t.Errorf("%s = %v, want %v", tc.key, got, tc.allowed)
		}
	}
	page, total, err := e.db.ListTokenProjects(e.ctx, tok.ID, store.Page{Number: 20, Size: 500})
	if err != nil || total != 10_000 || len(page) != 500 {
		t.Fatalf("page 20: %d rows of %d, %v", len(page), total, err)
	}
	up, err := e.s.UpdateOrgToken(e.ctx, tok.ID, OrgTokenUpdate{AddProjects: ids[10_000:], RemoveProjects: ids[:5_000]})
	if err != nil {
		t.Fatal(err)
	}
	if up.Scope.ProjectCount != 5_500 {
		t.Fatalf("after edit ProjectCount = %d, want 5500", up.Scope.ProjectCount)
	}
	if e.allowed(secret, identity.PermScan, "big-000001") || !e.allowed(secret, identity.PermScan, "big-010500") {
		t.Fatal("edit not seen by the next decision")
	}
	// Reloading from the store gives the same answers.
	e2 := newEnvOn(t, e.ctx, e.db)
	if e2.allowed(secret, identity.PermScan, "big-000001") || !e2.allowed(secret, identity.PermScan, "big-010500") {
		t.Fatal("reloaded index disagrees")
	}
}

func TestOrganizationTokenEditRotateRevoke(t *testing.T) {
	e := newEnv(t)
	e.project("web", identity.Private, 0)
	e.project("lib", identity.Private, 0)
	secret, tok, err := e.s.GenerateOrgToken(e.ctx, OrgTokenSpec{Name: "ci", Permissions: []identity.Permission{identity.PermScan}, Patterns: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	// Edit scope and permissions; the secret stays.
	perms := []identity.Permission{identity.PermScan, identity.PermUser}
	patterns := []string{"web|lib"}
	name := "ci-renamed"
	if _, err := e.s.UpdateOrgToken(e.ctx, tok.ID, OrgTokenUpdate{Name: &name, Permissions: &perms, Patterns: &patterns}); err != nil {
		t.Fatal(err)
	}
	if !e.allowed(secret, identity.PermUser, "lib") {
		t.Fatal("edited scope/permissions not in force")
	}
	empty := []string{}
	if _, err := e.s.UpdateOrgToken(e.ctx, tok.ID, OrgTokenUpdate{Patterns: &empty}); !errors.Is(err, identity.ErrInvalid) {
		t.Fatalf("edit to an empty scope = %v", err)
	}
	many := slices.Repeat([]string{"lib"}, MaxOrgTokenPatterns+1)
	if _, err := e.s.UpdateOrgToken(e.ctx, tok.ID, OrgTokenUpdate{Patterns: &many}); !errors.Is(err, identity.ErrInvalid) {
		t.Fatalf("edit to %d patterns = %v", len(many), err)
	}

	// Rotate with a grace period: both secrets work until it ends.
	newSecret, _, err := e.s.RotateToken(e.ctx, tok.ID, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !e.allowed(secret, identity.PermScan, "web") || !e.allowed(newSecret, identity.PermScan, "web") {
		t.Fatal("secrets during grace")
	}
	e.advance(10*time.Minute + time.Second)
	if e.allowed(secret, identity.PermScan, "web") || !e.allowed(newSecret, identity.PermScan, "web") {
		t.Fatal("secrets after grace")
	}
	// Rotate without grace: the old secret stops at once.
	third, _, err := e.s.RotateToken(e.ctx, tok.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if e.allowed(newSecret, identity.PermScan, "web") || !e.allowed(third, identity.PermScan, "web") {
		t.Fatal("rotation without grace")
	}
	if err := e.s.RevokeToken(e.ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Authenticate(third); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatalf("revoked token: %v", err)
	}
	if err := e.s.RevokeToken(e.ctx, tok.ID); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("second revoke = %v", err)
	}
	// The revoked token is kept for audit.
	if got, err := e.db.GetToken(e.ctx, tok.ID); err != nil || !got.Revoked() {
		t.Fatalf("revoked token row: %+v %v", got, err)
	}
}

func TestUserTokens(t *testing.T) {
	e := newEnv(t)
	bob := e.user("bob", "devs")
	web := e.project("web", identity.Private, 0)
	cases := []struct {
		name string
		n    NewUserToken
		err  error
	}{
		{"user token", NewUserToken{UserID: bob.ID, Name: "a", Type: identity.TokenUser}, nil},
		{"duplicate name", NewUserToken{UserID: bob.ID, Name: "a", Type: identity.TokenUser}, identity.ErrInvalid},
		{"global analysis", NewUserToken{UserID: bob.ID, Name: "b", Type: identity.TokenGlobalAnalysis}, nil},
		{"project analysis", NewUserToken{UserID: bob.ID, Name: "c", Type: identity.TokenProjectAnalysis, ProjectID: web.ID}, nil},
		{"project analysis without project", NewUserToken{UserID: bob.ID, Name: "d", Type: identity.TokenProjectAnalysis}, identity.ErrInvalid},
		{"organization type refused here", NewUserToken{UserID: bob.ID, Name: "e", Type: identity.TokenOrganization}, identity.ErrInvalid},
		{"long name", NewUserToken{UserID: bob.ID, Name: string(make([]byte, 101)), Type: identity.TokenUser}, identity.ErrInvalid},
		{"unknown user", NewUserToken{UserID: 424242, Name: "f", Type: identity.TokenUser}, identity.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			secret, tok, err := e.s.GenerateUserToken(e.ctx, tc.n)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("= %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(secret) != 42 || string(tok.Hash) == secret {
				t.Fatal("secret shape or plain storage")
			}
		})
	}
	if err := e.s.RevokeUserToken(e.ctx, bob.ID, "a"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.RevokeUserToken(e.ctx, bob.ID, "a"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("revoke twice = %v", err)
	}
}

func TestTokenPolicy(t *testing.T) {
	e := newEnv(t)
	bob := e.user("bob")
	now := e.s.Now()
	if err := e.s.SetTokenPolicy(e.ctx, TokenPolicy{MaxLifetimeDays: map[identity.TokenType]int{identity.TokenOrganization: 90}, AllowNonExpiring: true}); err != nil {
		t.Fatal(err)
	}
	scan := []identity.Permission{identity.PermScan}
	cases := []struct {
		name string
		gen  func() error
		ok   bool
	}{
		{"org 30 days", func() error {
			_, _, err := e.s.GenerateOrgToken(e.ctx, OrgTokenSpec{Name: "a", Permissions: scan, Set: identity.SetAll, ExpiresAt: now.AddDate(0, 0, 30)})
			return err
		}, true},
		{"org 365 days over max", func() error {
			_, _, err := e.s.GenerateOrgToken(e.ctx, OrgTokenSpec{Name: "b", Permissions: scan, Set: identity.SetAll, ExpiresAt: now.AddDate(0, 0, 365)})
			return err
		}, false},
		{"org never, max set", func() error {
			_, _, err := e.s.GenerateOrgToken(e.ctx, OrgTokenSpec{Name: "c", Permissions: scan, Set: identity.SetAll})
			return err
		}, false},
		{"user token never, no max", func() error {
			_, _, err := e.s.GenerateUserToken(e.ctx, NewUserToken{UserID: bob.ID, Name: "d", Type: identity.TokenUser})
			return err
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.gen(); (err == nil) != tc.ok {
				t.Fatalf("= %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if err := e.s.SetTokenPolicy(e.ctx, TokenPolicy{MaxLifetimeDays: map[identity.TokenType]int{}, AllowNonExpiring: false}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.GenerateUserToken(e.ctx, NewUserToken{UserID: bob.ID, Name: "e", Type: identity.TokenUser}); !errors.Is(err, identity.ErrInvalid) {
		t.Fatalf("non-expiring token while disallowed = %v", err)
	}
	if err := e.s.SetTokenPolicy(e.ctx, TokenPolicy{MaxLifetimeDays: map[identity.TokenType]int{"NOPE": 1}}); !errors.Is(err, identity.ErrInvalid) {
		t.Fatalf("bad policy = %v", err)
	}
	p, err := e.s.TokenPolicy(e.ctx)
	if err != nil || p.AllowNonExpiring {
		t.Fatalf("policy read back %+v %v", p, err)
	}

	// Expiry is enforced at use.
	if err := e.s.SetTokenPolicy(e.ctx, DefaultTokenPolicy()); err != nil {
		t.Fatal(err)
	}
	secret, _, err := e.s.GenerateUserToken(e.ctx, NewUserToken{UserID: bob.ID, Name: "f", Type: identity.TokenUser, ExpiresAt: now.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Authenticate(secret); err != nil {
		t.Fatal(err)
	}
	e.advance(24 * time.Hour)
	if _, err := e.s.Authenticate(secret); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatalf("expired token = %v", err)
	}
}

// countingStore counts TouchToken writes.
type countingStore struct {
	store.Store
	touches *atomic.Int64
}

func (c countingStore) Tx(ctx context.Context, fn func(store.Tx) error) error {
	return c.Store.Tx(ctx, func(tx store.Tx) error { return fn(countingTx{tx, c.touches}) })
}

type countingTx struct {
	store.Tx
	touches *atomic.Int64
}

func (c countingTx) TouchToken(ctx context.Context, id int64, at time.Time) error {
	c.touches.Add(1)
	return c.Tx.TouchToken(ctx, id, at)
}

func TestLastUsedWrittenAtMostOncePerMinute(t *testing.T) {
	base := newEnv(t)
	bob := base.user("bob")
	touches := &atomic.Int64{}
	e := newEnvOn(t, base.ctx, countingStore{base.db, touches})
	secret, tok, err := e.s.GenerateUserToken(e.ctx, NewUserToken{UserID: bob.ID, Name: "t", Type: identity.TokenUser})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	go e.s.Run(ctx)
	waitFor := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for touches.Load() < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond) // polling with a deadline, not a timed assertion
		}
	}
	for minute := range 3 {
		for range 100 { // 100 uses within the minute
			if _, err := e.s.Authenticate(secret); err != nil {
				t.Fatal(err)
			}
			e.advance(500 * time.Millisecond)
		}
		waitFor(int64(minute + 1))
		e.advance(10 * time.Second)
	}
	if got := touches.Load(); got != 3 {
		t.Fatalf("%d last-used writes for 300 uses over three minutes, want 3", got)
	}
	got, err := e.db.GetToken(e.ctx, tok.ID)
	if err != nil || got.LastUsedAt.IsZero() {
		t.Fatalf("LastUsedAt not recorded: %+v %v", got.LastUsedAt, err)
	}
	u, err := e.db.GetUser(e.ctx, bob.ID)
	if err != nil || u.LastTokenAt.IsZero() {
		t.Fatalf("user's last token use not recorded: %v", err)
	}
}

func TestCheckTokenOwner(t *testing.T) {
	for _, tc := range []struct {
		name          string
		caller, owner int64
		typ           identity.TokenType
		err           bool
	}{
		{"own user token", 1, 1, identity.TokenUser, false},
		{"own global analysis", 1, 1, identity.TokenGlobalAnalysis, false},
		{"own project analysis", 1, 1, identity.TokenProjectAnalysis, false},
		{"another's user token", 1, 2, identity.TokenUser, false},
		{"another's global analysis", 1, 2, identity.TokenGlobalAnalysis, true},
		{"another's project analysis", 1, 2, identity.TokenProjectAnalysis, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTokenOwner(tc.caller, tc.owner, tc.typ)
			if (err != nil) != tc.err || err != nil && !errors.Is(err, identity.ErrInvalid) {
				t.Fatalf("CheckTokenOwner = %v", err)
			}
		})
	}
}

// TestIssueUserToken: the one path of api/user_tokens/generate and the
// admin UI, refusal by refusal.
func TestIssueUserToken(t *testing.T) {
	e := newEnv(t)
	root := e.user("root", identity.GroupAdministrators)
	ivy := e.user("ivy")
	pub := e.project("pub", identity.Public, 0)
	secret := e.project("secret", identity.Private, 0)
	// Nobody but the administrators may see the private project, and
	// nobody scan the public one: the new instance's global grants and the
	// default template's go.
	var global int64
	for _, pid := range []int64{global, pub.ID, secret.ID} {
		gs, err := e.db.ListGrants(e.ctx, store.GrantFilter{ProjectID: &pid})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gs {
			if g.Subject.Kind == identity.SubjectGroup && g.Subject.ID == mustGroup(t, e, identity.GroupAdministrators).ID {
				continue
			}
			if err := e.s.RemoveGrant(e.ctx, g); err != nil {
				t.Fatal(err)
			}
		}
	}
	as := e.principal
	for _, tc := range []struct {
		name   string
		caller identity.User
		req    UserTokenRequest
		want   error
	}{
		{"own user token", ivy, UserTokenRequest{Owner: ivy, Name: "laptop", Type: identity.TokenUser}, nil},
		{"an admin's for another user", root, UserTokenRequest{Owner: ivy, Name: "given", Type: identity.TokenUser}, nil},
		{"analysis for another user", root, UserTokenRequest{Owner: ivy, Name: "ci", Type: identity.TokenGlobalAnalysis}, identity.ErrInvalid},
		{"project analysis without a key", ivy, UserTokenRequest{Owner: ivy, Name: "ci", Type: identity.TokenProjectAnalysis}, identity.ErrInvalid},
		{"an unknown project", ivy, UserTokenRequest{Owner: ivy, Name: "ci", Type: identity.TokenProjectAnalysis, ProjectKey: "nope"}, identity.ErrNotFound},
		{"a private project unseen", ivy, UserTokenRequest{Owner: ivy, Name: "ci", Type: identity.TokenProjectAnalysis, ProjectKey: "secret"}, identity.ErrNotFound},
		{"a seen project without scan", ivy, UserTokenRequest{Owner: ivy, Name: "ci", Type: identity.TokenProjectAnalysis, ProjectKey: "pub"}, identity.ErrForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.s.IssueUserToken(e.ctx, as(tc.caller), tc.req)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("IssueUserToken = %v, want %v", err, tc.want)
			}
		})
	}
	if err := e.s.AddGrant(e.ctx, identity.Grant{Subject: identity.UserSubject(ivy.ID), ProjectID: pub.ID, Permission: identity.PermScan}); err != nil {
		t.Fatal(err)
	}
	_, tok, err := e.s.IssueUserToken(e.ctx, as(ivy), UserTokenRequest{Owner: ivy, Name: " ci ", Type: identity.TokenProjectAnalysis, ProjectKey: " pub "})
	if err != nil || tok.ProjectID != pub.ID || tok.Name != "ci" {
		t.Fatalf("with scan: %+v %v", tok, err)
	}
}
