-- PostgreSQL twin of sqlite/0006_holds_proofs.sql (see the comments
-- there): held columns and the proofs made, the source as BYTEA.
CREATE TABLE holds (
    column_number INTEGER PRIMARY KEY,
    held_by       TEXT NOT NULL CHECK (held_by IN ('admin', 'proof')),
    held_at       TEXT NOT NULL
);

CREATE TABLE proofs (
    column_number INTEGER NOT NULL,
    content_hash  TEXT NOT NULL,    -- hex, first 128 bits of SHA-256 of source
    file          TEXT NOT NULL,
    title         TEXT NOT NULL,    -- the column's title line, for the hold page
    source        BYTEA NOT NULL,
    planned_at    TEXT,             -- the run that will send it; NULL when none will as things stand
    recipients    TEXT NOT NULL,    -- the --proof-to addresses, comma-separated
    created_at    TEXT NOT NULL,
    PRIMARY KEY (column_number, content_hash)
);
