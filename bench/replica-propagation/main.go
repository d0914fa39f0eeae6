// Command replica-propagation measures how fast a change made on one
// Gatehouse replica is seen by another sharing the same PostgreSQL (issue #7
// item 2), and what applying peer changes costs the other replica's
// decisions.
//
// It loads a generated data set (dataset.Standard unless -small) into a
// fresh schema of the PostgreSQL server at -database-url, starts two real
// `gatehouse serve` processes (-gatehouse) on loopback over it, and then,
// idle and again under -rate background writes a second on replica A:
//
//   - adds a data-set user to a group holding a global permission on A and
//     polls B with the user's token until B allows it (membership added);
//   - removes the membership on A and polls B until it refuses (removal);
//   - generates a token for the user on A and polls B with it until B
//     accepts it (token creation);
//   - revokes that token on A and polls B until B refuses it (revocation).
//
// Each time runs from the start of A's write request to B's first answer
// showing the change. Meanwhile -check-conns clients ask B
// api/authz/check with random data-set tokens and public projects without
// pause; their latency is reported per phase. It talks only to loopback and
// stops by itself; the schema is dropped at the end.
package main

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse-dev/gatehouse/internal/dataset"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

const adminPassword = "replica-propagation-admin-42"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "replica-propagation:", err)
		os.Exit(1)
	}
}

type options struct {
	dbURL, bin string
	n          int
	rate       float64
	checkConns int
	small      bool
	timeout    time.Duration
}

func run() error {
	var o options
	flag.StringVar(&o.dbURL, "database-url", os.Getenv("GATEHOUSE_TEST_POSTGRES"), "PostgreSQL URL; a fresh schema is made in it and dropped at the end")
	flag.StringVar(&o.bin, "gatehouse", "", "the gatehouse binary to run (twice)")
	flag.IntVar(&o.n, "n", 100, "probes of each kind per phase")
	flag.Float64Var(&o.rate, "rate", 20, "background writes per second on A in the loaded phase")
	flag.IntVar(&o.checkConns, "check-conns", 2, "clients asking B api/authz/check without pause")
	flag.BoolVar(&o.small, "small", false, "a small data set (a quick try) instead of dataset.Standard")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "give up on one probe after this long")
	flag.Parse()
	if o.dbURL == "" || o.bin == "" {
		return errors.New("-database-url and -gatehouse are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	dbURL, drop, err := freshSchema(ctx, o.dbURL)
	if err != nil {
		return err
	}
	defer drop()

	size := dataset.Standard
	if o.small {
		size = dataset.Size{Users: 200, Groups: 20, Projects: 100, Memberships: 2000, Grants: 4000, Tokens: 200}
	}
	start := time.Now()
	set, err := dataset.Generate(size, 1)
	if err != nil {
		return err
	}
	if err := load(ctx, dbURL, set); err != nil {
		return err
	}
	fmt.Printf("loaded %d users, %d groups, %d projects, %d memberships, %d grants, %d tokens into PostgreSQL in %v\n",
		len(set.Snapshot.Users), len(set.Snapshot.Groups), len(set.Snapshot.Projects), len(set.Snapshot.Memberships),
		len(set.Snapshot.Grants), len(set.Snapshot.Tokens), time.Since(start).Round(time.Millisecond))

	work, err := os.MkdirTemp("", "replica-propagation-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	a, err := startReplica(ctx, o.bin, dbURL, filepath.Join(work, "a"))
	if err != nil {
		return err
	}
	defer a.stop()
	b, err := startReplica(ctx, o.bin, dbURL, filepath.Join(work, "b"))
	if err != nil {
		return err
	}
	defer b.stop()
	fmt.Printf("replicas: A %s (pid %d), B %s (pid %d)\n", a.base, a.cmd.Process.Pid, b.base, b.cmd.Process.Pid)

	f, err := newFixture(ctx, a, b, set, o)
	if err != nil {
		return err
	}
	checks := f.startChecks(o.checkConns)
	phases := []struct {
		name string
		rate float64
	}{{"idle", 0}, {fmt.Sprintf("%g writes/s on A", o.rate), o.rate}}
	for _, ph := range phases {
		stopWrites := f.startWrites(ph.rate)
		checks.mark()
		res, err := f.probe(ctx, o.n)
		checkLat := checks.mark()
		writes, werr := stopWrites()
		if err != nil {
			return err
		}
		if werr != nil {
			return fmt.Errorf("background writes: %w", werr)
		}
		fmt.Printf("\n== %s (%d background writes, %d probes of each kind)\n", ph.name, writes, o.n)
		fmt.Printf("%-22s %8s %8s %8s %8s\n", "seen on B after", "p50", "p90", "p99", "max")
		for _, k := range probeKinds {
			ds := res[k]
			fmt.Printf("%-22s %8v %8v %8v %8v\n", k, pct(ds, 0.5), pct(ds, 0.9), pct(ds, 0.99), pct(ds, 1))
		}
		fmt.Printf("B api/authz/check: %d checks, p50 %v, p99 %v, p99.9 %v, max %v\n",
			len(checkLat), pct(checkLat, 0.5), pct(checkLat, 0.99), pct(checkLat, 0.999), pct(checkLat, 1))
	}
	checks.stop()
	fmt.Printf("\nB's log: %d full index rebuilds or reloads after start-up\n", b.rebuilds()-1)
	return nil
}

// freshSchema creates a schema on the server at u and returns a URL whose
// connections use it, and a function dropping it.
func freshSchema(ctx context.Context, u string) (string, func(), error) {
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		return "", nil, fmt.Errorf("parse -database-url: %w", err)
	}
	admin := stdlib.OpenDB(*cfg)
	var b [6]byte
	_, _ = crand.Read(b[:])
	schema := "gh_bench_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	drop := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(dctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			fmt.Fprintln(os.Stderr, "drop schema:", err)
		}
		admin.Close()
	}
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "postgres" && pu.Scheme != "postgresql") {
		drop()
		return "", nil, fmt.Errorf("-database-url must be a postgres:// URL")
	}
	q := pu.Query()
	q.Set("search_path", schema)
	pu.RawQuery = q.Encode()
	return pu.String(), drop, nil
}

