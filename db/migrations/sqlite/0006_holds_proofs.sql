-- The author's safety net (owned by package mailer, beside the campaigns).
-- Times are TEXT in db.TimeFormat.

-- A column on hold is skipped by every run (scheduler, retry loop, send)
-- until it is released: one row per held column, deleted on release. A
-- column whose campaign is under way can be held too; its pending
-- deliveries then wait. held_by says who held it: the admin on the command
-- line, or the hold link in a proof mail.
CREATE TABLE holds (
    column_number INTEGER PRIMARY KEY,
    held_by       TEXT NOT NULL CHECK (held_by IN ('admin', 'proof')),
    held_at       TEXT NOT NULL
);

-- One row per column and content a proof was made of: the key is what makes
-- serve send a proof once per column and content, and a new one after the
-- file changed. The source is kept so the proof mail shows exactly the
-- content that was hashed, however the file changes meanwhile.
CREATE TABLE proofs (
    column_number INTEGER NOT NULL,
    content_hash  TEXT NOT NULL,    -- hex, first 128 bits of SHA-256 of source
    file          TEXT NOT NULL,
    title         TEXT NOT NULL,    -- the column's title line, for the hold page
    source        BLOB NOT NULL,
    planned_at    TEXT,             -- the run that will send it; NULL when none will as things stand
    recipients    TEXT NOT NULL,    -- the --proof-to addresses, comma-separated
    created_at    TEXT NOT NULL,
    PRIMARY KEY (column_number, content_hash)
);
