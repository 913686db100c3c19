-- The trail inventory becomes a feed of its own in sync_runs: the table is rebuilt to
-- widen its CHECK, with sync_errors rebuilt beside it so no error row is lost.
CREATE TABLE sync_runs_new (
    id               INTEGER PRIMARY KEY,
    source_id        INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    feed             TEXT    NOT NULL
                     CHECK (feed IN ('bucket', 'queue', 'lookup', 'inventory')),
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

-- What each trail looked like from each Region of a source: one row per change. The
-- latest row of a trail is the current one; `gone` marks a trail no longer there.
CREATE TABLE trail_snapshots (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    -- The Region it was seen from (a multi-Region trail shows in each).
    region      TEXT    NOT NULL,
    trail_arn   TEXT    NOT NULL,
    home_region TEXT,
    -- First and last seen like this (ms).
    taken_at    INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL,
    gone        INTEGER NOT NULL DEFAULT 0,
    -- JSON: settings, logging, selectors, Insights, tags, delivery errors.
    config      TEXT    NOT NULL,
    -- JSON: latest delivery, digest and notification times; updated in place.
    status      TEXT    NOT NULL
);
CREATE INDEX trail_snapshots_by_trail ON trail_snapshots (source_id, region, trail_arn, id);
