package provision

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// TestEngineMetrics: runs are counted by status as they finish, and the
// last run and the last successful one come from the recorded runs.
func TestEngineMetrics(t *testing.T) {
	v := newEnv(t, Config{})
	metrics := func() SourceMetrics {
		t.Helper()
		ms, err := v.e.Metrics(v.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Source == gl {
				return m
			}
		}
		t.Fatalf("no metrics for %s in %+v", gl, ms)
		return SourceMetrics{}
	}
	if m := metrics(); m.Last != nil || m.LastSuccess != nil || m.Finished[identity.SyncSuccess] != 0 || m.Running {
		t.Fatalf("before any run: %+v", m)
	}

	v.conn.set(func(s *Snapshot) { *s = fixture(100) })
	ok := v.run(false)
	v.conn.set(func(s *Snapshot) { *s = fixture(50) }) // the guard's bound
	if run := v.run(false); run.Status != identity.SyncAborted {
		t.Fatalf("run = %+v", run)
	}
	v.conn.failAt = 1
	failed := v.run(false)
	if failed.Status != identity.SyncFailed {
		t.Fatalf("run = %+v", failed)
	}

	m := metrics()
	for st, want := range map[identity.SyncStatus]int64{identity.SyncSuccess: 1, identity.SyncAborted: 1, identity.SyncFailed: 1} {
		if m.Finished[st] != want {
			t.Errorf("%s runs = %d, want %d", st, m.Finished[st], want)
		}
	}
	if m.Last == nil || m.Last.ID != failed.ID || m.LastSuccess == nil || m.LastSuccess.ID != ok.ID {
		t.Errorf("last = %+v, last success = %+v; want runs %d and %d", m.Last, m.LastSuccess, failed.ID, ok.ID)
	}
}
