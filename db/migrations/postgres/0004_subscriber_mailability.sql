-- PostgreSQL twin of sqlite/0004_subscriber_mailability.sql (see the
-- comments there). mailable is a boolean here, 0/1 on SQLite: readers
-- compare it with TRUE/FALSE, which both engines understand.
CREATE VIEW subscriber_mailability AS
SELECT id, email, name,
       status = 'active' AS mailable,
       CASE WHEN status = 'active' THEN '' ELSE status END AS reason
  FROM subscribers;
