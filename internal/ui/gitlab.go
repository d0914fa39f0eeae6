package ui

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"time"

	gitlabconn "github.com/gatehouse-dev/gatehouse/internal/connector/gitlab"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
	"github.com/gatehouse-dev/gatehouse/internal/webapi"
)

// gitlabRoutes are the GitLab provisioning page's routes.
func (u *UI) gitlabRoutes() []route {
	return []route{
		{"GET /provisioning/gitlab", adminOnly, u.withGitLab(u.gitlabPage)},
		{"GET /provisioning/gitlab/status", adminOnly, u.withGitLab(u.gitlabStatus)},
		{"POST /provisioning/gitlab/settings", adminOnly, u.withGitLab(u.saveGitLabSettings)},
		{"POST /provisioning/gitlab/roles", adminOnly, u.withGitLab(u.saveGitLabRoles)},
		{"POST /provisioning/gitlab/roles/remove", adminOnly, u.withGitLab(u.removeGitLabRole)},
		{"POST /provisioning/gitlab/roles/reset", adminOnly, u.withGitLab(u.resetGitLabRoles)},
		{"POST /provisioning/gitlab/sync", adminOnly, u.withGitLab(u.syncGitLab)},
		{"POST /provisioning/gitlab/dry-run", adminOnly, u.withGitLab(u.dryRunGitLab)},
	}
}

const (
	gitlabPath  = "/provisioning/gitlab"
	gitlabTitle = "GitLab provisioning"
)

var errNoGitLab = identity.Errorf(identity.ErrNotFound, "GitLab provisioning is not available on this instance.")

// withGitLab gives h the engine, when it has the GitLab source; without,
// there is no GitLab page.
func (u *UI) withGitLab(h func(p *pageCall, prov webapi.Provisioner) error) func(p *pageCall) error {
	return func(p *pageCall) error {
		prov := u.opts.Provisioner
		if prov == nil || !slices.Contains(prov.Sources(), identity.SourceGitLab) {
			return errNoGitLab
		}
		return h(p, prov)
	}
}

// gitlabField is one setting of the settings form.
type gitlabField struct {
	provision.SettingValue
	ID, Label string
	Boolean   bool // a true/false setting, shown as a choice
}

// settingLabels name the settings as the page shows them (SonarQube's
// words where it has them); the setting's own name is shown beside.
var settingLabels = map[string]string{
	gitlabconn.SettingEnabled:            "GitLab integration",
	gitlabconn.SettingURL:                "GitLab URL",
	gitlabconn.SettingToken:              "Provisioning token",
	gitlabconn.SettingAllowedGroups:      "Allowed groups",
	gitlabconn.SettingSyncEnabled:        "Automatic user, group and permission provisioning",
	gitlabconn.SettingSyncInterval:       "Synchronization interval",
	gitlabconn.SettingReadProjectMembers: "Read project members",
	gitlabconn.SettingJITEnabled:         "Synchronize user groups at sign-in",
	gitlabconn.SettingAllowSignUp:        "Allow users to sign up",
	gitlabconn.SettingApplicationID:      "Application ID",
	gitlabconn.SettingSecret:             "Secret",
	gitlabconn.SettingTimeout:            "Request timeout",
}

// rolePermission is a column of the role-mapping table.
type rolePermission struct {
	Key   identity.Permission
	Label string
}

// rolePermissions are the columns in SonarQube's order (its mapping dialog).
var rolePermissions = []rolePermission{
	{identity.PermUser, "Browse"},
	{identity.PermCodeViewer, "See source code"},
	{identity.PermIssueAdmin, "Administer issues"},
	{identity.PermSecurityHotspotAdmin, "Administer security hotspots"},
	{identity.PermScan, "Execute analysis"},
	{identity.PermAdmin, "Administer"},
}

// roleRow is a row of the role-mapping table.
type roleRow struct {
	Index int
	Role  string
	Base  bool
	On    []bool // by rolePermissions
}

// syncView is the status region: what the engine says of the GitLab sync.
type syncView struct {
	provision.Status
	// Active: pending, running or due now; the page refreshes the region.
	Active   bool
	LastRun  *runRow // Last with its duration and counts
	Interval string
}

// shortDuration drops a duration's zero tail: 1h0m0s is 1h.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// runRow is a row of the run history.
type runRow struct {
	identity.SyncRun
	Duration string
	Counts   []countItem
}

// countItem is one non-zero count of a run.
type countItem struct {
	Label string
	N     int
}

// changeKind is one kind of change a run counts, named as a dry run's
// samples are.
type changeKind struct {
	sample, label string
	count         func(c identity.SyncCounts) int
}

