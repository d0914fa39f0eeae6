package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	ldapconn "github.com/gatehouse-dev/gatehouse/internal/connector/ldap"
	"go.yaml.in/yaml/v3"
)

// The configuration file is YAML: one mapping whose keys are the options'
// file keys (the flag names: data-dir, access-log, …), a list option as a
// YAML sequence, and an `ldap` mapping of LDAP properties under their
// SonarQube names without the ldap. prefix (url, bindDn, user.baseDn).
// YAML rather than TOML because it is what Kubernetes ConfigMaps and Helm
// values already hold, and because yaml.v3's node tree keeps each key's
// line, so every error below names the file, the line and the key. The
// file is walked over the same option table as the flags and the
// environment (the node tree, not a struct decode with KnownFields), so
// there is one parser per type and an unknown key is an error naming it.

// applyFile reads the configuration file at path into c.
func (c *Config) applyFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("configuration file %s (--config, GATEHOUSE_CONFIG) does not exist", path)
		case errors.Is(err, os.ErrPermission):
			return fmt.Errorf("configuration file %s is not readable by this user (uid %d): fix its permissions", path, os.Getuid())
		}
		return fmt.Errorf("configuration file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: want a mapping of settings (key: value)", path, root.Line)
	}
	byKey := map[string]Option{}
	var keys []string
	for _, o := range Options() {
		if o.Key == "" {
			continue
		}
		byKey[o.Key] = o
		keys = append(keys, o.Key)
		if o.Secret {
			byKey[o.Key+"-file"] = o
		}
	}
	keys = append(keys, "ldap")
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		at := fmt.Sprintf("%s:%d: %s", path, k.Line, k.Value)
		if seen[k.Value] {
			return fmt.Errorf("%s: set twice", at)
		}
		seen[k.Value] = true
		if k.Value == "ldap" {
			if err := c.applyLDAPSection(path, v); err != nil {
				return err
			}
			continue
		}
		o, ok := byKey[k.Value]
		if !ok {
			return fmt.Errorf("%s:%d: unknown key %q%s", path, k.Line, k.Value, suggest(k.Value, keys))
		}
		text, isNull, err := scalarText(v, o.Bind.isList)
		if err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		if isNull {
			continue
		}
		if k.Value != o.Key { // a secret's -file key
			if seen[o.Key] {
				return fmt.Errorf("%s: %s is set too: keep one", at, o.Key)
			}
			if text, err = readSecretFile(text); err != nil {
				return fmt.Errorf("%s: %w", at, err)
			}
		} else if seen[o.Key+"-file"] {
			return fmt.Errorf("%s: %s-file is set too: keep one", at, o.Key)
		}
		if err := o.Bind.set(c, text); err != nil {
			return fmt.Errorf("%s%s: %w", at, shown(o, text), err)
		}
	}
	return nil
}

// scalarText is a node's value as text: a scalar, or for a list option a
// sequence of scalars joined by commas. A null value (key with nothing
// after it) leaves the default.
func scalarText(v *yaml.Node, list bool) (string, bool, error) {
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		return "", true, nil
	case v.Kind == yaml.ScalarNode:
		return v.Value, false, nil
	case v.Kind == yaml.SequenceNode && list:
		items := make([]string, 0, len(v.Content))
		for _, it := range v.Content {
			if it.Kind != yaml.ScalarNode {
				return "", false, fmt.Errorf("line %d: want a list of values", it.Line)
			}
			if strings.Contains(it.Value, ",") {
				return "", false, fmt.Errorf("line %d: %q: an item may not hold a comma", it.Line, it.Value)
			}
			items = append(items, it.Value)
		}
		return strings.Join(items, ","), false, nil
	case list:
		return "", false, errors.New("want a list of values")
	}
	return "", false, errors.New("want a single value, not a list or mapping")
}

// applyLDAPSection reads the file's ldap mapping: SonarQube's LDAP
// properties without the ldap. prefix (url: ldaps://…, user.baseDn: …, a
// server of ldap.servers as <id>.url), a secret one also as <name>-file.
func (c *Config) applyLDAPSection(path string, m *yaml.Node) error {
	if m.Kind == yaml.ScalarNode && m.Tag == "!!null" {
		return nil
	}
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: ldap: want a mapping of LDAP properties (url: ldaps://…)", path, m.Line)
	}
	conn := ldapconn.Connector{}
	var names []string
	secret := map[string]bool{}
	for _, s := range conn.Settings() {
		names = append(names, strings.TrimPrefix(s.Name, "ldap."))
		secret[s.Name] = s.Secret
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		at := fmt.Sprintf("%s:%d: ldap.%s", path, k.Line, k.Value)
		name, fromFile := strings.CutSuffix("ldap."+k.Value, "-file")
		known := false
		if _, ok := secret[name]; ok {
			known = true
		} else if s, ok := conn.SettingFor(name); ok {
			known, secret[name] = true, s.Secret
		}
		if known && fromFile && !secret[name] {
			return fmt.Errorf("%s: ldap.%s is not a secret: give its value as %s", at, strings.TrimPrefix(name, "ldap."), strings.TrimPrefix(name, "ldap."))
		}
		if !known {
			return fmt.Errorf("%s:%d: unknown LDAP property %q under ldap%s", path, k.Line, k.Value, suggest(k.Value, names))
		}
		text, isNull, err := scalarText(v, false)
		if err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		if isNull {
			continue
		}
		if fromFile {
			if text, err = readSecretFile(text); err != nil {
				return fmt.Errorf("%s: %w", at, err)
			}
		}
		if c.LDAP == nil {
			c.LDAP = map[string]string{}
		}
		c.LDAP[name] = text
	}
	return nil
}

// suggest names the known key closest to an unknown one, when one is close.
func suggest(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return " (see docs/gatehouse.example.yaml for every key)"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
