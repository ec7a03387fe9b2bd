package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"hash/fnv"
)

// lockKey is the PostgreSQL advisory lock key for a named job: all
// instances on one database derive the same key from the same name.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("newsletter: " + name))
	return int64(h.Sum64())
}

// JobLock is a held TryJobLock; Unlock gives it up.
type JobLock struct {
	conn *sql.Conn // PostgreSQL: the session that holds the lock; nil on SQLite
	key  int64
}

// TryJobLock takes the lock named name unless another process holds it:
// ok false means another instance runs the job now. It never waits.
//
// On PostgreSQL this is a session advisory lock (pg_try_advisory_lock) on
// a connection set aside for it, so it is held exactly while this process
// holds the lock and lives: if the process dies, the server ends its
// session and the lock is free at once. On SQLite, one machine and one
// file, it is always granted: what the job writes is serialized by the
// database's write lock and its own rules (one campaign per column), as
// it always was.
func (d *DB) TryJobLock(ctx context.Context, name string) (lock *JobLock, ok bool, err error) {
	if d.engine != Postgres {
		return &JobLock{}, true, nil
	}
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", name, err)
	}
	key := lockKey(name)
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(?)`, key).Scan(&ok); err != nil {
		conn.Close()
		return nil, false, fmt.Errorf("lock %s: %w", name, err)
	}
	if !ok {
		conn.Close()
		return nil, false, nil
	}
	return &JobLock{conn: conn, key: key}, true, nil
}

// Unlock releases the lock. Should the unlock itself fail, the connection
// is discarded rather than pooled, which ends the session and with it the
// lock.
func (l *JobLock) Unlock(ctx context.Context) error {
	if l == nil || l.conn == nil {
		return nil
	}
	var released bool
	err := l.conn.QueryRowContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(?)`, l.key).Scan(&released)
	if err != nil || !released {
		// Raw hands back driver.ErrBadConn so database/sql closes the
		// connection instead of pooling a session that may hold the lock.
		_ = l.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	cerr := l.conn.Close()
	l.conn = nil
	if err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	return cerr
}
