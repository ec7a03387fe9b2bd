-- Subscribers, consent evidence, suppression list, settings, confirm tokens
-- and the durable outbox. Times are TEXT in db.TimeFormat (UTC, fixed width).

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE subscribers (
    id              INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: unsubscribe tokens are derived from it
    email           TEXT NOT NULL,            -- normalised: trimmed, domain lower-cased
    email_key       TEXT NOT NULL UNIQUE,     -- fully lower-cased, for lookups and uniqueness
    name            TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced')),
    lang            TEXT NOT NULL DEFAULT 'de',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    confirmed_at    TEXT,
    unsubscribed_at TEXT
);
CREATE INDEX subscribers_status ON subscribers (status, id);

-- The exact consent text shown, stored once and referenced by events.
CREATE TABLE consent_texts (
    id         INTEGER PRIMARY KEY,
    sha256     TEXT NOT NULL UNIQUE,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Append-only evidence (UWG §7, GDPR Art. 7(1)): rows are never updated;
-- they go only with the subscriber when the person asks to be forgotten.
CREATE TABLE consent_events (
    id              INTEGER PRIMARY KEY,
    subscriber_id   INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    at              TEXT NOT NULL,
    ip              TEXT NOT NULL DEFAULT '',
    user_agent      TEXT NOT NULL DEFAULT '',
    consent_text_id INTEGER REFERENCES consent_texts (id),
    detail          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX consent_events_subscriber ON consent_events (subscriber_id, id);
CREATE TRIGGER consent_events_append_only BEFORE UPDATE ON consent_events
BEGIN
    SELECT RAISE(ABORT, 'consent events are append-only');
END;

-- Erased addresses, kept only as a keyed hash so they are not silently re-imported.
CREATE TABLE suppressions (
    hash       TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Confirmation tokens, stored only as SHA-256 hashes.
CREATE TABLE tokens (
    hash          TEXT PRIMARY KEY,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    purpose       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    used_at       TEXT
);
CREATE INDEX tokens_subscriber ON tokens (subscriber_id);

-- The durable outbox: written in the same transaction as the change that
-- needs a mail, drained by the mailer. A row is done only when the SMTP
-- server accepted the message (state 'sent') or refused it for good ('failed').
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: Message-IDs are derived from it
    kind            TEXT NOT NULL,
    subscriber_id   INTEGER REFERENCES subscribers (id) ON DELETE CASCADE,
    recipient       TEXT NOT NULL,
    payload         TEXT NOT NULL DEFAULT '{}',
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_owner     TEXT,
    lease_until     TEXT,
    last_reply      TEXT NOT NULL DEFAULT '',
    message_id      TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox (recipient, created_at);
