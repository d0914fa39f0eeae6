package oidc_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/sso/claims"
	"github.com/gatehouse-dev/gatehouse/internal/sso/oidc"
	"github.com/gatehouse-dev/gatehouse/internal/sso/oidc/oidctest"
)

// app is Gatehouse's side of a test: /login starts, /callback finishes and
// records the outcome.
type app struct {
	rp     *oidc.RP
	srv    *httptest.Server
	mu     sync.Mutex
	got    claims.Claims
	relay  string
	err    error
	called bool
	force  bool
}

func newApp(t *testing.T, op *oidctest.Provider, mod func(*oidc.Config)) *app {
	t.Helper()
	a := &app{}
	mux := http.NewServeMux()
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	cfg := oidc.Config{Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret, RedirectURL: a.srv.URL + "/callback"}
	if mod != nil {
		mod(&cfg)
	}
	rp, err := oidc.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	a.rp = rp
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		if err := a.rp.Start(w, r, "/projects?x=1", oidc.StartOptions{ForceAuthn: a.force}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		c, relay, err := a.rp.Finish(w, r)
		a.mu.Lock()
		a.got, a.relay, a.err, a.called = c, relay, err, true
		a.mu.Unlock()
	})
	return a
}

func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func (a *app) signIn(t *testing.T, b *http.Client) (claims.Claims, string, error) {
	t.Helper()
	resp, err := b.Get(a.srv.URL + "/login")
	if err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	resp.Body.Close()
	return a.outcome(t)
}

func (a *app) outcome(t *testing.T) (claims.Claims, string, error) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.called {
		t.Fatal("the callback was not reached")
	}
	a.called = false
	return a.got, a.relay, a.err
}

func newOP(t *testing.T) *oidctest.Provider {
	t.Helper()
	op := oidctest.New("gatehouse", "s3cret")
	t.Cleanup(op.Close)
	op.SetUser("00u1", map[string]any{"preferred_username": "ada", "name": "Ada Lovelace", "email": "ada@example.com",
		"email_verified": true, "groups": []any{"dev", "ops"}})
	return op
}

func TestSignIn(t *testing.T) {
	op := newOP(t)
	op.SetUserInfo(map[string]any{"department": "R&D", "name": "Ignored, the ID token says otherwise"})
	a := newApp(t, op, nil)
	a.force = true
	c, relay, err := a.signIn(t, browser(t))
	if err != nil {
		t.Fatalf("sign-in refused: %v", err)
	}
	if relay != "/projects?x=1" {
		t.Errorf("relay state = %q", relay)
	}
	if c.Protocol != "oidc" || c.Issuer != op.Issuer || c.Subject != "00u1" {
		t.Errorf("claims = %+v", c)
	}
	for name, want := range map[string][]string{
		"preferred_username": {"ada"}, "name": {"Ada Lovelace"}, "groups": {"dev", "ops"},
		"email_verified": {"true"}, "department": {"R&D"}, "aud": {"gatehouse"},
	} {
		if got := c.Attributes[name]; !slices.Equal(got, want) {
			t.Errorf("attribute %s = %q, want %q", name, got, want)
		}
	}
	q := op.LastAuthorization()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Errorf("authorization request lacks PKCE, nonce or state: %v", q)
	}
	if q.Get("prompt") != "login" {
		t.Errorf("ForceAuthn: prompt = %q, want login", q.Get("prompt"))
	}
	if !strings.Contains(q.Get("scope"), "openid") || !strings.Contains(q.Get("scope"), "email") {
		t.Errorf("scope = %q", q.Get("scope"))
	}
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		name   string
		op     func(*oidctest.Provider)
		config func(*oidc.Config)
		want   oidc.ErrorCode
		detail string
	}{
		{name: "bad signature", op: func(p *oidctest.Provider) { p.SignWithUnknownKey(true) }, want: oidc.ErrBadSignature},
		{name: "wrong audience", op: func(p *oidctest.Provider) { p.SetMutate(func(c map[string]any) { c["aud"] = "another-app" }) }, want: oidc.ErrAudience, detail: "another-app"},
		{name: "several audiences, azp another", op: func(p *oidctest.Provider) {
			p.SetMutate(func(c map[string]any) { c["aud"] = []string{"gatehouse", "other"}; c["azp"] = "other" })
		}, want: oidc.ErrAudience},
		{name: "wrong issuer", op: func(p *oidctest.Provider) { p.SetMutate(func(c map[string]any) { c["iss"] = "https://evil.example" }) }, want: oidc.ErrIssuer, detail: "evil.example"},
		{name: "expired", op: func(p *oidctest.Provider) {
			p.SetMutate(func(c map[string]any) { c["exp"] = time.Now().Add(-10 * time.Minute).Unix() })
		}, want: oidc.ErrExpired, detail: "expired at"},
		{name: "wrong nonce", op: func(p *oidctest.Provider) { p.SetMutate(func(c map[string]any) { c["nonce"] = "replayed" }) }, want: oidc.ErrNonce},
		{name: "no nonce", op: func(p *oidctest.Provider) { p.SetMutate(func(c map[string]any) { delete(c, "nonce") }) }, want: oidc.ErrNonce},
		{name: "provider refuses", op: func(p *oidctest.Provider) { p.RefuseSignIn(true) }, want: oidc.ErrProvider, detail: "access_denied"},
		{name: "wrong client secret", config: func(c *oidc.Config) { c.ClientSecret = "wrong"; c.CookieKey = []byte("k") }, want: oidc.ErrExchange, detail: "invalid_client"},
		{name: "userinfo for another subject", op: func(p *oidctest.Provider) {
			p.SetMutate(func(c map[string]any) { c["sub"] = "someone-else" })
		}, want: oidc.ErrMalformed, detail: "userinfo"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op := newOP(t)
			if tc.op != nil {
				tc.op(op)
			}
			a := newApp(t, op, tc.config)
			_, _, err := a.signIn(t, browser(t))
			var e *oidc.Error
			if !errors.As(err, &e) || e.Code != tc.want {
				t.Fatalf("err = %v, want code %s", err, tc.want)
			}
			if !strings.Contains(e.Detail, tc.detail) {
				t.Errorf("detail %q does not say %q", e.Detail, tc.detail)
			}
		})
	}
}

