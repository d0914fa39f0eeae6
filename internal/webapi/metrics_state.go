package webapi

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// stateCollector reads the index and the replication counters at scrape
// time: the index's size, the tokens about to expire, how far this replica
// is behind the store and what its rebuilds and catch-ups cost. Nothing is
// counted on the decision path.
type stateCollector struct {
	st       *state.State
	size     *prometheus.Desc
	expiring *prometheus.Desc

	revision, storeRevision, behind, sinceCaughtUp, applyDelay *prometheus.Desc
	rebuilds, deltaBatches, deltaChanges                       *prometheus.Desc
	rebuildSeconds, deltaSeconds, appliedAt                    *prometheus.Desc
}

func newStateCollector(st *state.State) *stateCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &stateCollector{
		st: st,
		size: prometheus.NewDesc("gatehouse_index_objects", "What the in-memory authorization index holds, by kind.",
			[]string{"kind"}, nil),
		expiring: prometheus.NewDesc("gatehouse_tokens_expiring_7d", "Working tokens that expire within the next 7 days, by token type.",
			[]string{"type"}, nil),
		revision:       d("gatehouse_replica_revision", "The store revision this replica's index reflects."),
		storeRevision:  d("gatehouse_replica_store_revision", "The highest store revision this replica has seen (at its last check or commit)."),
		behind:         d("gatehouse_replica_revisions_behind", "Store revisions this replica's index has not applied yet."),
		sinceCaughtUp:  d("gatehouse_replica_seconds_since_caught_up", "Seconds since the index was last found to reflect every committed revision: a bound on how stale decisions may be (about the sync interval when all is well)."),
		applyDelay:     d("gatehouse_replica_last_apply_delay_seconds", "Time from the commit of the last peer change applied to its application."),
		rebuilds:       d("gatehouse_index_rebuilds_total", "Index rebuilds from a snapshot, start-up included."),
		deltaBatches:   d("gatehouse_index_delta_batches_total", "Catch-ups applied from the change log."),
		deltaChanges:   d("gatehouse_index_delta_changes_total", "Entities re-read by catch-ups from the change log."),
		rebuildSeconds: d("gatehouse_index_last_rebuild_duration_seconds", "How long the last index rebuild took, from reading the snapshot to the swap."),
		deltaSeconds:   d("gatehouse_index_last_delta_duration_seconds", "How long the last catch-up from the change log took (log read, re-reads, apply)."),
		appliedAt:      d("gatehouse_index_last_applied_timestamp_seconds", "When peer changes or a rebuild were last applied (Unix time)."),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.size, c.expiring, c.revision, c.storeRevision, c.behind, c.sinceCaughtUp, c.applyDelay,
		c.rebuilds, c.deltaBatches, c.deltaChanges, c.rebuildSeconds, c.deltaSeconds, c.appliedAt} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ix := c.st.Index()
	s := ix.Stats()
	for _, kv := range []struct {
		kind string
		n    int
	}{{"users", s.Users}, {"groups", s.Groups}, {"projects", s.Projects}, {"tokens", s.Tokens}, {"memberships", s.Memberships}, {"grants", s.Grants}} {
		ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(kv.n), kv.kind)
	}
	exp := ix.TokensExpiringBefore(c.st.Now().Add(7 * 24 * time.Hour))
	for _, typ := range []identity.TokenType{identity.TokenUser, identity.TokenGlobalAnalysis, identity.TokenProjectAnalysis, identity.TokenOrganization, identity.TokenSCIM} {
		ch <- prometheus.MustNewConstMetric(c.expiring, prometheus.GaugeValue, float64(exp[string(typ)]), strings.ToLower(string(typ)))
	}

	r := c.st.Replication()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(c.revision, float64(r.Revision))
	gauge(c.storeRevision, float64(r.StoreRevision))
	gauge(c.behind, float64(r.Behind))
	if !r.CaughtUpAt.IsZero() {
		gauge(c.sinceCaughtUp, r.SinceCaughtUp.Seconds())
	}
	gauge(c.applyDelay, r.LastDelay.Seconds())
	counter(c.rebuilds, r.FullReloads)
	counter(c.deltaBatches, r.DeltaBatches)
	counter(c.deltaChanges, r.DeltaChanges)
	gauge(c.rebuildSeconds, r.LastRebuildDuration.Seconds())
	gauge(c.deltaSeconds, r.LastDeltaDuration.Seconds())
	if !r.LastApplied.IsZero() {
		gauge(c.appliedAt, float64(r.LastApplied.UnixNano())/1e9)
	}
}
