-- PostgreSQL twin of sqlite/0003_campaign_source.sql: the column file's
-- bytes kept with the campaign.
ALTER TABLE campaigns ADD COLUMN source BYTEA;
