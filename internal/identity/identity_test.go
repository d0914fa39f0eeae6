package identity

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateLogin(t *testing.T) {
	cases := []struct {
		login string
		ok    bool
	}{
		{"alice", true},
		{"Alice", true}, // case-sensitive: a different login from "alice"
		{"a.b-c_d@example.com", true},
		{"_svc", true},
		{"42", true},
		{"", false},
		{"a", false},
		{strings.Repeat("x", 255), true},
		{strings.Repeat("x", 256), false},
		{"-leading-dash", false},
		{".leading-dot", false},
		{"has space", false},
		{"semi;colon", false},
		{"ünïcode", false},
	}
	for _, tc := range cases {
		t.Run(tc.login, func(t *testing.T) {
			err := ValidateLogin(tc.login)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateLogin(%q) = %v, want ok=%v", tc.login, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
		})
	}
}

func TestValidateProjectKey(t *testing.T) {
	cases := []struct {
		key string
		ok  bool
	}{
		{"my_project", true},
		{"org.example:app-1", true},
		{"a", true},
		{"123", false}, // at least one non-digit
		{"12a", true},
		{"", false},
		{"has space", false},
		{"slash/key", false},
		{strings.Repeat("k", 400), true},
		{strings.Repeat("k", 401), false},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			if err := ValidateProjectKey(tc.key); (err == nil) != tc.ok {
				t.Fatalf("ValidateProjectKey(%q) = %v, want ok=%v", tc.key, err, tc.ok)
			}
		})
	}
}

func TestValidateGroupName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"devs", true},
		{"sonar-users", true},
		{"", false},
		{"   ", false},
		{"Anyone", false},
		{"anyone", false}, // reserved in any case
		{"ANYONE", false},
		{strings.Repeat("g", 255), true},
		{strings.Repeat("g", 256), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidateGroupName(tc.name); (err == nil) != tc.ok {
				t.Fatalf("ValidateGroupName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			}
		})
	}
}

func TestValidateGrant(t *testing.T) {
	pub := &Project{ID: 1, Key: "pub", Visibility: Public}
	priv := &Project{ID: 2, Key: "priv", Visibility: Private}
	cases := []struct {
		name    string
		grant   Grant
		project *Project
		ok      bool
	}{
		{"global admin to group", Grant{Subject: GroupSubject(1), Permission: PermAdmin}, nil, true},
		{"global scan to user", Grant{Subject: UserSubject(1), Permission: PermScan}, nil, true},
		{"global codeviewer", Grant{Subject: UserSubject(1), Permission: PermCodeViewer}, nil, false},
		{"project gateadmin", Grant{Subject: UserSubject(1), ProjectID: 2, Permission: PermGateAdmin}, priv, false},
		{"project issueadmin", Grant{Subject: UserSubject(1), ProjectID: 2, Permission: PermIssueAdmin}, priv, true},
		{"browse on public is implicit", Grant{Subject: UserSubject(1), ProjectID: 1, Permission: PermUser}, pub, false},
		{"codeviewer on public is implicit", Grant{Subject: GroupSubject(1), ProjectID: 1, Permission: PermCodeViewer}, pub, false},
		{"scan on public", Grant{Subject: GroupSubject(1), ProjectID: 1, Permission: PermScan}, pub, true},
		{"Anyone on private", Grant{Subject: Anyone, ProjectID: 2, Permission: PermScan}, priv, false},
		{"Anyone on public", Grant{Subject: Anyone, ProjectID: 1, Permission: PermIssueAdmin}, pub, true},
		{"user without id", Grant{Subject: Subject{Kind: SubjectUser}, Permission: PermScan}, nil, false},
		{"creator outside templates", Grant{Subject: Subject{Kind: SubjectCreator}, ProjectID: 2, Permission: PermScan}, priv, false},
		{"unknown permission", Grant{Subject: UserSubject(1), Permission: "root"}, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidateGrant(tc.grant, tc.project); (err == nil) != tc.ok {
				t.Fatalf("ValidateGrant = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestCompileKeyPatternIsAnchored(t *testing.T) {
	cases := []struct {
		pattern, key string
		match        bool
	}{
		{`team-a\..*`, "team-a.api", true},
		{`team-a\..*`, "x.team-a.api", false}, // anchored at the start
		{`.*\.finance\..*`, "org.finance.app", true},
		{`app|lib`, "app", true},
		{`app|lib`, "library", false}, // the alternation is anchored as a whole
		{`lib`, "lib-extra", false},   // and at the end
	}
	for _, tc := range cases {
		re, err := CompileKeyPattern(tc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := re.MatchString(tc.key); got != tc.match {
			t.Errorf("%q on %q = %v, want %v", tc.pattern, tc.key, got, tc.match)
		}
	}
	for _, bad := range []string{`(`, `[a-`, strings.Repeat("a", MaxPatternLen+1),
		`prod-.*)|(x`,                    // would escape the anchoring group
		strings.Repeat(`.{0,999}`, 60),   // tiny text, huge program
		`((((a{1,100}){1,100}){1,100}))`, // nested counted repetition
	} {
		if _, err := CompileKeyPattern(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("CompileKeyPattern(%.20q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestSources(t *testing.T) {
	for _, tc := range []struct {
		s       Source
		managed bool
		valid   bool
	}{
		{SourceLocal, false, true}, {SourceSCIM, true, true}, {SourceGitLab, true, true},
		{SourceLDAP, true, true}, {SourceSSO, true, true}, {"github", true, false},
	} {
		if tc.s.Managed() != tc.managed || tc.s.Valid() != tc.valid {
			t.Errorf("%s: managed %v valid %v", tc.s, tc.s.Managed(), tc.s.Valid())
		}
	}
}

func TestPermissionLevels(t *testing.T) {
	for _, p := range GlobalPermissions {
		if !p.IsGlobal() {
			t.Errorf("%s not global", p)
		}
	}
	for _, p := range ProjectPermissions {
		if !p.IsProject() {
			t.Errorf("%s not project", p)
		}
	}
	if PermGateAdmin.IsProject() || PermUser.IsGlobal() {
		t.Error("levels mixed up")
	}
	if _, err := ParseProjectPermission("provisioning"); err == nil || !strings.Contains(err.Error(), "must be one of: [admin, codeviewer") {
		t.Errorf("ParseProjectPermission error %v", err)
	}
}

func TestErrorMessages(t *testing.T) {
	err := Errorf(ErrNotFound, "User '%s' has not been found", "bob")
	if !errors.Is(err, ErrNotFound) || Message(err) != "User 'bob' has not been found" {
		t.Fatalf("%v", err)
	}
	if !errors.Is(Errorf(ErrManaged, "x"), ErrInvalid) {
		t.Fatal("ErrManaged is not ErrInvalid")
	}
	if Message(errors.New("db: connection refused on 10.0.0.1")) != "An error has occurred. Please contact your administrator" {
		t.Fatal("internal cause leaked")
	}
}

func TestRetrySeconds(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int64
	}{{0, 1}, {time.Millisecond, 1}, {time.Second, 1}, {time.Second + time.Millisecond, 2}, {90 * time.Second, 90}} {
		if got := RetrySeconds(c.d); got != c.want {
			t.Errorf("RetrySeconds(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}
