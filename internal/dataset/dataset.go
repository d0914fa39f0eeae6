// Package dataset generates synthetic Gatehouse data sets of a given size for
// benchmarks and load tests: users in groups, projects, grants and tokens,
// with a fixed seed so that runs compare.
package dataset

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/token"
)

// Size is the shape of a data set.
type Size struct {
	Users, Groups, Projects, Memberships, Grants int
	// Tokens is the number of user tokens (one per user at most) plus one
	// organization token over all projects.
	Tokens int
}

// Standard is the data set the issues' targets are stated for.
var Standard = Size{Users: 10_000, Groups: 1_000, Projects: 5_000, Memberships: 100_000, Grants: 200_000, Tokens: 10_000}

// Set is a generated data set: the snapshot to load, and the secrets of its
// tokens (index i belongs to Snapshot.Tokens[i]).
type Set struct {
	Snapshot store.Snapshot
	Secrets  []string
}

// Generate builds a data set. Ids are 1-based and dense; group 1 is
// sonar-administrators and group 2 sonar-users; every fifth project is
// public; most grants go to groups, as in real instances.
func Generate(sz Size, seed uint64) (*Set, error) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	s := &Set{}
	snap := &s.Snapshot
	snap.TokenProjects = map[int64][]int64{}

	for i := 1; i <= sz.Groups; i++ {
		name := fmt.Sprintf("group-%04d", i)
		switch i {
		case 1:
			name = identity.GroupAdministrators
		case 2:
			name = identity.GroupUsers
		}
		snap.Groups = append(snap.Groups, identity.Group{ID: int64(i), Name: name, Source: identity.SourceLocal, CreatedAt: now})
	}
	for i := 1; i <= sz.Users; i++ {
		snap.Users = append(snap.Users, identity.User{
			ID: int64(i), Login: fmt.Sprintf("user-%05d", i), Name: fmt.Sprintf("User %d", i),
			Email: fmt.Sprintf("user%d@example.com", i), Source: identity.SourceLocal, Active: true, CreatedAt: now,
		})
	}
	for i := 1; i <= sz.Projects; i++ {
		vis := identity.Private
		if i%5 == 0 {
			vis = identity.Public
		}
		snap.Projects = append(snap.Projects, identity.Project{
			ID: int64(i), Key: fmt.Sprintf("org.example:project-%05d", i), Name: fmt.Sprintf("Project %d", i),
			Visibility: vis, Source: identity.SourceLocal, CreatedAt: now,
		})
	}

	type pair struct{ a, b int64 }
	seen := make(map[pair]bool, sz.Memberships)
	groupsFrom := int64(3) // built-ins get explicit members only below
	for len(snap.Memberships) < sz.Memberships && sz.Groups > 2 {
		u := int64(rng.IntN(sz.Users)) + 1
		g := groupsFrom + int64(rng.IntN(sz.Groups-2))
		if seen[pair{u, g}] {
			continue
		}
		seen[pair{u, g}] = true
		snap.Memberships = append(snap.Memberships, identity.Membership{UserID: u, GroupID: g})
	}
	if sz.Users > 0 && sz.Groups > 0 {
		snap.Memberships = append(snap.Memberships, identity.Membership{UserID: 1, GroupID: 1})
		snap.Grants = append(snap.Grants, identity.Grant{Subject: identity.GroupSubject(1), Permission: identity.PermAdmin})
	}

	type grantKey struct {
		s identity.Subject
		p int64
		m identity.Permission
	}
	gseen := make(map[grantKey]bool, sz.Grants)
	for len(snap.Grants) < sz.Grants && sz.Projects > 0 {
		var sub identity.Subject
		if rng.IntN(4) == 0 { // a quarter of grants go to users directly
			sub = identity.UserSubject(int64(rng.IntN(sz.Users)) + 1)
		} else {
			sub = identity.GroupSubject(groupsFrom + int64(rng.IntN(max(sz.Groups-2, 1))))
		}
		pid := int64(rng.IntN(sz.Projects)) + 1
		proj := snap.Projects[pid-1]
		perm := identity.ProjectPermissions[rng.IntN(len(identity.ProjectPermissions))]
		g := identity.Grant{Subject: sub, ProjectID: pid, Permission: perm}
		if identity.ValidateGrant(g, &proj) != nil || gseen[grantKey{sub, pid, perm}] {
			continue
		}
		gseen[grantKey{sub, pid, perm}] = true
		snap.Grants = append(snap.Grants, g)
	}

	for i := 1; i <= sz.Tokens && i <= sz.Users; i++ {
		secret, hash, err := token.Generate(identity.TokenUser)
		if err != nil {
			return nil, err
		}
		snap.Tokens = append(snap.Tokens, identity.Token{
			ID: int64(i), Name: "ci", Type: identity.TokenUser, UserID: int64(i), Hash: hash[:], CreatedAt: now,
		})
		s.Secrets = append(s.Secrets, secret)
	}
	if sz.Tokens > 0 {
		secret, hash, err := token.Generate(identity.TokenOrganization)
		if err != nil {
			return nil, err
		}
		snap.Tokens = append(snap.Tokens, identity.Token{
			ID: int64(len(snap.Tokens) + 1), Name: "all-projects-scan", Type: identity.TokenOrganization, Hash: hash[:],
			Permissions: []identity.Permission{identity.PermScan}, Scope: identity.TokenScope{Set: identity.SetAll}, CreatedAt: now,
		})
		s.Secrets = append(s.Secrets, secret)
	}
	return s, nil
}
