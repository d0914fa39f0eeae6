package state

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Directory is a source that authenticates its own users and can re-read
// one of them on demand (LDAP). The wiring connects the connector to it;
// state does not know the connector.
type Directory interface {
	// SignIn checks login's password with the directory and returns the
	// account: identity.ErrUnauthenticated for bad credentials,
	// identity.ErrUnavailable when the directory cannot answer.
	SignIn(ctx context.Context, login, password string) (identity.ExternalAccount, error)
	// LookUp re-reads login: identity.ErrNotFound when the directory,
	// fully reachable, no longer holds the user.
	LookUp(ctx context.Context, login string) (identity.ExternalAccount, error)
}

// DirectoryOptions say how far a directory's group memberships are trusted.
type DirectoryOptions struct {
	// Staleness bounds how long a user's groups are trusted on token,
	// basic-auth and session use before they are re-read (SPEC §5).
	Staleness time.Duration
	// GroupsManaged: the directory owns its users' memberships (LDAP group
	// sync on). Without it, memberships stay local and nothing is re-read.
	GroupsManaged bool
	// LookupTimeout bounds one re-read (10 s when 0).
	LookupTimeout time.Duration
}

type directory struct {
	src  identity.Source
	d    Directory
	opts DirectoryOptions
}

type directories struct {
	bySource map[identity.Source]*directory
	order    []identity.Source // sign-in tries them in this order
}

// dirState is State's directory machinery.
type dirState struct {
	dirs    atomic.Pointer[directories]
	flights singleflight.Group
	// lookups counts directory re-reads, for tests and benchmarks.
	lookups atomic.Int64
}

// SetDirectory connects (or, with d nil, disconnects) the directory of
// src. It may be called at any time, e.g. when the settings change.
func (s *State) SetDirectory(src identity.Source, d Directory, opts DirectoryOptions) {
	if opts.LookupTimeout <= 0 {
		opts.LookupTimeout = 10 * time.Second
	}
	for {
		old := s.dir.dirs.Load()
		next := &directories{bySource: map[identity.Source]*directory{}}
		if old != nil {
			for _, k := range old.order {
				if k != src {
					next.bySource[k] = old.bySource[k]
					next.order = append(next.order, k)
				}
			}
		}
		if d != nil {
			next.bySource[src] = &directory{src: src, d: d, opts: opts}
			next.order = append(next.order, src)
		}
		if s.dir.dirs.CompareAndSwap(old, next) {
			return
		}
	}
}

// DirectoryLookups returns how many times users were re-read from a
// directory since start-up.
func (s *State) DirectoryLookups() int64 { return s.dir.lookups.Load() }

func (s *State) hasDirectories() bool {
	ds := s.dir.dirs.Load()
	return ds != nil && len(ds.order) > 0
}

func (s *State) directory(src identity.Source) *directory {
	ds := s.dir.dirs.Load()
	if ds == nil {
		return nil
	}
	return ds.bySource[src]
}

// Freshen makes sure the groups of p's user are no older than its
// directory's staleness bound before a decision (SPEC §5): a user whose
// groups are fresh costs an atomic load and a clock reading; a stale one is
// re-read, concurrent requests for one user sharing one look-up. If the
// directory cannot answer, the user's groups are held — decisions ignore
// them, saying why — until a later re-read succeeds. Local users and
// sources without a directory cost a nil check.
func (s *State) Freshen(ctx context.Context, p authz.Principal) {
	f := p.Freshness()
	if f == nil {
		return
	}
	dir := s.directory(f.Source())
	if dir == nil || !dir.opts.GroupsManaged {
		return
	}
	now := p.At()
	if now == 0 {
		now = s.now().UnixNano()
	}
	bound := int64(dir.opts.Staleness)
	if now-f.ReadAt() < bound {
		return
	}
	// After a failure, ask again at most once a bound (and at least once a
	// minute), so that an unreachable directory does not cost a timeout on
	// every request while the groups are held.
	if f.Held() != "" && now-f.FailedAt() < min(bound, int64(time.Minute)) {
		return
	}
	key := strconv.FormatInt(p.UserID, 10)
	ch := s.dir.flights.DoChan(key, func() (any, error) {
		// The look-up is shared: it must not die with the first caller.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dir.opts.LookupTimeout)
		defer cancel()
		s.refreshUser(lctx, dir, p.UserID, f)
		return nil, nil
	})
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// refreshUser re-reads one user from dir and applies what it says.
func (s *State) refreshUser(ctx context.Context, dir *directory, userID int64, f *authz.Freshness) {
	// Another flight may have refreshed the user while this one waited.
	if s.now().UnixNano()-f.ReadAt() < int64(dir.opts.Staleness) {
		return
	}
	login := s.index.Login(userID)
	if login == "" {
		return
	}
	s.dir.lookups.Add(1)
	start := s.now()
	acc, err := dir.d.LookUp(ctx, login)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		// Gone from the directory: in no group. Deactivation is the
		// periodic sync's, with its guards.
		acc = identity.ExternalAccount{Login: login, Active: true, GroupsManaged: true, Groups: []string{}}
	case err != nil:
		s.holdGroups(f, dir, login, identity.Message(err))
		return
	}
	ctx = WithActor(ctx, Actor{Name: "connector:" + string(dir.src), Source: dir.src, RequestID: ActorFrom(ctx).RequestID, ClientAddress: ActorFrom(ctx).ClientAddress})
	if !acc.Active {
		// Disabled in the directory (Active Directory bit 2): the account
		// stops working, as the periodic sync would do.
		if _, err := s.SetUserActive(ctx, login, false); err != nil {
			s.holdGroups(f, dir, login, "the account is disabled in "+string(dir.src)+" and could not be deactivated")
			s.log.Error("deactivate user disabled in directory", "login", login, "source", dir.src, "err", err)
		}
		return
	}
	if err := s.syncDirectoryGroups(ctx, dir.src, userID, acc.Groups); err != nil {
		s.log.Error("apply directory groups", "login", login, "source", dir.src, "err", err)
		s.holdGroups(f, dir, login, "its groups from "+string(dir.src)+" could not be applied")
		return
	}
	f.MarkRead(start)
}

