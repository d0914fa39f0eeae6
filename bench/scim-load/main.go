// Command scim-load measures initial SCIM provisioning over real HTTP: it
// starts Gatehouse in-process on a fresh store (SQLite in a temporary
// directory, or PostgreSQL with -postgres), then, with -conns connections,
// creates users (Entra ID's POST /Users body), groups (POST /Groups with
// Entra's extra schema URN) and memberships (PATCH /Groups/{id} adding
// -batch members per request, the several-changes-in-one-PATCH shape Entra's
// gallery asks for), and prints wall time, requests/s, p99 and peak RSS of
// the process (server and generator together).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

func main() {
	users := flag.Int("users", 100_000, "users to create")
	groups := flag.Int("groups", 5_000, "groups to create")
	memberships := flag.Int("memberships", 1_000_000, "memberships to add")
	batch := flag.Int("batch", 100, "members added per PATCH")
	conns := flag.Int("conns", 8, "concurrent connections")
	pg := flag.String("postgres", "", "PostgreSQL URL (empty: SQLite in a temporary directory)")
	flag.Parse()
	if err := run(*users, *groups, *memberships, *batch, *conns, *pg); err != nil {
		fmt.Fprintln(os.Stderr, "scim-load:", err)
		os.Exit(1)
	}
}

func run(nUsers, nGroups, nMembers, batch, conns int, pg string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "scim-load")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := server.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.DatabaseURL, cfg.AccessLog = "127.0.0.1:0", dir, pg, false
	cfg.AdminPassword = "bench-admin-password"
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(ctx, cfg, log, io.Discard, "bench")
	if err != nil {
		return err
	}
	go func() { _ = srv.Run(ctx) }()
	tok, _, err := srv.State().GenerateSCIMToken(state.WithActor(ctx, state.Actor{Name: "system"}), fmt.Sprintf("bench-%d", time.Now().UnixNano()), nil, time.Time{})
	if err != nil {
		return err
	}
	base := "http://" + srv.Addr() + "/scim/v2"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	var mu sync.Mutex
	var lat []time.Duration
	var failures atomic.Int64
	send := func(method, path string, body any) (map[string]any, error) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/scim+json")
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		d := time.Since(start)
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
		if res.StatusCode >= 300 {
			failures.Add(1)
			return nil, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, out)
		}
		var m map[string]any
		_ = json.Unmarshal(out, &m)
		return m, nil
	}
	parallel := func(n int, fn func(i int) error) error {
		var next atomic.Int64
		var first error
		var once sync.Once
		var wg sync.WaitGroup
		for range conns {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					if err := fn(i); err != nil {
						once.Do(func() { first = err })
						return
					}
				}
			})
		}
		wg.Wait()
		return first
	}
	userIDs := make([]string, nUsers)
	groupIDs := make([]string, nGroups)
	start := time.Now()
	phase := func(name string, n int, fn func(i int) error) error {
		t0 := time.Now()
		mu.Lock()
		lat = lat[:0]
		mu.Unlock()
		if err := parallel(n, fn); err != nil {
			return err
		}
		report(name, n, time.Since(t0), lat)
		return nil
	}
	if err := phase("POST /Users", nUsers, func(i int) error {
		login := fmt.Sprintf("user%06d@corp.test", i)
		d, err := send("POST", "/Users", map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
			"externalId": fmt.Sprintf("ext-%06d", i), "userName": login, "active": true,
			"emails": []any{map[string]any{"primary": true, "type": "work", "value": login}},
			"name":   map[string]any{"formatted": "User " + fmt.Sprint(i), "familyName": "User", "givenName": fmt.Sprint(i)},
			"roles":  []any{},
		})
		if err == nil {
			userIDs[i] = d["id"].(string)
		}
		return err
	}); err != nil {
		return err
	}
	if err := phase("POST /Groups", nGroups, func(i int) error {
		d, err := send("POST", "/Groups", map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"},
			"externalId": fmt.Sprintf("gext-%05d", i), "displayName": fmt.Sprintf("grp_%05d@corp.test", i),
		})
		if err == nil {
			groupIDs[i] = d["id"].(string)
		}
		return err
	}); err != nil {
		return err
	}
	// Membership k is user (k mod users) in group (k / (memberships/groups)):
	// each group gets an equal slice, sent batch members per PATCH.
	perGroup := max(1, nMembers/nGroups)
	patches := (perGroup + batch - 1) / batch * nGroups
	if err := phase("PATCH /Groups (add members)", patches, func(i int) error {
		perG := (perGroup + batch - 1) / batch
		g, part := i/perG, i%perG
		var vals []any
		for j := part * batch; j < min(perGroup, (part+1)*batch); j++ {
			vals = append(vals, map[string]any{"value": userIDs[(g*perGroup+j)%nUsers]})
		}
		_, err := send("PATCH", "/Groups/"+groupIDs[g], map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "Add", "path": "members", "value": vals}},
		})
		return err
	}); err != nil {
		return err
	}
	total := time.Since(start)
	fmt.Printf("total: %s for %d users, %d groups, %d memberships; failures %d; peak RSS %s\n",
		total.Round(time.Millisecond), nUsers, nGroups, perGroup*nGroups, failures.Load(), peakRSS())
	return nil
}

func report(name string, n int, d time.Duration, lat []time.Duration) {
	s := slices.Clone(lat)
	slices.Sort(s)
	p := func(q float64) time.Duration {
		if len(s) == 0 {
			return 0
		}
		return s[min(len(s)-1, int(q*float64(len(s))))]
	}
	fmt.Printf("%-28s %8d requests in %9s: %8.0f req/s, p50 %s, p99 %s\n", name, n, d.Round(time.Millisecond), float64(n)/d.Seconds(), p(0.5).Round(10*time.Microsecond), p(0.99).Round(10*time.Microsecond))
}

// peakRSS reads VmHWM of this process (server and generator).
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "?"
}
