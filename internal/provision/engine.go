package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// State is what the engine needs of package state: a consistent read, the
// batched apply, and the bookkeeping of runs and settings. *state.State
// implements it.
type State interface {
	ProvisionSnapshot(ctx context.Context) (store.Snapshot, error)
	ApplySource(ctx context.Context, src identity.Source, changes []state.SourceChange) ([]state.SourceResult, error)
	StartSyncRun(ctx context.Context, r identity.SyncRun) (identity.SyncRun, error)
	UpdateSyncRun(ctx context.Context, r identity.SyncRun) error
	SetSourceSettings(ctx context.Context, src identity.Source, values, view map[string]string) error
	Store() store.Reader
}

// Locker excludes runs of one source across replicas sharing a store (a
// PostgreSQL advisory lock, a file lock on SQLite). The lock must vanish
// when its holder dies.
type Locker interface {
	TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
}

// Sealer encrypts secret settings at rest (package secretbox). The name of
// the setting is bound to its ciphertext.
type Sealer interface {
	SealFor(name, plaintext string) (string, error)
	OpenFor(name, sealed string) (string, error)
}

// Config configures an [Engine].
type Config struct {
	Logger *slog.Logger
	Now    func() time.Time
	Guard  Guard
	// BatchSize is the number of changes per transaction; 500 when 0.
	BatchSize int
	// AddBatchSize is the number of memberships or project permissions
	// added per transaction, 50,000 when 0: the store inserts them many a
	// statement, so a larger batch is cheaper (a first GitLab run of
	// 20,000 users grants 5 million), while a batch holds the write lock
	// for a fraction of a second.
	AddBatchSize int
	// Interval is the default time between scheduled runs; 1 h when 0.
	Interval time.Duration
	// ReadTimeout bounds one snapshot read; 30 min when 0.
	ReadTimeout time.Duration
	// Locker, when set, makes runs exclusive across replicas.
	Locker Locker
	// Secrets seals secret settings; without it they cannot be stored.
	Secrets Sealer
	// Samples is how many items of each kind a dry run lists; 20 when 0.
	Samples int
	// OnSettings, when set, is told a source's effective settings (secrets
	// opened) after they changed, so that the wiring can reconnect what
	// uses them besides the sync (LDAP sign-in).
	OnSettings func(src identity.Source, values map[string]string)
}

// SourceConfig registers one source with the engine.
type SourceConfig struct {
	Connector Connector
	// Defaults are values from the deployment's configuration (file,
	// environment); a value stored through the API overrides them.
	Defaults map[string]string
}

// Engine runs the syncs of every registered source.
type Engine struct {
	st      State
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	sources map[identity.Source]*source
	order   []identity.Source

	// afterBatch, when set (tests), runs after each applied batch; an
	// error stops the apply there, as a crash would.
	afterBatch func(batch int) error
}

// source is the engine's bookkeeping of one source.
type source struct {
	name identity.Source
	cfg  SourceConfig
	run  sync.Mutex // held for a run in this process

	mu      sync.Mutex
	pending *identity.SyncRun // queued, not started
	force   bool
	running *identity.SyncRun
	wake    chan struct{}
	// finished counts the runs this process finished, by status
	// (metrics.go).
	finished map[identity.SyncStatus]int64
}

// Errors of the engine's API.
var (
	ErrUnknownSource = identity.Errorf(identity.ErrNotFound, "unknown provisioning source")
	ErrBusy          = identity.Errorf(identity.ErrInvalid, "a sync of this source is already running")
)

