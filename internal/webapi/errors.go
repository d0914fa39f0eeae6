package webapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// apiError carries an HTTP status and a client-facing message.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, msg string) error { return &apiError{status: status, msg: msg} }

func badRequest(msg string) error { return errorf(http.StatusBadRequest, msg) }

var (
	errUnauthenticated = errorf(http.StatusUnauthorized, "Authentication is required")
	errForbidden       = errorf(http.StatusForbidden, "Insufficient privileges")
)

// statusOf maps an error to its HTTP status: the one place where domain
// error kinds meet HTTP.
func statusOf(err error) int {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae.status
	case errors.Is(err, identity.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, identity.ErrAlreadyExists), errors.Is(err, identity.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, identity.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, identity.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, identity.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, identity.ErrThrottled):
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// retryAfter is the Retry-After of a refusal to retry later: the error's
// own wait in whole seconds, rounded up, and at least one.
func retryAfter(err error) string {
	return strconv.FormatInt(identity.RetrySeconds(identity.RetryAfter(err)), 10)
}

type errorBody struct {
	Errors []errorMsg `json:"errors"`
}

type errorMsg struct {
	Msg string `json:"msg"`
}

// writeError answers with SonarQube's error shape. A 500 never shows its
// cause to the client; the log gets it.
func writeError(w http.ResponseWriter, log *slog.Logger, r *http.Request, requestID string, err error) int {
	status, msg := describeError(w, log, r, requestID, err)
	writeJSON(w, status, errorBody{Errors: []errorMsg{{Msg: msg}}})
	return status
}

// v2ErrorBody is the error shape of SonarQube's v2 API.
type v2ErrorBody struct {
	Message string `json:"message"`
}

// writeV2Error answers with the v2 API's error shape; status and message
// are those of [writeError].
func writeV2Error(w http.ResponseWriter, log *slog.Logger, r *http.Request, requestID string, err error) int {
	status, msg := describeError(w, log, r, requestID, err)
	writeJSON(w, status, v2ErrorBody{Message: msg})
	return status
}

// describeError returns the status and the client-facing message of err,
// logging the cause of a 500 instead of showing it.
func describeError(w http.ResponseWriter, log *slog.Logger, r *http.Request, requestID string, err error) (int, string) {
	status := statusOf(err)
	msg := identity.Message(err)
	var ae *apiError
	if errors.As(err, &ae) {
		msg = ae.msg
	}
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", retryAfter(err))
	} else if status >= 500 {
		log.ErrorContext(r.Context(), "request failed", "request_id", requestID, "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "An error has occurred. Please contact your administrator"
	}
	return status, msg
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Answers are built from plain structs and maps; this cannot happen
		// short of a programming error, which must not become a half answer.
		status, b = http.StatusInternalServerError, []byte(`{"errors":[{"msg":"An error has occurred. Please contact your administrator"}]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
