package gitlabsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
)

// maxBody bounds a request body (GraphQL queries, OAuth token requests).
const maxBody = 1 << 20

// Options tune the simulator's behaviour beyond its data.
type Options struct {
	// Latency is added to every request before it is answered.
	Latency time.Duration
	// RateLimit is the number of requests a token may make per RateWindow
	// (0: unlimited). Windows are fixed and aligned on the Unix epoch, as
	// GitLab's Rack::Attack throttles are.
	RateLimit  int
	RateWindow time.Duration // default one minute
	// HangFor bounds how long a Hang fault holds a request (default one
	// minute); the request also ends when the client gives up.
	HangFor time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// GraphQLComplexity is the most complex GraphQL query answered
	// (default MaxQueryComplexity, GitLab's for an authenticated caller).
	GraphQLComplexity int
}

// Fault makes matching requests fail. Faults are checked in the order they
// were injected; the first that matches answers.
type Fault struct {
	// Path matches requests whose URL path contains it ("" matches all).
	Path string
	// Page matches only that page of a listing (0: any page).
	Page int
	// Status is the status answered (e.g. 500, 502, 429).
	Status int
	// Hang holds the request without answering (a timeout for the client).
	Hang bool
	// Times is how many requests the fault hits before it clears itself
	// (0: until cleared).
	Times int
	// Skip lets that many matching requests through before the fault hits
	// (a GraphQL listing's later page: its requests are all one path).
	Skip int
	// Body matches only requests whose body contains it, as sent (a
	// GraphQL query's field, e.g. "projects(": the query is JSON-encoded).
	Body string
}

type fault struct {
	Fault
	left, skip int
}

// Stats are request counters since the server started or was reset.
type Stats struct {
	Requests    int64 // every API and OAuth request, answered or not
	RateLimited int64 // answered 429 by the rate limiter
	Faulted     int64 // answered (or held) by an injected fault
}

// Server is a simulated GitLab instance. It is an http.Handler; serve it with
// httptest.NewServer in tests or net/http in the demo command.
type Server struct {
	opts Options
	mux  *http.ServeMux
	gql  *graphql.Schema

	mu  sync.RWMutex
	fix *Fixture
	ix  *index

	fmu    sync.Mutex
	faults []*fault

	rmu     sync.Mutex
	windows map[string]*window

	omu         sync.Mutex
	codes       map[string]oauthGrant
	oauthTokens map[string]oauthGrant
	signedIn    string

	requests, rateLimited, faulted atomic.Int64
}

type window struct {
	start time.Time
	count int
}

type oauthGrant struct {
	user, client, redirect, scope string
}

// New returns a simulator serving fix (which it copies).
func New(fix *Fixture, opts Options) (*Server, error) {
	if opts.RateWindow <= 0 {
		opts.RateWindow = time.Minute
	}
	if opts.HangFor <= 0 {
		opts.HangFor = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.GraphQLComplexity <= 0 {
		opts.GraphQLComplexity = MaxQueryComplexity
	}
	s := &Server{opts: opts, windows: map[string]*window{}, codes: map[string]oauthGrant{}, oauthTokens: map[string]oauthGrant{}}
	if err := s.Update(func(f *Fixture) { *f = *fix.Clone() }); err != nil {
		return nil, err
	}
	s.routes()
	s.gql = s.graphQLSchema()
	return s, nil
}

// Update changes the simulated data (add or remove a member, rename a group,
// …) under the server's lock; the change is visible to the next request. An
// update that leaves the data inconsistent is refused and changes nothing.
func (s *Server) Update(change func(f *Fixture)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := &Fixture{}
	if s.fix != nil {
		next = s.fix.Clone()
	}
	change(next)
	ix, err := buildIndex(next)
	if err != nil {
		return err
	}
	s.fix, s.ix = next, ix
	return nil
}

// Fixture returns a copy of the current data.
func (s *Server) Fixture() *Fixture {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.fix.Clone()
}

// Inject adds a fault.
func (s *Server) Inject(f Fault) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults = append(s.faults, &fault{Fault: f, left: f.Times, skip: f.Skip})
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults = nil
}

