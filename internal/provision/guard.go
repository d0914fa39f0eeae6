package provision

import (
	"fmt"
)

// Guard bounds how much access one run may take away (SPEC §4): GitLab's own
// LDAP sync blocked every user when its directory was unreachable. A plan
// over a bound ends the run aborted unless it is forced.
type Guard struct {
	// MaxDeactivateShare is the share of the source's active users one run
	// may deactivate; 0.10 when 0.
	MaxDeactivateShare float64
	// MaxRemoveShare is the share of the memberships of the source's groups
	// and users one run may remove; 0.10 when 0.
	MaxRemoveShare float64
	// Floor is the number of deactivations (and of removals) always
	// allowed, so that a small source can lose one user; 5 when 0, none
	// when negative.
	Floor int
}

func (g Guard) withDefaults() Guard {
	if g.MaxDeactivateShare <= 0 {
		g.MaxDeactivateShare = 0.10
	}
	if g.MaxRemoveShare <= 0 {
		g.MaxRemoveShare = 0.10
	}
	if g.Floor == 0 {
		g.Floor = 5
	}
	if g.Floor < 0 {
		g.Floor = 0
	}
	return g
}

// Check returns nil when plan stays within the bounds for cur, and
// otherwise an error saying which bound it crosses and how to proceed.
func (g Guard) Check(cur Current, plan *Plan, src string) error {
	g = g.withDefaults()
	srcUsers, managedMembers := 0, 0
	ids := map[int64]bool{}
	groups := map[int64]bool{}
	for _, u := range cur.Users {
		if string(u.Source) == src {
			ids[u.ID] = true
			if u.Active {
				srcUsers++
			}
		}
	}
	for _, gr := range cur.Groups {
		if string(gr.Source) == src {
			groups[gr.ID] = true
		}
	}
	for _, m := range cur.Memberships {
		if ids[m.UserID] || groups[m.GroupID] {
			managedMembers++
		}
	}
	if n := len(plan.DeactivateUsers); n > g.Floor && float64(n) > g.MaxDeactivateShare*float64(srcUsers) {
		return fmt.Errorf("the run would deactivate %d of the source's %d active users, more than the allowed %.0f%%: check the source, then run with force=true to apply it", n, srcUsers, 100*g.MaxDeactivateShare)
	}
	if n := plan.Removals(cur); n > g.Floor && float64(n) > g.MaxRemoveShare*float64(managedMembers) {
		return fmt.Errorf("the run would remove %d of %d memberships, more than the allowed %.0f%%: check the source, then run with force=true to apply it", n, managedMembers, 100*g.MaxRemoveShare)
	}
	return nil
}