func (s *State) holdGroups(f *authz.Freshness, dir *directory, login, why string) {
	last := "never since start-up"
	if at := f.ReadAt(); at != 0 {
		last = time.Unix(0, at).UTC().Format(time.RFC3339)
	}
	f.Hold(s.now(), "the groups of user "+login+" were last read from "+string(dir.src)+" "+lastPrefix(last)+", longer ago than the staleness bound ("+dir.opts.Staleness.String()+"), and cannot be re-read now ("+why+"): rights from "+string(dir.src)+" groups are refused until it answers")
	s.log.Warn("directory groups held", "login", login, "source", dir.src, "reason", why)
}

func lastPrefix(last string) string {
	if last[0] >= '0' && last[0] <= '9' {
		return "at " + last
	}
	return last
}

// syncDirectoryGroups makes the user's explicit memberships exactly the
// groups the directory names (SonarQube's rule: the directory's membership
// overrides local membership for its users), mapping each name onto the
// Gatehouse group of that name whatever its source and creating missing
// ones as groups of src — the provisioning engine's rule for LDAP
// (provision.Policy), so that a periodic sync and a re-read agree. A user
// whose memberships already match costs no write.
func (s *State) syncDirectoryGroups(ctx context.Context, src identity.Source, userID int64, names []string) error {
	want := make([]string, 0, len(names))
	for _, n := range names {
		if n != identity.GroupUsers && !slices.Contains(want, n) {
			want = append(want, n)
		}
	}
	have := s.index.GroupNames(userID)
	if sameSet(have, want) {
		return nil
	}
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		u, err := tx.GetUser(ctx, userID)
		if err != nil {
			return audit{}, nil, err
		}
		if u.Source != src {
			return audit{}, nil, identity.Errorf(identity.ErrManaged, "User '%s' is not managed by %s", u.Login, src)
		}
		ms, err := tx.ListMemberships(ctx, userID, 0)
		if err != nil {
			return audit{}, nil, err
		}
		current := map[string]int64{}
		var before []string
		for _, m := range ms {
			g, err := tx.GetGroup(ctx, m.GroupID)
			if err != nil {
				return audit{}, nil, err
			}
			current[g.Name] = g.ID
			before = append(before, g.Name)
		}
		var created []identity.Group
		var added, removed []int64
		after := []string{}
		for _, name := range want {
			if _, ok := current[name]; ok {
				after = append(after, name)
				continue
			}
			g, err := tx.GetGroupByName(ctx, name)
			if errors.Is(err, identity.ErrNotFound) {
				ng := identity.Group{Name: name, Source: src, ExternalID: name, Description: "Synchronised from " + string(src)}
				if identity.ValidateGroup(ng) != nil {
					s.log.Warn("directory group name not valid in Gatehouse: skipped", "group", name, "source", src)
					continue
				}
				if g, err = tx.CreateGroup(ctx, ng); err != nil {
					return audit{}, nil, err
				}
				created = append(created, g)
			} else if err != nil {
				return audit{}, nil, err
			}
			if _, err := tx.AddMember(ctx, userID, g.ID); err != nil {
				return audit{}, nil, err
			}
			added = append(added, g.ID)
			after = append(after, name)
		}
		for name, id := range current {
			if !slices.Contains(want, name) {
				if _, err := tx.RemoveMember(ctx, userID, id); err != nil {
					return audit{}, nil, err
				}
				removed = append(removed, id)
			}
		}
		a, apply := s.groupSync(u, src, created, added, removed, before, after)
		return a, apply, nil
	})
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// signInDirectory authenticates login against the directories, in order:
// the user's own source for a known directory user, every directory for an
// unknown login. On success the user is created (first sign-in) or updated,
// its groups synced and marked fresh.
func (s *State) signInDirectory(ctx context.Context, known identity.User, login, pw string) (authz.Principal, identity.User, error) {
	ds := s.dir.dirs.Load()
	if ds == nil {
		return authz.Principal{}, identity.User{}, errBadCredentials
	}
	order := ds.order
	if known.ID != 0 {
		order = []identity.Source{known.Source}
	}
	var unavailable error
	for _, src := range order {
		dir := ds.bySource[src]
		if dir == nil {
			continue
		}
		acc, err := dir.d.SignIn(ctx, login, pw)
		if errors.Is(err, identity.ErrUnauthenticated) || errors.Is(err, identity.ErrNotFound) {
			continue
		}
		if err != nil {
			if unavailable == nil {
				unavailable = err
			}
			continue
		}
		if !acc.Active {
			return authz.Principal{}, identity.User{}, errBadCredentials
		}
		var sync func(ctx context.Context, userID int64) error
		if dir.opts.GroupsManaged {
			sync = func(ctx context.Context, userID int64) error {
				return s.syncDirectoryGroups(ctx, dir.src, userID, acc.Groups)
			}
		}
		return s.acceptExternalUser(ctx, externalRule{src: dir.src}, acc, sync)
	}
	if unavailable != nil {
		// The cause names servers: the log gets it, the anonymous caller
		// a generic reason.
		s.log.WarnContext(ctx, "directory sign-in unavailable", "login", login, "err", unavailable)
		return authz.Principal{}, identity.User{}, errDirectoryDown
	}
	return authz.Principal{}, identity.User{}, errBadCredentials
}

