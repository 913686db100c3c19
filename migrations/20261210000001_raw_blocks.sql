-- Original records are kept in blocks: the records of one delivery file (or of one
-- stretch of a large file, at most 512 KiB of JSON), in file order, compressed together
-- with the database's trained dictionary. A block holds its records back to back and,
-- at its end, each record's length (u32, little-endian) and their count (u32).
-- Compressed together, records shrink about 11x, against 6x one by one.
CREATE TABLE raw_blocks (
    id      INTEGER PRIMARY KEY,
    dict    INTEGER NOT NULL,   -- raw_dictionaries(id), 0: none
    records INTEGER NOT NULL,
    data    BLOB    NOT NULL
);

-- Where an event's record is: block and position in it. Rows written before blocks
-- hold their record compressed on its own in `raw` (with `raw_dict`) and no block,
-- until the `raw-blocks` fix (server/src/ingest/fixes.rs) moves them; a row in a block
-- has an empty `raw`.
ALTER TABLE events ADD COLUMN raw_block INTEGER;
ALTER TABLE events ADD COLUMN raw_slot INTEGER;

INSERT INTO store_fixes (name, applied_at)
    SELECT 'raw-blocks', 0 WHERE NOT EXISTS (SELECT 1 FROM events);
