-- What the trails delivered, counted at import so the costs and trails screens never
-- scan events. Every record a delivered file held counts, duplicates across trails
-- included: Cairn stores an event once, the bill counts every copy.
--
-- One row per day (of the events), ledger source (`s3://bucket`, `lookup://name`,
-- `file`, ...), key prefix (the part of the key before `AWSLogs/`, '' when none),
-- account, Region, kind (`Management`, `Data`, `NetworkActivity`, `Insight`, or
-- `file`: the delivery files themselves, `events` files and `bytes` their size),
-- read/write (1 read-only, 0 write, -1 not said) and resource type (data events).
CREATE TABLE delivery_days (
    day           INTEGER NOT NULL,
    origin        TEXT    NOT NULL,
    prefix        TEXT    NOT NULL,
    account       TEXT    NOT NULL,
    region        TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    read_only     INTEGER NOT NULL,
    resource_type TEXT    NOT NULL,
    events        INTEGER NOT NULL,
    bytes         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, origin, prefix, account, region, kind, read_only, resource_type)
) WITHOUT ROWID;

-- A file's own rows of `delivery_days` (JSON), so that a file read again takes its old
-- counts back before adding the new ones.
ALTER TABLE ingest_files ADD COLUMN deliveries TEXT;

-- The files delivered lately (events in the last 24 hours per trail).
CREATE INDEX ingest_files_by_modified ON ingest_files (modified);
