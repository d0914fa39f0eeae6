// Package reqinfo reads what the server's trusted-proxy middleware
// (internal/server, clientAddr) resolved about a request — the client's
// address and whether it came over TLS — so that every adapter (Web API,
// SCIM, UI) applies the same rule: proxy headers count only from trusted
// proxies, and the middleware has already applied them. Adapters read these
// and never the headers themselves.
package reqinfo

import (
	"net"
	"net/http"
	"net/netip"
)

// ClientAddress is the client's IP address, without the port: the TCP peer,
// or behind a trusted proxy the client the proxy names.
func ClientAddress(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// HTTPS reports whether the request reached the client's side over TLS:
// to this server, or to a trusted proxy that said so (the middleware then
// set r.URL.Scheme to "https").
func HTTPS(r *http.Request) bool {
	return r.TLS != nil || r.URL != nil && r.URL.Scheme == "https"
}
