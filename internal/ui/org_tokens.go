package ui

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (u *UI) orgTokenRoutes() []route {
	return []route{
		{"GET /org-tokens", adminOnly, u.orgTokens},
		{"GET /org-tokens/new", adminOnly, u.newOrgTokenPage},
		{"POST /org-tokens/new", adminOnly, u.createOrgToken},
		{"GET /org-tokens/{id}", adminOnly, u.orgTokenPage},
		{"POST /org-tokens/{id}/update", adminOnly, u.updateOrgToken},
		{"POST /org-tokens/{id}/rotate", adminOnly, u.rotateOrgToken},
		{"POST /org-tokens/{id}/revoke", adminOnly, u.revokeOrgToken},
	}
}

// graceChoices are the rotation grace periods offered, in seconds.
type graceChoice struct {
	Seconds int
	Label   string
}

var graceChoices = []graceChoice{{0, "none: the old secret stops at once"}, {3600, "1 hour"}, {86400, "1 day"}, {7 * 86400, "7 days"}, {30 * 86400, "30 days"}}

type orgTokenRow struct {
	Token   identity.Token
	Covered int
	Expired bool
}

type orgTokensData struct {
	Query string
	Rows  []orgTokenRow
	Pager pager
}

func (u *UI) orgTokens(p *pageCall) error {
	q := p.r.URL.Query()
	d := orgTokensData{Query: strings.TrimSpace(q.Get("q"))}
	pg := pageOf(q)
	ts, total, err := u.st.Store().ListTokens(p.ctx, store.TokenFilter{Types: []identity.TokenType{identity.TokenOrganization}, Query: d.Query, Page: pg})
	if err != nil {
		return err
	}
	now := u.st.Now()
	for _, t := range ts {
		d.Rows = append(d.Rows, orgTokenRow{Token: t, Covered: u.st.Index().CountInScope(t.ID), Expired: t.Expired(now)})
	}
	d.Pager = newPager("/org-tokens", q, pg, total)
	return p.show("org_tokens", "Organization tokens", d)
}

// orgTokenForm is the form that creates or edits an organization token.
type orgTokenForm struct {
	Name, Description string
	Permissions       map[identity.Permission]bool
	Set               string
	Patterns          string // one per line
	Projects          string // keys, by commas, spaces or lines
	Expiry            expiryChoice
	AllPermissions    []identity.Permission
	Edit              bool // an existing token: expiry may stay as it is
}

