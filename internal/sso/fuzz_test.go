package sso

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzSafeReturnPath: whatever the browser or the IdP sends as the return
// address, the redirect stays on this server.
func FuzzSafeReturnPath(f *testing.F) {
	for _, s := range []string{"/", "/projects?x=1", "//evil.example", "/\\evil", "https://evil.example", "/%2F%2Fevil", "/a\tb", "\x00", "/.//evil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := SafeReturnPath(in)
		if out != "/" && out != in {
			t.Fatalf("SafeReturnPath(%q) = %q", in, out)
		}
		u, err := url.Parse(out)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") || strings.ContainsAny(out, "\\\r\n\t") {
			t.Fatalf("SafeReturnPath(%q) = %q leaves the site", in, out)
		}
	})
}
