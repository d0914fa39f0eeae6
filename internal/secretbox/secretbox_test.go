package secretbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testKey returns a fixed key made of the byte b.
func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func mustRing(t testing.TB, keys ...[]byte) *Keyring {
	t.Helper()
	k, err := NewKeyring(keys...)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := mustRing(t, testKey(1))
	for _, plain := range []string{"", "glpat-0123456789abcdef", "pässwörd with spaces\n", strings.Repeat("x", 10_000)} {
		sealed, err := k.Seal(plain)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if !IsSealed(sealed) {
			t.Errorf("IsSealed(%q) = false", sealed)
		}
		if plain != "" && strings.Contains(sealed, plain) {
			t.Errorf("sealed %q contains the plaintext", sealed)
		}
		got, err := k.Open(sealed)
		if err != nil || got != plain {
			t.Errorf("Open(Seal(%.20q)) = %.20q, %v", plain, got, err)
		}
	}
	a, _ := k.Seal("same")
	b, _ := k.Seal("same")
	if a == b {
		t.Error("two seals of one plaintext are equal: the nonce is not fresh")
	}
}

func TestSealedFormat(t *testing.T) {
	raw := testKey(7)
	k := mustRing(t, raw)
	sum := sha256.Sum256(raw)
	wantID := hex.EncodeToString(sum[:4])
	if got := k.PrimaryID(); got != wantID {
		t.Fatalf("PrimaryID = %q, want %q (first 8 hex of SHA-256)", got, wantID)
	}
	sealed, err := k.Seal("secret")
	if err != nil {
		t.Fatal(err)
	}
	if want := "gh1:" + wantID + ":"; !strings.HasPrefix(sealed, want) {
		t.Fatalf("sealed = %q, want prefix %q", sealed, want)
	}
	id, err := KeyID(sealed)
	if err != nil || id != wantID {
		t.Errorf("KeyID = %q, %v, want %q", id, err, wantID)
	}
	box, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(sealed, "gh1:"+wantID+":"))
	if err != nil {
		t.Fatalf("payload is not raw URL base64: %v", err)
	}
	if want := 12 + len("secret") + 16; len(box) != want {
		t.Errorf("payload is %d bytes, want %d (nonce, ciphertext, tag)", len(box), want)
	}
}

func TestSealForBindsName(t *testing.T) {
	k := mustRing(t, testKey(1))
	sealed, err := k.SealFor("gitlab.token", "glpat-x")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.OpenFor("gitlab.token", sealed); err != nil || got != "glpat-x" {
		t.Fatalf("OpenFor same name = %q, %v", got, err)
	}
	for _, name := range []string{"ldap.bindPassword", "", "gitlab.token "} {
		if _, err := k.OpenFor(name, sealed); !errors.Is(err, ErrCorrupt) {
			t.Errorf("OpenFor(%q) of a secret sealed for gitlab.token: err = %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := k.Open(sealed); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open without name: err = %v, want ErrCorrupt", err)
	}
}

func TestOpenErrors(t *testing.T) {
	k := mustRing(t, testKey(1))
	good, err := k.Seal("secret")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := mustRing(t, testKey(2)).Seal("secret")
	id := k.PrimaryID()
	payload := strings.TrimPrefix(good, "gh1:"+id+":")
	// flip alters one character of the payload, keeping it valid base64.
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name   string
		sealed string
		want   error
	}{
		{"empty", "", ErrNotSealed},
		{"plain text", "glpat-secret", ErrNotSealed},
		{"other version", "gh2:" + id + ":" + payload, ErrNotSealed},
		{"no payload separator", "gh1:" + id, ErrCorrupt},
		{"short key id", "gh1:abc:" + payload, ErrCorrupt},
		{"upper-case key id", "gh1:" + strings.ToUpper("abcdef01") + ":" + payload, ErrCorrupt},
		{"non-hex key id", "gh1:zzzzzzzz:" + payload, ErrCorrupt},
		{"bad base64", "gh1:" + id + ":!!!!", ErrCorrupt},
		{"padded base64", "gh1:" + id + ":" + payload + "==", ErrCorrupt},
		{"too short", "gh1:" + id + ":AAAA", ErrCorrupt},
		{"empty payload", "gh1:" + id + ":", ErrCorrupt},
		{"altered nonce", "gh1:" + id + ":" + flip(payload, 0), ErrCorrupt},
		{"altered tag", "gh1:" + id + ":" + flip(payload, len(payload)-2), ErrCorrupt},
		{"truncated", good[:len(good)-4], ErrCorrupt},
		{"unknown key", other, ErrNoKey},
		{"key id of another key", "gh1:" + strings.Split(other, ":")[1] + ":" + payload, ErrNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := k.Open(tt.sealed)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open(%q) = %q, %v; want %v", tt.sealed, got, err, tt.want)
			}
			if got != "" {
				t.Errorf("Open returned %q with an error", got)
			}
		})
	}
}

