package ui

import (
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (u *UI) projectRoutes() []route {
	return []route{
		{"GET /projects", adminOnly, u.projects},
		{"POST /projects/new", projectCreator, u.createProject},
		{"GET /account/projects", signedIn, u.myProjects},
		// A project's administrators manage its permissions and
		// visibility and may delete it, as in the Web API.
		{"GET /projects/{key}", projectAdmin, u.projectPage},
		{"POST /projects/{key}/grant", projectAdmin, u.projectGrant(true)},
		{"POST /projects/{key}/revoke", projectAdmin, u.projectGrant(false)},
		{"POST /projects/{key}/visibility", projectAdmin, u.projectVisibility},
		{"POST /projects/{key}/delete", projectAdmin, u.deleteProject},
		{"GET /permissions", adminOnly, u.globalPermissions},
		{"POST /permissions/grant", adminOnly, u.globalGrant(true)},
		{"POST /permissions/revoke", adminOnly, u.globalGrant(false)},
	}
}

// projectList is a page of a project listing with its search (the
// project-list piece).
type projectList struct {
	Action, Query, Empty string
	Rows                 []identity.Project
	Pager                pager
}

type projectsData struct {
	List                        projectList
	NewKey, NewName, Visibility string
}

func (u *UI) projects(p *pageCall) error {
	d, err := u.projectsData(p)
	if err != nil {
		return err
	}
	return p.show("projects", "Projects", d)
}

func (u *UI) projectsData(p *pageCall) (projectsData, error) {
	q := p.r.URL.Query()
	d := projectsData{List: projectList{Action: "/projects", Query: strings.TrimSpace(q.Get("q")), Empty: "No project matches."}}
	pg := pageOf(q)
	ps, total, err := u.st.Store().ListProjects(p.ctx, store.ProjectFilter{Query: d.List.Query, Page: pg})
	if err != nil {
		return d, err
	}
	d.List.Rows = ps
	d.List.Pager = newPager("/projects", q, pg, total)
	v, err := u.st.DefaultVisibility(p.ctx)
	d.Visibility = string(v)
	return d, err
}

// myProjects lists the projects the signed-in user administers, as
// api/projects/search_my_projects does, a page at a time.
// myProjectsData is the "Projects I administer" page: the list, and the
// creation form for those who may create projects.
type myProjectsData struct {
	List                        projectList
	MayCreate                   bool
	NewKey, NewName, Visibility string
}

const myProjectsTitle = "Projects I administer"

func (u *UI) myProjectsData(p *pageCall) (myProjectsData, error) {
	q := p.r.URL.Query()
	d := projectList{Action: "/account/projects", Query: strings.TrimSpace(q.Get("q")), Empty: "You administer no project."}
	if d.Query != "" {
		d.Empty = "No project you administer matches."
	}
	ps, err := u.st.ProjectsWith(p.ctx, p.principal, identity.PermAdmin, store.ProjectFilter{Query: d.Query})
	if err != nil {
		return myProjectsData{}, err
	}
	pg := pageOf(q)
	d.Pager = newPager("/account/projects", q, pg, len(ps))
	from := min((min(pg.Number, d.Pager.Pages)-1)*pg.Size, len(ps))
	d.Rows = ps[from:min(from+pg.Size, len(ps))]
	return myProjectsData{List: d, MayCreate: u.st.MayCreateProjects(p.principal), Visibility: "private"}, nil
}

func (u *UI) myProjects(p *pageCall) error {
	d, err := u.myProjectsData(p)
	if err != nil {
		return err
	}
	return p.show("my_projects", myProjectsTitle, d)
}

func (u *UI) createProject(p *pageCall) error {
	f := p.r.PostForm
	key, name, vis := strings.TrimSpace(f.Get("key")), strings.TrimSpace(f.Get("name")), f.Get("visibility")
	if name == "" {
		name = key
	}
	pr, err := u.st.CreateProject(p.ctx, identity.Project{Key: key, Name: name, Visibility: identity.Visibility(vis)}, p.principal.UserID)
	if err != nil && !p.admin {
		d, lerr := u.myProjectsData(p)
		if lerr != nil {
			return lerr
		}
		d.NewKey, d.NewName, d.Visibility = key, name, vis
		return p.showError("my_projects", myProjectsTitle, d, err)
	}
	if err != nil {
		d, lerr := u.projectsData(p)
		if lerr != nil {
			return lerr
		}
		d.NewKey, d.NewName, d.Visibility = key, name, vis
		return p.showError("projects", "Projects", d, err)
	}
	// The creator's permissions come from the template: without
	// Administer on it, the page to go to is the list.
	if !u.st.MayEditPermissions(p.principal, pr.Key) {
		return p.done("/account/projects", "Project "+pr.Key+" created.")
	}
	return p.done("/projects/"+url.PathEscape(pr.Key), "Project "+pr.Key+" created.")
}

// holder is one user, group or Anyone with its permissions in one scope.
type holder struct {
	Kind        string // "user", "group" or "anyone"
	Name        string // login or group name
	Label       string
	Source      identity.Source
	Permissions []identity.Permission
}

type permissionsData struct {
	Project     *identity.Project // nil: global permissions
	Holders     []holder
	Permissions []identity.Permission
	Action      string // the form's address prefix
}

// holders lists who holds what in one scope (a project, or global when
// projectID is 0), users first, then groups, each by name.
func (u *UI) holders(p *pageCall, projectID int64) ([]holder, error) {
	pid := projectID
	gs, err := u.st.Store().ListGrants(p.ctx, store.GrantFilter{ProjectID: &pid})
	if err != nil {
		return nil, err
	}
	by := map[identity.Subject]*holder{}
	var order []identity.Subject
	for _, g := range gs {
		h := by[g.Subject]
		if h == nil {
			h = &holder{}
			switch g.Subject.Kind {
			case identity.SubjectUser:
				us, err := u.st.Store().GetUser(p.ctx, g.Subject.ID)
				if err != nil {
					return nil, err
				}
				h.Kind, h.Name, h.Label, h.Source = "user", us.Login, us.Login+" ("+us.Name+")", us.Source
			case identity.SubjectGroup:
				gr, err := u.st.Store().GetGroup(p.ctx, g.Subject.ID)
				if err != nil {
					return nil, err
				}
				h.Kind, h.Name, h.Label, h.Source = "group", gr.Name, gr.Name, gr.Source
			case identity.SubjectAnyone:
				h.Kind, h.Name, h.Label = "group", identity.GroupAnyone, identity.GroupAnyone
			default:
				continue // the project creator exists in templates only
			}
			by[g.Subject] = h
			order = append(order, g.Subject)
		}
		h.Permissions = append(h.Permissions, g.Permission)
	}
	out := make([]holder, 0, len(order))
	for _, s := range order {
		out = append(out, *by[s])
	}
	slices.SortFunc(out, func(a, b holder) int {
		if a.Kind != b.Kind {
			return strings.Compare(b.Kind, a.Kind) // users, then groups
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

func (u *UI) loadProject(p *pageCall) (identity.Project, error) {
	key := p.r.PathValue("key")
	pr, err := u.st.Store().GetProjectByKey(p.ctx, key)
	if errors.Is(err, identity.ErrNotFound) {
		return pr, identity.Errorf(identity.ErrNotFound, "Project '%s' not found", key)
	}
	return pr, err
}

func (u *UI) projectPage(p *pageCall) error {
	pr, err := u.loadProject(p)
	if err != nil {
		return err
	}
	hs, err := u.holders(p, pr.ID)
	if err != nil {
		return err
	}
	d := permissionsData{Project: &pr, Holders: hs, Permissions: identity.ProjectPermissions, Action: "/projects/" + url.PathEscape(pr.Key)}
	return p.show("permissions", pr.Key, d)
}

func (u *UI) globalPermissions(p *pageCall) error {
	hs, err := u.holders(p, 0)
	if err != nil {
		return err
	}
	return p.show("permissions", "Global permissions", permissionsData{Holders: hs, Permissions: identity.GlobalPermissions, Action: "/permissions"})
}

// subject resolves the form's kind and name to a grant subject and its
// source: an active user by login, a group by name, or Anyone.
func (u *UI) subject(p *pageCall) (identity.Subject, identity.Source, error) {
	kind, name := p.r.PostForm.Get("kind"), strings.TrimSpace(p.r.PostForm.Get("name"))
	switch kind {
	case "user":
		us, err := u.st.ActiveUser(p.ctx, name)
		return identity.UserSubject(us.ID), us.Source, err
	case "group":
		return u.st.GroupSubject(p.ctx, name)
	}
	return identity.Subject{}, "", identity.Errorf(identity.ErrInvalid, "Choose a user or a group.")
}

// editGrant is a grant or revoke from a permissions page, under the
// state's rules for a person's edit (the Web API's).
func (u *UI) editGrant(p *pageCall, proj *identity.Project, add bool) error {
	sub, src, err := u.subject(p)
	if err != nil {
		return err
	}
	var perm identity.Permission
	if proj != nil {
		perm, err = identity.ParseProjectPermission(p.r.PostForm.Get("permission"))
	} else {
		perm, err = identity.ParseGlobalPermission(p.r.PostForm.Get("permission"))
	}
	if err != nil {
		return err
	}
	return u.st.EditGrant(p.ctx, proj, sub, src, perm, add, p.admin)
}

func grantNotice(p *pageCall, add bool) string {
	what := p.r.PostForm.Get("permission") + " granted to " + p.r.PostForm.Get("name") + "."
	if !add {
		what = p.r.PostForm.Get("permission") + " revoked from " + p.r.PostForm.Get("name") + "."
	}
	return what
}

func (u *UI) projectGrant(add bool) func(p *pageCall) error {
	return func(p *pageCall) error {
		pr, err := u.loadProject(p)
		if err != nil {
			return err
		}
		if err := u.editGrant(p, &pr, add); err != nil {
			return err
		}
		return p.done("/projects/"+url.PathEscape(pr.Key), grantNotice(p, add))
	}
}

func (u *UI) globalGrant(add bool) func(p *pageCall) error {
	return func(p *pageCall) error {
		if err := u.editGrant(p, nil, add); err != nil {
			return err
		}
		return p.done("/permissions", grantNotice(p, add))
	}
}

func (u *UI) projectVisibility(p *pageCall) error {
	key := p.r.PathValue("key")
	v := identity.Visibility(p.r.PostForm.Get("visibility"))
	if err := u.st.SetVisibility(p.ctx, key, v); err != nil {
		return err
	}
	return p.done("/projects/"+url.PathEscape(key), "Project "+key+" is now "+string(v)+".")
}

func (u *UI) deleteProject(p *pageCall) error {
	key := p.r.PathValue("key")
	if err := u.st.DeleteProject(p.ctx, key); err != nil {
		return err
	}
	to := "/projects"
	if !p.admin {
		to = "/account/projects"
	}
	return p.done(to, "Project "+key+" deleted.")
}
