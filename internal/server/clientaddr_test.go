package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	cases := []struct {
		in   []string
		want string // prefixes joined by spaces; "" with err
		err  string
	}{
		{in: nil, want: ""},
		{in: []string{"10.0.0.0/8", "fd00::/8"}, want: "10.0.0.0/8 fd00::/8"},
		{in: []string{"192.0.2.7", "::1"}, want: "192.0.2.7/32 ::1/128"},
		{in: []string{"10.1.2.3/8"}, want: "10.0.0.0/8"},
		{in: []string{"::ffff:10.0.0.0/104"}, want: "10.0.0.0/8"},
		{in: []string{"::ffff:10.0.0.0/64"}, err: "at least 96 bits"},
		{in: []string{"10.0.0.0/33"}, err: `trusted proxy "10.0.0.0/33"`},
		{in: []string{"proxy.internal"}, err: `trusted proxy "proxy.internal": want a CIDR prefix`},
		{in: []string{"fe80::1%eth0"}, err: "want a CIDR prefix"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.in, ","), func(t *testing.T) {
			got, err := parseTrustedProxies(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if strings.Join(s, " ") != tc.want {
				t.Fatalf("got %v, want %s", s, tc.want)
			}
		})
	}
}

func TestClientAddr(t *testing.T) {
	trusted, err := parseTrustedProxies([]string{"10.0.0.0/8", "2001:db8:1::/48", "192.0.2.7", "fe80::/10"})
	if err != nil {
		t.Fatal(err)
	}
	const proxy = "10.0.0.1:40000"
	cases := []struct {
		name    string
		header  string // proxy-header; x-forwarded-for when empty
		peer    string
		headers [][2]string // in order; a repeated name is a second line
		want    string      // RemoteAddr seen by the handler
		https   bool
	}{
		// Untrusted peers: every header is ignored.
		{name: "untrusted peer spoofs XFF", peer: "203.0.113.9:5555", headers: [][2]string{{"X-Forwarded-For", "198.51.100.4"}}, want: "203.0.113.9:5555"},
		{name: "untrusted peer spoofs a trusted address", peer: "203.0.113.9:5555", headers: [][2]string{{"X-Forwarded-For", "10.0.0.2"}}, want: "203.0.113.9:5555"},
		{name: "untrusted peer spoofs Forwarded", header: "forwarded", peer: "203.0.113.9:5555", headers: [][2]string{{"Forwarded", "for=198.51.100.4;proto=https"}}, want: "203.0.113.9:5555"},
		{name: "untrusted peer spoofs X-Forwarded-Proto", peer: "203.0.113.9:5555", headers: [][2]string{{"X-Forwarded-Proto", "https"}}, want: "203.0.113.9:5555"},
		{name: "untrusted IPv6 peer", peer: "[2001:db8:2::1]:443", headers: [][2]string{{"X-Forwarded-For", "198.51.100.4"}}, want: "[2001:db8:2::1]:443"},
		{name: "unparsable peer", peer: "@pipe", headers: [][2]string{{"X-Forwarded-For", "198.51.100.4"}}, want: "@pipe"},

		// X-Forwarded-For from a trusted proxy.
		{name: "no header", peer: proxy, want: proxy},
		{name: "one hop", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "198.51.100.4"}}, want: "198.51.100.4:0"},
		{name: "chain of proxies", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "198.51.100.4, 10.0.0.2,10.0.0.3"}}, want: "198.51.100.4:0"},
		{name: "client-sent hops left of the real one", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "6.6.6.6, 198.51.100.4, 10.0.0.2"}}, want: "198.51.100.4:0"},
		{name: "client-sent trusted address left of the real one", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "10.9.9.9, 198.51.100.4"}}, want: "198.51.100.4:0"},
		{name: "every hop trusted: the leftmost", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "10.0.0.5, 10.0.0.6"}}, want: "10.0.0.5:0"},
		{name: "several header lines", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "6.6.6.6"}, {"X-Forwarded-For", "198.51.100.4, 10.0.0.2"}}, want: "198.51.100.4:0"},
		{name: "several lines, all trusted after the first", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "198.51.100.4"}, {"X-Forwarded-For", "10.0.0.2"}}, want: "198.51.100.4:0"},
		{name: "with a port", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "198.51.100.4:1234"}}, want: "198.51.100.4:1234"},
		{name: "trusted single address", peer: "192.0.2.7:80", headers: [][2]string{{"X-Forwarded-For", "198.51.100.4"}}, want: "198.51.100.4:0"},
		{name: "neighbour of a single address is not trusted", peer: "192.0.2.8:80", headers: [][2]string{{"X-Forwarded-For", "198.51.100.4"}}, want: "192.0.2.8:80"},

		// Malformed headers: nothing left of a bad hop is believed.
		{name: "rightmost hop garbage", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "198.51.100.4, not-an-ip"}}, want: proxy},
		{name: "garbage in the middle", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "6.6.6.6, bogus, 10.0.0.2"}}, want: "10.0.0.2:0"},
		{name: "empty element", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "198.51.100.4,,10.0.0.2"}}, want: "10.0.0.2:0"},
		{name: "unknown", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "unknown"}}, want: proxy},
		{name: "empty header", peer: proxy, headers: [][2]string{{"X-Forwarded-For", ""}}, want: proxy},
		{name: "bracketed IPv4", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "[198.51.100.4]"}}, want: proxy},
		{name: "address with a zone of garbage", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "198.51.100.4%x"}}, want: proxy},

		// IPv6.
		{name: "IPv6 proxy and client", peer: "[2001:db8:1::5]:443", headers: [][2]string{{"X-Forwarded-For", "2001:db8:ffff::9"}}, want: "[2001:db8:ffff::9]:0"},
		{name: "IPv6 client bracketed with a port", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "[2001:db8:ffff::9]:8443"}}, want: "[2001:db8:ffff::9]:8443"},
		{name: "IPv6 client bracketed", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "[2001:db8:ffff::9]"}}, want: "[2001:db8:ffff::9]:0"},
		{name: "IPv6 chain", peer: "[2001:db8:1::5]:443", headers: [][2]string{{"X-Forwarded-For", "2001:db8:ffff::9, 2001:db8:1::7"}}, want: "[2001:db8:ffff::9]:0"},
		{name: "IPv4-mapped peer", peer: "[::ffff:10.0.0.1]:80", headers: [][2]string{{"X-Forwarded-For", "198.51.100.4"}}, want: "198.51.100.4:0"},
		{name: "IPv4-mapped client", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "::ffff:198.51.100.4"}}, want: "198.51.100.4:0"},
		{name: "IPv4-mapped hop is trusted as IPv4", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "198.51.100.4, ::ffff:10.0.0.2"}}, want: "198.51.100.4:0"},
		{name: "link-local peer with a zone", peer: "[fe80::1%eth0]:80", headers: [][2]string{{"X-Forwarded-For", "198.51.100.4"}}, want: "198.51.100.4:0"},

		// X-Forwarded-Proto.
		{name: "proto https", peer: proxy, headers: [][2]string{{"X-Forwarded-Proto", "https"}}, want: proxy, https: true},
		{name: "proto HTTPS, then http appended", peer: proxy, headers: [][2]string{{"X-Forwarded-Proto", "HTTPS, http"}}, want: proxy, https: true},
		{name: "proto http", peer: proxy, headers: [][2]string{{"X-Forwarded-Proto", "http"}}, want: proxy},
		{name: "XFF mode ignores Forwarded", peer: proxy, headers: [][2]string{{"Forwarded", "for=198.51.100.4;proto=https"}}, want: proxy},

		// Forwarded (RFC 7239).
		{name: "forwarded one hop", header: "forwarded", peer: proxy, headers: [][2]string{{"Forwarded", "for=198.51.100.4;proto=https;by=10.0.0.1"}}, want: "198.51.100.4:0", https: true},
		{name: "forwarded chain", header: "forwarded", peer: proxy, headers: [][2]string{{"Forwarded", "for=6.6.6.6;proto=https, for=198.51.100.4;proto=http, for=10.0.0.2;proto=https"}}, want: "198.51.100.4:0"},
		{name: "forwarded chain, client over TLS", header: "forwarded", peer: proxy, headers: [][2]string{{"Forwarded", "for=198.51.100.4;proto=https, for=10.0.0.2;proto=http"}}, want: "198.51.100.4:0", https: true},
		{name: "forwarded several lines", header: "forwarded", peer: proxy, headers: [][2]string{{"Forwarded", "for=6.6.6.6"}, {"Forwarded", "for=198.51.100.4"}}, want: "198.51.100.4:0"},
		{name: "forwarded quoted IPv6 with port", header: "forwarded", peer: proxy, headers: [][2]string{{"Forwarded", `for="[2001:db8:cafe::17]:4711"`}}, want: "[2001:db8:cafe::17]:4711"},
		{name: "forwarded quoted IPv6", header: "forwarded", peer: proxy, headers: [][2]string{{"Forwarded", `For="[2001:db8:cafe::17]"`}}, want: "[2001:db8:cafe::17]:0"},
		{name: "forwarded obfuscated port", header: "forwarded", peer: proxy, headers: [][2]string{{"Forwarded", `for="198.51.100.4:_p1"`}}, want: "198.51.100.4:0"},
		{name: "forwarded quoted comma and escape", header: "forwarded", peer: proxy, headers: [][2]string{{"Forwarded", `for=198.51.100.4;by="x,\"y;z"`}}, want: "198.51.100.4:0"},
		{name: "forwarded obfuscated node", header: "forwarded", peer: proxy, headers: [][2]string{{"Forwarded", "for=_hidden, for=10.0.0.2"}}, want: "10.0.0.2:0"},
		{name: "forwarded unknown", header: "forwarded", peer: proxy, headers: [][2]string{{"Forwarded", "for=unknown"}}, want: proxy},
		{name: "forwarded open quote", header: "forwarded", peer: proxy, headers: [][2]string{{"Forwarded", `for="198.51.100.4`}}, want: proxy},
		{name: "forwarded element without for", header: "forwarded", peer: proxy, headers: [][2]string{{"Forwarded", "proto=https;by=10.0.0.1"}}, want: proxy},
		{name: "forwarded two for in one element", header: "forwarded", peer: proxy, headers: [][2]string{{"Forwarded", "for=198.51.100.4;for=6.6.6.6"}}, want: proxy},
		{name: "forwarded pair without value", header: "forwarded", peer: proxy, headers: [][2]string{{"Forwarded", "for"}}, want: proxy},
		{name: "forwarded stray quote in a token", header: "forwarded", peer: proxy, headers: [][2]string{{"Forwarded", `for=198.51".100.4`}}, want: proxy},
		{name: "forwarded bare IPv6 tolerated", header: "forwarded", peer: proxy, headers: [][2]string{{"Forwarded", "for=2001:db8:cafe::17"}}, want: "[2001:db8:cafe::17]:0"},
		{name: "forwarded mode ignores XFF and X-Forwarded-Proto", header: "forwarded", peer: proxy, headers: [][2]string{{"X-Forwarded-For", "198.51.100.4"}, {"X-Forwarded-Proto", "https"}}, want: proxy},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			header := tc.header
			if header == "" {
				header = headerXForwardedFor
			}
			var got *http.Request
			h := clientAddr(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r }), trusted, header)
			r := httptest.NewRequest("GET", "/api/authz/check", nil)
			r.RemoteAddr = tc.peer
			for _, kv := range tc.headers {
				r.Header.Add(kv[0], kv[1])
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got.RemoteAddr != tc.want {
				t.Errorf("RemoteAddr = %q, want %q", got.RemoteAddr, tc.want)
			}
			if (got.URL.Scheme == "https") != tc.https {
				t.Errorf("scheme %q, want https: %v", got.URL.Scheme, tc.https)
			}
		})
	}
}

