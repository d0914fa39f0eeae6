package server

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// load runs Load as a command with every scope would.
func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("gatehouse test", flag.ContinueOnError)
	c, _, err := Load(fs, ScopeStore|ScopeServe|ScopeProvision, args, func(k string) string { return env[k] })
	return c, err
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigPrecedence: defaults < file < environment < flags, for each
// kind of value, and the file found by --config or GATEHOUSE_CONFIG.
func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "gatehouse.yaml", "addr: 127.0.0.1:7000\naccess-log: false\nbody-timeout: 5s\nlog-level: warn\nldap:\n  url: ldap://file:389\n  user.baseDn: ou=people,dc=file\n")
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want func(Config) bool
	}{
		{"defaults", nil, nil, func(c Config) bool { return reflect.DeepEqual(c, DefaultConfig()) }},
		{"file by flag", []string{"--config", file}, nil, func(c Config) bool {
			return c.Addr == "127.0.0.1:7000" && !c.AccessLog && c.BodyTimeout == 5*time.Second && c.LogLevel == "warn" &&
				c.LDAP["ldap.url"] == "ldap://file:389" && c.LDAP["ldap.user.baseDn"] == "ou=people,dc=file" && c.ConfigFile == file &&
				c.HeaderTimeout == DefaultConfig().HeaderTimeout
		}},
		{"file by env", nil, map[string]string{"GATEHOUSE_CONFIG": file}, func(c Config) bool { return c.Addr == "127.0.0.1:7000" }},
		{"env over file", []string{"--config", file}, map[string]string{"GATEHOUSE_ADDR": ":7001", "GATEHOUSE_ACCESS_LOG": "true", "GATEHOUSE_LDAP_URL": "ldap://env:389"},
			func(c Config) bool {
				return c.Addr == ":7001" && c.AccessLog && c.BodyTimeout == 5*time.Second && c.LDAP["ldap.url"] == "ldap://env:389" && c.LDAP["ldap.user.baseDn"] == "ou=people,dc=file"
			}},
		{"flag over env and file", []string{"--config", file, "--addr", ":7002", "--access-log=false", "--body-timeout", "1m"}, map[string]string{"GATEHOUSE_ADDR": ":7001", "GATEHOUSE_ACCESS_LOG": "true", "GATEHOUSE_BODY_TIMEOUT": "2m"},
			func(c Config) bool { return c.Addr == ":7002" && !c.AccessLog && c.BodyTimeout == time.Minute }},
		{"flag --config over GATEHOUSE_CONFIG", []string{"--config", file}, map[string]string{"GATEHOUSE_CONFIG": "/nonexistent.yaml"}, func(c Config) bool { return c.Addr == "127.0.0.1:7000" }},
		{"boolean spellings", nil, map[string]string{"GATEHOUSE_ACCESS_LOG": "off", "GATEHOUSE_SECURE_COOKIES": "YES"}, func(c Config) bool { return !c.AccessLog && c.SecureCookies }},
		{"TLS from the file, the key overridden by a flag", []string{"--config", writeFile(t, "tls.yaml", "tls-cert: /etc/tls/cert.pem\ntls-key: /etc/tls/file.key\n"), "--tls-key", "/etc/tls/flag.key"}, nil,
			func(c Config) bool { return c.TLSCert == "/etc/tls/cert.pem" && c.TLSKey == "/etc/tls/flag.key" }},
		{"TLS from the environment", nil, map[string]string{"GATEHOUSE_TLS_CERT": "/c.pem", "GATEHOUSE_TLS_KEY": "/k.pem"},
			func(c Config) bool { return c.TLSCert == "/c.pem" && c.TLSKey == "/k.pem" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

// TestConfigSecretsFromFiles: a secret comes from the file its _FILE
// variable or -file key names, without the final line break; both ways at
// once is refused; the secret never appears in an error.
func TestConfigSecretsFromFiles(t *testing.T) {
	pw := writeFile(t, "admin", "from-a-file-42\n")
	url := writeFile(t, "db", "postgres://u:hunter2@db/x\n")
	bind := writeFile(t, "bind", "bind-secret\n")
	cfgFile := writeFile(t, "g.yaml", "admin-password-file: "+pw+"\nldap:\n  bindPassword-file: "+bind+"\n")
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		want    func(Config) bool
		wantErr string
	}{
		{"env _FILE", nil, map[string]string{"GATEHOUSE_ADMIN_PASSWORD_FILE": pw, "GATEHOUSE_DATABASE_URL_FILE": url},
			func(c Config) bool {
				return c.AdminPassword == "from-a-file-42" && c.DatabaseURL == "postgres://u:hunter2@db/x"
			}, ""},
		{"file -file key", []string{"--config", cfgFile}, nil, func(c Config) bool {
			return c.AdminPassword == "from-a-file-42" && c.LDAP["ldap.bindPassword"] == "bind-secret"
		}, ""},
		{"LDAP bind password _FILE", nil, map[string]string{"GATEHOUSE_LDAP_BINDPASSWORD_FILE": bind}, func(c Config) bool { return c.LDAP["ldap.bindPassword"] == "bind-secret" }, ""},
		{"both", nil, map[string]string{"GATEHOUSE_ADMIN_PASSWORD_FILE": pw, "GATEHOUSE_ADMIN_PASSWORD": "x"}, nil, "both GATEHOUSE_ADMIN_PASSWORD and GATEHOUSE_ADMIN_PASSWORD_FILE are set"},
		{"missing file", nil, map[string]string{"GATEHOUSE_ADMIN_PASSWORD_FILE": "/nonexistent/pw"}, nil, "GATEHOUSE_ADMIN_PASSWORD_FILE: secret file /nonexistent/pw does not exist"},
		// GATEHOUSE_SECRET_KEY_FILE is its own option (keys one per line), not the _FILE of GATEHOUSE_SECRET_KEY.
		{"secret key file is its own option", nil, map[string]string{"GATEHOUSE_SECRET_KEY_FILE": "/keys"}, func(c Config) bool { return c.SecretKeyFile == "/keys" && c.SecretKey == "" }, ""},
		{"secret not echoed", nil, map[string]string{"GATEHOUSE_DATABASE_URL": "mysql://u:hunter2@db"}, nil, "must start with postgres://"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.args, tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("the error shows the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

// TestConfigErrors: every bad value says where it came from and what is
// wanted, in words (no strconv text); an unknown key names the key and the
// file.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		file string // the configuration file's text, when not empty
		args []string
		env  map[string]string
		want string // the whole error, with FILE for the file's path
	}{
		{"env bool", "", nil, map[string]string{"GATEHOUSE_ACCESS_LOG": "maybe"}, `environment variable GATEHOUSE_ACCESS_LOG="maybe": want true or false (correct it or unset it)`},
		{"env duration", "", nil, map[string]string{"GATEHOUSE_BODY_TIMEOUT": "30"}, `environment variable GATEHOUSE_BODY_TIMEOUT="30": want a duration such as 30s, 2m or 1h30m (correct it or unset it)`},
		{"env enum", "", nil, map[string]string{"GATEHOUSE_LOG_LEVEL": "loud"}, `environment variable GATEHOUSE_LOG_LEVEL="loud": want debug, info, warn or error (correct it or unset it)`},
		{"flag bool", "", []string{"--secure-cookies=maybe"}, nil, `--secure-cookies="maybe": want true or false`},
		{"flag duration", "", []string{"--idle-timeout", "soon"}, nil, `--idle-timeout="soon": want a duration such as 30s, 2m or 1h30m`},
		{"flag enum", "", []string{"--log-format", "xml"}, nil, `--log-format="xml": want text or json`},
		{"unknown flag", "", []string{"--adr", ":1"}, nil, `flag provided but not defined: -adr (run 'gatehouse test --help' for the flags)`},
		{"file bool", "access-log: maybe\n", nil, nil, `FILE:1: access-log="maybe": want true or false`},
		{"file duration", "\n\nheader-timeout: 10\n", nil, nil, `FILE:3: header-timeout="10": want a duration such as 30s, 2m or 1h30m`},
		{"file unknown key", "addr: :1\nacces-log: true\n", nil, nil, `FILE:2: unknown key "acces-log" (did you mean "access-log"?)`},
		{"file unknown key far from any", "frobnicate: 1\n", nil, nil, `FILE:1: unknown key "frobnicate" (see docs/gatehouse.example.yaml for every key)`},
		{"file key set twice", "addr: :1\naddr: :2\n", nil, nil, `FILE:2: addr: set twice`},
		{"file secret twice", "admin-password: a\nadmin-password-file: /x\n", nil, nil, `FILE:2: admin-password-file: admin-password is set too: keep one`},
		{"file list for a scalar", "addr: [a, b]\n", nil, nil, `FILE:1: addr: want a single value, not a list or mapping`},
		{"file not a mapping", "- a\n- b\n", nil, nil, `FILE:1: want a mapping of settings (key: value)`},
		{"file unknown LDAP property", "ldap:\n  usr.baseDn: x\n", nil, nil, `FILE:2: unknown LDAP property "usr.baseDn" under ldap (did you mean "user.baseDn"?)`},
		{"file -file of a non-secret LDAP property", "ldap:\n  url-file: /x\n", nil, nil, `FILE:2: ldap.url-file: ldap.url is not a secret: give its value as url`},
		{"file missing", "", []string{"--config", "/nonexistent/g.yaml"}, nil, `configuration file /nonexistent/g.yaml (--config, GATEHOUSE_CONFIG) does not exist`},
		{"config is not a file key", "config: other.yaml\n", nil, nil, `FILE:1: unknown key "config" (see docs/gatehouse.example.yaml for every key)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args, want := tc.args, tc.want
			if tc.file != "" {
				p := writeFile(t, "gatehouse.yaml", tc.file)
				args = append([]string{"--config", p}, args...)
				want = strings.ReplaceAll(want, "FILE", p)
			}
			_, err := load(t, args, tc.env)
			if err == nil || err.Error() != want {
				t.Fatalf("err = %v\nwant  %s", err, want)
			}
			if strings.Contains(err.Error(), "strconv") || strings.Contains(err.Error(), "time: ") {
				t.Fatalf("error shows parser text: %v", err)
			}
		})
	}
}

// TestOptionsTable: every row is well formed and distinct, so adding one
// cannot shadow another.
func TestOptionsTable(t *testing.T) {
	flagRe := regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	envRe := regexp.MustCompile(`^GATEHOUSE_[A-Z0-9_]+$`)
	seen := map[string]bool{}
	for _, o := range Options() {
		if o.Flag == "" && o.Env == "" && o.Key == "" {
			t.Errorf("%+v: no way to set it", o)
		}
		if o.Flag != "" && !flagRe.MatchString(o.Flag) || o.Key != "" && !flagRe.MatchString(o.Key) || o.Env != "" && !envRe.MatchString(o.Env) {
			t.Errorf("%+v: malformed name", o)
		}
		if o.Scope == 0 || o.Usage == "" || o.Bind.set == nil {
			t.Errorf("%+v: scope, usage and binding are required", o)
		}
		for _, n := range []string{"flag " + o.Flag, "env " + o.Env, "key " + o.Key} {
			if !strings.HasSuffix(n, " ") && seen[n] {
				t.Errorf("%s twice", n)
			}
			seen[n] = true
		}
	}
}

// TestExampleConfigComplete: docs/gatehouse.example.yaml names every file
// key (set or commented out) and, loaded, gives the defaults.
func TestExampleConfigComplete(t *testing.T) {
	const path = "../../docs/gatehouse.example.yaml"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range Options() {
		if o.Key != "" && !regexp.MustCompile(`(?m)^(# )?`+regexp.QuoteMeta(o.Key)+`:`).Match(b) {
			t.Errorf("%s does not name %q", path, o.Key)
		}
	}
	c, err := load(t, []string{"--config", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.ConfigFile = ""
	if !reflect.DeepEqual(c, DefaultConfig()) {
		t.Fatalf("the example's values are not the defaults:\n%+v\n%+v", c, DefaultConfig())
	}
}

// TestHelpListsScope: a command's help lists only the flags of its scope
// and the environment-only settings of it.
func TestHelpListsScope(t *testing.T) {
	cases := []struct {
		scope     Scope
		want, not []string
	}{
		{ScopeStore, []string{"--data-dir", "--config", "GATEHOUSE_DATA_DIR"}, []string{"--addr", "--access-log", "GATEHOUSE_ADMIN_PASSWORD", "--ldap-config"}},
		{ScopeStore | ScopeServe | ScopeProvision, []string{"--addr", "GATEHOUSE_ADMIN_PASSWORD", "GATEHOUSE_SECRET_KEY", "default :9000"}, nil},
	}
	for _, tc := range cases {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		_, _, err := Load(fs, tc.scope, []string{"--help"}, func(string) string { return "" })
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("--help: %v", err)
		}
		var b strings.Builder
		WriteHelp(&b, fs, tc.scope)
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("scope %b: help lacks %q:\n%s", tc.scope, w, b.String())
			}
		}
		for _, n := range tc.not {
			if strings.Contains(b.String(), n) {
				t.Errorf("scope %b: help shows %q", tc.scope, n)
			}
		}
	}
}

func FuzzConfigFile(f *testing.F) {
	f.Add("addr: :9000\naccess-log: true\nldap:\n  url: ldap://x\n")
	f.Add("- a\n")
	f.Add("body-timeout: [1, 2]\n")
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(t.TempDir(), "g.yaml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		c := DefaultConfig()
		_ = c.applyFile(p)
	})
}

// TestREADMEConfigTable: README's configuration table names every
// option's environment variable.
func TestREADMEConfigTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range Options() {
		if o.Env != "" && !strings.Contains(string(b), "| `"+o.Env+"` |") {
			t.Errorf("README's configuration table lacks %s", o.Env)
		}
	}
}
