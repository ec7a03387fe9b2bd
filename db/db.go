package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/mattn/go-sqlite3" // the SQLite driver; DESIGN.md requires it
)

// TimeFormat is how every timestamp is stored: fixed width UTC, so text order
// is time order and SQL comparisons on it are correct.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// FormatTime renders t in TimeFormat (UTC).
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// ParseTime reads a value written by FormatTime. The empty string is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(TimeFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t, nil
}

// DB is the application's database handle.
type DB struct {
	sql    *sql.DB
	engine Engine
	path   string // the SQLite file; empty on PostgreSQL
	// writeSlot lets this process's writers queue here instead of in
	// SQLite's busy handler, which sleeps in growing steps and turns a
	// burst of writes into long tail latencies. Other processes (a `send`
	// beside `serve`) still meet at SQLite's lock and busy timeout. A
	// channel rather than a mutex, so a cancelled request stops waiting.
	writeSlot chan struct{}
	// Now is the clock; tests replace it to make expiry and schedules
	// testable without sleeping.
	Now func() time.Time
}

// Option configures Open.
type Option func(*DB)

// WithClock sets the clock used for transaction timestamps.
func WithClock(now func() time.Time) Option { return func(d *DB) { d.Now = now } }

// ErrTooNew is returned when the file was written by a newer program version.
var ErrTooNew = errors.New("database was written by a newer version of newsletter")

// busyTimeout is how long a statement waits for another connection's lock
// before it fails with "database is locked".
const busyTimeout = 10 * time.Second

// Open opens the database dsnOrPath names and migrates it: a
// postgres:// or postgresql:// URL is a PostgreSQL database (which must
// exist; its tables are created), anything else the path of a SQLite file
// (created if needed, with PrivateMode).
func Open(ctx context.Context, dsnOrPath string, opts ...Option) (*DB, error) {
	if dsnOrPath == "" {
		return nil, errors.New("database path is empty")
	}
	if EngineOf(dsnOrPath) == Postgres {
		sqlDB, err := openPostgres(ctx, dsnOrPath)
		if err != nil {
			return nil, err
		}
		return newDB(ctx, sqlDB, Postgres, "", opts)
	}
	return openSQLite(ctx, dsnOrPath, opts)
}

// openSQLite opens the SQLite file at path.
// The per-connection settings live in the DSN so every pooled connection
// gets them; the journal mode is the file's own and is set once (useWAL).
func openSQLite(ctx context.Context, path string, opts []Option) (*DB, error) {
	// A missing folder is made, private like the file, when its parent
	// exists (DESIGN: "the folder 0700 when created"); a mistyped parent
	// is still an error, not a tree of new folders.
	if dir := filepath.Dir(path); dir != "" {
		if err := os.Mkdir(dir, PrivateFolderMode); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("database folder %s: %w", dir, err)
		}
	}
	limitMallocArenas()
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("create database %s: %w", path, err)
	}
	q := url.Values{}
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_txlock", "immediate")
	q.Set("_synchronous", "NORMAL")
	// SQLite's page cache per connection: 512 KiB instead of 2 MB. The
	// pages a claim, a mark or a subscribe touches fit many times over, and
	// big scans (the snapshot, the summary) read through the OS's page
	// cache just as fast (a 100 000 campaign: same snapshot time and rate);
	// at 2 MB each pooled connection kept up to 2 MB resident.
	q.Set("_cache_size", "-512")
	// Deleted rows are overwritten with zeros, so an erased subscriber
	// (GDPR Art. 17) does not linger in free pages of the file.
	q.Set("_secure_delete", "on")
	sqlDB, err := sql.Open("sqlite3", sqliteDSN(path, q))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := useWAL(ctx, sqlDB); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return newDB(ctx, sqlDB, SQLite, path, opts)
}

// sqliteDSN is the file URI of path with the settings q.
func sqliteDSN(path string, q url.Values) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// newDB wraps an open pool of either engine and migrates it.
func newDB(ctx context.Context, sqlDB *sql.DB, e Engine, path string, opts []Option) (*DB, error) {
	d := &DB{sql: sqlDB, engine: e, path: path, Now: time.Now, writeSlot: make(chan struct{}, 1)}
	for _, o := range opts {
		o(d)
	}
	if err := d.migrate(ctx); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return d, nil
}

// PrivateMode is the mode of a database file this program creates: it holds
// every address, the consent evidence and the key that signs unsubscribe
// tokens, so only its owner may read it.
const PrivateMode os.FileMode = 0o600

// PrivateFolderMode is the mode of a database folder this program creates.
const PrivateFolderMode os.FileMode = 0o700

