package authz

import (
	"cmp"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/token"
)

type userEntry struct {
	id     int64
	login  string
	active bool
	// groups are the explicit groups; sonar-users is implicit and not listed.
	groups []*groupEntry
	grants grants
	// fresh is set for users of managed sources: when their groups were
	// last read, and whether they are held (see [Freshness]).
	fresh *Freshness
}

type groupEntry struct {
	id     int64
	name   string
	grants grants
}

type projectEntry struct {
	id     int64
	key    string
	public bool
}

type tokenEntry struct {
	id        int64
	name      string
	typ       identity.TokenType
	userID    int64
	projectID int64
	hash      token.Hash
	// prevHash stays valid until prevUntil (unix nanoseconds) after a rotation.
	prevHash  token.Hash
	hasPrev   bool
	prevUntil int64
	expiresAt int64 // unix nanoseconds; 0: never
	// Organization token scope and permissions.
	perms    permSet
	set      identity.ProjectSet
	patterns []*regexp.Regexp
	projects map[int64]struct{}
	// lastTouch is the unix second at which a use was last handed to the
	// store; it keeps last-used writes to one a minute per token.
	lastTouch atomic.Int64
}

// sessionEntry is a signed-in browser: the hash of its cookie and whose it
// is.
type sessionEntry struct {
	id        int64
	userID    int64
	hash      token.Hash
	expiresAt int64 // unix nanoseconds
	// lastTouch is as for tokens: last-seen writes at most once a minute.
	lastTouch atomic.Int64
}

// Index is the in-memory authorization state. It is safe for concurrent use:
// decisions share a read lock, updates take the write lock.
type Index struct {
	now func() time.Time

	mu          sync.RWMutex
	users       map[int64]*userEntry
	logins      map[string]*userEntry
	groups      map[int64]*groupEntry
	projects    map[int64]*projectEntry
	projectKeys map[string]*projectEntry
	anyone      grants
	sonarUsers  *groupEntry // every active user is an implicit member
	tokens      map[token.Hash]*tokenEntry
	tokenIDs    map[int64]*tokenEntry
	sessions    map[token.Hash]*sessionEntry
	sessionIDs  map[int64]*sessionEntry
}

// NewIndex returns an empty index; now is the clock (time.Now when nil).
func NewIndex(now func() time.Time) *Index {
	if now == nil {
		now = time.Now
	}
	ix := &Index{now: now}
	ix.reset()
	return ix
}

func (ix *Index) reset() {
	ix.users = make(map[int64]*userEntry)
	ix.logins = make(map[string]*userEntry)
	ix.groups = make(map[int64]*groupEntry)
	ix.projects = make(map[int64]*projectEntry)
	ix.projectKeys = make(map[string]*projectEntry)
	ix.anyone = grants{}
	ix.sonarUsers = nil
	ix.tokens = make(map[token.Hash]*tokenEntry)
	ix.tokenIDs = make(map[int64]*tokenEntry)
	ix.sessions = make(map[token.Hash]*sessionEntry)
	ix.sessionIDs = make(map[int64]*sessionEntry)
}

// Load replaces the whole index with the state of a store snapshot. The new
// state is built aside and swapped in (see [Index.Build]): decisions go on
// against the old state meanwhile.
func (ix *Index) Load(s store.Snapshot) error {
	b, err := ix.Build(s)
	if err != nil {
		return err
	}
	ix.Swap(b)
	return nil
}

// Built is an index state built from a snapshot, not yet in use.
type Built struct{ ix *Index }

