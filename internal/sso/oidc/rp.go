// Package oidc is Gatehouse's OpenID Connect relying party: the protocol
// half of OIDC single sign-on, which the SSO adapter (internal/sso) drives
// for each configured OIDC connection. It builds on
// github.com/coreos/go-oidc/v3 (discovery, JWKS, JWT signatures) and
// golang.org/x/oauth2 (the authorization-code exchange) and adds the policy
// Gatehouse requires:
//
//   - the authorization-code flow only, always with PKCE (S256), a state and
//     a nonce; the three live in a signed, HttpOnly cookie scoped to the
//     callback path, one per sign-in so that several tabs keep theirs;
//   - the ID token must be signed with a key the provider publishes, name
//     the configured issuer, be issued to this client id (audience, and azp
//     when several audiences), carry the sign-in's nonce and be unexpired
//     within [Config.ClockSkew];
//   - userinfo claims are added to the ID token's (ID token first), because
//     some providers (Okta's org server) send groups and e-mail only there.
//
// Every refusal [RP.Finish] returns is an [*Error] whose [ErrorCode] says
// what failed and whose Detail says why. A successful sign-in yields a
// [claims.Claims] with the claims flattened to strings, exactly as sent.
package oidc

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/sso/claims"
)

const (
	// DefaultClockSkew is how far the provider's clock may be behind
	// Gatehouse's when checking the ID token's expiry.
	DefaultClockSkew = 60 * time.Second
	// DefaultTimeout bounds each call to the provider with the default
	// HTTP client.
	DefaultTimeout = 15 * time.Second
	// signInTTL is how long a started sign-in may take at the provider
	// (password, MFA, consent).
	signInTTL = 15 * time.Minute
	// cookiePrefix starts the name of each sign-in cookie; the state follows.
	cookiePrefix = "gatehouse_oidc_"
)

// Config configures one relying party: one SSO connection to one OpenID
// provider.
type Config struct {
	// Issuer is the provider's issuer URL; its discovery document is at
	// Issuer + "/.well-known/openid-configuration".
	Issuer string
	// ClientID and ClientSecret are the client registered at the provider.
	// The secret may be empty for a public client (PKCE still applies).
	ClientID, ClientSecret string
	// RedirectURL is the absolute callback URL registered at the provider.
	RedirectURL string
	// Scopes are requested besides "openid"; default profile and email.
	Scopes []string
	// CookieKey authenticates the sign-in cookies; every replica must use
	// the same. Empty: derived from ClientID and ClientSecret (a public
	// client without a secret then needs one).
	CookieKey []byte
	// SkipUserInfo does not call the userinfo endpoint.
	SkipUserInfo bool
	// ClockSkew is how long after its expiry an ID token is still
	// accepted; default DefaultClockSkew, at most 5 minutes.
	ClockSkew time.Duration
	// HTTPClient calls the provider; default a client with DefaultTimeout.
	HTTPClient *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// RP is a relying party for one provider. It is safe for concurrent use.
type RP struct {
	provider *gooidc.Provider
	oauth    oauth2.Config
	issuer   string
	clientID string
	client   *http.Client
	key      []byte
	path     string
	secure   bool
	skew     time.Duration
	userInfo bool
	now      func() time.Time
}

// New checks cfg and fetches the provider's discovery document. A
// configuration problem is an *Error with code ErrConfig, a discovery
// problem one with ErrDiscovery.
func New(ctx context.Context, cfg Config) (*RP, error) {
	issuer, err := absoluteURL("Issuer", cfg.Issuer)
	if err != nil {
		return nil, err
	}
	redirect, err := absoluteURL("RedirectURL", cfg.RedirectURL)
	if err != nil {
		return nil, err
	}
	if cfg.ClientID == "" {
		return nil, errorf(ErrConfig, "the client id is missing")
	}
	key := cfg.CookieKey
	if len(key) == 0 {
		if cfg.ClientSecret == "" {
			return nil, errorf(ErrConfig, "a public client (no client secret) needs a cookie key")
		}
		m := hmac.New(sha256.New, []byte("gatehouse oidc cookie v1"))
		m.Write([]byte(cfg.ClientID + "\x00" + cfg.ClientSecret + "\x00" + redirect.String()))
		key = m.Sum(nil)
	}
	skew := cfg.ClockSkew
	if skew == 0 {
		skew = DefaultClockSkew
	}
	if skew < 0 || skew > 5*time.Minute {
		return nil, errorf(ErrConfig, "the clock skew must be between 0 and 5m, not %s", skew)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: DefaultTimeout}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, client), strings.TrimSuffix(issuer.String(), "/"))
	if err != nil {
		return nil, wrap(ErrDiscovery, err, "cannot read the discovery document of %s", issuer)
	}
	scopes := []string{gooidc.ScopeOpenID}
	if cfg.Scopes == nil {
		scopes = append(scopes, "profile", "email")
	}
	for _, s := range cfg.Scopes {
		if s != gooidc.ScopeOpenID && !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	path := redirect.EscapedPath()
	if path == "" {
		path = "/"
	}
	return &RP{
		provider: p,
		oauth: oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: p.Endpoint(),
			RedirectURL: redirect.String(), Scopes: scopes},
		issuer:   strings.TrimSuffix(issuer.String(), "/"),
		clientID: cfg.ClientID,
		client:   client,
		key:      key,
		path:     path,
		secure:   redirect.Scheme == "https",
		skew:     skew,
		userInfo: !cfg.SkipUserInfo && p.UserInfoEndpoint() != "",
		now:      now,
	}, nil
}

