package authz

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/dataset"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// The standard data set (10k users, 1k groups, 5k projects, 100k
// memberships, 200k grants) is generated once per test binary.
var standard = sync.OnceValues(func() (*dataset.Set, error) { return dataset.Generate(dataset.Standard, 1) })

func loadStandard(b *testing.B) (*Index, *dataset.Set) {
	b.Helper()
	set, err := standard()
	if err != nil {
		b.Fatal(err)
	}
	ix := NewIndex(nil)
	if err := ix.Load(set.Snapshot); err != nil {
		b.Fatal(err)
	}
	return ix, set
}

type query struct {
	p    Principal
	perm identity.Permission
	key  string
}

// queries mixes global and project questions over random users and projects.
func queries(set *dataset.Set, n int) []query {
	rng := rand.New(rand.NewPCG(7, 7))
	snap := set.Snapshot
	qs := make([]query, n)
	for i := range qs {
		u := snap.Users[rng.IntN(len(snap.Users))]
		q := query{p: Principal{UserID: u.ID}}
		if rng.IntN(10) == 0 {
			q.perm = identity.GlobalPermissions[rng.IntN(len(identity.GlobalPermissions))]
		} else {
			q.perm = identity.ProjectPermissions[rng.IntN(len(identity.ProjectPermissions))]
			q.key = snap.Projects[rng.IntN(len(snap.Projects))].Key
		}
		qs[i] = q
	}
	return qs
}

// BenchmarkDecide measures one decision on the standard data set. Target:
// ≥1M decisions/s on one core (≤1000 ns/op with -cpu 1).
func BenchmarkDecide(b *testing.B) {
	ix, set := loadStandard(b)
	qs := queries(set, 1<<16)
	allowed := 0
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		q := &qs[i&(len(qs)-1)]
		if ix.Decide(q.p, q.perm, q.key).Allowed {
			allowed++
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	if i > 0 {
		b.ReportMetric(float64(allowed)/float64(i), "allowed-ratio")
	}
}

// BenchmarkDecideParallel runs decisions on every core.
func BenchmarkDecideParallel(b *testing.B) {
	ix, set := loadStandard(b)
	qs := queries(set, 1<<16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(qs))
		for pb.Next() {
			q := &qs[i&(len(qs)-1)]
			ix.Decide(q.p, q.perm, q.key)
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// BenchmarkResolveDecide measures token resolution (checksum, SHA-256,
// lookup, expiry and owner checks) followed by a decision. Target: ≥200k/s.
func BenchmarkResolveDecide(b *testing.B) {
	ix, set := loadStandard(b)
	qs := queries(set, 1<<16)
	secrets := set.Secrets
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		q := &qs[i&(len(qs)-1)]
		p, _, err := ix.Resolve(secrets[i%len(secrets)])
		if err != nil {
			b.Fatal(err)
		}
		ix.Decide(p, q.perm, q.key)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resolves/s")
}

// BenchmarkIndexBuild measures building the index from a snapshot and the
// heap the built index holds. Targets: <2 s, <300 MB.
func BenchmarkIndexBuild(b *testing.B) {
	set, err := standard()
	if err != nil {
		b.Fatal(err)
	}
	var heap uint64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ix := NewIndex(nil)
		start := time.Now()
		if err := ix.Load(set.Snapshot); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "build-s")
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(ix)
	}
	b.ReportMetric(float64(heap)/(1<<20), "index-heap-MB")
}