// Build builds the state of a snapshot without taking the index's lock, so
// that a rebuild of a large index never stalls decisions; [Index.Swap]
// puts it in place.
func (ix *Index) Build(s store.Snapshot) (*Built, error) {
	n := &Index{now: ix.now}
	n.reset()
	for _, g := range s.Groups {
		n.putGroup(g)
	}
	for _, u := range s.Users {
		n.putUser(u)
	}
	for _, m := range s.Memberships {
		n.addMember(m.UserID, m.GroupID)
	}
	for _, p := range s.Projects {
		n.putProject(p)
	}
	for _, g := range s.Grants {
		if gs := n.grantsOf(g.Subject, true); gs != nil {
			gs.add(g.ProjectID, bitOf(g.Permission))
		}
	}
	for _, t := range s.Tokens {
		if err := n.putToken(t, s.TokenProjects[t.ID]); err != nil {
			return nil, err
		}
	}
	for _, ss := range s.Sessions {
		if err := n.putSession(ss); err != nil {
			return nil, err
		}
	}
	return &Built{ix: n}, nil
}

// Swap replaces the index's state with b in one step under the lock.
// Freshness records and the once-a-minute token-use marks outlive the swap:
// a rebuild is no read of a user's source, nor a use of a token.
func (ix *Index) Swap(b *Built) {
	n := b.ix
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for id, u := range n.users {
		if o := ix.users[id]; o != nil && o.fresh != nil && u.fresh != nil && o.fresh.source == u.fresh.source {
			u.fresh = o.fresh
		}
	}
	for id, t := range n.tokenIDs {
		if o := ix.tokenIDs[id]; o != nil {
			t.lastTouch.Store(o.lastTouch.Load())
		}
	}
	for id, e := range n.sessionIDs {
		if o := ix.sessionIDs[id]; o != nil {
			e.lastTouch.Store(o.lastTouch.Load())
		}
	}
	ix.users, ix.logins, ix.groups = n.users, n.logins, n.groups
	ix.projects, ix.projectKeys = n.projects, n.projectKeys
	ix.anyone, ix.sonarUsers = n.anyone, n.sonarUsers
	ix.tokens, ix.tokenIDs = n.tokens, n.tokenIDs
	ix.sessions, ix.sessionIDs = n.sessions, n.sessionIDs
}

// PutUser inserts or updates a user, keeping its memberships and grants.
func (ix *Index) PutUser(u identity.User) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.putUser(u)
}

func (ix *Index) putUser(u identity.User) {
	e := ix.users[u.ID]
	if e == nil {
		e = &userEntry{id: u.ID}
		ix.users[u.ID] = e
	} else if e.login != u.Login {
		delete(ix.logins, e.login)
	}
	e.login = u.Login
	e.active = u.Active
	switch {
	case !u.Source.Managed():
		e.fresh = nil
	case e.fresh == nil || e.fresh.source != u.Source:
		e.fresh = &Freshness{source: u.Source}
	}
	ix.logins[u.Login] = e
}

// PutGroup inserts or renames a group.
func (ix *Index) PutGroup(g identity.Group) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.putGroup(g)
}

func (ix *Index) putGroup(g identity.Group) {
	e := ix.groups[g.ID]
	if e == nil {
		e = &groupEntry{id: g.ID}
		ix.groups[g.ID] = e
	}
	e.name = g.Name
	if g.Name == identity.GroupUsers {
		ix.sonarUsers = e
	}
}

// DeleteGroup removes a group with its memberships and grants.
func (ix *Index) DeleteGroup(id int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.deleteGroup(id)
}

func (ix *Index) deleteGroup(id int64) {
	g := ix.groups[id]
	if g == nil {
		return
	}
	delete(ix.groups, id)
	if ix.sonarUsers == g {
		ix.sonarUsers = nil
	}
	for _, u := range ix.users {
		u.groups = slices.DeleteFunc(u.groups, func(x *groupEntry) bool { return x == g })
	}
}

// AddMember adds user to group; unknown ids are ignored.
func (ix *Index) AddMember(userID, groupID int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.addMember(userID, groupID)
}

func (ix *Index) addMember(userID, groupID int64) {
	u, g := ix.users[userID], ix.groups[groupID]
	if u == nil || g == nil || slices.Contains(u.groups, g) {
		return
	}
	u.groups = append(u.groups, g)
}