// New returns an engine for the given sources. It checks that every stored
// secret can be opened: a stored secret without the key is a start-up
// error, not a surprise at the first run.
func New(ctx context.Context, st State, sources map[identity.Source]SourceConfig, cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.AddBatchSize <= 0 {
		cfg.AddBatchSize = 50000
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Hour
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 30 * time.Minute
	}
	if cfg.Samples <= 0 {
		cfg.Samples = 20
	}
	e := &Engine{st: st, cfg: cfg, log: cfg.Logger, now: cfg.Now, sources: map[identity.Source]*source{}}
	for name, sc := range sources {
		e.sources[name] = &source{name: name, cfg: sc, wake: make(chan struct{}, 1)}
		e.order = append(e.order, name)
	}
	sort.Slice(e.order, func(i, j int) bool { return e.order[i] < e.order[j] })
	for _, name := range e.order {
		if _, err := e.values(ctx, e.sources[name]); err != nil && errors.Is(err, errSecretKey) {
			return nil, err
		}
		if err := e.reseal(ctx, e.sources[name]); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Resealer is a [Sealer] that can move a secret sealed under an old key
// to the current one (key rotation, docs/secrets.md).
type Resealer interface {
	Reseal(name, sealed string) (resealed string, changed bool, err error)
}

// reseal re-encrypts the stored secrets of s sealed under an older key, so
// that the old key can be retired after one start with the new ring.
func (e *Engine) reseal(ctx context.Context, s *source) error {
	rs, ok := e.cfg.Secrets.(Resealer)
	if !ok {
		return nil
	}
	values, view := map[string]string{}, map[string]string{}
	defs, err := e.defs(ctx, s)
	if err != nil {
		return err
	}
	for _, def := range defs {
		if !def.Secret {
			continue
		}
		key := settingKey(s.name, def.Name)
		stored, err := e.st.Store().GetSetting(ctx, key)
		if errors.Is(err, identity.ErrNotFound) || stored == "" {
			continue
		}
		if err != nil {
			return fmt.Errorf("read setting %s: %w", def.Name, err)
		}
		next, changed, err := rs.Reseal(key, stored)
		if err != nil {
			return secretKeyError{fmt.Sprintf("the %s setting %s cannot be re-encrypted: %v", s.name, def.Name, err)}
		}
		if changed {
			values[key], view[def.Name] = next, "resealed under the current key"
		}
	}
	if len(values) == 0 {
		return nil
	}
	e.log.Info("re-encrypted secrets under the current key", "source", s.name, "count", len(values))
	return e.st.SetSourceSettings(ctx, s.name, values, view)
}

// Sources lists the registered sources.
func (e *Engine) Sources() []identity.Source { return e.order }

func (e *Engine) source(name identity.Source) (*source, error) {
	s := e.sources[name]
	if s == nil {
		return nil, identity.Errorf(identity.ErrNotFound, "Unknown provisioning source '%s'; known: %s", name, joinSources(e.order))
	}
	return s, nil
}

func joinSources(ss []identity.Source) string {
	if len(ss) == 0 {
		return "none configured"
	}
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// open makes the source from its current settings.
func (e *Engine) open(ctx context.Context, s *source) (Source, error) {
	values, err := e.values(ctx, s)
	if err != nil {
		return nil, err
	}
	return s.cfg.Connector.Open(ctx, values)
}

// interval is the source's time between scheduled runs.
func (e *Engine) interval(src Source) time.Duration {
	if sc, ok := src.(Scheduled); ok && sc.Interval() > 0 {
		return sc.Interval()
	}
	return e.cfg.Interval
}

func (e *Engine) policy(s *source) Policy {
	if pc, ok := s.cfg.Connector.(PolicyConnector); ok {
		return pc.Policy()
	}
	return Policy{}
}

// RunOptions are the options of one run.
type RunOptions struct {
	Trigger identity.SyncTrigger
	// Force applies a plan over the guard's bounds.
	Force bool
}

// RunOnce runs one sync of src now and returns the finished run. It is
// [ErrBusy] when a run of src is going on, here or on another replica.
func (e *Engine) RunOnce(ctx context.Context, name identity.Source, opts RunOptions) (identity.SyncRun, error) {
	s, err := e.source(name)
	if err != nil {
		return identity.SyncRun{}, err
	}
	return e.runOnce(ctx, s, nil, opts)
}

func (e *Engine) runOnce(ctx context.Context, s *source, queued *identity.SyncRun, opts RunOptions) (identity.SyncRun, error) {
	unlock, err := e.lockRun(ctx, s)
	if err != nil {
		return identity.SyncRun{}, err
	}
	defer unlock()
	run := identity.SyncRun{Source: s.name, Trigger: opts.Trigger, Status: identity.SyncRunning, StartedAt: e.now()}
	if queued != nil {
		run.ID = queued.ID
		if err := e.st.UpdateSyncRun(ctx, run); err != nil {
			return run, err
		}
	} else {
		var err error
		if run, err = e.st.StartSyncRun(ctx, run); err != nil {
			return run, err
		}
	}
	s.mu.Lock()
	shown := run // Status reads it while this run goes on
	s.running = &shown
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = nil
		s.mu.Unlock()
	}()

	res, err := e.sync(ctx, s, opts.Force, false)
	run.Counts, run.Warnings = res.Counts, res.Warnings
	run.FinishedAt = e.now()
	switch {
	case err == nil:
		run.Status = identity.SyncSuccess
	case errors.Is(err, errGuard):
		run.Status = identity.SyncAborted
		run.Errors = []string{err.Error()}
	default:
		run.Status = identity.SyncFailed
		run.Errors = []string{err.Error()}
	}
	// The run's record must be written even when ctx ended the run.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if uerr := e.st.UpdateSyncRun(uctx, run); uerr != nil {
		e.log.Error("record sync run", "source", s.name, "run", run.ID, "err", uerr)
	}
	s.countFinished(run.Status)
	e.log.Info("sync run finished", "source", s.name, "run", run.ID, "status", run.Status,
		"writes", run.Counts.Writes, "duration", run.FinishedAt.Sub(run.StartedAt), "err", err)
	return run, nil
}

// lockRun takes s's run lock in this process and, with a Locker, across
// replicas; it is [ErrBusy] (or names the other replica) when a run holds
// it.
func (e *Engine) lockRun(ctx context.Context, s *source) (unlock func(), err error) {
	if !s.run.TryLock() {
		return nil, ErrBusy
	}
	if e.cfg.Locker == nil {
		return s.run.Unlock, nil
	}
	release, ok, err := e.cfg.Locker.TryLock(ctx, "provision."+string(s.name))
	if err != nil || !ok {
		s.run.Unlock()
		if err != nil {
			return nil, fmt.Errorf("lock the %s sync: %w", s.name, err)
		}
		return nil, identity.Errorf(identity.ErrInvalid, "a sync of %s is already running on another replica", s.name)
	}
	return func() { release(); s.run.Unlock() }, nil
}

var errGuard = errors.New("guard")

type guardError struct{ msg string }

func (g guardError) Error() string        { return g.msg }
func (g guardError) Is(target error) bool { return target == errGuard }

// Result is what a run did, or what a dry run would do.
type Result struct {
	Counts   identity.SyncCounts
	Warnings []string
	// Samples lists the first items of each kind of change (dry run).
	Samples map[string][]string
	// Aborted is the guard's reason when the plan crosses a bound.
	Aborted string
}

// DryRun reads src and plans, without applying: the result counts what a
// run would change and lists the first items of each kind.
func (e *Engine) DryRun(ctx context.Context, name identity.Source, force bool) (Result, error) {
	s, err := e.source(name)
	if err != nil {
		return Result{}, err
	}
	res, err := e.sync(ctx, s, force, true)
	if errors.Is(err, errGuard) {
		res.Aborted = err.Error()
		return res, nil
	}
	return res, err
}

// sync is a run's work: read, plan, guard, apply (or only describe).
func (e *Engine) sync(ctx context.Context, s *source, force, dry bool) (Result, error) {
	src, err := e.open(ctx, s)
	if err != nil {
		return Result{}, fmt.Errorf("settings: %w", err)
	}
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, e.cfg.ReadTimeout)
	snap, err := src.Read(rctx)
	cancel()
	if err != nil {
		return Result{}, fmt.Errorf("read %s: %w; nothing was applied", s.name, err)
	}
	sourceRead := time.Now()
	first, err := e.firstRun(ctx, s.name)
	if err != nil {
		return Result{}, err
	}
	st, err := e.st.ProvisionSnapshot(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("read the store: %w", err)
	}
	read := time.Now()
	cur := Current{Users: st.Users, Groups: st.Groups, Memberships: st.Memberships, Projects: st.Projects, Grants: st.Grants}
	plan := MakePlan(cur, snap, PlanOptions{Source: s.name, Policy: e.policy(s), FirstRun: first})
	planned := time.Now()
	res := Result{Warnings: plan.Warnings}
	if gerr := e.cfg.Guard.Check(cur, &plan, string(s.name)); gerr != nil && !force {
		res.Counts = planCounts(&plan)
		if dry {
			res.Samples = samples(&plan, e.cfg.Samples)
		}
		return res, guardError{gerr.Error()}
	}
	if dry {
		res.Counts = planCounts(&plan)
		res.Samples = samples(&plan, e.cfg.Samples)
		return res, nil
	}
	a := newApplier(e, s.name, cur)
	err = a.apply(ctx, &plan)
	// Where a long run spent its time, for whoever tunes it.
	e.log.Info("sync applied", "source", s.name, "changes", plan.Changes(), "batches", a.batches,
		"read", sourceRead.Sub(start).Round(time.Millisecond), "store", read.Sub(sourceRead).Round(time.Millisecond), "plan", planned.Sub(read).Round(time.Millisecond), "apply", time.Since(planned).Round(time.Millisecond))
	res.Counts = a.counts
	res.Warnings = append(res.Warnings, a.warnings...)
	return res, err
}