func TestNoKey(t *testing.T) {
	sealed, _ := mustRing(t, testKey(1)).Seal("secret")
	for name, k := range map[string]*Keyring{"nil": nil, "zero": {}, "empty": mustRing(t)} {
		t.Run(name, func(t *testing.T) {
			if k.Configured() || k.PrimaryID() != "" {
				t.Error("an empty keyring says it is configured")
			}
			if _, err := k.Seal("x"); !errors.Is(err, ErrNoKey) {
				t.Errorf("Seal: err = %v, want ErrNoKey", err)
			}
			_, err := k.Open(sealed)
			if !errors.Is(err, ErrNoKey) {
				t.Errorf("Open: err = %v, want ErrNoKey", err)
			}
			if err != nil && !strings.Contains(err.Error(), EnvKey) {
				t.Errorf("Open error %q does not name %s", err, EnvKey)
			}
			if _, err := k.Open("plain"); !errors.Is(err, ErrNotSealed) {
				t.Errorf("Open(plain): err = %v, want ErrNotSealed", err)
			}
			if k.NeedsReseal(sealed) {
				t.Error("NeedsReseal is true without keys")
			}
		})
	}
}

// TestRotation follows docs/secrets.md: seal under the old key, add a new
// primary with the old one behind it, open, reseal, drop the old key.
func TestRotation(t *testing.T) {
	oldKey, newKey := testKey(1), testKey(2)
	before := mustRing(t, oldKey)
	sealed, err := before.SealFor("ldap.bindPassword", "hunter2")
	if err != nil {
		t.Fatal(err)
	}

	during := mustRing(t, newKey, oldKey)
	if during.PrimaryID() == before.PrimaryID() {
		t.Fatal("the new keyring's primary is the old key")
	}
	if got, err := during.OpenFor("ldap.bindPassword", sealed); err != nil || got != "hunter2" {
		t.Fatalf("OpenFor with the old key as secondary = %q, %v", got, err)
	}
	if !during.NeedsReseal(sealed) {
		t.Fatal("NeedsReseal = false for a secret under the old key")
	}
	resealed, changed, err := during.Reseal("ldap.bindPassword", sealed)
	if err != nil || !changed {
		t.Fatalf("Reseal = %v, %v", changed, err)
	}
	if id, _ := KeyID(resealed); id != during.PrimaryID() {
		t.Errorf("resealed under %s, want primary %s", id, during.PrimaryID())
	}
	if during.NeedsReseal(resealed) {
		t.Error("NeedsReseal = true after Reseal")
	}
	again, changed, err := during.Reseal("ldap.bindPassword", resealed)
	if err != nil || changed || again != resealed {
		t.Errorf("Reseal of a primary secret = %q, %v, %v; want it unchanged", again, changed, err)
	}
	if _, _, err := during.Reseal("gitlab.token", sealed); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Reseal under the wrong name: err = %v, want ErrCorrupt", err)
	}

	after := mustRing(t, newKey)
	if got, err := after.OpenFor("ldap.bindPassword", resealed); err != nil || got != "hunter2" {
		t.Errorf("OpenFor of the resealed secret after dropping the old key = %q, %v", got, err)
	}
	if _, err := after.OpenFor("ldap.bindPassword", sealed); !errors.Is(err, ErrNoKey) {
		t.Errorf("OpenFor of a secret under the dropped key: err = %v, want ErrNoKey", err)
	}
}

