// Package sqlstore implements store.Store on SQLite (pure Go, modernc.org/sqlite)
// and PostgreSQL (pgx). Queries are written once with '?' placeholders and
// translated by a flavor; times are stored as microseconds since the Unix
// epoch (NULL for the zero time), lists as JSON text.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Store is a SQL implementation of store.Store.
type Store struct {
	reader
	// wdb runs write transactions. On SQLite it holds a single connection so
	// that writers queue in Go instead of failing with SQLITE_BUSY; reads use
	// the separate pool in reader.db (WAL lets them run alongside).
	wdb    *sql.DB
	rdb    *sql.DB
	f      *flavor
	logger *slog.Logger
	// path is the SQLite database file, the base of the lock files.
	path  string
	locks lockTable
	// pgcfg is the PostgreSQL connection configuration, for the listening
	// connection of ListenChanges; nil on SQLite.
	pgcfg *pgx.ConnConfig
	// lat are the latency histograms by kind (latency.go).
	lat [numOps]histogram
}

var _ store.Store = (*Store)(nil)

// sqliteBusyTimeout is how long a SQLite connection waits for a lock held by
// another process before failing.
const sqliteBusyTimeout = 10 * time.Second

// OpenSQLite opens (creating if needed) the SQLite database at path. It does
// not migrate; call Migrate.
func OpenSQLite(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		// Two pools on one in-memory database would see two databases.
		return nil, fmt.Errorf("open sqlite: path must name a file, got %q", path)
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open sqlite: path %q must not contain '?' or '#'", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("open sqlite: create directory: %w", err)
		}
	}
	common := url.Values{}
	common.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()))
	common.Add("_pragma", "foreign_keys(1)")

	wq := url.Values{}
	for k, v := range common {
		wq[k] = append([]string(nil), v...)
	}
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Add("_pragma", "synchronous(NORMAL)")
	// The one writer keeps 64 MiB of pages (SQLite's default is 2 MiB):
	// a provisioning run's millions of grants land all over the grants
	// table's two b-trees, and a small cache rereads a page per row.
	wq.Add("_pragma", "cache_size(-65536)")
	// A statement of many rows keeps its statement journal (to undo a
	// failed statement alone) in memory, not in a temporary file.
	wq.Add("_pragma", "temp_store(MEMORY)")
	// Checkpoint every 40 MiB of log (SQLite's default is 4 MiB): a page
	// written by many transactions in between is copied to the database
	// once.
	wq.Add("_pragma", "wal_autocheckpoint(10000)")
	// BEGIN IMMEDIATE takes the write lock up front, so a transaction never
	// fails upgrading a read lock.
	wq.Set("_txlock", "immediate")
	wdb, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if err := wdb.PingContext(ctx); err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}

	rq := common
	rq.Add("_pragma", "query_only(1)")
	rdb, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(8)
	rdb.SetMaxIdleConns(8)
	if err := rdb.PingContext(ctx); err != nil {
		_ = wdb.Close()
		_ = rdb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s := newStore(sqliteFlavor(), wdb, rdb, logger)
	s.path = path
	return s, nil
}

// OpenPostgres connects to the PostgreSQL database at url (a libpq URL or
// keyword/value string). It does not migrate; call Migrate.
func OpenPostgres(ctx context.Context, url string, logger *slog.Logger) (*Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: parse url: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(10)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open postgres %s@%s/%s: %w", cfg.User, cfg.Host, cfg.Database, err)
	}
	s := newStore(postgresFlavor(), db, db, logger)
	s.pgcfg = cfg
	return s, nil
}

func newStore(f *flavor, wdb, rdb *sql.DB, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		wdb:    wdb,
		rdb:    rdb,
		f:      f,
		logger: logger,
	}
	s.reader = reader{q: rdb, f: f, lat: &s.lat[opRead]}
	return s
}

// Close releases the locks still held (see TryLock) and closes the
// connection pools.
func (s *Store) Close() error {
	s.locks.closeAll()
	err := s.wdb.Close()
	if s.rdb != s.wdb {
		err = errors.Join(err, s.rdb.Close())
	}
	if err != nil {
		return fmt.Errorf("close %s store: %w", s.f.name, err)
	}
	return nil
}

