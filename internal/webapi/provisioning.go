package webapi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Provisioner is the provisioning engine as the Web API uses it;
// *provision.Engine implements it.
type Provisioner interface {
	Sources() []identity.Source
	Status(ctx context.Context, src identity.Source) (provision.Status, error)
	Runs(ctx context.Context, src identity.Source, p store.Page) ([]identity.SyncRun, int, error)
	Queue(ctx context.Context, src identity.Source, force bool) (provision.Queued, error)
	DryRun(ctx context.Context, src identity.Source, force bool) (provision.Result, error)
	Settings(ctx context.Context, src identity.Source) ([]provision.SettingValue, error)
	SetSettings(ctx context.Context, src identity.Source, values map[string]string) error
}

func (a *API) provisioningRoutes() []Route {
	source := Param{Name: "source", Required: true, MaxLen: 32, Desc: "The pull source: gitlab or ldap (those configured)."}
	return []Route{
		{Method: "GET", Path: "api/provisioning/status", Access: admin, Params: []Param{source}, Out: obj{"source": "", "enabled": true, "intervalSeconds": int64(0), "pending": (*syncRunJSON)(nil), "running": (*syncRunJSON)(nil), "lastRun": (*syncRunJSON)(nil), "reason?": "", "nextRunAt?": ""}, Handle: a.provisioningStatus,
			Summary: "A source's synchronization: {source, enabled, reason?, intervalSeconds, pending?, running?, lastRun?, nextRunAt?}; each run {id, source, trigger, status, startedAt?, finishedAt?, durationMs?, counts, warnings, errors}."},
		{Method: "GET", Path: "api/provisioning/runs", Access: admin, Out: obj{"paging": paging{}, "runs": []*syncRunJSON{}}, Handle: a.provisioningRuns,
			Params:  append([]Param{{Name: "source", MaxLen: 32, Desc: "Only this source's runs; every source's when absent."}}, pagingParams(20, 100)...),
			Summary: "Sync runs, newest first: {paging, runs:[…]}."},
		{Method: "POST", Path: "api/provisioning/sync", Access: admin, Out: anyOf{obj{"dryRun": true, "counts": identity.SyncCounts{}, "samples": map[string][]string{}, "warnings": []string{}, "aborted?": ""}, obj{"run": syncRunJSON{}, "alreadyPending": true, "message?": ""}}, Handle: a.provisioningSync,
			Params: []Param{source,
				{Name: "dryRun", Values: []string{"true", "false"}, Default: "false", Desc: "Read and plan only: answer what a run would change, write nothing."},
				{Name: "force", Values: []string{"true", "false"}, Default: "false", Desc: "Apply a plan even if it deactivates or removes more than the guard allows."}},
			Summary: "Sync now: queue a run ({run, alreadyPending}); a request while a run is pending changes nothing and says so. With dryRun=true: {dryRun: true, counts, samples, warnings, aborted?}."},
		{Method: "GET", Path: "api/provisioning/settings", Access: admin, Params: []Param{source}, Out: obj{"source": "", "settings": []settingJSON{}}, Handle: a.provisioningSettings,
			Summary: "A source's settings: {source, settings:[{name, value, description, default?, secret, required, isSet}]}; secrets are write-only and read as ******** when set."},
		{Method: "POST", Path: "api/provisioning/settings", Access: admin, Params: []Param{source}, Response: "empty", Handle: a.provisioningSetSettings,
			Summary: "Change a source's settings, each given as a parameter by its name (e.g. ldap.url=ldap://…); an empty value resets a setting to its default, ******** keeps a secret. The settings are checked against the live source before they are saved."},
	}
}

func (a *API) provisioner() (Provisioner, error) {
	if a.opts.Provisioner == nil {
		return nil, badRequest("No provisioning source is configured")
	}
	return a.opts.Provisioner, nil
}

// provisioningSource is the engine and the source a provisioning action
// names.
func (a *API) provisioningSource(c *call) (Provisioner, identity.Source, error) {
	p, err := a.provisioner()
	if err != nil {
		return nil, "", err
	}
	src, err := c.source(p)
	return p, src, err
}

func (c *call) source(p Provisioner) (identity.Source, error) {
	name := identity.Source(strings.ToLower(c.str("source")))
	if !slices.Contains(p.Sources(), name) {
		known := make([]string, 0, len(p.Sources()))
		for _, s := range p.Sources() {
			known = append(known, string(s))
		}
		return "", badRequest(fmt.Sprintf("Value of parameter 'source' (%s) must be one of: [%s]", c.str("source"), strings.Join(known, ", ")))
	}
	return name, nil
}

type syncRunJSON struct {
	ID         string               `json:"id"`
	Source     identity.Source      `json:"source"`
	Trigger    identity.SyncTrigger `json:"trigger"`
	Status     identity.SyncStatus  `json:"status"`
	StartedAt  *string              `json:"startedAt,omitempty"`
	FinishedAt *string              `json:"finishedAt,omitempty"`
	DurationMs *int64               `json:"durationMs,omitempty"`
	Counts     identity.SyncCounts  `json:"counts"`
	Warnings   []string             `json:"warnings"`
	Errors     []string             `json:"errors"`
}