// firstRun reports whether src has never had a successful run.
func (e *Engine) firstRun(ctx context.Context, src identity.Source) (bool, error) {
	for page := 1; ; page++ {
		runs, total, err := e.st.Store().ListSyncRuns(ctx, src, store.Page{Number: page, Size: 100})
		if err != nil {
			return false, fmt.Errorf("list sync runs: %w", err)
		}
		for _, r := range runs {
			if r.Status == identity.SyncSuccess {
				return false, nil
			}
		}
		if page*100 >= total || len(runs) == 0 {
			return true, nil
		}
	}
}

// planCounts is what a plan would change, in a run's counts.
func planCounts(p *Plan) identity.SyncCounts {
	c := identity.SyncCounts{
		UsersCreated:       len(p.CreateUsers),
		UsersUpdated:       len(p.UpdateUsers),
		UsersDeactivated:   len(p.DeactivateUsers),
		UsersReactivated:   len(p.ReactivateUsers),
		GroupsCreated:      len(p.CreateGroups),
		GroupsUpdated:      len(p.UpdateGroups),
		GroupsDeleted:      len(p.RemoveGroups),
		MembershipsAdded:   len(p.AddMembers),
		MembershipsRemoved: len(p.RemoveMembers),
		ProjectsCreated:    len(p.CreateProjects),
		Projects:           len(p.CreateProjects) + len(p.UpdateProjects),
		PermissionsGranted: len(p.Grant),
		PermissionsRevoked: len(p.Revoke),
	}
	c.PermissionsChanged = c.PermissionsGranted + c.PermissionsRevoked
	c.Writes = p.Changes()
	return c
}

