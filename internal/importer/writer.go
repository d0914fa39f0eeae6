package importer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Kinds of imported objects, in the order they are written.
const (
	KindUsers       = "users"
	KindGroups      = "groups"
	KindProjects    = "projects"
	KindMemberships = "memberships"
	KindPermissions = "permissions"
	KindTemplates   = "templates"
	// KindRevoked counts the default global grants of sonar-users removed
	// because the source lacks them (DataSet.GlobalPermissionsComplete).
	KindRevoked = "defaults revoked"
)

var kinds = []string{KindUsers, KindGroups, KindProjects, KindMemberships, KindPermissions, KindTemplates}

// Writer applies data sets to a Gatehouse.
type Writer struct {
	State *state.State
	// Store is the state's store, read for what exists already.
	Store store.Store
	// Actor names the import in the audit log ("import:file").
	Actor string
	// Progress is told about each phase; nothing when nil.
	Progress Progress
	// BatchSize is the number of items of one write; at most (and when 0)
	// [state.MaxBulkItems].
	BatchSize int
}

// Count is what an import did, or would do, to one kind of object.
type Count struct {
	Kind  string `json:"kind"`
	Total int    `json:"total"`
	// Existing were there already and are left as they are.
	Existing int `json:"existing"`
	// Written were created (dry run: would be).
	Written int `json:"written"`
	Failed  int `json:"failed"`
}

// Failure is an item that could not be written.
type Failure struct {
	Kind  string `json:"kind"`
	Item  string `json:"item"`
	Error string `json:"error"`
}

// maxFailures bounds the failures a summary lists; the count is complete.
const maxFailures = 50

// Summary is the outcome of [Writer.Plan] or [Writer.Apply].
type Summary struct {
	DryRun bool    `json:"dryRun"`
	Counts []Count `json:"counts"`
	// Tokens must be re-created: the source never reveals their secrets.
	Tokens []Token `json:"tokens,omitempty"`
	// ExternalUsers counts, by provider, the users the source had
	// authenticated elsewhere; they are imported as local users.
	ExternalUsers map[string]int `json:"externalUsers,omitempty"`
	// NoPassword counts the imported users, none of whom has a password.
	NoPassword   int       `json:"usersWithoutPassword"`
	Failures     []Failure `json:"failures,omitempty"`
	FailureCount int       `json:"failureCount"`
}

// Count returns the count of kind.
func (s *Summary) Count(kind string) *Count {
	for i := range s.Counts {
		if s.Counts[i].Kind == kind {
			return &s.Counts[i]
		}
	}
	s.Counts = append(s.Counts, Count{Kind: kind})
	return &s.Counts[len(s.Counts)-1]
}

// Written is the number of objects written (or, in a dry run, to write).
func (s *Summary) Written() int {
	n := 0
	for _, c := range s.Counts {
		n += c.Written
	}
	return n
}

func (s *Summary) fail(kind, item string, err error) {
	s.Count(kind).Failed++
	s.FailureCount++
	if len(s.Failures) < maxFailures {
		s.Failures = append(s.Failures, Failure{Kind: kind, Item: item, Error: identity.Message(err)})
	}
}

func newSummary(ds *DataSet, dry bool) *Summary {
	s := &Summary{DryRun: dry, Tokens: ds.Tokens}
	for _, k := range kinds {
		s.Count(k)
	}
	for _, u := range ds.Users {
		if !u.Local() {
			if s.ExternalUsers == nil {
				s.ExternalUsers = map[string]int{}
			}
			s.ExternalUsers[u.ExternalProvider]++
		}
	}
	return s
}

// normalize leaves out what Gatehouse holds implicitly: memberships of
// sonar-users (every active user's) and the built-in groups themselves.
func normalize(ds *DataSet) *DataSet {
	out := *ds
	out.Memberships = slices.DeleteFunc(slices.Clone(ds.Memberships), func(m Membership) bool {
		return m.Group == identity.GroupUsers
	})
	return &out
}

// existing is what the target holds, by SonarQube names.
type existing struct {
	users    map[string]int64 // active users by login
	groups   map[string]int64
	projects map[string]identity.Project
	members  map[identity.Membership]bool
	grants   map[identity.Grant]bool
	tmpls    map[string]identity.Template // by lower-case name
	defTmpl  int64
}

