-- The tokens the full-text index holds, so that a search prefix can be spelt out as
-- the whole tokens it stands for (whole tokens are looked up within a time range; an
-- FTS5 prefix query reads every matching token's list over the whole index).
CREATE VIRTUAL TABLE events_fts_terms USING fts5vocab(events_fts, 'row');
