-- Investigations: a saved view (its canonical query, range made absolute) with a title,
-- notes and pinned events; who opened it and every change are kept.
CREATE TABLE investigations (
    id         INTEGER PRIMARY KEY,
    title      TEXT    NOT NULL,
    notes      TEXT    NOT NULL DEFAULT '',
    query      TEXT    NOT NULL,
    status     TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_by TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX investigations_status ON investigations (status, updated_at);

CREATE TABLE investigation_events (
    investigation_id INTEGER NOT NULL REFERENCES investigations (id) ON DELETE CASCADE,
    event_id         INTEGER NOT NULL,
    pinned_by        TEXT    NOT NULL,
    pinned_at        INTEGER NOT NULL,
    PRIMARY KEY (investigation_id, event_id)
) WITHOUT ROWID;

CREATE TABLE investigation_history (
    id               INTEGER PRIMARY KEY,
    investigation_id INTEGER NOT NULL REFERENCES investigations (id) ON DELETE CASCADE,
    at               INTEGER NOT NULL,
    actor            TEXT    NOT NULL,
    action           TEXT    NOT NULL,
    detail           TEXT
);
CREATE INDEX investigation_history_by ON investigation_history (investigation_id, id);