func (w *Writer) load(ctx context.Context) (*existing, error) {
	snap, err := w.Store.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("read existing state: %w", err)
	}
	e := &existing{
		users: map[string]int64{}, groups: map[string]int64{}, projects: map[string]identity.Project{},
		members: map[identity.Membership]bool{}, grants: map[identity.Grant]bool{}, tmpls: map[string]identity.Template{},
	}
	for _, u := range snap.Users {
		if u.Active {
			e.users[u.Login] = u.ID
		}
	}
	for _, g := range snap.Groups {
		e.groups[g.Name] = g.ID
	}
	for _, p := range snap.Projects {
		e.projects[p.Key] = p
	}
	for _, m := range snap.Memberships {
		e.members[m] = true
	}
	for _, g := range snap.Grants {
		e.grants[g] = true
	}
	ts, err := w.Store.ListTemplates(ctx)
	if err != nil {
		return nil, fmt.Errorf("read templates: %w", err)
	}
	for _, t := range ts {
		e.tmpls[strings.ToLower(t.Name)] = t
	}
	if e.defTmpl, err = w.State.DefaultTemplateID(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// subject resolves a user or group name; ok is false when it does not exist.
func (e *existing) subject(user, group string) (identity.Subject, error) {
	switch {
	case user != "" && group != "":
		return identity.Subject{}, identity.Errorf(identity.ErrInvalid, "Either a user or a group, not both")
	case user != "":
		id, ok := e.users[user]
		if !ok {
			return identity.Subject{}, identity.Errorf(identity.ErrNotFound, "User with login '%s' is not found", user)
		}
		return identity.UserSubject(id), nil
	case strings.EqualFold(group, identity.GroupAnyone):
		return identity.Anyone, nil
	case group != "":
		id, ok := e.groups[group]
		if !ok {
			return identity.Subject{}, identity.Errorf(identity.ErrNotFound, "No group with name '%s'", group)
		}
		return identity.GroupSubject(id), nil
	}
	return identity.Subject{}, identity.Errorf(identity.ErrInvalid, "A user or a group is required")
}

// grant resolves a permission of the data set.
func (e *existing) grant(p Permission) (identity.Grant, error) {
	sub, err := e.subject(p.User, p.Group)
	if err != nil {
		return identity.Grant{}, err
	}
	g := identity.Grant{Subject: sub, Permission: p.Permission}
	if p.Project != "" {
		proj, ok := e.projects[p.Project]
		if !ok {
			return identity.Grant{}, identity.Errorf(identity.ErrNotFound, "Project key '%s' not found", p.Project)
		}
		g.ProjectID = proj.ID
	}
	return g, nil
}

func (p Permission) String() string {
	who := "user:" + p.User
	if p.User == "" {
		who = "group:" + p.Group
	}
	where := "global"
	if p.Project != "" {
		where = "project:" + p.Project
	}
	return fmt.Sprintf("%s %s %s", where, who, p.Permission)
}

// Plan is the dry run: it counts what [Writer.Apply] would write and what
// exists already, and writes nothing.
func (w *Writer) Plan(ctx context.Context, ds *DataSet) (*Summary, error) {
	ds = normalize(ds)
	sum := newSummary(ds, true)
	sum.NoPassword = len(ds.Users)
	e, err := w.load(ctx)
	if err != nil {
		return nil, err
	}
	// Names the import creates count as resolvable: a dry run fails only
	// what the real run would.
	users, groups, projects := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, u := range ds.Users {
		users[u.Login] = true
	}
	for _, g := range ds.Groups {
		groups[g.Name] = true
	}
	for _, p := range ds.Projects {
		projects[p.Key] = true
	}
	missing := func(user, group, project string) error {
		_, uok := e.users[user]
		_, gok := e.groups[group]
		_, pok := e.projects[project]
		switch {
		case user != "" && !uok && !users[user]:
			return identity.Errorf(identity.ErrNotFound, "User with login '%s' is not found", user)
		case group != "" && !gok && !groups[group] && !strings.EqualFold(group, identity.GroupAnyone):
			return identity.Errorf(identity.ErrNotFound, "No group with name '%s'", group)
		case project != "" && !pok && !projects[project]:
			return identity.Errorf(identity.ErrNotFound, "Project key '%s' not found", project)
		}
		return nil
	}
	// count classes each item: there already, to write, or failing (err).
	count := func(kind string, n int, item func(i int) (string, bool, error)) {
		c := sum.Count(kind)
		c.Total = n
		for i := range n {
			name, exists, err := item(i)
			switch {
			case err != nil:
				sum.fail(kind, name, err)
			case exists:
				c.Existing++
			default:
				c.Written++
			}
		}
	}
	count(KindUsers, len(ds.Users), func(i int) (string, bool, error) {
		_, ok := e.users[ds.Users[i].Login]
		return "", ok, nil
	})
	count(KindGroups, len(ds.Groups), func(i int) (string, bool, error) {
		_, ok := e.groups[ds.Groups[i].Name]
		return "", ok, nil
	})
	count(KindProjects, len(ds.Projects), func(i int) (string, bool, error) {
		_, ok := e.projects[ds.Projects[i].Key]
		return "", ok, nil
	})
	count(KindMemberships, len(ds.Memberships), func(i int) (string, bool, error) {
		m := ds.Memberships[i]
		if err := missing(m.Login, m.Group, ""); err != nil {
			return m.Group + "/" + m.Login, false, err
		}
		u, uok := e.users[m.Login]
		g, gok := e.groups[m.Group]
		return "", uok && gok && e.members[identity.Membership{UserID: u, GroupID: g}], nil
	})
	count(KindPermissions, len(ds.Permissions), func(i int) (string, bool, error) {
		p := ds.Permissions[i]
		if err := missing(p.User, p.Group, p.Project); err != nil {
			return p.String(), false, err
		}
		g, err := e.grant(p)
		if err != nil {
			return "", false, nil // resolvable once the import created its subject
		}
		if p.Project != "" && e.projects[p.Project].Visibility == identity.Public && g.Permission.ImplicitOnPublic() {
			return "", true, nil
		}
		return "", e.grants[g], nil
	})
	if n := len(e.extraDefaults(ds)); n > 0 {
		c := sum.Count(KindRevoked)
		c.Total += n
		c.Written += n
	}
	count(KindTemplates, len(ds.Templates), func(i int) (string, bool, error) {
		t, ok := e.tmpls[strings.ToLower(ds.Templates[i].Name)]
		if !ok {
			return "", false, nil
		}
		want, err := e.templateGrants(ds.Templates[i])
		return "", err == nil && sameTemplate(t, ds.Templates[i], want) && (!ds.Templates[i].Default || e.defTmpl == t.ID), nil
	})
	return sum, nil
}

// Apply writes a data set, skipping what exists. It stops at the first
// failure of the store (or when ctx ends) with the summary so far; items
// the rules refuse are counted and listed, and the import goes on.
func (w *Writer) Apply(ctx context.Context, ds *DataSet) (*Summary, error) {
	ds = normalize(ds)
	sum := newSummary(ds, false)
	if w.Progress == nil {
		w.Progress = noProgress{}
	}
	if w.BatchSize <= 0 || w.BatchSize > state.MaxBulkItems {
		w.BatchSize = state.MaxBulkItems
	}
	ctx = state.WithActor(ctx, state.Actor{Name: w.Actor})
	// What exists is left out before the writes, not just skipped by them:
	// a rerun after an interruption then costs only the work left. The
	// bulk writes still skip what appeared meanwhile.
	e, err := w.load(ctx)
	if err != nil {
		return sum, err
	}
	skip := func(kind string, n int, exists func(i int) bool) []int {
		var keep []int
		c := sum.Count(kind)
		for i := range n {
			if exists(i) {
				c.Total++
				c.Existing++
			} else {
				keep = append(keep, i)
			}
		}
		return keep
	}

	sum.NoPassword = len(ds.Users)
	var users []state.NewUser
	for _, i := range skip(KindUsers, len(ds.Users), func(i int) bool { _, ok := e.users[ds.Users[i].Login]; return ok }) {
		u := ds.Users[i]
		users = append(users, state.NewUser{Login: u.Login, Name: u.Name, Email: u.Email, SCMAccounts: u.SCMAccounts})
	}
	if err := w.phase(ctx, sum, KindUsers, len(users), func(i int) string { return users[i].Login },
		func(lo, hi int) ([]state.ItemResult, error) {
			return w.State.CreateUsers(ctx, users[lo:hi], state.BulkOptions{SkipExisting: true})
		}); err != nil {
		return sum, err
	}

	var groups []identity.Group
	for _, i := range skip(KindGroups, len(ds.Groups), func(i int) bool { _, ok := e.groups[ds.Groups[i].Name]; return ok }) {
		groups = append(groups, identity.Group{Name: ds.Groups[i].Name, Description: ds.Groups[i].Description})
	}
	if err := w.phase(ctx, sum, KindGroups, len(groups), func(i int) string { return groups[i].Name },
		func(lo, hi int) ([]state.ItemResult, error) {
			return w.State.CreateGroups(ctx, groups[lo:hi], state.BulkOptions{SkipExisting: true})
		}); err != nil {
		return sum, err
	}

	var projects []identity.Project
	for _, i := range skip(KindProjects, len(ds.Projects), func(i int) bool { _, ok := e.projects[ds.Projects[i].Key]; return ok }) {
		p := ds.Projects[i]
		projects = append(projects, identity.Project{Key: p.Key, Name: p.Name, Visibility: p.Visibility})
	}
	if err := w.phase(ctx, sum, KindProjects, len(projects), func(i int) string { return projects[i].Key },
		func(lo, hi int) ([]state.ItemResult, error) {
			return w.State.ImportProjects(ctx, projects[lo:hi], state.BulkOptions{SkipExisting: true})
		}); err != nil {
		return sum, err
	}

	var members []state.MemberChange
	for _, i := range skip(KindMemberships, len(ds.Memberships), func(i int) bool {
		m := ds.Memberships[i]
		u, uok := e.users[m.Login]
		g, gok := e.groups[m.Group]
		return uok && gok && e.members[identity.Membership{UserID: u, GroupID: g}]
	}) {
		members = append(members, state.MemberChange{Group: ds.Memberships[i].Group, Login: ds.Memberships[i].Login})
	}
	// Written group by group (and grants project by project, below): the
	// store's pages for one group or project are then hot in a row, which
	// halves the time of a load in random order (bench/README.md).
	slices.SortStableFunc(members, func(a, b state.MemberChange) int { return strings.Compare(a.Group, b.Group) })
	if err := w.phase(ctx, sum, KindMemberships, len(members), func(i int) string { return members[i].Group + "/" + members[i].Login },
		func(lo, hi int) ([]state.ItemResult, error) {
			return w.State.AddMembers(ctx, members[lo:hi], state.BulkOptions{})
		}); err != nil {
		return sum, err
	}

	// Subjects and projects are resolved against what the phases above
	// left: the data set names them, grants hold ids.
	if e, err = w.load(ctx); err != nil {
		return sum, err
	}
	var grants []identity.Grant
	var labels []string
	pc := sum.Count(KindPermissions)
	for _, p := range ds.Permissions {
		g, err := e.grant(p)
		switch {
		case err != nil:
			sum.fail(KindPermissions, p.String(), err)
			pc.Total++
		case e.grants[g]:
			pc.Total++
			pc.Existing++
		default:
			grants, labels = append(grants, g), append(labels, p.String())
		}
	}
	order := make([]int, len(grants))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(grants[a].ProjectID, grants[b].ProjectID) })
	sortedGrants, sortedLabels := make([]identity.Grant, len(grants)), make([]string, len(grants))
	for i, j := range order {
		sortedGrants[i], sortedLabels[i] = grants[j], labels[j]
	}
	grants, labels = sortedGrants, sortedLabels
	if err := w.phase(ctx, sum, KindPermissions, len(grants), func(i int) string { return labels[i] },
		func(lo, hi int) ([]state.ItemResult, error) {
			return w.State.AddGrants(ctx, grants[lo:hi], state.BulkOptions{})
		}); err != nil {
		return sum, err
	}
	if extra := e.extraDefaults(ds); len(extra) > 0 {
		c := sum.Count(KindRevoked)
		for _, g := range extra {
			c.Total++
			if err := w.State.RemoveGrant(ctx, g); err != nil {
				sum.fail(KindRevoked, "global "+string(g.Permission)+" of "+identity.GroupUsers, err)
				continue
			}
			c.Written++
		}
	}

	return sum, w.templates(ctx, sum, e, ds.Templates)
}

