package saml

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"slices"
	"strings"
	"time"
)

// requestCookiePrefix starts the name of each cookie that remembers an
// AuthnRequest this browser was sent with; the request id follows, so
// sign-ins started in several tabs each keep theirs.
const requestCookiePrefix = "gatehouse_saml_req_"

// requestTTL is how long a started sign-in may take at the IdP (password,
// MFA, consent) before its response is refused as unsolicited.
const requestTTL = 15 * time.Minute

// maxPendingRequests bounds how many started sign-ins a browser keeps, so
// repeated attempts do not grow the Cookie header without limit.
const maxPendingRequests = 5

// requestTracker signs and reads the request-id cookies. The MAC key is
// derived from the SP key, so every replica configured with the same key
// accepts them, and binds the SP's entity id and ACS URL, so a cookie made
// for one connection is worthless at another.
type requestTracker struct {
	key    []byte
	path   string
	secure bool
	now    func() time.Time
}

func newRequestTracker(spKeyDER []byte, entityID, acsURL, acsPath string, secure bool, now func() time.Time) *requestTracker {
	h := sha256.New()
	h.Write([]byte("gatehouse saml request cookie v1\x00"))
	h.Write(spKeyDER)
	h.Write([]byte{0})
	h.Write([]byte(entityID))
	h.Write([]byte{0})
	h.Write([]byte(acsURL))
	if acsPath == "" {
		acsPath = "/"
	}
	return &requestTracker{key: h.Sum(nil), path: acsPath, secure: secure, now: now}
}

func (t *requestTracker) mac(id string, expires int64) []byte {
	m := hmac.New(sha256.New, t.key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(expires))
	m.Write(b[:])
	m.Write([]byte(id))
	return m.Sum(nil)
}

// value is expiry (8 bytes, Unix seconds) then the MAC, base64url.
func (t *requestTracker) value(id string, expires int64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(expires))
	return base64.RawURLEncoding.EncodeToString(append(b[:], t.mac(id, expires)...))
}

// valid returns the expiry of cookie c if it is a well-signed, unexpired
// request cookie, and its request id.
func (t *requestTracker) valid(c *http.Cookie) (id string, expires int64, ok bool) {
	id, found := strings.CutPrefix(c.Name, requestCookiePrefix)
	if !found || id == "" {
		return "", 0, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(raw) != 8+sha256.Size {
		return "", 0, false
	}
	expires = int64(binary.BigEndian.Uint64(raw[:8]))
	if !hmac.Equal(raw[8:], t.mac(id, expires)) || t.now().Unix() >= expires {
		return "", 0, false
	}
	return id, expires, true
}

func (t *requestTracker) cookie(name, value string, maxAge int) *http.Cookie {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     t.path,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   t.secure,
		// The IdP posts the response from its own site, a cross-site POST
		// that SameSite=Lax cookies do not go with. None requires Secure;
		// over plain http (development) Lax is the best a browser accepts.
		SameSite: http.SameSiteLaxMode,
	}
	if t.secure {
		c.SameSite = http.SameSiteNoneMode
	}
	if maxAge < 0 {
		c.Value = ""
	}
	return c
}

// remember sets the cookie for request id, dropping the oldest pending ones
// beyond maxPendingRequests-1 and any that no longer verify.
func (t *requestTracker) remember(w http.ResponseWriter, r *http.Request, id string) {
	type pending struct {
		name    string
		expires int64
	}
	var live []pending
	for _, c := range r.Cookies() {
		if !strings.HasPrefix(c.Name, requestCookiePrefix) {
			continue
		}
		if _, exp, ok := t.valid(c); ok {
			live = append(live, pending{c.Name, exp})
		} else {
			http.SetCookie(w, t.cookie(c.Name, "", -1))
		}
	}
	slices.SortFunc(live, func(a, b pending) int { return int(a.expires - b.expires) })
	for len(live) >= maxPendingRequests {
		http.SetCookie(w, t.cookie(live[0].name, "", -1))
		live = live[1:]
	}
	expires := t.now().Add(requestTTL).Unix()
	http.SetCookie(w, t.cookie(requestCookiePrefix+id, t.value(id, expires), int(requestTTL/time.Second)))
}

// pending returns the ids of the requests this browser has started and not
// finished.
func (t *requestTracker) pending(r *http.Request) []string {
	var ids []string
	for _, c := range r.Cookies() {
		if id, _, ok := t.valid(c); ok && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// forget clears the cookie of request id, once its response is accepted.
func (t *requestTracker) forget(w http.ResponseWriter, id string) {
	if id != "" {
		http.SetCookie(w, t.cookie(requestCookiePrefix+id, "", -1))
	}
}

// spKeyDER is the SP key's PKCS#8 encoding, the secret the tracker's MAC key
// is derived from.
func spKeyDER(key any) ([]byte, error) {
	return x509.MarshalPKCS8PrivateKey(key)
}
