package server

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Binding ties an option to its Config field: it parses a value given as
// text (a flag, a variable, a file's scalar) and prints the current one.
// Parse errors say what is wanted ("want true or false"); the caller adds
// where the value came from.
type Binding struct {
	kind   string // shown in --help: string, bool, duration, int, list
	isBool bool
	isList bool
	set    func(c *Config, s string) error
	get    func(c *Config) string
}

// Str binds a string field.
func Str(p func(*Config) *string) Binding {
	return Binding{kind: "string",
		set: func(c *Config, s string) error { *p(c) = s; return nil },
		get: func(c *Config) string { return *p(c) }}
}

// Enum binds a string field that takes one of values.
func Enum(p func(*Config) *string, values ...string) Binding {
	b := Str(p)
	b.kind = strings.Join(values, "|")
	b.set = func(c *Config, s string) error {
		if !slices.Contains(values, s) {
			return fmt.Errorf("want %s", orList(values))
		}
		*p(c) = s
		return nil
	}
	return b
}

// Bool binds a boolean field: true or false (also 1, 0, t, f, yes, no, on,
// off, in any case).
func Bool(p func(*Config) *bool) Binding {
	return Binding{kind: "bool", isBool: true,
		set: func(c *Config, s string) error {
			switch strings.ToLower(strings.TrimSpace(s)) {
			case "true", "t", "1", "yes", "y", "on":
				*p(c) = true
			case "false", "f", "0", "no", "n", "off":
				*p(c) = false
			default:
				return errors.New("want true or false")
			}
			return nil
		},
		get: func(c *Config) string { return strconv.FormatBool(*p(c)) }}
}

// Duration binds a duration field (300ms, 30s, 2m, 1h30m).
func Duration(p func(*Config) *time.Duration) Binding {
	return Binding{kind: "duration",
		set: func(c *Config, s string) error {
			d, err := time.ParseDuration(strings.TrimSpace(s))
			if err != nil {
				return errors.New("want a duration such as 30s, 2m or 1h30m")
			}
			*p(c) = d
			return nil
		},
		get: func(c *Config) string { return p(c).String() }}
}

// Int binds an integer field.
func Int(p func(*Config) *int) Binding {
	return Binding{kind: "int",
		set: func(c *Config, s string) error {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return errors.New("want a whole number")
			}
			*p(c) = n
			return nil
		},
		get: func(c *Config) string { return strconv.Itoa(*p(c)) }}
}

// List binds a list of strings: comma-separated in a flag or variable, a
// YAML sequence (or one comma-separated string) in the file. Blank items
// are dropped.
func List(p func(*Config) *[]string) Binding {
	return Binding{kind: "list", isList: true,
		set: func(c *Config, s string) error {
			var out []string
			for _, item := range strings.Split(s, ",") {
				if item = strings.TrimSpace(item); item != "" {
					out = append(out, item)
				}
			}
			*p(c) = out
			return nil
		},
		get: func(c *Config) string { return strings.Join(*p(c), ",") }}
}

