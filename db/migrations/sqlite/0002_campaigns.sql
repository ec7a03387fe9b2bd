-- Campaigns and the delivery log. Times are TEXT in db.TimeFormat.

-- One campaign per column, ever: the UNIQUE column number is what makes a
-- column go out once even when `send` races the scheduler.
CREATE TABLE campaigns (
    id            INTEGER PRIMARY KEY,
    column_number INTEGER NOT NULL UNIQUE,
    title         TEXT NOT NULL DEFAULT '',
    subject       TEXT NOT NULL DEFAULT '',
    file          TEXT NOT NULL DEFAULT '',  -- re-rendered from here on resume
    recipients    INTEGER NOT NULL DEFAULT 0, -- size of the snapshot
    started_at    TEXT NOT NULL,
    finished_at   TEXT                        -- set when no delivery is pending
);

-- One row per recipient of a campaign, written in one INSERT ... SELECT when
-- the campaign starts. A row is 'sent' only after the SMTP server accepted
-- the message.
--
-- Leases: a sender claims a row by writing its lease_owner and pushing both
-- lease_until and next_attempt_at to the end of the lease, so a single index
-- range (state 'pending', next_attempt_at <= now) finds due retries and
-- expired leases of crashed senders alike.
--
-- Erasure (subscribers.Store.Forget) keeps the row with subscriber_id nulled
-- (trigger below), so campaign counts stay honest without personal data.
CREATE TABLE deliveries (
    id               INTEGER PRIMARY KEY,
    campaign_id      INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    subscriber_id    INTEGER REFERENCES subscribers (id) ON DELETE SET NULL,
    state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    first_attempt_at TEXT,
    lease_owner      TEXT,
    lease_until      TEXT,
    last_reply       TEXT NOT NULL DEFAULT '',
    message_id       TEXT NOT NULL DEFAULT '',
    sent_at          TEXT,
    UNIQUE (campaign_id, subscriber_id)
);
-- Only pending rows are indexed for claiming: marking a row sent just drops
-- its entry, and finished campaigns cost the index nothing. Lease renewal
-- goes through this index too (per campaign), so lease_owner needs none.
CREATE INDEX deliveries_due ON deliveries (campaign_id, next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_subscriber ON deliveries (subscriber_id);

-- Forgetting a person: what was sent stays counted, what was not yet sent is
-- skipped, and SMTP replies (which may quote the address) are dropped.
CREATE TRIGGER deliveries_forget BEFORE DELETE ON subscribers
BEGIN
    UPDATE deliveries
       SET subscriber_id = NULL,
           state = CASE state WHEN 'pending' THEN 'skipped' ELSE state END,
           last_reply = 'subscriber erased',
           lease_owner = NULL,
           lease_until = NULL
     WHERE subscriber_id = OLD.id;
END;

-- Confirmation mails retry until created_at + --retry-for; leases renew like
-- deliveries, found through this index.
CREATE INDEX outbox_leased ON outbox (lease_owner) WHERE lease_owner IS NOT NULL;