// SetRateLimit changes the rate limit (0: unlimited) and starts new windows.
func (s *Server) SetRateLimit(limit int) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.opts.RateLimit = limit
	s.windows = map[string]*window{}
}

// SignIn sets the user the OAuth authorize endpoint signs in without
// asking ("" asks, with a page listing the users).
func (s *Server) SignIn(username string) {
	s.omu.Lock()
	defer s.omu.Unlock()
	s.signedIn = username
}

// Stats returns the request counters.
func (s *Server) Stats() Stats {
	return Stats{Requests: s.requests.Load(), RateLimited: s.rateLimited.Load(), Faulted: s.faulted.Load()}
}

// ResetStats zeroes the request counters.
func (s *Server) ResetStats() {
	s.requests.Store(0)
	s.rateLimited.Store(0)
	s.faulted.Store(0)
}

// ServeHTTP answers one request: latency, faults, authentication, rate
// limit, then the endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	var body []byte
	if r.Method == http.MethodPost {
		// Read the body first: until it is read, the server does not see
		// a client that gives up, and a held request would outlive it.
		var err error
		if body, err = io.ReadAll(io.LimitReader(r.Body, maxBody+1)); err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	if s.opts.Latency > 0 {
		t := time.NewTimer(s.opts.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if f := s.matchFault(r, body); f != nil {
		s.faulted.Add(1)
		if f.Hang {
			t := time.NewTimer(s.opts.HangFor)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
				return
			}
		}
		status := f.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "Retry later", status)
			return
		}
		writeJSON(w, status, map[string]string{"message": fmt.Sprintf("%d %s", status, http.StatusText(status))})
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) matchFault(r *http.Request, body []byte) *fault {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page == 0 {
		page = 1
	}
	for i, f := range s.faults {
		if !strings.Contains(r.URL.Path, f.Path) || (f.Page != 0 && f.Page != page) || !bytes.Contains(body, []byte(f.Body)) {
			continue
		}
		if f.skip > 0 {
			f.skip--
			continue
		}
		if f.Times > 0 {
			f.left--
			if f.left <= 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
		}
		return f
	}
	return nil
}

// rateLimit counts the request against the caller's window, sets GitLab's
// RateLimit-* headers and reports whether the request may go on.
func (s *Server) rateLimit(w http.ResponseWriter, key string) bool {
	s.rmu.Lock()
	limit := s.opts.RateLimit
	if limit <= 0 {
		s.rmu.Unlock()
		return true
	}
	now := s.opts.Now()
	size := s.opts.RateWindow
	start := time.Unix(0, now.UnixNano()/int64(size)*int64(size))
	win := s.windows[key]
	if win == nil || !win.start.Equal(start) {
		win = &window{start: start}
		s.windows[key] = win
	}
	win.count++
	count := win.count
	s.rmu.Unlock()

	reset := start.Add(size)
	h := w.Header()
	h.Set("RateLimit-Name", "throttle_authenticated_api")
	h.Set("RateLimit-Limit", strconv.Itoa(limit*int(time.Minute)/int(size)))
	h.Set("RateLimit-Observed", strconv.Itoa(count))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(limit-count, 0)))
	h.Set("RateLimit-Reset", strconv.FormatInt(int64(math.Ceil(float64(reset.UnixNano())/1e9)), 10))
	if count <= limit {
		return true
	}
	s.rateLimited.Add(1)
	h.Set("RateLimit-ResetTime", reset.UTC().Format(http.TimeFormat))
	h.Set("Retry-After", strconv.Itoa(max(int(math.Ceil(reset.Sub(now).Seconds())), 1)))
	http.Error(w, "Retry later", http.StatusTooManyRequests)
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter, what string) {
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 " + what + " Not Found"})
}

func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": msg})
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