func load(ctx context.Context, dbURL string, set *dataset.Set) error {
	db, err := sqlstore.OpenPostgres(ctx, dbURL, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	// The administrator first: a server creates it only on an empty store.
	st, err := state.New(ctx, db, state.Options{})
	if err != nil {
		return err
	}
	if err := server.Bootstrap(ctx, st, adminPassword, io.Discard); err != nil {
		return err
	}
	_, err = dataset.Load(ctx, db, set)
	return err
}

// replica is one running gatehouse process.
type replica struct {
	cmd  *exec.Cmd
	base string
	log  string
}

func startReplica(ctx context.Context, bin, dbURL, dir string) (*replica, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(os.Environ(),
		"GATEHOUSE_ADDR="+addr, "GATEHOUSE_DATABASE_URL="+dbURL, "GATEHOUSE_DATA_DIR="+dir,
		"GATEHOUSE_ADMIN_PASSWORD="+adminPassword, "GATEHOUSE_LOG_LEVEL=info", "GATEHOUSE_ACCESS_LOG=false")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	r := &replica{cmd: cmd, base: "http://" + addr + "/", log: logPath}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		resp, err := http.Get(r.base + "healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r, nil
			}
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			r.stop()
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("replica on %s did not start: %s", addr, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *replica) stop() {
	if r.cmd.Process != nil && r.cmd.ProcessState == nil {
		_ = r.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = r.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = r.cmd.Process.Kill()
		}
	}
}

// rebuilds counts the full index rebuilds B logged (this tree's "index
// rebuilt", older trees' "index reloaded after a peer's write").
func (r *replica) rebuilds() int {
	f, err := os.Open(r.log)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); strings.Contains(l, "index rebuilt") || strings.Contains(l, "index reloaded") {
			n++
		}
	}
	return n
}

// client is an HTTP client of one replica with one credential.
type client struct {
	base, token string
	http        *http.Client
}

