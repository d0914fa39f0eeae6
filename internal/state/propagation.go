package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Propagation between replicas (SPEC §8). Every write commits, in its own
// transaction, a change-log entry keyed by the revision it bumped to, naming
// the entities it changed (changeTx records them as the write calls the
// store). A replica that finds the store's revision ahead of its index reads
// the entries it lacks, re-reads the rows they name and sets them in its
// index through the index's incremental methods: no rebuild, and decisions
// wait only for the few row updates. Only a gap — entries pruned, or more
// changes than re-reading them is worth — rebuilds the index, off the write
// lock into a new state that is swapped in, and then catches up from the
// log on the writes made meanwhile.

// errGap reports that the change log cannot bring the index up to date: an
// entry is missing (pruned) or the changes are too many to re-read.
var errGap = errors.New("change log gap")

// maxDeltaChanges bounds the changes a catch-up re-reads one by one; past
// it a rebuild from a snapshot is cheaper (a peer's bulk import).
const maxDeltaChanges = 2000

// changeSet is the deduplicated list of changes of one transaction or one
// catch-up.
type changeSet struct {
	seen map[store.Change]struct{}
	list []store.Change
}

func (c *changeSet) add(ch store.Change) {
	if c.seen == nil {
		c.seen = make(map[store.Change]struct{})
	}
	if _, ok := c.seen[ch]; ok {
		return
	}
	c.seen[ch] = struct{}{}
	c.list = append(c.list, ch)
}

// changeTx is the transaction a write runs in: it passes every call to the
// store's transaction and records what each write that a decision depends
// on changed. Writes that no decision depends on (templates, settings, the
// audit log, sync runs, last-use times) are not recorded; the reflection
// test in propagation_test.go keeps that list complete.
type changeTx struct {
	store.Tx
	rec *changeSet
	// records forgets what a write changes; cache is records when this
	// batch may read through it, else nil (see recordCache).
	records *recordCache
	cache   *recordCache
	// memo is what this transaction read, less what it changed since;
	// records learns it after the commit.
	memo *recordCache
}

func (t *changeTx) note(kind store.ChangeKind, id int64) {
	ch := store.Change{Kind: kind, ID: id}
	t.rec.add(ch)
	if t.records != nil {
		t.records.forget(ch)
	}
	if t.memo != nil {
		t.memo.forget(ch)
	}
}

func (t *changeTx) CreateUser(ctx context.Context, u identity.User) (identity.User, error) {
	out, err := t.Tx.CreateUser(ctx, u)
	if err == nil {
		t.note(store.ChangeUser, out.ID)
	}
	return out, err
}

func (t *changeTx) UpdateUser(ctx context.Context, u identity.User) error {
	t.note(store.ChangeUser, u.ID)
	return t.Tx.UpdateUser(ctx, u)
}

func (t *changeTx) CreateGroup(ctx context.Context, g identity.Group) (identity.Group, error) {
	out, err := t.Tx.CreateGroup(ctx, g)
	if err == nil {
		t.note(store.ChangeGroup, out.ID)
	}
	return out, err
}

func (t *changeTx) UpdateGroup(ctx context.Context, g identity.Group) error {
	t.note(store.ChangeGroup, g.ID)
	return t.Tx.UpdateGroup(ctx, g)
}

func (t *changeTx) DeleteGroup(ctx context.Context, id int64) error {
	t.note(store.ChangeGroup, id)
	return t.Tx.DeleteGroup(ctx, id)
}

func (t *changeTx) AddMember(ctx context.Context, userID, groupID int64) (bool, error) {
	added, err := t.Tx.AddMember(ctx, userID, groupID)
	if added {
		t.note(store.ChangeUserGroups, userID)
	}
	return added, err
}

// smallMemberBulk is the largest bulk add recorded user by user; a larger
// one is recorded as the group's membership list.
const smallMemberBulk = 32

func (t *changeTx) AddMembers(ctx context.Context, groupID int64, userIDs []int64) ([]int64, error) {
	added, err := t.Tx.AddMembers(ctx, groupID, userIDs)
	if len(added) > smallMemberBulk {
		t.note(store.ChangeGroupMembers, groupID)
	} else {
		for _, id := range added {
			t.note(store.ChangeUserGroups, id)
		}
	}
	return added, err
}

