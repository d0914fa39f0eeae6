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
	mu          sync.Mutex
	users       map[int64]identity.User
	logins      map[string]int64
	groups      map[int64]identity.Group
	groupNames  map[string]int64
	projects    map[int64]identity.Project
	projectKeys map[string]int64
}

// maxCachedRecords bounds each kind; past it the kind starts afresh.
const maxCachedRecords = 100_000

func newRecordCache() *recordCache {
	c := &recordCache{}
	c.clear()
	return c
}

func (c *recordCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users, c.logins = map[int64]identity.User{}, map[string]int64{}
	c.groups, c.groupNames = map[int64]identity.Group{}, map[string]int64{}
	c.projects, c.projectKeys = map[int64]identity.Project{}, map[string]int64{}
}

// forget drops the record a change names.
func (c *recordCache) forget(ch store.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ch.Kind {
	case store.ChangeUser:
		if u, ok := c.users[ch.ID]; ok {
			delete(c.logins, u.Login)
			delete(c.users, ch.ID)
		}
	case store.ChangeGroup:
		if g, ok := c.groups[ch.ID]; ok {
			delete(c.groupNames, g.Name)
			delete(c.groups, ch.ID)
		}
	case store.ChangeProject:
		if p, ok := c.projects[ch.ID]; ok {
			delete(c.projectKeys, p.Key)
			delete(c.projects, ch.ID)
		}
	}
}

func (c *recordCache) user(id int64) (identity.User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.users[id]
	return u, ok
}

func (c *recordCache) userByLogin(login string) (identity.User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.users[c.logins[login]]
	return u, ok
}

func (c *recordCache) group(id int64) (identity.Group, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.groups[id]
	return g, ok
}

func (c *recordCache) groupByName(name string) (identity.Group, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.groups[c.groupNames[name]]
	return g, ok
}

func (c *recordCache) project(id int64) (identity.Project, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.projects[id]
	return p, ok
}

// learn adds what a committed batch read, except the records it changed.
func (c *recordCache) learn(l *learned, changed map[store.Change]struct{}) {
	if l.empty() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range l.users {
		if _, ok := changed[store.Change{Kind: store.ChangeUser, ID: u.ID}]; ok {
			continue
		}
		if len(c.users) >= maxCachedRecords {
			c.users, c.logins = map[int64]identity.User{}, map[string]int64{}
		}
		if old, ok := c.users[u.ID]; ok {
			delete(c.logins, old.Login)
		}
		c.users[u.ID], c.logins[u.Login] = u, u.ID
	}
	for _, g := range l.groups {
		if _, ok := changed[store.Change{Kind: store.ChangeGroup, ID: g.ID}]; ok {
			continue
		}
		if len(c.groups) >= maxCachedRecords {
			c.groups, c.groupNames = map[int64]identity.Group{}, map[string]int64{}
		}
		if old, ok := c.groups[g.ID]; ok {
			delete(c.groupNames, old.Name)
		}
		c.groups[g.ID], c.groupNames[g.Name] = g, g.ID
	}
	for _, p := range l.projects {
		if _, ok := changed[store.Change{Kind: store.ChangeProject, ID: p.ID}]; ok {
			continue
		}
		if len(c.projects) >= maxCachedRecords {
			c.projects, c.projectKeys = map[int64]identity.Project{}, map[string]int64{}
		}
		if old, ok := c.projects[p.ID]; ok {
			delete(c.projectKeys, old.Key)
		}
		c.projects[p.ID], c.projectKeys[p.Key] = p, p.ID
	}
}

// learned is what one batch read from the store, for the cache to learn
// once the batch commits.
type learned struct {
	users    []identity.User
	groups   []identity.Group
	projects []identity.Project
}

func (l *learned) empty() bool {
	return len(l.users) == 0 && len(l.groups) == 0 && len(l.projects) == 0
}

// The look-ups below read through the cache when r is a batch's
// transaction that may trust it, and from r otherwise. They are for reads
// that never write the record back (see recordCache).

func lookUpUserByLogin(ctx context.Context, r store.Reader, login string) (identity.User, error) {
	t, ok := r.(*changeTx)
	if ok && t.cache != nil {
		if u, hit := t.cache.userByLogin(login); hit {
			return u, nil
		}
	}
	u, err := getUser(ctx, r, login)
	if err == nil && ok {
		t.learned.users = append(t.learned.users, u)
	}
	return u, err
}

func lookUpUser(ctx context.Context, r store.Reader, id int64) (identity.User, error) {
	t, ok := r.(*changeTx)
	if ok && t.cache != nil {
		if u, hit := t.cache.user(id); hit {
			return u, nil
		}
	}
	u, err := r.GetUser(ctx, id)
	if err == nil && ok {
		t.learned.users = append(t.learned.users, u)
	}
	return u, err
}

func lookUpGroupByName(ctx context.Context, r store.Reader, name string) (identity.Group, error) {
	t, ok := r.(*changeTx)
	if ok && t.cache != nil {
		if g, hit := t.cache.groupByName(name); hit {
			return g, nil
		}
	}
	g, err := getGroup(ctx, r, name)
	if err == nil && ok {
		t.learned.groups = append(t.learned.groups, g)
	}
	return g, err
}

func lookUpGroup(ctx context.Context, r store.Reader, id int64) (identity.Group, error) {
	t, ok := r.(*changeTx)
	if ok && t.cache != nil {
		if g, hit := t.cache.group(id); hit {
			return g, nil
		}
	}
	g, err := r.GetGroup(ctx, id)
	if err == nil && ok {
		t.learned.groups = append(t.learned.groups, g)
	}
	return g, err
}

func lookUpProject(ctx context.Context, r store.Reader, id int64) (identity.Project, error) {
	t, ok := r.(*changeTx)
	if ok && t.cache != nil {
		if p, hit := t.cache.project(id); hit {
			return p, nil
		}
	}
	p, err := r.GetProject(ctx, id)
	if err == nil && ok {
		t.learned.projects = append(t.learned.projects, p)
	}
	return p, err
}
