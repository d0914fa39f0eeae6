package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const auditCols = "id, at, actor, action_name, target, before_json, after_json, request_id, client_address"

func scanAudit(sc scanner) (identity.AuditEvent, error) {
	var (
		e  identity.AuditEvent
		at sql.NullInt64
	)
	if err := sc.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Before, &e.After, &e.RequestID, &e.ClientAddress); err != nil {
		return e, fmt.Errorf("scan audit event: %w", err)
	}
	e.Time = fromMicros(at)
	return e, nil
}

// ListAudit lists audit events, newest first.
func (r *reader) ListAudit(ctx context.Context, f store.AuditFilter) ([]identity.AuditEvent, int, error) {
	var w filter
	if !f.Since.IsZero() {
		w.add("at >= ?", f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		w.add("at < ?", f.Until.UnixMicro())
	}
	if f.Actor != "" {
		w.add("actor = ?", f.Actor)
	}
	if f.Target != "" {
		w.add("target = ?", f.Target)
	}
	if f.Action != "" {
		w.add("action_name = ?", f.Action)
	}
	es, total, err := list(ctx, r, &w, "SELECT "+auditCols+" FROM audit_events", "audit_events", "at DESC, id DESC", f.Page, scanAudit)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit events: %w", err)
	}
	return es, total, nil
}

// AppendAudit stores an audit event; a zero Time becomes the current time.
func (t *txn) AppendAudit(ctx context.Context, e identity.AuditEvent) (identity.AuditEvent, error) {
	e.Time = orNow(e.Time, now())
	var err error
	e.ID, err = t.insertID(ctx, `INSERT INTO audit_events (at, actor, action_name, target, before_json, after_json, request_id, client_address)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		e.Time.UnixMicro(), e.Actor, e.Action, e.Target, e.Before, e.After, e.RequestID, e.ClientAddress)
	if err != nil {
		return e, fmt.Errorf("append audit event %q: %w", e.Action, err)
	}
	return e, nil
}

// auditRowsPerInsert keeps one INSERT's parameters (8 a row) far below
// either backend's limit (SQLite 32,766, PostgreSQL 65,535).
const auditRowsPerInsert = 500

// AppendAudits stores events with multi-row inserts.
func (t *txn) AppendAudits(ctx context.Context, es []identity.AuditEvent) error {
	at := now()
	for len(es) > 0 {
		chunk := es[:min(len(es), auditRowsPerInsert)]
		es = es[len(chunk):]
		args := make([]any, 0, 8*len(chunk))
		for _, e := range chunk {
			args = append(args, orNow(e.Time, at).UnixMicro(), e.Actor, e.Action, e.Target, e.Before, e.After, e.RequestID, e.ClientAddress)
		}
		q := "INSERT INTO audit_events (at, actor, action_name, target, before_json, after_json, request_id, client_address) VALUES " + valueRows(len(chunk), 8)
		if _, err := t.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("append %d audit events: %w", len(chunk), err)
		}
	}
	return nil
}

const syncRunCols = "id, source, trigger_kind, status, started_at, finished_at, counts, warnings, errors"

func scanSyncRun(sc scanner) (identity.SyncRun, error) {
	var (
		r                                          identity.SyncRun
		source, trigger, status, counts, warn, bad string
		started, finished                          sql.NullInt64
	)
	if err := sc.Scan(&r.ID, &source, &trigger, &status, &started, &finished, &counts, &warn, &bad); err != nil {
		return r, fmt.Errorf("scan sync run: %w", err)
	}
	r.Source, r.Trigger, r.Status = identity.Source(source), identity.SyncTrigger(trigger), identity.SyncStatus(status)
	r.StartedAt, r.FinishedAt = fromMicros(started), fromMicros(finished)
	if counts != "" {
		if err := json.Unmarshal([]byte(counts), &r.Counts); err != nil {
			return r, fmt.Errorf("sync run %d counts: %w", r.ID, err)
		}
	}
	var err error
	if r.Warnings, err = decodeList[string](warn); err != nil {
		return r, fmt.Errorf("sync run %d warnings: %w", r.ID, err)
	}
	if r.Errors, err = decodeList[string](bad); err != nil {
		return r, fmt.Errorf("sync run %d errors: %w", r.ID, err)
	}
	return r, nil
}

// GetSyncRun returns the sync run with the given id.
func (r *reader) GetSyncRun(ctx context.Context, id int64) (identity.SyncRun, error) {
	run, err := scanSyncRun(r.queryRow(ctx, "SELECT "+syncRunCols+" FROM sync_runs WHERE id = ?", id))
	if err != nil {
		return run, fmt.Errorf("get sync run: %w", rowErr(err, "sync run", id))
	}
	return run, nil
}

// ListSyncRuns lists the runs of a source ("" for all), newest first: runs
// not yet started come first, then by start time.
func (r *reader) ListSyncRuns(ctx context.Context, source identity.Source, p store.Page) ([]identity.SyncRun, int, error) {
	var w filter
	if source != "" {
		w.add("source = ?", string(source))
	}
	runs, total, err := list(ctx, r, &w, "SELECT "+syncRunCols+" FROM sync_runs", "sync_runs",
		"started_at DESC NULLS FIRST, id DESC", p, scanSyncRun)
	if err != nil {
		return nil, 0, fmt.Errorf("list sync runs: %w", err)
	}
	return runs, total, nil
}

func syncRunArgs(r identity.SyncRun) ([]any, error) {
	counts, err := json.Marshal(r.Counts)
	if err != nil {
		return nil, fmt.Errorf("counts: %w", err)
	}
	warn, err := encodeList(r.Warnings)
	if err != nil {
		return nil, fmt.Errorf("warnings: %w", err)
	}
	bad, err := encodeList(r.Errors)
	if err != nil {
		return nil, fmt.Errorf("errors: %w", err)
	}
	return []any{string(r.Source), string(r.Trigger), string(r.Status), micros(r.StartedAt), micros(r.FinishedAt),
		string(counts), warn, bad}, nil
}

// CreateSyncRun stores a sync run and returns it with its id.
func (t *txn) CreateSyncRun(ctx context.Context, r identity.SyncRun) (identity.SyncRun, error) {
	r.StartedAt, r.FinishedAt = normTime(r.StartedAt), normTime(r.FinishedAt)
	r.Warnings, r.Errors = normList(r.Warnings), normList(r.Errors)
	args, err := syncRunArgs(r)
	if err != nil {
		return r, fmt.Errorf("create sync run: %w", err)
	}
	r.ID, err = t.insertID(ctx, `INSERT INTO sync_runs (source, trigger_kind, status, started_at, finished_at, counts,
		warnings, errors) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, args...)
	if err != nil {
		return r, fmt.Errorf("create sync run: %w", err)
	}
	return r, nil
}

