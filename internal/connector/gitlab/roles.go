package gitlab

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// BaseRole is one of GitLab's built-in roles.
type BaseRole struct {
	Name  string
	Level int // GitLab's access level
}

// BaseRoles are GitLab's roles that can be mapped, lowest first. Minimal
// access (5) grants nothing and is not mapped.
var BaseRoles = []BaseRole{
	{"Guest", 10}, {"Planner", 15}, {"Reporter", 20}, {"Developer", 30}, {"Maintainer", 40}, {"Owner", 50},
}

// minMemberLevel is the lowest access level counted as a membership:
// Minimal access members see nothing of a group.
const minMemberLevel = 10

func baseRole(level int) (BaseRole, bool) {
	// A level between two roles (or above Owner, e.g. 60 Admin) counts as
	// the highest role it reaches.
	var out BaseRole
	for _, r := range BaseRoles {
		if level >= r.Level {
			out = r
		}
	}
	return out, out.Name != ""
}

// RoleMapping maps GitLab roles (base and custom, by name) to project
// permissions. The zero value maps nothing; use [DefaultRoleMapping] or
// [ParseRoleMapping].
type RoleMapping struct {
	// roles by lower-case name; names keep the spelling given.
	roles map[string][]identity.Permission
	names map[string]string
}

// RoleEntry is one role of a mapping.
type RoleEntry struct {
	Role        string
	Base        bool // a base role (cannot be removed)
	Permissions []identity.Permission
}

// DefaultRoleMapping is SonarQube's default table: Guest browses; Planner
// and Reporter also see code; Developer also administers issues and
// security hotspots and scans; Maintainer and Owner also administer.
func DefaultRoleMapping() RoleMapping {
	browse := []identity.Permission{identity.PermUser}
	see := append(slices.Clone(browse), identity.PermCodeViewer)
	dev := append(slices.Clone(see), identity.PermIssueAdmin, identity.PermSecurityHotspotAdmin, identity.PermScan)
	all := append(slices.Clone(dev), identity.PermAdmin)
	m := RoleMapping{}
	for _, e := range []RoleEntry{
		{Role: "Guest", Permissions: browse}, {Role: "Planner", Permissions: see}, {Role: "Reporter", Permissions: see},
		{Role: "Developer", Permissions: dev}, {Role: "Maintainer", Permissions: all}, {Role: "Owner", Permissions: all},
	} {
		m.set(e.Role, sortPerms(slices.Clone(e.Permissions)))
	}
	return m
}

func (m *RoleMapping) set(role string, perms []identity.Permission) {
	if m.roles == nil {
		m.roles, m.names = map[string][]identity.Permission{}, map[string]string{}
	}
	k := strings.ToLower(role)
	if _, ok := m.names[k]; !ok || isBase(role) {
		m.names[k] = role
	}
	if b, ok := baseByName(role); ok {
		m.names[k] = b.Name
	}
	m.roles[k] = perms
}

func baseByName(name string) (BaseRole, bool) {
	for _, r := range BaseRoles {
		if strings.EqualFold(r.Name, name) {
			return r, true
		}
	}
	return BaseRole{}, false
}

func isBase(name string) bool { _, ok := baseByName(name); return ok }

