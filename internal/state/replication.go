package state

import (
	"sync/atomic"
	"time"
)

// replStats are the propagation counters, read without any lock.
type replStats struct {
	revision   atomic.Int64 // mirrors State.revision
	store      atomic.Int64 // highest store revision seen
	caughtUpAt atomic.Int64 // unix nanoseconds
	appliedAt  atomic.Int64 // unix nanoseconds
	lastDelay  atomic.Int64 // nanoseconds
	// lastRebuild and lastDelta are how long the last index rebuild
	// (snapshot read, build and swap) and the last catch-up from the change
	// log (re-reads and apply) took, in nanoseconds.
	lastRebuild, lastDelta atomic.Int64

	fullReloads, deltaBatches, deltaChanges atomic.Int64
}

// seen records a store revision read at a check or a commit.
func (r *replStats) seen(rev int64) {
	for {
		old := r.store.Load()
		if rev <= old || r.store.CompareAndSwap(old, rev) {
			return
		}
	}
}

// caughtUp records that the index was found to reflect revision rev, the
// store's revision at the last check.
func (r *replStats) caughtUp(rev int64) {
	r.seen(rev)
	r.caughtUpAt.Store(time.Now().UnixNano())
}

// Replication tells how far this replica's index is behind the store it
// shares with other replicas, and how it has kept up.
type Replication struct {
	// Revision is the store revision the index reflects.
	Revision int64
	// StoreRevision is the highest store revision this replica has seen
	// (at its last check or commit); Behind is StoreRevision - Revision.
	StoreRevision, Behind int64
	// CaughtUpAt is when the index was last found to reflect every
	// revision committed at that moment; SinceCaughtUp is the time since,
	// a bound on how stale decisions may be (about the sync interval when
	// all is well).
	CaughtUpAt    time.Time
	SinceCaughtUp time.Duration
	// LastApplied is when peer changes (or a rebuild) were last applied;
	// LastDelay is the time from the commit of the last peer change applied
	// to its application.
	LastApplied time.Time
	LastDelay   time.Duration
	// LastRebuildDuration is how long the last index rebuild took, from
	// reading the snapshot to the swap; LastDeltaDuration how long the last
	// catch-up from the change log took to re-read its rows and apply them.
	LastRebuildDuration, LastDeltaDuration time.Duration
	// FullReloads counts index rebuilds from a snapshot (start-up
	// included); DeltaBatches and DeltaChanges count catch-ups from the
	// change log and the entities they re-read.
	FullReloads, DeltaBatches, DeltaChanges int64
}

// Replication returns the propagation state, for metrics and tests.
func (s *State) Replication() Replication {
	r := &s.repl
	out := Replication{
		Revision:            r.revision.Load(),
		StoreRevision:       r.store.Load(),
		LastDelay:           time.Duration(r.lastDelay.Load()),
		LastRebuildDuration: time.Duration(r.lastRebuild.Load()),
		LastDeltaDuration:   time.Duration(r.lastDelta.Load()),
		FullReloads:         r.fullReloads.Load(),
		DeltaBatches:        r.deltaBatches.Load(),
		DeltaChanges:        r.deltaChanges.Load(),
	}
	out.Behind = max(out.StoreRevision-out.Revision, 0)
	if at := r.caughtUpAt.Load(); at != 0 {
		out.CaughtUpAt = time.Unix(0, at)
		out.SinceCaughtUp = time.Since(out.CaughtUpAt)
	}
	if at := r.appliedAt.Load(); at != 0 {
		out.LastApplied = time.Unix(0, at)
	}
	return out
}
