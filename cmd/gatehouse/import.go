package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/importer"
	"github.com/gatehouse-dev/gatehouse/internal/server"
)

const importUsage = `Usage:
  gatehouse import [--dry-run] [store flags] FILE
  gatehouse import sonarqube --url URL [--token TOKEN] [--rate 10] [--save FILE] [--dry-run] [store flags]

FILE is a JSON data set, or a directory of CSV files (see README,
"Importing"). The SonarQube token is an
administrator's; it may come from $SONAR_TOKEN instead of --token.
`

// importCmd is `gatehouse import`: a data set from a file or a running
// SonarQube, written through the bulk path. Running it again after an
// interruption finishes the work; a second run writes nothing.
func importCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 && args[0] == "sonarqube" {
		return importSonarQube(ctx, args[1:], getenv, stdout, stderr)
	}
	var opts importOpts
	cfg, pos, err := parseImportConfig("import", args, getenv, stdout, opts.flags)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprint(stderr, importUsage)
		return errors.New("import: one FILE is required")
	}
	ds, err := importer.ReadFile(pos[0])
	if err != nil {
		return err
	}
	return runImport(ctx, cfg, ds, "import:file", pos[0], opts, stdout)
}

func importSonarQube(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var opts importOpts
	var save string
	src := importer.SonarQube{}
	cfg, pos, err := parseImportConfig("import sonarqube", args, getenv, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&src.URL, "url", "", "SonarQube base URL (https://sonar.example.com)")
		fs.StringVar(&src.Token, "token", "", "an administrator's token ($SONAR_TOKEN)")
		fs.Float64Var(&src.Rate, "rate", 10, "most requests per second to SonarQube")
		fs.StringVar(&save, "save", "", "also write the data set read to this JSON file, for `gatehouse import FILE` later without reading SonarQube again")
		opts.flags(fs)
	})
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected arguments: %v", pos)
	}
	if src.Token == "" {
		src.Token = getenv("SONAR_TOKEN")
	}
	if src.URL == "" || src.Token == "" {
		fmt.Fprint(stderr, importUsage)
		return errors.New("import sonarqube: --url and a token are required")
	}
	src.Progress = newProgress(stdout)
	start := time.Now()
	ds, err := src.Read(ctx)
	if err != nil {
		return fmt.Errorf("read %s: %w", src.URL, err)
	}
	fmt.Fprintf(stdout, "Read %s in %s (%d requests).\n", src.URL, time.Since(start).Round(time.Millisecond), src.Requests)
	if save != "" {
		if err := importer.WriteFile(save, ds); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Saved the data set read to %s.\n", save)
	}
	return runImport(ctx, cfg, ds, "import:sonarqube", src.URL, opts, stdout)
}

// importOpts are the flags both imports share.
type importOpts struct {
	dry    bool
	tokens string
}

func (o *importOpts) flags(fs *flag.FlagSet) {
	fs.BoolVar(&o.dry, "dry-run", false, "show what would be written, write nothing")
	fs.StringVar(&o.tokens, "tokens", "", "write the tokens to re-create to this CSV file")
}

// parseImportConfig parses the store flags and extra ones placed before,
// between or after the positional arguments, which it returns.
func parseImportConfig(name string, args []string, getenv func(string) string, stdout io.Writer, extra func(*flag.FlagSet)) (server.Config, []string, error) {
	return parseConfig(name, strings.TrimRight(importUsage, "\n"), server.ScopeStore, args, getenv, stdout, extra)
}

// newProgress draws bars when stdout is a terminal, plain lines otherwise.
func newProgress(stdout io.Writer) importer.Progress {
	tty := false
	if f, ok := stdout.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return importer.NewProgress(stdout, tty)
}

func runImport(ctx context.Context, cfg server.Config, ds *importer.DataSet, actor, from string, opts importOpts, stdout io.Writer) error {
	s, db, err := openState(ctx, cfg, true, stdout) // importing into a new store is what a move from SonarQube does
	if err != nil {
		return err
	}
	defer db.Close()
	w := importer.Writer{State: s, Store: db, Actor: actor, Progress: newProgress(stdout)}
	start := time.Now()
	var sum *importer.Summary
	if opts.tokens != "" {
		if err := writeTokens(opts.tokens, ds.Tokens); err != nil {
			return fmt.Errorf("write tokens: %w", err)
		}
	}
	if opts.dry {
		sum, err = w.Plan(ctx, ds)
	} else {
		// The plan first (a snapshot read, seconds even for 300k items):
		// what the long write ahead will do.
		plan, perr := w.Plan(ctx, ds)
		if perr != nil {
			return perr
		}
		fmt.Fprintln(stdout, planLine(plan))
		sum, err = w.Apply(ctx, ds)
	}
	if sum != nil {
		printSummary(stdout, sum, from, time.Since(start))
	}
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("import interrupted; run the same command again to finish it (what is written stays): %w", err)
	}
	return err
}