var errDirectoryDown = identity.Errorf(identity.ErrUnavailable, "Sign-in is unavailable: the LDAP directory cannot be reached. Please try again later.")

// externalRule is how a source's sign-in matches the users it signs in
// and keeps them. Directories (LDAP) and OAuth (GitLab) use the zero rule
// with their source: their own users only, matched by login, created at
// the first sign-in and re-created when the source had deactivated them.
// SSO matches users another source provisioned (SCIM) too.
type externalRule struct {
	src identity.Source
	// also lists other sources whose users this sign-in may sign in,
	// matched by login and then, when the login is unknown, by external id.
	also []identity.Source
	// refuseInactive refuses a deactivated user (errDeactivated) instead of
	// reactivating it: an SSO sign-in does not undo an administrator's or
	// SCIM's deactivation.
	refuseInactive bool
	// noCreate, when set, is the refusal for an unknown user (SSO without
	// JIT creation).
	noCreate error
}

func (r externalRule) owns(src identity.Source) bool {
	return src == r.src || slices.Contains(r.also, src)
}

// externalMatch is the user an external sign-in resolves to, before any
// write: an existing user (by login or external id), or one to create.
type externalMatch struct {
	user   identity.User
	by     string // "login" or "externalId"; "" when created
	create bool
}

// matchExternal resolves acc by rule r without writing anything, so a test
// sign-in can show the outcome of a real one.
func (s *State) matchExternal(ctx context.Context, r externalRule, acc identity.ExternalAccount) (externalMatch, error) {
	u, err := s.store.GetUserByLogin(ctx, acc.Login)
	switch {
	case errors.Is(err, identity.ErrNotFound):
	case err != nil:
		return externalMatch{}, err
	case !r.owns(u.Source):
		// A login of another source (or a local one) is not this
		// source's to sign in.
		if r.refuseInactive {
			return externalMatch{}, identity.Errorf(identity.ErrUnauthenticated, "The login '%s' belongs to a user of source %s; single sign-on signs in users provisioned by SCIM or created by SSO only", acc.Login, u.Source)
		}
		return externalMatch{}, errBadCredentials
	case !u.Active && r.refuseInactive:
		return externalMatch{}, errDeactivated(u.Login)
	case !u.Active && u.Source == r.src:
		return externalMatch{user: u, by: "login", create: true}, nil
	case !u.Active:
		return externalMatch{}, errBadCredentials
	default:
		return externalMatch{user: u, by: "login"}, nil
	}
	if acc.ExternalID != "" && len(r.also) > 0 {
		// SCIM's user first: Entra ID sends the same object id as SCIM
		// externalId and as the SSO attribute.
		for _, src := range append(slices.Clone(r.also), r.src) {
			us, _, err := s.store.ListUsers(ctx, store.UserFilter{Source: src, ExternalID: acc.ExternalID, Page: store.Page{Number: 1, Size: 1}})
			if err != nil {
				return externalMatch{}, err
			}
			if len(us) == 0 {
				continue
			}
			if !us[0].Active && r.refuseInactive {
				return externalMatch{}, errDeactivated(us[0].Login)
			}
			if !us[0].Active {
				continue
			}
			return externalMatch{user: us[0], by: "externalId"}, nil
		}
	}
	if r.noCreate != nil {
		return externalMatch{}, r.noCreate
	}
	return externalMatch{create: true}, nil
}

