// Package store defines the storage interface of Gatehouse. Backends live
// beneath it (store/sqlstore for SQLite and PostgreSQL) and every backend
// passes the shared suite in store/conformance.
//
// Errors wrap the kinds of package identity: a missing row is
// identity.ErrNotFound, a uniqueness violation identity.ErrAlreadyExists.
// Text that is not valid UTF-8 or holds a NUL byte, in any argument of any
// method (a stored value or a lookup key), is identity.ErrInvalid on every
// backend: PostgreSQL cannot store it and SQLite must not differ.
package store

import (
	"context"
	"math"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// Page selects a slice of a listing. Number is 1-based; Size 0 means all.
// Skip, when positive, replaces Number: the listing starts after that many
// rows (SCIM's startIndex is not page-aligned).
type Page struct {
	Number int
	Size   int
	Skip   int
}

// Offset returns the number of rows to skip. A page past any possible row
// count saturates instead of overflowing into a negative offset.
func (p Page) Offset() int {
	if p.Skip > 0 {
		return min(p.Skip, math.MaxInt32)
	}
	if p.Number <= 1 || p.Size <= 0 {
		return 0
	}
	if p.Number-1 > math.MaxInt32/p.Size {
		return math.MaxInt32
	}
	return (p.Number - 1) * p.Size
}

// UserFilter narrows ListUsers. Zero values do not filter.
type UserFilter struct {
	// Query matches login, name or email, case-insensitively, as a substring.
	Query string
	// QueryWithoutEmail makes Query match login and name only: callers who
	// may not see e-mail addresses must not be able to probe them.
	QueryWithoutEmail bool
	Active            *bool
	Managed           *bool // source != local
	Source            identity.Source
	ExternalID        string
	IDs               []int64
	// Where adds a condition tree (see [Cond]) over the user's fields.
	Where *Cond
	Page  Page
}

// GroupFilter narrows ListGroups.
type GroupFilter struct {
	Query      string // substring of the name, case-insensitive
	Managed    *bool
	Source     identity.Source
	ExternalID string
	// Where adds a condition tree (see [Cond]) over the group's fields.
	Where *Cond
	Page  Page
}

// ProjectFilter narrows ListProjects.
type ProjectFilter struct {
	Query      string // substring of key or name, case-insensitive
	Keys       []string
	IDs        []int64
	Visibility identity.Visibility
	Source     identity.Source
	Page       Page
}

// GrantFilter narrows ListGrants. Zero values do not filter.
type GrantFilter struct {
	Subject *identity.Subject
	// ProjectID: nil any; pointer to 0 global only; else that project.
	ProjectID  *int64
	Permission identity.Permission
}

// TokenFilter narrows ListTokens.
type TokenFilter struct {
	UserID *int64
	Types  []identity.TokenType
	Query  string // substring of the name
	// IncludeRevoked lists revoked tokens too.
	IncludeRevoked bool
	Page           Page
}

// AuditFilter narrows ListAudit. Results are newest first.
type AuditFilter struct {
	Since, Until time.Time // zero: unbounded; Since inclusive, Until exclusive
	Actor        string
	Target       string
	Action       string
	Page         Page
}

// Reader is the read side of the store. Listings return the page and the
// total number of matching rows.
type Reader interface {
	GetUser(ctx context.Context, id int64) (identity.User, error)
	GetUserByLogin(ctx context.Context, login string) (identity.User, error)
	// ExistingUsers returns which of ids name a user, in one query.
	ExistingUsers(ctx context.Context, ids []int64) (map[int64]bool, error)
	ListUsers(ctx context.Context, f UserFilter) ([]identity.User, int, error)

	GetGroup(ctx context.Context, id int64) (identity.Group, error)
	GetGroupByName(ctx context.Context, name string) (identity.Group, error)
	ListGroups(ctx context.Context, f GroupFilter) ([]identity.Group, int, error)
	// CountMembers returns the number of explicit members of each group id.
	CountMembers(ctx context.Context, groupIDs []int64) (map[int64]int, error)

	// ListMemberships lists memberships; a zero userID or groupID does not
	// filter on it.
	ListMemberships(ctx context.Context, userID, groupID int64) ([]identity.Membership, error)

	GetProject(ctx context.Context, id int64) (identity.Project, error)
	GetProjectByKey(ctx context.Context, key string) (identity.Project, error)
	ListProjects(ctx context.Context, f ProjectFilter) ([]identity.Project, int, error)

	ListGrants(ctx context.Context, f GrantFilter) ([]identity.Grant, error)

	GetTemplate(ctx context.Context, id int64) (identity.Template, error)
	GetTemplateByName(ctx context.Context, name string) (identity.Template, error) // case-insensitive
	ListTemplates(ctx context.Context) ([]identity.Template, error)                // by name

	GetToken(ctx context.Context, id int64) (identity.Token, error)
	GetTokenByHash(ctx context.Context, hash []byte) (identity.Token, error) // matches Hash or PrevHash
	ListTokens(ctx context.Context, f TokenFilter) ([]identity.Token, int, error)
	// ListTokenProjects lists the explicit project ids of an organization
	// token, ascending.
	ListTokenProjects(ctx context.Context, tokenID int64, p Page) ([]int64, int, error)

	// GetSession returns a session, expired or not.
	GetSession(ctx context.Context, id int64) (identity.Session, error)
	// GetSessionByHash returns the session whose hash is hash, expired or
	// not.
	GetSessionByHash(ctx context.Context, hash []byte) (identity.Session, error)
	// ListSessions lists the sessions of a user that have not expired at
	// now, by id.
	ListSessions(ctx context.Context, userID int64, now time.Time) ([]identity.Session, error)

	ListAudit(ctx context.Context, f AuditFilter) ([]identity.AuditEvent, int, error)

	GetSyncRun(ctx context.Context, id int64) (identity.SyncRun, error)
	// ListSyncRuns lists runs of a source ("" for all), newest first.
	ListSyncRuns(ctx context.Context, source identity.Source, p Page) ([]identity.SyncRun, int, error)

	// GetSetting returns a setting's value, or identity.ErrNotFound.
	GetSetting(ctx context.Context, key string) (string, error)

	// GetSSOConnection returns the SSO connection named name, or
	// identity.ErrNotFound; ListSSOConnections lists them by name.
	GetSSOConnection(ctx context.Context, name string) (identity.SSOConnection, error)
	ListSSOConnections(ctx context.Context) ([]identity.SSOConnection, error)

	// Revision returns the store's change counter: the number of
	// BumpRevision calls ever committed. Replicas sharing a store compare it
	// to tell whether a peer has written.
	Revision(ctx context.Context) (int64, error)
	// ListChanges returns the change-log entries of revisions after after,
	// ascending, at most limit of them (all when limit <= 0). A revision
	// missing from the answer was pruned (or never logged): the caller must
	// rebuild from a snapshot rather than assume nothing changed.
	ListChanges(ctx context.Context, after int64, limit int) ([]ChangeEntry, error)

	// SignInFailures returns the failure records of the given throttle keys
	// (see [SignInFailure]); a key without a record is absent from the map.
	SignInFailures(ctx context.Context, keys []string) (map[string]SignInFailure, error)
}

// SignInFailure is the failed-sign-in record of one throttle key (a login
// at a client address, or an address): how many failures since the
// record was last forgotten, and when the last one happened. Keys are
// opaque to the store (the sign-in throttle hashes them).
type SignInFailure struct {
	Count int
	Last  time.Time
}

// Writer is the write side; it is only reachable inside a transaction.
// Create methods fill in the id (and CreatedAt/UpdatedAt when zero) and
// return the stored object.
type Writer interface {
	CreateUser(ctx context.Context, u identity.User) (identity.User, error)
	UpdateUser(ctx context.Context, u identity.User) error // by ID; login may change
	// TouchUserToken records the last token use of a user.
	TouchUserToken(ctx context.Context, userID int64, at time.Time) error
	// TouchUserLogin records the last interactive sign-in of a user. Like
	// TouchUserToken it writes that one column, so it cannot undo a
	// concurrent change of the user's other fields.
	TouchUserLogin(ctx context.Context, userID int64, at time.Time) error

	CreateGroup(ctx context.Context, g identity.Group) (identity.Group, error)
	UpdateGroup(ctx context.Context, g identity.Group) error
	// DeleteGroup removes the group, its memberships and its grants.
	DeleteGroup(ctx context.Context, id int64) error

	// AddMember is idempotent: adding an existing membership is no error.
	// It reports whether a row was added.
	AddMember(ctx context.Context, userID, groupID int64) (bool, error)
	// AddMembers adds users to one group in one statement, skipping users
	// that are members already and ids that name no user, and returns the
	// ids it added (in no particular order). It is AddMember for a large
	// change: its cost does not grow with the group.
	AddMembers(ctx context.Context, groupID int64, userIDs []int64) ([]int64, error)
	// RemoveMember reports whether a row was removed.
	RemoveMember(ctx context.Context, userID, groupID int64) (bool, error)

	CreateProject(ctx context.Context, p identity.Project) (identity.Project, error)
	UpdateProject(ctx context.Context, p identity.Project) error
	// DeleteProject removes the project, its grants and its place in token
	// scopes; project analysis tokens on it are deleted.
	DeleteProject(ctx context.Context, id int64) error

	// AddGrant is idempotent and reports whether a row was added.
	AddGrant(ctx context.Context, g identity.Grant) (bool, error)
	// AddGrants adds many grants in as few statements as the database
	// allows and returns those it added, in no particular order: a grant
	// held already is skipped. It is AddGrant for a provisioning run's
	// thousands.
	AddGrants(ctx context.Context, gs []identity.Grant) ([]identity.Grant, error)
	// RemoveGrant reports whether a row was removed.
	RemoveGrant(ctx context.Context, g identity.Grant) (bool, error)
	// DeleteProjectGrants removes every grant on a project (template apply).
	DeleteProjectGrants(ctx context.Context, projectID int64) error

	CreateTemplate(ctx context.Context, t identity.Template) (identity.Template, error)
	// UpdateTemplate rewrites name, description, pattern and grants.
	UpdateTemplate(ctx context.Context, t identity.Template) error
	DeleteTemplate(ctx context.Context, id int64) error

	CreateToken(ctx context.Context, t identity.Token) (identity.Token, error)
	// UpdateToken rewrites every field but ID (and the explicit project list).
	UpdateToken(ctx context.Context, t identity.Token) error
	DeleteToken(ctx context.Context, id int64) error
	// AddTokenProjects and RemoveTokenProjects edit the explicit list of an
	// organization token; both are idempotent.
	AddTokenProjects(ctx context.Context, tokenID int64, projectIDs []int64) error
	RemoveTokenProjects(ctx context.Context, tokenID int64, projectIDs []int64) error
	// TouchToken records the last use of a token.
	TouchToken(ctx context.Context, tokenID int64, at time.Time) error

	// CreateSession stores a session (its hash must be unique) and returns
	// it with its id; a zero CreatedAt is the current time.
	CreateSession(ctx context.Context, s identity.Session) (identity.Session, error)
	// DeleteSession ends one session; a missing one is identity.ErrNotFound.
	DeleteSession(ctx context.Context, id int64) error
	// DeleteUserSessions ends every session of a user and returns how many
	// it deleted (none is no error).
	DeleteUserSessions(ctx context.Context, userID int64) (int, error)
	// TouchSession records the last use of a session.
	TouchSession(ctx context.Context, id int64, at time.Time) error
	// DeleteExpiredSessions deletes the sessions expired at before and
	// returns how many it deleted.
	DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error)

	AppendAudit(ctx context.Context, e identity.AuditEvent) (identity.AuditEvent, error)
	// AppendAudits stores events in one statement per few hundred, in
	// order (their ids ascend as given); a zero Time becomes the current
	// time. It is how a batch of writes records its events in one round
	// trip rather than one each.
	AppendAudits(ctx context.Context, es []identity.AuditEvent) error

	CreateSyncRun(ctx context.Context, r identity.SyncRun) (identity.SyncRun, error)
	UpdateSyncRun(ctx context.Context, r identity.SyncRun) error

	SetSetting(ctx context.Context, key, value string) error

	// CreateSSOConnection stores a new connection (version 1); a taken
	// name is identity.ErrAlreadyExists. UpdateSSOConnection rewrites one
	// by ID and increments its version.
	CreateSSOConnection(ctx context.Context, c identity.SSOConnection) (identity.SSOConnection, error)
	UpdateSSOConnection(ctx context.Context, c identity.SSOConnection) error
	DeleteSSOConnection(ctx context.Context, id int64) error

	// BumpRevision increments the change counter atomically and returns the
	// new value as this transaction sees it: concurrent transactions never
	// lose an increment, so a writer whose new value is not its last known
	// value plus one knows that a peer wrote in between.
	BumpRevision(ctx context.Context) (int64, error)
	// LogChanges records what the transaction that bumped the revision to
	// rev changed, in the same transaction. Logging a revision twice is
	// identity.ErrAlreadyExists.
	LogChanges(ctx context.Context, rev int64, at time.Time, changes []Change) error
	// PruneChanges deletes the change-log entries of revisions up to and
	// including upTo and returns how many it deleted.
	PruneChanges(ctx context.Context, upTo int64) (int, error)

	// AddSignInFailure counts one failed sign-in of key at at, atomically
	// (concurrent calls never lose a count), and returns the new record. A
	// record whose last failure is before forgetBefore starts again at 1.
	AddSignInFailure(ctx context.Context, key string, at, forgetBefore time.Time) (SignInFailure, error)
	// ClearSignInFailures forgets key's record and reports whether it had one.
	ClearSignInFailures(ctx context.Context, key string) (bool, error)
	// PruneSignInFailures deletes the records whose last failure is before
	// before and returns how many it deleted.
	PruneSignInFailures(ctx context.Context, before time.Time) (int, error)
}