func TestNewKeyring(t *testing.T) {
	if _, err := NewKeyring(testKey(1), make([]byte, 16)); !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "key 2") {
		t.Errorf("16-byte key: err = %v, want ErrBadKey naming key 2", err)
	}
	k := mustRing(t, testKey(1), testKey(1), testKey(2))
	if len(k.byID) != 2 {
		t.Errorf("a repeated key gives %d keys, want 2", len(k.byID))
	}
	// The caller's slice may be reused: the keyring does not alias it.
	raw := testKey(3)
	k = mustRing(t, raw)
	sealed, _ := k.Seal("x")
	clear(raw)
	if got, err := k.Open(sealed); err != nil || got != "x" {
		t.Errorf("Open after the caller cleared its key slice = %q, %v", got, err)
	}
}

func TestParseKeyring(t *testing.T) {
	k1, k2 := testKey(0xfb), testKey(0xfe) // 0xfb.. and 0xfe.. use '+' '/' or '-' '_'
	std, url := base64.StdEncoding, base64.URLEncoding
	rawStd, rawURL := base64.RawStdEncoding, base64.RawURLEncoding
	tests := []struct {
		name    string
		text    string
		want    [][]byte // primary first
		wantErr string   // substring; "" for success
	}{
		{"std", std.EncodeToString(k1), [][]byte{k1}, ""},
		{"url", url.EncodeToString(k1), [][]byte{k1}, ""},
		{"raw std", rawStd.EncodeToString(k1), [][]byte{k1}, ""},
		{"raw url", rawURL.EncodeToString(k1), [][]byte{k1}, ""},
		{"file with comments", "# rotated 2026-12-02\n" + std.EncodeToString(k2) + "\r\n\n  # old\n" + url.EncodeToString(k1) + "\n", [][]byte{k2, k1}, ""},
		{"comma separated", std.EncodeToString(k1) + "," + std.EncodeToString(k2), [][]byte{k1, k2}, ""},
		{"empty", "\n# nothing\n", nil, ""},
		{"short", std.EncodeToString(k1[:16]), nil, "key 1: decodes to 16 bytes, want 32"},
		{"long", std.EncodeToString(append(k1, 0)), nil, "decodes to 33 bytes"},
		{"bad second key", std.EncodeToString(k1) + "\n" + "not*base64", nil, "key 2: not base64"},
		{"mixed alphabets", "+" + rawURL.EncodeToString(k2)[1:], nil, "not base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKeyring(tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrBadKey) {
					t.Fatalf("err = %v, want ErrBadKey containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := mustRing(t, tt.want...)
			if k.PrimaryID() != want.PrimaryID() || len(k.byID) != len(want.byID) {
				t.Errorf("parsed primary %q and %d keys, want %q and %d", k.PrimaryID(), len(k.byID), want.PrimaryID(), len(want.byID))
			}
		})
	}
}

