package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgMaxConns bounds one process's connections to PostgreSQL: a `serve`
// needs a few for requests, the outbox and a campaign's claims and marks.
// Several instances share the server's max_connections (100 by default).
const pgMaxConns = 16

// openPostgres connects to the PostgreSQL database at the URL dsn through
// pgx's database/sql driver, wrapped so the stores' `?` placeholders reach
// the server as `$n`.
func openPostgres(ctx context.Context, dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the URL with its password.
		return nil, fmt.Errorf("--db: not a usable PostgreSQL URL (%s)", redactURL(dsn))
	}
	sqlDB := sql.OpenDB(&rebindConnector{base: stdlib.GetConnector(*cfg), rb: newRebinder()})
	sqlDB.SetMaxOpenConns(pgMaxConns)
	sqlDB.SetMaxIdleConns(pgMaxConns / 2)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to %s: %w", redactURL(dsn), err)
	}
	return sqlDB, nil
}

// redactURL is dsn without its password, for messages and logs.
func redactURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://…"
	}
	return u.Redacted()
}

// pgRetryable reports whether a PostgreSQL transaction failed only because
// of a concurrent one and may simply run again: a serialization failure or
// a deadlock.
func pgRetryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// rebindConnector hands out pgx connections whose statements are rebound
// from `?` to `$n` (see rebinder).
type rebindConnector struct {
	base driver.Connector
	rb   *rebinder
}

func (c *rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := conn.(*stdlib.Conn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("pgx returned a %T connection", conn)
	}
	return &rebindConn{Conn: pc, rb: c.rb}, nil
}

func (c *rebindConnector) Driver() driver.Driver { return c.base.Driver() }

// rebindConn is a pgx connection that rebinds each statement text first.
// Everything else (transactions, pings, session reset, argument checks)
// is pgx's own through the embedded connection.
type rebindConn struct {
	*stdlib.Conn
	rb *rebinder
}

func (c *rebindConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(c.rb.rebind(query))
}

func (c *rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, c.rb.rebind(query))
}

func (c *rebindConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, c.rb.rebind(query), args)
}

func (c *rebindConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, c.rb.rebind(query), args)
}

var (
	_ driver.ConnPrepareContext = (*rebindConn)(nil)
	_ driver.ExecerContext      = (*rebindConn)(nil)
	_ driver.QueryerContext     = (*rebindConn)(nil)
	_ driver.ConnBeginTx        = (*rebindConn)(nil)
	_ driver.SessionResetter    = (*rebindConn)(nil)
	_ driver.NamedValueChecker  = (*rebindConn)(nil)
	_ driver.Pinger             = (*rebindConn)(nil)
)
