package server

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/connector/ldap/ldaptest"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
	"github.com/gatehouse-dev/gatehouse/internal/secretbox"
)

func envConfig(t *testing.T, env map[string]string, dataDir string) Config {
	t.Helper()
	var cfg Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	if err := cfg.Flags(fs, func(k string) string { return env[k] }); err != nil || fs.Parse(nil) != nil {
		t.Fatal(err)
	}
	cfg.Addr, cfg.DataDir, cfg.AccessLog = "127.0.0.1:0", dataDir, false
	return cfg
}

type runJSON struct {
	ID       string         `json:"id"`
	Status   string         `json:"status"`
	Trigger  string         `json:"trigger"`
	Counts   map[string]int `json:"counts"`
	Errors   []string       `json:"errors"`
	Warnings []string       `json:"warnings"`
}

// TestLDAPPeriodicSync configures LDAP only through api/provisioning/settings
// (the bind password sealed at rest), lets the engine sync the directory,
// follows a user's removal, and survives the directory going down without
// deactivating anyone.
func TestLDAPPeriodicSync(t *testing.T) {
	dir := ldaptest.Start(t, ldaptest.Options{LDIF: []string{"../connector/ldap/testdata/directory.ldif"}, SizeLimit: 3})
	key, err := secretbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	cfg := envConfig(t, map[string]string{"GATEHOUSE_SECRET_KEY": key, "GATEHOUSE_ADMIN_PASSWORD": "admin-password-42"}, data)
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	base := "http://" + srv.Addr() + "/"
	st, body := call(t, "POST", base+"api/user_tokens/generate", url.Values{"name": {"ops"}}, basic("admin", "admin-password-42"))
	if st != 200 {
		t.Fatalf("token: %d %s", st, body)
	}
	var gen struct{ Token string }
	_ = json.Unmarshal([]byte(body), &gen)
	admin := bearer(gen.Token)

	if st, body := call(t, "GET", base+"api/provisioning/status?source=ldap", nil, admin); st != 200 || !strings.Contains(body, `"enabled":false`) {
		t.Fatalf("status before configuration = %d %s", st, body)
	}
	// A wrong bind password is refused on save, saying why.
	settings := url.Values{
		"source":             {"ldap"},
		"ldap.url":           {dir.URL},
		"ldap.bindDn":        {ldaptest.BindDN},
		"ldap.bindPassword":  {"wrong"},
		"ldap.user.baseDn":   {"ou=people," + ldaptest.BaseDN},
		"ldap.group.baseDn":  {"ou=groups," + ldaptest.BaseDN},
		"ldap.group.request": {"(|(member={dn})(uniqueMember={dn})(memberUid={uid}))"},
		"ldap.timeout":       {"2s"},
	}
	if st, body := call(t, "POST", base+"api/provisioning/settings", settings, admin); st != 400 || !strings.Contains(body, "LDAP server") {
		t.Fatalf("wrong bind password = %d %s", st, body)
	}
	settings.Set("ldap.bindPassword", ldaptest.BindPassword)
	if st, body := call(t, "POST", base+"api/provisioning/settings", settings, admin); st != 204 {
		t.Fatalf("settings = %d %s", st, body)
	}
	raw, err := srv.store.GetSetting(t.Context(), "provisioning.ldap.ldap.bindPassword")
	if err != nil || !secretbox.IsSealed(raw) || strings.Contains(raw, ldaptest.BindPassword) {
		t.Fatalf("bind password stored as %q (%v)", raw, err)
	}
	if st, body := call(t, "GET", base+"api/provisioning/settings?source=ldap", nil, admin); st != 200 || strings.Contains(body, ldaptest.BindPassword) || !strings.Contains(body, `"value":"********"`) {
		t.Fatalf("settings read = %d %s", st, body)
	}

	// The source never ran: the engine runs it as soon as it is usable.
	last := waitRun(t, base, admin, "")
	if last.Status != "success" || last.Trigger != "startup" || last.Counts["usersCreated"] != 6 {
		t.Fatalf("first run = %+v", last)
	}
	if st, body := call(t, "GET", base+"api/users/search?q=frank", nil, admin); st != 200 || strings.Contains(body, `"login":"frank"`) {
		t.Fatalf("the disabled AD account was created: %s", body)
	}
	if st, body := call(t, "GET", base+"api/user_groups/search?q=developers", nil, admin); st != 200 || !strings.Contains(body, `"membersCount":2`) {
		t.Fatalf("groups = %d %s", st, body)
	}
	// Sign-in works with the settings from the API.
	if st, body := call(t, "POST", base+"api/authentication/login", url.Values{"login": {"alice"}, "password": {"alice-pw"}}, nil); st != 200 {
		t.Fatalf("LDAP sign-in: %d %s", st, body)
	}

	// bob leaves the directory: the next run deactivates him.
	dir.Modify(t, "dn: uid=bob,ou=people,dc=example,dc=org\nchangetype: delete\n")
	run := syncNow(t, base, admin, last.ID)
	if run.Status != "success" || run.Counts["usersDeactivated"] != 1 || run.Counts["writes"] == 0 {
		t.Fatalf("run after the removal = %+v", run)
	}
	if _, body := call(t, "GET", base+"api/users/search?q=bob&deactivated=true", nil, admin); !strings.Contains(body, `"login":"bob"`) || !strings.Contains(body, `"active":false`) {
		t.Fatalf("bob = %s", body)
	}
	// A no-change run writes nothing.
	if again := syncNow(t, base, admin, run.ID); again.Status != "success" || again.Counts["writes"] != 0 {
		t.Fatalf("no-change run = %+v", again)
	}

	// The directory goes down: the run fails saying why and nobody is
	// deactivated.
	dir.Stop()
	failed := syncNow(t, base, admin, run.ID)
	if failed.Status != "failed" || len(failed.Errors) == 0 || !strings.Contains(failed.Errors[0], "nothing was applied") {
		t.Fatalf("run with the directory down = %+v", failed)
	}
	if _, body := call(t, "GET", base+"api/users/search?q=alice", nil, admin); !strings.Contains(body, `"active":true`) {
		t.Fatalf("alice after the failed run = %s", body)
	}
	// /metrics counts the runs by status and reports the last ones.
	_, metrics := call(t, "GET", base+"metrics", nil, nil)
	for _, want := range []string{
		`gatehouse_sync_runs_total{source="ldap",status="success"} 3`,
		`gatehouse_sync_runs_total{source="ldap",status="failed"} 1`,
		`gatehouse_sync_runs_total{source="ldap",status="aborted"} 0`,
		`gatehouse_sync_runs_total{source="gitlab",status="success"} 0`,
		`gatehouse_sync_running{source="ldap"} 0`,
		`gatehouse_sync_last_run_success{source="ldap"} 0`,
		`gatehouse_sync_last_success_timestamp_seconds{source="ldap"} `,
		`gatehouse_sync_last_run_timestamp_seconds{source="ldap"} `,
		`gatehouse_sync_last_run_duration_seconds{source="ldap"} `,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, `gatehouse_sync_last_run_timestamp_seconds{source="gitlab"}`) {
		t.Error("a last run reported for gitlab, which never ran")
	}
	cancel()
	<-done

	// The stored bind password needs the key: without it start-up fails
	// naming the variable.
	cfg2 := envConfig(t, map[string]string{}, data)
	if _, err := New(t.Context(), cfg2, slog.New(slog.DiscardHandler), io.Discard, "test"); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_SECRET_KEY") {
		t.Fatalf("start-up without the key: %v", err)
	}
}