func (t *changeTx) RemoveMember(ctx context.Context, userID, groupID int64) (bool, error) {
	removed, err := t.Tx.RemoveMember(ctx, userID, groupID)
	if removed {
		t.note(store.ChangeUserGroups, userID)
	}
	return removed, err
}

func (t *changeTx) CreateProject(ctx context.Context, p identity.Project) (identity.Project, error) {
	out, err := t.Tx.CreateProject(ctx, p)
	if err == nil {
		t.note(store.ChangeProject, out.ID)
	}
	return out, err
}

func (t *changeTx) UpdateProject(ctx context.Context, p identity.Project) error {
	t.note(store.ChangeProject, p.ID)
	return t.Tx.UpdateProject(ctx, p)
}

func (t *changeTx) DeleteProject(ctx context.Context, id int64) error {
	t.note(store.ChangeProject, id)
	return t.Tx.DeleteProject(ctx, id)
}

func (t *changeTx) AddGrant(ctx context.Context, g identity.Grant) (bool, error) {
	added, err := t.Tx.AddGrant(ctx, g)
	if added {
		t.rec.add(store.Change{Kind: store.ChangeGrants, ID: g.ProjectID, Subject: g.Subject})
	}
	return added, err
}

// AddGrants is recorded per project: a replica re-reads each project's
// grants once, where a change per user would pass maxDeltaChanges and
// rebuild its index at every provisioning batch.
func (t *changeTx) AddGrants(ctx context.Context, gs []identity.Grant) ([]identity.Grant, error) {
	added, err := t.Tx.AddGrants(ctx, gs)
	for _, g := range added {
		t.rec.add(store.Change{Kind: store.ChangeProjectGrants, ID: g.ProjectID})
	}
	return added, err
}

func (t *changeTx) RemoveGrant(ctx context.Context, g identity.Grant) (bool, error) {
	removed, err := t.Tx.RemoveGrant(ctx, g)
	if removed {
		t.rec.add(store.Change{Kind: store.ChangeGrants, ID: g.ProjectID, Subject: g.Subject})
	}
	return removed, err
}

func (t *changeTx) DeleteProjectGrants(ctx context.Context, projectID int64) error {
	t.note(store.ChangeProjectGrants, projectID)
	return t.Tx.DeleteProjectGrants(ctx, projectID)
}

func (t *changeTx) CreateToken(ctx context.Context, tok identity.Token) (identity.Token, error) {
	out, err := t.Tx.CreateToken(ctx, tok)
	if err == nil {
		t.note(store.ChangeToken, out.ID)
	}
	return out, err
}

func (t *changeTx) UpdateToken(ctx context.Context, tok identity.Token) error {
	t.note(store.ChangeToken, tok.ID)
	return t.Tx.UpdateToken(ctx, tok)
}

func (t *changeTx) DeleteToken(ctx context.Context, id int64) error {
	t.note(store.ChangeToken, id)
	return t.Tx.DeleteToken(ctx, id)
}

func (t *changeTx) AddTokenProjects(ctx context.Context, tokenID int64, projectIDs []int64) error {
	t.note(store.ChangeToken, tokenID)
	return t.Tx.AddTokenProjects(ctx, tokenID, projectIDs)
}

func (t *changeTx) RemoveTokenProjects(ctx context.Context, tokenID int64, projectIDs []int64) error {
	t.note(store.ChangeToken, tokenID)
	return t.Tx.RemoveTokenProjects(ctx, tokenID, projectIDs)
}

func (t *changeTx) CreateSession(ctx context.Context, ss identity.Session) (identity.Session, error) {
	out, err := t.Tx.CreateSession(ctx, ss)
	if err == nil {
		t.note(store.ChangeSession, out.ID)
	}
	return out, err
}

func (t *changeTx) DeleteSession(ctx context.Context, id int64) error {
	t.note(store.ChangeSession, id)
	return t.Tx.DeleteSession(ctx, id)
}

// DeleteUserSessions is recorded even when it deleted nothing: the change
// also ends the user's reused password checks on every replica.
func (t *changeTx) DeleteUserSessions(ctx context.Context, userID int64) (int, error) {
	t.note(store.ChangeUserSessions, userID)
	return t.Tx.DeleteUserSessions(ctx, userID)
}

