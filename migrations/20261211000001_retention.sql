-- Days the events of a source's accounts are kept (NULL: as `cairn serve --retain-days`
-- says). An event is stored once whichever sources brought it, so a source's period
-- applies to the accounts whose files it read; several sources on one account: the
-- longest period.
ALTER TABLE sources ADD COLUMN retain_days INTEGER;

-- What each pass of the retention (`cairn serve --retain-days`, `cairn retain`) did:
-- events removed, events kept past the cutoff (pinned, or in an open finding), and the
-- space given back.
CREATE TABLE retention_passes (
    id          INTEGER PRIMARY KEY,
    finished_at INTEGER NOT NULL,
    days        INTEGER NOT NULL,
    cutoff      INTEGER NOT NULL,
    removed     INTEGER NOT NULL,
    kept        INTEGER NOT NULL,
    unreadable  INTEGER NOT NULL,
    pages_freed INTEGER NOT NULL,
    file_bytes  INTEGER NOT NULL,
    seconds     REAL    NOT NULL,
    error       TEXT
);
