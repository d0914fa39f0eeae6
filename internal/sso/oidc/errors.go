package oidc

import "fmt"

// ErrorCode says why [RP.Finish] refused a sign-in (or why [New] refused a
// configuration).
type ErrorCode string

// The reasons a sign-in is refused.
const (
	// ErrMalformed: the callback or the provider's answer cannot be read
	// (no code, an ID token that is not a JWT, claims that are not JSON).
	ErrMalformed ErrorCode = "malformed"
	// ErrState: the callback's state is not the one this browser's sign-in
	// was started with, or no sign-in was started (a forged or replayed
	// callback, or one that took longer than the sign-in may).
	ErrState ErrorCode = "state"
	// ErrNonce: the ID token's nonce is not the sign-in's (a replayed or
	// injected ID token).
	ErrNonce ErrorCode = "nonce"
	// ErrBadSignature: the ID token's signature does not verify with the
	// provider's published keys (JWKS).
	ErrBadSignature ErrorCode = "bad_signature"
	// ErrAudience: the ID token is not issued to this client id.
	ErrAudience ErrorCode = "audience"
	// ErrIssuer: the ID token's issuer is not the configured provider.
	ErrIssuer ErrorCode = "issuer"
	// ErrExpired: the ID token has expired (allowing the clock skew).
	ErrExpired ErrorCode = "expired"
	// ErrProvider: the provider answered the authorization request with an
	// error (access_denied, …) instead of a code.
	ErrProvider ErrorCode = "provider"
	// ErrExchange: the token endpoint refused the code (invalid, expired,
	// already used, wrong client secret or PKCE verifier).
	ErrExchange ErrorCode = "exchange"
	// ErrDiscovery: the provider's discovery document cannot be fetched or
	// read, or names another issuer.
	ErrDiscovery ErrorCode = "discovery"
	// ErrConfig: the Config is invalid.
	ErrConfig ErrorCode = "config"
	// ErrUnavailable: the provider could not be reached during the sign-in
	// (token, keys or userinfo endpoint). Retrying may succeed.
	ErrUnavailable ErrorCode = "unavailable"
)

// Error is a refused OpenID Connect sign-in or configuration. Detail
// explains it for an administrator (it never holds a secret or a token);
// Err, when set, is the underlying cause.
type Error struct {
	Code   ErrorCode
	Detail string
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("oidc: %s: %s", e.Code, e.Detail) }

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

func errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

func wrap(code ErrorCode, err error, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...) + ": " + err.Error(), Err: err}
}
