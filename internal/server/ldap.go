package server

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	ldapconn "github.com/gatehouse-dev/gatehouse/internal/connector/ldap"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// ldapEnv is the environment variable of an LDAP property: ldap.user.baseDn
// is GATEHOUSE_LDAP_USER_BASEDN.
func ldapEnv(name string) string {
	return "GATEHOUSE_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(name))
}

// readLDAPEnv collects the LDAP properties set in the environment; a
// secret one (the bind password) may come from the file its _FILE variable
// names.
func readLDAPEnv(getenv func(string) string) (map[string]string, error) {
	var out map[string]string
	for _, s := range (ldapconn.Connector{}).Settings() {
		env := ldapEnv(s.Name)
		v := getenv(env)
		if f := getenv(env + "_FILE"); s.Secret && f != "" {
			if v != "" {
				return nil, fmt.Errorf("both %s and %s_FILE are set: keep one", env, env)
			}
			var err error
			if v, err = readSecretFile(f); err != nil {
				return nil, fmt.Errorf("%s_FILE: %w", env, err)
			}
		}
		if v != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[s.Name] = v
		}
	}
	return out, nil
}

// parseProperties reads a sonar.properties-style file: key=value lines,
// # and ! comments, surrounding blanks trimmed.
func parseProperties(text string) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("line %d: want key=value", n)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, sc.Err()
}

// LDAPValues returns the LDAP properties of the configuration: the file
// (LDAPFile), overridden by the environment. Nil when none is set.
func (c *Config) LDAPValues() (map[string]string, error) {
	var out map[string]string
	if c.LDAPFile != "" {
		b, err := os.ReadFile(c.LDAPFile)
		if err != nil {
			switch {
			case errors.Is(err, os.ErrNotExist):
				return nil, fmt.Errorf("LDAP configuration file %s (--ldap-config, GATEHOUSE_LDAP_CONFIG) does not exist", c.LDAPFile)
			case errors.Is(err, os.ErrPermission):
				return nil, fmt.Errorf("LDAP configuration file %s (--ldap-config, GATEHOUSE_LDAP_CONFIG) is not readable by this user (uid %d): fix its permissions", c.LDAPFile, os.Getuid())
			}
			return nil, fmt.Errorf("LDAP configuration: %w", err)
		}
		all, err := parseProperties(string(b))
		if err != nil {
			return nil, fmt.Errorf("LDAP configuration %s: %w", c.LDAPFile, err)
		}
		out = map[string]string{}
		for k, v := range all {
			if strings.HasPrefix(k, "ldap.") {
				out[k] = v
			}
		}
	}
	for k, v := range c.LDAP {
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out, nil
}

// connectLDAP connects the LDAP directory the values describe to the state
// for sign-in and group freshness, or disconnects it when they describe
// none (no ldap.url). It is called at start-up and whenever the LDAP
// settings change through api/provisioning/settings.
func (s *Server) connectLDAP(values map[string]string) error {
	if values[ldapconn.PropURL] == "" && values[ldapconn.PropServers] == "" {
		if s.ldapDir.Swap(nil) != nil {
			s.state.SetDirectory(identity.SourceLDAP, nil, state.DirectoryOptions{})
			s.log.Info("LDAP disconnected")
		}
		return nil
	}
	dir, err := ldapconn.Connector{Logger: s.log}.OpenDirectory(values)
	if err != nil {
		return fmt.Errorf("LDAP configuration: %s", identity.Message(err))
	}
	cfg := dir.Config()
	s.state.SetDirectory(identity.SourceLDAP, dir, state.DirectoryOptions{
		Staleness:     cfg.TokenStaleness,
		GroupsManaged: cfg.GroupsManaged(),
		LookupTimeout: cfg.Timeout,
	})
	s.ldapDir.Store(dir)
	s.log.Info("LDAP connected", "servers", len(cfg.Servers), "group_sync", cfg.GroupsManaged(), "token_staleness", cfg.TokenStaleness)
	return nil
}
