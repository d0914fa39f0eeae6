// Command write-throughput measures single-change write requests per second
// (issue #15: group commit) against the real server wiring on loopback:
// -c clients (8) send add-member, grant, create-group and create-user
// requests, one change each, for -d; meanwhile one more client measures
// api/authz/check latency, compared with its idle value measured first.
// SQLite in a temporary directory by default; -database-url for PostgreSQL.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/server"
)

const adminPassword = "write-throughput-admin-42"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "write-throughput:", err)
		os.Exit(1)
	}
}

type client struct {
	base, token string
	http        *http.Client
}

func (c *client) post(path string, v url.Values) error {
	return c.send(path, "application/x-www-form-urlencoded", v.Encode())
}

func (c *client) postJSON(path, body string) error {
	return c.send(path, "application/json", body)
}

func (c *client) send(path, contentType, body string) error {
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, b)
	}
	return nil
}

func (c *client) check() (time.Duration, error) {
	req, _ := http.NewRequest(http.MethodGet, c.base+"api/authz/check?permission=admin", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), nil
}

func run() error {
	conc := flag.Int("c", 8, "concurrent writing clients")
	dur := flag.Duration("d", 10*time.Second, "how long the writes run")
	dbURL := flag.String("database-url", "", "PostgreSQL URL (a fresh database); SQLite when empty")
	users := flag.Int("users", 2000, "users created first (members and grantees)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the write phase to this file")
	flag.Parse()

	dir, err := os.MkdirTemp("", "write-throughput-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := server.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.AdminPassword, cfg.DatabaseURL = "127.0.0.1:0", dir, adminPassword, *dbURL
	cfg.LogLevel, cfg.AccessLog = "warn", false
	srv, err := server.New(ctx, cfg, cfg.NewLogger(os.Stderr), io.Discard, "bench")
	if err != nil {
		return err
	}
	go func() { _ = srv.Run(ctx) }()
	base := "http://" + srv.Addr() + "/"
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	c := &client{base: base, http: &http.Client{Transport: tr}}
	// A token, not the password: basic auth costs an argon2id hash.
	req, _ := http.NewRequest(http.MethodPost, base+"api/user_tokens/generate", strings.NewReader("name=bench"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("admin", adminPassword)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	var tok struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.Token == "" {
		return fmt.Errorf("no admin token (%d)", resp.StatusCode)
	}
	c.token = tok.Token

	// Setup: users (bulk), 100 groups, 100 projects.
	for i := 0; i < *users; i += 1000 {
		var items []string
		for j := i; j < min(i+1000, *users); j++ {
			items = append(items, fmt.Sprintf(`{"login":"u%d","name":"User %d"}`, j, j))
		}
		if err := c.postJSON("api/bulk/create_users", `{"items":[`+strings.Join(items, ",")+`]}`); err != nil {
			return err
		}
	}
	for i := range 100 {
		if err := c.post("api/user_groups/create", url.Values{"name": {fmt.Sprint("g", i)}}); err != nil {
			return err
		}
		if err := c.post("api/projects/create", url.Values{"project": {fmt.Sprint("p", i)}, "name": {fmt.Sprint("P", i)}}); err != nil {
			return err
		}
	}

	measure := func(stop <-chan struct{}) ([]time.Duration, error) {
		var ds []time.Duration
		for {
			select {
			case <-stop:
				return ds, nil
			default:
			}
			d, err := c.check()
			if err != nil {
				return ds, err
			}
			ds = append(ds, d)
		}
	}
	idleStop := make(chan struct{})
	time.AfterFunc(3*time.Second, func() { close(idleStop) })
	idle, err := measure(idleStop)
	if err != nil {
		return err
	}

	var seq, done, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range *conc {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := seq.Add(1)
				var err error
				switch n % 4 {
				case 0:
					err = c.post("api/user_groups/add_user", url.Values{"name": {fmt.Sprint("g", n%100)}, "login": {fmt.Sprint("u", (n/4)%int64(*users))}})
				case 1:
					err = c.post("api/permissions/add_user", url.Values{"projectKey": {fmt.Sprint("p", n%100)}, "login": {fmt.Sprint("u", (n/4)%int64(*users))}, "permission": {"scan"}})
				case 2:
					err = c.post("api/user_groups/create", url.Values{"name": {fmt.Sprint("new-", n)}})
				case 3:
					err = c.postJSON("api/bulk/create_users", fmt.Sprintf(`{"items":[{"login":"new%d","name":"New %d"}]}`, n, n))
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				done.Add(1)
			}
		})
	}
	var busy []time.Duration
	var merr error
	var mwg sync.WaitGroup
	mwg.Go(func() { busy, merr = measure(stop) })
	start := time.Now()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	time.Sleep(*dur)
	close(stop)
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	wg.Wait()
	mwg.Wait()
	elapsed := time.Since(start)
	if merr != nil {
		return merr
	}
	store := "sqlite"
	if *dbURL != "" {
		store = "postgres"
	}
	fmt.Printf("store %s, %d clients, %v: %d writes (%.0f/s), %d failed\n", store, *conc, elapsed.Round(time.Millisecond), done.Load(), float64(done.Load())/elapsed.Seconds(), failed.Load())
	if e := firstErr.Load(); e != nil {
		fmt.Printf("first failure: %v\n", e)
	}
	fmt.Printf("api/authz/check p99: idle %v, during writes %v (p50 %v → %v)\n", pct(idle, 0.99), pct(busy, 0.99), pct(idle, 0.5), pct(busy, 0.5))
	return nil
}

func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))].Round(time.Microsecond)
}
