package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// Settings are stored in the store's settings under
// "provisioning.<source>.<name>"; secret ones sealed (SPEC §9).

// Masked is what a set secret reads as: secrets are write-only.
const Masked = "********"

// SettingValue is one setting as the API shows it.
type SettingValue struct {
	Setting
	Value string // masked for a secret that is set
	IsSet bool   // stored or configured, rather than the default
}

var errSecretKey = errors.New("secret key")

type secretKeyError struct{ msg string }

func (e secretKeyError) Error() string        { return e.msg }
func (e secretKeyError) Is(target error) bool { return target == errSecretKey }

func settingKey(src identity.Source, name string) string {
	return "provisioning." + string(src) + "." + name
}

// extraKey holds the names of the stored settings a connector declares by
// pattern ([PatternSettings]), which cannot be listed otherwise.
func extraKey(src identity.Source) string { return "provisioning." + string(src) + ".@names" }

// defs returns every setting of s: the declared ones, then those declared
// by pattern that the configuration or the store holds.
func (e *Engine) defs(ctx context.Context, s *source) ([]Setting, error) {
	defs := s.cfg.Connector.Settings()
	ps, ok := s.cfg.Connector.(PatternSettings)
	if !ok {
		return defs, nil
	}
	names, err := e.extraNames(ctx, s.name)
	if err != nil {
		return nil, err
	}
	for k := range s.cfg.Defaults {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, n := range slices.Compact(names) {
		if slices.ContainsFunc(defs, func(d Setting) bool { return d.Name == n }) {
			continue
		}
		if d, ok := ps.SettingFor(n); ok {
			defs = append(defs, d)
		}
	}
	return defs, nil
}

func (e *Engine) extraNames(ctx context.Context, src identity.Source) ([]string, error) {
	raw, err := e.st.Store().GetSetting(ctx, extraKey(src))
	if errors.Is(err, identity.ErrNotFound) || (err == nil && raw == "") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read setting names: %w", err)
	}
	var names []string
	if err := json.Unmarshal([]byte(raw), &names); err != nil {
		return nil, fmt.Errorf("setting names of %s: %w", src, err)
	}
	return names, nil
}

// lookupDef finds the setting name of s: declared, or by pattern.
func lookupDef(s *source, name string) (Setting, bool) {
	for _, d := range s.cfg.Connector.Settings() {
		if d.Name == name {
			return d, true
		}
	}
	if ps, ok := s.cfg.Connector.(PatternSettings); ok {
		return ps.SettingFor(name)
	}
	return Setting{}, false
}

// values reads the effective settings of s: stored values over configured
// defaults over declared defaults, secrets opened.
func (e *Engine) values(ctx context.Context, s *source) (map[string]string, error) {
	out := map[string]string{}
	defs, err := e.defs(ctx, s)
	if err != nil {
		return nil, err
	}
	for _, def := range defs {
		v, set, err := e.value(ctx, s, def)
		if err != nil {
			return nil, err
		}
		if set || def.Default != "" {
			out[def.Name] = v
		}
	}
	return out, nil
}

func (e *Engine) value(ctx context.Context, s *source, def Setting) (string, bool, error) {
	stored, err := e.st.Store().GetSetting(ctx, settingKey(s.name, def.Name))
	switch {
	case errors.Is(err, identity.ErrNotFound) || (err == nil && stored == ""):
		if v, ok := s.cfg.Defaults[def.Name]; ok && v != "" {
			return v, true, nil
		}
		return def.Default, false, nil
	case err != nil:
		return "", false, fmt.Errorf("read setting %s: %w", def.Name, err)
	}
	if !def.Secret {
		return stored, true, nil
	}
	if e.cfg.Secrets == nil {
		return "", false, secretKeyError{fmt.Sprintf("the %s setting %s is stored encrypted, but no secret key is configured: set GATEHOUSE_SECRET_KEY or GATEHOUSE_SECRET_KEY_FILE to the key it was stored with", s.name, def.Name)}
	}
	plain, err := e.cfg.Secrets.OpenFor(settingKey(s.name, def.Name), stored)
	if err != nil {
		return "", false, secretKeyError{fmt.Sprintf("the %s setting %s cannot be decrypted with the configured secret keys: %v", s.name, def.Name, err)}
	}
	return plain, true, nil
}

// Values returns the effective settings of src, secrets opened: what the
// connector is opened with. Never show them; they hold secrets.
func (e *Engine) Values(ctx context.Context, name identity.Source) (map[string]string, error) {
	s, err := e.source(name)
	if err != nil {
		return nil, err
	}
	return e.values(ctx, s)
}