// Tx is a transaction: reads see its own writes.
type Tx interface {
	Reader
	Writer
	// Sub runs fn as a nested unit of the transaction (a savepoint): when
	// fn fails its writes are undone and the transaction goes on. fn's
	// error comes back as a *SubError; any other error is the store's and
	// leaves the transaction unusable.
	Sub(ctx context.Context, fn func() error) error
	// Effects counts the statements of the transaction so far that wrote,
	// or failed. Work run outside a Sub compares two counts: when they are
	// equal it changed nothing to undo and the transaction is still usable
	// (a failed statement aborts a PostgreSQL transaction), so a refusal
	// found by reads alone needs no savepoint.
	Effects() int
}

// SubError carries the error of a [Tx.Sub] function.
type SubError struct{ Err error }

func (e *SubError) Error() string { return e.Err.Error() }
func (e *SubError) Unwrap() error { return e.Err }

// Store is a Gatehouse storage backend.
type Store interface {
	Reader
	// Tx runs fn in a transaction: committed if fn returns nil, rolled back
	// otherwise (fn's error is returned). Writes are only possible here, so a
	// change of rights and its audit event commit together or not at all.
	Tx(ctx context.Context, fn func(tx Tx) error) error
	// Snapshot streams every row the authorization index needs, in one
	// consistent read.
	Snapshot(ctx context.Context) (Snapshot, error)
	// Migrate applies pending migrations and returns how many it applied.
	Migrate(ctx context.Context) (int, error)
	Close() error
}

// Snapshot is the state the authorization index is built from.
type Snapshot struct {
	Users       []identity.User // PasswordHash left empty
	Groups      []identity.Group
	Memberships []identity.Membership
	Projects    []identity.Project
	Grants      []identity.Grant
	// Tokens are the tokens neither revoked nor expired, with explicit
	// project lists in TokenProjects.
	Tokens        []identity.Token
	TokenProjects map[int64][]int64
	// Sessions are the sessions not expired at the time of the read.
	Sessions []identity.Session
}