// catchUp brings the index to the store's revision upTo (or past it) from
// the change log; the caller holds writeMu. It returns errGap when the log
// cannot, and leaves the index at the last revision it applied.
func (s *State) catchUp(ctx context.Context, upTo int64) error {
	for s.revision < upTo {
		start := time.Now()
		entries, err := s.store.ListChanges(ctx, s.revision, maxDeltaChanges)
		if err != nil {
			return fmt.Errorf("read change log: %w", err)
		}
		if len(entries) == 0 || entries[0].Revision != s.revision+1 {
			return fmt.Errorf("%w: revision %d not logged", errGap, s.revision+1)
		}
		var cs changeSet
		last := s.revision
		var lastAt time.Time
		for _, e := range entries {
			if e.Revision != last+1 {
				break // the rest on the next round, which reports the gap
			}
			for _, c := range e.Changes {
				cs.add(c)
			}
			if len(cs.list) > maxDeltaChanges {
				return fmt.Errorf("%w: more than %d changes to re-read", errGap, maxDeltaChanges)
			}
			last, lastAt = e.Revision, e.At
		}
		if err := s.applyChanges(ctx, cs.list); err != nil {
			return err
		}
		s.dropReused(cs.list)
		s.setRevision(last)
		s.repl.lastDelta.Store(int64(time.Since(start)))
		s.repl.deltaBatches.Add(1)
		s.repl.deltaChanges.Add(int64(len(cs.list)))
		if !lastAt.IsZero() {
			s.repl.lastDelay.Store(int64(time.Since(lastAt)))
		}
		s.repl.appliedAt.Store(time.Now().UnixNano())
	}
	return nil
}

// applyChanges re-reads the rows changes name and sets them in the index.
// Rows are read as they are now, which may be past the revision being
// applied: a later entry names them again, and setting them twice is
// harmless. Every row is read first and then all are set in one step under
// the index's lock, so decisions never see half of a peer's write;
// entities come before the links between them, so a membership or grant
// never names a group or project the index lacks.
func (s *State) applyChanges(ctx context.Context, changes []store.Change) error {
	for _, c := range changes {
		if !knownKind(c.Kind) {
			// A kind from a newer release: only a rebuild knows what it
			// means.
			return fmt.Errorf("%w: unknown change kind %q", errGap, c.Kind)
		}
	}
	for _, c := range changes {
		s.records.forget(c)
	}
	var ops []func(authz.Batch) error
	for _, pass := range [][]store.ChangeKind{
		{store.ChangeGroup, store.ChangeUser, store.ChangeProject},
		{store.ChangeUserGroups, store.ChangeGroupMembers, store.ChangeGrants, store.ChangeProjectGrants, store.ChangeToken,
			store.ChangeSession, store.ChangeUserSessions},
	} {
		for _, c := range changes {
			if !slices.Contains(pass, c.Kind) {
				continue
			}
			op, err := s.readChange(ctx, c)
			if err != nil {
				return fmt.Errorf("apply %s %d: %w", c.Kind, c.ID, err)
			}
			if op != nil {
				ops = append(ops, op)
			}
		}
	}
	return s.index.Apply(func(b authz.Batch) error {
		for _, op := range ops {
			if err := op(b); err != nil {
				return err
			}
		}
		return nil
	})
}

func knownKind(k store.ChangeKind) bool {
	switch k {
	case store.ChangeGroup, store.ChangeUser, store.ChangeProject, store.ChangeUserGroups,
		store.ChangeGroupMembers, store.ChangeGrants, store.ChangeProjectGrants, store.ChangeToken,
		store.ChangeSession, store.ChangeUserSessions:
		return true
	}
	return false
}

