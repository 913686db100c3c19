-- Integrity of the delivered logs: what each trail's hourly digest files vouch for.
--
-- The SHA-256 of a delivered file's uncompressed content, taken as it is imported: a
-- digest lists this hash for each log file (`logFiles[].hashValue`).
ALTER TABLE ingest_files ADD COLUMN content_sha256 TEXT;

-- One row per digest file read, in the bucket it came from (`origin` is the ledger's
-- name, `s3://bucket`). `state` is `valid` (its signature checks out with CloudTrail's
-- public key) or `invalid` (`reason` says why: unreadable, moved, unsigned, no public
-- key for its fingerprint, a signature that does not verify). The counts are of the
-- log files it lists, checked only when the digest is valid.
CREATE TABLE digests (
    origin        TEXT    NOT NULL,
    key           TEXT    NOT NULL,
    trail_arn     TEXT    NOT NULL,
    account       TEXT    NOT NULL,
    region        TEXT    NOT NULL,
    start_ms      INTEGER NOT NULL,
    end_ms        INTEGER NOT NULL,
    state         TEXT    NOT NULL,
    reason        TEXT,
    -- SHA-256 of its uncompressed content and its signature: what the next digest
    -- chains to.
    sha256        TEXT,
    signature     TEXT,
    previous_key  TEXT,
    files         INTEGER NOT NULL DEFAULT 0,
    verified      INTEGER NOT NULL DEFAULT 0,
    modified      INTEGER NOT NULL DEFAULT 0,
    missing       INTEGER NOT NULL DEFAULT 0,
    checked_at    INTEGER NOT NULL,
    PRIMARY KEY (origin, key)
) WITHOUT ROWID;
CREATE INDEX digests_by_trail ON digests (trail_arn, end_ms);

-- Every log file a valid digest lists, so a delivered file no digest lists is found.
CREATE TABLE digest_listed (
    origin      TEXT NOT NULL,
    key         TEXT NOT NULL,
    digest_key  TEXT NOT NULL,
    PRIMARY KEY (origin, key, digest_key)
) WITHOUT ROWID;

-- What failed, with the exact key: `modified` and `missing` log files, `extra` log
-- files (delivered in an hour a valid digest covers, listed by none), `digest_missing`
-- (a digest the chain names is gone), `digest_invalid`, and `chain` (a digest whose
-- predecessor is not the one it names: its hash or signature differs).
CREATE TABLE integrity_problems (
    origin      TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    trail_arn   TEXT    NOT NULL,
    at_ms       INTEGER NOT NULL,
    digest_key  TEXT,
    detail      TEXT    NOT NULL,
    found_at    INTEGER NOT NULL,
    PRIMARY KEY (origin, kind, key)
) WITHOUT ROWID;
CREATE INDEX integrity_problems_by_trail ON integrity_problems (trail_arn, at_ms);

-- The integrity checks become a feed of their own in sync_runs: the table is rebuilt to
-- widen its CHECK, with sync_errors rebuilt beside it so no error row is lost.
CREATE TABLE sync_runs_new (
    id               INTEGER PRIMARY KEY,
    source_id        INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    feed             TEXT    NOT NULL
                     CHECK (feed IN ('bucket', 'queue', 'lookup', 'inventory', 'integrity')),
    started_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    state            TEXT    NOT NULL CHECK (state IN ('running', 'ok', 'partial', 'failed')),
    found            INTEGER NOT NULL DEFAULT 0,
    files            INTEGER NOT NULL DEFAULT 0,
    files_rejected   INTEGER NOT NULL DEFAULT 0,
    events_new       INTEGER NOT NULL DEFAULT 0,
    events_duplicate INTEGER NOT NULL DEFAULT 0,
    newest_ms        INTEGER,
    error            TEXT
);
INSERT INTO sync_runs_new SELECT * FROM sync_runs;
CREATE TABLE sync_errors_new (
    id        INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    run_id    INTEGER REFERENCES sync_runs_new (id) ON DELETE CASCADE,
    at        INTEGER NOT NULL,
    feed      TEXT    NOT NULL,
    what      TEXT    NOT NULL,
    error     TEXT    NOT NULL
);
INSERT INTO sync_errors_new SELECT * FROM sync_errors;
DROP TABLE sync_errors;
DROP TABLE sync_runs;
ALTER TABLE sync_runs_new RENAME TO sync_runs;
ALTER TABLE sync_errors_new RENAME TO sync_errors;
CREATE INDEX sync_runs_by_source ON sync_runs (source_id, id);
CREATE INDEX sync_runs_by_feed ON sync_runs (source_id, feed, id);
CREATE INDEX sync_errors_by_source ON sync_errors (source_id, id);

