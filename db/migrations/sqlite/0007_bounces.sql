-- Bounces and complaints (DESIGN "Bounces and complaints").

-- Owned by package subscribers: every event a report stated about a
-- subscriber, once per report, subscriber and kind (the report's
-- Message-ID or a relay's event id is report_key), with what it did.
-- Soft bounces are counted per campaign from here (campaign_id). The events
-- go with the subscriber when the person asks to be forgotten.
CREATE TABLE bounce_events (
    id            INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    address       TEXT NOT NULL,              -- the subscriber's address at the time
    kind          TEXT NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint')),
    status        TEXT NOT NULL DEFAULT '',   -- enhanced status code (RFC 3463)
    diagnostic    TEXT NOT NULL DEFAULT '',   -- the remote server's words, from outside
    campaign_id   INTEGER REFERENCES campaigns (id) ON DELETE SET NULL,
    column_number INTEGER,
    mail          TEXT NOT NULL DEFAULT '',   -- what bounced: column, confirm, welcome, ...
    source        TEXT NOT NULL,              -- pipe, file, mbox, maildir, imap, webhook:mailgun, ...
    identified_by TEXT NOT NULL,              -- verp, message-id, final-recipient
    effect        TEXT NOT NULL,
    report_key    TEXT NOT NULL,
    UNIQUE (report_key, subscriber_id, kind)
);
CREATE INDEX bounce_events_subscriber ON bounce_events (subscriber_id, campaign_id);
CREATE INDEX bounce_events_kind_source ON bounce_events (kind, source);

-- Owned by package mailer (the intake): mail taken in that was no bounce,
-- could not be read, was forged or named no subscriber. Kept, never mailed
-- back; raw holds the message's first bytes (size is the whole).
CREATE TABLE intake_review (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    source     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    report_key TEXT NOT NULL UNIQUE,
    sender     TEXT NOT NULL DEFAULT '',
    subject    TEXT NOT NULL DEFAULT '',
    size       INTEGER NOT NULL,
    raw        BLOB NOT NULL
);

-- A report that quotes the returned message's Message-ID finds the mail by
-- it: column mails in the delivery log, service mails in the outbox. Only
-- rows that have one are indexed (a campaign's snapshot writes none), so
-- lookups say `message_id <> ''` too.
CREATE INDEX deliveries_message_id ON deliveries (message_id) WHERE message_id <> '';
CREATE INDEX outbox_message_id ON outbox (message_id) WHERE message_id <> '';
