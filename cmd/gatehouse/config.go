package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gatehouse-dev/gatehouse/internal/server"
)

// errHelpShown ends a command whose --help was printed: exit status 0.
var errHelpShown = errors.New("help shown")

// parseConfig reads the configuration of one command (file, environment,
// flags; see server.Load) with the command's own flags from extra. On -h or
// --help it prints the command's help, only its own flags, to stdout and
// returns errHelpShown. A command that takes no positional arguments
// refuses them.
func parseConfig(name, usage string, scope server.Scope, args []string, getenv func(string) string, stdout io.Writer, extra func(*flag.FlagSet)) (server.Config, []string, error) {
	fs := flag.NewFlagSet("gatehouse "+name, flag.ContinueOnError)
	if extra != nil {
		extra(fs)
	}
	cfg, pos, err := server.Load(fs, scope, args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage, "\n\n")
		server.WriteHelp(stdout, fs, scope)
		return cfg, nil, errHelpShown
	}
	return cfg, pos, err
}

// noArgs refuses positional arguments for a command that takes none.
func noArgs(name string, pos []string) error {
	if len(pos) > 0 {
		return fmt.Errorf("unexpected arguments %q: 'gatehouse %s' takes none (run 'gatehouse %s --help')", pos, name, name)
	}
	return nil
}
