package gitlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// Retry bounds. A rate-limit window is a minute on GitLab, so one wait of
// Retry-After normally suffices; the cap keeps a wrong header from stalling
// a run, and the context bounds everything.
const (
	defaultRetries   = 6
	defaultRetryBase = 500 * time.Millisecond
	maxRetryWait     = 2 * time.Minute
)

// client is the GitLab API client of one source or sign-in: the official
// client over a pacing transport that counts requests.
type client struct {
	gl   *gl.Client
	url  string
	pace *pacer
	sem  chan struct{} // bounds requests in flight
}

// clientOptions tune a client; zero values take the defaults.
type clientOptions struct {
	http        *http.Client // base transport (tests: the simulator's)
	timeout     time.Duration
	retries     int
	retryBase   time.Duration
	concurrency int
	oauth       bool // token is an OAuth access token (Bearer)
}

func newClient(baseURL, token string, o clientOptions) (*client, error) {
	if o.retries == 0 {
		o.retries = defaultRetries
	}
	if o.retryBase <= 0 {
		o.retryBase = defaultRetryBase
	}
	if o.concurrency <= 0 {
		o.concurrency = 16
	}
	if o.timeout <= 0 {
		o.timeout = DefaultTimeout
	}
	var next http.RoundTripper
	if o.http != nil && o.http.Transport != nil {
		next = o.http.Transport
	} else {
		// The default keeps two idle connections per host: the others of
		// a concurrent read would be reopened for every request.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = o.concurrency
		next = t
	}
	p := &pacer{next: next, remaining: -1}
	hc := &http.Client{Transport: p, Timeout: o.timeout}
	base := o.retryBase
	opts := []gl.ClientOptionFunc{
		gl.WithBaseURL(baseURL + "/api/v4"),
		gl.WithHTTPClient(hc),
		gl.WithCustomRetry(checkRetry),
		gl.WithCustomRetryMax(max(o.retries, 0)),
		gl.WithCustomBackoff(func(_, _ time.Duration, attempt int, resp *http.Response) time.Duration {
			return backoff(base, attempt, resp)
		}),
		// Pacing is the transport's: the client's own limiter would spread
		// requests at two thirds of the limit for the whole run.
		gl.WithCustomLimiter(noLimit{}),
	}
	var c *gl.Client
	var err error
	if o.oauth {
		c, err = gl.NewAuthSourceClient(gl.OAuthTokenSource{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})}, opts...)
	} else {
		c, err = gl.NewClient(token, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("gitlab client: %w", err)
	}
	return &client{gl: c, url: baseURL, pace: p, sem: make(chan struct{}, o.concurrency)}, nil
}

type noLimit struct{}

func (noLimit) Wait(ctx context.Context) error { return ctx.Err() }

// Requests is the number of HTTP requests sent, retries included.
func (c *client) Requests() int64 { return c.pace.requests.Load() }

// do runs one API call with a slot of the in-flight bound.
func (c *client) do(ctx context.Context, f func(opts ...gl.RequestOptionFunc) (*gl.Response, error)) (*gl.Response, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.sem }()
	return f(gl.WithContext(ctx))
}

// checkRetry retries what can succeed later: 429, 5xx (but 501) and
// transport errors. Every request of the connector only reads (GETs, and
// GraphQL queries without mutations, POSTed), so a repeat cannot duplicate
// anything.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return true, nil
	}
	s := resp.StatusCode
	return s == http.StatusTooManyRequests || s == 0 || (s >= 500 && s != http.StatusNotImplemented), nil
}

// backoff waits what the server asks for (Retry-After in seconds or as a
// date, else RateLimit-Reset on a 429), else doubles from base with jitter;
// never more than maxRetryWait.
func backoff(base time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if d, ok := retryAfter(resp.Header, time.Now()); ok {
			return min(d, maxRetryWait)
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			if reset, err := strconv.ParseInt(resp.Header.Get("RateLimit-Reset"), 10, 64); err == nil {
				if d := time.Until(time.Unix(reset, 0)); d > 0 {
					return min(d, maxRetryWait)
				}
			}
		}
	}
	d := base << min(attempt, 8)
	d += time.Duration(rand.Int64N(int64(d/4) + 1))
	return min(d, maxRetryWait)
}

