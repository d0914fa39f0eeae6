// Package state is Gatehouse's coordinator: every operation that changes
// users, groups, projects, grants, templates or tokens goes through a
// [State], which writes the change and its audit event in one store
// transaction and then applies it to the authorization index before
// returning — so the very next decision sees it. API adapters (webapi, scim,
// ui) and connectors are thin layers over it.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Options configures a [State].
type Options struct {
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// SyncInterval is how often Run checks whether another replica changed
	// the store; 100 ms when 0 (SPEC §8: other replicas within 1 s). A
	// check is one read of the revision counter.
	SyncInterval time.Duration
	// ChangeLogKeep is how many revisions of the change log Run keeps
	// (10,000 when 0); a replica further behind rebuilds its index.
	ChangeLogKeep int
	// SignIn is the throttle of password sign-ins ([SignInPolicy]; its
	// defaults when zero).
	SignIn SignInPolicy
	// Secrets seals the secrets of SSO connections (OIDC client secrets,
	// SAML SP keys) before they reach the store (package secretbox). Nil:
	// connections with secrets cannot be stored.
	Secrets Sealer
	// PasswordReuse is how long a verified login and password are reused
	// by [State.SignInReusing] (basic-auth scripts): a minute when 0, at
	// most [MaxPasswordReuse]; negative turns reuse off.
	PasswordReuse time.Duration
}

// Sealer encrypts secrets at rest; the name is bound to the ciphertext.
type Sealer interface {
	SealFor(name, plaintext string) (string, error)
	OpenFor(name, sealed string) (string, error)
}

// State coordinates the store and the authorization index.
type State struct {
	store store.Store
	index *authz.Index
	log   *slog.Logger
	now   func() time.Time

	// writeMu serialises writes so that the index applies changes in commit
	// order. Writes are rare next to decisions; decisions never take it.
	writeMu sync.Mutex
	// queue holds the writes waiting for the next group commit.
	queueMu sync.Mutex
	queue   []*pendingWrite

	touches chan tokenUse
	// kdf bounds concurrent password hashes: each argon2id call holds about
	// 19 MiB, so an unbounded burst of sign-ins could exhaust memory.
	kdf chan struct{}

	// revision is the store's change counter as the index reflects it:
	// every write bumps the counter in its transaction and logs what it
	// changed under the new value, so a replica that finds another value
	// knows a peer has written and applies the peer's changes from the log
	// (propagation.go). Guarded by writeMu.
	revision  int64
	syncEvery time.Duration
	logKeep   int
	// rebuildMu admits one index rebuild at a time; needRebuild asks Run
	// for one (a catch-up that failed).
	rebuildMu   sync.Mutex
	needRebuild atomic.Bool
	// records caches what the frequent writes look up (see recordCache).
	records *recordCache
	repl    replStats
	// storeDown is whether Run last found the store unreachable.
	storeDown atomic.Bool

	// throttle counts failed sign-ins ([State.SignIn]).
	throttle *throttle
	secrets  Sealer
	// reuse remembers verified passwords for a short time (reuse.go); nil
	// when turned off.
	reuse *passwordReuse

	// dir holds the directories (LDAP) that authenticate their own users
	// and keep their groups fresh.
	dir dirState
}

// tokenUse is a use of a token, or of a session when sessionID is set.
type tokenUse struct {
	tokenID, userID, sessionID int64
	at                         time.Time
}

