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
	m.reg.MustRegister(m.requests, m.latency, m.decisions, m.resolutions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) decision(allowed bool) {
	if allowed {
		m.decisions.WithLabelValues("allowed").Inc()
	} else {
		m.decisions.WithLabelValues("denied").Inc()
	}
}

func (m *metrics) tokenResolution(ok bool) {
	if ok {
		m.resolutions.WithLabelValues("valid").Inc()
	} else {
		m.resolutions.WithLabelValues("invalid").Inc()
	}
}