func (c *client) do(method, path string, form url.Values) (int, []byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return 0, nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (c *client) post(path string, form url.Values) ([]byte, error) {
	code, b, err := c.do(http.MethodPost, path, form)
	if err == nil && code >= 300 {
		err = fmt.Errorf("%s: %d %s", path, code, b)
	}
	return b, err
}

func (c *client) as(token string) *client { return &client{base: c.base, token: token, http: c.http} }

// allowed asks api/authz/check; ok is false when the credential is refused.
func (c *client) allowed(query string) (allowed, ok bool, err error) {
	code, b, err := c.do(http.MethodGet, "api/authz/check?"+query, nil)
	if err != nil {
		return false, false, err
	}
	switch code {
	case http.StatusOK:
		var r struct{ Allowed bool }
		if err := json.Unmarshal(b, &r); err != nil {
			return false, false, err
		}
		return r.Allowed, true, nil
	case http.StatusUnauthorized:
		return false, false, nil
	}
	return false, false, fmt.Errorf("api/authz/check: %d %s", code, b)
}

type fixture struct {
	a, b     *client // admin on A, and on B
	users    []probeUser
	groups   []string
	projects []string // public ones
	secrets  []string // every data-set user token
	logins   []string
	timeout  time.Duration
}

type probeUser struct{ login, secret string }

func newFixture(ctx context.Context, ra, rb *replica, set *dataset.Set, o options) (*fixture, error) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	a := &client{base: ra.base, http: hc}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"api/user_tokens/generate", strings.NewReader("name=replica-propagation"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("admin", adminPassword)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	var tok struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.Token == "" {
		return nil, fmt.Errorf("no admin token (%d)", resp.StatusCode)
	}
	a.token = tok.Token
	b := &client{base: rb.base, token: tok.Token, http: hc}
	f := &fixture{a: a, b: b, timeout: o.timeout}
	// The admin token reaches B like any other change.
	if _, err := f.waitB(func() (bool, error) { _, ok, err := b.allowed("permission=admin"); return ok, err }); err != nil {
		return nil, fmt.Errorf("admin token on B: %w", err)
	}

	logins := map[int64]string{}
	for _, u := range set.Snapshot.Users {
		logins[u.ID] = u.Login
		f.logins = append(f.logins, u.Login)
	}
	for i, t := range set.Snapshot.Tokens {
		if t.Type != identity.TokenUser {
			continue
		}
		f.secrets = append(f.secrets, set.Secrets[i])
		if len(f.users) < 50 {
			f.users = append(f.users, probeUser{login: logins[t.UserID], secret: set.Secrets[i]})
		}
	}
	for _, g := range set.Snapshot.Groups {
		if g.Name != identity.GroupAdministrators && g.Name != identity.GroupUsers {
			f.groups = append(f.groups, g.Name)
		}
	}
	for _, p := range set.Snapshot.Projects {
		if p.Visibility == identity.Public {
			f.projects = append(f.projects, p.Key)
		}
	}
	// The probe group holds one global permission, gateadmin; the probe
	// users are those the data set gives it to in no other way.
	if _, err := a.post("api/user_groups/create", url.Values{"name": {"probe"}}); err != nil {
		return nil, err
	}
	if _, err := a.post("api/permissions/add_group", url.Values{"groupName": {"probe"}, "permission": {"gateadmin"}}); err != nil {
		return nil, err
	}
	var usable []probeUser
	for _, u := range f.users {
		allowed, ok, err := a.as(u.secret).allowed("permission=gateadmin")
		if err != nil {
			return nil, err
		}
		if ok && !allowed {
			usable = append(usable, u)
		}
	}
	if len(usable) == 0 {
		return nil, errors.New("no data-set user lacks gateadmin")
	}
	f.users = usable
	return f, nil
}

// waitB polls B until seen reports true and returns when it did.
func (f *fixture) waitB(seen func() (bool, error)) (time.Time, error) {
	deadline := time.Now().Add(f.timeout)
	for {
		ok, err := seen()
		if err != nil {
			return time.Time{}, err
		}
		if ok {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("not seen on B within %v", f.timeout)
		}
		time.Sleep(time.Millisecond) // a probe is one loopback request
	}
}

var probeKinds = []string{"membership added", "membership removed", "token created", "token revoked"}

// probe runs n rounds of the four changes and returns, per kind, the times
// from the start of A's write to B's first answer showing it.
func (f *fixture) probe(ctx context.Context, n int) (map[string][]time.Duration, error) {
	res := map[string][]time.Duration{}
	measure := func(kind string, write func() error, seen func() (bool, error)) error {
		start := time.Now()
		if err := write(); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		at, err := f.waitB(seen)
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		res[kind] = append(res[kind], at.Sub(start))
		return nil
	}
	for i := range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		u := f.users[i%len(f.users)]
		onB := f.b.as(u.secret)
		member := url.Values{"name": {"probe"}, "login": {u.login}}
		if err := measure("membership added", func() error { _, err := f.a.post("api/user_groups/add_user", member); return err },
			func() (bool, error) { ok, _, err := onB.allowed("permission=gateadmin"); return ok, err }); err != nil {
			return nil, err
		}
		// Not in step with B's polling.
		time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
		if err := measure("membership removed", func() error { _, err := f.a.post("api/user_groups/remove_user", member); return err },
			func() (bool, error) { ok, _, err := onB.allowed("permission=gateadmin"); return !ok, err }); err != nil {
			return nil, err
		}
		time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
		name := fmt.Sprintf("probe-%d-%d", time.Now().UnixNano(), i)
		var secret string
		if err := measure("token created", func() error {
			b, err := f.a.post("api/user_tokens/generate", url.Values{"login": {u.login}, "name": {name}})
			if err != nil {
				return err
			}
			var t struct{ Token string }
			if err := json.Unmarshal(b, &t); err != nil || t.Token == "" {
				return fmt.Errorf("no token in %s", b)
			}
			secret = t.Token
			return nil
		}, func() (bool, error) { _, ok, err := f.b.as(secret).allowed("permission=scan"); return ok, err }); err != nil {
			return nil, err
		}
		time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
		if err := measure("token revoked", func() error {
			_, err := f.a.post("api/user_tokens/revoke", url.Values{"login": {u.login}, "name": {name}})
			return err
		}, func() (bool, error) { _, ok, err := f.b.as(secret).allowed("permission=scan"); return !ok, err }); err != nil {
			return nil, err
		}
		time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
	}
	return res, nil
}

