package oidc

import "testing"

// FuzzOpenCookie: the sign-in cookie comes from the browser; reading it
// never panics and accepts only what seal made.
func FuzzOpenCookie(f *testing.F) {
	rp := &RP{key: []byte("fuzz key")}
	good, err := rp.seal(pending{State: "s", Nonce: "n", Verifier: "v", Relay: "/", Expires: 1})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, "", ".", "e30.", "e30.AAAA", good + "x", "x" + good} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		p, ok := rp.open(v)
		if ok && v != good {
			if again, err := rp.seal(p); err != nil || again == "" {
				t.Fatalf("accepted %q", v)
			}
		}
	})
}