func errDeactivated(login string) error {
	return identity.Errorf(identity.ErrUnauthenticated, "The user '%s' is deactivated in Gatehouse and cannot sign in; ask an administrator to reactivate the account", login)
}

// acceptExternalUser creates (first sign-in) or updates the user a source
// authenticated, then, with syncGroups set, makes its memberships the
// source's and marks them fresh. Directory (LDAP), OAuth (GitLab) and SSO
// sign-ins share it; the rule says whom they match, syncGroups how groups
// follow. A user of another source (rule.also: SCIM) keeps the name and
// e-mail that source gives it.
func (s *State) acceptExternalUser(ctx context.Context, r externalRule, acc identity.ExternalAccount, syncGroups func(ctx context.Context, userID int64) error) (authz.Principal, identity.User, error) {
	start := s.now()
	ctx = WithActor(ctx, Actor{Name: "connector:" + string(r.src), Source: r.src, RequestID: ActorFrom(ctx).RequestID, ClientAddress: ActorFrom(ctx).ClientAddress})
	m, err := s.matchExternal(ctx, r, acc)
	if err != nil {
		return authz.Principal{}, identity.User{}, err
	}
	u := m.user
	switch {
	case m.create:
		created, cerr := s.CreateUser(ctx, NewUser{Login: acc.Login, Name: acc.Name, Email: acc.Email, Source: r.src, ExternalID: acc.ExternalID})
		if errors.Is(cerr, errLoginTaken) || errors.Is(cerr, identity.ErrAlreadyExists) {
			// A periodic sync (or a concurrent sign-in) created it
			// meanwhile: take that account if it is the source's.
			if u, err = s.store.GetUserByLogin(ctx, acc.Login); err != nil {
				return authz.Principal{}, identity.User{}, err
			}
			if u.Source != r.src || !u.Active {
				return authz.Principal{}, identity.User{}, errBadCredentials
			}
			break
		}
		if cerr != nil {
			return authz.Principal{}, identity.User{}, cerr
		}
		u = created
	case u.Source != r.src:
	case u.Name != acc.Name || u.Email != acc.Email || u.ExternalID != acc.ExternalID:
		name, email, ext := acc.Name, acc.Email, acc.ExternalID
		if u, err = s.UpdateUser(ctx, u.Login, UserUpdate{Name: &name, Email: &email, ExternalID: &ext}); err != nil {
			return authz.Principal{}, identity.User{}, err
		}
	}
	if syncGroups != nil && u.Source == r.src {
		if err := syncGroups(ctx, u.ID); err != nil {
			return authz.Principal{}, identity.User{}, err
		}
		if f := s.index.UserFreshness(u.ID); f != nil {
			f.MarkRead(start)
		}
	}
	p, err := s.index.UserPrincipal(u.ID)
	return p, u, err
}

// groupSync is the end of a sign-in's (or re-read's) group sync: the audit
// event and the index change of what it created, added and removed; an
// empty audit when nothing changed.
func (s *State) groupSync(u identity.User, src identity.Source, created []identity.Group, added, removed []int64, before, after []string) (audit, func()) {
	if len(created) == 0 && len(added) == 0 && len(removed) == 0 {
		return audit{}, nil
	}
	apply := func() {
		for _, g := range created {
			s.index.PutGroup(g)
		}
		for _, id := range added {
			s.index.AddMember(u.ID, id)
		}
		for _, id := range removed {
			s.index.RemoveMember(u.ID, id)
		}
	}
	slices.Sort(before)
	slices.Sort(after)
	return audit{Action: "user.sync_groups", Target: "user:" + u.Login, Before: map[string]any{"groups": before}, After: map[string]any{"groups": after, "source": src}}, apply
}