// startWrites sends rate writes a second to A (none when rate is 0) until
// the returned function is called, which reports how many it sent. The
// writes change what B's decisions depend on: memberships and project
// grants of data-set users and groups, added and removed in turn.
func (f *fixture) startWrites(rate float64) func() (int, error) {
	if rate <= 0 {
		return func() (int, error) { return 0, nil }
	}
	stop := make(chan struct{})
	var (
		wg    sync.WaitGroup
		sent  atomic.Int64
		first atomic.Value
	)
	wg.Go(func() {
		tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer tick.Stop()
		var inflight sync.WaitGroup
		defer inflight.Wait()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			login := f.logins[(i/2)%len(f.logins)]
			var path string
			var form url.Values
			switch add := i%2 == 0; (i / 2) % 2 {
			case 0:
				path = "api/user_groups/" + map[bool]string{true: "add_user", false: "remove_user"}[add]
				form = url.Values{"name": {f.groups[(i/4)%len(f.groups)]}, "login": {login}}
			default:
				path = "api/permissions/" + map[bool]string{true: "add_user", false: "remove_user"}[add]
				form = url.Values{"projectKey": {f.projects[(i/4)%len(f.projects)]}, "login": {login}, "permission": {"issueadmin"}}
			}
			// Open loop: a slow write does not lower the rate.
			inflight.Go(func() {
				if _, err := f.a.post(path, form); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
				sent.Add(1)
			})
		}
	})
	return func() (int, error) {
		close(stop)
		wg.Wait()
		err, _ := first.Load().(error)
		return int(sent.Load()), err
	}
}

// checks are clients asking B api/authz/check without pause.
type checks struct {
	mu   sync.Mutex
	lat  []time.Duration
	quit chan struct{}
	wg   sync.WaitGroup
}

func (f *fixture) startChecks(conns int) *checks {
	c := &checks{quit: make(chan struct{})}
	for w := range conns {
		c.wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-c.quit:
					return
				default:
				}
				q := "permission=scan&projectKey=" + url.QueryEscape(f.projects[rng.IntN(len(f.projects))])
				cl := f.b.as(f.secrets[rng.IntN(len(f.secrets))])
				start := time.Now()
				if _, _, err := cl.allowed(q); err != nil {
					continue
				}
				d := time.Since(start)
				c.mu.Lock()
				c.lat = append(c.lat, d)
				c.mu.Unlock()
			}
		})
	}
	return c
}

// mark returns the latencies since the last mark.
func (c *checks) mark() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.lat
	c.lat = nil
	return out
}

func (c *checks) stop() { close(c.quit); c.wg.Wait() }

func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))].Round(10 * time.Microsecond)
}