// planLine is a dry run's counts on one line.
func planLine(plan *importer.Summary) string {
	var to []string
	there, failing := 0, 0
	for _, c := range plan.Counts {
		if c.Written > 0 {
			to = append(to, fmt.Sprintf("%d %s", c.Written, c.Kind))
		}
		there, failing = there+c.Existing, failing+c.Failed
	}
	if len(to) == 0 {
		to = []string{"nothing"}
	}
	return fmt.Sprintf("To write: %s; %d already there; %d would fail.", strings.Join(to, ", "), there, failing)
}

// maxTokenLines bounds the tokens the summary prints; --tokens writes all.
const maxTokenLines = 20

// writeTokens writes the tokens to re-create as CSV.
func writeTokens(path string, ts []importer.Token) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(f)
	_ = cw.Write([]string{"login", "name", "type", "project"})
	for _, t := range ts {
		_ = cw.Write([]string{t.Login, t.Name, t.Type, t.Project})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func printSummary(w io.Writer, sum *importer.Summary, from string, took time.Duration) {
	verb := "written"
	if sum.DryRun {
		verb = "to write"
		fmt.Fprintf(w, "\nDry run of the import from %s: nothing was written.\n", from)
	} else {
		fmt.Fprintf(w, "\nImport from %s:\n", from)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "kind\ttotal\talready there\t%s\tfailed\t\n", verb)
	for _, c := range sum.Counts {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", c.Kind, c.Total, c.Existing, c.Written, c.Failed)
	}
	tw.Flush()
	if sum.NoPassword > 0 {
		fmt.Fprintf(w, "\nImported users have no password (%d users): an identity provider or directory signs them in, or an administrator sets one:\n"+
			"  gatehouse admin reset-password --login LOGIN   (also makes LOGIN an administrator)\n"+
			"  POST api/users/change_password login=LOGIN password=…   (as an administrator)\n", sum.NoPassword)
	}
	if len(sum.ExternalUsers) > 0 {
		providers := make([]string, 0, len(sum.ExternalUsers))
		for p := range sum.ExternalUsers {
			providers = append(providers, p)
		}
		sort.Strings(providers)
		fmt.Fprintln(w, "Users the source authenticated elsewhere (imported as local users; configure the matching connector):")
		for _, p := range providers {
			fmt.Fprintf(w, "  %s: %d\n", p, sum.ExternalUsers[p])
		}
	}
	if len(sum.Tokens) > 0 {
		fmt.Fprintf(w, "\nTokens to re-create (%d; their secrets cannot be read): each owner generates a new one with api/user_tokens/generate.\n", len(sum.Tokens))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  login\tname\ttype\tproject")
		for _, t := range sum.Tokens[:min(len(sum.Tokens), maxTokenLines)] {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.Login, t.Name, t.Type, t.Project)
		}
		tw.Flush()
		if n := len(sum.Tokens) - maxTokenLines; n > 0 {
			fmt.Fprintf(w, "  … and %d more (--tokens FILE writes them all as CSV)\n", n)
		}
	}
	if sum.FailureCount > 0 {
		fmt.Fprintf(w, "\nFailed items (%d; the first %d):\n", sum.FailureCount, len(sum.Failures))
		for _, f := range sum.Failures {
			fmt.Fprintf(w, "  %s %s: %s\n", f.Kind, f.Item, f.Error)
		}
	}
	total, existing, failed := 0, 0, 0
	for _, c := range sum.Counts {
		total, existing, failed = total+c.Total, existing+c.Existing, failed+c.Failed
	}
	fmt.Fprintf(w, "\n%d items: %d %s, %d already there, %d failed, in %s.\n", total, sum.Written(), verb, existing, failed, took.Round(time.Millisecond))
}
