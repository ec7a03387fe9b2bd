-- A campaign is the column as it was when the campaign started: the column
-- file's bytes are kept with the campaign (written in the transaction that
-- snapshots the deliveries) and every run renders them, so a column edited
-- or deleted while its campaign is still sending changes nothing for the
-- recipients still to come. NULL only for campaigns started before this
-- migration, which no database outside development has: a run refuses them
-- as damaged.
ALTER TABLE campaigns ADD COLUMN source BLOB;
