package testkit

import (
	"context"
	"path/filepath"
	"testing"

	"newsletter/db"
	"newsletter/subscribers"
)

// OpenDB opens a fresh, migrated database in a file of tb.TempDir(), closed
// when the test ends. Never :memory:: each pooled connection would get its
// own empty database. clock, if not nil, is the database's clock;
// nil keeps the wall clock (tests that wait for real retries).
func OpenDB(tb testing.TB, clock *Clock) *db.DB {
	tb.Helper()
	return OpenDBFile(tb, filepath.Join(tb.TempDir(), "test.db"), clock)
}

// OpenDBFile opens (creating and migrating if needed) the database at path,
// closed when the test ends; closing it earlier is fine. The command-line
// tests use it on the file a `newsletter` run works on.
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
