package db

import (
	"strconv"
	"strings"
	"sync"
)

// Engine is the database server behind a DB. Store code is written once,
// in the SQL both engines speak (`?` placeholders, ON CONFLICT, RETURNING,
// times as TEXT in TimeFormat); where the two must differ, the code says
// so in plain sight with `if tx.Engine() == db.Postgres`.
type Engine int

// The engines.
const (
	// SQLite is the default: one file, one machine.
	SQLite Engine = iota
	// Postgres is PostgreSQL ≥ 14, for several instances on one database.
	Postgres
)

// String is the engine's name as logs and test names show it.
func (e Engine) String() string {
	if e == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// EngineOf tells which engine a --db value selects: a postgres:// or
// postgresql:// URL is PostgreSQL, anything else a SQLite file path.
func EngineOf(dsnOrPath string) Engine {
	if strings.HasPrefix(dsnOrPath, "postgres://") || strings.HasPrefix(dsnOrPath, "postgresql://") {
		return Postgres
	}
	return SQLite
}

// SkipLocked is the locking clause of a claim's SELECT on table (its name
// or alias in the query): on PostgreSQL " FOR UPDATE OF table SKIP
// LOCKED", so concurrent claimers lock what they take and pass over what
// another one is taking; on SQLite nothing, the transaction's write lock
// already lets one claim at a time.
func (tx *Tx) SkipLocked(table string) string {
	if tx.engine == Postgres {
		return " FOR UPDATE OF " + table + " SKIP LOCKED"
	}
	return ""
}

// rebinder turns the `?` and `?NNN` placeholders every store writes into
// PostgreSQL's `$n`, once per distinct statement text. Statements are few
// and fixed (the longest family, `IN (?, …)` lists, is bounded by batch
// sizes), so the cache stays small; past maxCached texts it stops growing
// and rebinds each time.
type rebinder struct {
	mu    sync.RWMutex
	cache map[string]string
}

const maxCached = 4096

func newRebinder() *rebinder { return &rebinder{cache: make(map[string]string)} }

func (r *rebinder) rebind(query string) string {
	r.mu.RLock()
	out, ok := r.cache[query]
	r.mu.RUnlock()
	if ok {
		return out
	}
	out = rebindPlaceholders(query)
	r.mu.Lock()
	if len(r.cache) < maxCached {
		r.cache[query] = out
	}
	r.mu.Unlock()
	return out
}

// rebindPlaceholders rewrites SQLite placeholders into PostgreSQL ones:
// each bare `?` becomes `$n` with n one past the highest number used so far
// (SQLite's own rule), `?NNN` becomes `$NNN`. String literals, quoted
// identifiers, comments and dollar-quoted bodies (PL/pgSQL) are copied
// unchanged, so a `?` inside them is left alone.
func rebindPlaceholders(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	highest := 0
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := skipQuoted(q, i, c)
			b.WriteString(q[i:j])
			i = j
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			j := strings.Index(q[i+2:], "*/")
			end := len(q)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			b.WriteString(q[i:end])
			i = end
		case c == '$':
			j := skipDollarQuoted(q, i)
			b.WriteString(q[i:j])
			i = j
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			n := highest + 1
			if j > i+1 {
				n, _ = strconv.Atoi(q[i+1 : j])
			}
			highest = max(highest, n)
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// skipQuoted returns the index just past the quoted text starting at q[i]
// (a doubled quote inside is part of it).
func skipQuoted(q string, i int, quote byte) int {
	for j := i + 1; j < len(q); j++ {
		if q[j] == quote {
			if j+1 < len(q) && q[j+1] == quote {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(q)
}

// skipDollarQuoted returns the index past a $tag$…$tag$ body starting at
// q[i], or i+1 when the `$` opens none (a `$1` placeholder, say).
func skipDollarQuoted(q string, i int) int {
	j := i + 1
	for j < len(q) && (q[j] == '_' || q[j] >= 'a' && q[j] <= 'z' || q[j] >= 'A' && q[j] <= 'Z' || j > i+1 && q[j] >= '0' && q[j] <= '9') {
		j++
	}
	if j >= len(q) || q[j] != '$' {
		return i + 1
	}
	tag := q[i : j+1]
	end := strings.Index(q[j+1:], tag)
	if end < 0 {
		return len(q)
	}
	return j + 1 + end + len(tag)
}