func viewSyncRun(r *identity.SyncRun) *syncRunJSON {
	if r == nil {
		return nil
	}
	out := &syncRunJSON{ID: idString(r.ID), Source: r.Source, Trigger: r.Trigger, Status: r.Status,
		StartedAt: optTime(r.StartedAt), FinishedAt: optTime(r.FinishedAt), Counts: r.Counts,
		Warnings: nonNil(r.Warnings), Errors: nonNil(r.Errors)}
	if !r.StartedAt.IsZero() && !r.FinishedAt.IsZero() {
		ms := r.FinishedAt.Sub(r.StartedAt).Milliseconds()
		out.DurationMs = &ms
	}
	return out
}

func (a *API) provisioningStatus(c *call) (any, error) {
	p, src, err := a.provisioningSource(c)
	if err != nil {
		return nil, err
	}
	st, err := p.Status(c.ctx, src)
	if err != nil {
		return nil, err
	}
	out := map[string]any{
		"source": st.Source, "enabled": st.Enabled, "intervalSeconds": int64(st.Interval.Seconds()),
		"pending": viewSyncRun(st.Pending), "running": viewSyncRun(st.Running), "lastRun": viewSyncRun(st.Last),
	}
	if st.Reason != "" {
		out["reason"] = st.Reason
	}
	if t := optTime(st.NextRun); t != nil {
		out["nextRunAt"] = *t
	}
	return out, nil
}

func (a *API) provisioningRuns(c *call) (any, error) {
	// The history stays readable without configured sources.
	var src identity.Source
	list := a.st.Store().ListSyncRuns
	if p := a.opts.Provisioner; p != nil {
		list = p.Runs
		if c.str("source") != "" {
			var err error
			if src, err = c.source(p); err != nil {
				return nil, err
			}
		}
	} else if c.str("source") != "" {
		src = identity.Source(strings.ToLower(c.str("source")))
	}
	pg, ps := c.page()
	runs, total, err := list(c.ctx, src, store.Page{Number: pg, Size: ps})
	if err != nil {
		return nil, err
	}
	out := make([]*syncRunJSON, len(runs))
	for i := range runs {
		out[i] = viewSyncRun(&runs[i])
	}
	return map[string]any{"paging": paging{PageIndex: pg, PageSize: ps, Total: total}, "runs": out}, nil
}

func (a *API) provisioningSync(c *call) (any, error) {
	p, src, err := a.provisioningSource(c)
	if err != nil {
		return nil, err
	}
	force, _ := c.boolean("force")
	if dry, _ := c.boolean("dryRun"); dry {
		res, err := p.DryRun(c.ctx, src, force)
		if err != nil {
			return nil, err
		}
		samples := res.Samples
		if samples == nil {
			samples = map[string][]string{}
		}
		out := map[string]any{"dryRun": true, "counts": res.Counts, "samples": samples, "warnings": nonNil(res.Warnings)}
		if res.Aborted != "" {
			out["aborted"] = res.Aborted
		}
		return out, nil
	}
	q, err := p.Queue(c.ctx, src, force)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"run": viewSyncRun(&q.Run), "alreadyPending": q.AlreadyPending}
	if q.AlreadyPending {
		out["message"] = fmt.Sprintf("A %s sync is already pending (run %d); nothing was queued", src, q.Run.ID)
	}
	return out, nil
}

// settingJSON is a pull source's setting in api/provisioning/settings.
type settingJSON struct {
	Name        string `json:"name"`
	Value       string `json:"value"`
	Description string `json:"description"`
	Default     string `json:"default,omitempty"`
	Secret      bool   `json:"secret"`
	Required    bool   `json:"required"`
	IsSet       bool   `json:"isSet"`
}

func (a *API) provisioningSettings(c *call) (any, error) {
	p, src, err := a.provisioningSource(c)
	if err != nil {
		return nil, err
	}
	vals, err := p.Settings(c.ctx, src)
	if err != nil {
		return nil, err
	}
	out := make([]settingJSON, len(vals))
	for i, v := range vals {
		out[i] = settingJSON{Name: v.Name, Value: v.Value, Description: v.Desc, Default: v.Default, Secret: v.Secret, Required: v.Required, IsSet: v.IsSet}
	}
	return map[string]any{"source": src, "settings": out}, nil
}

func (a *API) provisioningSetSettings(c *call) (any, error) {
	p, src, err := a.provisioningSource(c)
	if err != nil {
		return nil, err
	}
	changes := map[string]string{}
	for name, vals := range c.form {
		if name == "source" {
			continue
		}
		if len(vals) != 1 {
			return nil, badRequest(fmt.Sprintf("The '%s' parameter must be given once", name))
		}
		v := vals[0]
		if !validText(v) {
			return nil, badRequest(fmt.Sprintf("Value of parameter '%s' is not valid text of at most %d characters", name, maxParamLen))
		}
		changes[name] = v
	}
	if len(changes) == 0 {
		return nil, badRequest("No setting given: pass each setting as a parameter by its name")
	}
	if err := p.SetSettings(c.ctx, src, changes); err != nil {
		return nil, err
	}
	return nil, nil
}

// validText is what a setting can hold: valid UTF-8 without NUL, at most
// maxParamLen characters.
func validText(v string) bool {
	return utf8.ValidString(v) && !strings.ContainsRune(v, 0) && utf8.RuneCountInString(v) <= maxParamLen
}
