package identity

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Error kinds. Every error that leaves the domain wraps exactly one of these
// with %w, so that each API style maps them to a status code in one place.
var (
	ErrNotFound        = errors.New("not found")
	ErrAlreadyExists   = errors.New("already exists")
	ErrInvalid         = errors.New("invalid argument")
	ErrForbidden       = errors.New("insufficient privileges")
	ErrUnauthenticated = errors.New("authentication is required")
	// ErrUnavailable marks a request refused because the server is busy;
	// the client should retry shortly.
	ErrUnavailable = errors.New("temporarily unavailable")
	// ErrStoreUnavailable marks a request that needs the store while the
	// store cannot be reached (down, restarting, out of connections). It is
	// also an ErrUnavailable (503 with Retry-After).
	ErrStoreUnavailable = fmt.Errorf("%w: store", ErrUnavailable)
	// ErrThrottled marks a request refused because its caller tried too
	// often (failed sign-ins); the error's RetryAfter says when to retry.
	ErrThrottled = errors.New("too many attempts")
	// ErrManaged marks an edit refused because the object is owned by an
	// external identity source (SPEC §6). It is also an ErrInvalid (400).
	ErrManaged = fmt.Errorf("%w: externally managed", ErrInvalid)
)

// Error is a domain error with a message meant for the API client. Kind is one
// of the sentinel errors above; errors.Is(err, Kind) holds.
type Error struct {
	Kind error
	Msg  string
	// Retry, when positive, is how long the client should wait before
	// trying again (ErrThrottled, ErrUnavailable): the Retry-After header.
	Retry time.Duration
}

func (e *Error) Error() string { return e.Msg }

// Unwrap lets errors.Is find the kind.
func (e *Error) Unwrap() error { return e.Kind }

// Errorf builds an *Error of the given kind with a client-facing message.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// RetryAfter returns how long the client of err should wait before trying
// again: the Retry of the outermost *Error in its chain that has one, or 0.
func RetryAfter(err error) time.Duration {
	for err != nil {
		var de *Error
		if !errors.As(err, &de) {
			return 0
		}
		if de.Retry > 0 {
			return de.Retry
		}
		err = de.Kind
	}
	return 0
}

// RetrySeconds is a wait as a Retry-After value: whole seconds, rounded
// up, and at least one (a zero would invite an immediate retry).
func RetrySeconds(d time.Duration) int64 {
	return max(int64((d+time.Second-1)/time.Second), 1)
}

// Message returns the client-facing message of err: the message of the
// outermost *Error in its chain, or a generic text for the kind. Causes that
// are not domain errors never reach the client.
func Message(err error) string {
	var de *Error
	if errors.As(err, &de) {
		return de.Msg
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return "Not found"
	case errors.Is(err, ErrAlreadyExists):
		return "Already exists"
	case errors.Is(err, ErrUnauthenticated):
		return "Authentication is required"
	case errors.Is(err, ErrForbidden):
		return "Insufficient privileges"
	case errors.Is(err, ErrInvalid):
		return "Invalid request"
	case errors.Is(err, ErrThrottled):
		return "Too many attempts. Please try again later."
	case errors.Is(err, ErrUnavailable):
		return "Temporarily unavailable. Please try again in a moment."
	}
	return "An error has occurred. Please contact your administrator"
}

// ManagedError refuses a local edit of an object that src owns (SPEC §6):
// SonarQube's text msg, followed by the source's name and where the change
// belongs, so an administrator knows at once which system to go to.
func ManagedError(src Source, msg string) error {
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return Errorf(ErrManaged, "%s It is managed by %s (source %s); change it in %s.", msg, src.Title(), src, src.home())
}
