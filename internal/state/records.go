package state

import (
	"context"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// recordCache keeps users, groups and projects as last committed, for the
// look-ups of the most frequent writes (add or remove a member, grant or
// revoke a permission). Under the write lock each look-up is a statement,
// a round trip on PostgreSQL, and they were two of such a write's three.
//
// It is safe because of how it is used:
//   - a batch trusts it only when no peer has written since this replica's
//     revision (runGroup), and never while the index waits for a rebuild;
//   - every write that changes a user, group or project forgets it at once
//     (changeTx.note), as does every change applied from a peer;
//   - it learns only what a batch read from the store, and only after that
//     batch committed, leaving out what the batch itself changed;
//   - only reads that never write the record back use it: a user's last-use
//     times change outside the change log, so a cached user is good for its
//     id, login and source, not for an update.
type recordCache struct {
	mu       sync.Mutex
	users    records[identity.User]
	groups   records[identity.Group]
	projects records[identity.Project]
}

// maxCachedRecords bounds each kind; past it the kind starts afresh.
const maxCachedRecords = 100_000

func newRecordCache() *recordCache {
	return &recordCache{
		users:    newRecords(func(u identity.User) (int64, string) { return u.ID, u.Login }),
		groups:   newRecords(func(g identity.Group) (int64, string) { return g.ID, g.Name }),
		projects: newRecords(func(p identity.Project) (int64, string) { return p.ID, p.Key }),
	}
}

// records are one kind's records by id and by name.
type records[T any] struct {
	byID  map[int64]T
	ids   map[string]int64
	names func(T) (int64, string)
}

func newRecords[T any](names func(T) (int64, string)) records[T] {
	return records[T]{byID: map[int64]T{}, ids: map[string]int64{}, names: names}
}

func (r *records[T]) reset() { clear(r.byID); clear(r.ids) }

func (r *records[T]) forget(id int64) {
	if v, ok := r.byID[id]; ok {
		_, name := r.names(v)
		delete(r.ids, name)
		delete(r.byID, id)
	}
}

func (r *records[T]) put(v T) {
	if len(r.byID) >= maxCachedRecords {
		r.reset()
	}
	id, name := r.names(v)
	r.forget(id)
	r.byID[id], r.ids[name] = v, id
}

func (r *records[T]) byName(name string) (T, bool) {
	id, ok := r.ids[name]
	if !ok {
		var zero T
		return zero, false
	}
	v, ok := r.byID[id]
	return v, ok
}

func (c *recordCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users.reset()
	c.groups.reset()
	c.projects.reset()
}

// forget drops the record a change names.
func (c *recordCache) forget(ch store.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ch.Kind {
	case store.ChangeUser:
		c.users.forget(ch.ID)
	case store.ChangeGroup:
		c.groups.forget(ch.ID)
	case store.ChangeProject:
		c.projects.forget(ch.ID)
	}
}

func (r *records[T]) get(id int64) (T, bool) {
	v, ok := r.byID[id]
	return v, ok
}

// locked runs a read of the cache under its lock.
func locked[T any](c *recordCache, read func() (T, bool)) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return read()
}

func (c *recordCache) user(id int64) (identity.User, bool) {
	return locked(c, func() (identity.User, bool) { return c.users.get(id) })
}

func (c *recordCache) userByLogin(login string) (identity.User, bool) {
	return locked(c, func() (identity.User, bool) { return c.users.byName(login) })
}

func (c *recordCache) group(id int64) (identity.Group, bool) {
	return locked(c, func() (identity.Group, bool) { return c.groups.get(id) })
}

func (c *recordCache) groupByName(name string) (identity.Group, bool) {
	return locked(c, func() (identity.Group, bool) { return c.groups.byName(name) })
}

func (c *recordCache) project(id int64) (identity.Project, bool) {
	return locked(c, func() (identity.Project, bool) { return c.projects.get(id) })
}

// put adds a record read from the store.
func put[T any](c *recordCache, r *records[T], v T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r.put(v)
}

// merge adds what a committed batch read (its transaction's memo), except
// the records the batch changed.
func (c *recordCache) merge(memo *recordCache, changed map[store.Change]struct{}) {
	memo.mu.Lock()
	defer memo.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	mergeKind(&c.users, &memo.users, store.ChangeUser, changed)
	mergeKind(&c.groups, &memo.groups, store.ChangeGroup, changed)
	mergeKind(&c.projects, &memo.projects, store.ChangeProject, changed)
}

func mergeKind[T any](into, from *records[T], kind store.ChangeKind, changed map[store.Change]struct{}) {
	for id, v := range from.byID {
		if _, ok := changed[store.Change{Kind: kind, ID: id}]; !ok {
			into.put(v)
		}
	}
}

// The look-ups below read through the cache when r is a batch's
// transaction that may trust it, and from r otherwise. They are for reads
// that never write the record back (see recordCache).

// lookUp is the one shape of them: hit asks a cache, read the store, and
// note keeps what was read in the transaction's memo.
//
// Within one transaction a record read once is served again from the
// memo until a write there changes it (a bulk request's
// thousand grants on one project read it once): no other writer commits
// while the transaction holds the revision's lock, so the memo needs no
// trust in the replica's view.
func lookUp[T any](r store.Reader, hit func(*recordCache) (T, bool), read func() (T, error), note func(*changeTx, T)) (T, error) {
	t, ok := r.(*changeTx)
	if ok && t.cache != nil {
		if v, found := hit(t.cache); found {
			return v, nil
		}
	}
	if ok && t.memo != nil {
		if v, found := hit(t.memo); found {
			return v, nil
		}
	}
	v, err := read()
	if err == nil && ok {
		note(t, v)
	}
	return v, err
}

func noteUser(t *changeTx, u identity.User)       { put(t.memo, &t.memo.users, u) }
func noteGroup(t *changeTx, g identity.Group)     { put(t.memo, &t.memo.groups, g) }
func noteProject(t *changeTx, p identity.Project) { put(t.memo, &t.memo.projects, p) }

func lookUpUserByLogin(ctx context.Context, r store.Reader, login string) (identity.User, error) {
	return lookUp(r, func(c *recordCache) (identity.User, bool) { return c.userByLogin(login) },
		func() (identity.User, error) { return getUser(ctx, r, login) }, noteUser)
}

func lookUpUser(ctx context.Context, r store.Reader, id int64) (identity.User, error) {
	return lookUp(r, func(c *recordCache) (identity.User, bool) { return c.user(id) },
		func() (identity.User, error) { return r.GetUser(ctx, id) }, noteUser)
}

func lookUpGroupByName(ctx context.Context, r store.Reader, name string) (identity.Group, error) {
	return lookUp(r, func(c *recordCache) (identity.Group, bool) { return c.groupByName(name) },
		func() (identity.Group, error) { return getGroup(ctx, r, name) }, noteGroup)
}

func lookUpGroup(ctx context.Context, r store.Reader, id int64) (identity.Group, error) {
	return lookUp(r, func(c *recordCache) (identity.Group, bool) { return c.group(id) },
		func() (identity.Group, error) { return r.GetGroup(ctx, id) }, noteGroup)
}

func lookUpProject(ctx context.Context, r store.Reader, id int64) (identity.Project, error) {
	return lookUp(r, func(c *recordCache) (identity.Project, bool) { return c.project(id) },
		func() (identity.Project, error) { return r.GetProject(ctx, id) }, noteProject)
}
