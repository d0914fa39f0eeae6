package webapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// BenchmarkBasicAuth8 measures an administrator's script on basic auth:
// 8 connections, each with one request in flight, sending login and
// password with every request (issue 7 item 9). "reuse=off" checks every
// request with argon2id under the KDF bound (the state's slots wait a
// second, then 503); "reuse=on" reuses the verified password for up to a
// minute; "token" sends a user token instead, for scale. It reports requests/s and the share of answers that were not 200
// (503 busy, 429 throttled). Run it with a fixed count, e.g.
//
//	go test -run '^$' -bench BasicAuth8 -benchtime 400x ./internal/webapi/
func BenchmarkBasicAuth8(b *testing.B) {
	for _, bc := range []struct {
		name  string
		reuse time.Duration
		token bool
	}{{"reuse=off", -1, false}, {"reuse=on", 0, false}, {"token", 0, true}} {
		b.Run(bc.name, func(b *testing.B) {
			srv, secret := basicAuthServer(b, bc.reuse)
			const conns = 8
			tr := &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			var ok, busy, other atomic.Int64
			b.SetParallelism((conns + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/user_tokens/search", nil)
					if bc.token {
						req.Header.Set("Authorization", "Bearer "+secret)
					} else {
						req.SetBasicAuth("admin", adminPassword)
					}
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch resp.StatusCode {
					case http.StatusOK:
						ok.Add(1)
					case http.StatusServiceUnavailable, http.StatusTooManyRequests:
						busy.Add(1)
					default:
						other.Add(1)
					}
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			if other.Load() > 0 {
				b.Fatalf("%d answers were neither 200 nor 503/429", other.Load())
			}
			total := ok.Load() + busy.Load()
			b.ReportMetric(float64(total)/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(ok.Load())/elapsed.Seconds(), "ok/s")
			b.ReportMetric(100*float64(busy.Load())/float64(max(total, 1)), "%refused")
		})
	}
}

// basicAuthServer is a Web API with an administrator over a fresh SQLite
// store, its state reusing verified passwords for reuse (negative: off),
// and a user token of the administrator.
func basicAuthServer(b *testing.B, reuse time.Duration) (*httptest.Server, string) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "gatehouse.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	st, err := state.New(ctx, db, state.Options{PasswordReuse: reuse})
	if err != nil {
		b.Fatal(err)
	}
	go st.Run(ctx)
	admin, err := st.CreateUser(ctx, state.NewUser{Login: "admin", Name: "Administrator", Password: adminPassword})
	if err != nil {
		b.Fatal(err)
	}
	if err := st.AddMember(ctx, identity.GroupAdministrators, "admin"); err != nil {
		b.Fatal(err)
	}
	secret, _, err := st.GenerateUserToken(ctx, state.NewUserToken{UserID: admin.ID, Name: "bench", Type: identity.TokenUser})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(New(st, Options{GatehouseVersion: "bench"}).Handler())
	b.Cleanup(srv.Close)
	return srv, secret
}
