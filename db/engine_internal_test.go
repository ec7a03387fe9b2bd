package db

import (
	"strings"
	"testing"
)

func TestRebindPlaceholders(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE b = ? AND c = ?`, `SELECT a FROM t WHERE b = $1 AND c = $2`},
		{`UPDATE d SET a = COALESCE(a, ?1), b = ?1, c = ?2 WHERE id = ?3`, `UPDATE d SET a = COALESCE(a, $1), b = $1, c = $2 WHERE id = $3`},
		{`SELECT ?2, ?`, `SELECT $2, $3`},
		{`SELECT '?', "?", ? -- what?` + "\n" + `, ? /* ? */`, `SELECT '?', "?", $1 -- what?` + "\n" + `, $2 /* ? */`},
		{`SELECT 'it''s ?', ?`, `SELECT 'it''s ?', $1`},
		{"-- the subscriber's name\nSELECT ?", "-- the subscriber's name\nSELECT $1"},
		{`CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN RAISE 'why?'; END; $$; SELECT ?`, `CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN RAISE 'why?'; END; $$; SELECT $1`},
		{`SELECT $body$ ? $body$, ?`, `SELECT $body$ ? $body$, $1`},
		{`SELECT 'unterminated ?`, `SELECT 'unterminated ?`},
	} {
		if got := rebindPlaceholders(tc.in); got != tc.want {
			t.Errorf("rebind(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestRebinderCaches(t *testing.T) {
	r := newRebinder()
	q := `SELECT ? FROM t`
	if a, b := r.rebind(q), r.rebind(q); a != b || a != `SELECT $1 FROM t` || len(r.cache) != 1 {
		t.Fatalf("rebind %q %q, cache %d", a, b, len(r.cache))
	}
}

// The two engines' migrations must stay in step: the same versions under
// the same names, so a database can move between engines (copy-db) and
// both report the same schema version.
func TestMigrationSetsInStep(t *testing.T) {
	lite, err := loadMigrations(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := loadMigrations(Postgres)
	if err != nil {
		t.Fatal(err)
	}
	names := func(ms []migration) string {
		var s []string
		for _, m := range ms {
			s = append(s, m.name)
		}
		return strings.Join(s, " ")
	}
	if names(lite) != names(pg) {
		t.Fatalf("migrations differ:\nsqlite   %s\npostgres %s", names(lite), names(pg))
	}
	if len(lite) == 0 {
		t.Fatal("no migrations")
	}
}

func TestEngineOf(t *testing.T) {
	for in, want := range map[string]Engine{
		"newsletter.db":                       SQLite,
		"/var/lib/newsletter/newsletter.db":   SQLite,
		"postgres://news@db.example.org/news": Postgres,
		"postgresql://db.example.org/news":    Postgres,
		"file:postgres.db":                    SQLite,
	} {
		if got := EngineOf(in); got != want {
			t.Errorf("EngineOf(%q) = %v, want %v", in, got, want)
		}
	}
}
