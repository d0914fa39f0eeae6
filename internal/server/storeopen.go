package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// StoreLocation names the configured store for people: "SQLite at
// data/gatehouse.db" or "PostgreSQL at db.example:5432/gatehouse" — never
// the URL's credentials.
func StoreLocation(cfg Config) string {
	if cfg.DatabaseURL == "" {
		return "SQLite at " + cfg.SQLitePath()
	}
	pc, err := pgx.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return "PostgreSQL"
	}
	return fmt.Sprintf("PostgreSQL at %s/%s", net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port))), pc.Database)
}

// OpenStore opens the configured store, creating it when missing:
// PostgreSQL when DatabaseURL is set, else SQLite under DataDir (whose
// directory is checked first, so a permission problem is reported in
// words, not as SQLite's code). It does not migrate.
func OpenStore(ctx context.Context, cfg Config, log *slog.Logger) (store.Store, error) {
	if cfg.DatabaseURL != "" {
		st, err := sqlstore.OpenPostgres(ctx, cfg.DatabaseURL, log)
		if err != nil {
			return nil, fmt.Errorf("cannot open the store (%s, --database-url or GATEHOUSE_DATABASE_URL): %w", StoreLocation(cfg), err)
		}
		return st, nil
	}
	if err := checkDataDir(cfg); err != nil {
		return nil, err
	}
	st, err := sqlstore.OpenSQLite(ctx, cfg.SQLitePath(), log)
	if err != nil {
		return nil, fmt.Errorf("cannot open the database %s (--data-dir or GATEHOUSE_DATA_DIR): %w", cfg.SQLitePath(), err)
	}
	return st, nil
}

// ErrNoStore is returned by [OpenExistingStore] when the configured store
// does not exist yet and creating it was not asked for.
var ErrNoStore = errors.New("no Gatehouse store")

// noStoreError is ErrNoStore with its whole message.
type noStoreError struct{ msg string }

func (e noStoreError) Error() string        { return e.msg }
func (e noStoreError) Is(target error) bool { return target == ErrNoStore }

// OpenExistingStore opens the configured store like [OpenStore], but only
// when it already holds Gatehouse's schema, unless create: a command
// pointed at the wrong directory or database must not quietly start a new,
// empty store. isNew reports a store without a schema (created now).
func OpenExistingStore(ctx context.Context, cfg Config, log *slog.Logger, create bool) (st store.Store, isNew bool, err error) {
	if cfg.DatabaseURL == "" && !create {
		if _, err := os.Stat(cfg.SQLitePath()); errors.Is(err, os.ErrNotExist) {
			return nil, false, noStore(cfg)
		}
	}
	st, err = OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, false, err
	}
	hs, ok := st.(interface {
		HasSchema(context.Context) (bool, error)
	})
	if !ok {
		return st, false, nil
	}
	has, err := hs.HasSchema(ctx)
	if err != nil {
		st.Close()
		return nil, false, fmt.Errorf("%s: %w", StoreLocation(cfg), err)
	}
	if !has && !create {
		st.Close()
		return nil, false, noStore(cfg)
	}
	return st, !has, nil
}

func noStore(cfg Config) error {
	where := "--data-dir or GATEHOUSE_DATA_DIR"
	if cfg.DatabaseURL != "" {
		where = "--database-url or GATEHOUSE_DATABASE_URL"
	}
	return noStoreError{fmt.Sprintf("%s holds no Gatehouse store: point %s at the existing one, or pass --create to create a new, empty store", StoreLocation(cfg), where)}
}

// checkDataDir makes sure SQLite can create and write its files in the
// data directory (it needs the directory writable for its -wal and -shm
// files, and the database file itself writable), and says what to fix
// otherwise.
func checkDataDir(cfg Config) error {
	dir := cfg.DataDir
	const fix = "(--data-dir or GATEHOUSE_DATA_DIR)"
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o750); err != nil {
			if isPermission(err) {
				return fmt.Errorf("cannot create the data directory %s %s: this user (uid %d) may not write its parent; create it with the right owner, or choose another directory", dir, fix, os.Getuid())
			}
			return fmt.Errorf("cannot create the data directory %s %s: %w", dir, fix, err)
		}
		return nil
	case err != nil:
		if isPermission(err) {
			return fmt.Errorf("the data directory %s %s is not reachable by this user (uid %d): fix the permissions of its parents, or choose another directory", dir, fix, os.Getuid())
		}
		return fmt.Errorf("the data directory %s %s: %w", dir, fix, err)
	case !fi.IsDir():
		return fmt.Errorf("the data directory %s %s is a file, not a directory: choose a directory", dir, fix)
	}
	probe, err := os.CreateTemp(dir, ".gatehouse-write-check-*")
	if err != nil {
		if isPermission(err) {
			return fmt.Errorf("the data directory %s %s is not writable by this user (uid %d): SQLite writes its journal beside the database; fix its owner or permissions (chown, chmod u+w), or choose another directory", dir, fix, os.Getuid())
		}
		return fmt.Errorf("the data directory %s %s is not writable: %w", dir, fix, err)
	}
	probe.Close()
	_ = os.Remove(probe.Name())
	db := cfg.SQLitePath()
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			if isPermission(err) {
				return fmt.Errorf("the database file %s is read-only for this user (uid %d): Gatehouse must write it; fix its owner or permissions (chown, chmod u+w %s)", p, os.Getuid(), filepath.Base(p))
			}
			return fmt.Errorf("the database file %s: %w", p, err)
		}
		f.Close()
	}
	return nil
}

// isPermission covers a denied permission and a read-only file system.
func isPermission(err error) bool {
	return errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS)
}

// checkListenAddr refuses an address net.Listen could never take, before
// anything is opened or written.
func checkListenAddr(addr string) error {
	const what = "listen address %q (--addr, GATEHOUSE_ADDR): "
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf(what+"want host:port, such as :9000 (every interface) or 127.0.0.1:9000", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf(what+"the port %q is not a number from 1 to 65535", addr, port)
	}
	if strings.ContainsAny(host, " /\\?#@") {
		return fmt.Errorf(what+"%q is not a host name or IP address", addr, host)
	}
	return nil
}

// listen binds addr and says in words why it cannot.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	_, port, _ := net.SplitHostPort(addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("cannot listen on %s (--addr, GATEHOUSE_ADDR): the address is already in use — another process (perhaps another Gatehouse) listens on port %s; stop it, or choose another port such as --addr :%s", addr, port, otherPort(port))
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("cannot listen on %s (--addr, GATEHOUSE_ADDR): this user may not bind port %s (ports below 1024 need privileges); choose a port above 1023, such as --addr :9000", addr, port)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return nil, fmt.Errorf("cannot listen on %s (--addr, GATEHOUSE_ADDR): no network interface of this machine has that address; use one it has, or :%s for every interface", addr, port)
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return nil, fmt.Errorf("cannot listen on %s (--addr, GATEHOUSE_ADDR): the host name %q does not resolve; use an IP address, or :%s for every interface", addr, dns.Name, port)
	}
	return nil, fmt.Errorf("cannot listen on %s (--addr, GATEHOUSE_ADDR): %w", addr, err)
}

func otherPort(port string) string {
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n >= 65535 {
		return "9001"
	}
	return strconv.Itoa(n + 1)
}

// DisplayURL is a URL a person can open for the listener at addr: an
// unspecified host (every interface: "[::]", "0.0.0.0") becomes localhost.
func DisplayURL(addr string, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return scheme + "://" + addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
