package webapi

import (
	"crypto/subtle"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the Prometheus series of the Web API, on a registry of its own
// (no global state).
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	decisions   *prometheus.CounterVec
	resolutions *prometheus.CounterVec

	validTokens, invalidTokens prometheus.Counter
	// byCred are the decision counters by result (0 denied, 1 allowed) and
	// credential kind, resolved once: the decision path adds no lookup.
	byCred [2][len(credKinds)]prometheus.Counter

	signInFailures, signInThrottled prometheus.Counter
}

// Credential kinds of the decision metrics, indexed by credKind.
const (
	credPassword = iota
	credSession
	credUserToken
	credGlobalAnalysisToken
	credProjectAnalysisToken
	credOrganizationToken
	credOther
)

var credKinds = [...]string{"password", "session", "user_token", "global_analysis_token", "project_analysis_token", "organization_token", "other"}

// credKind is the kind of credential behind p: its token's type, or how
// the user signed in (cred, set by authenticate).
func credKind(p authz.Principal, cred uint8) uint8 {
	if p.TokenID == 0 {
		return cred
	}
	switch p.TokenType {
	case identity.TokenUser:
		return credUserToken
	case identity.TokenGlobalAnalysis:
		return credGlobalAnalysisToken
	case identity.TokenProjectAnalysis:
		return credProjectAnalysisToken
	case identity.TokenOrganization:
		return credOrganizationToken
	}
	return credOther
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total", Help: "Web API requests by route and status.",
		}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_http_request_duration_seconds", Help: "Web API latency by route.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_authz_decisions_total", Help: "Authorization decisions by result and credential kind.",
		}, []string{"result", "credential"}),
		resolutions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_token_resolutions_total", Help: "Token resolutions by result.",
		}, []string{"result"}),
	}
	for i, kind := range credKinds {
		m.byCred[0][i] = m.decisions.WithLabelValues("denied", kind)
		m.byCred[1][i] = m.decisions.WithLabelValues("allowed", kind)
	}
	signIns := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_signin_failures_total", Help: "Password sign-ins refused: failed (wrong credentials) or throttled (refused unchecked by the rate limit).",
	}, []string{"reason"})
	m.signInFailures, m.signInThrottled = signIns.WithLabelValues("failed"), signIns.WithLabelValues("throttled")
	m.validTokens, m.invalidTokens = m.resolutions.WithLabelValues("valid"), m.resolutions.WithLabelValues("invalid")
	m.reg.MustRegister(m.requests, m.latency, m.decisions, m.resolutions, signIns,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// handler serves the registry; with a token, only to a request bearing it.
func (m *metrics) handler(token string) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics need the bearer token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// descName reads a descriptor's fully-qualified name: client_golang offers
// it only through String.
var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (m *metrics) names() []string {
	ch := make(chan *prometheus.Desc)
	go func() { m.reg.Describe(ch); close(ch) }()
	var out []string
	for d := range ch {
		if sub := descName.FindStringSubmatch(d.String()); sub != nil && !slices.Contains(out, sub[1]) {
			out = append(out, sub[1])
		}
	}
	slices.Sort(out)
	return out
}

// routeSeries are a route's series resolved once: looking labels up on
// every request costs a hash and a lock per series on the hot path.
type routeSeries struct {
	latency prometheus.Observer
	byCode  map[int]prometheus.Counter // the statuses routes commonly answer
}

var commonStatuses = []int{200, 204, 400, 401, 403, 404}

func (m *metrics) forRoute(route string) *routeSeries {
	rs := &routeSeries{latency: m.latency.WithLabelValues(route), byCode: make(map[int]prometheus.Counter, len(commonStatuses))}
	for _, code := range commonStatuses {
		rs.byCode[code] = m.requests.WithLabelValues(route, strconv.Itoa(code))
	}
	return rs
}

func (m *metrics) observe(route string, rs *routeSeries, status int, d time.Duration) {
	if rs == nil {
		m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		m.latency.WithLabelValues(route).Observe(d.Seconds())
		return
	}
	if c, ok := rs.byCode[status]; ok {
		c.Inc()
	} else {
		m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	}
	rs.latency.Observe(d.Seconds())
}

func (m *metrics) decision(allowed bool, kind uint8) {
	r := 0
	if allowed {
		r = 1
	}
	m.byCred[r][kind].Inc()
}

func (m *metrics) tokenResolution(ok bool) {
	if ok {
		m.validTokens.Inc()
	} else {
		m.invalidTokens.Inc()
	}
}
