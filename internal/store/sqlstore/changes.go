package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// changeJSON is the stored form of a [store.Change]: short keys, as a
// group commit may log thousands of changes in one entry.
type changeJSON struct {
	Kind        store.ChangeKind     `json:"k"`
	ID          int64                `json:"id,omitempty"`
	SubjectKind identity.SubjectKind `json:"sk,omitempty"`
	SubjectID   int64                `json:"si,omitempty"`
}

// LogChanges records the change-log entry of revision rev.
func (t *txn) LogChanges(ctx context.Context, rev int64, at time.Time, changes []store.Change) error {
	enc := make([]changeJSON, len(changes))
	for i, c := range changes {
		enc[i] = changeJSON{Kind: c.Kind, ID: c.ID, SubjectKind: c.Subject.Kind, SubjectID: c.Subject.ID}
	}
	b, err := json.Marshal(enc)
	if err != nil {
		return fmt.Errorf("log changes of revision %d: %w", rev, err)
	}
	if _, err := t.exec(ctx, "INSERT INTO change_log (revision, at, changes) VALUES (?, ?, ?)", rev, micros(orNow(at, now())), string(b)); err != nil {
		return fmt.Errorf("log changes of revision %d: %w", rev, err)
	}
	if t.f.postgres {
		// Delivered to the listeners when the transaction commits. The
		// channel is database-wide: the payload names the schema, so
		// deployments in other schemas of the database ignore it.
		if _, err := t.exec(ctx, "SELECT pg_notify('"+changeChannel+"', current_schema() || ' ' || ?)", strconv.FormatInt(rev, 10)); err != nil {
			return fmt.Errorf("notify changes of revision %d: %w", rev, err)
		}
	}
	return nil
}

// changeChannel is the PostgreSQL notification channel of the change log.
const changeChannel = "gatehouse_changes"

// ListenChanges listens on a connection of its own for the notifications
// LogChanges sends on PostgreSQL; SQLite has none (errors.ErrUnsupported).
func (s *Store) ListenChanges(ctx context.Context, wake func()) error {
	if s.pgcfg == nil {
		return fmt.Errorf("listen for changes on %s: %w", s.f.name, errors.ErrUnsupported)
	}
	conn, err := pgx.ConnectConfig(ctx, s.pgcfg.Copy())
	if err != nil {
		return fmt.Errorf("listen for changes: connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	var schema string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return fmt.Errorf("listen for changes: read the schema: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+changeChannel); err != nil {
		return fmt.Errorf("listen for changes: %w", err)
	}
	// Entries committed before LISTEN took effect sent nothing here: one
	// wake-up makes the caller look.
	wake()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("listen for changes: %w", err)
		}
		if strings.HasPrefix(n.Payload, schema+" ") {
			wake()
		}
	}
}

// PruneChanges deletes the entries of revisions up to upTo.
func (t *txn) PruneChanges(ctx context.Context, upTo int64) (int, error) {
	n, err := t.execAffected(ctx, "DELETE FROM change_log WHERE revision <= ?", upTo)
	if err != nil {
		return 0, fmt.Errorf("prune change log: %w", err)
	}
	return int(n), nil
}

// ListChanges returns the entries after revision after, ascending.
func (r *reader) ListChanges(ctx context.Context, after int64, limit int) ([]store.ChangeEntry, error) {
	q := "SELECT revision, at, changes FROM change_log WHERE revision > ? ORDER BY revision"
	args := []any{after}
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	out, err := queryAll(ctx, r, scanChangeEntry, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list changes after revision %d: %w", after, err)
	}
	return out, nil
}

func scanChangeEntry(sc scanner) (store.ChangeEntry, error) {
	var (
		e   store.ChangeEntry
		at  sql.NullInt64
		raw string
	)
	if err := sc.Scan(&e.Revision, &at, &raw); err != nil {
		return e, err
	}
	e.At = fromMicros(at)
	var dec []changeJSON
	if err := json.Unmarshal([]byte(raw), &dec); err != nil {
		return e, fmt.Errorf("revision %d: decode changes: %w", e.Revision, err)
	}
	e.Changes = make([]store.Change, len(dec))
	for i, c := range dec {
		e.Changes[i] = store.Change{Kind: c.Kind, ID: c.ID, Subject: identity.Subject{Kind: c.SubjectKind, ID: c.SubjectID}}
	}
	return e, nil
}
