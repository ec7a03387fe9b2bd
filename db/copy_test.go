package db_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"newsletter/db"
	"newsletter/internal/testkit"
)

// TestCopyTablesCoverSchema: every table the migrations create is copied
// (or is the migrations' own record), so a new table cannot be left behind.
func TestCopyTablesCoverSchema(t *testing.T) {
	ctx := context.Background()
	d := testkit.OpenDB(t, nil)
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('schema_migrations', 'sqlite_sequence')`
	if d.Engine() == db.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()
			AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'`
	}
	rows, err := d.SQL().QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	want := slices.Clone(db.CopyTables)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("tables in the schema %v, CopyTables %v", got, want)
	}
}

func TestCopyRefusesNonEmptyTarget(t *testing.T) {
	ctx := context.Background()
	src := testkit.OpenDB(t, nil)
	dst := testkit.OpenDB(t, nil)
	if _, err := dst.SecretKey(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := db.Copy(ctx, src, dst)
	if !errors.Is(err, db.ErrTargetNotEmpty) {
		t.Fatalf("Copy into a target with a settings row: %v, want ErrTargetNotEmpty", err)
	}
}
