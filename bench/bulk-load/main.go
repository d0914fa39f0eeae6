// Command bulk-load measures loading a generated data set into a fresh
// Gatehouse through its Web API, as an identity provider or an import
// would: users without passwords, memberships and grants through the
// api/bulk actions (1,000 items a request), groups and projects through
// their single-item actions, with -c concurrent clients. It starts the real
// server wiring on SQLite in a temporary directory, on loopback.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/dataset"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/server"
)

const adminPassword = "bulk-load-admin-42"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bulk-load:", err)
		os.Exit(1)
	}
}

func run() error {
	conc := flag.Int("c", 4, "concurrent clients")
	small := flag.Bool("small", false, "a small data set instead of dataset.Standard")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the load to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	size := dataset.Standard
	if *small {
		size = dataset.Size{Users: 2000, Groups: 200, Projects: 1000, Memberships: 20000, Grants: 40000}
	}
	set, err := dataset.Generate(size, 1)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bulk-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := server.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.AdminPassword = "127.0.0.1:0", dir, adminPassword
	cfg.LogLevel, cfg.AccessLog = "warn", false
	srv, err := server.New(ctx, cfg, cfg.NewLogger(os.Stderr), io.Discard, "bench")
	if err != nil {
		return err
	}
	go func() { _ = srv.Run(ctx) }()
	base := "http://" + srv.Addr() + "/"
	// A token, not the password: basic auth with a password costs one
	// argon2id hash per request.
	if err := adminToken(base); err != nil {
		return err
	}
	snap := set.Snapshot

	users := map[int64]string{}
	groups := map[int64]string{}
	projects := map[int64]string{}
	for _, u := range snap.Users {
		users[u.ID] = u.Login
	}
	for _, g := range snap.Groups {
		groups[g.ID] = g.Name
	}
	for _, p := range snap.Projects {
		projects[p.ID] = p.Key
	}
	var jobs []func() error
	phase := func(name string, n int, js []func() error) error {
		start := time.Now()
		if err := runAll(*conc, js); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		d := time.Since(start)
		fmt.Printf("%-12s %7d items %5d requests %8.2fs %9.0f items/s\n", name, n, len(js), d.Seconds(), float64(n)/d.Seconds())
		return nil
	}
	total := time.Now()

	// Users, 1,000 a request, without passwords.
	jobs = nil
	var items []any
	nUsers := 0
	for _, u := range snap.Users {
		if u.Login == "admin" {
			continue
		}
		items = append(items, map[string]any{"login": u.Login, "name": u.Name, "email": u.Email})
		nUsers++
	}
	jobs = chunks(base+"api/bulk/create_users", items)
	if err := phase("users", nUsers, jobs); err != nil {
		return err
	}
	jobs = nil
	nGroups := 0
	for _, g := range snap.Groups {
		if g.BuiltIn() {
			continue
		}
		nGroups++
		jobs = append(jobs, form(base+"api/user_groups/create", url.Values{"name": {g.Name}, "description": {g.Description}}))
	}
	if err := phase("groups", nGroups, jobs); err != nil {
		return err
	}
	jobs = nil
	for _, p := range snap.Projects {
		jobs = append(jobs, form(base+"api/projects/create", url.Values{"project": {p.Key}, "name": {p.Name}, "visibility": {string(p.Visibility)}}))
	}
	if err := phase("projects", len(snap.Projects), jobs); err != nil {
		return err
	}
	items = nil
	for _, m := range snap.Memberships {
		if groups[m.GroupID] == identity.GroupUsers {
			continue
		}
		items = append(items, map[string]string{"group": groups[m.GroupID], "login": users[m.UserID]})
	}
	if err := phase("memberships", len(items), chunks(base+"api/bulk/add_group_members", items)); err != nil {
		return err
	}
	items = nil
	for _, g := range snap.Grants {
		it := map[string]string{"permission": string(g.Permission)}
		if g.ProjectID != 0 {
			it["projectKey"] = projects[g.ProjectID]
		}
		switch g.Subject.Kind {
		case identity.SubjectUser:
			it["login"] = users[g.Subject.ID]
		case identity.SubjectGroup:
			it["group"] = groups[g.Subject.ID]
		default:
			it["group"] = identity.GroupAnyone
		}
		items = append(items, it)
	}
	if err := phase("grants", len(items), chunks(base+"api/bulk/add_permissions", items)); err != nil {
		return err
	}
	fmt.Printf("total %.2fs (c=%d)\n", time.Since(total).Seconds(), *conc)
	return nil
}

// chunks returns one bulk request per 1,000 items.
func chunks(u string, items []any) []func() error {
	var out []func() error
	for len(items) > 0 {
		n := min(1000, len(items))
		body, _ := json.Marshal(map[string]any{"items": items[:n]})
		items = items[n:]
		out = append(out, func() error { return post(u, "application/json", body, true) })
	}
	return out
}

func form(u string, v url.Values) func() error {
	return func() error { return post(u, "application/x-www-form-urlencoded", []byte(v.Encode()), false) }
}

func post(u, ct string, body []byte, bulk bool) error {
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s: %d %s", u, resp.StatusCode, b)
	}
	if bulk {
		var a struct {
			Summary struct{ Failed int } `json:"summary"`
		}
		if err := json.Unmarshal(b, &a); err != nil || a.Summary.Failed > 0 {
			return fmt.Errorf("%s: items failed: %.300s", u, b)
		}
	}
	return nil
}

// runAll runs jobs on c workers and returns the first error.
func runAll(c int, jobs []func() error) error {
	var wg sync.WaitGroup
	ch := make(chan func() error)
	var mu sync.Mutex
	var first error
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				if err := j(); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	return first
}

var token string

func adminToken(base string) error {
	req, err := http.NewRequest(http.MethodPost, base+"api/user_tokens/generate", strings.NewReader("name=bulk-load"))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("admin", adminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var t struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil || t.Token == "" {
		return fmt.Errorf("generate a token: %d %v", resp.StatusCode, err)
	}
	token = t.Token
	return nil
}