var changeKinds = []changeKind{
	{"usersCreated", "users created", func(c identity.SyncCounts) int { return c.UsersCreated }},
	{"usersUpdated", "users updated", func(c identity.SyncCounts) int { return c.UsersUpdated }},
	{"usersReactivated", "users reactivated", func(c identity.SyncCounts) int { return c.UsersReactivated }},
	{"usersDeactivated", "users deactivated", func(c identity.SyncCounts) int { return c.UsersDeactivated }},
	{"groupsCreated", "groups created", func(c identity.SyncCounts) int { return c.GroupsCreated }},
	{"groupsUpdated", "groups updated", func(c identity.SyncCounts) int { return c.GroupsUpdated }},
	{"groupsDeleted", "groups deleted", func(c identity.SyncCounts) int { return c.GroupsDeleted }},
	{"membershipsAdded", "memberships added", func(c identity.SyncCounts) int { return c.MembershipsAdded }},
	{"membershipsRemoved", "memberships removed", func(c identity.SyncCounts) int { return c.MembershipsRemoved }},
	{"projectsCreated", "projects created", func(c identity.SyncCounts) int { return c.ProjectsCreated }},
	{"projectsUpdated", "projects updated", func(c identity.SyncCounts) int { return c.Projects - c.ProjectsCreated }},
	{"permissionsGranted", "permissions granted", func(c identity.SyncCounts) int { return c.PermissionsGranted }},
	{"permissionsRevoked", "permissions revoked", func(c identity.SyncCounts) int { return c.PermissionsRevoked }},
}

// counts lists what c changed, skipping the kinds it did not touch.
func counts(c identity.SyncCounts) []countItem {
	var out []countItem
	for _, k := range changeKinds {
		if n := k.count(c); n > 0 {
			out = append(out, countItem{k.label, n})
		}
	}
	return out
}

// dryRunKind is one kind of change of a dry run, with its first items.
type dryRunKind struct {
	Label   string
	N, More int // More: the changes the samples leave out
	Samples []string
}

type dryRunView struct {
	provision.Result
	Kinds []dryRunKind
}

func newDryRunView(res provision.Result) *dryRunView {
	d := &dryRunView{Result: res}
	for _, k := range changeKinds {
		if n := k.count(res.Counts); n > 0 {
			ss := res.Samples[k.sample]
			d.Kinds = append(d.Kinds, dryRunKind{Label: k.label, N: n, Samples: ss, More: max(0, n-len(ss))})
		}
	}
	return d
}

type gitlabData struct {
	Fields      []gitlabField
	Roles       []roleRow
	Permissions []rolePermission
	NewRole     string
	NewOn       []bool
	Status      syncView
	Runs        []runRow
	Pager       pager
	HistoryURL  string // this page of the history, where the script reads it again
	DryRun      *dryRunView
}

// dueSoon is how close a scheduled run must be for the page to follow it:
// enabling the sync starts one at once.
const dueSoon = 3 * time.Second

func newSyncView(st provision.Status, now time.Time) syncView {
	due := st.Enabled && !st.NextRun.IsZero() && st.NextRun.Before(now.Add(dueSoon))
	v := syncView{Status: st, Active: st.Pending != nil || st.Running != nil || due, Interval: shortDuration(st.Interval)}
	if st.Last != nil {
		r := newRunRow(*st.Last)
		v.LastRun = &r
	}
	return v
}

func newRunRow(r identity.SyncRun) runRow {
	row := runRow{SyncRun: r, Counts: counts(r.Counts)}
	if !r.StartedAt.IsZero() && !r.FinishedAt.IsZero() {
		row.Duration = r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
	}
	return row
}

// fieldID is a setting's form control id ("sync.enabled" → "gl-sync-enabled").
func fieldID(name string) string { return "gl-" + strings.ReplaceAll(name, ".", "-") }

// gitlabData reads what the page shows: the settings (secrets masked), the
// role mapping, the status and a page of the run history.
func (u *UI) gitlabData(p *pageCall, prov webapi.Provisioner) (gitlabData, error) {
	d := gitlabData{Permissions: rolePermissions, NewOn: make([]bool, len(rolePermissions))}
	vals, err := prov.Settings(p.ctx, identity.SourceGitLab)
	if err != nil {
		return d, err
	}
	for _, v := range vals {
		if v.Name == gitlabconn.SettingRoleMapping {
			continue // edited in its own table, not as JSON
		}
		label := settingLabels[v.Name]
		if label == "" {
			label = v.Name
		}
		d.Fields = append(d.Fields, gitlabField{SettingValue: v, ID: fieldID(v.Name), Label: label, Boolean: v.Default == "true" || v.Default == "false"})
	}
	m, err := gitlabconn.ParseRoleMapping(settingValue(vals, gitlabconn.SettingRoleMapping))
	if err != nil {
		// SetSettings stores only mappings the connector reads; should one
		// not parse, the table starts from the default.
		m = gitlabconn.DefaultRoleMapping()
	}
	d.Roles = roleRows(m)
	st, err := prov.Status(p.ctx, identity.SourceGitLab)
	if err != nil {
		return d, err
	}
	d.Status = newSyncView(st, u.st.Now())
	q := p.r.URL.Query()
	pg := pageOf(q)
	runs, total, err := prov.Runs(p.ctx, identity.SourceGitLab, pg)
	if err != nil {
		return d, err
	}
	for _, r := range runs {
		d.Runs = append(d.Runs, newRunRow(r))
	}
	d.Pager = newPager(gitlabPath, q, pg, total)
	d.HistoryURL = gitlabPath
	if pg.Number > 1 {
		d.HistoryURL += "?p=" + strconv.Itoa(pg.Number)
	}
	return d, nil
}

