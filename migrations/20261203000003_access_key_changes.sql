-- The calls that create, change or delete a long-term access key, by the key they are
-- about (what `issued_credentials` is for the temporary keys STS hands out): an access
-- key's page shows its history without reading every event that names it.
CREATE TABLE access_key_changes (
    access_key TEXT    NOT NULL,
    event_id   INTEGER NOT NULL,
    PRIMARY KEY (access_key, event_id)
) WITHOUT ROWID;
-- Filled from the stored records by the server (server/src/ingest/fixes.rs); a store
-- with no events yet has nothing to fill in.
INSERT INTO store_fixes (name, applied_at)
    SELECT 'key-changes', 0 WHERE NOT EXISTS (SELECT 1 FROM events);