// stopAtCallback signs in up to the provider's redirect and returns the
// callback URL it sends the browser to, without following it.
func stopAtCallback(t *testing.T, a *app, b *http.Client) *url.URL {
	t.Helper()
	nb := *b
	nb.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == "/callback" {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err := nb.Get(a.srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, err := resp.Location()
	if err != nil {
		t.Fatalf("no redirect to the callback: %v", err)
	}
	return u
}

func TestStateRefusals(t *testing.T) {
	op := newOP(t)
	cases := []struct {
		name string
		// callback turns the genuine callback URL and browser into what
		// reaches Gatehouse.
		callback func(u *url.URL, b *http.Client) (*url.URL, *http.Client)
	}{
		{name: "another state", callback: func(u *url.URL, b *http.Client) (*url.URL, *http.Client) {
			q := u.Query()
			q.Set("state", "forged")
			u.RawQuery = q.Encode()
			return u, b
		}},
		{name: "no state", callback: func(u *url.URL, b *http.Client) (*url.URL, *http.Client) {
			q := u.Query()
			q.Del("state")
			u.RawQuery = q.Encode()
			return u, b
		}},
		{name: "another browser (no cookie)", callback: func(u *url.URL, _ *http.Client) (*url.URL, *http.Client) {
			return u, browser(t)
		}},
		{name: "tampered cookie", callback: func(u *url.URL, b *http.Client) (*url.URL, *http.Client) {
			for _, c := range b.Jar.Cookies(u) {
				c.Value = "x" + c.Value[1:]
				c.Path = "/callback"
				b.Jar.SetCookies(u, []*http.Cookie{c})
			}
			return u, b
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, op, nil)
			b := browser(t)
			u, b := tc.callback(stopAtCallback(t, a, b), b)
			resp, err := b.Get(u.String())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			_, _, err = a.outcome(t)
			var e *oidc.Error
			if !errors.As(err, &e) || e.Code != oidc.ErrState {
				t.Fatalf("err = %v, want code state", err)
			}
		})
	}

	t.Run("callback replayed", func(t *testing.T) {
		a := newApp(t, op, nil)
		b := browser(t)
		u := stopAtCallback(t, a, b)
		for i, want := range []error{nil, &oidc.Error{Code: oidc.ErrState}} {
			resp, err := b.Get(u.String())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			_, _, err = a.outcome(t)
			var e *oidc.Error
			if want == nil && err != nil || want != nil && (!errors.As(err, &e) || e.Code != oidc.ErrState) {
				t.Fatalf("attempt %d: err = %v, want %v", i+1, err, want)
			}
		}
	})

	t.Run("sign-in took too long", func(t *testing.T) {
		now := time.Now()
		var mu sync.Mutex
		a := newApp(t, op, func(c *oidc.Config) {
			c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		})
		b := browser(t)
		u := stopAtCallback(t, a, b)
		mu.Lock()
		now = now.Add(16 * time.Minute)
		mu.Unlock()
		resp, err := b.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		_, _, err = a.outcome(t)
		var e *oidc.Error
		if !errors.As(err, &e) || e.Code != oidc.ErrState {
			t.Fatalf("err = %v, want code state", err)
		}
	})
}

func TestNewRefusals(t *testing.T) {
	op := newOP(t)
	closed := oidctest.New("x", "y")
	closed.Close()
	cases := []struct {
		name string
		cfg  oidc.Config
		want oidc.ErrorCode
	}{
		{name: "relative issuer", cfg: oidc.Config{Issuer: "/issuer", ClientID: "a", ClientSecret: "b", RedirectURL: "http://127.0.0.1/cb"}, want: oidc.ErrConfig},
		{name: "relative redirect", cfg: oidc.Config{Issuer: op.Issuer, ClientID: "a", ClientSecret: "b", RedirectURL: "/cb"}, want: oidc.ErrConfig},
		{name: "no client id", cfg: oidc.Config{Issuer: op.Issuer, ClientSecret: "b", RedirectURL: "http://127.0.0.1/cb"}, want: oidc.ErrConfig},
		{name: "public client without cookie key", cfg: oidc.Config{Issuer: op.Issuer, ClientID: "a", RedirectURL: "http://127.0.0.1/cb"}, want: oidc.ErrConfig},
		{name: "clock skew too large", cfg: oidc.Config{Issuer: op.Issuer, ClientID: "a", ClientSecret: "b", RedirectURL: "http://127.0.0.1/cb", ClockSkew: time.Hour}, want: oidc.ErrConfig},
		{name: "provider down", cfg: oidc.Config{Issuer: closed.Issuer, ClientID: "a", ClientSecret: "b", RedirectURL: "http://127.0.0.1/cb"}, want: oidc.ErrDiscovery},
		{name: "issuer differs from discovery", cfg: oidc.Config{Issuer: op.Issuer + "/tenant", ClientID: "a", ClientSecret: "b", RedirectURL: "http://127.0.0.1/cb"}, want: oidc.ErrDiscovery},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := oidc.New(context.Background(), tc.cfg)
			var e *oidc.Error
			if !errors.As(err, &e) || e.Code != tc.want {
				t.Fatalf("err = %v, want code %s", err, tc.want)
			}
		})
	}
}