// phase writes n items in batches, counting each item's result.
func (w *Writer) phase(ctx context.Context, sum *Summary, kind string, n int, name func(int) string, write func(lo, hi int) ([]state.ItemResult, error)) error {
	c := sum.Count(kind)
	c.Total += n
	w.Progress.Start(kind, n)
	defer w.Progress.Done()
	for lo := 0; lo < n; lo += w.BatchSize {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+w.BatchSize, n)
		res, err := write(lo, hi)
		if err != nil {
			return fmt.Errorf("import %s %d–%d: %w", kind, lo+1, hi, err)
		}
		for i, r := range res {
			switch {
			case r.Err != nil:
				sum.fail(kind, name(lo+i), r.Err)
			case r.Changed:
				c.Written++
			default:
				c.Existing++
			}
		}
		w.Progress.Add(hi - lo)
	}
	return nil
}

// templateGrants resolves a template's permissions.
func (e *existing) templateGrants(t Template) ([]identity.TemplateGrant, error) {
	var out []identity.TemplateGrant
	for _, p := range t.Permissions {
		tg := identity.TemplateGrant{Permission: p.Permission}
		if p.ProjectCreator {
			tg.Subject = identity.Subject{Kind: identity.SubjectCreator}
		} else {
			sub, err := e.subject(p.User, p.Group)
			if err != nil {
				return nil, err
			}
			tg.Subject = sub
		}
		if !slices.Contains(out, tg) {
			out = append(out, tg)
		}
	}
	return out, nil
}