// RemoveMember removes user from group.
func (ix *Index) RemoveMember(userID, groupID int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if u := ix.users[userID]; u != nil {
		u.groups = slices.DeleteFunc(u.groups, func(x *groupEntry) bool { return x.id == groupID })
	}
}

// PutProject inserts or updates a project.
func (ix *Index) PutProject(p identity.Project) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.putProject(p)
}

func (ix *Index) putProject(p identity.Project) {
	e := ix.projects[p.ID]
	if e == nil {
		e = &projectEntry{id: p.ID}
		ix.projects[p.ID] = e
	} else if e.key != p.Key {
		delete(ix.projectKeys, e.key)
	}
	e.key = p.Key
	e.public = p.Visibility == identity.Public
	ix.projectKeys[p.Key] = e
}

// DeleteProject removes a project, every grant on it, its place in
// organization token scopes and the project analysis tokens bound to it.
func (ix *Index) DeleteProject(id int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.deleteProject(id)
}

func (ix *Index) deleteProject(id int64) {
	p := ix.projects[id]
	if p == nil {
		return
	}
	delete(ix.projects, id)
	delete(ix.projectKeys, p.key)
	ix.clearProjectGrants(id)
	for _, t := range ix.tokenIDs {
		delete(t.projects, id)
		if t.typ == identity.TokenProjectAnalysis && t.projectID == id {
			ix.removeToken(t.id)
		}
	}
}

// AddGrant records a grant.
func (ix *Index) AddGrant(g identity.Grant) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if gs := ix.grantsOf(g.Subject, true); gs != nil {
		gs.add(g.ProjectID, bitOf(g.Permission))
	}
}

// RemoveGrant forgets a grant.
func (ix *Index) RemoveGrant(g identity.Grant) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if gs := ix.grantsOf(g.Subject, false); gs != nil {
		gs.remove(g.ProjectID, bitOf(g.Permission))
	}
}

// ClearProjectGrants forgets every grant on a project.
func (ix *Index) ClearProjectGrants(projectID int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.clearProjectGrants(projectID)
}

func (ix *Index) clearProjectGrants(projectID int64) {
	delete(ix.anyone.projects, projectID)
	for _, u := range ix.users {
		delete(u.grants.projects, projectID)
	}
	for _, g := range ix.groups {
		delete(g.grants.projects, projectID)
	}
}

func (ix *Index) grantsOf(s identity.Subject, create bool) *grants {
	switch s.Kind {
	case identity.SubjectAnyone:
		return &ix.anyone
	case identity.SubjectUser:
		if u := ix.users[s.ID]; u != nil {
			return &u.grants
		}
		if create {
			// A grant may be loaded before its user in odd snapshots; keep it.
			u := &userEntry{id: s.ID}
			ix.users[s.ID] = u
			return &u.grants
		}
	case identity.SubjectGroup:
		if g := ix.groups[s.ID]; g != nil {
			return &g.grants
		}
	}
	return nil
}

// PutToken inserts or replaces a token. projects is the full explicit
// project list of an organization token. A revoked token is removed.
func (ix *Index) PutToken(t identity.Token, projects []int64) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.putToken(t, projects)
}

