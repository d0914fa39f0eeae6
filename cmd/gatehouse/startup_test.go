package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore/sqltest"
)

// runCmd runs the CLI in-process and returns its exit status, stdout and
// stderr (with the error line main prints).
func runCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := exitCode(run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut), &errOut)
	return code, out.String(), errOut.String()
}

// TestHelp: every command's --help exits 0 and lists its own flags only.
func TestHelp(t *testing.T) {
	cases := []struct {
		args    []string
		want    []string
		notWant []string
	}{
		{[]string{"serve", "--help"}, []string{"--addr", "--data-dir", "GATEHOUSE_ADMIN_PASSWORD", "GATEHOUSE_METRICS_TOKEN", "--trusted-proxies"}, []string{"--login", "--create", "--dry-run"}},
		{[]string{"serve", "-h"}, []string{"--addr"}, nil},
		{[]string{"migrate", "--help"}, []string{"--create", "--data-dir", "--database-url"}, []string{"--addr", "--access-log", "GATEHOUSE_ADMIN_PASSWORD", "--ldap-config"}},
		{[]string{"admin", "reset-password", "--help"}, []string{"--login", "--password", "--create", "--data-dir"}, []string{"--addr", "--access-log", "GATEHOUSE_ADMIN_PASSWORD", "--secure-cookies"}},
		{[]string{"admin", "--help"}, []string{"reset-password"}, nil},
		{[]string{"token", "--help"}, []string{"token scim"}, nil},
		{[]string{"token", "scim", "--help"}, []string{"--name", "--scopes", "--data-dir"}, []string{"--addr", "--create"}},
		{[]string{"sync", "--help"}, []string{"sync SOURCE"}, nil},
		{[]string{"sync", "ldap", "--help"}, []string{"--dry-run", "--force", "--ldap-config"}, []string{"--addr", "--access-log"}},
		{[]string{"import", "--help"}, []string{"--dry-run"}, []string{"--addr"}},
		{[]string{"help"}, []string{"serve", "migrate"}, nil},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runCmd(t, nil, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d, want 0 (stderr %q)", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("help lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("help lists %q, which is not this command's:\n%s", w, out)
				}
			}
		})
	}
}

// TestStartupFailures: each start-up mistake is refused with a message
// naming the setting and the fix, and before anything is written: no
// store is created, no one-time password printed.
func TestStartupFailures(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"port in use", []string{"serve", "--addr", busy.Addr().String()}, nil,
			[]string{"cannot listen on " + busy.Addr().String(), "already in use", "--addr"}},
		{"bad addr", []string{"serve", "--addr", "nonsense"}, nil,
			[]string{`listen address "nonsense" (--addr, GATEHOUSE_ADDR): want host:port`}},
		{"bad port", []string{"serve", "--addr", ":99999"}, nil,
			[]string{`the port "99999" is not a number from 1 to 65535`}},
		{"bad addr in env", []string{"serve"}, map[string]string{"GATEHOUSE_ADDR": "9000"},
			[]string{`listen address "9000" (--addr, GATEHOUSE_ADDR)`}},
		{"address not on this machine", []string{"serve", "--addr", "192.0.2.1:0"}, nil,
			[]string{"no network interface of this machine has that address"}},
		{"bad boolean in env", []string{"serve"}, map[string]string{"GATEHOUSE_ACCESS_LOG": "maybe"},
			[]string{`environment variable GATEHOUSE_ACCESS_LOG="maybe": want true or false (correct it or unset it)`}},
		{"bad boolean flag", []string{"serve", "--secure-cookies=maybe"}, nil,
			[]string{`--secure-cookies="maybe": want true or false`}},
		{"bad duration in env", []string{"serve"}, map[string]string{"GATEHOUSE_BODY_TIMEOUT": "30"},
			[]string{"environment variable GATEHOUSE_BODY_TIMEOUT", "want a duration such as 30s"}},
		{"data dir is a file", []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", notADir}, nil,
			[]string{"the data directory " + notADir + " (--data-dir or GATEHOUSE_DATA_DIR) is a file"}},
		{"bad secret key", []string{"serve", "--addr", "127.0.0.1:0"}, map[string]string{"GATEHOUSE_SECRET_KEY": "not-base64!"},
			[]string{"secret key:"}},
		{"missing LDAP file", []string{"serve", "--addr", "127.0.0.1:0", "--ldap-config", "/nonexistent/ldap.properties"}, nil,
			[]string{"LDAP configuration file /nonexistent/ldap.properties (--ldap-config, GATEHOUSE_LDAP_CONFIG) does not exist"}},
		{"unknown flag", []string{"serve", "--adr", ":9000"}, nil,
			[]string{"flag provided but not defined: -adr", "gatehouse serve --help"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			env := map[string]string{"GATEHOUSE_DATA_DIR": dir}
			for k, v := range tc.env {
				env[k] = v
			}
			code, out, errOut := runCmd(t, env, tc.args...)
			if code == 0 {
				t.Fatalf("exit 0, want a failure (stdout %q)", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
			if strings.Contains(out, "password") {
				t.Errorf("a password was printed before the failure: %q", out)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the data directory was created before the failure (%v)", err)
			}
		})
	}
}

