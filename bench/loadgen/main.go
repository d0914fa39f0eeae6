// Command loadgen is a small closed-loop HTTP/1.1 load generator for
// Gatehouse benchmarks. Each of -c connections is kept alive and sends one
// request at a time (no pipelining), drawn from a fixed list built from
// project keys and token secrets; it runs for -d (or until -n requests) and
// stops by itself. It reports throughput, latency percentiles and, given
// -server-pid, the CPU time the server and the generator itself used during
// the measured window (from /proc/<pid>/stat).
//
// It speaks just enough HTTP/1.1 (Content-Length bodies) to keep its own CPU
// cost low: on a small machine the generator shares the cores with the
// server, and net/http's client would cost more than the server under test.
// It only connects to loopback addresses.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// maxDuration bounds a run, so a mistyped flag cannot load a machine for
// hours.
const maxDuration = 10 * time.Minute

type options struct {
	base        *url.URL
	path        string // with %KEY% standing for a project key
	conns       int
	duration    time.Duration
	warmup      time.Duration
	requests    int64
	keys        []string
	secrets     []string
	variants    int
	serverPID   int
	procs       int
	expect200   bool
	showSamples bool
}

func run() error {
	target := flag.String("url", "http://127.0.0.1:9123", "server base URL (loopback only)")
	path := flag.String("path", "/api/authz/check?permission=scan&projectKey=%KEY%", "request path; %KEY% is replaced by a project key")
	conns := flag.Int("c", 32, "connections (each sends one request at a time)")
	dur := flag.Duration("d", 10*time.Second, "measured duration (at most 10m)")
	warmup := flag.Duration("warmup", 2*time.Second, "unmeasured warm-up before the measured window")
	n := flag.Int64("n", 0, "stop after this many measured requests (0: run for -d)")
	keysFile := flag.String("keys", "", "file of project keys, one per line")
	secretsFile := flag.String("secrets", "", "file of token secrets, one per line (sent as Bearer)")
	variants := flag.Int("variants", 65536, "distinct requests to pre-build from random (key, secret) pairs")
	pid := flag.Int("server-pid", 0, "server process id, to report its CPU time")
	procs := flag.Int("procs", 1, "GOMAXPROCS of the generator")
	expect := flag.Bool("expect-200", true, "count any status but 200 as an error")
	samples := flag.Bool("show", false, "print one response body and exit")
	flag.Parse()

	u, err := url.Parse(*target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("-url %q: want http://host:port", *target)
	}
	if err := loopbackOnly(u.Hostname()); err != nil {
		return err
	}
	if u.Port() == "" {
		u.Host += ":80"
	}
	if *conns < 1 || *conns > 4096 {
		return errors.New("-c must be between 1 and 4096")
	}
	if *dur <= 0 || *dur > maxDuration || *warmup < 0 || *warmup > time.Minute {
		return fmt.Errorf("-d must be in (0, %v] and -warmup in [0, 1m]", maxDuration)
	}
	o := options{base: u, path: *path, conns: *conns, duration: *dur, warmup: *warmup, requests: *n,
		variants: max(*variants, 1), serverPID: *pid, procs: max(*procs, 1), expect200: *expect, showSamples: *samples}
	if o.keys, err = readLines(*keysFile); err != nil {
		return err
	}
	if o.secrets, err = readLines(*secretsFile); err != nil {
		return err
	}
	runtime.GOMAXPROCS(o.procs)
	return load(o)
}

func loopbackOnly(host string) error {
	ips, err := net.LookupIP(host)
	if err != nil {
		return fmt.Errorf("resolve %q: %w", host, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("%q resolves to %v: loadgen only targets loopback addresses", host, ip)
		}
	}
	return nil
}

