// Package secretbox encrypts the secrets Gatehouse must keep (a GitLab token,
// an LDAP bind password) before they reach the store, with AES-256-GCM under
// a key from configuration.
//
// A sealed secret is a self-describing string:
//
//	gh1:<key id>:<base64url(nonce | ciphertext | tag)>
//
// The key id is the first 8 hex digits of the SHA-256 of the key: not secret,
// it lets [Keyring.Open] pick the right key after a rotation and lets an
// operator tell which key a secret needs. A [Keyring] has one primary key,
// which seals, and any number of older keys, which only open; docs/secrets.md
// describes the rotation.
//
// Keys are 32 random bytes written in base64 (standard or URL alphabet,
// padded or not), e.g. from `openssl rand -base64 32`. Error messages name a
// key by its position, never by its text.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// The configuration that holds the keys; see [Load].
const (
	// EnvKey holds the keys themselves, the primary first.
	EnvKey = "GATEHOUSE_SECRET_KEY"
	// EnvKeyFile names a file of keys, one a line, the primary first.
	EnvKeyFile = "GATEHOUSE_SECRET_KEY_FILE"
)

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

const (
	// prefix marks a sealed secret and its format version.
	prefix = "gh1:"
	// idLen is the length of a key id in hex digits.
	idLen = 8
)

var (
	// ErrNoKey is returned when a secret must be sealed or opened and the
	// key it needs is not configured: start-up reports it as "set
	// GATEHOUSE_SECRET_KEY".
	ErrNoKey = errors.New("secret key not configured")
	// ErrCorrupt is returned for a sealed secret that cannot be opened with
	// the key it names: malformed, altered, or sealed for another name.
	ErrCorrupt = errors.New("sealed secret is corrupt")
	// ErrNotSealed is returned by Open for a string that is not a sealed
	// secret at all (see [IsSealed]), e.g. a value stored in clear text.
	ErrNotSealed = errors.New("value is not a sealed secret")
	// ErrBadKey is returned for a key that is not 32 bytes of base64.
	ErrBadKey = errors.New("invalid secret key")
)

// key is one AES-256-GCM key and its id.
type key struct {
	id   string
	aead cipher.AEAD
}

// Keyring holds the primary key, which seals, and older keys, which only
// open. The zero value and a nil *Keyring hold no key: Seal fails with
// [ErrNoKey], and so does Open of any sealed secret. A Keyring is safe for
// concurrent use.
type Keyring struct {
	primary *key
	byID    map[string]*key
}

// NewKeyring returns a keyring of raw keys, each [KeySize] bytes: keys[0] is
// the primary, the rest are older keys kept to open what they sealed. With no
// keys it returns an empty keyring. Repeating a key is no error.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	k := &Keyring{byID: make(map[string]*key, len(keys))}
	for i, raw := range keys {
		if len(raw) != KeySize {
			return nil, fmt.Errorf("key %d: %d bytes, want %d: %w", i+1, len(raw), KeySize, ErrBadKey)
		}
		id := keyID(raw)
		if _, dup := k.byID[id]; dup {
			// Equal ids are an equal key but for a 1 in 2^32 chance;
			// either way the first one listed is the one used.
			continue
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		kk := &key{id: id, aead: aead}
		k.byID[id] = kk
		if k.primary == nil {
			k.primary = kk
		}
	}
	return k, nil
}

// ParseKeyring parses keys written in base64, separated by new lines, spaces
// or commas, the primary first. Lines starting with '#' are comments.
func ParseKeyring(text string) (*Keyring, error) {
	var raws [][]byte
	for line := range strings.Lines(text) {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, f := range strings.FieldsFunc(line, func(r rune) bool {
			return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n'
		}) {
			raw, err := decodeKey(f)
			if err != nil {
				return nil, fmt.Errorf("key %d: %w", len(raws)+1, err)
			}
			raws = append(raws, raw)
		}
	}
	return NewKeyring(raws...)
}

// Load builds the keyring from the configuration: value is the content of
// GATEHOUSE_SECRET_KEY and file the path in GATEHOUSE_SECRET_KEY_FILE. Both
// empty gives an empty keyring (Gatehouse then keeps no secret); both set is
// an error, so that no one rotates the key in one place while the other wins.
func Load(value, file string) (*Keyring, error) {
	switch {
	case value != "" && file != "":
		return nil, fmt.Errorf("set %s or %s, not both", EnvKey, EnvKeyFile)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKeyFile, err)
		}
		k, err := ParseKeyring(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", EnvKeyFile, file, err)
		}
		if k.primary == nil {
			return nil, fmt.Errorf("%s %s: no key in the file: %w", EnvKeyFile, file, ErrBadKey)
		}
		return k, nil
	case value != "":
		k, err := ParseKeyring(value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKey, err)
		}
		if k.primary == nil {
			return nil, fmt.Errorf("%s: no key: %w", EnvKey, ErrBadKey)
		}
		return k, nil
	}
	return NewKeyring()
}