// Tx runs fn in a write transaction, committing if fn returns nil. fn must
// not call s.Tx itself: on SQLite the single write connection is taken.
func (s *Store) Tx(ctx context.Context, fn func(tx store.Tx) error) (err error) {
	if fn == nil {
		return fmt.Errorf("transaction: %w", identity.Errorf(identity.ErrInvalid, "no transaction function"))
	}
	defer s.lat[opTx].since(time.Now())
	sqlTx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", s.f.wrap(err))
	}
	committed := false
	defer func() {
		// Also reached when fn panics; the panic then goes on.
		if !committed {
			if rerr := sqlTx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
				s.logger.WarnContext(ctx, "rollback failed", "flavor", s.f.name, "err", rerr)
			}
		}
	}()
	q := &txQuerier{tx: sqlTx, ctx: ctx}
	if !s.f.postgres {
		// pgx keeps its own per-connection cache of prepared statements;
		// preparing again here would only add a round trip.
		q.stmts = map[string]*sql.Stmt{}
	}
	if err := fn(&txn{reader: reader{q: q, f: s.f, lat: &s.lat[opWrite], fx: new(effects)}}); err != nil {
		return err
	}
	committed = true
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", s.f.wrap(err))
	}
	return nil
}

// querier is what reader needs of *sql.DB and *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// txQuerier runs a transaction's statements, preparing those it repeats:
// SQLite parses every unprepared statement anew, which dominated bulk
// writes (a provisioning batch runs the same few statements thousands of
// times). A statement is prepared at its second use, so a transaction of
// one-off statements pays no extra round trip on PostgreSQL. Statements
// close with the transaction.
//
// Every statement runs under the transaction's context, not the caller's:
// SQLite answers an interrupted write inside a transaction by rolling the
// whole transaction back, and under group commit (package state) one
// transaction carries the writes of many requests, so one client going away
// must not undo its batch-mates' work.
type txQuerier struct {
	tx    *sql.Tx
	ctx   context.Context
	mu    sync.Mutex
	stmts map[string]*sql.Stmt // a nil entry: seen once; a nil map: never prepare
}

// maxTxStmts bounds the statements one transaction keeps prepared
// (queries with IN lists differ by their length).
const maxTxStmts = 128

func (q *txQuerier) stmt(ctx context.Context, query string) *sql.Stmt {
	if q.stmts == nil {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	st, seen := q.stmts[query]
	if st != nil || len(q.stmts) >= maxTxStmts {
		return st
	}
	if !seen {
		q.stmts[query] = nil
		return nil
	}
	st, err := q.tx.PrepareContext(ctx, query)
	if err != nil {
		// The unprepared path reports the error with its context.
		return nil
	}
	q.stmts[query] = st
	return st
}

func (q *txQuerier) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	ctx := q.ctx
	if st := q.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return q.tx.ExecContext(ctx, query, args...)
}

func (q *txQuerier) QueryContext(_ context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx := q.ctx
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.tx.QueryContext(ctx, query, args...)
}

func (q *txQuerier) QueryRowContext(_ context.Context, query string, args ...any) *sql.Row {
	ctx := q.ctx
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.tx.QueryRowContext(ctx, query, args...)
}

// reader implements store.Reader on a pool or a transaction.
type reader struct {
	q querier
	f *flavor
	// lat times each statement; nil: not timed (a snapshot is timed whole).
	lat *histogram
	// fx counts a transaction's statements that wrote or failed; nil
	// outside a transaction.
	fx *effects
}

// effects is the count behind [store.Tx.Effects].
type effects struct{ n int }

// note counts a statement that may write (anything but a SELECT) or that
// failed; a missing row is an answer, not a failure.
func (e *effects) note(query string, err error) {
	if e == nil {
		return
	}
	if (err != nil && !errors.Is(err, sql.ErrNoRows)) || !isSelect(query) {
		e.n++
	}
}

func isSelect(query string) bool {
	q := strings.TrimLeft(query, " \t\n")
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT")
}

// Effects implements [store.Tx.Effects].
func (t *txn) Effects() int { return t.fx.n }

// txn implements store.Tx.
type txn struct {
	reader
	savepoints int
}

// Sub runs fn inside a savepoint: its writes are undone when it fails, and
// the transaction stays usable (on PostgreSQL a failed statement otherwise
// aborts the whole transaction).
func (t *txn) Sub(ctx context.Context, fn func() error) error {
	t.savepoints++
	name := fmt.Sprintf("sp%d", t.savepoints)
	if _, err := t.exec(ctx, "SAVEPOINT "+name); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if ferr := fn(); ferr != nil {
		if _, err := t.exec(ctx, "ROLLBACK TO SAVEPOINT "+name); err != nil {
			return fmt.Errorf("roll back to savepoint after %v: %w", ferr, err)
		}
		if _, err := t.exec(ctx, "RELEASE SAVEPOINT "+name); err != nil {
			return fmt.Errorf("release savepoint after %v: %w", ferr, err)
		}
		return &store.SubError{Err: ferr}
	}
	if _, err := t.exec(ctx, "RELEASE SAVEPOINT "+name); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

var _ store.Tx = (*txn)(nil)

func (r *reader) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := checkText(args); err != nil {
		return nil, err
	}
	defer r.lat.since(time.Now())
	res, err := r.q.ExecContext(ctx, r.f.rebind(query), args...)
	if r.fx != nil {
		r.fx.n++ // an exec always counts: it is how writes run
	}
	return res, r.f.wrap(err)
}

