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
	"log/slog"
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
	os.Exit(exitCode(run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr), os.Stderr))
}

// exitCode prints err and returns the process status: 0 for success and a
// --help that was asked for, 2 otherwise.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return 0
	case !errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(stderr, "gatehouse:", err)
	}
	return 2
}

const usage = `Usage: gatehouse <command> [flags]

Commands:
  serve                   run the server
  migrate                 apply pending database migrations (--create: a new store)
  admin reset-password    set a new password for an administrator (default login: admin) and
                          print it; --create for a login (or store) not there yet
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

// versionString is Gatehouse's one version, printed by --version and
// `gatehouse version`, in the banner, the log and api/gatehouse/info:
// the -ldflags value of a release build, else the module version of `go
// install …@v1.2.3`, else the VCS revision `go build` stamps in a checkout
// (with +dirty for uncommitted changes), else "dev". SonarQube's
// compatibility version is another thing, kept where clients read it
// (api/server/version, api/system/status|info).
func versionString() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	return versionFromBuildInfo(bi)
}

func versionFromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) < 12 {
		return "dev"
	}
	v := "dev-" + rev[:12]
	if dirty {
		v += "+dirty"
	}
	return v
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
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go reloadOnHangup(ctx, hup, srv, log)
	fmt.Fprint(stdout, banner(versionString(), srv.URL(), server.StoreLocation(cfg)))
	return srv.Run(ctx)
}

// reloadOnHangup reads the TLS certificate again on each SIGHUP (a renewed
// certificate without a restart); a failed reload is logged by the server
// and the old certificate stays.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, srv *server.Server, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := srv.ReloadTLS(); errors.Is(err, server.ErrNoTLS) {
				log.Info("SIGHUP ignored: " + err.Error())
			}
		}
	}
}

// banner is what serve prints once it listens: where to go and how to
// sign in.
func banner(version, url, store string) string {
	return fmt.Sprintf("Gatehouse %s is serving on %s (store: %s).\n"+
		"Sign in as admin: HTTP basic auth (curl -u admin:PASSWORD %s/api/authentication/validate),\n"+
		"or a session from POST %s/api/authentication/login (login, password).\n", version, url, store, url, url)
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var create bool
	cfg, pos, err := parseConfig("migrate", "Usage: gatehouse migrate [--create] [flags]\n\nApplies pending database migrations (serve also does at start-up) to an existing store;\n--create makes a new store when none is there.", server.ScopeStore, args, getenv, stdout, func(fs *flag.FlagSet) {
		fs.BoolVar(&create, "create", false, "create a new, empty store when the configured one does not exist")
	})
	if err != nil {
		return err
	}
	if err := noArgs("migrate", pos); err != nil {
		return err
	}
	st, isNew, err := server.OpenExistingStore(ctx, cfg, commandLogger(cfg), create)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", server.StoreLocation(cfg), err)
	}
	what := "existing store"
	if isNew {
		what = "new store"
	}
	fmt.Fprintf(stdout, "%s (%s): applied %d migration(s); the schema is up to date.\n", server.StoreLocation(cfg), what, n)
	return nil
}

const adminUsage = "Usage: gatehouse admin reset-password [--login admin] [--password …] [--create] [flags]\n"

func admin(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, adminUsage, "\nRun 'gatehouse admin reset-password --help' for its flags.\n")
		return errHelpShown
	}
	if len(args) == 0 || args[0] != "reset-password" {
		fmt.Fprint(stderr, adminUsage)
		return flag.ErrHelp
	}
	var login, password string
	var create bool
	cfg, pos, err := parseConfig("admin reset-password", strings.TrimSuffix(adminUsage, "\n")+"\n\nSets a new password for an existing administrator (or user, who becomes one) and prints it.\n--create creates the login when the store lacks it (and the store when there is none).", server.ScopeStore, args[1:], getenv, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&login, "login", server.AdminLogin, "administrator login")
		fs.StringVar(&password, "password", "", "new password (random when empty; at least 12 characters)")
		fs.BoolVar(&create, "create", false, "create the login as a new local administrator when missing (or reactivate it), and the store when there is none")
	})
	if err != nil {
		return err
	}
	if err := noArgs("admin reset-password", pos); err != nil {
		return err
	}
	s, db, err := openState(ctx, cfg, create, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	pw, err := server.ResetAdmin(ctx, s, login, password, create)
	if err != nil {
		return fmt.Errorf("%s: %w", server.StoreLocation(cfg), err)
	}
	fmt.Fprintf(stdout, "Store: %s.\nAdministrator %q can sign in with password: %s\n(A running server sees a new administrator membership after its next restart; the new password works at once.)\n", server.StoreLocation(cfg), login, pw)
	return nil
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

func tokenCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const use = "Usage: gatehouse token scim [--name NAME] [--scopes users:read,users:write,groups:read,groups:write]\n"
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, use, "\nRun 'gatehouse token scim --help' for its flags.\n")
		return errHelpShown
	}
	if len(args) == 0 || args[0] != "scim" {
		fmt.Fprint(stderr, use)
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
	s, db, err := openState(ctx, cfg, false, stderr)
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

// commandLogger is the log of the one-shot commands: they print their
// result, so the store's routine lines (migration applied, index rebuilt)
// stay out at the default level; --log-level debug still shows them.
func commandLogger(cfg server.Config) *slog.Logger {
	if cfg.LogLevel == "info" {
		cfg.LogLevel = "warn"
	}
	return cfg.NewLogger(os.Stderr)
}

// openState opens and migrates the configured store and loads the state
// over it, for the commands that write through state; the caller closes the
// returned store. It refuses a store that does not exist unless create;
// with note set it names the store opened there.
func openState(ctx context.Context, cfg server.Config, create bool, note io.Writer) (*state.State, store.Store, error) {
	log := commandLogger(cfg)
	st, _, err := server.OpenExistingStore(ctx, cfg, log, create)
	if err != nil {
		if errors.Is(err, server.ErrNoStore) && !create {
			err = fmt.Errorf("%w (or start 'gatehouse serve' there once)", err)
		}
		return nil, nil, err
	}
	if note != nil {
		fmt.Fprintf(note, "gatehouse: store: %s\n", server.StoreLocation(cfg))
	}
	if _, err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, nil, fmt.Errorf("%s: %w", server.StoreLocation(cfg), err)
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
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, use, "\nRun 'gatehouse sync ldap --help' for its flags.\n")
		return errHelpShown
	}
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
	s, db, err := openState(ctx, cfg, false, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	eng, err := server.NewEngine(ctx, cfg, commandLogger(cfg), s, db, nil)
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
