// Command gitlab-sim serves a simulated GitLab instance (package gitlabsim)
// for demos and benchmarks of Gatehouse's GitLab provisioning.
//
//	gitlab-sim [-addr 127.0.0.1:8929] [-fixture file.json | -scale 20000] [-latency 20ms] [-rate-limit 2000]
//
// Without -fixture it serves the example fixture (groups acme and partners,
// sync token glpat-sync-token, OAuth application gatehouse-app /
// gatehouse-secret); -scale N serves a generated company of N users
// (gitlabsim.Scale: root groups org00, org01, …, same token and
// application).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatehouse-dev/gatehouse/internal/gitlabsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gitlab-sim:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("gitlab-sim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8929", "listen address")
	file := fs.String("fixture", "", "JSON fixture (default: the built-in example)")
	latency := fs.Duration("latency", 0, "latency added to every request")
	limit := fs.Int("rate-limit", 0, "requests per minute and token (0: unlimited)")
	scale := fs.Int("scale", 0, "serve a generated fixture of this many users (groups 15%, projects 150%)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var fix *gitlabsim.Fixture
	var err error
	switch {
	case *file != "":
		fix, err = gitlabsim.LoadFixture(*file)
	case *scale > 0:
		fix = gitlabsim.Scale(gitlabsim.ScaleOptions{Users: *scale, Seed: 1})
	default:
		fix = gitlabsim.Example()
	}
	if err != nil {
		return err
	}
	sim, err := gitlabsim.New(fix, gitlabsim.Options{Latency: *latency, RateLimit: *limit})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "GitLab simulator on http://%s (%d users, %d groups, %d projects)\n", *addr, len(fix.Users), len(fix.Groups), len(fix.Projects))
	return sim.ListenAndServe(ctx, *addr)
}
