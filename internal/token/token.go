// Package token generates and parses Gatehouse token secrets (SPEC §3):
//
//	<prefix><32 random base62 characters><6-character base62 CRC32 checksum>
//
// The prefix lets secret scanners recognise a token and tells its type; the
// checksum catches a typo or a truncated paste before any store lookup. Only
// the SHA-256 hash of a secret is ever stored.
package token

import (
	"crypto/rand"
	"crypto/sha256"

	"hash/crc32"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

const (
	alphabet      = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	randomLen     = 32
	checksumLen   = 6
	prefixLen     = 4
	secretLen     = prefixLen + randomLen + checksumLen
	prefixUser    = "gtu_"
	prefixGlobal  = "gta_"
	prefixProject = "gtp_"
	prefixOrg     = "gto_"
	prefixSCIM    = "gts_"
)

// Errors returned by Parse. Both wrap identity.ErrUnauthenticated: a client
// that sends a malformed token is simply not authenticated.
var (
	ErrMalformed = identity.Errorf(identity.ErrUnauthenticated, "malformed token")
	ErrChecksum  = identity.Errorf(identity.ErrUnauthenticated, "token checksum mismatch")
)

// Hash is the SHA-256 of a secret, the only form in which it is stored.
type Hash [sha256.Size]byte

// HashOf returns the hash of a secret.
func HashOf(secret string) Hash { return sha256.Sum256([]byte(secret)) }

// Prefix returns the secret prefix of a token type.
func Prefix(t identity.TokenType) string {
	switch t {
	case identity.TokenUser:
		return prefixUser
	case identity.TokenGlobalAnalysis:
		return prefixGlobal
	case identity.TokenProjectAnalysis:
		return prefixProject
	case identity.TokenOrganization:
		return prefixOrg
	case identity.TokenSCIM:
		return prefixSCIM
	}
	return ""
}

func typeOfPrefix(p string) (identity.TokenType, bool) {
	switch p {
	case prefixUser:
		return identity.TokenUser, true
	case prefixGlobal:
		return identity.TokenGlobalAnalysis, true
	case prefixProject:
		return identity.TokenProjectAnalysis, true
	case prefixOrg:
		return identity.TokenOrganization, true
	case prefixSCIM:
		return identity.TokenSCIM, true
	}
	return "", false
}

// Generate returns a new random secret of type t and its hash.
func Generate(t identity.TokenType) (string, Hash, error) {
	prefix := Prefix(t)
	if prefix == "" {
		return "", Hash{}, identity.Errorf(identity.ErrInvalid, "unknown token type %q", t)
	}
	var b strings.Builder
	b.Grow(secretLen)
	b.WriteString(prefix)
	// Rejection sampling keeps every character uniformly distributed.
	buf := make([]byte, 64)
	for n := 0; n < randomLen; {
		if _, err := rand.Read(buf); err != nil {
			return "", Hash{}, err
		}
		for _, c := range buf {
			if c >= 248 { // 248 = 4*62: keep the modulo unbiased
				continue
			}
			b.WriteByte(alphabet[c%62])
			if n++; n == randomLen {
				break
			}
		}
	}
	body := b.String()
	sum := checksum(body)
	secret := body + string(sum[:])
	return secret, HashOf(secret), nil
}

// Parse checks a secret's shape and checksum without any lookup and returns
// its type and hash.
func Parse(secret string) (identity.TokenType, Hash, error) {
	if len(secret) != secretLen {
		return "", Hash{}, ErrMalformed
	}
	t, ok := typeOfPrefix(secret[:prefixLen])
	if !ok {
		return "", Hash{}, ErrMalformed
	}
	for i := prefixLen; i < secretLen; i++ {
		if !isBase62(secret[i]) {
			return "", Hash{}, ErrMalformed
		}
	}
	sum := checksum(secret[:secretLen-checksumLen])
	if string(sum[:]) != secret[secretLen-checksumLen:] {
		return "", Hash{}, ErrChecksum
	}
	return t, HashOf(secret), nil
}

// LooksLikeToken reports whether s has a token prefix; callers use it to tell
// a token from a login in HTTP basic authentication.
func LooksLikeToken(s string) bool {
	if len(s) < prefixLen {
		return false
	}
	_, ok := typeOfPrefix(s[:prefixLen])
	return ok
}

func isBase62(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// checksum encodes the CRC32 (IEEE) of body in 6 base62 digits, zero padded;
// 62^6 > 2^32, so every checksum fits.
func checksum(body string) [checksumLen]byte {
	v := crc32.ChecksumIEEE([]byte(body))
	var out [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = alphabet[v%62]
		v /= 62
	}
	return out
}
