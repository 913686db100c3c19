-- Alerts: where new findings are sent, the outbox of deliveries still to make, and every
-- attempt made.
--
-- kind: webhook (a generic JSON body), slack (a Slack-compatible body), sns (Publish to
-- a topic) or eventbridge (PutEvents to a bus). A webhook's URL and bearer token are
-- sealed with the database's key (sync::secrets) and never shown again: `shown` is what
-- the pages show of the target (a webhook URL's origin; a topic or bus ARN).
-- rules: a JSON list of rule ids, or NULL for every rule. min_rank: the least severity
-- sent, 0 informational … 4 critical.
CREATE TABLE alert_destinations (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    shown        TEXT NOT NULL,
    arn          TEXT,
    sealed_url   BLOB,
    sealed_token BLOB,
    endpoint_url TEXT,
    min_rank     INTEGER NOT NULL,
    rules        TEXT,
    enabled      INTEGER NOT NULL DEFAULT 1,
    created_ms   INTEGER NOT NULL,
    created_by   TEXT NOT NULL,
    updated_ms   INTEGER NOT NULL
);

-- One row per finding and destination, written in the transaction that makes the
-- finding: an alert exists exactly when its finding does, and never twice.
-- state: pending (due at next_ms), sending (claimed until next_ms: a delivery cut off
-- by a crash is tried again after it), sent, failed (gave up after the last attempt).
CREATE TABLE alert_outbox (
    id             INTEGER PRIMARY KEY,
    finding_id     INTEGER NOT NULL,
    destination_id INTEGER NOT NULL,
    state          TEXT NOT NULL DEFAULT 'pending',
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_ms        INTEGER NOT NULL,
    created_ms     INTEGER NOT NULL,
    sent_ms        INTEGER,
    last_error     TEXT,
    UNIQUE (finding_id, destination_id)
);
CREATE INDEX alert_outbox_due ON alert_outbox (state, next_ms);
CREATE INDEX alert_outbox_by_destination ON alert_outbox (destination_id, state);

-- Every attempt, a finding's or a test's (finding_id NULL).
CREATE TABLE alert_deliveries (
    id             INTEGER PRIMARY KEY,
    destination_id INTEGER NOT NULL,
    finding_id     INTEGER,
    at_ms          INTEGER NOT NULL,
    attempt        INTEGER NOT NULL,
    ok             INTEGER NOT NULL,
    answer         TEXT,
    error          TEXT,
    millis         INTEGER NOT NULL
);
CREATE INDEX alert_deliveries_by_destination ON alert_deliveries (destination_id, at_ms);
CREATE INDEX alert_deliveries_by_finding ON alert_deliveries (finding_id);
