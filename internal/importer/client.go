package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// client calls a SonarQube Web API politely: at most a given rate, and
// retrying 429 and 5xx answers (and failed connections) after the server's
// Retry-After or an exponential back-off.
type client struct {
	base    *url.URL
	token   string
	http    *http.Client
	limit   *rate.Limiter
	retries int
	backoff time.Duration // the first back-off; doubled per attempt
	// requests counts the calls made, retries included.
	requests int
}

// maxBackoff bounds one wait, whatever the server or the doubling asks.
const maxBackoff = time.Minute

// apiError is an answer SonarQube refused, with its first message.
type apiError struct {
	Path   string
	Status int
	Msg    string
}

func (e *apiError) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("%s: HTTP %d: %s", e.Path, e.Status, e.Msg)
	}
	return fmt.Sprintf("%s: HTTP %d", e.Path, e.Status)
}

// get calls GET path with the query and decodes the JSON answer into v.
func (c *client) get(ctx context.Context, path string, q url.Values, v any) error {
	u := c.base.JoinPath(path)
	u.RawQuery = q.Encode()
	for attempt := 0; ; attempt++ {
		if err := c.limit.Wait(ctx); err != nil {
			return err
		}
		c.requests++
		wait, err := c.once(ctx, u.String(), path, v)
		if err == nil {
			return nil
		}
		if wait < 0 || attempt >= c.retries {
			return err
		}
		if wait == 0 {
			wait = c.backoff << attempt
		}
		wait = min(wait, maxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// once makes one request. On failure wait says whether to retry: -1 never,
// 0 after the back-off, else after that long (Retry-After).
func (c *client) once(ctx context.Context, u, path string, v any) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return -1, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, fmt.Errorf("%s: read answer: %w", path, err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			return -1, fmt.Errorf("%s: decode answer: %w", path, err)
		}
		return 0, nil
	}
	apiErr := &apiError{Path: path, Status: resp.StatusCode}
	var e struct {
		Errors []struct {
			Msg string `json:"msg"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Errors) > 0 {
		apiErr.Msg = e.Errors[0].Msg
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return retryAfter(resp.Header.Get("Retry-After"), time.Now()), apiErr
	}
	return -1, apiErr
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); 0 when
// absent or unreadable.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return max(time.Duration(s)*time.Second, time.Millisecond)
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), time.Millisecond)
	}
	return 0
}

// isAPIError reports whether err is SonarQube's refusal with status code.
func isAPIError(err error, status int) bool {
	var e *apiError
	return errors.As(err, &e) && e.Status == status
}