// UpdateSyncRun rewrites every field of sync run r.ID.
func (t *txn) UpdateSyncRun(ctx context.Context, r identity.SyncRun) error {
	args, err := syncRunArgs(r)
	if err != nil {
		return fmt.Errorf("update sync run %d: %w", r.ID, err)
	}
	n, err := t.execAffected(ctx, `UPDATE sync_runs SET source = ?, trigger_kind = ?, status = ?, started_at = ?,
		finished_at = ?, counts = ?, warnings = ?, errors = ? WHERE id = ?`, append(args, r.ID)...)
	if err := mustAffect(n, err, "sync run", r.ID); err != nil {
		return fmt.Errorf("update sync run: %w", err)
	}
	return nil
}

// GetSetting returns the value of a setting.
func (r *reader) GetSetting(ctx context.Context, key string) (string, error) {
	var v string
	if err := r.queryRow(ctx, "SELECT value FROM settings WHERE name = ?", key).Scan(&v); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("get setting: %w", notFound("setting", fmt.Sprintf("%q", key)))
		}
		return "", fmt.Errorf("get setting %q: %w", key, err)
	}
	return v, nil
}

// SetSetting creates or replaces a setting.
func (t *txn) SetSetting(ctx context.Context, key, value string) error {
	if _, err := t.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("set setting %q: %w", key, err)
	}
	return nil
}

// Revision returns the change counter.
func (r *reader) Revision(ctx context.Context) (int64, error) {
	var n int64
	if err := r.queryRow(ctx, "SELECT n FROM revision WHERE id = 1").Scan(&n); err != nil {
		return 0, fmt.Errorf("read revision: %w", err)
	}
	return n, nil
}

// BumpRevision increments the change counter. The increment is one UPDATE,
// so the row lock serialises concurrent writers and none is lost.
func (t *txn) BumpRevision(ctx context.Context) (int64, error) {
	var n int64
	if err := t.queryRow(ctx, "UPDATE revision SET n = n + 1 WHERE id = 1 RETURNING n").Scan(&n); err != nil {
		return 0, fmt.Errorf("bump revision: %w", err)
	}
	return n, nil
}