// samples lists the first n items of each kind of change, for a dry run.
func samples(p *Plan, n int) map[string][]string {
	out := map[string][]string{}
	add := func(kind string, count int, item func(i int) string) {
		for i := 0; i < count && i < n; i++ {
			out[kind] = append(out[kind], item(i))
		}
	}
	add("usersCreated", len(p.CreateUsers), func(i int) string { return p.CreateUsers[i].Login })
	add("usersUpdated", len(p.UpdateUsers), func(i int) string { return p.UpdateUsers[i].Login })
	add("usersReactivated", len(p.ReactivateUsers), func(i int) string { return p.ReactivateUsers[i].Login })
	add("usersDeactivated", len(p.DeactivateUsers), func(i int) string { return p.DeactivateUsers[i].Login })
	add("groupsCreated", len(p.CreateGroups), func(i int) string { return p.CreateGroups[i].Name })
	add("groupsUpdated", len(p.UpdateGroups), func(i int) string { return p.UpdateGroups[i].Name })
	add("groupsDeleted", len(p.RemoveGroups), func(i int) string { return p.RemoveGroups[i].Name })
	add("membershipsAdded", len(p.AddMembers), func(i int) string { return p.AddMembers[i].Login + " → " + p.AddMembers[i].Group })
	add("membershipsRemoved", len(p.RemoveMembers), func(i int) string {
		m := p.RemoveMembers[i]
		return fmt.Sprintf("user %d ✕ group %d", m.UserID, m.GroupID)
	})
	add("projectsCreated", len(p.CreateProjects), func(i int) string { return p.CreateProjects[i].Key })
	add("projectsUpdated", len(p.UpdateProjects), func(i int) string { return p.UpdateProjects[i].Key })
	add("permissionsGranted", len(p.Grant), func(i int) string {
		g := p.Grant[i]
		return g.Login + " " + string(g.Permission) + " on " + g.Project
	})
	add("permissionsRevoked", len(p.Revoke), func(i int) string {
		g := p.Revoke[i]
		return fmt.Sprintf("user %d %s on project %d", g.Subject.ID, g.Permission, g.ProjectID)
	})
	return out
}