// TestClientAddrNoProxies: without trusted proxies the headers are never
// read.
func TestClientAddrNoProxies(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:1"
	r.Header.Set("X-Forwarded-For", "198.51.100.4")
	var seen string
	clientAddr(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr }), nil, headerXForwardedFor).ServeHTTP(httptest.NewRecorder(), r)
	if seen != "10.0.0.1:1" {
		t.Fatalf("RemoteAddr = %q without trusted proxies", seen)
	}
}

// FuzzClientAddr: whatever the headers, the handler sees either the peer
// or a valid address, and an untrusted peer's address never changes.
func FuzzClientAddr(f *testing.F) {
	trusted, err := parseTrustedProxies([]string{"10.0.0.0/8", "2001:db8:1::/48"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("10.0.0.1:1", "198.51.100.4, 10.0.0.2", `for="[2001:db8::1]:80";proto=https, for=10.0.0.2`, false)
	f.Add("203.0.113.9:5", "6.6.6.6", "for=6.6.6.6", true)
	f.Add("[2001:db8:1::1]:1", "[::1]:_x,,", `for="\"`, true)
	f.Fuzz(func(t *testing.T, peer, xff, fwd string, forwarded bool) {
		header := headerXForwardedFor
		if forwarded {
			header = headerForwarded
		}
		var seen string
		h := clientAddr(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr }), trusted, header)
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("Forwarded", fwd)
		h.ServeHTTP(httptest.NewRecorder(), r)
		if seen == peer {
			return
		}
		p, err := netip.ParseAddrPort(peer)
		if err != nil || !(&proxies{nets: trusted}).trusts(p.Addr()) {
			t.Fatalf("untrusted peer %q became %q", peer, seen)
		}
		if _, err := netip.ParseAddrPort(seen); err != nil {
			t.Fatalf("peer %q became %q, not an address: %v", peer, seen, err)
		}
	})
}

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTrustedProxiesEndToEnd runs a server behind a "proxy" on loopback:
// with 127.0.0.1 trusted, the sign-in limiter counts failures per
// forwarded client and the access log names it; without it, a forwarded
// header changes nothing (every failure is the peer's, whatever address
// the header claims). X-Forwarded-Proto: https makes session cookies
// Secure only from the trusted proxy.
func TestTrustedProxiesEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []string
	}{
		{"trusted", []string{"127.0.0.1/32", "::1"}},
		{"untrusted", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.AdminPassword = "admin-password-for-tests-1"
			cfg.TrustedProxies = tc.trusted
			var logs lockedBuffer
			srv, err := New(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)), io.Discard, "test")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- srv.Run(ctx) }()
			defer func() { cancel(); <-done }()
			signIn := func(user, pw, client string) *http.Response {
				t.Helper()
				req, _ := http.NewRequest("POST", "http://"+srv.Addr()+"/api/authentication/login",
					strings.NewReader(url.Values{"login": {user}, "password": {pw}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Forwarded-For", client)
				req.Header.Set("X-Forwarded-Proto", "https")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp
			}
			login := func(user, client string) int { return signIn(user, "wrong", client).StatusCode }

			// X-Forwarded-Proto: https counts as TLS only from a trusted proxy.
			resp := signIn("admin", cfg.AdminPassword, "198.51.100.9")
			if resp.StatusCode != 200 || len(resp.Cookies()) == 0 {
				t.Fatalf("sign-in: %d, cookies %v", resp.StatusCode, resp.Cookies())
			}
			for _, c := range resp.Cookies() {
				if c.Secure != (tc.trusted != nil) {
					t.Errorf("cookie %s Secure = %v", c.Name, c.Secure)
				}
			}
			for i := range 50 { // the limiter's failures per address
				client := "198.51.100.4"
				if tc.trusted == nil {
					// An untrusted client cannot escape the limit by
					// naming a new address each time.
					client = fmt.Sprintf("203.0.113.%d", i)
				}
				if got := login(fmt.Sprintf("user%d", i), client); got != 401 {
					t.Fatalf("failure %d: %d", i, got)
				}
			}
			if got := login("someone", "198.51.100.4"); got != 429 {
				t.Fatalf("51st failure from 198.51.100.4: %d, want 429", got)
			}
			other := login("someone", "198.51.100.5")
			if tc.trusted != nil && other != 401 || tc.trusted == nil && other != 429 {
				t.Fatalf("from another forwarded client: %d", other)
			}
			want, not := "client=198.51.100.4", "client=127.0.0.1"
			if tc.trusted == nil && strings.Contains(logs.String(), "client=203.0.113.") {
				t.Fatal("an untrusted peer's X-Forwarded-For reached the access log")
			}
			if tc.trusted == nil {
				want, not = not, want
			}
			if !strings.Contains(logs.String(), want) || strings.Contains(logs.String(), not) {
				t.Fatalf("access log should name %s, never %s:\n%s", want, not, logs.String())
			}
		})
	}
}

