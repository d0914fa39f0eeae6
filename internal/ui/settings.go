package ui

import (
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/provision"
)

// clearPrefix names a secret's "remove the stored value" box.
const clearPrefix = "clear:"

// settingChanges are the changes a source's settings form asks of the
// current settings: a field left as shown is not sent (so a default stays
// a default); a secret left empty (or masked) keeps the stored one, unless
// its box (clearPrefix+name) says to remove it. Settings named in skip are
// edited elsewhere on the page. The engine checks the result on save.
func settingChanges(current []provision.SettingValue, form url.Values, skip ...string) map[string]string {
	changes := map[string]string{}
	for _, s := range current {
		if slices.Contains(skip, s.Name) {
			continue
		}
		_, sent := form[s.Name]
		v := strings.TrimSpace(form.Get(s.Name))
		switch {
		case s.Secret && form.Get(clearPrefix+s.Name) != "":
			if s.IsSet {
				changes[s.Name] = ""
			}
		case s.Secret:
			if v != "" && v != provision.Masked {
				changes[s.Name] = v
			}
		case sent && v != s.Value:
			changes[s.Name] = v
		}
	}
	return changes
}