// query runs a query; the caller must close the result, which times it.
func (r *reader) query(ctx context.Context, query string, args ...any) (*rows, error) {
	if err := checkText(args); err != nil {
		return nil, err
	}
	start := time.Now()
	rs, err := r.q.QueryContext(ctx, r.f.rebind(query), args...)
	r.fx.note(query, err)
	if err != nil {
		r.lat.since(start)
		return nil, r.f.wrap(err)
	}
	return &rows{Rows: rs, start: start, lat: r.lat, fx: r.fx}, nil
}

func (r *reader) queryRow(ctx context.Context, query string, args ...any) scanner {
	if err := checkText(args); err != nil {
		return errRow{err}
	}
	start := time.Now()
	return wrappedRow{timedRow{row: r.q.QueryRowContext(ctx, r.f.rebind(query), args...), start: start, lat: r.lat}, r.f, r.fx, query}
}

// wrappedRow maps the errors of a row's Scan, where database/sql reports
// those of its query, like every other statement's (see flavor.wrap).
type wrappedRow struct {
	row   scanner
	f     *flavor
	fx    *effects
	query string
}

func (w wrappedRow) Scan(dest ...any) error {
	err := w.row.Scan(dest...)
	w.fx.note(w.query, err)
	return w.f.wrap(err)
}

// errBadText refuses text PostgreSQL cannot store (a NUL byte, invalid
// UTF-8: it answers with an error) and SQLite would store as given. Both
// backends refuse it here, before any statement is sent, so they behave
// alike and such text is an invalid argument, never a server error.
var errBadText = identity.Errorf(identity.ErrInvalid, "Text must be valid UTF-8 without NUL bytes")

// checkText applies errBadText to a statement's text arguments.
func checkText(args []any) error {
	for _, a := range args {
		switch v := a.(type) {
		case string:
			if !identity.ValidText(v) {
				return errBadText
			}
		case []string:
			for _, s := range v {
				if !identity.ValidText(s) {
					return errBadText
				}
			}
		}
	}
	return nil
}

// errRow is a row whose query was refused before it was sent.
type errRow struct{ err error }

func (e errRow) Scan(...any) error { return e.err }

// execAffected runs a statement and returns the number of rows it changed.
func (r *reader) execAffected(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := r.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}

// valueRows is the VALUES list of a multi-row insert: rows groups of cols
// placeholders, "(?, ?), (?, ?)".
func valueRows(rows, cols int) string {
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	return row + strings.Repeat(", "+row, rows-1)
}

// insertID runs an INSERT ... RETURNING id.
func (r *reader) insertID(ctx context.Context, query string, args ...any) (int64, error) {
	var id int64
	if err := r.queryRow(ctx, query, args...).Scan(&id); err != nil {
		return 0, r.f.wrap(err)
	}
	return id, nil
}

// scanner is a single-row result or a result's current row.
type scanner interface {
	Scan(dest ...any) error
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, r *reader, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := r.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, r.f.wrap(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, r.f.wrap(err)
	}
	return out, nil
}

// filter accumulates the conditions and arguments of a listing.
type filter struct {
	conds []string
	args  []any
	err   error
}

func (w *filter) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// addAnyOf adds "col is one of vals".
func (w *filter) addAnyOf(f *flavor, col string, vals any) {
	cond, arg, err := f.anyOf(col, vals)
	if err != nil {
		w.err = err
		return
	}
	w.add(cond, arg)
}

func (w *filter) where() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// list runs a filtered, ordered and paged listing and its total count.
func list[T any](ctx context.Context, r *reader, w *filter, selectFrom, countFrom, orderBy string, p store.Page, scan func(scanner) (T, error)) ([]T, int, error) {
	if w.err != nil {
		return nil, 0, w.err
	}
	var total int
	if err := r.queryRow(ctx, "SELECT COUNT(*) FROM "+countFrom+w.where(), w.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count: %w", err)
	}
	q := selectFrom + w.where() + " ORDER BY " + orderBy
	args := w.args
	if p.Size > 0 {
		q += " LIMIT ? OFFSET ?"
		args = append(append([]any(nil), args...), p.Size, p.Offset())
	}
	items, err := queryAll(ctx, r, scan, q, args...)
	if err != nil {
		return nil, 0, err
	}
	return items, total, nil
}

// notFound reports a missing row.
func notFound(what string, key any) error {
	return fmt.Errorf("%s %v: %w", what, key, identity.ErrNotFound)
}

// mustAffect turns "no row changed" into a not-found error.
func mustAffect(n int64, err error, what string, key any) error {
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound(what, key)
	}
	return nil
}

// rowErr maps sql.ErrNoRows to a not-found error.
func rowErr(err error, what string, key any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(what, key)
	}
	return err
}