// readChange reads the rows of one change and returns how to set them in
// the index (nil: nothing to set).
func (s *State) readChange(ctx context.Context, c store.Change) (func(authz.Batch) error, error) {
	r := s.store
	set := func(f func(b authz.Batch)) func(authz.Batch) error {
		return func(b authz.Batch) error { f(b); return nil }
	}
	switch c.Kind {
	case store.ChangeUser:
		u, err := r.GetUser(ctx, c.ID)
		if errors.Is(err, identity.ErrNotFound) {
			return nil, nil // a creation rolled back in its savepoint
		} else if err != nil {
			return nil, err
		}
		return set(func(b authz.Batch) { b.PutUser(u) }), nil
	case store.ChangeGroup:
		g, err := r.GetGroup(ctx, c.ID)
		if errors.Is(err, identity.ErrNotFound) {
			return set(func(b authz.Batch) { b.DeleteGroup(c.ID) }), nil
		} else if err != nil {
			return nil, err
		}
		return set(func(b authz.Batch) { b.PutGroup(g) }), nil
	case store.ChangeProject:
		p, err := r.GetProject(ctx, c.ID)
		if errors.Is(err, identity.ErrNotFound) {
			return set(func(b authz.Batch) { b.DeleteProject(c.ID) }), nil
		} else if err != nil {
			return nil, err
		}
		return set(func(b authz.Batch) { b.PutProject(p) }), nil
	case store.ChangeUserGroups:
		ms, err := r.ListMemberships(ctx, c.ID, 0)
		if err != nil {
			return nil, err
		}
		ids := make([]int64, len(ms))
		for i, m := range ms {
			ids[i] = m.GroupID
		}
		return set(func(b authz.Batch) { b.SetUserGroups(c.ID, ids) }), nil
	case store.ChangeGroupMembers:
		ms, err := r.ListMemberships(ctx, 0, c.ID)
		if err != nil {
			return nil, err
		}
		ids := make([]int64, len(ms))
		for i, m := range ms {
			ids[i] = m.UserID
		}
		return set(func(b authz.Batch) { b.SetGroupMembers(c.ID, ids) }), nil
	case store.ChangeGrants:
		sub, pid := c.Subject, c.ID
		gs, err := r.ListGrants(ctx, store.GrantFilter{Subject: &sub, ProjectID: &pid})
		if err != nil {
			return nil, err
		}
		perms := make([]identity.Permission, len(gs))
		for i, g := range gs {
			perms[i] = g.Permission
		}
		return set(func(b authz.Batch) { b.SetGrants(sub, pid, perms) }), nil
	case store.ChangeProjectGrants:
		pid := c.ID
		gs, err := r.ListGrants(ctx, store.GrantFilter{ProjectID: &pid})
		if err != nil {
			return nil, err
		}
		return set(func(b authz.Batch) { b.SetProjectGrants(pid, gs) }), nil
	case store.ChangeToken:
		t, err := r.GetToken(ctx, c.ID)
		if errors.Is(err, identity.ErrNotFound) {
			return set(func(b authz.Batch) { b.RemoveToken(c.ID) }), nil
		} else if err != nil {
			return nil, err
		}
		var projects []int64
		if t.Type == identity.TokenOrganization && !t.Revoked() {
			if projects, _, err = r.ListTokenProjects(ctx, t.ID, store.Page{}); err != nil {
				return nil, err
			}
		}
		return func(b authz.Batch) error { return b.PutToken(t, projects) }, nil
	case store.ChangeSession:
		ss, err := r.GetSession(ctx, c.ID)
		if errors.Is(err, identity.ErrNotFound) {
			return set(func(b authz.Batch) { b.RemoveSession(c.ID) }), nil
		} else if err != nil {
			return nil, err
		}
		return func(b authz.Batch) error { return b.PutSession(ss) }, nil
	case store.ChangeUserSessions:
		ss, err := r.ListSessions(ctx, c.ID, s.now())
		if err != nil {
			return nil, err
		}
		return func(b authz.Batch) error { return b.SetUserSessions(c.ID, ss) }, nil
	}
	return nil, fmt.Errorf("%w: unknown change kind %q", errGap, c.Kind)
}

