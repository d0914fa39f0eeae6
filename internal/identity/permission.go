package identity

import "strings"

// Permission is a SonarQube permission key. The same key may be global or
// project-level depending on where it is granted ("admin", "scan").
type Permission string

// Global and project permission keys (SPEC §1).
const (
	PermAdmin        Permission = "admin"
	PermGateAdmin    Permission = "gateadmin"
	PermProfileAdmin Permission = "profileadmin"
	PermProvisioning Permission = "provisioning"
	PermScan         Permission = "scan"

	PermUser                 Permission = "user" // browse
	PermCodeViewer           Permission = "codeviewer"
	PermIssueAdmin           Permission = "issueadmin"
	PermSecurityHotspotAdmin Permission = "securityhotspotadmin"
)

// GlobalPermissions lists the global permissions in SonarQube's order.
var GlobalPermissions = []Permission{PermAdmin, PermGateAdmin, PermProfileAdmin, PermProvisioning, PermScan}

// ProjectPermissions lists the project permissions in SonarQube's order.
var ProjectPermissions = []Permission{PermAdmin, PermCodeViewer, PermIssueAdmin, PermSecurityHotspotAdmin, PermScan, PermUser}

// IsGlobal reports whether p can be granted globally.
func (p Permission) IsGlobal() bool {
	switch p {
	case PermAdmin, PermGateAdmin, PermProfileAdmin, PermProvisioning, PermScan:
		return true
	}
	return false
}

// IsProject reports whether p can be granted on a project.
func (p Permission) IsProject() bool {
	switch p {
	case PermAdmin, PermCodeViewer, PermIssueAdmin, PermSecurityHotspotAdmin, PermScan, PermUser:
		return true
	}
	return false
}

// ImplicitOnPublic reports whether everyone holds p on every public project;
// such permissions cannot be granted or removed there.
func (p Permission) ImplicitOnPublic() bool { return p == PermUser || p == PermCodeViewer }

// ParseGlobalPermission validates a global permission key.
func ParseGlobalPermission(s string) (Permission, error) {
	p := Permission(s)
	if !p.IsGlobal() {
		return "", Errorf(ErrInvalid, "Value of parameter 'permission' (%s) must be one of: [%s]", s, joinPerms(GlobalPermissions))
	}
	return p, nil
}

// ParseProjectPermission validates a project permission key.
func ParseProjectPermission(s string) (Permission, error) {
	p := Permission(s)
	if !p.IsProject() {
		return "", Errorf(ErrInvalid, "Value of parameter 'permission' (%s) must be one of: [%s]", s, joinPerms(ProjectPermissions))
	}
	return p, nil
}

func joinPerms(ps []Permission) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}
