package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// CopyTables is every table that holds the list, in an order that inserts
// each row after the rows it references. The copier walks it verbatim and
// interprets nothing, which is why it lives here beside the migrations
// instead of in each owner: a table added to a migration must be added
// here too (TestCopyTablesCoverSchema fails otherwise). The owner of each
// table is named so the list stays honest about whose rows it moves.
// schema_migrations is not copied: db.Open migrates the target itself.
var CopyTables = []string{
	"settings",         // db: the installation secret (token key)
	"subscribers",      // subscribers
	"consent_texts",    // subscribers
	"consent_events",   // subscribers (append-only: updates refused, inserts fine)
	"suppressions",     // subscribers
	"confirm_requests", // subscribers
	"tokens",           // subscribers (references confirm_requests)
	"outbox",           // db
	"campaigns",        // mailer (with the stored column sources)
	"deliveries",       // mailer
	"holds",            // mailer
	"proofs",           // mailer
	"bounce_events",    // subscribers (references campaigns)
	"intake_review",    // mailer
}

// identityTables are the tables whose id is generated and never reused:
// unsubscribe tokens, VERP tags and Message-IDs are derived from them.
var identityTables = map[string]bool{
	"subscribers": true, "consent_texts": true, "consent_events": true, "confirm_requests": true,
	"outbox": true, "campaigns": true, "deliveries": true, "bounce_events": true, "intake_review": true,
}

// ErrTargetNotEmpty is returned by Copy when the target already holds rows.
var ErrTargetNotEmpty = errors.New("target database is not empty")

// TableCount is the number of rows Copy moved into one table.
type TableCount struct {
	Table string
	Rows  int64
}