func sameTemplate(have identity.Template, want Template, grants []identity.TemplateGrant) bool {
	if have.Description != want.Description || have.KeyPattern != want.KeyPattern || len(have.Grants) != len(grants) {
		return false
	}
	for _, g := range grants {
		if !slices.Contains(have.Grants, g) {
			return false
		}
	}
	return true
}

// templates makes each template of the data set exist with exactly its
// permissions, and sets the default. Templates are few: they are written
// one change at a time.
func (w *Writer) templates(ctx context.Context, sum *Summary, e *existing, ts []Template) error {
	c := sum.Count(KindTemplates)
	c.Total += len(ts)
	w.Progress.Start(KindTemplates, len(ts))
	defer w.Progress.Done()
	for _, t := range ts {
		if err := ctx.Err(); err != nil {
			return err
		}
		changed, err := w.template(ctx, e, t)
		switch {
		case err != nil && !isDomain(err):
			return fmt.Errorf("import template %q: %w", t.Name, err)
		case err != nil:
			sum.fail(KindTemplates, t.Name, err)
		case changed:
			c.Written++
		default:
			c.Existing++
		}
		w.Progress.Add(1)
	}
	return nil
}

func (w *Writer) template(ctx context.Context, e *existing, t Template) (bool, error) {
	want, err := e.templateGrants(t)
	if err != nil {
		return false, err
	}
	have, ok := e.tmpls[strings.ToLower(t.Name)]
	changed := false
	if !ok {
		if have, err = w.State.CreateTemplate(ctx, identity.Template{Name: t.Name, Description: t.Description, KeyPattern: t.KeyPattern}); err != nil {
			return false, err
		}
		changed = true
	} else if have.Description != t.Description || have.KeyPattern != t.KeyPattern {
		if have, err = w.State.UpdateTemplate(ctx, have.ID, state.TemplateUpdate{Description: &t.Description, KeyPattern: &t.KeyPattern}); err != nil {
			return false, err
		}
		changed = true
	}
	for _, g := range want {
		if !slices.Contains(have.Grants, g) {
			if err := w.State.EditTemplateGrant(ctx, have.ID, g, true); err != nil {
				return changed, err
			}
			changed = true
		}
	}
	for _, g := range have.Grants {
		if !slices.Contains(want, g) {
			if err := w.State.EditTemplateGrant(ctx, have.ID, g, false); err != nil {
				return changed, err
			}
			changed = true
		}
	}
	if t.Default && e.defTmpl != have.ID {
		if err := w.State.SetDefaultTemplate(ctx, have.ID); err != nil {
			return changed, err
		}
		e.defTmpl, changed = have.ID, true
	}
	return changed, nil
}

// isDomain reports whether err is a refusal by the rules (the item's
// fault) rather than a failure of the store.
func isDomain(err error) bool {
	for _, kind := range []error{identity.ErrInvalid, identity.ErrNotFound, identity.ErrAlreadyExists, identity.ErrForbidden} {
		if errors.Is(err, kind) {
			return true
		}
	}
	return false
}

// extraDefaults are the global grants of sonar-users that a data set with
// every global permission of its source lacks (see
// [DataSet.GlobalPermissionsComplete]); the import removes them.
func (e *existing) extraDefaults(ds *DataSet) []identity.Grant {
	id, ok := e.groups[identity.GroupUsers]
	if !ds.GlobalPermissionsComplete || !ok {
		return nil
	}
	want := map[identity.Permission]bool{}
	for _, p := range ds.Permissions {
		if p.Project == "" && p.User == "" && p.Group == identity.GroupUsers {
			want[p.Permission] = true
		}
	}
	var out []identity.Grant
	for g := range e.grants {
		if g.Global() && g.Subject == identity.GroupSubject(id) && !want[g.Permission] {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b identity.Grant) int { return strings.Compare(string(a.Permission), string(b.Permission)) })
	return out
}
