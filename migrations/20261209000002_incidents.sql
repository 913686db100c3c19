-- Incidents are grouped from the findings each time they are read (app::incidents); what
-- people decide about one is kept under its id, the id of its oldest finding, which stays
-- when findings join it. status: open, acknowledged, closed.
CREATE TABLE incident_state (
    id         INTEGER PRIMARY KEY,
    status     TEXT NOT NULL,
    assignee   TEXT,
    updated_ms INTEGER NOT NULL
);

-- Every change of an incident: status, assignee, notes.
CREATE TABLE incident_history (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    change      TEXT NOT NULL,
    note        TEXT
);
CREATE INDEX incident_history_by_incident ON incident_history (incident_id, at_ms);
