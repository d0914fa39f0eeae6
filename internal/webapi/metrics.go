package webapi

import (
	"net/http"
	"strconv"
	"time"

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

	allowed, denied, validTokens, invalidTokens prometheus.Counter
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
			Name: "gatehouse_authz_decisions_total", Help: "Authorization decisions by result.",
		}, []string{"result"}),
		resolutions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_token_resolutions_total", Help: "Token resolutions by result.",
		}, []string{"result"}),
	}
	m.allowed, m.denied = m.decisions.WithLabelValues("allowed"), m.decisions.WithLabelValues("denied")
	m.validTokens, m.invalidTokens = m.resolutions.WithLabelValues("valid"), m.resolutions.WithLabelValues("invalid")
	m.reg.MustRegister(m.requests, m.latency, m.decisions, m.resolutions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
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

func (m *metrics) decision(allowed bool) {
	if allowed {
		m.allowed.Inc()
	} else {
		m.denied.Inc()
	}
}

func (m *metrics) tokenResolution(ok bool) {
	if ok {
		m.validTokens.Inc()
	} else {
		m.invalidTokens.Inc()
	}
}
