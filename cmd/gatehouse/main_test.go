package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
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
		{"migrate fresh", []string{"migrate"}, "applied", false},
		{"migrate again", []string{"migrate"}, "applied 0 migration(s)", false},
		{"reset creates admin", []string{"admin", "reset-password", "--password", "a-very-long-password"}, "a-very-long-password", false},
		{"reset short password", []string{"admin", "reset-password", "--password", "short"}, "", true},
		{"admin without subcommand", []string{"admin"}, "", true},
		{"unknown command", []string{"frobnicate"}, "", true},
		{"no command", nil, "", true},
		{"bad flag", []string{"serve", "--log-level", "loud"}, "", true},
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
