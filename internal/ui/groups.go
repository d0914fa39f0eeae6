package ui

import (
	"errors"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (u *UI) groupRoutes() []route {
	return []route{
		{"GET /groups", adminOnly, u.groups},
		{"POST /groups/new", adminOnly, u.createGroup},
		{"GET /groups/{name}", adminOnly, u.groupPage},
		{"POST /groups/{name}/update", adminOnly, u.updateGroup},
		{"POST /groups/{name}/members/add", adminOnly, u.addGroupMember},
		{"POST /groups/{name}/members/remove", adminOnly, u.removeGroupMember},
		{"POST /groups/{name}/delete", adminOnly, u.deleteGroup},
	}
}

type groupRow struct {
	Group   identity.Group
	Members int
}

type groupsData struct {
	Query             string
	Rows              []groupRow
	Pager             pager
	NewName, NewAbout string
}

func (u *UI) groups(p *pageCall) error {
	d, err := u.groupsData(p)
	if err != nil {
		return err
	}
	return p.show("groups", "Groups", d)
}

func (u *UI) groupsData(p *pageCall) (groupsData, error) {
	q := p.r.URL.Query()
	d := groupsData{Query: strings.TrimSpace(q.Get("q"))}
	pg := pageOf(q)
	gs, total, err := u.st.Store().ListGroups(p.ctx, store.GroupFilter{Query: d.Query, Page: pg})
	if err != nil {
		return d, err
	}
	ids := make([]int64, len(gs))
	for i, g := range gs {
		ids[i] = g.ID
	}
	counts, err := u.st.Store().CountMembers(p.ctx, ids)
	if err != nil {
		return d, err
	}
	for _, g := range gs {
		d.Rows = append(d.Rows, groupRow{Group: g, Members: counts[g.ID]})
	}
	d.Pager = newPager("/groups", q, pg, total)
	return d, nil
}

func (u *UI) createGroup(p *pageCall) error {
	name, about := strings.TrimSpace(p.r.PostForm.Get("name")), strings.TrimSpace(p.r.PostForm.Get("description"))
	g, err := u.st.CreateGroup(p.ctx, identity.Group{Name: name, Description: about})
	if err != nil {
		d, lerr := u.groupsData(p)
		if lerr != nil {
			return lerr
		}
		d.NewName, d.NewAbout = name, about
		return p.showError("groups", "Groups", d, err)
	}
	return p.done("/groups/"+url.PathEscape(g.Name), "Group "+g.Name+" created.")
}

type groupData struct {
	Group    identity.Group
	Everyone bool // sonar-users: every active user, no explicit members
	// Name and About are the rename form's values.
	Name, About string
	Query       string
	Members     []identity.User
	Pager       pager
}

func (u *UI) loadGroup(p *pageCall) (identity.Group, error) {
	name := p.r.PathValue("name")
	g, err := u.st.Store().GetGroupByName(p.ctx, name)
	if errors.Is(err, identity.ErrNotFound) {
		return g, identity.Errorf(identity.ErrNotFound, "No group with name '%s'", name)
	}
	return g, err
}

func (u *UI) groupPage(p *pageCall) error {
	g, err := u.loadGroup(p)
	if err != nil {
		return err
	}
	d, err := u.groupData(p, g)
	if err != nil {
		return err
	}
	return p.show("group", g.Name, d)
}

func (u *UI) groupData(p *pageCall, g identity.Group) (groupData, error) {
	q := p.r.URL.Query()
	d := groupData{Group: g, Everyone: g.Name == identity.GroupUsers, Query: strings.TrimSpace(q.Get("q")), Name: g.Name, About: g.Description}
	pg := pageOf(q)
	if !d.Everyone {
		ms, err := u.st.Store().ListMemberships(p.ctx, 0, g.ID)
		if err != nil {
			return d, err
		}
		total := 0
		if len(ms) > 0 {
			f := store.UserFilter{Query: d.Query, Page: pg, IDs: make([]int64, len(ms))}
			for i, m := range ms {
				f.IDs[i] = m.UserID
			}
			if d.Members, total, err = u.st.Store().ListUsers(p.ctx, f); err != nil {
				return d, err
			}
		}
		d.Pager = newPager("/groups/"+url.PathEscape(g.Name), q, pg, total)
	}
	return d, nil
}

// updateGroup renames a group and sets its description through the
// state's UpdateGroup, as api/user_groups/update does: the state refuses
// a managed group's (naming its source) and the default group's.
func (u *UI) updateGroup(p *pageCall) error {
	g, err := u.loadGroup(p)
	if err != nil {
		return err
	}
	name, about := strings.TrimSpace(p.r.PostForm.Get("name")), strings.TrimSpace(p.r.PostForm.Get("description"))
	ng, err := u.st.UpdateGroup(p.ctx, g.Name, state.GroupUpdate{Name: &name, Description: &about})
	if err != nil {
		d, lerr := u.groupData(p, g)
		if lerr != nil {
			return lerr
		}
		d.Name, d.About = name, about
		return p.showError("group", g.Name, d, err)
	}
	msg := "Group " + ng.Name + " saved."
	if ng.Name != g.Name {
		msg = "Group " + g.Name + " renamed to " + ng.Name + "."
	}
	return p.done("/groups/"+url.PathEscape(ng.Name), msg)
}

func (u *UI) addGroupMember(p *pageCall) error {
	name, login := p.r.PathValue("name"), strings.TrimSpace(p.r.PostForm.Get("login"))
	if err := u.st.AddMember(p.ctx, name, login); err != nil {
		return err
	}
	return p.done("/groups/"+url.PathEscape(name), login+" added to "+name+".")
}

func (u *UI) removeGroupMember(p *pageCall) error {
	name, login := p.r.PathValue("name"), p.r.PostForm.Get("login")
	if err := u.st.RemoveMember(p.ctx, name, login); err != nil {
		return err
	}
	return p.done("/groups/"+url.PathEscape(name), login+" removed from "+name+".")
}

func (u *UI) deleteGroup(p *pageCall) error {
	name := p.r.PathValue("name")
	if err := u.st.DeleteGroup(p.ctx, name); err != nil {
		return err
	}
	return p.done("/groups", "Group "+name+" deleted.")
}
