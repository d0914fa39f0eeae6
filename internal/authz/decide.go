package authz

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/token"
)

// Principal is an authenticated caller: a user (session, password or user-
// bound token) or a token not tied to a user (organization, SCIM).
type Principal struct {
	UserID    int64 // 0 for organization and SCIM tokens
	TokenID   int64 // 0 when the caller did not use a token
	TokenType identity.TokenType
	// fresh is the user's freshness record (managed users only), handed
	// out with the principal so that checking it costs no lookup.
	fresh *Freshness
	// at is the clock reading of the resolution (unix nanoseconds), so that
	// the freshness check needs no second one.
	at int64
}

// Reason says why a decision went the way it did.
type Reason uint8

// Reasons for allowing.
const (
	ReasonNone          Reason = iota
	ReasonUserGrant            // a grant to the user itself
	ReasonGroupGrant           // a grant to a group the user is in (Decision.GroupID)
	ReasonAnyoneGrant          // a grant to Anyone
	ReasonPublicProject        // browse and code viewing are implicit on public projects
	ReasonGlobalScan           // global scan implies scan on every project
	ReasonTokenScope           // an organization token covering the project

	// Reasons for denying.
	ReasonNoGrant           // no grant gives the permission
	ReasonUnknownPrincipal  // the user or token no longer exists
	ReasonInactiveUser      // the user is deactivated
	ReasonTokenExpired      // the token has expired
	ReasonTokenCapped       // the token type does not carry this permission
	ReasonOutOfScope        // the project is outside the organization token's scope
	ReasonUnknownProject    // no such project
	ReasonInvalidPermission // not a permission at that level
	// ReasonGroupsUnverified: no grant outside the user's groups, and the
	// groups are held because their source could not re-read them.
	ReasonGroupsUnverified
)

// Decision is the answer of [Index.Decide]; it does not allocate.
type Decision struct {
	Allowed bool
	Reason  Reason
	GroupID int64 // the group behind ReasonGroupGrant
}

// Resolve authenticates a token secret: shape and checksum first (no lookup
// for a typo), then the hash, expiry and the owner's state. touch reports
// that the caller should record the use in the store; it is true at most
// once a minute per token.
func (ix *Index) Resolve(secret string) (p Principal, touch bool, err error) {
	typ, hash, err := token.Parse(secret)
	if err != nil {
		return Principal{}, false, err
	}
	now := ix.now()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	t := ix.tokens[hash]
	if t == nil || t.typ != typ {
		return Principal{}, false, identity.Errorf(identity.ErrUnauthenticated, "Invalid token")
	}
	if hash != t.hash && now.UnixNano() >= t.prevUntil {
		return Principal{}, false, identity.Errorf(identity.ErrUnauthenticated, "Invalid token")
	}
	if t.expiresAt != 0 && now.UnixNano() >= t.expiresAt {
		return Principal{}, false, identity.Errorf(identity.ErrUnauthenticated, "The token expired on %s", time.Unix(0, t.expiresAt).UTC().Format("2006-01-02"))
	}
	var fresh *Freshness
	if t.userID != 0 {
		u := ix.users[t.userID]
		if u == nil || !u.active {
			return Principal{}, false, identity.Errorf(identity.ErrUnauthenticated, "Invalid token")
		}
		fresh = u.fresh
	}
	sec := now.Unix()
	if last := t.lastTouch.Load(); sec-last >= 60 {
		touch = t.lastTouch.CompareAndSwap(last, sec)
	}
	return Principal{UserID: t.userID, TokenID: t.id, TokenType: t.typ, fresh: fresh, at: now.UnixNano()}, touch, nil
}

// UserPrincipal returns the principal of an active user who authenticated
// without a token (password or session).
func (ix *Index) UserPrincipal(userID int64) (Principal, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	u := ix.users[userID]
	if u == nil || !u.active {
		return Principal{}, identity.Errorf(identity.ErrUnauthenticated, "Authentication is required")
	}
	return Principal{UserID: userID, fresh: u.fresh}, nil
}

