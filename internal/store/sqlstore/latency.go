package sqlstore

import (
	"database/sql"
	"sort"
	"sync/atomic"
	"time"
)

// Kinds of store work whose durations are measured, the keys of
// [Store.QueryLatency].
const (
	// opRead is one statement on the read pool, outside any transaction.
	opRead = iota
	// opWrite is one statement inside a write transaction.
	opWrite
	// opTx is a whole write transaction, from waiting for the write
	// connection to the commit.
	opTx
	// opSnapshot is a whole snapshot read (an index rebuild).
	opSnapshot
	numOps
)

var opNames = [numOps]string{"read", "write", "tx", "snapshot"}

// LatencyBuckets are the upper bounds, in seconds, of the latency
// histograms.
var LatencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// histogram counts durations into LatencyBuckets with atomic adds only:
// an observation costs two clock readings and three adds, nothing next to
// the statement it measures.
type histogram struct {
	buckets [16]atomic.Uint64 // len(LatencyBuckets)+1, the last +Inf
	sum     atomic.Int64      // nanoseconds
}

func (h *histogram) observe(d time.Duration) {
	i := sort.SearchFloat64s(LatencyBuckets, d.Seconds())
	h.buckets[i].Add(1)
	h.sum.Add(int64(d))
}

// since observes the time since start; a nil histogram measures nothing.
func (h *histogram) since(start time.Time) {
	if h != nil {
		h.observe(time.Since(start))
	}
}

// Latency is one histogram of store durations, as Prometheus wants it.
type Latency struct {
	Count uint64
	Sum   time.Duration
	// Buckets maps each upper bound of LatencyBuckets to the number of
	// durations at most that long (cumulative).
	Buckets map[float64]uint64
}

// QueryLatency returns the histograms of store durations by kind: "read"
// (a statement outside transactions), "write" (a statement inside a write
// transaction), "tx" (a whole write transaction, waiting for the write
// connection included) and "snapshot" (a whole snapshot read).
func (s *Store) QueryLatency() map[string]Latency {
	out := make(map[string]Latency, numOps)
	for op := range numOps {
		h := &s.lat[op]
		l := Latency{Sum: time.Duration(h.sum.Load()), Buckets: make(map[float64]uint64, len(LatencyBuckets))}
		for i, le := range LatencyBuckets {
			l.Count += h.buckets[i].Load()
			l.Buckets[le] = l.Count
		}
		l.Count += h.buckets[len(LatencyBuckets)].Load()
		out[opNames[op]] = l
	}
	return out
}

// rows is a query's result, timed from the query to its Close.
type rows struct {
	*sql.Rows
	start time.Time
	lat   *histogram
	fx    *effects
}

func (r *rows) Close() error {
	if r.lat != nil && r.Rows.Err() != nil {
		r.fx.note("", r.Rows.Err())
	}
	err := r.Rows.Close()
	r.lat.since(r.start)
	r.lat = nil // Close may be called again
	return err
}

// timedRow is a single-row result, timed from the query to its Scan.
type timedRow struct {
	row   *sql.Row
	start time.Time
	lat   *histogram
}

func (r timedRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	r.lat.since(r.start)
	return err
}
