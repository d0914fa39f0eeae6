package server

import (
	"context"
	"database/sql"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// poolStater is a store that reports its connection pools (sqlstore).
type poolStater interface {
	PoolStats() map[string]sql.DBStats
}

// poolCollector exports the store's connection pools at scrape time.
type poolCollector struct {
	db                             poolStater
	open, inUse, idle, max         *prometheus.Desc
	waits, waited, closedIdleLimit *prometheus.Desc
}

func newPoolCollector(db poolStater) *poolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("gatehouse_store_pool_"+name, help, []string{"pool"}, nil)
	}
	return &poolCollector{db: db,
		open:            d("open_connections", "Open connections of the store's pool."),
		inUse:           d("in_use_connections", "Connections in use."),
		idle:            d("idle_connections", "Idle connections."),
		max:             d("max_open_connections", "The pool's bound on open connections."),
		waits:           d("waits_total", "Times a query waited for a free connection."),
		waited:          d("wait_seconds_total", "Time spent waiting for a free connection."),
		closedIdleLimit: d("closed_max_idle_total", "Connections closed because the idle pool was full."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.open, c.inUse, c.idle, c.max, c.waits, c.waited, c.closedIdleLimit} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for pool, s := range c.db.PoolStats() {
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(s.OpenConnections), pool)
		ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(s.InUse), pool)
		ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(s.Idle), pool)
		ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(s.MaxOpenConnections), pool)
		ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(s.WaitCount), pool)
		ch <- prometheus.MustNewConstMetric(c.waited, prometheus.CounterValue, s.WaitDuration.Seconds(), pool)
		ch <- prometheus.MustNewConstMetric(c.closedIdleLimit, prometheus.CounterValue, float64(s.MaxIdleClosed), pool)
	}
}

// latencyStater is a store that times its work (sqlstore).
type latencyStater interface {
	QueryLatency() map[string]sqlstore.Latency
}

// latencyCollector exports the store's latency histograms at scrape time;
// the store counts them with atomic adds, off the decision path (decisions
// never reach the store).
type latencyCollector struct {
	db   latencyStater
	desc *prometheus.Desc
}

func newLatencyCollector(db latencyStater) *latencyCollector {
	return &latencyCollector{db: db, desc: prometheus.NewDesc("gatehouse_store_query_duration_seconds",
		"Store durations by kind: read (a statement outside transactions), write (a statement inside a write transaction), tx (a whole write transaction, waiting for the write connection included), snapshot (a whole snapshot read, for an index rebuild).",
		[]string{"op"}, nil)}
}

func (c *latencyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *latencyCollector) Collect(ch chan<- prometheus.Metric) {
	for op, l := range c.db.QueryLatency() {
		ch <- prometheus.MustNewConstHistogram(c.desc, l.Count, l.Sum.Seconds(), l.Buckets, op)
	}
}

// syncMetricser is the provisioning engine, as /metrics reads it.
type syncMetricser interface {
	Metrics(ctx context.Context) ([]provision.SourceMetrics, error)
}

// syncCollector exports the pull sources' runs at scrape time: this
// replica's finished runs by status from memory, the last runs (of any
// replica) from what the store records.
type syncCollector struct {
	eng                                         syncMetricser
	runs, running                               *prometheus.Desc
	lastAt, lastDuration, lastOK, lastSuccessAt *prometheus.Desc
}

func newSyncCollector(eng syncMetricser) *syncCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("gatehouse_sync_"+name, help, append([]string{"source"}, labels...), nil)
	}
	return &syncCollector{eng: eng,
		runs:          d("runs_total", "Sync runs this replica finished, by source and status (success, failed, aborted by the guard).", "status"),
		running:       d("running", "1 while a run of the source goes on in this replica."),
		lastAt:        d("last_run_timestamp_seconds", "When the source's last finished run (on any replica) ended, Unix time."),
		lastDuration:  d("last_run_duration_seconds", "How long the source's last finished run took."),
		lastOK:        d("last_run_success", "1 when the source's last finished run succeeded, 0 when it failed or was aborted."),
		lastSuccessAt: d("last_success_timestamp_seconds", "When the source's last successful run ended, Unix time."),
	}
}

func (c *syncCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.runs, c.running, c.lastAt, c.lastDuration, c.lastOK, c.lastSuccessAt} {
		ch <- d
	}
}

func (c *syncCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ms, err := c.eng.Metrics(ctx)
	if err != nil {
		// The store does not answer: /metrics still serves everything
		// else (and the pool and readiness metrics tell why).
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	unix := func(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
	for _, m := range ms {
		src := string(m.Source)
		for st, n := range m.Finished {
			ch <- prometheus.MustNewConstMetric(c.runs, prometheus.CounterValue, float64(n), src, string(st))
		}
		running := 0.0
		if m.Running {
			running = 1
		}
		gauge(c.running, running, src)
		if r := m.Last; r != nil {
			gauge(c.lastAt, unix(r.FinishedAt), src)
			gauge(c.lastDuration, r.FinishedAt.Sub(r.StartedAt).Seconds(), src)
			ok := 0.0
			if r.Status == identity.SyncSuccess {
				ok = 1
			}
			gauge(c.lastOK, ok, src)
		}
		if r := m.LastSuccess; r != nil {
			gauge(c.lastSuccessAt, unix(r.FinishedAt), src)
		}
	}
}