// ParseRoleMapping reads a mapping in its JSON form, an object of role name
// to permission keys: {"Developer": ["user", "codeviewer", "scan"]}. Base
// roles left out keep the default; any other name is a custom role. Keys are
// SonarQube's (user, codeviewer, issueadmin, securityhotspotadmin, scan,
// admin), in any case, so SonarQube's v2 spelling (codeViewer) is accepted.
// An empty string is the default mapping.
func ParseRoleMapping(s string) (RoleMapping, error) {
	m := DefaultRoleMapping()
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	var raw map[string][]string
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return RoleMapping{}, invalid("%s: not a JSON object of role name to a list of permissions: %s", SettingRoleMapping, err.Error())
	}
	seen := map[string]string{}
	for role, keys := range raw {
		role = strings.TrimSpace(role)
		if role == "" {
			return RoleMapping{}, invalid("%s: a role name is empty", SettingRoleMapping)
		}
		if other, dup := seen[strings.ToLower(role)]; dup {
			return RoleMapping{}, invalid("%s: role '%s' is given twice (also as '%s')", SettingRoleMapping, role, other)
		}
		seen[strings.ToLower(role)] = role
		perms := []identity.Permission{}
		for _, k := range keys {
			p := identity.Permission(strings.ToLower(strings.TrimSpace(k)))
			if !p.IsProject() {
				return RoleMapping{}, invalid("%s: role '%s': '%s' is not a project permission (user, codeviewer, issueadmin, securityhotspotadmin, scan, admin)", SettingRoleMapping, role, k)
			}
			if !slices.Contains(perms, p) {
				perms = append(perms, p)
			}
		}
		m.set(role, sortPerms(perms))
	}
	return m, nil
}

func sortPerms(ps []identity.Permission) []identity.Permission {
	slices.SortFunc(ps, func(a, b identity.Permission) int {
		return slices.Index(identity.ProjectPermissions, a) - slices.Index(identity.ProjectPermissions, b)
	})
	return ps
}

// Entries lists the mapping: base roles in GitLab's order, then custom roles
// by name.
func (m RoleMapping) Entries() []RoleEntry {
	var out []RoleEntry
	for _, r := range BaseRoles {
		out = append(out, RoleEntry{Role: r.Name, Base: true, Permissions: slices.Clone(m.roles[strings.ToLower(r.Name)])})
	}
	var custom []RoleEntry
	for k, name := range m.names {
		if !isBase(name) {
			custom = append(custom, RoleEntry{Role: name, Permissions: slices.Clone(m.roles[k])})
		}
	}
	slices.SortFunc(custom, func(a, b RoleEntry) int { return strings.Compare(a.Role, b.Role) })
	return append(out, custom...)
}

// With returns a copy of m with role mapped to perms (a custom role is
// added); Without returns a copy without the custom role. They are for the
// permission-mapping API, which stores the result's String.
func (m RoleMapping) With(role string, perms []identity.Permission) RoleMapping {
	c := m.clone()
	c.set(role, sortPerms(slices.Clone(perms)))
	return c
}

// Without returns a copy of m without the custom role; base roles cannot be
// removed and are kept.
func (m RoleMapping) Without(role string) RoleMapping {
	c := m.clone()
	if !isBase(role) {
		delete(c.roles, strings.ToLower(role))
		delete(c.names, strings.ToLower(role))
	}
	return c
}

func (m RoleMapping) clone() RoleMapping {
	c := RoleMapping{}
	for k, ps := range m.roles {
		c.set(m.names[k], slices.Clone(ps))
	}
	return c
}

// String is the JSON form ParseRoleMapping reads, with every base role
// spelled out.
func (m RoleMapping) String() string {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range m.Entries() {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.Role)
		v, _ := json.Marshal(e.Permissions)
		if e.Permissions == nil {
			v = []byte("[]")
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String()
}

// Permissions returns the project permissions of a member at access level
// level with the custom role customRole (""): the custom role's own entry
// if it has one, else the base role's.
func (m RoleMapping) Permissions(level int, customRole string) []identity.Permission {
	if customRole != "" {
		if ps, ok := m.roles[strings.ToLower(customRole)]; ok && !isBase(customRole) {
			return ps
		}
	}
	r, ok := baseRole(level)
	if !ok {
		return nil
	}
	return m.roles[strings.ToLower(r.Name)]
}

// Entry finds role's entry (case-insensitive, as GitLab's role names).
func (m RoleMapping) Entry(role string) (RoleEntry, bool) {
	for _, e := range m.Entries() {
		if strings.EqualFold(e.Role, role) {
			return e, true
		}
	}
	return RoleEntry{}, false
}

// HasRole reports whether the mapping has an entry for role.
func (m RoleMapping) HasRole(role string) bool {
	_, ok := m.roles[strings.ToLower(role)]
	return ok
}