// createPrivate creates path as an empty file with PrivateMode unless it
// exists (an empty file is an empty SQLite database). SQLite would create it
// with 0644 less the umask; it gives the -wal and -shm files it creates
// later the mode of the database file, so this covers all three. Setting
// the process umask instead would race with every other goroutine creating
// a file.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, PrivateMode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// useWAL switches the file to write-ahead logging. The mode is stored in
// the file, so every connection opened afterwards uses it. It is not a DSN
// setting because SQLite makes the switch without its busy handler: the
// switch upgrades a read lock to a write lock, and waiting there could
// deadlock, so two processes opening a new file at the same moment made one
// of them fail with "database is locked" at once. Here the switch is simply
// tried again until the busy timeout has passed.
func useWAL(ctx context.Context, sqlDB *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var mode string
		err := sqlDB.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		if err == nil {
			if mode != "wal" {
				return fmt.Errorf("journal mode is %q, not wal", mode)
			}
			return nil
		}
		var se sqlite3.Error
		if !errors.As(err, &se) || se.Code != sqlite3.ErrBusy || time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("switch to write-ahead logging: %w", err)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("switch to write-ahead logging: %w", ctx.Err())
		}
	}
}

// Checkpoint copies the write-ahead log into the database file and empties
// it, so deleted data leaves the WAL too. It reports false when another
// connection (say a running `serve`) kept part of the log in use; those
// frames go at a later checkpoint. It waits at most about two seconds.
// On PostgreSQL it does nothing and reports true: the server recycles its
// own log, and erased rows leave the table files with its vacuum.
func (d *DB) Checkpoint(ctx context.Context) (complete bool, err error) {
	if d.engine == Postgres {
		return true, nil
	}
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("checkpoint: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = 2000`); err != nil {
		return false, fmt.Errorf("checkpoint: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA busy_timeout = %d`, busyTimeout.Milliseconds()))
	var busy, logFrames, done int
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
		return false, fmt.Errorf("checkpoint: %w", err)
	}
	return busy == 0 && done >= logFrames, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.sql.Close() }

// Path is the file the database lives in; empty on PostgreSQL.
func (d *DB) Path() string { return d.path }

// Engine is the database engine: SQLite or Postgres.
func (d *DB) Engine() Engine { return d.engine }

// SQL exposes the pool for reads that need no transaction.
func (d *DB) SQL() *sql.DB { return d.sql }

// Ping reports whether the database answers (used by /healthz).
func (d *DB) Ping(ctx context.Context) error {
	var one int
	return d.sql.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

// Tx is a write transaction with the time read once at its start, so every
// row written in it carries the same timestamp.
type Tx struct {
	*sql.Tx
	Now    time.Time
	engine Engine
}

// NowText is tx.Now in TimeFormat.
func (tx *Tx) NowText() string { return FormatTime(tx.Now) }

// Engine is the engine the transaction runs on.
func (tx *Tx) Engine() Engine { return tx.engine }

// InTx runs fn in a write transaction and commits when fn returns nil. fn
// must not call InTx itself.
//
// On SQLite the transaction is immediate: it takes the write lock at BEGIN,
// which avoids SQLITE_BUSY upgrades half-way through, and so every write
// transaction runs alone. On PostgreSQL it is SERIALIZABLE, which gives
// the stores the same guarantee (the outcome is as if the transactions ran
// one after another) while they run side by side; one the server aborts
// because of a concurrent one (serialization failure, deadlock) runs again,
// so fn may run more than once there: it must do nothing but its work in
// tx and set its results afresh on each run.
func (d *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	return d.inTx(ctx, sql.LevelSerializable, fn)
}

// InLockingTx is InTx for a transaction whose statements lock the rows
// they take themselves (claims with FOR UPDATE SKIP LOCKED): READ COMMITTED
// on PostgreSQL, so concurrent claimers pass each other's rows by instead
// of failing serialization; the same immediate transaction as InTx on
// SQLite.
func (d *DB) InLockingTx(ctx context.Context, fn func(tx *Tx) error) error {
	return d.inTx(ctx, sql.LevelReadCommitted, fn)
}

// pgAttempts bounds how often a PostgreSQL transaction runs again after
// losing to a concurrent one.
const pgAttempts = 10

func (d *DB) inTx(ctx context.Context, level sql.IsolationLevel, fn func(tx *Tx) error) error {
	if d.engine == SQLite {
		select {
		case d.writeSlot <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("wait for the database: %w", ctx.Err())
		}
		defer func() { <-d.writeSlot }()
		return d.runTx(ctx, nil, fn)
	}
	for attempt := 1; ; attempt++ {
		err := d.runTx(ctx, &sql.TxOptions{Isolation: level}, fn)
		if err == nil || !pgRetryable(err) || attempt == pgAttempts {
			return err
		}
		// A short random pause, growing, so the transactions that just
		// collided do not collide again in step.
		pause := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return err
		}
	}
}

// runTx runs fn in one transaction.
func (d *DB) runTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *Tx) error) error {
	sqlTx, err := d.sql.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	tx := &Tx{Tx: sqlTx, Now: d.Now().UTC(), engine: d.engine}
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
