// Command gatehouse runs and administers a Gatehouse server.
//
//	gatehouse serve                  run the server (SQLite under ./data by default)
//	gatehouse migrate                apply pending database migrations
//	gatehouse admin reset-password   set a new password for the first administrator
//	gatehouse token scim             generate a SCIM provisioning token
//	gatehouse version                print the version
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, errHelpShown) {
			return
		}
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gatehouse:", err)
		}
		os.Exit(2)
	}
}

const usage = `Usage: gatehouse <command> [flags]

Commands:
  serve                   run the server
  migrate                 apply pending database migrations
  admin reset-password    set a new password for an administrator (default login: admin),
                          creating it when missing; prints the password
  token scim              generate a SCIM provisioning token (gts_…) for an identity provider
  sync SOURCE             run a provisioning sync of a pull source (ldap) now and print its
                          result; --dry-run only plans, --force passes the guard
  import FILE | sonarqube import users, groups, projects, permissions, templates (--dry-run)
  version                 print the version

Run 'gatehouse <command> -h' for the flags of a command.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], getenv, stdout, stderr)
	case "admin":
		return admin(ctx, args[1:], getenv, stdout, stderr)
	case "token":
		return tokenCmd(ctx, args[1:], getenv, stdout, stderr)
	case "sync":
		return syncCmd(ctx, args[1:], getenv, stdout, stderr)
	case "import":
		return importCmd(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "gatehouse", versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, pos, err := parseConfig("serve", "Usage: gatehouse serve [flags]\n\nRuns the server.", server.ScopeStore|server.ScopeServe|server.ScopeProvision, args, getenv, stdout, nil)
	if err != nil {
		return err
	}
	if err := noArgs("serve", pos); err != nil {
		return err
	}
	log := cfg.NewLogger(os.Stderr)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, cfg, log, stdout, versionString())
	if err != nil {
		return err
	}
	where := "SQLite at " + cfg.SQLitePath()
	if cfg.DatabaseURL != "" {
		where = "PostgreSQL"
	}
	fmt.Fprintf(stdout, "Gatehouse %s serving on http://%s (store: %s). Sign in as the administrator with HTTP basic auth or POST /api/authentication/login.\n", versionString(), srv.Addr(), where)
	return srv.Run(ctx)
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, pos, err := parseConfig("migrate", "Usage: gatehouse migrate [flags]\n\nApplies pending database migrations (serve also does at start-up).", server.ScopeStore, args, getenv, stdout, nil)
	if err != nil {
		return err
	}
	if err := noArgs("migrate", pos); err != nil {
		return err
	}
	st, err := server.OpenStore(ctx, cfg, cfg.NewLogger(os.Stderr))
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s)\n", n)
	return nil
}

func admin(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "reset-password" {
		fmt.Fprint(stderr, "Usage: gatehouse admin reset-password [--login admin] [--password …]\n")
		return flag.ErrHelp
	}
	var login, password string
	cfg, pos, err := parseConfig("admin reset-password", "Usage: gatehouse admin reset-password [--login admin] [--password …] [flags]\n\nSets a new password for an administrator and prints it.", server.ScopeStore, args[1:], getenv, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&login, "login", server.AdminLogin, "administrator login")
		fs.StringVar(&password, "password", "", "new password (random when empty; at least 12 characters)")
	})
	if err != nil {
		return err
	}
	if err := noArgs("admin reset-password", pos); err != nil {
		return err
	}
	s, db, err := openState(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	pw, err := server.ResetAdmin(ctx, s, login, password)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Administrator %q can sign in with password: %s\n(A running server sees a new administrator membership after its next restart; the new password works at once.)\n", login, pw)
	return nil
}

func tokenCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "scim" {
		fmt.Fprint(stderr, "Usage: gatehouse token scim [--name NAME] [--scopes users:read,users:write,groups:read,groups:write]\n")
		return flag.ErrHelp
	}
	var name, scopes string
	cfg, pos, err := parseConfig("token scim", "Usage: gatehouse token scim [--name NAME] [--scopes …] [flags]\n\nGenerates a SCIM provisioning token (gts_…) and prints it once.", server.ScopeStore, args[1:], getenv, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "scim", "token name, unique among SCIM tokens")
		fs.StringVar(&scopes, "scopes", "", "comma-separated scopes (all when empty: full provisioning of users and groups)")
	})
	if err != nil {
		return err
	}
	if err := noArgs("token scim", pos); err != nil {
		return err
	}
	s, db, err := openState(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	var list []string
	for _, sc := range strings.Split(scopes, ",") {
		if sc = strings.TrimSpace(sc); sc != "" {
			list = append(list, sc)
		}
	}
	ctx = state.WithActor(ctx, state.Actor{Name: "system"})
	secret, t, err := s.GenerateSCIMToken(ctx, name, list, time.Time{})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "SCIM token %q (id %d, scopes %s), shown only this once:\n%s\n(A running server on the same store accepts it within a second.)\n", t.Name, t.ID, strings.Join(t.SCIMScopes, ","), secret)
	return nil
}

// openState opens and migrates the configured store and loads the state
// over it, for the commands that write through state; the caller closes the
// returned store.
func openState(ctx context.Context, cfg server.Config) (*state.State, store.Store, error) {
	log := cfg.NewLogger(os.Stderr)
	st, err := server.OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	if _, err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, nil, err
	}
	s, err := state.New(ctx, st, state.Options{Logger: log})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return s, st, nil
}

// syncCmd runs one sync of a pull source in this process, through the same
// engine as the server (and its lock, so it never overlaps a server's run).
func syncCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const use = "Usage: gatehouse sync SOURCE [--dry-run] [--force]   (SOURCE: ldap)\n"
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, use)
		return flag.ErrHelp
	}
	source := identity.Source(args[0])
	var dry, force bool
	cfg, pos, err := parseConfig("sync "+args[0], "Usage: gatehouse sync SOURCE [--dry-run] [--force] [flags]   (SOURCE: ldap)\n\nRuns a provisioning sync of a pull source now and prints its result.", server.ScopeStore|server.ScopeProvision, args[1:], getenv, stdout, func(fs *flag.FlagSet) {
		fs.BoolVar(&dry, "dry-run", false, "read and plan only; print what a run would change")
		fs.BoolVar(&force, "force", false, "apply a plan over the guard's bounds (deactivations, removals)")
	})
	if err != nil {
		return err
	}
	if err := noArgs("sync", pos); err != nil {
		return err
	}
	s, db, err := openState(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	eng, err := server.NewEngine(ctx, cfg, cfg.NewLogger(os.Stderr), s, db, nil)
	if err != nil {
		return err
	}
	ctx = state.WithActor(ctx, state.Actor{Name: "system"})
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if dry {
		res, err := eng.DryRun(ctx, source, force)
		if err != nil {
			return err
		}
		return enc.Encode(map[string]any{"source": source, "dryRun": true, "counts": res.Counts, "samples": res.Samples, "warnings": res.Warnings, "aborted": res.Aborted})
	}
	run, err := eng.RunOnce(ctx, source, provision.RunOptions{Trigger: identity.TriggerManual, Force: force})
	if err != nil {
		return err
	}
	if err := enc.Encode(map[string]any{"id": run.ID, "source": run.Source, "status": run.Status, "counts": run.Counts,
		"warnings": run.Warnings, "errors": run.Errors, "duration": run.FinishedAt.Sub(run.StartedAt).String()}); err != nil {
		return err
	}
	if run.Status != identity.SyncSuccess {
		return fmt.Errorf("the %s sync ended %s: %s", source, run.Status, strings.Join(run.Errors, "; "))
	}
	return nil
}
