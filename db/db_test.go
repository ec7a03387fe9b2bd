package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

func TestOpenMigratesAndReopens(t *testing.T) {
	ctx := context.Background()
	path := testkit.NewEmptyDBName(t)
	d, err := db.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := db.SchemaVersion(d, ctx)
	if err != nil || v1 < 1 {
		t.Fatalf("schema version = %d, %v", v1, err)
	}
	d.Close()
	d, err = db.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer d.Close()
	v2, _ := db.SchemaVersion(d, ctx)
	if v2 != v1 {
		t.Fatalf("reopen changed version %d -> %d", v1, v2)
	}
}

func TestPragmasOnEveryConnection(t *testing.T) {
	testkit.SQLiteOnly(t, "PRAGMAs are SQLite's per-connection settings")
	d := testkit.OpenDB(t, nil)
	ctx := context.Background()
	// Hold several connections at once so the pool must open new ones.
	conns := make([]interface{ Close() error }, 0, 4)
	for i := 0; i < 4; i++ {
		c, err := d.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var fk, cache int
		var mode string
		if err := c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		// The page cache is bounded per connection (resident memory).
		if err := c.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&cache); err != nil {
			t.Fatal(err)
		}
		if fk != 1 || mode != "wal" || cache != -512 {
			t.Fatalf("connection %d: foreign_keys=%d journal_mode=%s cache_size=%d", i, fk, mode, cache)
		}
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := testkit.NewEmptyDBName(t)
	d, err := db.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.SQL().ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 'x')`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	_, err = db.Open(ctx, path)
	if !errors.Is(err, db.ErrTooNew) {
		t.Fatalf("err = %v, want ErrTooNew", err)
	}
}

func TestTxClockAndRollback(t *testing.T) {
	fixed := time.Date(2026, 3, 14, 7, 0, 0, 0, time.UTC)
	d := testkit.OpenDB(t, testkit.NewClock(fixed))
	ctx := context.Background()
	boom := errors.New("boom")
	err := d.InTx(ctx, func(tx *db.Tx) error {
		if !tx.Now.Equal(fixed) {
			t.Errorf("tx.Now = %v", tx.Now)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('k', 'v')`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	var n int
	d.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM settings WHERE key = 'k'`).Scan(&n)
	if n != 0 {
		t.Fatal("rolled back row is visible")
	}
}

func TestSecretKeyStable(t *testing.T) {
	d := testkit.OpenDB(t, nil)
	ctx := context.Background()
	k1, err := d.SecretKey(ctx)
	if err != nil || len(k1) != 32 {
		t.Fatalf("key %x, %v", k1, err)
	}
	k2, _ := d.SecretKey(ctx)
	if string(k1) != string(k2) {
		t.Fatal("secret key changed between calls")
	}
}

func TestConsentEventsAppendOnly(t *testing.T) {
	d := testkit.OpenDB(t, nil)
	ctx := context.Background()
	// The subscribers package writes the rows; the trigger guarding them
	// is a migration's, so db tests it.
	testkit.AddSubscribers(t, testkit.NewStore(t, d), "a", 1, subscribers.StatusPending)
	if _, err := d.SQL().ExecContext(ctx, `UPDATE consent_events SET ip = 'x'`); err == nil {
		t.Fatal("update of consent event succeeded")
	}
}

func TestTimeFormatRoundTrip(t *testing.T) {
	in := time.Date(2026, 11, 28, 10, 1, 2, 345e6, time.FixedZone("CET", 3600))
	out, err := db.ParseTime(db.FormatTime(in))
	if err != nil || !out.Equal(in) {
		t.Fatalf("%v != %v (%v)", out, in, err)
	}
	if z, err := db.ParseTime(""); err != nil || !z.IsZero() {
		t.Fatal("empty string should be zero time")
	}
}

// Several processes (serve, a cron send) may open a fresh or upgraded
// database at the same moment: each migration must still apply once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	path := testkit.NewEmptyDBName(t)
	errs := make(chan error, 6)
	for i := 0; i < 6; i++ {
		go func() {
			d, err := db.Open(context.Background(), path)
			if err == nil {
				d.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 6; i++ {
		if err := <-errs; err != nil {
			t.Errorf("open %d: %v", i, err)
		}
	}
}

func TestCheckpointReportsBusyReader(t *testing.T) {
	testkit.SQLiteOnly(t, "the write-ahead log checkpointed is the SQLite file's")
	d := testkit.OpenDB(t, nil)
	ctx := context.Background()
	if _, err := d.SQL().ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('a', 'b')`); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.Checkpoint(ctx); err != nil || !ok {
		t.Fatalf("idle checkpoint: %v %v", ok, err)
	}
	// A reader in another connection pins the log.
	other, err := db.Open(ctx, d.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := d.SQL().ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('c', 'd')`); err != nil {
		t.Fatal(err)
	}
	// An unfinished query holds its read snapshot (BEGIN would take the
	// write lock here: the DSN asks for immediate transactions).
	rows, err := other.SQL().QueryContext(ctx, `SELECT key FROM settings`)
	if err != nil {
		t.Fatal(err)
	}
	rows.Next()
	if _, err := d.SQL().ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('e', 'f')`); err != nil {
		t.Fatal(err)
	}
	ok, err := d.Checkpoint(ctx)
	rows.Close()
	if err != nil || ok {
		t.Fatalf("checkpoint with a reader: complete=%v err=%v, want incomplete", ok, err)
	}
}
