package gitlabsim

import (
	"fmt"
	"math/rand/v2"
)

// ScaleOptions size a generated fixture. Zero Groups and Projects scale
// with Users as in the benchmark target (20,000 users, 3,000 groups, 30,000
// projects).
type ScaleOptions struct {
	Users, Groups, Projects int
	Seed                    uint64
}

// Access levels drawn for generated memberships, with their weights.
var scaleLevels = []struct{ level, weight int }{
	{10, 10}, {15, 5}, {20, 25}, {30, 43}, {40, 13}, {50, 4},
}

// Scale generates a large fixture shaped like a company's GitLab: a root
// group per 300 groups, each with a handful of Owners; subgroups up to
// five levels deep; every user a direct member of one to three subgroups
// (levels mostly Developer and Reporter, 5% with one of two custom roles
// per root); 1% of groups invite another group; projects spread over the
// groups (70% private, 20% internal, 10% public), 10% with direct members
// and 2% shared with another group; 1% of users blocked. The sync token is
// glpat-sync-token (an administrator's, read_api) and the OAuth application
// gatehouse-app / gatehouse-secret, as in [Example].
func Scale(o ScaleOptions) *Fixture {
	if o.Groups == 0 {
		o.Groups = max(o.Users*3/20, 1)
	}
	if o.Projects == 0 {
		o.Projects = o.Users * 3 / 2
	}
	r := rand.New(rand.NewPCG(o.Seed, 0x6c61622d73696d))
	level := func() int {
		n := r.IntN(100)
		for _, l := range scaleLevels {
			if n < l.weight {
				return l.level
			}
			n -= l.weight
		}
		return 30
	}
	f := &Fixture{
		Tokens:            []Token{{Token: "glpat-sync-token", User: "root", Scopes: []string{"read_api"}}},
		OAuthApplications: []OAuthApplication{{ClientID: "gatehouse-app", Secret: "gatehouse-secret"}},
	}
	f.Users = append(f.Users, User{Username: "root", Name: "Administrator", Email: "root@example.com", Admin: true})
	for i := range o.Users {
		u := User{Username: fmt.Sprintf("user%05d", i), Name: fmt.Sprintf("User %05d", i), Email: fmt.Sprintf("user%05d@example.com", i)}
		if r.IntN(100) == 0 {
			u.State = "blocked"
		}
		f.Users = append(f.Users, u)
	}
	user := func() string { return f.Users[1+r.IntN(o.Users)].Username }

	roots := max(o.Groups/300, 1)
	type node struct {
		path  string
		depth int
		root  int
	}
	var nodes []node
	for i := range roots {
		p := fmt.Sprintf("org%02d", i)
		nodes = append(nodes, node{path: p, depth: 1, root: i})
		g := Group{FullPath: p, Visibility: "private"}
		for range 5 {
			g.Members = append(g.Members, Member{User: user(), AccessLevel: 50})
		}
		f.Groups = append(f.Groups, g)
		for k := range 2 {
			f.MemberRoles = append(f.MemberRoles, MemberRole{Name: fmt.Sprintf("org%02d role %d", i, k), BaseAccessLevel: 20 + 10*k, Group: p})
		}
	}
	for i := roots; i < o.Groups; i++ {
		// A parent among the groups so far, not at depth five, favouring
		// shallow trees as real ones are.
		var parent node
		for {
			parent = nodes[r.IntN(len(nodes))]
			if parent.depth < 5 && r.IntN(parent.depth) == 0 {
				break
			}
		}
		n := node{path: fmt.Sprintf("%s/team%04d", parent.path, i), depth: parent.depth + 1, root: parent.root}
		nodes = append(nodes, n)
		f.Groups = append(f.Groups, Group{FullPath: n.path, Visibility: "private"})
	}
	subgroups := len(nodes) - roots
	member := func(root int) Member {
		m := Member{User: user(), AccessLevel: level()}
		if r.IntN(20) == 0 {
			role := f.MemberRoles[2*root+r.IntN(2)]
			m.AccessLevel, m.MemberRole = role.BaseAccessLevel, role.Name
		}
		return m
	}
	for i := range o.Users {
		if subgroups == 0 {
			break
		}
		for range 1 + r.IntN(3) {
			gi := roots + r.IntN(subgroups)
			m := member(nodes[gi].root)
			m.User = f.Users[1+i].Username
			f.Groups[gi].Members = append(f.Groups[gi].Members, m)
		}
	}
	for i := range f.Groups {
		// A user twice in a group keeps the first level.
		seen := map[string]bool{}
		ms := f.Groups[i].Members[:0]
		for _, m := range f.Groups[i].Members {
			if !seen[m.User] {
				seen[m.User] = true
				ms = append(ms, m)
			}
		}
		f.Groups[i].Members = ms
		if i >= roots && r.IntN(100) == 0 {
			other := nodes[r.IntN(len(nodes))].path
			if other != f.Groups[i].FullPath {
				f.Groups[i].SharedWithGroups = []Share{{Group: other, GroupAccessLevel: 20}}
			}
		}
	}
	for i := range o.Projects {
		ns := nodes[r.IntN(len(nodes))]
		p := Project{PathWithNamespace: fmt.Sprintf("%s/project%05d", ns.path, i), Visibility: "private"}
		switch v := r.IntN(10); {
		case v < 2:
			p.Visibility = "internal"
		case v == 2:
			p.Visibility = "public"
		}
		if r.IntN(10) == 0 {
			seen := map[string]bool{}
			for range 1 + r.IntN(3) {
				m := member(ns.root)
				if !seen[m.User] {
					seen[m.User] = true
					p.Members = append(p.Members, m)
				}
			}
		}
		if r.IntN(50) == 0 {
			p.SharedWithGroups = []Share{{Group: nodes[r.IntN(len(nodes))].path, GroupAccessLevel: 30}}
		}
		f.Projects = append(f.Projects, p)
	}
	return f
}
