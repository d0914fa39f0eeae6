package server

import (
	"strings"
	"testing"
)

func TestDisplayURL(t *testing.T) {
	cases := []struct {
		addr string
		tls  bool
		want string
	}{
		{"[::]:9000", false, "http://localhost:9000"},
		{"0.0.0.0:9000", false, "http://localhost:9000"},
		{":9000", false, "http://localhost:9000"},
		{"127.0.0.1:9000", false, "http://127.0.0.1:9000"},
		{"[::1]:8443", true, "https://[::1]:8443"},
		{"gatehouse.example:443", true, "https://gatehouse.example:443"},
	}
	for _, tc := range cases {
		if got := DisplayURL(tc.addr, tc.tls); got != tc.want {
			t.Errorf("DisplayURL(%q, %v) = %q, want %q", tc.addr, tc.tls, got, tc.want)
		}
	}
}

func TestCheckListenAddr(t *testing.T) {
	cases := []struct {
		addr    string
		wantErr string
	}{
		{":9000", ""},
		{"127.0.0.1:0", ""},
		{"[::1]:9000", ""},
		{"localhost:9000", ""},
		{"9000", "want host:port, such as :9000"},
		{"localhost", "want host:port"},
		{":http", `the port "http" is not a number from 1 to 65535`},
		{":65536", "is not a number from 1 to 65535"},
		{"a b:80", `"a b" is not a host name or IP address`},
	}
	for _, tc := range cases {
		err := checkListenAddr(tc.addr)
		if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("checkListenAddr(%q) = %v, want %q", tc.addr, err, tc.wantErr)
		}
	}
}

func TestStoreLocation(t *testing.T) {
	c := DefaultConfig()
	if got := StoreLocation(c); got != "SQLite at data/gatehouse.db" {
		t.Errorf("sqlite: %q", got)
	}
	c.DatabaseURL = "postgres://gh:s3cret@db.example:5433/gatehouse?sslmode=require"
	if got := StoreLocation(c); got != "PostgreSQL at db.example:5433/gatehouse" {
		t.Errorf("postgres: %q (never the password)", got)
	}
}
