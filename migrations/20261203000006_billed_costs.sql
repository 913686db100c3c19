-- What AWS billed for CloudTrail, per month and usage type, as Cost Explorer
-- (ce:GetCostAndUsage) tells each source's role; refreshed with the hourly inventory.
CREATE TABLE billed_costs (
    source_id  INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    month      TEXT    NOT NULL,
    -- As Cost Explorer names it, with its Region code: USE1-PaidEventsRecorded.
    usage_type TEXT    NOT NULL,
    usd        REAL    NOT NULL,
    PRIMARY KEY (source_id, month, usage_type)
);
-- The last time each source's Cost Explorer was asked, and why it refused if it did.
CREATE TABLE billing_checks (
    source_id  INTEGER PRIMARY KEY REFERENCES sources (id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    -- The account the source's credentials belong to (sts:GetCallerIdentity): two
    -- sources of one account see one bill.
    account    TEXT,
    error      TEXT
);
