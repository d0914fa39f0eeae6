package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// migration is one schema step. Statements use {id}, {text} and {blob} for the
// types that differ between dialects. The list is append-only: released
// migrations are never edited.
type migration struct {
	version    int
	statements []string
}

// migrateLockKey is the PostgreSQL advisory lock that serializes migrations
// of replicas sharing a database.
const migrateLockKey = 0x6761_7465_6d69_67 // "gatemig"

var migrations = []migration{
	{
		version: 1,
		statements: []string{
			`CREATE TABLE users (
				id {id},
				login {text} NOT NULL,
				name {text} NOT NULL DEFAULT '',
				email {text} NOT NULL DEFAULT '',
				external_id {text} NOT NULL DEFAULT '',
				source {text} NOT NULL DEFAULT 'local',
				active BOOLEAN NOT NULL DEFAULT TRUE,
				password_hash {text} NOT NULL DEFAULT '',
				scm_accounts {text} NOT NULL DEFAULT '[]',
				created_at BIGINT,
				updated_at BIGINT,
				last_login_at BIGINT,
				last_token_at BIGINT,
				CONSTRAINT users_login_key UNIQUE (login)
			)`,
			`CREATE INDEX users_external_idx ON users (source, external_id)`,

			`CREATE TABLE user_groups (
				id {id},
				name {text} NOT NULL,
				description {text} NOT NULL DEFAULT '',
				source {text} NOT NULL DEFAULT 'local',
				external_id {text} NOT NULL DEFAULT '',
				created_at BIGINT,
				updated_at BIGINT,
				CONSTRAINT user_groups_name_key UNIQUE (name)
			)`,
			`CREATE INDEX user_groups_external_idx ON user_groups (source, external_id)`,

			`CREATE TABLE group_members (
				user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
				group_id BIGINT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
				PRIMARY KEY (user_id, group_id)
			)`,
			`CREATE INDEX group_members_group_idx ON group_members (group_id)`,

			`CREATE TABLE projects (
				id {id},
				project_key {text} NOT NULL,
				name {text} NOT NULL DEFAULT '',
				visibility {text} NOT NULL DEFAULT 'private',
				source {text} NOT NULL DEFAULT 'local',
				external_id {text} NOT NULL DEFAULT '',
				external_path {text} NOT NULL DEFAULT '',
				created_at BIGINT,
				updated_at BIGINT,
				CONSTRAINT projects_key_key UNIQUE (project_key)
			)`,

			// project_id 0 is a global grant; subject_id refers to users or
			// groups, so cascades are done by the store, not by foreign keys.
			`CREATE TABLE grants (
				subject_kind {text} NOT NULL,
				subject_id BIGINT NOT NULL,
				project_id BIGINT NOT NULL,
				permission {text} NOT NULL,
				PRIMARY KEY (subject_kind, subject_id, project_id, permission)
			)`,
			`CREATE INDEX grants_project_idx ON grants (project_id)`,

			`CREATE TABLE templates (
				id {id},
				name {text} NOT NULL,
				description {text} NOT NULL DEFAULT '',
				key_pattern {text} NOT NULL DEFAULT '',
				created_at BIGINT,
				updated_at BIGINT
			)`,
			`CREATE UNIQUE INDEX templates_name_key ON templates (LOWER(name))`,
			`CREATE TABLE template_grants (
				template_id BIGINT NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
				position INTEGER NOT NULL,
				subject_kind {text} NOT NULL,
				subject_id BIGINT NOT NULL,
				permission {text} NOT NULL,
				PRIMARY KEY (template_id, subject_kind, subject_id, permission)
			)`,

			`CREATE TABLE tokens (
				id {id},
				name {text} NOT NULL,
				description {text} NOT NULL DEFAULT '',
				token_type {text} NOT NULL,
				user_id BIGINT NOT NULL DEFAULT 0,
				project_id BIGINT NOT NULL DEFAULT 0,
				hash {blob},
				prev_hash {blob},
				prev_valid_until BIGINT,
				created_by {text} NOT NULL DEFAULT '',
				created_at BIGINT,
				updated_at BIGINT,
				expires_at BIGINT,
				last_used_at BIGINT,
				revoked_at BIGINT,
				permissions {text} NOT NULL DEFAULT '[]',
				scope_set {text} NOT NULL DEFAULT '',
				scope_patterns {text} NOT NULL DEFAULT '[]',
				scim_scopes {text} NOT NULL DEFAULT '[]'
			)`,
			// Names are unique per owner, or per type for tokens without an
			// owner; revoked tokens are kept for audit and free their name.
			`CREATE UNIQUE INDEX tokens_name_key ON tokens
				(user_id, (CASE WHEN user_id = 0 THEN token_type ELSE '' END), name)
				WHERE revoked_at IS NULL`,
			`CREATE UNIQUE INDEX tokens_hash_key ON tokens (hash)`,
			`CREATE INDEX tokens_prev_hash_idx ON tokens (prev_hash)`,
			`CREATE INDEX tokens_user_idx ON tokens (user_id)`,
			`CREATE INDEX tokens_project_idx ON tokens (project_id)`,

			// No foreign key on project_id: DeleteProject cleans up, and a
			// scope may be edited by id without loading every project.
			`CREATE TABLE token_projects (
				token_id BIGINT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
				project_id BIGINT NOT NULL,
				PRIMARY KEY (token_id, project_id)
			)`,
			`CREATE INDEX token_projects_project_idx ON token_projects (project_id)`,

			`CREATE TABLE audit_events (
				id {id},
				at BIGINT NOT NULL,
				actor {text} NOT NULL DEFAULT '',
				action_name {text} NOT NULL DEFAULT '',
				target {text} NOT NULL DEFAULT '',
				before_json {text} NOT NULL DEFAULT '',
				after_json {text} NOT NULL DEFAULT '',
				request_id {text} NOT NULL DEFAULT ''
			)`,
			`CREATE INDEX audit_events_at_idx ON audit_events (at, id)`,
			`CREATE INDEX audit_events_actor_idx ON audit_events (actor, at)`,
			`CREATE INDEX audit_events_target_idx ON audit_events (target, at)`,

			`CREATE TABLE sync_runs (
				id {id},
				source {text} NOT NULL,
				trigger_kind {text} NOT NULL DEFAULT '',
				status {text} NOT NULL DEFAULT '',
				started_at BIGINT,
				finished_at BIGINT,
				counts {text} NOT NULL DEFAULT '{}',
				warnings {text} NOT NULL DEFAULT '[]',
				errors {text} NOT NULL DEFAULT '[]'
			)`,
			`CREATE INDEX sync_runs_source_idx ON sync_runs (source, started_at)`,

			`CREATE TABLE settings (
				name {text} PRIMARY KEY,
				value {text} NOT NULL
			)`,
		},
	},
	{
		// The change counter replicas compare to notice each other's writes.
		version: 2,
		statements: []string{
			`CREATE TABLE revision (
				id INTEGER PRIMARY KEY,
				n BIGINT NOT NULL
			)`,
			`INSERT INTO revision (id, n) VALUES (1, 0)`,
		},
	},
	{
		// Project tags and badge tokens (the Terraform provider's project
		// resource sets the one and reads the other).
		version: 3,
		statements: []string{
			`ALTER TABLE projects ADD COLUMN tags {text} NOT NULL DEFAULT '[]'`,
			`ALTER TABLE projects ADD COLUMN badge_token {text} NOT NULL DEFAULT ''`,
		},
	},
	{
		// SCIM's userName and displayName are not case-exact: lookups and
		// the uniqueness check compare LOWER() and must not scan the table.
		version: 4,
		statements: []string{
			`CREATE INDEX users_login_lower_idx ON users (LOWER(login))`,
			`CREATE INDEX user_groups_name_lower_idx ON user_groups (LOWER(name))`,
		},
	},
	{
		// The identity provider a user signs in through when it has no
		// password (api/users/create local=false, update_identity_provider).
		version: 5,
		statements: []string{
			`ALTER TABLE users ADD COLUMN external_provider {text} NOT NULL DEFAULT ''`,
		},
	},
	{
		// Sessions live in the store, so that a restart signs nobody out
		// and every replica sees them; only the secret's hash is kept.
		version: 6,
		statements: []string{
			`CREATE TABLE sessions (
				id {id},
				user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
				hash {blob} NOT NULL,
				created_at BIGINT NOT NULL,
				expires_at BIGINT NOT NULL,
				last_seen_at BIGINT
			)`,
			`CREATE UNIQUE INDEX sessions_hash_key ON sessions (hash)`,
			`CREATE INDEX sessions_user_idx ON sessions (user_id)`,
			`CREATE INDEX sessions_expires_idx ON sessions (expires_at)`,
		},
	},
	{
		// The change log: what each revision changed, so that replicas
		// apply each other's writes as deltas instead of reloading.
		version: 7,
		statements: []string{
			`CREATE TABLE change_log (
				revision BIGINT PRIMARY KEY,
				at BIGINT NOT NULL,
				changes {text} NOT NULL
			)`,
		},
	},
	{
		// Failed sign-ins per throttle key, shared by the replicas so that
		// an attacker cannot multiply the allowance by their number.
		version: 8,
		statements: []string{
			`CREATE TABLE signin_failures (
				throttle_key {text} PRIMARY KEY,
				failures BIGINT NOT NULL,
				last_at BIGINT NOT NULL
			)`,
			`CREATE INDEX signin_failures_last_idx ON signin_failures (last_at)`,
		},
	},
	{
		// SSO connections (SAML and OpenID Connect): the settings, secrets
		// sealed, as one JSON document; version lets caches notice updates.
		version: 9,
		statements: []string{
			`CREATE TABLE sso_connections (
				id {id},
				name {text} NOT NULL UNIQUE,
				protocol {text} NOT NULL,
				settings {text} NOT NULL,
				version BIGINT NOT NULL,
				created_at BIGINT NOT NULL,
				updated_at BIGINT NOT NULL
			)`,
		},
	},
	{
		// The client address of each audited request, as the trusted-
		// proxy rule resolved it.
		version: 11,
		statements: []string{
			`ALTER TABLE audit_events ADD COLUMN client_address {text} NOT NULL DEFAULT ''`,
		},
	},
	{
		// Grants keyed by project first: a provisioning run inserts them
		// project by project, so the primary key grows at its end instead
		// of all over (a first GitLab run inserts millions), and listings
		// in project order read it in order. Lookups by subject keep an
		// index of their own.
		version: 12,
		statements: []string{
			`CREATE TABLE grants_by_project (
				subject_kind {text} NOT NULL,
				subject_id BIGINT NOT NULL,
				project_id BIGINT NOT NULL,
				permission {text} NOT NULL,
				PRIMARY KEY (project_id, subject_kind, subject_id, permission)
			)`,
			`INSERT INTO grants_by_project (subject_kind, subject_id, project_id, permission)
				SELECT subject_kind, subject_id, project_id, permission FROM grants`,
			`DROP TABLE grants`,
			`ALTER TABLE grants_by_project RENAME TO grants`,
			`CREATE INDEX grants_subject_idx ON grants (subject_kind, subject_id)`,
		},
	},
}