func absoluteURL(field, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errorf(ErrConfig, "%s must be an absolute http(s) URL, not %q", field, raw)
	}
	return u, nil
}

// AuthorizationEndpoint is the provider's authorization URL from its
// discovery document, for the admin.
func (rp *RP) AuthorizationEndpoint() string { return rp.oauth.Endpoint.AuthURL }

// StartOptions adjust one authorization request.
type StartOptions struct {
	// ForceAuthn asks the provider to authenticate the user again
	// (prompt=login), so an admin running a test sign-in can sign in as a
	// test user rather than as themselves.
	ForceAuthn bool
}

// pending is a started sign-in, kept in its cookie.
type pending struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Relay    string `json:"r"`
	Expires  int64  `json:"e"`
}

// Start begins a sign-in: it redirects the browser to the provider's
// authorization endpoint (code flow, PKCE S256, state, nonce) and remembers
// the sign-in in a cookie scoped to the callback. relayState comes back from
// Finish; the caller validates it.
func (rp *RP) Start(w http.ResponseWriter, r *http.Request, relayState string, o StartOptions) error {
	p := pending{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), Relay: relayState,
		Expires: rp.now().Add(signInTTL).Unix()}
	value, err := rp.seal(p)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: cookiePrefix + p.State, Value: value, Path: rp.path, MaxAge: int(signInTTL.Seconds()),
		HttpOnly: true, Secure: rp.secure, SameSite: http.SameSiteLaxMode})
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(p.Verifier), gooidc.Nonce(p.Nonce)}
	if o.ForceAuthn {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0"))
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, rp.oauth.AuthCodeURL(p.State, opts...), http.StatusFound)
	return nil
}

// Finish is the redirect URI's handler: it checks the state against this
// browser's sign-in cookie, exchanges the code (with the PKCE verifier),
// verifies the ID token and returns its claims (with userinfo's) and the
// relay state given to Start. Every refusal is an *Error. The sign-in's
// cookie is spent whatever the outcome.
func (rp *RP) Finish(w http.ResponseWriter, r *http.Request) (claims.Claims, string, error) {
	c, relay, err := rp.finish(w, r)
	if err != nil {
		return claims.Claims{}, "", err
	}
	return c, relay, nil
}

func (rp *RP) finish(w http.ResponseWriter, r *http.Request) (claims.Claims, string, *Error) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" || len(state) > 128 {
		return claims.Claims{}, "", errorf(ErrState, "the callback carries no usable state")
	}
	ck, err := r.Cookie(cookiePrefix + state)
	if err != nil {
		return claims.Claims{}, "", errorf(ErrState, "no sign-in was started in this browser with this state (or it took longer than %s)", signInTTL)
	}
	http.SetCookie(w, &http.Cookie{Name: ck.Name, Value: "", Path: rp.path, MaxAge: -1, HttpOnly: true, Secure: rp.secure, SameSite: http.SameSiteLaxMode})
	p, ok := rp.open(ck.Value)
	if !ok || !hmac.Equal([]byte(p.State), []byte(state)) {
		return claims.Claims{}, "", errorf(ErrState, "the sign-in cookie is not valid for this state")
	}
	if rp.now().Unix() > p.Expires {
		return claims.Claims{}, "", errorf(ErrState, "the sign-in took longer than %s", signInTTL)
	}
	if e := q.Get("error"); e != "" {
		d := q.Get("error_description")
		if len(d) > 300 {
			d = d[:300]
		}
		return claims.Claims{}, "", errorf(ErrProvider, "the provider refused the sign-in: %s %s", truncate(e, 100), d)
	}
	code := q.Get("code")
	if code == "" {
		return claims.Claims{}, "", errorf(ErrMalformed, "the callback carries neither a code nor an error")
	}
	ctx := gooidc.ClientContext(r.Context(), rp.client)
	tok, err := rp.oauth.Exchange(ctx, code, oauth2.VerifierOption(p.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return claims.Claims{}, "", &Error{Code: ErrExchange, Err: err,
				Detail: fmt.Sprintf("the token endpoint refused the code (HTTP %d %s %s)", re.Response.StatusCode, re.ErrorCode, truncate(re.ErrorDescription, 200))}
		}
		return claims.Claims{}, "", wrap(ErrUnavailable, err, "cannot reach the token endpoint")
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return claims.Claims{}, "", errorf(ErrMalformed, "the token response has no id_token (is the openid scope allowed for this client?)")
	}
	c, verr := rp.verify(ctx, rawID, p.Nonce)
	if verr != nil {
		return claims.Claims{}, "", verr
	}
	if rp.userInfo {
		ui, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return claims.Claims{}, "", wrap(ErrUnavailable, err, "cannot read the userinfo endpoint")
		}
		var extra map[string]any
		if err := ui.Claims(&extra); err != nil {
			return claims.Claims{}, "", wrap(ErrMalformed, err, "the userinfo answer is not a JSON object")
		}
		// OpenID Connect Core 5.3.2: a userinfo answer for another subject
		// must not be used.
		if ui.Subject != c.Subject {
			return claims.Claims{}, "", errorf(ErrMalformed, "the userinfo answer is for subject %q, the ID token for %q", truncate(ui.Subject, 100), truncate(c.Subject, 100))
		}
		for k, v := range flatten(extra) {
			if _, ok := c.Attributes[k]; !ok {
				c.Attributes[k] = v
			}
		}
	}
	return c, p.Relay, nil
}