// TokenPrincipal returns the principal of a token given by id, so that an
// administrator can ask what another token may do.
func (ix *Index) TokenPrincipal(tokenID int64) (Principal, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	t := ix.tokenIDs[tokenID]
	if t == nil {
		return Principal{}, identity.Errorf(identity.ErrNotFound, "Token '%d' not found or revoked", tokenID)
	}
	p := Principal{UserID: t.userID, TokenID: t.id, TokenType: t.typ}
	if u := ix.users[t.userID]; u != nil {
		p.fresh = u.fresh
	}
	return p, nil
}

// Decide answers whether p may use perm on the project with key projectKey,
// or globally when projectKey is "". It reads only memory.
func (ix *Index) Decide(p Principal, perm identity.Permission, projectKey string) Decision {
	ix.mu.RLock()
	d := ix.decide(p, perm, projectKey)
	ix.mu.RUnlock()
	return d
}

func (ix *Index) decide(p Principal, perm identity.Permission, projectKey string) Decision {
	b := bitOf(perm)
	var proj *projectEntry
	if projectKey != "" {
		if proj = ix.projectKeys[projectKey]; proj == nil {
			return Decision{Reason: ReasonUnknownProject}
		}
		if !perm.IsProject() {
			return Decision{Reason: ReasonInvalidPermission}
		}
	} else if !perm.IsGlobal() {
		return Decision{Reason: ReasonInvalidPermission}
	}

	if p.TokenID != 0 {
		t := ix.tokenIDs[p.TokenID]
		if t == nil {
			return Decision{Reason: ReasonUnknownPrincipal}
		}
		if t.expiresAt != 0 && ix.now().UnixNano() >= t.expiresAt {
			return Decision{Reason: ReasonTokenExpired}
		}
		switch t.typ {
		case identity.TokenUser:
		case identity.TokenGlobalAnalysis:
			if b != bitScan && (b != bitProvisioning || proj != nil) {
				return Decision{Reason: ReasonTokenCapped}
			}
		case identity.TokenProjectAnalysis:
			if proj == nil || proj.id != t.projectID || b&(bitScan|bitUser) == 0 {
				return Decision{Reason: ReasonTokenCapped}
			}
		case identity.TokenOrganization:
			if proj == nil || t.perms&b == 0 {
				return Decision{Reason: ReasonTokenCapped}
			}
			if !t.covers(proj) {
				return Decision{Reason: ReasonOutOfScope}
			}
			return Decision{Allowed: true, Reason: ReasonTokenScope}
		default:
			return Decision{Reason: ReasonTokenCapped}
		}
	}
	u := ix.users[p.UserID]
	if u == nil {
		return Decision{Reason: ReasonUnknownPrincipal}
	}
	if !u.active {
		return Decision{Reason: ReasonInactiveUser}
	}
	return ix.userDecide(u, b, proj)
}

// userDecide evaluates a user's effective rights: direct grants, grants of
// its groups (sonar-users implicitly), Anyone, and implicit public rights.
func (ix *Index) userDecide(u *userEntry, b permSet, proj *projectEntry) Decision {
	if proj == nil {
		return ix.globalDecide(u, b)
	}
	if proj.public && b&(bitUser|bitCodeViewer) != 0 {
		return Decision{Allowed: true, Reason: ReasonPublicProject}
	}
	id := proj.id
	if u.grants.projects[id]&b != 0 {
		return Decision{Allowed: true, Reason: ReasonUserGrant}
	}
	if su := ix.sonarUsers; su != nil && su.grants.projects[id]&b != 0 {
		return Decision{Allowed: true, Reason: ReasonGroupGrant, GroupID: su.id}
	}
	held := u.groupsHeld()
	if !held {
		for _, g := range u.groups {
			if g.grants.projects[id]&b != 0 {
				return Decision{Allowed: true, Reason: ReasonGroupGrant, GroupID: g.id}
			}
		}
	}
	// Anyone's project grants only count while the project is public.
	if proj.public && ix.anyone.projects[id]&b != 0 {
		return Decision{Allowed: true, Reason: ReasonAnyoneGrant}
	}
	if b == bitScan {
		if d := ix.globalDecide(u, bitScan); d.Allowed {
			d.Reason, d.GroupID = ReasonGlobalScan, 0
			return d
		}
	}
	return noGrant(held)
}