// Migrate applies the pending migrations, each in its own transaction, and
// returns how many it applied. It is safe to call concurrently from several
// processes: on PostgreSQL an advisory lock serializes them, on SQLite the
// immediate write transaction does.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	applied := 0
	for {
		v, err := s.migrateNext(ctx)
		if err != nil {
			return applied, err
		}
		if v == 0 {
			return applied, nil
		}
		applied++
		s.logger.InfoContext(ctx, "applied database migration", "flavor", s.f.name, "version", v)
	}
}

// nextMigration returns the first migration of list not in applied, or nil.
// A version missing below the highest applied one is still pending: versions
// are reserved by work landing in any order, so a database may have been
// migrated to 7 before 6 existed.
func nextMigration(list []migration, applied map[int]bool) *migration {
	for i := range list {
		if !applied[list[i].version] {
			return &list[i]
		}
	}
	return nil
}

// appliedVersions reads the versions recorded in schema_migrations.
func appliedVersions(ctx context.Context, tx *sql.Tx) (map[int]bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("migrate: read versions: %w", err)
	}
	defer rows.Close()
	out := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("migrate: read versions: %w", err)
		}
		out[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: read versions: %w", err)
	}
	return out, nil
}

// migrateNext applies the first pending migration and returns its version,
// or 0 when none is pending.
func (s *Store) migrateNext(ctx context.Context) (version int, err error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() {
		if err != nil || version == 0 {
			if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
				err = errors.Join(err, fmt.Errorf("migrate: rollback: %w", rerr))
			}
		}
	}()

	if s.f.postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLockKey)); err != nil {
			return 0, fmt.Errorf("migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return 0, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied, err := appliedVersions(ctx, tx)
	if err != nil {
		return 0, err
	}
	next := nextMigration(migrations, applied)
	if next == nil {
		return 0, nil
	}
	for i, stmt := range next.statements {
		if _, err := tx.ExecContext(ctx, s.f.ddl.Replace(stmt)); err != nil {
			return 0, fmt.Errorf("migrate: version %d statement %d: %w", next.version, i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.f.rebind("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)"),
		next.version, time.Now().UnixMicro()); err != nil {
		return 0, fmt.Errorf("migrate: record version %d: %w", next.version, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("migrate: commit version %d: %w", next.version, err)
	}
	return next.version, nil
}

// HasSchema reports whether the database holds a Gatehouse schema (any
// migration applied), so a command can refuse to create a store in a
// database it was pointed at by mistake. It reads only.
func (s *Store) HasSchema(ctx context.Context) (bool, error) {
	q := "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
	if s.f.postgres {
		q = "SELECT count(*) FROM (SELECT to_regclass('schema_migrations') AS t) r WHERE t IS NOT NULL"
	}
	var n int
	if err := s.rdb.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return false, fmt.Errorf("read schema: %w", err)
	}
	return n > 0, nil
}