// TestStoreCommands: migrate and reset-password name the store they opened
// and create neither a store nor an administrator unless --create asks.
func TestStoreCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"GATEHOUSE_DATA_DIR": dir}
	db := filepath.Join(dir, "gatehouse.db")
	steps := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"migrate refuses a missing store", []string{"migrate"}, 2, "", "SQLite at " + db + " holds no Gatehouse store: point --data-dir or GATEHOUSE_DATA_DIR at the existing one, or pass --create"},
		{"reset refuses a missing store", []string{"admin", "reset-password"}, 2, "", "holds no Gatehouse store"},
		{"token refuses a missing store", []string{"token", "scim"}, 2, "", "holds no Gatehouse store"},
		{"migrate --create", []string{"migrate", "--create"}, 0, "SQLite at " + db + " (new store): applied", ""},
		{"migrate again", []string{"migrate"}, 0, "SQLite at " + db + " (existing store): applied 0 migration(s)", ""},
		{"reset unknown login", []string{"admin", "reset-password", "--login", "admn"}, 2, "", `no user has the login "admn"; check it, or pass --create`},
		{"reset --create", []string{"admin", "reset-password", "--login", "admin", "--password", "a-very-long-password", "--create"}, 0, "Store: SQLite at " + db + ".\nAdministrator \"admin\" can sign in with password: a-very-long-password", ""},
		{"reset existing", []string{"admin", "reset-password", "--password", "another-long-password"}, 0, "another-long-password", ""},
		{"reset short password", []string{"admin", "reset-password", "--password", "short"}, 2, "", ""},
		{"token names the store", []string{"token", "scim"}, 0, "gts_", "store: SQLite at " + db},
	}
	for _, st := range steps {
		code, out, errOut := runCmd(t, env, st.args...)
		if code != st.wantCode || !strings.Contains(out, st.wantOut) || !strings.Contains(errOut, st.wantErr) {
			t.Fatalf("%s: exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", st.name, code, st.wantCode, out, st.wantOut, errOut, st.wantErr)
		}
		if st.name == "reset refuses a missing store" {
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a refused command created %s", dir)
			}
		}
	}
}

// TestStoreCommandsPostgres: on PostgreSQL too, migrate refuses a database
// without Gatehouse's schema unless --create, and names the store without
// its credentials.
func TestStoreCommandsPostgres(t *testing.T) {
	env := map[string]string{"GATEHOUSE_DATABASE_URL": sqltest.PostgresURL(t)}
	steps := []struct {
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{[]string{"migrate"}, 2, "", "holds no Gatehouse store: point --database-url or GATEHOUSE_DATABASE_URL at the existing one, or pass --create"},
		{[]string{"admin", "reset-password", "--create", "--password", "a-very-long-password"}, 0, "can sign in with password: a-very-long-password", ""},
		{[]string{"migrate"}, 0, "(existing store): applied 0 migration(s)", ""},
	}
	for _, st := range steps {
		code, out, errOut := runCmd(t, env, st.args...)
		if code != st.wantCode || !strings.Contains(out, st.wantOut) || !strings.Contains(errOut, st.wantErr) || !strings.Contains(out+errOut, "PostgreSQL at ") {
			t.Fatalf("%v: exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", st.args, code, st.wantCode, out, st.wantOut, errOut, st.wantErr)
		}
	}
}

