package provision

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// bigSource is the benchmark's fake source (issue #9): 20,000 users, 3,000
// groups, 200,000 memberships (ten groups each), 30,000 projects with two
// permissions each.
func bigSource() Snapshot {
	const users, groups, projects = 20_000, 3_000, 30_000
	s := Snapshot{ManagesProjects: true}
	for i := range users {
		s.Users = append(s.Users, User{ExternalID: fmt.Sprint("u", i), Login: fmt.Sprint("user", i), Name: fmt.Sprint("User ", i), Email: fmt.Sprint("user", i, "@example.com"), Active: true})
		for k := range 10 {
			s.Memberships = append(s.Memberships, Membership{fmt.Sprint("u", i), fmt.Sprint("g", (i*7+k*301)%groups)})
		}
	}
	for i := range groups {
		s.Groups = append(s.Groups, Group{ExternalID: fmt.Sprint("g", i), Name: fmt.Sprint("acme/team", i)})
	}
	for i := range projects {
		s.Projects = append(s.Projects, Project{ExternalID: fmt.Sprint("p", i), Key: fmt.Sprint("proj", i), Name: fmt.Sprint("Project ", i), Visibility: identity.Private})
		s.Permissions = append(s.Permissions,
			ProjectPermission{fmt.Sprint("u", i%users), fmt.Sprint("p", i), identity.PermScan},
			ProjectPermission{fmt.Sprint("u", (i*13)%users), fmt.Sprint("p", i), identity.PermAdmin})
	}
	return s
}

// BenchmarkEngineLargeSource measures a first run and a no-change rerun of
// the big fake source on SQLite (run with -benchtime=1x):
//
//	go test -run '^$' -bench EngineLargeSource -benchtime 1x ./internal/provision/
func BenchmarkEngineLargeSource(b *testing.B) {
	snap := bigSource()
	for b.Loop() {
		ctx := state.WithActor(context.Background(), state.Actor{Name: "system"})
		db, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "g.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		st, err := state.New(ctx, db, state.Options{})
		if err != nil {
			b.Fatal(err)
		}
		conn := &fakeConnector{snap: snap}
		e, err := New(ctx, st, map[identity.Source]SourceConfig{gl: {Connector: conn, Defaults: map[string]string{"url": "x"}}}, Config{Guard: Guard{MaxDeactivateShare: 1, MaxRemoveShare: 1}})
		if err != nil {
			b.Fatal(err)
		}
		peak := watchHeap()
		start := time.Now()
		first, err := e.RunOnce(ctx, gl, RunOptions{Trigger: identity.TriggerManual})
		if err != nil || first.Status != identity.SyncSuccess {
			b.Fatalf("first run: %+v %v", first, err)
		}
		firstDur := time.Since(start)
		start = time.Now()
		again, err := e.RunOnce(ctx, gl, RunOptions{Trigger: identity.TriggerManual})
		if err != nil || again.Status != identity.SyncSuccess {
			b.Fatalf("rerun: %+v %v", again, err)
		}
		rerunDur := time.Since(start)
		heap := peak()
		b.ReportMetric(firstDur.Seconds(), "first-s")
		b.ReportMetric(float64(first.Counts.Writes), "first-writes")
		b.ReportMetric(rerunDur.Seconds(), "rerun-s")
		b.ReportMetric(float64(again.Counts.Writes), "rerun-writes")
		b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MiB")
		if again.Counts.Writes != 0 {
			b.Fatalf("rerun wrote %d", again.Counts.Writes)
		}
		db.Close()
	}
}

// watchHeap samples the live heap until the returned function is called,
// which returns the highest sample.
func watchHeap() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(stop); <-done; return peak.Load() }
}
