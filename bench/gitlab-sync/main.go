// Command gitlab-sync measures the GitLab connector's Read against the
// GitLab simulator with a generated company-sized fixture (gitlabsim.Scale),
// a per-request latency and a rate limit: wall time, GitLab requests (and
// 429s), snapshot sizes and the reader's peak RSS.
//
//	go run ./bench/gitlab-sync                       # 2,000 and 20,000 users, 20 ms, 2,000 req/min
//	go run ./bench/gitlab-sync -users 20000 -project-members=false
//	go run ./bench/gitlab-sync -users 20000 -rate 0  # no rate limit: the request count and the latency-bound time
//
// The simulator and the reader run as child processes of this one, so the
// reader's peak RSS is its own. The simulator's rate limit has fixed
// one-minute windows aligned on the clock, as GitLab's: a read needing more
// requests than one window allows finishes in the next window or later, so
// the wall time depends on when in the minute it starts; -align starts it
// at the beginning of a window (the worst case for a read a little over
// one window).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/connector/gitlab"
	"github.com/gatehouse-dev/gatehouse/internal/gitlabsim"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

type result struct {
	Users, Groups, Projects          int // fixture
	SnapUsers, SnapGroups, SnapProjs int
	Memberships, Permissions         int
	Requests, RateLimited            int64
	Wall                             time.Duration
	PhaseSec                         float64 // seconds into the rate-limit window at start
	PeakRSSMiB                       float64
	SimRSSMiB                        float64
	Error                            string
	// With -apply: the first run's store writes, and the second run's
	// wall time, requests and writes.
	Writes, Writes2 int
	Wall2           time.Duration
	Requests2       int64
	Status, Status2 string
}

func main() {
	role := flag.String("role", "", "internal: sim or read")
	users := flag.String("users", "2000,20000", "comma-separated user counts (groups and projects scale: 15% and 150% of users)")
	latency := flag.Duration("latency", 20*time.Millisecond, "simulator latency per request")
	rate := flag.Int("rate", 2000, "rate limit, requests per minute (0: none)")
	conc := flag.Int("concurrency", 16, "requests in flight")
	projectMembers := flag.Bool("project-members", true, "read each project's direct members (readProjectMembers)")
	align := flag.Bool("align", false, "start each read at the beginning of a rate-limit window")
	url := flag.String("url", "", "internal: simulator URL for -role read")
	profile := flag.String("profile", "", "write the reader's CPU profile to this file, and its heap profile to the file .heap")
	addBatch := flag.Int("add-batch", 0, "with -apply: memberships or permissions added per transaction (0: the engine's default)")
	apply := flag.Bool("apply", false, "a full sync (read, plan, apply through the engine into SQLite in a temporary directory), then a second with no change, instead of the read alone")
	flag.Parse()
	var err error
	switch *role {
	case "sim":
		err = serveSim(*users, *latency, *rate)
	case "read":
		if *apply {
			err = syncTwice(*url, *conc, *projectMembers, *profile, *addBatch)
		} else {
			err = readOnce(*url, *conc, *projectMembers, *profile)
		}
	default:
		err = orchestrate(*users, *latency, *rate, *conc, *projectMembers, *align, *profile, *apply, *addBatch)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gitlab-sync:", err)
		os.Exit(1)
	}
}

