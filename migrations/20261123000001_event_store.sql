-- The event store. Times are UTC epoch milliseconds.

-- Interned low-cardinality strings (accounts, Regions, sources, names, user agents, ...).
CREATE TABLE terms (
    id    INTEGER PRIMARY KEY,
    kind  INTEGER NOT NULL,
    value TEXT    NOT NULL,
    UNIQUE (kind, value)
);

-- Every identity seen, with a stable key; sessions point at their role (parent).
CREATE TABLE principals (
    id           INTEGER PRIMARY KEY,
    key          TEXT    NOT NULL UNIQUE,
    kind         TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    arn          TEXT,
    account      TEXT,
    origin       TEXT,
    parent_id    INTEGER REFERENCES principals (id),
    first_seen   INTEGER,
    last_seen    INTEGER,
    events       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE resources (
    id      INTEGER PRIMARY KEY,
    arn     TEXT NOT NULL UNIQUE,
    type    TEXT NOT NULL,
    name    TEXT NOT NULL,
    account TEXT
);

-- Trained zstd dictionaries for the compressed original records.
CREATE TABLE raw_dictionaries (
    id         INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    data       BLOB    NOT NULL
);

-- One row per stored record. The id orders by time: event_time * 2^21 + 21 bits of a
-- hash of the event's identity, so time ranges and keyset pages are rowid ranges and
-- the table itself is the time index.
CREATE TABLE events (
    id               INTEGER PRIMARY KEY,
    event_time       INTEGER NOT NULL,
    account_id       INTEGER NOT NULL,
    event_key        BLOB    NOT NULL,
    region_id        INTEGER,
    source_id        INTEGER NOT NULL,
    name_id          INTEGER NOT NULL,
    type_id          INTEGER,
    category_id      INTEGER,
    read_only        INTEGER,
    error_code_id    INTEGER,
    error_message_id INTEGER,
    source_ip_id     INTEGER,
    user_agent_id    INTEGER,
    access_key_id    INTEGER,
    principal_id     INTEGER NOT NULL,
    issuer_id        INTEGER,
    resource_ids     TEXT,   -- JSON array of resources(id), the first is shown in lists
    request_id       TEXT,
    shared_event_id  TEXT,
    raw_dict         INTEGER NOT NULL,
    raw              BLOB    NOT NULL
);
-- The dedup key: account + eventID.
CREATE UNIQUE INDEX events_dedup ON events (account_id, event_key);

-- Which events touched which resource, newest last in each resource.
CREATE TABLE event_resources (
    resource_id INTEGER NOT NULL,
    event_id    INTEGER NOT NULL,
    PRIMARY KEY (resource_id, event_id)
) WITHOUT ROWID;

-- Temporary credentials issued by AssumeRole and friends: the way from a session's
-- access key back to whoever started it.
CREATE TABLE issued_credentials (
    access_key   TEXT    PRIMARY KEY,
    event_id     INTEGER NOT NULL,
    principal_id INTEGER NOT NULL,
    session_arn  TEXT,
    source_identity TEXT
) WITHOUT ROWID;

-- Pre-aggregated counts per minute, maintained at insert time for the histogram and
-- totals.
CREATE TABLE counts_minute (
    minute INTEGER PRIMARY KEY,
    events INTEGER NOT NULL,
    errors INTEGER NOT NULL
) WITHOUT ROWID;

-- The ingest ledger: one row per file or object ever read.
CREATE TABLE ingest_files (
    id               INTEGER PRIMARY KEY,
    source           TEXT    NOT NULL,
    path             TEXT    NOT NULL,
    size             INTEGER NOT NULL,
    modified         INTEGER,
    sha256           TEXT,
    kind             TEXT    NOT NULL,
    account          TEXT,
    region           TEXT,
    log_date         TEXT,
    status           TEXT    NOT NULL CHECK (status IN ('imported', 'rejected', 'skipped')),
    records          INTEGER NOT NULL DEFAULT 0,
    events_new       INTEGER NOT NULL DEFAULT 0,
    events_duplicate INTEGER NOT NULL DEFAULT 0,
    records_rejected INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    imported_at      INTEGER NOT NULL,
    UNIQUE (source, path)
);

-- Why records were rejected (the first 100 per file).
CREATE TABLE ingest_rejects (
    file_id  INTEGER NOT NULL REFERENCES ingest_files (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    offset   INTEGER NOT NULL,
    reason   TEXT    NOT NULL,
    PRIMARY KEY (file_id, position)
) WITHOUT ROWID;