// Settings returns the settings of src, secrets masked.
func (e *Engine) Settings(ctx context.Context, name identity.Source) ([]SettingValue, error) {
	s, err := e.source(name)
	if err != nil {
		return nil, err
	}
	var out []SettingValue
	defs, err := e.defs(ctx, s)
	if err != nil {
		return nil, err
	}
	for _, def := range defs {
		v, set, err := e.value(ctx, s, def)
		if err != nil && !errors.Is(err, errSecretKey) {
			return nil, err
		}
		if def.Secret {
			v = ""
			if set {
				v = Masked
			}
		}
		out = append(out, SettingValue{Setting: def, Value: v, IsSet: set})
	}
	return out, nil
}

// SetSettings changes settings of src by name. Unknown names are refused
// naming them; a secret given as [Masked] keeps its value; an empty value
// resets a setting to its default. When the connector is a [Checker], the
// resulting settings are checked against the live source before anything
// is stored, and its error (the reason) refuses the change.
func (e *Engine) SetSettings(ctx context.Context, name identity.Source, changes map[string]string) error {
	s, err := e.source(name)
	if err != nil {
		return err
	}
	defs := map[string]Setting{}
	var known, extra []string
	for _, d := range s.cfg.Connector.Settings() {
		known = append(known, d.Name)
	}
	for k := range changes {
		d, ok := lookupDef(s, k)
		if !ok {
			return identity.Errorf(identity.ErrInvalid, "Unknown setting '%s' of source %s; known: %s", k, name, strings.Join(known, ", "))
		}
		defs[k] = d
		if !slices.Contains(known, k) {
			extra = append(extra, k)
		}
	}
	merged, err := e.values(ctx, s)
	if err != nil {
		return err
	}
	_, werr := s.cfg.Connector.Open(ctx, merged)
	wasOn := werr == nil
	stored := map[string]string{}
	view := map[string]string{}
	for k, v := range changes {
		def := defs[k]
		if def.Secret && v == Masked {
			continue
		}
		if v == "" {
			delete(merged, k)
			if def.Default != "" {
				merged[k] = def.Default
			}
		} else {
			merged[k] = v
		}
		switch {
		case def.Secret && v != "":
			if e.cfg.Secrets == nil {
				return identity.Errorf(identity.ErrInvalid, "Setting '%s' is a secret and no secret key is configured: start Gatehouse with GATEHOUSE_SECRET_KEY or GATEHOUSE_SECRET_KEY_FILE", k)
			}
			sealed, err := e.cfg.Secrets.SealFor(settingKey(name, k), v)
			if err != nil {
				return fmt.Errorf("seal %s: %w", k, err)
			}
			stored[settingKey(name, k)], view[k] = sealed, Masked
		default:
			stored[settingKey(name, k)], view[k] = v, v
		}
	}
	if len(stored) == 0 {
		return nil
	}
	if len(extra) > 0 {
		names, err := e.extraNames(ctx, name)
		if err != nil {
			return err
		}
		names = append(names, extra...)
		slices.Sort(names)
		b, _ := json.Marshal(slices.Compact(names))
		stored[extraKey(name)] = string(b)
	}
	_, oerr := s.cfg.Connector.Open(ctx, merged)
	if oerr != nil && !errors.Is(oerr, ErrDisabled) {
		return oerr
	}
	if ch, ok := s.cfg.Connector.(Checker); ok && oerr == nil {
		if err := ch.Check(ctx, merged); err != nil {
			return identity.Errorf(identity.ErrInvalid, "The %s settings were not saved: %v", name, err)
		}
	}
	// Switching the sync off releases the source's groups where its policy
	// says so; the run lock keeps a run from recreating them meanwhile,
	// and a running sync refuses the switch rather than race it.
	release := wasOn && errors.Is(oerr, ErrDisabled) && e.policy(s).ReleaseGroupsOnDisable
	if release {
		unlock, err := e.lockRun(ctx, s)
		if err != nil {
			return fmt.Errorf("the %s settings were not saved: %w; try again when it finished", name, err)
		}
		defer unlock()
		// Groups first: when that fails the sync stays on and saving again
		// retries; once saved off, nothing would remove them.
		if _, err := e.releaseGroups(ctx, s); err != nil {
			return fmt.Errorf("the %s settings were not saved: removing its groups failed: %w", name, err)
		}
	}
	if err := e.st.SetSourceSettings(ctx, name, stored, view); err != nil {
		return err
	}
	e.poke(s) // the schedule follows the new settings
	if e.cfg.OnSettings != nil {
		if values, err := e.values(ctx, s); err == nil {
			e.cfg.OnSettings(name, values)
		}
	}
	return nil
}
