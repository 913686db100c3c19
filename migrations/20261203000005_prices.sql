-- Prices the costs screen uses, where an admin changed them from the public US East
-- list: one row per price and Region ('' for every Region without its own).
CREATE TABLE prices (
    name       TEXT    NOT NULL,
    region     TEXT    NOT NULL DEFAULT '',
    usd        REAL    NOT NULL CHECK (usd >= 0),
    changed_at INTEGER NOT NULL,
    changed_by TEXT,
    PRIMARY KEY (name, region)
);
