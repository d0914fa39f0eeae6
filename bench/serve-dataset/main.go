// Command serve-dataset loads a generated data set into a fresh SQLite store
// and serves the Gatehouse Web API over it with the real server wiring
// (sqlstore + state + webapi through internal/server), for load tests.
//
// It writes the data set's user-token secrets and project keys, one per
// line, to secrets.txt and keys.txt in the data directory (mode 0600), so a
// load generator can present valid credentials. The secrets are synthetic.
//
// The access log is off and the log level is warn, so that logging I/O is
// not part of what a benchmark measures.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/dataset"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "serve-dataset:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:9123", "listen address; loopback only")
	dir := flag.String("data-dir", "", "directory for a fresh SQLite store (must not hold one)")
	seed := flag.Uint64("seed", 1, "data set seed")
	small := flag.Bool("small", false, "a small data set (for a quick try) instead of dataset.Standard")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the serving phase (not the load) to this file")
	flag.Parse()

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("addr %q: %w", *addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("addr %q: only loopback addresses are allowed", *addr)
	}
	if *dir == "" {
		return errors.New("-data-dir is required")
	}
	if _, err := os.Stat(filepath.Join(*dir, "gatehouse.db")); err == nil {
		return fmt.Errorf("%s already holds a store; give a fresh directory", *dir)
	}
	size := dataset.Standard
	if *small {
		size = dataset.Size{Users: 200, Groups: 20, Projects: 100, Memberships: 2000, Grants: 4000, Tokens: 200}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := server.DefaultConfig()
	cfg.Addr, cfg.DataDir = *addr, *dir
	cfg.LogLevel, cfg.AccessLog = "warn", false
	log := cfg.NewLogger(os.Stderr)

	start := time.Now()
	set, err := dataset.Generate(size, *seed)
	if err != nil {
		return err
	}
	if err := load(ctx, cfg, log, set); err != nil {
		return err
	}
	fmt.Printf("loaded %d users, %d groups, %d projects, %d memberships, %d grants, %d tokens in %v\n",
		len(set.Snapshot.Users), len(set.Snapshot.Groups), len(set.Snapshot.Projects),
		len(set.Snapshot.Memberships), len(set.Snapshot.Grants), len(set.Snapshot.Tokens), time.Since(start).Round(time.Millisecond))
	if err := writeFixtures(*dir, set); err != nil {
		return err
	}

	srv, err := server.New(ctx, cfg, log, os.Stdout, "bench")
	if err != nil {
		return err
	}
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
	// The script waits for this line.
	fmt.Printf("serving on http://%s (pid %d; access log off, log level warn)\n", srv.Addr(), os.Getpid())
	return srv.Run(ctx)
}

// load writes the set into a fresh SQLite store at the server's path.
func load(ctx context.Context, cfg server.Config, log *slog.Logger, set *dataset.Set) error {
	db, err := sqlstore.OpenSQLite(ctx, cfg.SQLitePath(), log)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	_, err = dataset.Load(ctx, db, set)
	return err
}

// writeFixtures writes the user-token secrets and project keys the load
// generator draws from.
func writeFixtures(dir string, set *dataset.Set) error {
	write := func(name string, lines func(w *bufio.Writer)) error {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		w := bufio.NewWriter(f)
		lines(w)
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if err := write("secrets.txt", func(w *bufio.Writer) {
		for i, t := range set.Snapshot.Tokens {
			if t.Type == identity.TokenUser {
				fmt.Fprintln(w, set.Secrets[i])
			}
		}
	}); err != nil {
		return err
	}
	// Only public projects: every user can see them, so every question gets
	// a full decision. A private project the asking user cannot see answers
	// 404 by design (no existence leak), which is not the path to measure.
	return write("keys.txt", func(w *bufio.Writer) {
		for _, p := range set.Snapshot.Projects {
			if p.Visibility == identity.Public {
				fmt.Fprintln(w, p.Key)
			}
		}
	})
}
