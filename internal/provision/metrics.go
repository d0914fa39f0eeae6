package provision

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// SourceMetrics is what /metrics reports of one source's syncs.
type SourceMetrics struct {
	Source identity.Source
	// Finished counts the runs this process finished since it started, by
	// status (success, failed, aborted): counters, summed over replicas.
	Finished map[identity.SyncStatus]int64
	// Running tells whether a run of the source goes on in this process.
	Running bool
	// Last is the newest finished run, on any replica (nil: none);
	// LastSuccess the newest successful one.
	Last, LastSuccess *identity.SyncRun
}

// finishedStatuses are the end states of a run, the statuses counted.
var finishedStatuses = []identity.SyncStatus{identity.SyncSuccess, identity.SyncFailed, identity.SyncAborted}

// countFinished counts a run this process finished.
func (s *source) countFinished(st identity.SyncStatus) {
	s.mu.Lock()
	if s.finished == nil {
		s.finished = make(map[identity.SyncStatus]int64, len(finishedStatuses))
	}
	s.finished[st]++
	s.mu.Unlock()
}

// Metrics reports every source's runs: this process's counts from memory,
// the last runs from what the store records (a page or two of runs per
// source).
func (e *Engine) Metrics(ctx context.Context) ([]SourceMetrics, error) {
	out := make([]SourceMetrics, 0, len(e.order))
	for _, name := range e.order {
		s := e.sources[name]
		m := SourceMetrics{Source: name, Finished: make(map[identity.SyncStatus]int64, len(finishedStatuses))}
		s.mu.Lock()
		for _, st := range finishedStatuses {
			m.Finished[st] = s.finished[st]
		}
		m.Running = s.running != nil
		s.mu.Unlock()
		var err error
		if m.Last, m.LastSuccess, err = e.lastRuns(ctx, name); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// lastRuns returns the newest finished run of src and the newest
// successful one (nil when there is none among the newest 200 runs).
func (e *Engine) lastRuns(ctx context.Context, src identity.Source) (last, success *identity.SyncRun, err error) {
	const size = 20
	for page := 1; page <= 10 && success == nil; page++ {
		runs, total, err := e.st.Store().ListSyncRuns(ctx, src, store.Page{Number: page, Size: size})
		if err != nil {
			return nil, nil, err
		}
		for i := range runs {
			r := &runs[i]
			if r.FinishedAt.IsZero() || r.Status == identity.SyncPending || r.Status == identity.SyncRunning {
				continue
			}
			if last == nil {
				last = r
			}
			if r.Status == identity.SyncSuccess {
				success = r
				break
			}
		}
		if page*size >= total {
			break
		}
	}
	return last, success, nil
}
