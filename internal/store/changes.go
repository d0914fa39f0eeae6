package store

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// ChangeKind names what a change-log entry says changed. A change names an
// entity, not its new value: a replica applying it re-reads that entity, so
// applying a change twice, or after a later write to the same entity, is
// harmless.
type ChangeKind string

// Change kinds.
const (
	// ChangeUser: the user row ID (login, active, source).
	ChangeUser ChangeKind = "user"
	// ChangeUserGroups: the explicit group memberships of user ID.
	ChangeUserGroups ChangeKind = "user_groups"
	// ChangeGroup: the group row ID (name; a missing group was deleted).
	ChangeGroup ChangeKind = "group"
	// ChangeGroupMembers: every membership of group ID (bulk adds).
	ChangeGroupMembers ChangeKind = "group_members"
	// ChangeProject: the project row ID (key, visibility; a missing project
	// was deleted, with its grants, scopes and analysis tokens).
	ChangeProject ChangeKind = "project"
	// ChangeProjectGrants: every grant on project ID (template applied).
	ChangeProjectGrants ChangeKind = "project_grants"
	// ChangeGrants: the grants of Subject on project ID (0: global).
	ChangeGrants ChangeKind = "grants"
	// ChangeToken: the token row ID and its explicit project list (a
	// missing or revoked token no longer works).
	ChangeToken ChangeKind = "token"
	// ChangeSession: the session row ID (a missing session has ended).
	ChangeSession ChangeKind = "session"
	// ChangeUserSessions: every session of user ID; logged when they were
	// all ended at once (sign-out everywhere, a new password, a
	// deactivation), which also ends the user's reused password checks.
	ChangeUserSessions ChangeKind = "user_sessions"
)

// Change names one changed entity.
type Change struct {
	Kind    ChangeKind
	ID      int64
	Subject identity.Subject // ChangeGrants only
}

// ChangeEntry is the change-log entry of one revision: what the transaction
// that bumped the revision to Revision changed.
type ChangeEntry struct {
	Revision int64
	At       time.Time
	Changes  []Change
}

// ChangeListener is an optional capability of a [Store], found by type
// assertion: it tells at once when any process sharing the database commits
// a change-log entry, so that replicas need not wait for their next poll.
type ChangeListener interface {
	// ListenChanges calls wake each time a change-log entry is committed,
	// by this process or another, until ctx ends or the connection it
	// listens on is lost, and returns ctx's or the connection's error
	// (errors.ErrUnsupported when the backend cannot listen). wake must not
	// block. Notifications may be coalesced, and are missed while no
	// connection listens: they hurry a poll, never replace it.
	ListenChanges(ctx context.Context, wake func()) error
}