// New loads the index from st (which must be migrated), creating the built-in
// groups and the default permission template when missing.
func New(ctx context.Context, st store.Store, opts Options) (*State, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &State{
		store:     st,
		index:     authz.NewIndex(opts.Now),
		records:   newRecordCache(),
		log:       opts.Logger,
		now:       opts.Now,
		touches:   make(chan tokenUse, 4096),
		kdf:       make(chan struct{}, 2*runtime.NumCPU()),
		syncEvery: opts.SyncInterval,
		logKeep:   opts.ChangeLogKeep,
		throttle:  newThrottle(opts.SignIn),
		secrets:   opts.Secrets,
	}
	if s.syncEvery <= 0 {
		s.syncEvery = 100 * time.Millisecond
	}
	switch {
	case opts.PasswordReuse == 0:
		s.reuse = newPasswordReuse(MaxPasswordReuse)
	case opts.PasswordReuse > 0:
		s.reuse = newPasswordReuse(opts.PasswordReuse)
	}
	if s.logKeep <= 0 {
		s.logKeep = 10000
	}
	if err := s.Reload(ctx); err != nil {
		return nil, err
	}
	// Only a store without the built-ins is written to at start-up: a write
	// bumps the revision, which would make every peer replica reload.
	missing, err := s.builtinsMissing(ctx)
	if err != nil {
		return nil, err
	}
	if missing {
		if err := s.ensureBuiltins(ctx); err != nil {
			return nil, fmt.Errorf("create built-ins: %w", err)
		}
		if err := s.Reload(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// builtinsMissing reports whether the built-in groups or the default
// template setting are absent.
func (s *State) builtinsMissing(ctx context.Context) (bool, error) {
	for _, name := range []string{identity.GroupAdministrators, identity.GroupUsers} {
		if _, err := s.store.GetGroupByName(ctx, name); errors.Is(err, identity.ErrNotFound) {
			return true, nil
		} else if err != nil {
			return false, err
		}
	}
	if _, err := s.store.GetSetting(ctx, settingDefaultTemplate); errors.Is(err, identity.ErrNotFound) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	return false, nil
}

// Reload rebuilds the authorization index from the store (see rebuild:
// decisions go on against the old index meanwhile).
func (s *State) Reload(ctx context.Context) error {
	return s.rebuild(ctx, "requested")
}

// Index returns the authorization index, for decisions.
func (s *State) Index() *authz.Index { return s.index }

// Store returns the store, for reads.
func (s *State) Store() store.Reader { return s.store }

// Now returns the state's clock reading.
func (s *State) Now() time.Time { return s.now() }

// Run does the coordinator's background work until ctx ends: it records
// token uses (without it they are dropped; decisions do not depend on them),
// applies the changes of other replicas sharing the store — every
// SyncInterval, and at once when the store notifies a commit
// ([store.ChangeListener], PostgreSQL) — and prunes the change log.
// Uses that arrive together are written in one transaction, so a burst of
// first uses after a start-up costs a few writes rather than one per token.
func (s *State) Run(ctx context.Context) {
	tick := time.NewTicker(s.syncEvery)
	defer tick.Stop()
	prune := time.NewTicker(pruneEvery)
	defer prune.Stop()
	wake := make(chan struct{}, 1)
	if l, ok := s.store.(store.ChangeListener); ok {
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() { s.listen(ctx, l, wake) })
	}
	batch := make([]tokenUse, 0, maxUseBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.syncPeers(ctx)
			continue
		case <-wake:
			s.syncPeers(ctx)
			continue
		case <-prune.C:
			s.pruneLog(ctx)
			s.pruneSignIns(ctx)
			s.sweepSessions(ctx)
			continue
		case u := <-s.touches:
			batch = append(batch[:0], u)
		}
	drain:
		for len(batch) < maxUseBatch {
			select {
			case u := <-s.touches:
				batch = append(batch, u)
			default:
				break drain
			}
		}
		s.recordUses(ctx, batch)
	}
}

const maxUseBatch = 512

// pruneEvery is how often Run prunes the change log.
const pruneEvery = time.Minute

func (s *State) recordUses(ctx context.Context, uses []tokenUse) {
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		users := make(map[int64]time.Time, len(uses))
		for _, u := range uses {
			if u.sessionID != 0 {
				if err := tx.TouchSession(ctx, u.sessionID, u.at); err != nil && !errors.Is(err, identity.ErrNotFound) {
					return err
				}
				continue
			}
			if err := tx.TouchToken(ctx, u.tokenID, u.at); err != nil && !errors.Is(err, identity.ErrNotFound) {
				return err
			}
			if u.userID != 0 && u.at.After(users[u.userID]) {
				users[u.userID] = u.at
			}
		}
		for id, at := range users {
			if err := tx.TouchUserToken(ctx, id, at); err != nil && !errors.Is(err, identity.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("record token uses", "count", len(uses), "err", err)
	}
}

// Actor is who performs a write, for the audit log and for the managed-
// instance rules: a connector acting for its source may edit what that source
// manages.
type Actor struct {
	// Name is "user:<login>", "token:<id>", "connector:<source>" or "system".
	Name      string
	Source    identity.Source // the connector's source; "" for people
	UserID    int64           // the acting user, if any
	RequestID string
	// ClientAddress is the address of the client the request came from,
	// as the server's trusted-proxy rule resolved it; the audit log
	// records it.
	ClientAddress string
}

type actorKey struct{}

// WithActor returns a context carrying the acting principal.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorSource builds an actor when a write asks for it.
type ActorSource interface {
	Actor() Actor
}

// WithLazyActor is WithActor for an actor built only when a write asks for
// it: every request can carry its actor at the cost of a context value, so
// a read that writes (a badge token created on first use) is still audited
// with its real actor and request id.
func WithLazyActor(ctx context.Context, src ActorSource) context.Context {
	return context.WithValue(ctx, actorKey{}, src)
}

// ActorFrom returns the actor of ctx, or the system actor.
func ActorFrom(ctx context.Context) Actor {
	switch a := ctx.Value(actorKey{}).(type) {
	case Actor:
		return a
	case ActorSource:
		return a.Actor()
	}
	return Actor{Name: "system"}
}

// mayEdit enforces SPEC §6: an object managed by a source is read-only to
// everyone but that source's connector. Every refusal names the source
// ([identity.ManagedError]).
func mayEdit(ctx context.Context, src identity.Source, msg string) error {
	if !src.Managed() || ActorFrom(ctx).Source == src {
		return nil
	}
	return identity.ManagedError(src, msg)
}

// write runs fn in a transaction under the write lock, appends the audit
// event fn describes, and applies fn's index change. fn returns nil apply
// when there is nothing to apply.
//
// Writes that arrive together are committed together (group commit): the
// first writer to take the lock commits every write queued by then in one
// transaction — one revision bump, one commit, one fsync — each in its own
// savepoint, so each keeps its own rules, audit event and error, and a
// refused write never fails its batch-mates. Every caller is answered only
// after the commit. Inside a batch each write's index change is applied as
// soon as its savepoint is released, so the next write's checks (the last
// administrator) see it; should the commit fail, the index is rebuilt.
func (s *State) write(ctx context.Context, fn func(tx store.Tx) (audit, func(), error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := &pendingWrite{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.queueMu.Lock()
	s.queue = append(s.queue, p)
	s.queueMu.Unlock()
	for {
		s.writeMu.Lock()
		select {
		case err := <-p.done:
			s.writeMu.Unlock()
			return err
		default:
		}
		s.queueMu.Lock()
		n := min(len(s.queue), maxGroupWrites)
		batch := s.queue[:n:n]
		s.queue = append([]*pendingWrite(nil), s.queue[n:]...)
		s.queueMu.Unlock()
		s.commitGroup(batch)
		s.writeMu.Unlock()
		select {
		case err := <-p.done:
			return err
		default:
		}
	}
}

// maxGroupWrites bounds one group commit, so that a burst of writes does not
// make one transaction, and its wait, unbounded.
const maxGroupWrites = 256

// pendingWrite is a write waiting for its group commit.
type pendingWrite struct {
	ctx  context.Context
	fn   func(tx store.Tx) (audit, func(), error)
	done chan error // buffered: the committer never waits on it
}

// commitGroup commits batch in one transaction; the caller holds writeMu.
//
// A batch first runs without savepoints: most writes either succeed or are
// refused by their reads before they write, and a refusal that wrote
// nothing needs no undo ([store.Tx.Effects] tells). Only when a write fails
// after writing, or the store fails, is the batch run again from the start
// with each write in its own savepoint. Savepoints cost two statements a
// write, which on PostgreSQL were a third of a batch's round trips.
func (s *State) commitGroup(batch []*pendingWrite) {
	if len(batch) == 0 {
		return
	}
	// The transaction outlives any one caller: a client that goes away
	// must not undo its batch-mates' writes.
	txCtx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].ctx), time.Minute)
	defer cancel()
	res, err := s.runGroup(txCtx, batch, false)
	if errors.Is(err, errNeedSavepoints) {
		res, err = s.runGroup(txCtx, batch, true)
	}
	if err != nil {
		for i := range res.results {
			if len(batch) == 1 || res.results[i] == nil {
				res.results[i] = err
			}
		}
		for i, p := range batch {
			p.done <- res.results[i]
		}
		return
	}
	s.applyAll(batch, res.applies)
	s.dropReused(res.changes.list)
	if res.rev == s.revision+1 {
		s.setRevision(res.rev)
		s.repl.caughtUp(res.rev)
	} else {
		// A peer wrote since this replica last looked: its changes are in
		// the log before this batch's, so catch up on them now (this
		// batch's entry comes along and is re-read, harmlessly). Re-reads
		// see the store as it is, with this batch's writes.
		s.repl.seen(res.rev)
		if cerr := s.catchUp(txCtx, res.rev); cerr != nil {
			s.log.Warn("catch up on a peer's writes", "err", cerr)
			s.needRebuild.Store(true)
		}
	}
	for i, p := range batch {
		p.done <- res.results[i]
	}
}

// errNeedSavepoints stops a batch run without savepoints: one of its
// writes failed after writing, so the batch runs again with savepoints.
var errNeedSavepoints = errors.New("state: batch needs savepoints")

// groupRun is the outcome of one attempt at a batch.
type groupRun struct {
	rev     int64
	changes changeSet
	results []error
	applies []func()
}

// runGroup runs batch in one transaction, each write in a savepoint when
// savepoints is set. The index changes of a batch of several writes are
// applied as each write passes; when the attempt fails they are set back.
func (s *State) runGroup(txCtx context.Context, batch []*pendingWrite, savepoints bool) (groupRun, error) {
	res := groupRun{results: make([]error, len(batch)), applies: make([]func(), len(batch))}
	applied := false
	memo := newRecordCache()
	err := s.store.Tx(txCtx, func(raw store.Tx) error {
		tx := &changeTx{Tx: raw, rec: &res.changes, records: s.records, memo: memo}
		// The bump comes first: its row lock serialises writers across
		// replicas sharing the store, so every read below sees the last
		// committed write (no lost update under READ COMMITTED), and the
		// new value tells the other replicas to catch up.
		var err error
		if res.rev, err = tx.BumpRevision(txCtx); err != nil {
			return err
		}
		// The cache holds this replica's view: good while no peer has
		// written since (its changes would be unknown here).
		if res.rev == s.revision+1 && !s.needRebuild.Load() {
			tx.cache = s.records
		}
		// The writes' audit events go in one statement, and the
		// change-log entry last: it names what the writes changed. A
		// write undone in its savepoint may leave a name behind, which
		// costs a peer one needless re-read.
		var events []identity.AuditEvent
		finish := func() error {
			if err := tx.AppendAudits(txCtx, events); err != nil {
				return err
			}
			return tx.LogChanges(txCtx, res.rev, time.Now(), res.changes.list)
		}
		if len(batch) == 1 {
			// Alone: no savepoint; fn's error rolls the transaction back.
			p := batch[0]
			a, ap, err := p.fn(tx)
			if err != nil {
				return err
			}
			res.applies[0] = ap
			if a.Action != "" {
				events = append(events, s.auditEvent(p.ctx, a))
			}
			return finish()
		}
		for i, p := range batch {
			if err := p.ctx.Err(); err != nil {
				res.results[i] = err
				continue
			}
			var (
				a   audit
				ap  func()
				err error
			)
			if savepoints {
				err = tx.Sub(txCtx, func() error {
					a, ap, err = p.fn(tx)
					return err
				})
				var sub *store.SubError
				if errors.As(err, &sub) {
					// What the undone write read after its own writes
					// is gone with them.
					tx.memo.clear()
					res.results[i] = sub.Err
					continue
				}
				if err != nil {
					return err
				}
			} else {
				before := tx.Effects()
				a, ap, err = p.fn(tx)
				if err != nil && (tx.Effects() != before || !isDomain(err)) {
					return errNeedSavepoints
				}
				if err != nil {
					res.results[i] = err
					continue
				}
			}
			if a.Action != "" {
				events = append(events, s.auditEvent(p.ctx, a))
			}
			if ap != nil {
				ap()
				applied = true
			}
		}
		return finish()
	})
	if err == nil {
		s.records.merge(memo, res.changes.seen)
	}
	if err != nil && applied {
		// Changes of the batch reached the index before the commit
		// failed: set what they touched back to what the store holds,
		// or have Run rebuild the index if the store cannot say.
		if rerr := s.applyChanges(txCtx, res.changes.list); rerr != nil {
			s.log.Error("restore index after a failed group commit", "err", rerr)
			s.needRebuild.Store(true)
		}
	}
	return res, err
}

// applyAll applies a committed single write's index change; a group's were
// applied as each write passed.
func (s *State) applyAll(batch []*pendingWrite, applies []func()) {
	if len(batch) == 1 && applies[0] != nil {
		applies[0]()
	}
}

// audit describes one audit event; Before and After are marshalled to JSON
// and must never hold a secret.
type audit struct {
	Action, Target string
	Before, After  any
}

func (s *State) appendAudit(ctx context.Context, tx store.Tx, a audit) error {
	_, err := tx.AppendAudit(ctx, s.auditEvent(ctx, a))
	return err
}

// auditEvent is a's event, by the actor of ctx.
func (s *State) auditEvent(ctx context.Context, a audit) identity.AuditEvent {
	actor := ActorFrom(ctx)
	return identity.AuditEvent{
		Time:          s.now(),
		Actor:         actor.Name,
		Action:        a.Action,
		Target:        a.Target,
		Before:        marshal(a.Before),
		After:         marshal(a.After),
		RequestID:     actor.RequestID,
		ClientAddress: actor.ClientAddress,
	}
}

func marshal(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%q", err.Error())
	}
	return string(b)
}