// settingValue is the value of setting name among vals.
func settingValue(vals []provision.SettingValue, name string) string {
	for _, v := range vals {
		if v.Name == name {
			return v.Value
		}
	}
	return ""
}

func roleRows(m gitlabconn.RoleMapping) []roleRow {
	var rows []roleRow
	for i, e := range m.Entries() {
		row := roleRow{Index: i, Role: e.Role, Base: e.Base}
		for _, c := range rolePermissions {
			row.On = append(row.On, slices.Contains(e.Permissions, c.Key))
		}
		rows = append(rows, row)
	}
	return rows
}

// gitlabPage is Administration → Authentication → GitLab: settings, the
// role mapping, Synchronize now and dry run, the status and the history.
func (u *UI) gitlabPage(p *pageCall, prov webapi.Provisioner) error {
	d, err := u.gitlabData(p, prov)
	if err != nil {
		return err
	}
	return p.show("gitlab", gitlabTitle, d)
}

// gitlabStatus answers the status region alone: the page's script polls it
// while a run is pending or running.
func (u *UI) gitlabStatus(p *pageCall, prov webapi.Provisioner) error {
	st, err := prov.Status(p.ctx, identity.SourceGitLab)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := u.pages["gitlab"].ExecuteTemplate(&buf, "gitlab-status", newSyncView(st, u.st.Now())); err != nil {
		return err
	}
	p.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = p.w.Write(buf.Bytes())
	return nil
}

// again renders the page with err and what the form held.
func (u *UI) gitlabAgain(p *pageCall, prov webapi.Provisioner, keep func(d *gitlabData), err error) error {
	d, lerr := u.gitlabData(p, prov)
	if lerr != nil {
		return lerr
	}
	if keep != nil {
		keep(&d)
	}
	return p.showError("gitlab", gitlabTitle, d, err)
}

// saveGitLabSettings saves the settings the form changed. A secret left
// empty keeps its value (they are write-only: the form never holds them);
// its "remove" box resets it. The engine checks the result against GitLab
// before it stores anything.
func (u *UI) saveGitLabSettings(p *pageCall, prov webapi.Provisioner) error {
	vals, err := prov.Settings(p.ctx, identity.SourceGitLab)
	if err != nil {
		return err
	}
	changes := settingChanges(vals, p.r.PostForm, gitlabconn.SettingRoleMapping)
	if len(changes) == 0 {
		return p.done(gitlabPath, "Nothing to save: the GitLab settings are unchanged.")
	}
	if err := prov.SetSettings(p.ctx, identity.SourceGitLab, changes); err != nil {
		return u.gitlabAgain(p, prov, func(d *gitlabData) {
			// The form as sent, but secrets: they are never shown.
			for i, f := range d.Fields {
				if _, sent := p.r.PostForm[f.Name]; sent && !f.Secret {
					d.Fields[i].Value = strings.TrimSpace(p.r.PostForm.Get(f.Name))
				}
			}
		}, err)
	}
	return p.done(gitlabPath, "GitLab settings saved.")
}

// postedRoles reads the role-mapping table: each row's role and ticked
// permissions, and the new custom role's.
func postedRoles(p *pageCall) (gitlabconn.RoleMapping, []roleRow, string, []bool, error) {
	f := p.r.PostForm
	ticked := func(field string) ([]identity.Permission, []bool) {
		var perms []identity.Permission
		on := make([]bool, len(rolePermissions))
		for i, c := range rolePermissions {
			if slices.Contains(f[field], string(c.Key)) {
				perms, on[i] = append(perms, c.Key), true
			}
		}
		return perms, on
	}
	// Base roles the form lacks keep the default; custom roles it lacks are
	// gone.
	m := gitlabconn.DefaultRoleMapping()
	var rows []roleRow
	for i, role := range f["role"] {
		role = strings.TrimSpace(role)
		perms, on := ticked("perm-" + strconv.Itoa(i))
		if role == "" {
			continue
		}
		m = m.With(role, perms)
		e, _ := m.Entry(role)
		rows = append(rows, roleRow{Index: len(rows), Role: e.Role, Base: e.Base, On: on})
	}
	name := strings.TrimSpace(f.Get("new-role"))
	perms, on := ticked("perm-new")
	if name == "" {
		return m, rows, name, on, nil
	}
	if m.HasRole(name) {
		return m, rows, name, on, identity.Errorf(identity.ErrInvalid, "Role '%s' already has a mapping: change its permissions in its row.", name)
	}
	return m.With(name, perms), rows, name, on, nil
}

