package saml

import "fmt"

// ErrorCode says why [SP.Finish] refused a response (or why [New] refused a
// configuration).
type ErrorCode string

// The reasons a response is refused.
const (
	// ErrMalformed: not a SAML response Gatehouse can read: not a POST form,
	// bad base64, not well-formed XML, a DTD or entity declaration, a missing
	// required element, an unsupported binding or version.
	ErrMalformed ErrorCode = "malformed"
	// ErrTooLarge: the request body or the decoded response exceeds
	// Config.MaxResponseBytes.
	ErrTooLarge ErrorCode = "too_large"
	// ErrBadSignature: a signature is present but does not verify with the
	// IdP's certificates from its metadata (tampered, or signed by another
	// key, for example after an IdP certificate rollover).
	ErrBadSignature ErrorCode = "bad_signature"
	// ErrUnsigned: neither the Response nor the Assertion is signed.
	ErrUnsigned ErrorCode = "unsigned"
	// ErrExpired: the assertion or response is no longer valid (its
	// NotOnOrAfter, allowing the clock skew, has passed, or it was issued too
	// long ago).
	ErrExpired ErrorCode = "expired"
	// ErrNotYetValid: the assertion's NotBefore or IssueInstant is in the
	// future beyond the clock skew; the IdP's and Gatehouse's clocks disagree.
	ErrNotYetValid ErrorCode = "not_yet_valid"
	// ErrReplayed: this assertion was already used to sign in.
	ErrReplayed ErrorCode = "replayed"
	// ErrAudience: the assertion is not restricted to this SP's entity id.
	ErrAudience ErrorCode = "audience"
	// ErrDestination: the Response Destination or the assertion's Recipient is
	// not this SP's ACS URL.
	ErrDestination ErrorCode = "destination"
	// ErrIssuer: the Response or Assertion Issuer is not the IdP's entity id.
	ErrIssuer ErrorCode = "issuer"
	// ErrInResponseTo: the response answers a request this browser did not
	// start (or one that expired).
	ErrInResponseTo ErrorCode = "in_response_to"
	// ErrIdPInitiatedOff: an unsolicited (IdP-initiated) response arrived and
	// Config.AllowIdPInitiated is off.
	ErrIdPInitiatedOff ErrorCode = "idp_initiated_off"
	// ErrStatus: the IdP answered with a status other than Success (the user
	// is not assigned to the application, authentication failed, …).
	ErrStatus ErrorCode = "status"
	// ErrMetadata: the IdP metadata cannot be fetched or read, or lacks what
	// a sign-in needs (an SSO endpoint with the HTTP-Redirect binding, a
	// signing certificate).
	ErrMetadata ErrorCode = "metadata"
	// ErrConfig: the Config is invalid (a missing or relative URL, an
	// unreadable key or certificate, a clock skew out of range).
	ErrConfig ErrorCode = "config"
	// ErrUnavailable: the replay cache could not record the assertion, so it
	// is refused rather than risk accepting it twice. Retrying may succeed.
	ErrUnavailable ErrorCode = "unavailable"
)

// Error is a refused SAML response or configuration. Detail explains it for
// an administrator (it never holds a key or the response itself); Err, when
// set, is the underlying cause.
type Error struct {
	Code   ErrorCode
	Detail string
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("saml: %s: %s", e.Code, e.Detail)
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

func errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}
