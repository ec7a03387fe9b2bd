package testkit

import (
	"context"
	"path/filepath"
	"testing"

	"newsletter/db"
	"newsletter/subscribers"
)

// OpenDB opens a fresh, migrated database, closed when the test ends: on
// the engine TestEngine names, a file in tb.TempDir() (never :memory:: each
// pooled connection would get its own empty database) or a new database
// on the test PostgreSQL cluster. clock, if not nil, is the database's
// clock; nil keeps the wall clock (tests that wait for real retries).
func OpenDB(tb testing.TB, clock *Clock) *db.DB {
	tb.Helper()
	return OpenDBFile(tb, NewDBName(tb), clock)
}

// NewDBName is what --db names for a fresh database on TestEngine: a file
// in tb.TempDir() (created when opened), or the URL of a new, migrated
// database on the test PostgreSQL cluster (dropped when the test ends).
func NewDBName(tb testing.TB) string {
	tb.Helper()
	if TestEngine() == db.Postgres {
		return PostgresURL(tb, false)
	}
	return filepath.Join(tb.TempDir(), "test.db")
}

// NewEmptyDBName is NewDBName for a database without tables: a file that
// does not exist yet, or an empty PostgreSQL database. Tests of the
// migrations start from it.
func NewEmptyDBName(tb testing.TB) string {
	tb.Helper()
	if TestEngine() == db.Postgres {
		return PostgresURL(tb, true)
	}
	return filepath.Join(tb.TempDir(), "test.db")
}

// OpenDBFile opens (creating and migrating if needed) the database at path
// (a file, or a PostgreSQL URL), closed when the test ends; closing it
// earlier is fine. The command-line tests use it on the file a
// `newsletter` run works on.
func OpenDBFile(tb testing.TB, path string, clock *Clock) *db.DB {
	tb.Helper()
	var opts []db.Option
	if clock != nil {
		opts = append(opts, db.WithClock(clock.Now))
	}
	d, err := db.Open(context.Background(), path, opts...)
	if err != nil {
		tb.Fatalf("open database: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// NewStore is the subscribers store on d, keyed with d's installation
// secret as the program keys it.
func NewStore(tb testing.TB, d *db.DB) *subscribers.Store {
	tb.Helper()
	key, err := d.SecretKey(context.Background())
	if err != nil {
		tb.Fatalf("secret key: %v", err)
	}
	return subscribers.NewStore(d, key)
}