// saveGitLabRoles stores the role-mapping table as the roleMapping setting,
// through SetSettings: the connector's own checks apply.
func (u *UI) saveGitLabRoles(p *pageCall, prov webapi.Provisioner) error {
	m, rows, name, on, err := postedRoles(p)
	if err == nil {
		err = prov.SetSettings(p.ctx, identity.SourceGitLab, map[string]string{gitlabconn.SettingRoleMapping: m.String()})
	}
	if err != nil {
		return u.gitlabAgain(p, prov, func(d *gitlabData) {
			d.Roles, d.NewRole, d.NewOn = rows, name, on
		}, err)
	}
	msg := "Role mapping saved."
	if name != "" {
		msg = "Custom role " + name + " added; role mapping saved."
	}
	return p.done(gitlabPath+"#roles", msg)
}

func (u *UI) removeGitLabRole(p *pageCall, prov webapi.Provisioner) error {
	vals, err := prov.Settings(p.ctx, identity.SourceGitLab)
	if err != nil {
		return err
	}
	m, err := gitlabconn.ParseRoleMapping(settingValue(vals, gitlabconn.SettingRoleMapping))
	if err != nil {
		return err
	}
	e, ok := m.Entry(strings.TrimSpace(p.r.PostForm.Get("role")))
	if !ok || e.Base {
		return identity.Errorf(identity.ErrInvalid, "'%s' is not a custom role of the mapping; base roles cannot be removed.", p.r.PostForm.Get("role"))
	}
	if err := prov.SetSettings(p.ctx, identity.SourceGitLab, map[string]string{gitlabconn.SettingRoleMapping: m.Without(e.Role).String()}); err != nil {
		return u.gitlabAgain(p, prov, nil, err)
	}
	return p.done(gitlabPath+"#roles", "Custom role "+e.Role+" removed: its members get their base role's permissions.")
}

func (u *UI) resetGitLabRoles(p *pageCall, prov webapi.Provisioner) error {
	// An empty value resets a setting to its default.
	if err := prov.SetSettings(p.ctx, identity.SourceGitLab, map[string]string{gitlabconn.SettingRoleMapping: ""}); err != nil {
		return u.gitlabAgain(p, prov, nil, err)
	}
	return p.done(gitlabPath+"#roles", "Role mapping reset to the default; custom roles removed.")
}

// syncGitLab is "Synchronize now": a run is queued and the page shows it
// move from pending to running to its result. With force=true (the dry
// run's "Synchronize anyway") the run applies a plan the guard would stop.
func (u *UI) syncGitLab(p *pageCall, prov webapi.Provisioner) error {
	q, err := prov.Queue(p.ctx, identity.SourceGitLab, p.r.PostForm.Get("force") == "true")
	if err != nil {
		return u.gitlabAgain(p, prov, nil, err)
	}
	msg := "Synchronization queued (run " + strconv.FormatInt(q.Run.ID, 10) + ")."
	if q.AlreadyPending {
		msg = "A synchronization is already pending (run " + strconv.FormatInt(q.Run.ID, 10) + "); nothing more was queued."
	}
	return p.done(gitlabPath+"#sync", msg)
}

// dryRunGitLab reads GitLab and plans without writing, and shows what a
// run would change.
func (u *UI) dryRunGitLab(p *pageCall, prov webapi.Provisioner) error {
	st, err := prov.Status(p.ctx, identity.SourceGitLab)
	if err != nil {
		return err
	}
	if !st.Enabled {
		return u.gitlabAgain(p, prov, nil, identity.Errorf(identity.ErrInvalid, "There is nothing to try: automatic provisioning is off (%s).", st.Reason))
	}
	res, err := prov.DryRun(p.ctx, identity.SourceGitLab, false)
	if err != nil {
		return u.gitlabAgain(p, prov, nil, err)
	}
	d, err := u.gitlabData(p, prov)
	if err != nil {
		return err
	}
	d.DryRun = newDryRunView(res)
	return p.show("gitlab", gitlabTitle, d)
}
