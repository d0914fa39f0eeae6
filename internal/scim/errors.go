package scim

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// SCIM error types (RFC 7644 §3.12).
const (
	typeInvalidFilter = "invalidFilter"
	typeTooMany       = "tooMany"
	typeUniqueness    = "uniqueness"
	typeMutability    = "mutability"
	typeInvalidSyntax = "invalidSyntax"
	typeInvalidPath   = "invalidPath"
	typeNoTarget      = "noTarget"
	typeInvalidValue  = "invalidValue"
	typeInvalidVers   = "invalidVers"
)

// Error is a SCIM error answer.
type Error struct {
	Status   int
	ScimType string
	Detail   string
	// Retry is the Retry-After of a 503 or 429: how long to wait.
	Retry time.Duration
}

func (e *Error) Error() string { return e.Detail }

func errf(status int, scimType, format string, args ...any) *Error {
	return &Error{Status: status, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

func badSyntax(format string, args ...any) *Error {
	return errf(http.StatusBadRequest, typeInvalidSyntax, format, args...)
}

func badValue(format string, args ...any) *Error {
	return errf(http.StatusBadRequest, typeInvalidValue, format, args...)
}

func badFilter(format string, args ...any) *Error {
	return errf(http.StatusBadRequest, typeInvalidFilter, format, args...)
}

func badPath(format string, args ...any) *Error {
	return errf(http.StatusBadRequest, typeInvalidPath, format, args...)
}

func notFound(format string, args ...any) *Error {
	return errf(http.StatusNotFound, "", format, args...)
}

// toError maps a domain error to its SCIM answer: the one place where
// error kinds meet SCIM statuses.
func toError(err error) *Error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	msg := identity.Message(err)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return notFound("%s", msg)
	case errors.Is(err, identity.ErrAlreadyExists):
		return errf(http.StatusConflict, typeUniqueness, "%s", msg)
	case errors.Is(err, identity.ErrManaged):
		return errf(http.StatusBadRequest, typeMutability, "%s", msg)
	case errors.Is(err, identity.ErrInvalid):
		return badValue("%s", msg)
	case errors.Is(err, identity.ErrUnauthenticated):
		return errf(http.StatusUnauthorized, "", "%s", msg)
	case errors.Is(err, identity.ErrForbidden):
		return errf(http.StatusForbidden, "", "%s", msg)
	case errors.Is(err, identity.ErrUnavailable):
		e := errf(http.StatusServiceUnavailable, "", "%s", msg)
		e.Retry = identity.RetryAfter(err)
		return e
	case errors.Is(err, identity.ErrThrottled):
		e := errf(http.StatusTooManyRequests, "", "%s", msg)
		e.Retry = identity.RetryAfter(err)
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Detail: "An internal error occurred"}
}