func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// pacer is the transport under the client: it counts requests and, from
// GitLab's RateLimit-Remaining and RateLimit-Reset headers, holds requests
// back once the window's budget is spent, until the window resets, so that a
// run waits out a rate limit instead of collecting 429s.
type pacer struct {
	next     http.RoundTripper
	requests atomic.Int64

	mu        sync.Mutex
	remaining int // -1: unknown
	reset     time.Time
}

func (p *pacer) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := p.wait(req.Context()); err != nil {
		return nil, err
	}
	p.requests.Add(1)
	resp, err := p.next.RoundTrip(req)
	if err == nil {
		p.observe(resp)
	}
	return resp, err
}

func (p *pacer) wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		now := time.Now()
		if !now.Before(p.reset) {
			p.remaining = -1
		}
		if p.remaining != 0 {
			if p.remaining > 0 {
				p.remaining--
			}
			p.mu.Unlock()
			return nil
		}
		d := min(p.reset.Sub(now), maxRetryWait)
		p.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

func (p *pacer) observe(resp *http.Response) {
	h := resp.Header
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if resp.StatusCode == http.StatusTooManyRequests {
		if d, ok := retryAfter(h, now); ok {
			p.remaining = 0
			p.reset = later(p.reset, now.Add(min(d, maxRetryWait)))
			return
		}
	}
	rem, err1 := strconv.Atoi(h.Get("RateLimit-Remaining"))
	reset, err2 := strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64)
	if err1 != nil || err2 != nil {
		return
	}
	rt := time.Unix(reset, 0)
	switch {
	case rt.After(p.reset):
		p.reset, p.remaining = rt, rem
	case rt.Equal(p.reset) && (p.remaining < 0 || rem < p.remaining):
		p.remaining = rem
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// describe turns an API failure into an error that says what went wrong in
// an administrator's terms: the token (401, 403 insufficient_scope), the
// group or project that is missing, GitLab unavailable, or the timeout.
// what names the request ("list members of group acme/backend").
func describe(what string, err error) error {
	var er *gl.ErrorResponse
	switch {
	case errors.As(err, &er):
		switch {
		case er.StatusCode == http.StatusUnauthorized:
			return identity.Errorf(identity.ErrInvalid, "GitLab refused the token (401 Unauthorized) to %s: the token is wrong, expired or revoked", what)
		case er.StatusCode == http.StatusForbidden && bytes.Contains(er.Body, []byte("insufficient_scope")):
			return identity.Errorf(identity.ErrInvalid, "the token lacks the read_api scope: GitLab answered 403 insufficient_scope to %s", what)
		case er.StatusCode == http.StatusForbidden:
			return identity.Errorf(identity.ErrInvalid, "GitLab refused the token access (403 Forbidden) to %s", what)
		case er.StatusCode == http.StatusNotFound:
			return identity.Errorf(identity.ErrNotFound, "GitLab answered 404 Not Found to %s: it does not exist or the token cannot see it", what)
		case er.StatusCode == http.StatusTooManyRequests:
			return identity.Errorf(identity.ErrUnavailable, "GitLab kept rate-limiting (429 Too Many Requests) to %s after the retries", what)
		case er.StatusCode >= 500:
			return identity.Errorf(identity.ErrUnavailable, "GitLab failed (%d %s) to %s, also on retry", er.StatusCode, http.StatusText(er.StatusCode), what)
		}
		return identity.Errorf(identity.ErrUnavailable, "GitLab answered %d %s to %s", er.StatusCode, http.StatusText(er.StatusCode), what)
	case errors.Is(err, context.DeadlineExceeded):
		return identity.Errorf(identity.ErrUnavailable, "timed out waiting for GitLab to %s", what)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", what, err)
	}
	var ue interface{ Timeout() bool }
	if errors.As(err, &ue) && ue.Timeout() {
		return identity.Errorf(identity.ErrUnavailable, "GitLab did not answer in time to %s", what)
	}
	return identity.Errorf(identity.ErrUnavailable, "GitLab cannot be reached to %s: %s", what, rootCause(err))
}

// rootCause is the innermost error's text: the transport's reason without
// the request URL the wrappers repeat.
func rootCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}