func (ix *Index) putToken(t identity.Token, projects []int64) error {
	e := &tokenEntry{
		id:        t.ID,
		name:      t.Name,
		typ:       t.Type,
		userID:    t.UserID,
		projectID: t.ProjectID,
		perms:     setOf(t.Permissions),
		set:       t.Scope.Set,
	}
	if len(t.Hash) != len(e.hash) {
		return identity.Errorf(identity.ErrInvalid, "token %d has no valid hash", t.ID)
	}
	copy(e.hash[:], t.Hash)
	if len(t.PrevHash) == len(e.prevHash) && t.PrevValidUntil.After(ix.now()) {
		copy(e.prevHash[:], t.PrevHash)
		e.hasPrev = true
		e.prevUntil = t.PrevValidUntil.UnixNano()
	}
	if !t.ExpiresAt.IsZero() {
		e.expiresAt = t.ExpiresAt.UnixNano()
	}
	for _, p := range t.Scope.Patterns {
		// Patterns are validated when written; one that no longer compiles
		// (stricter rules since) matches nothing rather than keeping the
		// whole index from loading: the token fails closed.
		if re, err := identity.CompileKeyPattern(p); err == nil {
			e.patterns = append(e.patterns, re)
		}
	}
	if len(projects) > 0 {
		e.projects = make(map[int64]struct{}, len(projects))
		for _, id := range projects {
			e.projects[id] = struct{}{}
		}
	}
	if old := ix.tokenIDs[t.ID]; old != nil {
		e.lastTouch.Store(old.lastTouch.Load())
		ix.removeToken(t.ID)
	}
	if t.Revoked() {
		return nil
	}
	ix.tokenIDs[t.ID] = e
	ix.tokens[e.hash] = e
	if e.hasPrev {
		ix.tokens[e.prevHash] = e
	}
	return nil
}

// AddTokenProjects adds projects to an organization token's explicit list.
func (ix *Index) AddTokenProjects(tokenID int64, projectIDs []int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	t := ix.tokenIDs[tokenID]
	if t == nil {
		return
	}
	if t.projects == nil {
		t.projects = make(map[int64]struct{}, len(projectIDs))
	}
	for _, id := range projectIDs {
		t.projects[id] = struct{}{}
	}
}

// RemoveTokenProjects removes projects from a token's explicit list.
func (ix *Index) RemoveTokenProjects(tokenID int64, projectIDs []int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if t := ix.tokenIDs[tokenID]; t != nil {
		for _, id := range projectIDs {
			delete(t.projects, id)
		}
	}
}

// RemoveToken forgets a token: it stops working at once.
func (ix *Index) RemoveToken(id int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.removeToken(id)
}

func (ix *Index) removeToken(id int64) {
	e := ix.tokenIDs[id]
	if e == nil {
		return
	}
	delete(ix.tokenIDs, id)
	if ix.tokens[e.hash] == e {
		delete(ix.tokens, e.hash)
	}
	if e.hasPrev && ix.tokens[e.prevHash] == e {
		delete(ix.tokens, e.prevHash)
	}
}

// PutSession inserts or replaces a session.
func (ix *Index) PutSession(s identity.Session) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.putSession(s)
}

func (ix *Index) putSession(s identity.Session) error {
	e := &sessionEntry{id: s.ID, userID: s.UserID, expiresAt: s.ExpiresAt.UnixNano()}
	if len(s.Hash) != len(e.hash) {
		return identity.Errorf(identity.ErrInvalid, "session %d has no valid hash", s.ID)
	}
	copy(e.hash[:], s.Hash)
	if old := ix.sessionIDs[s.ID]; old != nil {
		e.lastTouch.Store(old.lastTouch.Load())
		ix.removeSession(s.ID)
	}
	ix.sessionIDs[s.ID] = e
	ix.sessions[e.hash] = e
	return nil
}

// RemoveSession forgets a session: its cookie stops working at once.
func (ix *Index) RemoveSession(id int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.removeSession(id)
}

func (ix *Index) removeSession(id int64) {
	e := ix.sessionIDs[id]
	if e == nil {
		return
	}
	delete(ix.sessionIDs, id)
	if ix.sessions[e.hash] == e {
		delete(ix.sessions, e.hash)
	}
}

// RemoveUserSessions forgets every session of a user.
func (ix *Index) RemoveUserSessions(userID int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.removeUserSessions(userID)
}

// removeUserSessions walks every session: ending them all at once is rare
// next to resolving one, and a user index would cost memory on each.
func (ix *Index) removeUserSessions(userID int64) {
	for id, e := range ix.sessionIDs {
		if e.userID == userID {
			ix.removeSession(id)
		}
	}
}

