package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/importer"
)

const importFile = `{
  "users": [
    {"login": "ann", "name": "Ann", "email": "ann@example.com"},
    {"login": "ben", "name": "Ben", "externalProvider": "github", "externalIdentity": "ben-gh"}
  ],
  "groups": [{"name": "devs", "description": "Developers"}],
  "memberships": [{"group": "devs", "login": "ann"}, {"group": "devs", "login": "ben"}],
  "projects": [{"key": "web", "name": "Web", "visibility": "private"}],
  "permissions": [
    {"permission": "scan", "group": "devs", "project": "web"},
    {"permission": "provisioning", "user": "ann"},
    {"permission": "admin", "user": "nobody", "project": "web"}
  ],
  "templates": [{"name": "web apps", "projectKeyPattern": "web.*", "default": true,
    "permissions": [{"permission": "admin", "projectCreator": true}, {"permission": "user", "group": "devs"}]}],
  "tokens": [{"login": "ann", "name": "ci", "type": "USER_TOKEN"}]
}`

func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"GATEHOUSE_DATA_DIR": dir}
	getenv := func(k string) string { return env[k] }
	file := filepath.Join(dir, "acme.json")
	if err := os.WriteFile(file, []byte(importFile), 0o600); err != nil {
		t.Fatal(err)
	}
	csvDir := filepath.Join(dir, "csv")
	if err := os.Mkdir(csvDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"users.csv":       "login,name\ncid,Cid\n",
		"memberships.csv": "group,login\ndevs,cid\n",
		"tokens.csv":      "login,name,type,project\ncid,scanner,PROJECT_ANALYSIS_TOKEN,web\n",
	} {
		if err := os.WriteFile(filepath.Join(csvDir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tokens := filepath.Join(dir, "tokens.csv")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"userz": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		wantOut []string
		wantErr string
	}{
		{"dry run", []string{"import", "--dry-run", file}, []string{"Dry run", "nothing was written", "10 items: 9 to write, 0 already there, 1 failed", "permissions project:web user:nobody admin: User with login 'nobody' is not found"}, ""},
		{"import, flags after the file", []string{"import", file, "--log-level", "warn"}, []string{
			"To write: 2 users, 1 groups, 1 projects, 2 memberships, 2 permissions, 1 templates; 0 already there; 1 would fail.",
			"Import from " + file, "users: 2 done in", "memberships: 2 done in",
			"10 items: 9 written, 0 already there, 1 failed",
			"permissions project:web user:nobody admin: User with login 'nobody' is not found",
			"Tokens to re-create (1", "ann    ci    USER_TOKEN",
			"github: 1", "no password (2 users)", "api/users/change_password",
		}, ""},
		{"again writes nothing", []string{"import", file}, []string{"To write: nothing; 9 already there; 1 would fail.", "10 items: 0 written, 9 already there, 1 failed"}, ""},
		{"dry run after", []string{"import", "--dry-run", file}, []string{"0 to write, 9 already there, 1 failed"}, ""},
		{"csv directory", []string{"import", "--tokens", tokens, csvDir}, []string{"2 items: 2 written, 0 already there, 0 failed", "cid    scanner  PROJECT_ANALYSIS_TOKEN  web"}, ""},
		{"no file", []string{"import"}, nil, "one FILE is required"},
		{"missing file", []string{"import", filepath.Join(dir, "none.json")}, nil, "no such file"},
		{"unknown field", []string{"import", bad}, nil, `unknown field "userz"`},
		{"sonarqube without url", []string{"import", "sonarqube", "--token", "x"}, nil, "--url and a token are required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, getenv, &out, &errOut)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v; want %q (stderr %q)", err, tc.wantErr, errOut.String())
			}
			for _, want := range tc.wantOut {
				if !strings.Contains(out.String(), want) {
					t.Errorf("stdout does not contain %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestImportTokensFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.csv")
	if err := writeTokens(path, []importer.Token{{Login: "ann", Name: "ci, main", Type: "USER_TOKEN"}, {Login: "ben", Name: "web", Type: "PROJECT_ANALYSIS_TOKEN", Project: "web"}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if want := "login,name,type,project\nann,\"ci, main\",USER_TOKEN,\nben,web,PROJECT_ANALYSIS_TOKEN,web\n"; err != nil || string(b) != want {
		t.Errorf("tokens file %q, %v; want %q", b, err, want)
	}
}

func TestImportSonarQubeCommand(t *testing.T) {
	b, err := os.ReadFile("../../internal/importer/testdata/sonarqube-answers.json")
	if err != nil {
		t.Fatal(err)
	}
	var answers map[string]json.RawMessage
	if err := json.Unmarshal(b, &answers); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := answers[strings.TrimPrefix(r.URL.Path, "/")+"?"+r.URL.Query().Encode()]
		if !ok || r.Header.Get("Authorization") != "Bearer squ_cli" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	dir := t.TempDir()
	saved := filepath.Join(dir, "read.json")
	env := map[string]string{"GATEHOUSE_DATA_DIR": dir, "SONAR_TOKEN": "squ_cli"}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "sonarqube", "--url", srv.URL, "--rate", "1000", "--dry-run", "--save", saved}, "Saved the data set read to " + saved},
		{[]string{"import", "sonarqube", "--url", srv.URL, "--rate", "1000"}, "23 written, 7 already there, 0 failed"},
		{[]string{"import", "sonarqube", "--url", srv.URL, "--rate", "1000"}, ": 0 written"},
	} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), tc.args, getenv, &out, &errOut); err != nil {
			t.Fatalf("%v: %v (stderr %s)", tc.args, err, errOut.String())
		}
		if !strings.Contains(out.String(), tc.want) || !strings.Contains(out.String(), "read users: 3 done") {
			t.Errorf("%v: stdout does not contain %q:\n%s", tc.args, tc.want, out.String())
		}
		if strings.Contains(out.String(), "squ_cli") {
			t.Error("the token is printed")
		}
	}
	// The saved data set is what was imported: importing it writes nothing.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"import", saved}, getenv, &out, &out); err != nil || !strings.Contains(out.String(), "28 items: 0 written, 28 already there, 0 failed") {
		t.Errorf("import of the saved data set: %v\n%s", err, out.String())
	}
}