// TestErrorsHideKey checks that no error message quotes a key or a
// plaintext, whatever is wrong with it.
func TestErrorsHideKey(t *testing.T) {
	secretish := []string{
		base64.StdEncoding.EncodeToString(testKey(9)[:31]),     // one byte short
		base64.StdEncoding.EncodeToString(testKey(9)) + "AAAA", // too long
		"c2VjcmV0LWtleS10aGF0LWlzLXdyb25n*",                    // bad character
	}
	for _, s := range secretish {
		_, err := ParseKeyring(s)
		if err == nil {
			t.Fatalf("ParseKeyring accepted a bad key")
		}
		if strings.Contains(err.Error(), s) || strings.Contains(err.Error(), s[:10]) {
			t.Errorf("error %q quotes the key", err)
		}
		_, err = Load(s, "")
		if err == nil || strings.Contains(err.Error(), s[:10]) {
			t.Errorf("Load error %v quotes the key", err)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	k1, _ := GenerateKey()
	k2, _ := GenerateKey()
	file := filepath.Join(dir, "keys")
	if err := os.WriteFile(file, []byte(k2+"\n"+k1+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("# no key yet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromEnv, err := Load(k1, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		value, file string
		wantPrimary string
		wantKeys    int
		wantErr     string
	}{
		{"none", "", "", "", 0, ""},
		{"env", k1, "", fromEnv.PrimaryID(), 1, ""},
		{"env with old key", k2 + "," + k1, "", "", 2, ""},
		{"file", "", file, "", 2, ""},
		{"both", k1, file, "", 0, "not both"},
		{"missing file", "", filepath.Join(dir, "absent"), "", 0, EnvKeyFile},
		{"empty file", "", empty, "", 0, "no key"},
		{"blank env", " \n", "", "", 0, "no key"},
		{"bad env", "short", "", "", 0, EnvKey + ": key 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Load(tt.value, tt.file)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantPrimary != "" && k.PrimaryID() != tt.wantPrimary {
				t.Errorf("primary %q, want %q", k.PrimaryID(), tt.wantPrimary)
			}
			if len(k.byID) != tt.wantKeys {
				t.Errorf("%d keys, want %d", len(k.byID), tt.wantKeys)
			}
		})
	}
	// The file's first line is the primary: what k1 sealed opens, and
	// new seals use k2.
	fk, _ := Load("", file)
	old, _ := fromEnv.Seal("x")
	if !fk.NeedsReseal(old) {
		t.Error("a secret under the file's second key does not need resealing")
	}
	if got, err := fk.Open(old); err != nil || got != "x" {
		t.Errorf("Open under the file's old key = %q, %v", got, err)
	}
}

func FuzzOpen(f *testing.F) {
	k := mustRing(f, testKey(1), testKey(2))
	old := mustRing(f, testKey(2))
	for _, s := range []struct{ name, plain string }{{"", ""}, {"", "secret"}, {"gitlab.token", "glpat-x"}} {
		sealed, err := k.SealFor(s.name, s.plain)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s.name, sealed)
		sealed, _ = old.SealFor(s.name, s.plain)
		f.Add(s.name, sealed)
	}
	for _, s := range []string{"", "gh1:", "gh1::", "gh1:00000000:", "gh1:0000000:AAAA", "gh1:abcdefab:" + strings.Repeat("A", 40), "plain", "gh1:ABCDEFAB:x"} {
		f.Add("", s)
	}
	f.Fuzz(func(t *testing.T, name, sealed string) {
		plain, err := k.OpenFor(name, sealed)
		switch {
		case err == nil:
			// Only a genuine seal opens; sealing what opened round-trips.
			again, err := k.SealFor(name, plain)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := k.OpenFor(name, again); err != nil || got != plain {
				t.Fatalf("round trip of an opened secret = %q, %v", got, err)
			}
			if !IsSealed(sealed) {
				t.Fatalf("%q opened but IsSealed is false", sealed)
			}
		case errors.Is(err, ErrNotSealed):
			if IsSealed(sealed) {
				t.Fatalf("%q: ErrNotSealed but IsSealed is true", sealed)
			}
		case errors.Is(err, ErrCorrupt), errors.Is(err, ErrNoKey):
		default:
			t.Fatalf("OpenFor(%q, %q): untyped error %v", name, sealed, err)
		}
		if err != nil && plain != "" {
			t.Fatalf("plaintext %q returned with error %v", plain, err)
		}
	})
}
