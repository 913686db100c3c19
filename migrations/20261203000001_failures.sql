-- Failed events without an error code. A failed console sign-in has only
-- `errorMessage: "Failed authentication"` (some records only
-- `responseElements.ConsoleLogin: "Failure"`): `events.error_code_id` now holds the
-- event's error as Cairn files it — its error code, else its message, else its failure
-- field — and the summaries' "failed" flag follows it.

-- Console sign-ins per principal: `logins` counts attempts; failed ones and successful
-- ones with MFA apart, and the newest successful one.
ALTER TABLE principal_console ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE principal_console ADD COLUMN mfa INTEGER NOT NULL DEFAULT 0;
ALTER TABLE principal_console ADD COLUMN last_ok_event_id INTEGER;

-- One-time fixes of stored events that need the original records (so are made by the
-- server when it opens the database, see server/src/ingest/fixes.rs), when applied.
CREATE TABLE store_fixes (
    name       TEXT PRIMARY KEY,
    applied_at INTEGER NOT NULL
);
-- A store with no events yet has nothing to fix.
INSERT INTO store_fixes (name, applied_at)
    SELECT 'failures', 0 WHERE NOT EXISTS (SELECT 1 FROM events);
