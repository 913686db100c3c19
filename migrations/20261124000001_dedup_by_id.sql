-- Dedup without a second B-tree. An event's row id is derived from its time and a hash
-- of (account, eventID), probing forward on a clash, so an event already stored is found
-- by walking the short probe chain from its first id (a rowid lookup). The random-keyed
-- unique index this replaces cost the writer a random B-tree insert per event.
DROP INDEX events_dedup;