func orchestrate(users string, latency time.Duration, rate, conc int, projectMembers, align bool, profile string, apply bool, addBatch int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("latency %v, rate limit %d/min, concurrency %d, readProjectMembers=%v\n\n", latency, rate, conc, projectMembers)
	fmt.Println("| users | groups | projects | requests | 429s | wall | window phase at start | memberships | permissions | reader peak RSS | simulator RSS |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	for _, n := range strings.Split(users, ",") {
		sim := exec.Command(self, "-role", "sim", "-users", n, "-latency", latency.String(), "-rate", strconv.Itoa(rate))
		sim.Stderr = os.Stderr
		out, err := sim.StdoutPipe()
		if err != nil {
			return err
		}
		if err := sim.Start(); err != nil {
			return err
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			_ = sim.Process.Kill()
			return fmt.Errorf("simulator: %w", err)
		}
		simURL := strings.TrimSpace(line)
		if align && rate > 0 {
			now := time.Now()
			time.Sleep(now.Truncate(time.Minute).Add(time.Minute).Sub(now) + 50*time.Millisecond)
		}
		rd := exec.Command(self, "-role", "read", "-url", simURL, "-concurrency", strconv.Itoa(conc), "-project-members="+strconv.FormatBool(projectMembers), "-profile", profile, "-apply="+strconv.FormatBool(apply), "-add-batch", strconv.Itoa(addBatch))
		rd.Stderr = os.Stderr
		b, err := rd.Output()
		var r result
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err == nil {
			r.SimRSSMiB = rssOf(sim.Process.Pid)
		}
		_ = sim.Process.Signal(syscall.SIGTERM)
		_ = sim.Wait()
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if r.Error != "" {
			fmt.Printf("| %s | | | %d | %d | %v | | | | | error: %s |\n", n, r.Requests, r.RateLimited, r.Wall.Round(time.Millisecond), r.Error)
			continue
		}
		if apply {
			fmt.Printf("| %s users | first sync %s: %.1f s, %d requests, %d 429s, %d store writes | second sync %s: %.1f s, %d requests, %d writes | peak RSS %.0f MiB |\n",
				n, r.Status, r.Wall.Seconds(), r.Requests, r.RateLimited, r.Writes, r.Status2, r.Wall2.Seconds(), r.Requests2, r.Writes2, r.PeakRSSMiB)
			continue
		}
		fmt.Printf("| %d | %d | %d | %d | %d | %.1f s | %.0f s | %d | %d | %.0f MiB | %.0f MiB |\n",
			r.SnapUsers, r.SnapGroups, r.SnapProjs, r.Requests, r.RateLimited, r.Wall.Seconds(), r.PhaseSec,
			r.Memberships, r.Permissions, r.PeakRSSMiB, r.SimRSSMiB)
	}
	return nil
}

