package token

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

func TestGenerateParseRoundTrip(t *testing.T) {
	types := []identity.TokenType{identity.TokenUser, identity.TokenGlobalAnalysis, identity.TokenProjectAnalysis, identity.TokenOrganization, identity.TokenSCIM}
	for _, typ := range types {
		t.Run(string(typ), func(t *testing.T) {
			secret, hash, err := Generate(typ)
			if err != nil {
				t.Fatal(err)
			}
			if len(secret) != 42 || !strings.HasPrefix(secret, Prefix(typ)) {
				t.Fatalf("secret %q: wrong shape", secret)
			}
			gotType, gotHash, err := Parse(secret)
			if err != nil {
				t.Fatalf("Parse(%q): %v", secret, err)
			}
			if gotType != typ || gotHash != hash {
				t.Fatalf("Parse = %v %x, want %v %x", gotType, gotHash, typ, hash)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	good, _, err := Generate(identity.TokenUser)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	cases := []struct {
		name   string
		secret string
		want   error
	}{
		{"empty", "", ErrMalformed},
		{"truncated", good[:len(good)-1], ErrMalformed},
		{"too long", good + "x", ErrMalformed},
		{"unknown prefix", "gtx_" + good[4:], ErrMalformed},
		{"non base62", good[:10] + "-" + good[11:], ErrMalformed},
		{"typo in body", flip(good, 10), ErrChecksum},
		{"typo in checksum", flip(good, len(good)-1), ErrChecksum},
		{"sonarqube token", "squ_0123456789abcdef0123456789abcdef01234567", ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse(tc.secret)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse(%q) = %v, want %v", tc.secret, err, tc.want)
			}
			if !errors.Is(err, identity.ErrUnauthenticated) {
				t.Fatalf("error %v is not ErrUnauthenticated", err)
			}
		})
	}
}

func TestGenerateIsRandom(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		s, _, err := Generate(identity.TokenOrganization)
		if err != nil {
			t.Fatal(err)
		}
		if seen[s] {
			t.Fatalf("duplicate secret %q", s)
		}
		seen[s] = true
	}
}

func BenchmarkParse(b *testing.B) {
	s, _, _ := Generate(identity.TokenUser)
	for b.Loop() {
		if _, _, err := Parse(s); err != nil {
			b.Fatal(err)
		}
	}
}
