package server

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Proxy headers [clientAddr] reads, the values of --proxy-header.
const (
	headerXForwardedFor = "x-forwarded-for"
	headerForwarded     = "forwarded"
)

// parseTrustedProxies parses --trusted-proxies: CIDR prefixes
// (10.0.0.0/8, fd00::/8) or single addresses (192.0.2.7, ::1).
// IPv4-mapped IPv6 prefixes are taken as their IPv4 prefix.
func parseTrustedProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		var p netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			if p, err = netip.ParsePrefix(s); err != nil {
				return nil, fmt.Errorf("trusted proxy %q: want a CIDR prefix such as 10.0.0.0/8 or fd00::/8, or an address", s)
			}
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("trusted proxy %q: want a CIDR prefix such as 10.0.0.0/8 or fd00::/8, or an address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return nil, fmt.Errorf("trusted proxy %q: an IPv4-mapped prefix needs at least 96 bits", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// clientAddr derives each request's client address from the proxy headers,
// but only when the TCP peer is a trusted proxy; from any other peer the
// headers are ignored, so a client cannot choose its own address. It
// rewrites r.RemoteAddr, so that everything that reads the peer address
// (the sign-in limiter, the audit log, the access log) reads the client's.
//
// The client is the rightmost hop of the header that is not itself a
// trusted proxy: each proxy appends the address it received from, so only
// the hops right of the first untrusted one were written by proxies. When
// every hop is trusted, the leftmost is the client. A hop that is not an
// address ("unknown", an obfuscated node, garbage) ends the walk: nothing
// left of it can be believed, and the client is the last trusted hop (or
// the peer itself).
//
// An X-Forwarded-Proto of https (or proto=https in the client's Forwarded
// element) from a trusted proxy marks the request as received over TLS
// (r.URL.Scheme "https"), so session cookies are Secure behind a
// TLS-terminating proxy.
//
// With no trusted proxy h is returned as it is.
func clientAddr(h http.Handler, trusted []netip.Prefix, header string) http.Handler {
	if len(trusted) == 0 {
		return h
	}
	ca := &proxies{nets: trusted, forwarded: header == headerForwarded}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ca.rewrite(r)
		h.ServeHTTP(w, r)
	})
}

type proxies struct {
	nets      []netip.Prefix
	forwarded bool // read Forwarded (RFC 7239) instead of X-Forwarded-For
}

func (p *proxies) trusts(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// rewrite sets r.RemoteAddr (and r.URL.Scheme) from the proxy headers when
// the peer is trusted.
func (p *proxies) rewrite(r *http.Request) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !p.trusts(peer.Addr()) {
		return
	}
	var client netip.AddrPort
	var https bool
	if p.forwarded {
		client, https = p.fromForwarded(r.Header.Values("Forwarded"))
	} else {
		client = p.fromXFF(r.Header.Values("X-Forwarded-For"))
		proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
		https = strings.EqualFold(strings.TrimSpace(proto), "https")
	}
	if client.Addr().IsValid() {
		r.RemoteAddr = client.String()
	}
	if https && r.URL != nil {
		r.URL.Scheme = "https"
	}
}

// fromXFF walks X-Forwarded-For from the right (the last header line's last
// element first) and returns the client, or the zero AddrPort when the
// header names none.
func (p *proxies) fromXFF(lines []string) netip.AddrPort {
	var client netip.AddrPort
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for {
			var elem string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				elem, rest = rest[j+1:], rest[:j]
			} else {
				elem, rest = rest, ""
			}
			hop, ok := parseNode(strings.TrimSpace(elem))
			if !ok {
				return client
			}
			client = hop
			if !p.trusts(hop.Addr()) {
				return client
			}
			if rest == "" {
				break
			}
		}
	}
	return client
}

// fromForwarded walks the for= parameters of Forwarded (RFC 7239) from the
// right, as fromXFF does, and reports whether the client's element says
// proto=https.
func (p *proxies) fromForwarded(lines []string) (client netip.AddrPort, https bool) {
	for i := len(lines) - 1; i >= 0; i-- {
		elems, ok := splitQuoted(lines[i], ',')
		if !ok {
			return client, https
		}
		for j := len(elems) - 1; j >= 0; j-- {
			node, proto, ok := forwardedElement(elems[j])
			if !ok {
				return client, https
			}
			hop, ok := parseNode(node)
			if !ok {
				return client, https
			}
			client, https = hop, strings.EqualFold(proto, "https")
			if !p.trusts(hop.Addr()) {
				return client, https
			}
		}
	}
	return client, https
}

// forwardedElement returns the for= node and the proto= value of one
// Forwarded element ("for=192.0.2.60;proto=http;by=203.0.113.43"),
// unquoted; ok is false when the element is malformed or has no for=.
func forwardedElement(elem string) (node, proto string, ok bool) {
	pairs, ok := splitQuoted(elem, ';')
	if !ok {
		return "", "", false
	}
	found := false
	for _, pair := range pairs {
		k, v, hasEq := strings.Cut(strings.TrimSpace(pair), "=")
		if !hasEq || k == "" {
			return "", "", false
		}
		if v, ok = unquote(v); !ok {
			return "", "", false
		}
		switch strings.ToLower(k) {
		case "for":
			if found {
				return "", "", false // two for= in one element: ambiguous
			}
			node, found = v, true
		case "proto":
			proto = v
		}
	}
	return node, proto, found
}

// splitQuoted splits s at sep outside double-quoted strings; ok is false
// when a quote is left open.
func splitQuoted(s string, sep byte) (parts []string, ok bool) {
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++ // the escaped character
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	if quoted {
		return nil, false
	}
	return append(parts, s[start:]), true
}

// unquote removes the double quotes (and backslash escapes) of a
// quoted-string; a token is returned as it is.
func unquote(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if !strings.HasPrefix(v, `"`) {
		return v, !strings.ContainsAny(v, `"\`)
	}
	if len(v) < 2 || !strings.HasSuffix(v, `"`) {
		return "", false
	}
	v = v[1 : len(v)-1]
	if !strings.Contains(v, `\`) {
		return v, true
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String(), true
}

// parseNode parses a hop: an address, optionally with a port
// ("192.0.2.60", "192.0.2.60:4711", "2001:db8::17", "[2001:db8::17]",
// "[2001:db8::17]:4711"). "unknown", obfuscated nodes ("_hidden") and
// anything else are not addresses.
func parseNode(s string) (netip.AddrPort, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 0), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return netip.AddrPortFrom(a.Unmap(), 0), true
		}
	}
	// RFC 7239 allows an obfuscated port ("192.0.2.60:_abc"): the address
	// still counts.
	if host, port, ok := cutPort(s); ok && strings.HasPrefix(port, "_") {
		return parseNode(host)
	}
	return netip.AddrPort{}, false
}

// cutPort splits "host:port" or "[v6]:port" at the port's colon.
func cutPort(s string) (host, port string, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", false
	}
	host, port = s[:i], s[i+1:]
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return "", "", false
		}
		return host, port, true
	}
	if strings.Contains(host, ":") {
		return "", "", false // a bare IPv6 address has no port
	}
	return host, port, true
}
