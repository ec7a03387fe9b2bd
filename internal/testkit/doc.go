// Package testkit is the one set of helpers the tests of every package
// share: a test database with a settable clock (OpenDB, Clock) on a real
// SQLite file, or with NEWSLETTER_TEST_ENGINE=postgres a fresh database on
// a throw-away PostgreSQL cluster (PostgresURL, TestEngine, SQLiteOnly;
// TestMain calls Main to stop the cluster), seeding through the subscribers store (AddSubscribers,
// ImportSubscribers), peeks at the outbox through what db exports
// (DueOutbox, OutboxCount, OutboxStates) and draining it with the real
// worker (DrainOutbox), an SMTP server that fails on demand (StartSMTP,
// WaitMail, WaitMails) and speaks TLS with a test certificate (ServeTLS,
// NewCA, SelfSignedCert), an IMAP server on go-imap's in-memory one
// (StartIMAP, Contents), a private Postfix that writes real DSNs
// (StartPostfix, as root with Debian's postfix), a log buffer several
// goroutines may write (SyncBuffer) and a quiet test logger (Logger),
// Eventually and RunUntil for polling, reading received mail (ParseMail,
// MailText, ReadMail, ConfirmLink, HoldLink), and PeakMem and SubscribeLoad
// for benchmarks.
//
// It writes no table itself: everything goes through the exported
// functions of the package that owns the table, as production code does.
// It imports db and subscribers only, so the tests of mailer, web and cmd
// use it directly, and those of db and subscribers from their external
// test packages (package db_test, package subscribers_test).
package testkit
