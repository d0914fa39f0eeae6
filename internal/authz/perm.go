package authz

import "github.com/gatehouse-dev/gatehouse/internal/identity"

// permSet is a bit set of permissions; global and project sets use the same
// bits, since the keys overlap ("admin", "scan").
type permSet uint16

const (
	bitAdmin permSet = 1 << iota
	bitGateAdmin
	bitProfileAdmin
	bitProvisioning
	bitScan
	bitUser
	bitCodeViewer
	bitIssueAdmin
	bitSecurityHotspotAdmin
)

func bitOf(p identity.Permission) permSet {
	switch p {
	case identity.PermAdmin:
		return bitAdmin
	case identity.PermGateAdmin:
		return bitGateAdmin
	case identity.PermProfileAdmin:
		return bitProfileAdmin
	case identity.PermProvisioning:
		return bitProvisioning
	case identity.PermScan:
		return bitScan
	case identity.PermUser:
		return bitUser
	case identity.PermCodeViewer:
		return bitCodeViewer
	case identity.PermIssueAdmin:
		return bitIssueAdmin
	case identity.PermSecurityHotspotAdmin:
		return bitSecurityHotspotAdmin
	}
	return 0
}

func setOf(ps []identity.Permission) permSet {
	var s permSet
	for _, p := range ps {
		s |= bitOf(p)
	}
	return s
}

// grants are the permissions held by one subject.
type grants struct {
	global   permSet
	projects map[int64]permSet
}

func (g *grants) add(projectID int64, b permSet) {
	if projectID == 0 {
		g.global |= b
		return
	}
	if g.projects == nil {
		g.projects = make(map[int64]permSet)
	}
	g.projects[projectID] |= b
}

func (g *grants) remove(projectID int64, b permSet) {
	if projectID == 0 {
		g.global &^= b
		return
	}
	if s, ok := g.projects[projectID]; ok {
		if s &^= b; s == 0 {
			delete(g.projects, projectID)
		} else {
			g.projects[projectID] = s
		}
	}
}