// baseURL is the scheme and host the client used, for Link headers and
// web_url fields.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// maxCountedRecords is where GitLab stops counting: past it x-total,
// x-total-pages and rel="last" are left out.
const maxCountedRecords = 10000

// offsetPage cuts one page out of n items by GitLab's page and per_page
// parameters and writes the pagination headers. It returns the slice bounds.
func offsetPage(w http.ResponseWriter, r *http.Request, n int) (lo, hi int) {
	q := r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage <= 0 {
		perPage = 20
	}
	perPage = min(perPage, 100)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page <= 0 {
		page = 1
	}
	lo = min((page-1)*perPage, n)
	hi = min(lo+perPage, n)
	pages := max((n+perPage-1)/perPage, 1)

	link := func(p int, rel string) string {
		qq := r.URL.Query()
		qq.Set("page", strconv.Itoa(p))
		qq.Set("per_page", strconv.Itoa(perPage))
		return fmt.Sprintf("<%s%s?%s>; rel=%q", baseURL(r), r.URL.Path, qq.Encode(), rel)
	}
	h := w.Header()
	var links []string
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", strconv.Itoa(perPage))
	h.Set("X-Prev-Page", "")
	h.Set("X-Next-Page", "")
	if page > 1 {
		h.Set("X-Prev-Page", strconv.Itoa(page-1))
		links = append(links, link(page-1, "prev"))
	}
	if hi < n {
		h.Set("X-Next-Page", strconv.Itoa(page+1))
		links = append(links, link(page+1, "next"))
	}
	links = append(links, link(1, "first"))
	if n <= maxCountedRecords {
		h.Set("X-Total", strconv.Itoa(n))
		h.Set("X-Total-Pages", strconv.Itoa(pages))
		links = append(links, link(pages, "last"))
	}
	h.Set("Link", strings.Join(links, ", "))
	return lo, hi
}

// keysetPage cuts one page out of items sorted by id ascending, by GitLab's
// keyset parameters (order_by=id, sort, id_after / id_before), and writes
// the Link header with rel="next" only. ok is false (and an error answered)
// for an unsupported order.
func keysetPage[T any](w http.ResponseWriter, r *http.Request, items []T, id func(T) int64) (page []T, ok bool) {
	q := r.URL.Query()
	if ob := q.Get("order_by"); ob != "" && ob != "id" {
		badRequest(w, "Keyset pagination is not supported for this order")
		return nil, false
	}
	desc := q.Get("sort") == "desc"
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage <= 0 {
		perPage = 20
	}
	perPage = min(perPage, 100)
	var sel []T
	if desc {
		before, _ := strconv.ParseInt(q.Get("id_before"), 10, 64)
		for i := len(items) - 1; i >= 0 && len(sel) <= perPage; i-- {
			if before == 0 || id(items[i]) < before {
				sel = append(sel, items[i])
			}
		}
	} else {
		after, _ := strconv.ParseInt(q.Get("id_after"), 10, 64)
		i, _ := slices.BinarySearchFunc(items, after+1, func(t T, k int64) int { return int(id(t) - k) })
		sel = items[i:min(i+perPage+1, len(items))]
	}
	more := len(sel) > perPage
	sel = sel[:min(perPage, len(sel))]
	if more {
		qq := r.URL.Query()
		qq.Del("id_after")
		qq.Del("id_before")
		if desc {
			qq.Set("id_before", strconv.FormatInt(id(sel[len(sel)-1]), 10))
		} else {
			qq.Set("id_after", strconv.FormatInt(id(sel[len(sel)-1]), 10))
		}
		qq.Set("per_page", strconv.Itoa(perPage))
		w.Header().Set("Link", fmt.Sprintf("<%s%s?%s>; rel=\"next\"", baseURL(r), r.URL.Path, qq.Encode()))
	}
	return sel, true
}

// ListenAndServe serves the simulator on addr until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	srv := &http.Server{Addr: addr, Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	err := srv.ListenAndServe()
	if ctx.Err() != nil {
		return nil
	}
	return err
}