func orList(values []string) string {
	if len(values) == 1 {
		return values[0]
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}

// shown is a value as an error message may print it: never a secret's.
func shown(o Option, s string) string {
	if o.Secret {
		return ""
	}
	return "=" + strconv.Quote(s)
}

// Load returns the configuration of one command: [DefaultConfig],
// overridden by the configuration file (--config or GATEHOUSE_CONFIG), then
// by the environment, then by the flags in args. fs carries the command's
// own flags; Load adds those of the options in scope, parses args (flags
// may come before, between or after the positional arguments, which it
// returns) and validates the result. Nothing is opened or written. On -h
// or --help it returns flag.ErrHelp; print [WriteHelp] then.
func Load(fs *flag.FlagSet, scope Scope, args []string, getenv func(string) string) (Config, []string, error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	opts := Options()
	raw := map[string]*rawValue{}
	for _, o := range opts {
		if o.Flag != "" && o.Scope&scope != 0 {
			v := &rawValue{isBool: o.Bind.isBool}
			raw[o.Flag] = v
			fs.Var(v, o.Flag, o.Usage)
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return Config{}, nil, err
			}
			return Config{}, nil, fmt.Errorf("%w (run '%s --help' for the flags)", err, fs.Name())
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	c := DefaultConfig()
	path := getenv("GATEHOUSE_CONFIG")
	if v := raw["config"]; v != nil && v.set {
		path = v.text
	}
	if path != "" {
		if err := c.applyFile(path); err != nil {
			return Config{}, nil, err
		}
	}
	if err := c.applyEnv(getenv); err != nil {
		return Config{}, nil, err
	}
	for _, o := range opts {
		v := raw[o.Flag]
		if v == nil || !v.set {
			continue
		}
		if err := o.Bind.set(&c, v.text); err != nil {
			return Config{}, nil, fmt.Errorf("--%s%s: %w", o.Flag, shown(o, v.text), err)
		}
	}
	c.ConfigFile = path
	return c, pos, c.Validate()
}

// rawValue records a flag's text; Load applies it after the file and the
// environment.
type rawValue struct {
	text   string
	set    bool
	isBool bool
}

func (v *rawValue) String() string     { return v.text }
func (v *rawValue) Set(s string) error { v.text, v.set = s, true; return nil }
func (v *rawValue) IsBoolFlag() bool   { return v.isBool }

// applyEnv reads every option's environment variable, a secret's also from
// the file its _FILE variable names, and the LDAP properties.
func (c *Config) applyEnv(getenv func(string) string) error {
	opts := Options()
	claimed := map[string]bool{}
	for _, o := range opts {
		claimed[o.Env] = true
	}
	for _, o := range opts {
		if o.Env == "" {
			continue
		}
		s := getenv(o.Env)
		if f := o.Env + "_FILE"; o.Secret && !claimed[f] && getenv(f) != "" {
			if s != "" {
				return fmt.Errorf("both %s and %s are set: keep one", o.Env, f)
			}
			b, err := readSecretFile(getenv(f))
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			s = b
		}
		if s == "" {
			continue
		}
		if err := o.Bind.set(c, s); err != nil {
			return fmt.Errorf("environment variable %s%s: %w (correct it or unset it)", o.Env, shown(o, s), err)
		}
	}
	env, err := readLDAPEnv(getenv)
	if err != nil {
		return err
	}
	for k, v := range env {
		if c.LDAP == nil {
			c.LDAP = map[string]string{}
		}
		c.LDAP[k] = v
	}
	return nil
}

// readSecretFile reads a secret kept in a file (a Docker or Kubernetes
// secret), without its final line break.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("secret file %s does not exist", path)
		}
		if errors.Is(err, os.ErrPermission) {
			return "", fmt.Errorf("secret file %s is not readable by this user (uid %d): fix its permissions", path, os.Getuid())
		}
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// WriteHelp prints the flags registered on fs (the command's own and its
// options', after [Load]) with their environment variables and defaults,
// then the settings of scope that only the environment or the file set.
func WriteHelp(w io.Writer, fs *flag.FlagSet, scope Scope) {
	byFlag := map[string]Option{}
	var envOnly []Option
	for _, o := range Options() {
		if o.Scope&scope == 0 {
			continue
		}
		if o.Flag != "" {
			byFlag[o.Flag] = o
		} else if o.Env != "" {
			envOnly = append(envOnly, o)
		}
	}
	d := DefaultConfig()
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "Flags (environment variable; default):")
	fs.VisitAll(func(f *flag.Flag) {
		arg := ""
		note := ""
		if o, ok := byFlag[f.Name]; ok {
			if !o.Bind.isBool {
				arg = " " + o.Bind.kind
			}
			note = " ($" + o.Env + defaultNote(o, d) + ")"
		} else if f.DefValue != "" && f.DefValue != "false" {
			if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); !isBool {
				arg = " value"
			}
			note = " (default " + f.DefValue + ")"
		} else if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); !isBool {
			arg = " value"
		}
		fmt.Fprintf(tw, "  --%s%s\t%s%s\n", f.Name, arg, f.Usage, note)
	})
	if len(envOnly) > 0 {
		fmt.Fprintln(tw, "\nEnvironment only (no flag, so it never shows in ps):")
		for _, o := range envOnly {
			fmt.Fprintf(tw, "  %s\t%s\n", o.Env, o.Usage)
		}
	}
	tw.Flush()
	fmt.Fprint(w, "\nSecrets may come from a file instead: VARIABLE_FILE=/path (e.g. GATEHOUSE_DATABASE_URL_FILE).\n"+
		"Every setting may also be in the YAML file of --config (key = flag name; docs/gatehouse.example.yaml);\n"+
		"the environment overrides the file, flags override both.\n")
	if scope&ScopeProvision != 0 {
		fmt.Fprint(w, "LDAP settings: GATEHOUSE_LDAP_URL for ldap.url and so on (README, \"LDAP and Active Directory\").\n")
	}
}

func defaultNote(o Option, d Config) string {
	if o.Secret {
		return ""
	}
	v := o.Bind.get(&d)
	if v == "" || (o.Bind.isBool && v == "false") {
		return ""
	}
	return "; default " + v
}