// SweepSessions forgets the sessions expired at now (they are refused
// anyway; this bounds the memory they hold) and returns how many.
func (ix *Index) SweepSessions() int {
	now := ix.now().UnixNano()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := 0
	for id, e := range ix.sessionIDs {
		if now >= e.expiresAt {
			ix.removeSession(id)
			n++
		}
	}
	return n
}

// SessionOf resolves a session cookie: the hash, the expiry and the owner's
// state. touch reports that the caller should record the use (at most once
// a minute per session).
func (ix *Index) SessionOf(secret string) (p Principal, sessionID int64, touch bool, err error) {
	if secret == "" {
		return Principal{}, 0, false, errNoSession
	}
	hash := token.HashOf(secret)
	now := ix.now()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	e := ix.sessions[hash]
	if e == nil || now.UnixNano() >= e.expiresAt {
		return Principal{}, 0, false, errNoSession
	}
	u := ix.users[e.userID]
	if u == nil || !u.active {
		return Principal{}, 0, false, errNoSession
	}
	sec := now.Unix()
	if last := e.lastTouch.Load(); sec-last >= 60 {
		touch = e.lastTouch.CompareAndSwap(last, sec)
	}
	return Principal{UserID: e.userID, fresh: u.fresh, at: now.UnixNano()}, e.id, touch, nil
}

// SessionUser returns the owner of a live session, by the session's
// cookie, or 0 and false.
func (ix *Index) SessionUser(secret string) (sessionID, userID int64, ok bool) {
	hash := token.HashOf(secret)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if e := ix.sessions[hash]; e != nil {
		return e.id, e.userID, true
	}
	return 0, 0, false
}

var errNoSession = identity.Errorf(identity.ErrUnauthenticated, "No such session")

// Stats counts what the index holds.
type Stats struct {
	Users, Groups, Projects, Tokens, Memberships, Grants, Sessions int
}

// Stats returns the index's counts.
func (ix *Index) Stats() Stats {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s := Stats{Users: len(ix.users), Groups: len(ix.groups), Projects: len(ix.projects), Tokens: len(ix.tokenIDs), Sessions: len(ix.sessionIDs)}
	count := func(g *grants) {
		for b := g.global; b != 0; b &= b - 1 {
			s.Grants++
		}
		for _, ps := range g.projects {
			for b := ps; b != 0; b &= b - 1 {
				s.Grants++
			}
		}
	}
	count(&ix.anyone)
	for _, u := range ix.users {
		s.Memberships += len(u.groups)
		count(&u.grants)
	}
	for _, g := range ix.groups {
		count(&g.grants)
	}
	return s
}

// Login returns the login of a user id, or "" when unknown.
func (ix *Index) Login(userID int64) string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if u := ix.users[userID]; u != nil {
		return u.login
	}
	return ""
}

// Memberships returns the explicit memberships the index holds of a user
// (userID != 0) or of a group (groupID != 0), as the store lists them
// (ascending). A group's members are found by a scan of every user: this
// is for answers that must not fail once a write has committed, not for a
// hot path.
func (ix *Index) Memberships(userID, groupID int64) []identity.Membership {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []identity.Membership
	add := func(u *userEntry) {
		for _, g := range u.groups {
			if groupID == 0 || g.id == groupID {
				out = append(out, identity.Membership{UserID: u.id, GroupID: g.id})
			}
		}
	}
	if userID != 0 {
		if u := ix.users[userID]; u != nil {
			add(u)
		}
	} else {
		for _, u := range ix.users {
			add(u)
		}
	}
	slices.SortFunc(out, func(a, b identity.Membership) int {
		return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.GroupID, b.GroupID))
	})
	return out
}

// GroupName returns the name of a group id, or "" when unknown.
func (ix *Index) GroupName(groupID int64) string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if g := ix.groups[groupID]; g != nil {
		return g.name
	}
	return ""
}