// rebuild replaces the index with one built from a snapshot. The snapshot
// is read and the new state built without the write lock, so this
// replica's writes go on meanwhile (reaching the old state only); the swap
// and the catch-up on the writes made since the snapshot's revision take
// the lock, and decisions wait only for the swap itself.
func (s *State) rebuild(ctx context.Context, why string) error {
	s.rebuildMu.Lock()
	defer s.rebuildMu.Unlock()
	start := time.Now()
	// The revision is read before the snapshot: the snapshot holds at least
	// its writes, and catching up from it re-applies any later ones.
	rev, err := s.store.Revision(ctx)
	if err != nil {
		return err
	}
	snap, err := s.store.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	b, err := s.index.Build(snap)
	if err != nil {
		return fmt.Errorf("build index: %w", err)
	}
	built := time.Since(start)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.needRebuild.Store(false)
	s.records.clear()
	upTo := max(rev, s.revision)
	s.index.Swap(b)
	if s.reuse != nil {
		s.reuse.dropAll()
	}
	s.setRevision(rev)
	s.repl.lastRebuild.Store(int64(time.Since(start)))
	s.repl.fullReloads.Add(1)
	s.repl.appliedAt.Store(time.Now().UnixNano())
	if err := s.catchUp(ctx, upTo); err != nil {
		// Pruned while building: try again on the next check.
		s.needRebuild.Store(true)
		return fmt.Errorf("catch up after rebuild: %w", err)
	}
	s.log.Info("index rebuilt", "why", why, "revision", s.revision, "build", built, "total", time.Since(start))
	return nil
}

// setRevision records the revision the index reflects; writeMu is held.
func (s *State) setRevision(rev int64) {
	s.revision = rev
	s.repl.revision.Store(rev)
}

// syncPeers brings the index up to date with writes of other replicas
// sharing the store: from the change log when it can, by a rebuild when it
// cannot.
func (s *State) syncPeers(ctx context.Context) {
	if s.needRebuild.Load() {
		if err := s.rebuild(ctx, "an earlier catch-up failed"); err != nil && ctx.Err() == nil {
			s.log.Error("rebuild index", "err", err)
		}
		return
	}
	rev, err := s.store.Revision(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.storeTrouble(err)
		}
		return
	}
	s.storeBack()
	s.repl.seen(rev)
	if rev <= s.repl.revision.Load() {
		s.repl.caughtUp(rev)
		return
	}
	s.writeMu.Lock()
	// rev was read before taking the lock: a write of this replica that
	// committed meanwhile may have caught up past it already.
	err = s.catchUp(ctx, rev)
	at := s.revision
	s.writeMu.Unlock()
	switch {
	case err == nil:
		s.repl.caughtUp(at)
	case errors.Is(err, errGap):
		s.log.Info("change log cannot catch up; rebuilding the index", "reason", err)
		if err := s.rebuild(ctx, err.Error()); err != nil && ctx.Err() == nil {
			s.log.Error("rebuild index", "err", err)
		}
	case ctx.Err() == nil:
		s.log.Warn("apply peer changes", "err", err)
	}
}

// storeTrouble logs that the store cannot be read, once per outage: Run
// polls it ten times a second, and decisions go on from memory meanwhile.
func (s *State) storeTrouble(err error) {
	if !s.storeDown.Swap(true) {
		s.log.Warn("store unavailable: decisions go on from memory, requests that need the store answer 503", "err", err)
		return
	}
	s.log.Debug("store still unavailable", "err", err)
}

// storeBack logs the end of an outage.
func (s *State) storeBack() {
	if s.storeDown.Swap(false) {
		s.log.Info("store available again")
	}
}

// pruneLog deletes change-log entries more than keep revisions old.
func (s *State) pruneLog(ctx context.Context) {
	upTo := s.repl.revision.Load() - int64(s.logKeep)
	if upTo <= 0 {
		return
	}
	var n int
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		var err error
		n, err = tx.PruneChanges(ctx, upTo)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("prune change log", "err", err)
		}
		return
	}
	if n > 0 {
		s.log.Debug("pruned change log", "entries", n, "up_to", upTo)
	}
}

// listen wakes Run whenever the store reports a committed change-log entry,
// reconnecting after a lost connection; polling goes on meanwhile, so a
// listener that is down only slows propagation to the sync interval.
func (s *State) listen(ctx context.Context, l store.ChangeListener, wake chan<- struct{}) {
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	backoff := time.Second
	for {
		start := time.Now()
		err := l.ListenChanges(ctx, poke)
		if ctx.Err() != nil || errors.Is(err, errors.ErrUnsupported) {
			return
		}
		s.log.Warn("change notifications lost; polling until they are back", "err", err, "retry_in", backoff)
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