func readLines(name string) ([]string, error) {
	if name == "" {
		return nil, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out, nil
}

// buildRequests pre-renders the raw requests, so the hot loop only writes
// bytes.
func buildRequests(o options) [][]byte {
	rng := rand.New(rand.NewPCG(42, 42))
	n := o.variants
	if len(o.keys) == 0 && len(o.secrets) <= 1 {
		n = 1
	}
	reqs := make([][]byte, n)
	for i := range reqs {
		p := o.path
		if len(o.keys) > 0 {
			p = strings.ReplaceAll(p, "%KEY%", url.QueryEscape(o.keys[rng.IntN(len(o.keys))]))
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gatehouse-loadgen\r\n", p, o.base.Host)
		if len(o.secrets) > 0 {
			fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", o.secrets[rng.IntN(len(o.secrets))])
		}
		b.WriteString("\r\n")
		reqs[i] = b.Bytes()
	}
	return reqs
}

// histogram counts latencies in 1 µs buckets up to 20 ms, then 1 ms buckets
// up to 10 s; it is per worker, merged at the end.
type histogram struct {
	fine   [20_000]uint64
	coarse [10_000]uint64
	max    time.Duration
}

func (h *histogram) add(d time.Duration) {
	us := d.Microseconds()
	switch {
	case us < int64(len(h.fine)):
		h.fine[us]++
	case d.Milliseconds() < int64(len(h.coarse)):
		h.coarse[d.Milliseconds()]++
	default:
		h.coarse[len(h.coarse)-1]++
	}
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i := range h.fine {
		h.fine[i] += o.fine[i]
	}
	for i := range h.coarse {
		h.coarse[i] += o.coarse[i]
	}
	h.max = max(h.max, o.max)
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h *histogram) quantile(q float64, total uint64) time.Duration {
	rank := uint64(q*float64(total) + 0.5)
	var seen uint64
	for i, c := range h.fine {
		if seen += c; seen >= rank && c > 0 {
			return time.Duration(i+1) * time.Microsecond
		}
	}
	for i, c := range h.coarse {
		if seen += c; seen >= rank && c > 0 {
			return time.Duration(i+1) * time.Millisecond
		}
	}
	return h.max
}

type worker struct {
	expect200 bool
	hist      histogram
	ok, errs  uint64
	statuses  map[int]uint64
	lastErr   error
}

func load(o options) error {
	reqs := buildRequests(o)
	if o.showSamples {
		return showOne(o, reqs[0])
	}
	var (
		measuring atomic.Bool
		stopped   atomic.Bool
		measured  atomic.Int64
		wg        sync.WaitGroup
	)
	workers := make([]*worker, o.conns)
	for i := range workers {
		w := &worker{expect200: o.expect200, statuses: map[int]uint64{}}
		workers[i] = w
		conn, err := net.Dial("tcp", o.base.Host)
		if err != nil {
			return err
		}
		defer conn.Close()
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			w.loop(conn, reqs, i, &measuring, &stopped, &measured, o.requests)
		}(i)
	}

	time.Sleep(o.warmup)
	cpu0, err := cpuTimes(o.serverPID)
	if err != nil {
		return err
	}
	for _, w := range workers { // forget the warm-up
		*w = worker{expect200: o.expect200, statuses: map[int]uint64{}}
	}
	start := time.Now()
	measuring.Store(true)
	deadline := time.NewTimer(o.duration)
	tick := time.NewTicker(10 * time.Millisecond)
	for done := false; !done; {
		select {
		case <-deadline.C:
			done = true
		case <-tick.C:
			done = o.requests > 0 && measured.Load() >= o.requests
		}
	}
	tick.Stop()
	measuring.Store(false)
	elapsed := time.Since(start)
	cpu1, err := cpuTimes(o.serverPID)
	if err != nil {
		return err
	}
	stopped.Store(true)
	wg.Wait()

	var total worker
	total.statuses = map[int]uint64{}
	for _, w := range workers {
		total.hist.merge(&w.hist)
		total.ok += w.ok
		total.errs += w.errs
		for k, v := range w.statuses {
			total.statuses[k] += v
		}
		if w.lastErr != nil {
			total.lastErr = w.lastErr
		}
	}
	report(o, &total, len(reqs), elapsed, cpu0, cpu1)
	if total.ok == 0 {
		return errors.New("no successful request")
	}
	return nil
}

// loop sends requests on one connection until stopped. The race between the
// warm-up reset and a request in flight is harmless: the first measured
// sample may start in the warm-up.
func (w *worker) loop(conn net.Conn, reqs [][]byte, seed int, measuring, stopped *atomic.Bool, measured *atomic.Int64, limit int64) {
	r := bufio.NewReaderSize(conn, 16<<10)
	i := seed * 7919
	for !stopped.Load() {
		req := reqs[i%len(reqs)]
		i++
		t0 := time.Now()
		if _, err := conn.Write(req); err != nil {
			w.lastErr = err
			w.errs++
			return
		}
		status, err := readResponse(r)
		d := time.Since(t0)
		if err != nil {
			w.lastErr = err
			w.errs++
			return
		}
		if !measuring.Load() {
			continue
		}
		if limit > 0 && measured.Add(1) > limit {
			continue
		}
		w.hist.add(d)
		w.statuses[status]++
		if status == 200 || !w.expect200 {
			w.ok++
		} else {
			w.errs++
		}
	}
}

// readResponse reads one response with a Content-Length body and returns its
// status.
func readResponse(r *bufio.Reader) (int, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		line, err = r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && (line[0] == 'C' || line[0] == 'c') && bytes.EqualFold(line[:15], []byte("Content-Length:")) {
			length, err = strconv.Atoi(string(bytes.TrimSpace(line[15:])))
			if err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", line)
			}
		}
	}
	if length < 0 {
		return 0, errors.New("response without Content-Length (chunked bodies are not supported)")
	}
	if _, err := r.Discard(length); err != nil {
		return 0, err
	}
	return status, nil
}

