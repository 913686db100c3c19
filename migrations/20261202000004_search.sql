-- Full-text index over the parts of each record that are not interned: request
-- parameters, response elements, additional event data, session context and the like
-- (see `app::search`). Contentless: the text is in the compressed original record, and
-- events are never updated. rowid = events.id.
CREATE VIRTUAL TABLE events_fts USING fts5 (
    text,
    content = '',
    columnsize = 0,
    detail = full,
    tokenize = 'unicode61 remove_diacritics 2'
);
-- Terms are buffered in memory up to 16 MiB before a segment is written (1 MiB by
-- default): fewer, bigger segments and less merging while importing.
INSERT INTO events_fts (events_fts, rank) VALUES ('hashsize', 16777216);

-- Events stored before the index existed are indexed by a backfill that walks down from
-- the newest: every event with id >= pending_below is indexed. NULL: all are.
CREATE TABLE search_index (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    pending_below INTEGER
);
INSERT INTO search_index (id, pending_below) VALUES (1, (SELECT max(id) + 1 FROM events));
