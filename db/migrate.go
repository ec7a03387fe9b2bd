package db

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Each engine has its own set, side by side: migrations/sqlite and
// migrations/postgres hold the same versions under the same names, each
// written in its engine's dialect (a test keeps the two sets in step).
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the engine's migrations/ENGINE/NNNN_name.sql in
// version order. The recorded name is the file name alone, as it was
// before the sets were split by engine.
func loadMigrations(e Engine) ([]migration, error) {
	dir := "migrations/" + e.String()
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		if !ok || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("migration %s: bad version: %w", name, err)
		}
		body, err := fs.ReadFile(migrationFS, dir+"/"+name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share a version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrate applies every migration not yet recorded, each in its own
// transaction together with its record, so a crash never half-applies one.
// Processes starting at once take turns: on SQLite the immediate
// transaction's write lock, on PostgreSQL an advisory lock held until the
// transaction ends (lockSchema), in a READ COMMITTED transaction so the
// check after the wait sees what the process before has committed.
func (d *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations(d.engine)
	if err != nil {
		return err
	}
	err = d.InLockingTx(ctx, func(tx *Tx) error {
		if err := lockSchema(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at TEXT NOT NULL
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	current, err := d.schemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].version
	}
	if current > latest {
		return fmt.Errorf("%w (schema version %d, this program knows up to %d); upgrade newsletter", ErrTooNew, current, latest)
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		err := d.InLockingTx(ctx, func(tx *Tx) error {
			if err := lockSchema(ctx, tx); err != nil {
				return err
			}
			// Another process may have applied it since we looked: we
			// hold the lock now, so ask again.
			var done int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&done); err != nil {
				return fmt.Errorf("read schema version: %w", err)
			}
			if done > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, tx.NowText())
			if err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// lockSchema makes the processes migrating one database take turns. On
// SQLite the immediate transaction already holds the write lock; on
// PostgreSQL an advisory lock is taken, freed when the transaction ends.
func lockSchema(ctx context.Context, tx *Tx) error {
	if tx.Engine() != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, lockKey("schema migrations")); err != nil {
		return fmt.Errorf("wait for other processes migrating the database: %w", err)
	}
	return nil
}

// schemaVersion reports the highest applied migration.
func (d *DB) schemaVersion(ctx context.Context) (int, error) {
	var v int
	err := d.sql.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
