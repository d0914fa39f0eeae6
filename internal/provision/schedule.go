package provision

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Queued is the answer to "sync now".
type Queued struct {
	Run identity.SyncRun
	// AlreadyPending: a run was already waiting; this request changed
	// nothing.
	AlreadyPending bool
}

// Queue asks for a run of src as soon as possible ("sync now"). The run is
// stored as pending at once and started by [Engine.Run]. A request while a
// run is pending is a no-op that says so.
func (e *Engine) Queue(ctx context.Context, name identity.Source, force bool) (Queued, error) {
	s, err := e.source(name)
	if err != nil {
		return Queued{}, err
	}
	if _, err := e.open(ctx, s); errors.Is(err, ErrDisabled) {
		return Queued{}, identity.Errorf(identity.ErrInvalid, "The %s synchronization is disabled by its settings", name)
	} else if err != nil {
		return Queued{}, identity.Errorf(identity.ErrInvalid, "The %s settings are not usable: %v", name, err)
	}
	s.mu.Lock()
	if s.pending != nil {
		q := Queued{Run: *s.pending, AlreadyPending: true}
		s.force = s.force || force
		s.mu.Unlock()
		return q, nil
	}
	s.mu.Unlock()
	run, err := e.st.StartSyncRun(ctx, identity.SyncRun{Source: name, Trigger: identity.TriggerManual, Status: identity.SyncPending})
	if err != nil {
		return Queued{}, err
	}
	s.mu.Lock()
	if s.pending != nil {
		// A concurrent request queued first; this one's record is moot.
		q := Queued{Run: *s.pending, AlreadyPending: true}
		s.mu.Unlock()
		run.Status, run.FinishedAt, run.Errors = identity.SyncAborted, e.now(), []string{"superseded by run " + strconv.FormatInt(q.Run.ID, 10)}
		_ = e.st.UpdateSyncRun(ctx, run)
		return q, nil
	}
	s.pending, s.force = &run, force
	s.mu.Unlock()
	e.poke(s)
	return Queued{Run: run}, nil
}

func (e *Engine) poke(s *source) {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Status is a source's synchronization state.
type Status struct {
	Source identity.Source
	// Enabled is false when the settings switch the sync off or are not
	// usable; Reason says which.
	Enabled bool
	Reason  string
	Pending *identity.SyncRun
	Running *identity.SyncRun
	Last    *identity.SyncRun // the last finished run
	// NextRun is when the next scheduled run is due (zero when disabled).
	NextRun  time.Time
	Interval time.Duration
}

// Status returns the state of src.
func (e *Engine) Status(ctx context.Context, name identity.Source) (Status, error) {
	s, err := e.source(name)
	if err != nil {
		return Status{}, err
	}
	st := Status{Source: name}
	src, err := e.open(ctx, s)
	switch {
	case errors.Is(err, ErrDisabled):
		st.Reason = ErrDisabled.Error()
	case err != nil:
		st.Reason = err.Error()
	default:
		st.Enabled = true
		st.Interval = e.interval(src)
	}
	s.mu.Lock()
	if s.pending != nil {
		p := *s.pending
		st.Pending = &p
	}
	if s.running != nil {
		r := *s.running
		st.Running = &r
	}
	s.mu.Unlock()
	last, err := e.lastFinished(ctx, name)
	if err != nil {
		return st, err
	}
	st.Last = last
	if st.Enabled {
		st.NextRun = e.now()
		if last != nil {
			st.NextRun = last.FinishedAt.Add(st.Interval)
		}
	}
	return st, nil
}

// lastFinished is the newest finished run of src, on any replica.
func (e *Engine) lastFinished(ctx context.Context, src identity.Source) (*identity.SyncRun, error) {
	for page := 1; page <= 10; page++ {
		runs, total, err := e.st.Store().ListSyncRuns(ctx, src, store.Page{Number: page, Size: 20})
		if err != nil {
			return nil, err
		}
		for _, r := range runs {
			if !r.FinishedAt.IsZero() && r.Status != identity.SyncPending {
				return &r, nil
			}
		}
		if page*20 >= total {
			break
		}
	}
	return nil, nil
}

// Runs lists the runs of src ("" for all), newest first.
func (e *Engine) Runs(ctx context.Context, name identity.Source, p store.Page) ([]identity.SyncRun, int, error) {
	if name != "" {
		if _, err := e.source(name); err != nil {
			return nil, 0, err
		}
	}
	return e.st.Store().ListSyncRuns(ctx, name, p)
}

// Run schedules and runs the syncs of every source until ctx ends: each
// source runs one interval after its last run ended (on any replica), at
// start-up when that is overdue, and when "sync now" queued a run.
func (e *Engine) Run(ctx context.Context) {
	done := make(chan struct{})
	for _, name := range e.order {
		go func(s *source) {
			defer func() { done <- struct{}{} }()
			e.loop(ctx, s)
		}(e.sources[name])
	}
	for range e.order {
		<-done
	}
}

func (e *Engine) loop(ctx context.Context, s *source) {
	trigger := identity.TriggerStartup
	var backoff time.Time // after a run that could not start
	for {
		wait := e.untilDue(ctx, s)
		if wait >= 0 && e.now().Before(backoff) {
			wait = max(wait, backoff.Sub(e.now()))
		}
		var timer <-chan time.Time
		var t *time.Timer
		if wait >= 0 {
			t = time.NewTimer(wait)
			timer = t.C
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		queued, force := s.pending, s.force
		s.pending, s.force = nil, false
		s.mu.Unlock()
		opts := RunOptions{Trigger: trigger, Force: force}
		if queued != nil {
			opts.Trigger = identity.TriggerManual
		} else if e.untilDue(ctx, s) != 0 || e.now().Before(backoff) {
			// Woken by a settings change, or another replica ran it.
			continue
		}
		trigger = identity.TriggerSchedule
		if _, err := e.runOnce(ctx, s, queued, opts); err != nil && ctx.Err() == nil {
			// Another replica's run, or a store that cannot record runs:
			// try again later rather than at once.
			backoff = e.now().Add(time.Minute)
			e.log.Warn("sync run not started", "source", s.name, "err", err, "retry_in", time.Minute)
			if queued != nil {
				r := *queued
				r.Status, r.FinishedAt, r.Errors = identity.SyncFailed, e.now(), []string{err.Error()}
				_ = e.st.UpdateSyncRun(ctx, r)
				s.countFinished(identity.SyncFailed)
			}
		}
	}
}

// untilDue is how long until src's next scheduled run: 0 when due, -1 when
// no run is scheduled (disabled or unusable settings).
func (e *Engine) untilDue(ctx context.Context, s *source) time.Duration {
	src, err := e.open(ctx, s)
	if err != nil {
		return -1
	}
	last, err := e.lastFinished(ctx, s.name)
	if err != nil {
		e.log.Warn("read last sync run", "source", s.name, "err", err)
		return time.Minute
	}
	if last == nil {
		return 0
	}
	return max(0, last.FinishedAt.Add(e.interval(src)).Sub(e.now()))
}
