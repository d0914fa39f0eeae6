package ui

import (
	"errors"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

func (u *UI) templateRoutes() []route {
	return []route{
		{"GET /templates", adminOnly, u.templates},
		{"POST /templates/new", adminOnly, u.createTemplate},
		{"GET /templates/{id}", adminOnly, u.templatePage},
		{"POST /templates/{id}/update", adminOnly, u.updateTemplate},
		{"POST /templates/{id}/grant", adminOnly, u.templateGrant(true)},
		{"POST /templates/{id}/revoke", adminOnly, u.templateGrant(false)},
		{"POST /templates/{id}/default", adminOnly, u.defaultTemplate},
		{"POST /templates/{id}/delete", adminOnly, u.deleteTemplate},
	}
}

// previewSize is how many matching keys a pattern preview lists.
const previewSize = 12

// preview is "this pattern matches these N projects".
type preview struct {
	Pattern string
	Keys    []string
	Total   int
	Error   string
}

// previewPattern matches a key pattern against every project the index
// holds; an invalid pattern says why instead.
func (u *UI) previewPattern(pattern string) *preview {
	if pattern == "" {
		return nil
	}
	pv := &preview{Pattern: pattern}
	re, err := identity.CompileKeyPattern(pattern)
	if err != nil {
		pv.Error = "This is not a valid regular expression: " + err.Error()
		return pv
	}
	pv.Keys, pv.Total = u.st.Index().KeysMatching(re, previewSize)
	return pv
}

type templatesData struct {
	Templates                  []identity.Template
	DefaultID                  int64
	Preview                    *preview
	NewName, NewAbout, Pattern string
}

func (u *UI) templatesData(p *pageCall, pattern string) (templatesData, error) {
	ts, err := u.st.Store().ListTemplates(p.ctx)
	if err != nil {
		return templatesData{}, err
	}
	def, err := u.st.DefaultTemplateID(p.ctx)
	if err != nil {
		return templatesData{}, err
	}
	return templatesData{Templates: ts, DefaultID: def, Pattern: pattern, Preview: u.previewPattern(pattern)}, nil
}

func (u *UI) templates(p *pageCall) error {
	d, err := u.templatesData(p, strings.TrimSpace(p.r.URL.Query().Get("pattern")))
	if err != nil {
		return err
	}
	d.NewName = p.r.URL.Query().Get("name")
	return p.show("templates", "Permission templates", d)
}

func (u *UI) createTemplate(p *pageCall) error {
	f := p.r.PostForm
	t := identity.Template{Name: strings.TrimSpace(f.Get("name")), Description: strings.TrimSpace(f.Get("description")), KeyPattern: strings.TrimSpace(f.Get("pattern"))}
	created, err := u.st.CreateTemplate(p.ctx, t)
	if err != nil {
		d, lerr := u.templatesData(p, t.KeyPattern)
		if lerr != nil {
			return lerr
		}
		d.NewName, d.NewAbout = t.Name, t.Description
		return p.showError("templates", "Permission templates", d, err)
	}
	return p.done(templatePath(created.ID), "Template "+created.Name+" created.")
}

func templatePath(id int64) string { return "/templates/" + strconv.FormatInt(id, 10) }

type templateHolder struct {
	Kind, Name, Label string
	Permissions       []identity.Permission
}

type templateData struct {
	Template    identity.Template
	Default     bool
	Holders     []templateHolder
	Permissions []identity.Permission
	Preview     *preview
}

func (u *UI) loadTemplate(p *pageCall) (identity.Template, error) {
	raw := p.r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 1 {
		return identity.Template{}, identity.Errorf(identity.ErrNotFound, "Permission template with id '%s' is not found", raw)
	}
	t, err := u.st.Store().GetTemplate(p.ctx, id)
	if errors.Is(err, identity.ErrNotFound) {
		return t, identity.Errorf(identity.ErrNotFound, "Permission template with id '%s' is not found", raw)
	}
	return t, err
}

func (u *UI) templatePage(p *pageCall) error {
	t, err := u.loadTemplate(p)
	if err != nil {
		return err
	}
	def, err := u.st.DefaultTemplateID(p.ctx)
	if err != nil {
		return err
	}
	d := templateData{Template: t, Default: def == t.ID, Permissions: identity.ProjectPermissions}
	pattern := t.KeyPattern
	if q := strings.TrimSpace(p.r.URL.Query().Get("pattern")); q != "" {
		pattern = q
	}
	d.Preview = u.previewPattern(pattern)
	by := map[identity.Subject]int{}
	for _, g := range t.Grants {
		i, ok := by[g.Subject]
		if !ok {
			h := templateHolder{}
			switch g.Subject.Kind {
			case identity.SubjectUser:
				h.Kind, h.Name = "user", u.st.Index().Login(g.Subject.ID)
				h.Label = h.Name
			case identity.SubjectGroup:
				h.Kind, h.Name = "group", u.st.Index().GroupName(g.Subject.ID)
				h.Label = h.Name
			case identity.SubjectAnyone:
				h.Kind, h.Name, h.Label = "group", identity.GroupAnyone, identity.GroupAnyone
			case identity.SubjectCreator:
				h.Kind, h.Name, h.Label = "creator", "", "Project creator"
			}
			i = len(d.Holders)
			by[g.Subject] = i
			d.Holders = append(d.Holders, h)
		}
		d.Holders[i].Permissions = append(d.Holders[i].Permissions, g.Permission)
	}
	return p.show("template", t.Name, d)
}

func (u *UI) updateTemplate(p *pageCall) error {
	t, err := u.loadTemplate(p)
	if err != nil {
		return err
	}
	f := p.r.PostForm
	name, about, pattern := strings.TrimSpace(f.Get("name")), strings.TrimSpace(f.Get("description")), strings.TrimSpace(f.Get("pattern"))
	if _, err := u.st.UpdateTemplate(p.ctx, t.ID, state.TemplateUpdate{Name: &name, Description: &about, KeyPattern: &pattern}); err != nil {
		return err
	}
	return p.done(templatePath(t.ID), "Template "+name+" saved.")
}

func (u *UI) templateGrant(add bool) func(p *pageCall) error {
	return func(p *pageCall) error {
		t, err := u.loadTemplate(p)
		if err != nil {
			return err
		}
		var sub identity.Subject
		if p.r.PostForm.Get("kind") == "creator" {
			sub = identity.Subject{Kind: identity.SubjectCreator}
		} else if sub, _, err = u.subject(p); err != nil {
			return err
		}
		perm, err := identity.ParseProjectPermission(p.r.PostForm.Get("permission"))
		if err != nil {
			return err
		}
		if err := u.st.EditTemplateGrant(p.ctx, t.ID, identity.TemplateGrant{Subject: sub, Permission: perm}, add); err != nil {
			return err
		}
		who := p.r.PostForm.Get("name")
		if sub.Kind == identity.SubjectCreator {
			who = "the project creator"
		}
		msg := string(perm) + " added for " + who + "."
		if !add {
			msg = string(perm) + " removed for " + who + "."
		}
		return p.done(templatePath(t.ID), msg)
	}
}

func (u *UI) defaultTemplate(p *pageCall) error {
	t, err := u.loadTemplate(p)
	if err != nil {
		return err
	}
	if err := u.st.SetDefaultTemplate(p.ctx, t.ID); err != nil {
		return err
	}
	return p.done(templatePath(t.ID), "Template "+t.Name+" is now the default.")
}

func (u *UI) deleteTemplate(p *pageCall) error {
	t, err := u.loadTemplate(p)
	if err != nil {
		return err
	}
	if err := u.st.DeleteTemplate(p.ctx, t.ID); err != nil {
		return err
	}
	return p.done("/templates", "Template "+t.Name+" deleted.")
}
