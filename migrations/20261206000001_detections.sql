-- Detections: rules, the findings their matches make, and each finding's events.
--
-- rules.def is the rule as app::detect::RuleDef serialises it (JSON): title, language,
-- body, severity, tags, threshold, grouping, author, references, licence. Every change
-- writes a row of rule_versions with the whole definition, who made it and when.
-- origin: 'builtin' (shipped with Cairn), 'sigma' (imported from a file), 'user'.
CREATE TABLE rules (
    id         TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    def        TEXT NOT NULL,
    enabled    INTEGER NOT NULL,
    origin     TEXT NOT NULL,
    source     TEXT,
    updated_ms INTEGER NOT NULL,
    updated_by TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE rule_versions (
    rule_id  TEXT NOT NULL,
    version  INTEGER NOT NULL,
    at_ms    INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    change   TEXT NOT NULL,
    def      TEXT NOT NULL,
    enabled  INTEGER NOT NULL,
    PRIMARY KEY (rule_id, version)
) WITHOUT ROWID;

-- Matches of threshold rules, kept to count them over their window as events arrive
-- in any order. event_id orders by time (time in ms × 2^21 + hash).
CREATE TABLE rule_hits (
    rule_id   TEXT NOT NULL,
    group_key TEXT NOT NULL,
    event_id  INTEGER NOT NULL,
    distinct_value TEXT,
    PRIMARY KEY (rule_id, group_key, event_id)
) WITHOUT ROWID;

-- One finding per rule, grouping key and window: for a match rule the UTC-aligned window
-- of the rule's length that holds its events (window_start); for a threshold rule the
-- burst of matches that reached the threshold (window_start: its first event's time).
-- status: open, acknowledged, resolved, false_positive.
CREATE TABLE findings (
    id           INTEGER PRIMARY KEY,
    rule_id      TEXT NOT NULL,
    rule_version INTEGER NOT NULL,
    group_key    TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    severity     TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'open',
    assignee     TEXT,
    principal_id INTEGER,
    account      TEXT,
    region       TEXT,
    first_ms     INTEGER NOT NULL,
    last_ms      INTEGER NOT NULL,
    events       INTEGER NOT NULL,
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL,
    UNIQUE (rule_id, group_key, window_start)
);
CREATE INDEX findings_by_last ON findings (last_ms);
CREATE INDEX findings_by_status ON findings (status, last_ms);
CREATE INDEX findings_by_principal ON findings (principal_id, last_ms);

-- No index by event: a rule that matches most events would double its cost at import.
-- An event's findings are found from its rules' grouping keys and windows instead.
CREATE TABLE finding_events (
    finding_id INTEGER NOT NULL,
    event_id   INTEGER NOT NULL,
    PRIMARY KEY (finding_id, event_id)
) WITHOUT ROWID;

-- Every change of a finding: status, assignee, notes, new events after it was resolved.
CREATE TABLE finding_history (
    id         INTEGER PRIMARY KEY,
    finding_id INTEGER NOT NULL,
    at_ms      INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    change     TEXT NOT NULL,
    note       TEXT
);
CREATE INDEX finding_history_by_finding ON finding_history (finding_id, at_ms);

-- "Not for this principal / source address / resource", until expires_ms, with a reason.
-- Applied when an event is matched: a suppressed match makes no finding.
-- field: principal, source_ip or resource.
CREATE TABLE suppressions (
    id         INTEGER PRIMARY KEY,
    rule_id    TEXT NOT NULL,
    field      TEXT NOT NULL,
    value      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    expires_ms INTEGER,
    created_ms INTEGER NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX suppressions_by_rule ON suppressions (rule_id);