// ensureBuiltins creates sonar-administrators, sonar-users and the default
// template (SonarQube's defaults) on a fresh store.
func (s *State) ensureBuiltins(ctx context.Context) error {
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		ids := map[string]int64{}
		for _, g := range []identity.Group{
			{Name: identity.GroupAdministrators, Description: "System administrators", Source: identity.SourceLocal},
			{Name: identity.GroupUsers, Description: "Every authenticated user automatically belongs to this group", Source: identity.SourceLocal},
		} {
			got, err := tx.GetGroupByName(ctx, g.Name)
			if errors.Is(err, identity.ErrNotFound) {
				// A group created here is a new instance's: it gets
				// SonarQube's default global permissions. A store that
				// has the group keeps whatever grants it holds.
				if got, err = tx.CreateGroup(ctx, g); err == nil {
					err = grantDefaults(ctx, tx, got)
				}
			}
			if err != nil {
				return audit{}, nil, err
			}
			ids[g.Name] = got.ID
		}
		if _, err := tx.GetSetting(ctx, settingDefaultTemplate); err == nil {
			return audit{}, nil, nil
		} else if !errors.Is(err, identity.ErrNotFound) {
			return audit{}, nil, err
		}
		admins, users := identity.GroupSubject(ids[identity.GroupAdministrators]), identity.GroupSubject(ids[identity.GroupUsers])
		t, err := tx.CreateTemplate(ctx, identity.Template{
			Name:        "Default template",
			Description: "This permission template will be used as default when no other permission configuration is available",
			Grants: []identity.TemplateGrant{
				{Subject: admins, Permission: identity.PermAdmin},
				{Subject: users, Permission: identity.PermUser},
				{Subject: users, Permission: identity.PermCodeViewer},
				{Subject: users, Permission: identity.PermIssueAdmin},
				{Subject: users, Permission: identity.PermSecurityHotspotAdmin},
			},
		})
		if errors.Is(err, identity.ErrAlreadyExists) {
			t, err = tx.GetTemplateByName(ctx, "Default template")
		}
		if err != nil {
			return audit{}, nil, err
		}
		if err := tx.SetSetting(ctx, settingDefaultTemplate, fmt.Sprint(t.ID)); err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "system.bootstrap", Target: "instance"}, nil, nil
	})
}

const settingDefaultTemplate = "permissions.default_template"

// defaultGlobalGrants are the global permissions a fresh SonarQube gives its
// built-in groups: any user may analyse and create projects, so the first
// administrator can generate analysis tokens at once.
var defaultGlobalGrants = map[string][]identity.Permission{
	identity.GroupAdministrators: {identity.PermAdmin, identity.PermGateAdmin, identity.PermProfileAdmin, identity.PermProvisioning},
	identity.GroupUsers:          {identity.PermScan, identity.PermProvisioning},
}

// grantDefaults gives a newly created built-in group its default global
// permissions.
func grantDefaults(ctx context.Context, tx store.Tx, g identity.Group) error {
	for _, p := range defaultGlobalGrants[g.Name] {
		if _, err := tx.AddGrant(ctx, identity.Grant{Subject: identity.GroupSubject(g.ID), Permission: p}); err != nil {
			return fmt.Errorf("grant %s to %s: %w", p, g.Name, err)
		}
	}
	return nil
}