// GenerateKey returns a new random key in standard base64, as
// GATEHOUSE_SECRET_KEY takes it.
func GenerateKey() (string, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate secret key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// decodeKey decodes one base64 key of any of the four usual encodings. The
// error never quotes the input.
func decodeKey(s string) ([]byte, error) {
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(s, "=") {
		enc = enc.WithPadding(base64.NoPadding)
	}
	raw, err := enc.Strict().DecodeString(s)
	if err != nil {
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("not base64 (at character %d): %w", int64(ce)+1, ErrBadKey)
		}
		return nil, fmt.Errorf("not base64: %w", ErrBadKey)
	}
	if len(raw) != KeySize {
		return nil, fmt.Errorf("decodes to %d bytes, want %d: %w", len(raw), KeySize, ErrBadKey)
	}
	return raw, nil
}

// keyID is the public fingerprint of a key.
func keyID(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])[:idLen]
}

// Configured reports whether the keyring has a primary key.
func (k *Keyring) Configured() bool { return k != nil && k.primary != nil }

// PrimaryID returns the id of the primary key, "" when there is none. It is
// safe to log.
func (k *Keyring) PrimaryID() string {
	if !k.Configured() {
		return ""
	}
	return k.primary.id
}

// Seal encrypts plaintext under the primary key. It is SealFor with no name.
func (k *Keyring) Seal(plaintext string) (string, error) { return k.SealFor("", plaintext) }

// Open decrypts a secret sealed by Seal.
func (k *Keyring) Open(sealed string) (string, error) { return k.OpenFor("", sealed) }

// SealFor encrypts plaintext under the primary key and binds it to name
// (e.g. the setting "gitlab.token"): OpenFor with another name fails, so a
// sealed value copied into another setting does not open there.
func (k *Keyring) SealFor(name, plaintext string) (string, error) {
	if !k.Configured() {
		return "", fmt.Errorf("seal secret: %w (%s)", ErrNoKey, EnvKey)
	}
	p := k.primary
	nonce := make([]byte, p.aead.NonceSize(), p.aead.NonceSize()+len(plaintext)+p.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal secret: %w", err)
	}
	box := p.aead.Seal(nonce, nonce, []byte(plaintext), additionalData(p.id, name))
	return prefix + p.id + ":" + base64.RawURLEncoding.EncodeToString(box), nil
}

// OpenFor decrypts a secret sealed by SealFor with the same name. It returns
// [ErrNotSealed] for a string that is no sealed secret, [ErrNoKey] when the
// key the secret names is not in the keyring, and [ErrCorrupt] when the
// secret is malformed, altered or sealed for another name.
func (k *Keyring) OpenFor(name, sealed string) (string, error) {
	id, box, err := parse(sealed)
	if err != nil {
		return "", err
	}
	var kk *key
	if k != nil {
		kk = k.byID[id]
	}
	if kk == nil {
		return "", fmt.Errorf("open secret: it needs key %s, which is not configured: %w (%s)", id, ErrNoKey, EnvKey)
	}
	ns := kk.aead.NonceSize()
	if len(box) < ns+kk.aead.Overhead() {
		return "", fmt.Errorf("open secret: too short: %w", ErrCorrupt)
	}
	plain, err := kk.aead.Open(nil, box[:ns], box[ns:], additionalData(id, name))
	if err != nil {
		// Deliberately one error for every cause: GCM cannot tell a
		// wrong name from an altered ciphertext.
		return "", fmt.Errorf("open secret with key %s: %w", id, ErrCorrupt)
	}
	return string(plain), nil
}

// NeedsReseal reports whether sealed opens with an older key of the keyring,
// not the primary: rotation reseals such secrets (see Reseal).
func (k *Keyring) NeedsReseal(sealed string) bool {
	id, _, err := parse(sealed)
	return err == nil && k.Configured() && id != k.primary.id && k.byID[id] != nil
}

// Reseal opens a secret sealed for name under an older key and seals it again
// under the primary key. A secret already under the primary key is returned
// unchanged, and changed is false.
func (k *Keyring) Reseal(name, sealed string) (resealed string, changed bool, err error) {
	plain, err := k.OpenFor(name, sealed)
	if err != nil {
		return "", false, err
	}
	if !k.NeedsReseal(sealed) {
		return sealed, false, nil
	}
	out, err := k.SealFor(name, plain)
	if err != nil {
		return "", false, err
	}
	return out, true, nil
}

// IsSealed reports whether s has the form of a sealed secret. It does not
// check that s opens.
func IsSealed(s string) bool {
	_, _, err := parse(s)
	return err == nil
}

// KeyID returns the id of the key a sealed secret needs, so that an error
// can say which key is missing.
func KeyID(sealed string) (string, error) {
	id, _, err := parse(sealed)
	return id, err
}

// parse splits a sealed secret into its key id and nonce|ciphertext.
func parse(sealed string) (id string, box []byte, err error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return "", nil, fmt.Errorf("open secret: %w", ErrNotSealed)
	}
	id, enc, ok := strings.Cut(rest, ":")
	if !ok || len(id) != idLen || !isLowerHex(id) {
		return "", nil, fmt.Errorf("open secret: malformed key id: %w", ErrCorrupt)
	}
	box, err = base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil {
		return "", nil, fmt.Errorf("open secret: malformed ciphertext: %w", ErrCorrupt)
	}
	return id, box, nil
}

func isLowerHex(s string) bool {
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// additionalData is what GCM authenticates besides the ciphertext: the
// format version, the key id and the name, so that none can be swapped.
// The id has a fixed length, so the concatenation is unambiguous.
func additionalData(id, name string) []byte {
	return []byte(prefix + id + ":" + name)
}
