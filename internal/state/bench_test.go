package state

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/dataset"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// standardDB writes the standard data set (10k users, 1k groups, 5k
// projects, 100k memberships, 200k grants) into a SQLite file once per
// benchmark binary.
var standardDB = sync.OnceValues(func() (benchDB, error) {
	dir, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return benchDB{}, err
	}
	path := filepath.Join(dir, "g.db")
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, path, nil)
	if err != nil {
		return benchDB{}, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return benchDB{}, err
	}
	set, err := dataset.Generate(dataset.Standard, 1)
	if err != nil {
		return benchDB{}, err
	}
	if _, err := dataset.Load(ctx, db, set); err != nil {
		return benchDB{}, err
	}
	return benchDB{path: path, secrets: set.Secrets}, nil
})

type benchDB struct {
	path    string
	secrets []string
}

// openStandard opens the standard data set's database for one benchmark.
func openStandard(b *testing.B) (store.Store, benchDB) {
	b.Helper()
	bdb, err := standardDB()
	if err != nil {
		b.Fatal(err)
	}
	db, err := sqlstore.OpenSQLite(context.Background(), bdb.path, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db, bdb
}

// BenchmarkIndexBuildFromStore measures a cold start's index build: reading
// the whole snapshot from SQLite and building the index, and the heap the
// built state holds. Targets: <2 s, <300 MB.
func BenchmarkIndexBuildFromStore(b *testing.B) {
	ctx := context.Background()
	db, _ := openStandard(b)
	var heapMB float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		s, err := New(ctx, db, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "build-s")
		runtime.GC()
		runtime.ReadMemStats(&after)
		heapMB = float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
		st := s.Index().Stats()
		if st.Users < 10_000 || st.Grants < 200_000 || st.Memberships < 100_000 {
			b.Fatalf("index holds %+v", st)
		}
		runtime.KeepAlive(s)
	}
	b.ReportMetric(heapMB, "heap-MB")
}

// BenchmarkAuthenticateDecide is token resolution plus a decision through
// the coordinator, as the API calls them.
func BenchmarkAuthenticateDecide(b *testing.B) {
	ctx := context.Background()
	db, bdb := openStandard(b)
	s, err := New(ctx, db, Options{})
	if err != nil {
		b.Fatal(err)
	}
	secrets := bdb.secrets
	keys := make([]string, 0, 1024)
	ps, _, err := db.ListProjects(ctx, store.ProjectFilter{Page: store.Page{Number: 1, Size: 1024}})
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range ps {
		keys = append(keys, p.Key)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		p, err := s.Authenticate(secrets[i%len(secrets)])
		if err != nil {
			b.Fatal(err)
		}
		s.Index().Decide(p, identity.PermScan, keys[i%len(keys)])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}