// syncNow asks for a run and waits until it is the last finished one.
func syncNow(t *testing.T, base string, auth func(*http.Request), after string) runJSON {
	t.Helper()
	st, body := call(t, "POST", base+"api/provisioning/sync", url.Values{"source": {"ldap"}}, auth)
	if st != 200 {
		t.Fatalf("sync: %d %s", st, body)
	}
	var q struct {
		Run runJSON `json:"run"`
	}
	_ = json.Unmarshal([]byte(body), &q)
	return waitRun(t, base, auth, q.Run.ID)
}

// waitRun waits for run id (any new one when empty) to be the last
// finished run of ldap.
func waitRun(t *testing.T, base string, auth func(*http.Request), id string) runJSON {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		_, body := call(t, "GET", base+"api/provisioning/status?source=ldap", nil, auth)
		var s struct {
			Pending *runJSON `json:"pending"`
			Running *runJSON `json:"running"`
			LastRun *runJSON `json:"lastRun"`
		}
		_ = json.Unmarshal([]byte(body), &s)
		if s.LastRun != nil && s.Pending == nil && s.Running == nil && (id == "" || s.LastRun.ID == id) {
			return *s.LastRun
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, body := call(t, "GET", base+"api/provisioning/status?source=ldap", nil, auth)
	t.Fatalf("run %q did not finish within 20 s: %s", id, body)
	return runJSON{}
}

// TestLDAPServersThroughEngine: per-server properties (ldap.<id>.url…),
// which the connector declares by pattern, pass from the configuration
// through the engine to sign-in and sync, and can be set through the API.
func TestLDAPServersThroughEngine(t *testing.T) {
	dir := ldaptest.Start(t, ldaptest.Options{LDIF: []string{"../connector/ldap/testdata/directory.ldif"}})
	key, _ := secretbox.GenerateKey()
	cfg := envConfig(t, map[string]string{"GATEHOUSE_SECRET_KEY": key, "GATEHOUSE_ADMIN_PASSWORD": "admin-password-42"}, t.TempDir())
	cfg.LDAP = map[string]string{
		"ldap.servers": "down,up", "ldap.down.url": "ldap://127.0.0.1:1", "ldap.up.url": dir.URL,
		"ldap.bindDn": ldaptest.BindDN, "ldap.bindPassword": ldaptest.BindPassword,
		"ldap.user.baseDn": "ou=people," + ldaptest.BaseDN, "ldap.group.baseDn": "ou=groups," + ldaptest.BaseDN,
		"ldap.group.request": "(|(member={dn})(uniqueMember={dn})(memberUid={uid}))", "ldap.timeout": "1s",
	}
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	h := srv.http.Handler
	do := func(method, path string, form url.Values, auth func(*http.Request)) (int, string) {
		req := httptest.NewRequest(method, "/"+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		auth(req)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	if st, body := do("POST", "api/authentication/login", url.Values{"login": {"alice"}, "password": {"alice-pw"}}, func(*http.Request) {}); st != 200 {
		t.Fatalf("sign-in through the second server: %d %s", st, body)
	}
	admin := basic("admin", "admin-password-42")
	if st, body := do("GET", "api/provisioning/settings?source=ldap", nil, admin); st != 200 || !strings.Contains(body, `"name":"ldap.up.url"`) {
		t.Fatalf("settings = %d %s", st, body)
	}
	// A per-server secret set through the API is sealed like the others.
	if st, body := do("POST", "api/provisioning/settings", url.Values{"source": {"ldap"}, "ldap.up.bindPassword": {ldaptest.BindPassword}, "ldap.down.url": {dir.URL}}, admin); st != 204 {
		t.Fatalf("set per-server settings = %d %s", st, body)
	}
	raw, err := srv.store.GetSetting(t.Context(), "provisioning.ldap.ldap.up.bindPassword")
	if err != nil || !secretbox.IsSealed(raw) {
		t.Fatalf("per-server bind password stored as %q (%v)", raw, err)
	}
	if st, body := do("POST", "api/provisioning/settings", url.Values{"source": {"ldap"}, "ldap.up.nonsense": {"x"}}, admin); st != 400 || !strings.Contains(body, "ldap.up.nonsense") {
		t.Fatalf("unknown per-server property = %d %s", st, body)
	}
	run, err := srv.engine.RunOnce(t.Context(), "ldap", provision.RunOptions{Trigger: "manual"})
	if err != nil || run.Status != "success" || run.Counts.UsersCreated == 0 {
		t.Fatalf("sync = %+v %v", run, err)
	}
}
