-- The AWS accounts and organization trail buckets Cairn syncs from.
CREATE TABLE sources (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    -- The trail bucket feed: bucket, key prefix before AWSLogs/, organization ID.
    bucket        TEXT,
    prefix        TEXT    NOT NULL DEFAULT '',
    org_id        TEXT,
    -- The SQS queue of file notifications.
    queue_url     TEXT,
    -- Whether the LookupEvents bootstrap runs.
    lookup_events INTEGER NOT NULL DEFAULT 0,
    -- JSON array of Regions; empty for every Region found.
    regions       TEXT    NOT NULL DEFAULT '[]',
    -- Credentials: a profile of the standard chain, and a role to assume.
    profile       TEXT,
    role_arn      TEXT,
    -- Sealed with the key file beside the database, never stored in clear.
    external_id   BLOB,
    session_name  TEXT,
    endpoint_url  TEXT,
    -- Days a first sync of the bucket reaches back.
    backfill_days INTEGER NOT NULL DEFAULT 90,
    paused        INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- One row per pass of one feed of a source.
CREATE TABLE sync_runs (
    id               INTEGER PRIMARY KEY,
    source_id        INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    feed             TEXT    NOT NULL CHECK (feed IN ('bucket', 'queue', 'lookup')),
    started_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    state            TEXT    NOT NULL CHECK (state IN ('running', 'ok', 'partial', 'failed')),
    -- Files (or pages) found new in this pass, and how many went in.
    found            INTEGER NOT NULL DEFAULT 0,
    files            INTEGER NOT NULL DEFAULT 0,
    files_rejected   INTEGER NOT NULL DEFAULT 0,
    events_new       INTEGER NOT NULL DEFAULT 0,
    events_duplicate INTEGER NOT NULL DEFAULT 0,
    -- The newest delivery time seen (ms), for the lag behind now.
    newest_ms        INTEGER,
    error            TEXT
);
CREATE INDEX sync_runs_by_source ON sync_runs (source_id, id);

-- What went wrong during passes: a listing refused, an object unreadable.
CREATE TABLE sync_errors (
    id        INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    run_id    INTEGER REFERENCES sync_runs (id) ON DELETE CASCADE,
    at        INTEGER NOT NULL,
    feed      TEXT    NOT NULL,
    -- The object key, prefix or call concerned.
    what      TEXT    NOT NULL,
    error     TEXT    NOT NULL
);
CREATE INDEX sync_errors_by_source ON sync_errors (source_id, id);