// TestMetricsTokenServer: GATEHOUSE_METRICS_TOKEN reaches the server's
// /metrics, which reports the store's pools and latency.
func TestMetricsTokenServer(t *testing.T) {
	cfg := testConfig(t)
	cfg.AdminPassword = "admin-password-for-tests-1"
	cfg.MetricsToken = "scrape-secret-1"
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, tc := range []struct {
		auth   string
		status int
	}{{"", 401}, {"Bearer nope", 401}, {"Bearer scrape-secret-1", 200}} {
		req, _ := http.NewRequest("GET", "http://"+srv.Addr()+"/metrics", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("Authorization %q: %d, want %d", tc.auth, resp.StatusCode, tc.status)
		}
		if tc.status == 200 && !strings.Contains(string(body), `gatehouse_store_pool_max_open_connections{pool="write"} 1`) {
			t.Errorf("no store pool metrics:\n%.2000s", body)
		}
		if tc.status == 200 {
			// Bootstrap and start-up wrote and read: the store timed it.
			for _, op := range []string{"read", "write", "tx", "snapshot"} {
				series := `gatehouse_store_query_duration_seconds_count{op="` + op + `"} `
				if !strings.Contains(string(body), series) || strings.Contains(string(body), series+"0\n") {
					t.Errorf("no store latency for %s:\n%.2000s", op, body)
				}
			}
		}
	}
}
