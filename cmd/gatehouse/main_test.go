package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/connector/ldap/ldaptest"
)

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"GATEHOUSE_DATA_DIR": dir}
	getenv := func(k string) string { return env[k] }
	cases := []struct {
		name    string
		args    []string
		wantOut string
		wantErr bool
	}{
		{"version", []string{"version"}, "gatehouse ", false},
		{"migrate fresh", []string{"migrate", "--create"}, "applied", false},
		{"migrate again", []string{"migrate"}, "applied 0 migration(s)", false},
		{"reset creates admin", []string{"admin", "reset-password", "--create", "--password", "a-very-long-password"}, "a-very-long-password", false},
		{"reset short password", []string{"admin", "reset-password", "--password", "short"}, "", true},
		{"admin without subcommand", []string{"admin"}, "", true},
		{"unknown command", []string{"frobnicate"}, "", true},
		{"no command", nil, "", true},
		{"bad flag", []string{"serve", "--log-level", "loud"}, "", true},
		{"sync without source", []string{"sync"}, "", true},
		{"sync unknown source", []string{"sync", "nope"}, "", true},
		{"sync unconfigured ldap", []string{"sync", "ldap"}, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, getenv, &out, &errOut)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v (stderr %q)", err, tc.wantErr, errOut.String())
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Fatalf("stdout %q does not contain %q", out.String(), tc.wantOut)
			}
		})
	}
}

// TestSyncCommand runs `gatehouse sync ldap` against a real slapd configured
// through the environment: a dry run writes nothing, a run provisions.
func TestSyncCommand(t *testing.T) {
	dir := ldaptest.Start(t, ldaptest.Options{LDIF: []string{"../../internal/connector/ldap/testdata/directory.ldif"}})
	env := map[string]string{
		"GATEHOUSE_DATA_DIR":           t.TempDir(),
		"GATEHOUSE_LDAP_URL":           dir.URL,
		"GATEHOUSE_LDAP_BINDDN":        ldaptest.BindDN,
		"GATEHOUSE_LDAP_BINDPASSWORD":  ldaptest.BindPassword,
		"GATEHOUSE_LDAP_USER_BASEDN":   "ou=people," + ldaptest.BaseDN,
		"GATEHOUSE_LDAP_GROUP_BASEDN":  "ou=groups," + ldaptest.BaseDN,
		"GATEHOUSE_LDAP_GROUP_REQUEST": "(|(member={dn})(uniqueMember={dn})(memberUid={uid}))",
	}
	getenv := func(k string) string { return env[k] }
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "--create"}, getenv, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"sync", "ldap", "--dry-run"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("dry run: %v (%s)", err, errOut.String())
	}
	if !strings.Contains(out.String(), `"usersCreated": 6`) || !strings.Contains(out.String(), `"dryRun": true`) {
		t.Fatalf("dry run printed %s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"sync", "ldap"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("sync: %v (%s)", err, errOut.String())
	}
	if !strings.Contains(out.String(), `"status": "success"`) || !strings.Contains(out.String(), `"usersCreated": 6`) {
		t.Fatalf("sync printed %s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"sync", "ldap"}, getenv, &out, &errOut); err != nil || !strings.Contains(out.String(), `"writes": 0`) {
		t.Fatalf("second sync: %v, %s", err, out.String())
	}
}