// verify checks the ID token in the order that gives the most useful
// refusal: signature (go-oidc), then issuer, audience, expiry and nonce here,
// so each has its own code.
func (rp *RP) verify(ctx context.Context, rawID, nonce string) (claims.Claims, *Error) {
	v := rp.provider.VerifierContext(ctx, &gooidc.Config{ClientID: rp.clientID, SkipClientIDCheck: true, SkipExpiryCheck: true, SkipIssuerCheck: true, Now: rp.now})
	idt, err := v.Verify(ctx, rawID)
	if err != nil {
		if strings.Contains(err.Error(), "malformed jwt") || strings.Contains(err.Error(), "failed to unmarshal claims") {
			return claims.Claims{}, wrap(ErrMalformed, err, "the ID token cannot be read")
		}
		return claims.Claims{}, wrap(ErrBadSignature, err, "the ID token's signature does not verify with the provider's keys")
	}
	if idt.Issuer != rp.issuer {
		return claims.Claims{}, errorf(ErrIssuer, "the ID token is issued by %q, not by %q", truncate(idt.Issuer, 200), rp.issuer)
	}
	if !slices.Contains(idt.Audience, rp.clientID) {
		return claims.Claims{}, errorf(ErrAudience, "the ID token is for %q, not for client id %q", truncate(strings.Join(idt.Audience, " "), 200), rp.clientID)
	}
	var all map[string]any
	if err := idt.Claims(&all); err != nil {
		return claims.Claims{}, wrap(ErrMalformed, err, "the ID token's claims cannot be read")
	}
	if azp, _ := all["azp"].(string); len(idt.Audience) > 1 && azp != rp.clientID {
		return claims.Claims{}, errorf(ErrAudience, "the ID token has several audiences and its azp is %q, not client id %q", truncate(azp, 200), rp.clientID)
	}
	now := rp.now()
	if idt.Expiry.IsZero() || now.After(idt.Expiry.Add(rp.skew)) {
		return claims.Claims{}, errorf(ErrExpired, "the ID token expired at %s (now %s, %s of clock skew allowed)", stamp(idt.Expiry), stamp(now), rp.skew)
	}
	if !hmac.Equal([]byte(idt.Nonce), []byte(nonce)) {
		return claims.Claims{}, errorf(ErrNonce, "the ID token's nonce is not this sign-in's")
	}
	attrs := flatten(all)
	return claims.Claims{Protocol: "oidc", Issuer: idt.Issuer, Subject: idt.Subject, Attributes: attrs}, nil
}

// flatten turns JSON claims into name → strings: strings as they are,
// numbers and booleans in their JSON form, arrays element by element,
// objects as their JSON text.
func flatten(m map[string]any) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		if vs := values(v); vs != nil {
			out[k] = vs
		}
	}
	return out
}

func values(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case bool:
		return []string{strconv.FormatBool(x)}
	case float64:
		return []string{strconv.FormatFloat(x, 'f', -1, 64)}
	case json.Number:
		return []string{x.String()}
	case []any:
		out := []string{}
		for _, e := range x {
			out = append(out, values(e)...)
		}
		return out
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return nil
		}
		return []string{string(b)}
	}
}

func (rp *RP) mac(b []byte) []byte {
	m := hmac.New(sha256.New, rp.key)
	m.Write(b)
	return m.Sum(nil)
}

// seal is base64url(JSON) "." base64url(MAC).
func (rp *RP) seal(p pending) (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("oidc: encode sign-in cookie: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(rp.mac(b)), nil
}

func (rp *RP) open(v string) (pending, bool) {
	body, sig, ok := strings.Cut(v, ".")
	if !ok {
		return pending{}, false
	}
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	s, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(s, rp.mac(b)) {
		return pending{}, false
	}
	var p pending
	d := json.NewDecoder(bytes.NewReader(b))
	if d.Decode(&p) != nil {
		return pending{}, false
	}
	return p, true
}

func random() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
