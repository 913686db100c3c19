-- "Check access" runs from the sources page: what each feed could and could not reach.
CREATE TABLE source_checks (
    id        INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    at        INTEGER NOT NULL,
    by_user   TEXT,
    -- JSON array of {feed, action, ok, detail}.
    lines     TEXT    NOT NULL
);
CREATE INDEX source_checks_by_source ON source_checks (source_id, id);