// serveSim serves the scaled fixture on a loopback port, with /_bench/stats
// for the request counters, and prints its URL.
func serveSim(users string, latency time.Duration, rate int) error {
	n, err := strconv.Atoi(users)
	if err != nil {
		return err
	}
	sim, err := gitlabsim.New(gitlabsim.Scale(gitlabsim.ScaleOptions{Users: n, Seed: 1}), gitlabsim.Options{Latency: latency, RateLimit: rate})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", sim)
	mux.HandleFunc("GET /_bench/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("reset") != "" {
			sim.ResetStats()
		}
		_ = json.NewEncoder(w).Encode(sim.Stats())
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("http://%s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

func stats(url string, reset bool) (gitlabsim.Stats, error) {
	u := url + "/_bench/stats"
	if reset {
		u += "?reset=1"
	}
	resp, err := http.Get(u)
	if err != nil {
		return gitlabsim.Stats{}, err
	}
	defer resp.Body.Close()
	var s gitlabsim.Stats
	err = json.NewDecoder(resp.Body).Decode(&s)
	return s, err
}

// readOnce runs one Read and prints its result as JSON.
func readOnce(url string, conc int, projectMembers bool, profile string) error {
	if _, err := stats(url, true); err != nil {
		return err
	}
	c := gitlab.Connector{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Concurrency: conc}
	src, err := c.Open(context.Background(), syncSettings(url, projectMembers))
	if err != nil {
		return err
	}
	if _, err := stats(url, true); err != nil {
		return err
	}
	stop, err := startProfile(profile)
	if err != nil {
		return err
	}
	defer stop()
	start := time.Now()
	phase := float64(start.UnixNano()%int64(time.Minute)) / 1e9
	snap, err := src.Read(context.Background())
	wall := time.Since(start)
	st, serr := stats(url, false)
	if serr != nil {
		return serr
	}
	r := result{Wall: wall, PhaseSec: phase, Requests: st.Requests, RateLimited: st.RateLimited, PeakRSSMiB: peakRSS()}
	if err != nil {
		r.Error = err.Error()
	} else {
		r.SnapUsers, r.SnapGroups, r.SnapProjs = len(snap.Users), len(snap.Groups), len(snap.Projects)
		r.Memberships, r.Permissions = len(snap.Memberships), len(snap.Permissions)
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// syncSettings are the GitLab settings of a sync of every root group of
// the simulator at url.
func syncSettings(url string, projectMembers bool) map[string]string {
	return map[string]string{
		gitlab.SettingURL: url, gitlab.SettingToken: "glpat-sync-token", gitlab.SettingSyncEnabled: "true",
		gitlab.SettingAllowedGroups: allRoots(url), gitlab.SettingReadProjectMembers: strconv.FormatBool(projectMembers),
	}
}

// startProfile writes a CPU profile to file until stop is called, and then
// the allocation profile to file.heap; without a file it does nothing.
func startProfile(file string) (stop func(), err error) {
	if file == "" {
		return func() {}, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		if h, err := os.Create(file + ".heap"); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(h, 0)
			h.Close()
		}
	}, nil
}

// allRoots lists the simulator's root groups (org00, org01, …) the way an
// administrator would type them: by reading GET /groups?top_level_only.
func allRoots(url string) string {
	req, _ := http.NewRequest(http.MethodGet, url+"/api/v4/groups?top_level_only=true&per_page=100", nil)
	req.Header.Set("PRIVATE-TOKEN", "glpat-sync-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var gs []struct {
		FullPath string `json:"full_path"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&gs)
	var out []string
	for _, g := range gs {
		out = append(out, g.FullPath)
	}
	return strings.Join(out, ",")
}

func peakRSS() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}

// rssOf reads a process's peak RSS (VmHWM) from /proc.
func rssOf(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// syncTwice runs a first full sync of the simulator through the
// provisioning engine into a fresh SQLite store, then a second with no
// change, and prints the result.
func syncTwice(url string, conc int, projectMembers bool, profile string, addBatch int) error {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The engine's line per run says where the time went.
	engineLog := slog.New(slog.NewTextHandler(os.Stderr, nil))
	dir, err := os.MkdirTemp("", "gitlab-sync-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "gatehouse.db"), log)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	st, err := state.New(ctx, db, state.Options{Logger: log})
	if err != nil {
		return err
	}
	// The settings come as the deployment's defaults: no secret key is
	// needed to hold the token.
	eng, err := provision.New(ctx, st, map[identity.Source]provision.SourceConfig{identity.SourceGitLab: {
		Connector: gitlab.Connector{Logger: log, Concurrency: conc},
		Defaults:  syncSettings(url, projectMembers),
	}}, provision.Config{Logger: engineLog, AddBatchSize: addBatch})
	if err != nil {
		return err
	}
	stop, err := startProfile(profile)
	if err != nil {
		return err
	}
	defer stop()
	var r result
	for i := range 2 {
		if _, err := stats(url, true); err != nil {
			return err
		}
		start := time.Now()
		run, err := eng.RunOnce(ctx, identity.SourceGitLab, provision.RunOptions{Trigger: identity.TriggerManual})
		wall := time.Since(start)
		sst, serr := stats(url, false)
		if serr != nil {
			return serr
		}
		if err != nil {
			r.Error = err.Error()
			break
		}
		if i == 0 {
			r.Wall, r.Requests, r.RateLimited, r.Writes, r.Status = wall, sst.Requests, sst.RateLimited, run.Counts.Writes, string(run.Status)
			r.PhaseSec = float64(start.UnixNano()%int64(time.Minute)) / 1e9
		} else {
			r.Wall2, r.Requests2, r.Writes2, r.Status2 = wall, sst.Requests, run.Counts.Writes, string(run.Status)
		}
		if run.Status != identity.SyncSuccess {
			r.Error = fmt.Sprintf("run %d: %s %v", i+1, run.Status, run.Errors)
			break
		}
	}
	r.PeakRSSMiB = peakRSS()
	return json.NewEncoder(os.Stdout).Encode(r)
}
