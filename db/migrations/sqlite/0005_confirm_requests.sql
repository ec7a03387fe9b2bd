-- Owned by package subscribers. One row per confirmation mail queued: the
-- subscribe request it answers, as submitted.
--
-- name, lang: what the request asked for. A re-submitted form never
-- changes a pending subscriber; the confirmation applies the values of the
-- request whose link was clicked (tokens.request_id).
--
-- mailbox, client: what the caps on confirmation mails count, so they hold
-- across restarts and processes. mailbox is subscribers.MailboxKey of the
-- address (lower-cased, +tag and Gmail dots removed); client is the
-- requester's IPv4 address or IPv6 /64, '' for an admin's add.
--
-- Rows go with the subscriber, and with PurgePending once no link that
-- points at them can still be used.
CREATE TABLE confirm_requests (
    id            INTEGER PRIMARY KEY,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    mailbox       TEXT NOT NULL,
    client        TEXT NOT NULL DEFAULT '',
    name          TEXT NOT NULL DEFAULT '',
    lang          TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX confirm_requests_mailbox ON confirm_requests (mailbox, created_at);
CREATE INDEX confirm_requests_client ON confirm_requests (client, created_at) WHERE client <> '';
CREATE INDEX confirm_requests_subscriber ON confirm_requests (subscriber_id);

-- The request a confirm token answers; NULL for tokens minted before.
ALTER TABLE tokens ADD COLUMN request_id INTEGER REFERENCES confirm_requests (id) ON DELETE SET NULL;
CREATE INDEX tokens_request ON tokens (request_id) WHERE request_id IS NOT NULL;