// Copy copies every row of CopyTables from src into dst, which must be
// empty (migrated, no rows), in one transaction on dst: either the whole
// list arrives or nothing does. Ids are copied as they are, and each
// table's id generator in dst is moved to where src's stood (not just past
// the highest id: erased subscribers' ids stay unused), so old links and
// Message-IDs keep meaning what they meant. Values are converted to the
// target's column types (BLOB/BYTEA stay bytes, TEXT stays text). src is
// read in one read transaction, a consistent snapshot also while serve runs.
func Copy(ctx context.Context, src, dst *DB) ([]TableCount, error) {
	srcTx, err := src.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: readIsolation(src.engine)})
	if err != nil {
		return nil, fmt.Errorf("read source: %w", err)
	}
	defer func() { _ = srcTx.Rollback() }()

	var counts []TableCount
	err = dst.InTx(ctx, func(tx *Tx) error {
		counts = counts[:0]
		for _, table := range CopyTables {
			var n int64
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
				return fmt.Errorf("count %s in target: %w", table, err)
			}
			if n > 0 {
				return fmt.Errorf("%w: %s has %d rows", ErrTargetNotEmpty, table, n)
			}
		}
		for _, table := range CopyTables {
			n, err := copyTable(ctx, srcTx, tx, table)
			if err != nil {
				return fmt.Errorf("copy %s: %w", table, err)
			}
			counts = append(counts, TableCount{Table: table, Rows: n})
			if identityTables[table] {
				if err := moveIdentity(ctx, srcTx, src.engine, tx, table); err != nil {
					return fmt.Errorf("move the id generator of %s: %w", table, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

// readIsolation is a snapshot for the whole read: REPEATABLE READ on
// PostgreSQL; SQLite's read transactions are snapshots already.
func readIsolation(e Engine) sql.IsolationLevel {
	if e == Postgres {
		return sql.LevelRepeatableRead
	}
	return sql.LevelDefault
}

// column is one column of a target table with the kind of value it takes.
type column struct {
	name  string
	bytes bool // BLOB on SQLite, BYTEA on PostgreSQL
	text  bool
}

// targetColumns lists table's columns in dst, in their declared order.
func targetColumns(ctx context.Context, tx *Tx, table string) ([]column, error) {
	var rows *sql.Rows
	var err error
	if tx.engine == Postgres {
		rows, err = tx.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`, table)
	} else {
		rows, err = tx.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?) ORDER BY cid`, table)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []column
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		typ = strings.ToLower(typ)
		cols = append(cols, column{name: name, bytes: typ == "blob" || typ == "bytea", text: typ == "text"})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("no table %s in the target", table)
	}
	return cols, nil
}

func copyTable(ctx context.Context, src *sql.Tx, dst *Tx, table string) (int64, error) {
	cols, err := targetColumns(ctx, dst, table)
	if err != nil {
		return 0, err
	}
	names := make([]string, len(cols))
	marks := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
		marks[i] = "?"
	}
	list := strings.Join(names, ", ")
	order := "id"
	if !identityTables[table] {
		order = "1"
	}
	rows, err := src.QueryContext(ctx, `SELECT `+list+` FROM `+table+` ORDER BY `+order)
	if err != nil {
		return 0, fmt.Errorf("read source: %w", err)
	}
	defer rows.Close()
	ins, err := dst.PrepareContext(ctx, `INSERT INTO `+table+` (`+list+`) VALUES (`+strings.Join(marks, ", ")+`)`)
	if err != nil {
		return 0, err
	}
	defer ins.Close()

	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, fmt.Errorf("read source: %w", err)
		}
		for i, c := range cols {
			vals[i] = convertValue(vals[i], c)
		}
		if _, err := ins.ExecContext(ctx, vals...); err != nil {
			return n, fmt.Errorf("insert row %d: %w", n+1, err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read source: %w", err)
	}
	return n, nil
}

// convertValue maps a value read from one engine to what the other's column
// takes: bytes for BLOB/BYTEA, a string for TEXT; numbers and NULL pass.
// (The schema has no boolean columns: flags are TEXT states or NULL times.)
func convertValue(v any, c column) any {
	switch x := v.(type) {
	case string:
		if c.bytes {
			return []byte(x)
		}
	case []byte:
		if c.text {
			return string(x)
		}
		// database/sql may reuse the buffer on the next row.
		return append([]byte(nil), x...)
	}
	return v
}

// moveIdentity sets dst's id generator for table to where src's stood.
func moveIdentity(ctx context.Context, src *sql.Tx, srcEngine Engine, dst *Tx, table string) error {
	var high int64
	if err := src.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM `+table).Scan(&high); err != nil {
		return err
	}
	// The generator may stand past the highest id left (rows erased since).
	var gen int64
	if srcEngine == Postgres {
		var seq string
		if err := src.QueryRowContext(ctx, `SELECT pg_get_serial_sequence(?, 'id')`, table).Scan(&seq); err != nil {
			return err
		}
		var called bool
		// seq comes from the server, already quoted as an identifier.
		if err := src.QueryRowContext(ctx, `SELECT last_value, is_called FROM `+seq).Scan(&gen, &called); err != nil {
			return err
		}
		if !called {
			gen = 0
		}
	} else {
		err := src.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = ?`, table).Scan(&gen)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	high = max(high, gen)
	if high == 0 {
		return nil
	}
	if dst.engine == Postgres {
		_, err := dst.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence(?, 'id'), ?)`, table, high)
		return err
	}
	// SQLite keeps AUTOINCREMENT's high-water mark in sqlite_sequence (the
	// inserts set it to the highest copied id); tables without
	// AUTOINCREMENT have none, and their ids are not promised to last.
	var schema string
	if err := dst.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&schema); err != nil {
		return err
	}
	if !strings.Contains(strings.ToUpper(schema), "AUTOINCREMENT") {
		return nil
	}
	res, err := dst.ExecContext(ctx, `UPDATE sqlite_sequence SET seq = ? WHERE name = ?`, high, table)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		_, err = dst.ExecContext(ctx, `INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)`, table, high)
	}
	return err
}
