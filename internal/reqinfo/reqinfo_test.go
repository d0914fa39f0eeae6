package reqinfo

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"testing"
)

func TestClientAddress(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"192.0.2.7:4711", "192.0.2.7"},
		{"[2001:db8::17]:443", "2001:db8::17"},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7"},
		{"198.51.100.4:0", "198.51.100.4"},
		{"[fe80::1%eth0]:80", "fe80::1%eth0"},
		{"not an address", "not an address"},
		{"", ""},
	} {
		if got := ClientAddress(&http.Request{RemoteAddr: tc.remote}); got != tc.want {
			t.Errorf("ClientAddress(%q) = %q, want %q", tc.remote, got, tc.want)
		}
	}
}

func TestHTTPS(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *http.Request
		want bool
	}{
		{"plain", &http.Request{URL: &url.URL{Path: "/"}}, false},
		{"TLS to this server", &http.Request{URL: &url.URL{Path: "/"}, TLS: &tls.ConnectionState{}}, true},
		{"a trusted proxy said https", &http.Request{URL: &url.URL{Scheme: "https", Path: "/"}}, true},
		{"an untrusted header is not read", &http.Request{URL: &url.URL{Path: "/"}, Header: http.Header{"X-Forwarded-Proto": {"https"}}}, false},
		{"no URL", &http.Request{}, false},
	} {
		if got := HTTPS(tc.r); got != tc.want {
			t.Errorf("%s: HTTPS = %v, want %v", tc.name, got, tc.want)
		}
	}
}
