package importer

import (
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// FromSnapshot is the data set of a store snapshot (active users only),
// by names: what importing it into an empty Gatehouse reproduces. Tokens
// are listed to re-create; templates are not in a snapshot.
func FromSnapshot(snap store.Snapshot) *DataSet {
	ds := &DataSet{}
	users, groups, projects := map[int64]string{}, map[int64]string{}, map[int64]string{}
	for _, u := range snap.Users {
		if !u.Active {
			continue
		}
		users[u.ID] = u.Login
		ds.Users = append(ds.Users, User{Login: u.Login, Name: u.Name, Email: u.Email, SCMAccounts: u.SCMAccounts})
	}
	for _, g := range snap.Groups {
		groups[g.ID] = g.Name
		ds.Groups = append(ds.Groups, Group{Name: g.Name, Description: g.Description})
	}
	for _, p := range snap.Projects {
		projects[p.ID] = p.Key
		ds.Projects = append(ds.Projects, Project{Key: p.Key, Name: p.Name, Visibility: p.Visibility})
	}
	for _, m := range snap.Memberships {
		if login, ok := users[m.UserID]; ok {
			ds.Memberships = append(ds.Memberships, Membership{Group: groups[m.GroupID], Login: login})
		}
	}
	for _, g := range snap.Grants {
		p := Permission{Permission: g.Permission, Project: projects[g.ProjectID]}
		switch g.Subject.Kind {
		case identity.SubjectUser:
			login, ok := users[g.Subject.ID]
			if !ok {
				continue
			}
			p.User = login
		case identity.SubjectGroup:
			p.Group = groups[g.Subject.ID]
		case identity.SubjectAnyone:
			p.Group = identity.GroupAnyone
		default:
			continue
		}
		ds.Permissions = append(ds.Permissions, p)
	}
	for _, t := range snap.Tokens {
		if login, ok := users[t.UserID]; ok {
			ds.Tokens = append(ds.Tokens, Token{Login: login, Name: t.Name, Type: string(t.Type)})
		}
	}
	return ds
}