func showOne(o options, req []byte) error {
	conn, err := net.Dial("tcp", o.base.Host)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.Write(req); err != nil {
		return err
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(io.LimitReader(conn, 64<<10))
	if len(b) > 0 {
		os.Stdout.Write(b)
		fmt.Println()
		return nil
	}
	return err
}

// cpu is the CPU time of the server (when known) and of this process.
type cpu struct{ server, self time.Duration }

func cpuTimes(serverPID int) (cpu, error) {
	var c cpu
	var err error
	if c.self, err = procCPU("self"); err != nil {
		return c, err
	}
	if serverPID > 0 {
		if c.server, err = procCPU(strconv.Itoa(serverPID)); err != nil {
			return c, err
		}
	}
	return c, nil
}

// procCPU reads utime+stime from /proc/<pid>/stat. Clock ticks are 100 Hz on
// Linux (USER_HZ).
func procCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; fields restart after its ')'.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(fields[11], 10, 64)
	st, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

func report(o options, t *worker, variants int, elapsed time.Duration, cpu0, cpu1 cpu) {
	n := t.ok + t.errs
	fmt.Printf("connections        %d (keep-alive, one request in flight each; generator GOMAXPROCS=%d)\n", o.conns, o.procs)
	fmt.Printf("measured           %v after %v warm-up; %d distinct requests\n", elapsed.Round(time.Millisecond), o.warmup, variants)
	fmt.Printf("requests           %d (%d ok, %d errors)\n", n, t.ok, t.errs)
	codes := make([]int, 0, len(t.statuses))
	for k := range t.statuses {
		codes = append(codes, k)
	}
	slices.Sort(codes)
	for _, k := range codes {
		fmt.Printf("  status %d       %d\n", k, t.statuses[k])
	}
	if t.lastErr != nil {
		fmt.Printf("last error         %v\n", t.lastErr)
	}
	fmt.Printf("throughput         %.0f requests/s\n", float64(n)/elapsed.Seconds())
	fmt.Printf("latency            p50 %v  p90 %v  p99 %v  p99.9 %v  max %v\n",
		t.hist.quantile(0.50, n), t.hist.quantile(0.90, n), t.hist.quantile(0.99, n), t.hist.quantile(0.999, n), t.hist.max.Round(time.Microsecond))
	self := cpu1.self - cpu0.self
	if o.serverPID > 0 {
		srv := cpu1.server - cpu0.server
		fmt.Printf("cpu (measured)     server %v (%.2f cores, %.1f µs/request)  loadgen %v (%.2f cores, %.1f µs/request)\n",
			srv, srv.Seconds()/elapsed.Seconds(), float64(srv.Microseconds())/float64(max(n, 1)),
			self, self.Seconds()/elapsed.Seconds(), float64(self.Microseconds())/float64(max(n, 1)))
	} else {
		fmt.Printf("cpu (measured)     loadgen %v (%.2f cores)\n", self, self.Seconds()/elapsed.Seconds())
	}
}