// TestPermissionFailures: an existing data directory this user may not
// write and a read-only database file are reported in words, naming the
// path and the fix — not as SQLite's "unable to open database file (14)".
// Root passes every permission check, so as root the cases run in a child
// process as the nobody user.
func TestPermissionFailures(t *testing.T) {
	if os.Getenv("GATEHOUSE_TEST_CHILD") == "permissions" {
		permissionCases(t, os.Getenv("GATEHOUSE_TEST_BASE"))
		return
	}
	base := t.TempDir()
	// A store made by this user, then made read-only.
	roDB := filepath.Join(base, "rodb")
	if code, _, errOut := runCmd(t, map[string]string{"GATEHOUSE_DATA_DIR": roDB}, "migrate", "--create"); code != 0 {
		t.Fatal(errOut)
	}
	roDir := filepath.Join(base, "rodir")
	if err := os.Mkdir(roDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() != 0 {
		if err := os.Chmod(filepath.Join(roDB, "gatehouse.db"), 0o444); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(roDir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(roDir, 0o755) })
		permissionCases(t, base)
		return
	}
	// As root: everything readable by nobody, owned by root, so nobody may
	// read but not write it; the test binary copied where nobody can run it.
	for _, p := range []string{base, filepath.Dir(base), roDB, roDir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"gatehouse.db", "gatehouse.db-wal", "gatehouse.db-shm"} {
		_ = os.Chmod(filepath.Join(roDB, f), 0o644)
	}
	// The database's directory is nobody's: only the file is read-only.
	if err := os.Chown(roDB, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "gatehouse.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	child := exec.Command(bin, "-test.run=^TestPermissionFailures$", "-test.v")
	child.Dir = base
	child.Env = append(os.Environ(), "GATEHOUSE_TEST_CHILD=permissions", "GATEHOUSE_TEST_BASE="+base, "HOME="+base)
	child.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := child.CombinedOutput()
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("the child ran no case:\n%s", out)
	}
}

func permissionCases(t *testing.T, base string) {
	roDB := filepath.Join(base, "rodb")
	roDir := filepath.Join(base, "rodir")
	cases := []struct {
		name string
		dir  string
		args []string
		want string
	}{
		{"serve, unwritable data dir", roDir, []string{"serve", "--addr", "127.0.0.1:0"}, "the data directory " + roDir + " (--data-dir or GATEHOUSE_DATA_DIR) is not writable by this user"},
		{"migrate, unwritable data dir", roDir, []string{"migrate", "--create"}, "is not writable by this user"},
		{"missing data dir under an unwritable one", filepath.Join(roDir, "sub"), []string{"serve", "--addr", "127.0.0.1:0"}, "cannot create the data directory " + filepath.Join(roDir, "sub")},
		{"serve, read-only database", roDB, []string{"serve", "--addr", "127.0.0.1:0"}, "the database file " + filepath.Join(roDB, "gatehouse.db") + " is read-only for this user"},
		{"reset-password, read-only database", roDB, []string{"admin", "reset-password"}, "is read-only for this user"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, map[string]string{"GATEHOUSE_DATA_DIR": tc.dir}, tc.args...)
			if code == 0 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "(14)") {
				t.Fatalf("exit %d\nstderr %q\nwant %q", code, errOut, tc.want)
			}
			if strings.Contains(out, "password") {
				t.Fatalf("printed %q", out)
			}
		})
	}
}

func TestVersionFromBuildInfo(t *testing.T) {
	cases := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"go install at a version", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{"checkout", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}}}, "dev-0123456789ab"},
		{"dirty checkout", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.modified", Value: "true"}}}, "dev-0123456789ab+dirty"},
		{"nothing stamped", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionFromBuildInfo(&tc.bi); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	// --version, -version and the command print the same string.
	for _, arg := range []string{"version", "--version", "-version"} {
		if code, out, _ := runCmd(t, nil, arg); code != 0 || out != "gatehouse "+versionString()+"\n" {
			t.Fatalf("%s: exit %d, %q", arg, code, out)
		}
	}
}