func (ix *Index) globalDecide(u *userEntry, b permSet) Decision {
	if u.grants.global&b != 0 {
		return Decision{Allowed: true, Reason: ReasonUserGrant}
	}
	if su := ix.sonarUsers; su != nil && su.grants.global&b != 0 {
		return Decision{Allowed: true, Reason: ReasonGroupGrant, GroupID: su.id}
	}
	held := u.groupsHeld()
	if !held {
		for _, g := range u.groups {
			if g.grants.global&b != 0 {
				return Decision{Allowed: true, Reason: ReasonGroupGrant, GroupID: g.id}
			}
		}
	}
	if ix.anyone.global&b != 0 {
		return Decision{Allowed: true, Reason: ReasonAnyoneGrant}
	}
	return noGrant(held)
}

func noGrant(held bool) Decision {
	if held {
		return Decision{Reason: ReasonGroupsUnverified}
	}
	return Decision{Reason: ReasonNoGrant}
}

// covers reports whether an organization token's scope includes proj: the
// union of its project set, its key patterns and its explicit list.
func (t *tokenEntry) covers(proj *projectEntry) bool {
	switch t.set {
	case identity.SetAll:
		return true
	case identity.SetPublic:
		if proj.public {
			return true
		}
	case identity.SetPrivate:
		if !proj.public {
			return true
		}
	}
	if _, ok := t.projects[proj.id]; ok {
		return true
	}
	for _, re := range t.patterns {
		if re.MatchString(proj.key) {
			return true
		}
	}
	return false
}

// ProjectsInScope returns the ids of the projects an organization token
// covers, for listings that must show exactly its scope.
func (ix *Index) ProjectsInScope(tokenID int64) []int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	t := ix.tokenIDs[tokenID]
	if t == nil {
		return nil
	}
	var ids []int64
	for _, p := range ix.projects {
		if t.covers(p) {
			ids = append(ids, p.id)
		}
	}
	return ids
}

// Sees reports whether p may know that the project with key exists: it can
// browse or scan it, or it lies in p's organization token scope. Answers
// about projects p cannot see must not differ from answers about missing
// ones.
func (ix *Index) Sees(p Principal, key string) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	proj := ix.projectKeys[key]
	if proj == nil {
		return false
	}
	if t := ix.tokenIDs[p.TokenID]; t != nil && t.typ == identity.TokenOrganization {
		return t.covers(proj)
	}
	return ix.decide(p, identity.PermUser, key).Allowed || ix.decide(p, identity.PermScan, key).Allowed
}

// GrantedProjectKeys lists the keys of the projects on which p holds perm,
// found from the explicit grants alone — p's, its groups', sonar-users'
// and, on public projects, Anyone's — each confirmed by a decision. It
// answers complete=false when explicit grants cannot tell: organization
// tokens (their scope decides) and the permissions a project grants
// implicitly (browse and see source on public projects, scan through the
// global scan permission). The caller then decides project by project.
func (ix *Index) GrantedProjectKeys(p Principal, perm identity.Permission) (keys []string, complete bool) {
	b := bitOf(perm)
	if !perm.IsProject() || b&(bitUser|bitCodeViewer|bitScan) != 0 || p.TokenType == identity.TokenOrganization {
		return nil, false
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	u := ix.users[p.UserID]
	if u == nil {
		return nil, true
	}
	seen := map[int64]bool{}
	collect := func(g *grants) {
		for id, set := range g.projects {
			if set&b != 0 {
				seen[id] = true
			}
		}
	}
	collect(&u.grants)
	if ix.sonarUsers != nil {
		collect(&ix.sonarUsers.grants)
	}
	if !u.groupsHeld() {
		for _, g := range u.groups {
			collect(&g.grants)
		}
	}
	collect(&ix.anyone)
	for id := range seen {
		proj := ix.projects[id]
		if proj != nil && ix.decide(p, perm, proj.key).Allowed {
			keys = append(keys, proj.key)
		}
	}
	return keys, true
}