func (u *UI) blankOrgTokenForm() orgTokenForm {
	return orgTokenForm{Permissions: map[identity.Permission]bool{identity.PermScan: true}, Set: string(identity.SetAll),
		Expiry: newExpiry(u.st.Now(), "90"), AllPermissions: identity.ProjectPermissions}
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func splitKeys(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// readOrgTokenForm reads the form into f and into a token spec.
func (u *UI) readOrgTokenForm(p *pageCall, f *orgTokenForm) (state.OrgTokenSpec, bool, error) {
	v := p.r.PostForm
	f.Name, f.Description = strings.TrimSpace(v.Get("name")), strings.TrimSpace(v.Get("description"))
	f.Set, f.Patterns, f.Projects = v.Get("projectSet"), v.Get("patterns"), v.Get("projects")
	f.Permissions = map[identity.Permission]bool{}
	spec := state.OrgTokenSpec{Name: f.Name, Description: f.Description, Set: identity.ProjectSet(f.Set), Patterns: splitLines(f.Patterns)}
	for _, raw := range v["permission"] {
		perm, err := identity.ParseProjectPermission(raw)
		if err != nil {
			return spec, false, err
		}
		f.Permissions[perm] = true
		spec.Permissions = append(spec.Permissions, perm)
	}
	ids, err := u.st.ProjectIDs(p.ctx, splitKeys(f.Projects))
	if err != nil {
		return spec, false, err
	}
	spec.Projects = ids
	keepExpiry := f.Edit && v.Get("expiry") == "keep"
	if keepExpiry {
		f.Expiry.Choice = "keep"
		return spec, false, nil
	}
	exp, at, err := readExpiry(v, u.st.Now())
	f.Expiry = exp
	spec.ExpiresAt = at
	return spec, true, err
}

func (u *UI) newOrgTokenPage(p *pageCall) error {
	return p.show("org_token_new", "New organization token", u.blankOrgTokenForm())
}

func (u *UI) createOrgToken(p *pageCall) error {
	f := u.blankOrgTokenForm()
	spec, _, err := u.readOrgTokenForm(p, &f)
	if err != nil {
		return p.showError("org_token_new", "New organization token", f, err)
	}
	secret, t, err := u.st.GenerateOrgToken(p.ctx, spec)
	if err != nil {
		return p.showError("org_token_new", "New organization token", f, err)
	}
	return u.showOrgToken(p, t, secret, "Organization token "+t.Name+" created.")
}

type orgTokenData struct {
	Token     identity.Token
	Secret    string // only on the answer that created or rotated it
	Created   string
	Covered   []identity.Project
	Pager     pager
	Form      orgTokenForm
	Grace     []graceChoice
	Expired   bool
	PrevUntil time.Time
}

func (u *UI) loadOrgToken(p *pageCall) (identity.Token, error) {
	raw := p.r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	notFound := identity.Errorf(identity.ErrNotFound, "Organization token '%s' not found", raw)
	if err != nil || id < 1 {
		return identity.Token{}, notFound
	}
	t, err := u.st.Store().GetToken(p.ctx, id)
	if errors.Is(err, identity.ErrNotFound) || err == nil && (t.Type != identity.TokenOrganization || t.Revoked()) {
		return t, notFound
	}
	return t, err
}

func (u *UI) orgTokenPage(p *pageCall) error {
	t, err := u.loadOrgToken(p)
	if err != nil {
		return err
	}
	return u.showOrgToken(p, t, "", "")
}

// showOrgToken renders a token's page; secret is set only on the answer
// that created or rotated it (never stored, never shown again).
func (u *UI) showOrgToken(p *pageCall, t identity.Token, secret, created string) error {
	d := orgTokenData{Token: t, Secret: secret, Created: created, Grace: graceChoices, Expired: t.Expired(u.st.Now()), PrevUntil: t.PrevValidUntil}
	// The projects covered now, as the index decides: later projects of
	// a set or a pattern are in.
	all := u.st.Index().ProjectsInScope(t.ID)
	slices.Sort(all)
	q := p.r.URL.Query()
	pg := pageOf(q)
	from := len(all)
	if pg.Number-1 <= len(all)/pg.Size {
		from = min((pg.Number-1)*pg.Size, len(all))
	}
	ids := all[from:min(from+pg.Size, len(all))]
	if len(ids) > 0 {
		ps, _, err := u.st.Store().ListProjects(p.ctx, store.ProjectFilter{IDs: ids})
		if err != nil {
			return err
		}
		slices.SortFunc(ps, func(x, y identity.Project) int { return cmp.Compare(x.ID, y.ID) })
		d.Covered = ps
	}
	d.Pager = newPager("/org-tokens/"+strconv.FormatInt(t.ID, 10), q, pg, len(all))
	f, err := u.tokenForm(p.ctx, t)
	if err != nil {
		return err
	}
	d.Form = f
	return p.show("org_token", t.Name, d)
}

// tokenForm fills the edit form from a token.
func (u *UI) tokenForm(ctx context.Context, t identity.Token) (orgTokenForm, error) {
	f := orgTokenForm{Name: t.Name, Description: t.Description, Permissions: map[identity.Permission]bool{}, Set: string(t.Scope.Set),
		Patterns: strings.Join(t.Scope.Patterns, "\n"), Expiry: newExpiry(u.st.Now(), "keep"), AllPermissions: identity.ProjectPermissions, Edit: true}
	for _, perm := range t.Permissions {
		f.Permissions[perm] = true
	}
	if t.Scope.ProjectCount > 0 && t.Scope.ProjectCount <= 1000 {
		ids, _, err := u.st.Store().ListTokenProjects(ctx, t.ID, store.Page{Number: 1, Size: 1000})
		if err != nil {
			return f, err
		}
		ps, _, err := u.st.Store().ListProjects(ctx, store.ProjectFilter{IDs: ids})
		if err != nil {
			return f, err
		}
		keys := make([]string, len(ps))
		for i, pr := range ps {
			keys[i] = pr.Key
		}
		slices.Sort(keys)
		f.Projects = strings.Join(keys, "\n")
	}
	return f, nil
}

func (u *UI) updateOrgToken(p *pageCall) error {
	t, err := u.loadOrgToken(p)
	if err != nil {
		return err
	}
	f := orgTokenForm{Edit: true, AllPermissions: identity.ProjectPermissions}
	spec, setExpiry, err := u.readOrgTokenForm(p, &f)
	if err == nil && t.Scope.ProjectCount > 1000 && strings.TrimSpace(f.Projects) == "" {
		// The form does not list a very long explicit list; an empty
		// field keeps it (the Web API's addProjects edits it).
		spec.Projects = nil
	}
	if err != nil {
		return err
	}
	upd := state.OrgTokenUpdate{Name: &spec.Name, Description: &spec.Description, Permissions: &spec.Permissions, Set: &spec.Set, Patterns: &spec.Patterns}
	if spec.Projects != nil || t.Scope.ProjectCount <= 1000 {
		upd.Projects = &spec.Projects
	}
	if setExpiry {
		upd.ExpiresAt = &spec.ExpiresAt
	}
	if _, err := u.st.UpdateOrgToken(p.ctx, t.ID, upd); err != nil {
		return err
	}
	return p.done("/org-tokens/"+strconv.FormatInt(t.ID, 10), "Organization token "+spec.Name+" saved.")
}

func (u *UI) rotateOrgToken(p *pageCall) error {
	t, err := u.loadOrgToken(p)
	if err != nil {
		return err
	}
	// A preset, or any number of seconds (the state bounds it, as for
	// api/organization_tokens/rotate's gracePeriod).
	raw := p.r.PostForm.Get("grace")
	if raw == "custom" {
		raw = strings.TrimSpace(p.r.PostForm.Get("graceSeconds"))
	}
	grace, err := strconv.Atoi(raw)
	if err != nil {
		return identity.Errorf(identity.ErrInvalid, "Choose a grace period, or give one in seconds.")
	}
	secret, t, err := u.st.RotateToken(p.ctx, t.ID, time.Duration(grace)*time.Second)
	if err != nil {
		return err
	}
	msg := "Organization token " + t.Name + " rotated: the old secret has stopped working."
	if grace > 0 {
		msg = "Organization token " + t.Name + " rotated: the old secret works until " + t.PrevValidUntil.UTC().Format("2006-01-02 15:04 UTC") + "."
	}
	return u.showOrgToken(p, t, secret, msg)
}

func (u *UI) revokeOrgToken(p *pageCall) error {
	t, err := u.loadOrgToken(p)
	if err != nil {
		return err
	}
	if err := u.st.RevokeToken(p.ctx, t.ID); err != nil {
		return err
	}
	return p.done("/org-tokens", "Organization token "+t.Name+" revoked.")
}
