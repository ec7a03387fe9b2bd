// Package db opens the database and keeps it in shape: the SQLite file
// with its settings on every connection and write-ahead logging, or a
// PostgreSQL database (engine.go, postgres.go: --db postgres://…), the
// embedded migrations of each engine applied once and in order (also when
// several processes open a new database at once), InTx, the write
// transaction with its clock read once that every store writes through,
// InLockingTx for claims, and TryJobLock for a job one instance runs at a
// time. The stores' SQL is one set for both engines; where the engines
// must differ the code says so (tx.Engine(), tx.SkipLocked).
//
// Each table belongs to one package, which alone writes it and spells its
// values; the others read it only through what that package exports. db
// owns two: the durable outbox, which subscribers fills inside its own
// transactions and mailer drains (outbox.go), and settings, which holds the
// installation secret (settings.go). The migrations of every table live
// here because they are applied together, but subscribers owns
// subscribers, consent_texts, consent_events, suppressions, tokens,
// confirm_requests, bounce_events and the view subscriber_mailability, and
// mailer owns campaigns, deliveries, holds, proofs and intake_review.
package db
