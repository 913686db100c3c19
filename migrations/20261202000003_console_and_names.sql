-- Console sign-ins per principal (the principal card), kept on insert: counting them
-- from the events would walk all of a busy principal's history.
CREATE TABLE principal_console (
    principal_id  INTEGER PRIMARY KEY,
    logins        INTEGER NOT NULL,
    last_event_id INTEGER NOT NULL
);
INSERT INTO principal_console (principal_id, logins, last_event_id)
    SELECT e.principal_id, count(*), max(e.id) FROM events e
    WHERE e.name_id = (SELECT id FROM terms WHERE kind = 3 AND value = 'ConsoleLogin')
    GROUP BY e.principal_id;

-- An event name's events in time order: `event=` filters (the most common) read only the
-- matching rows instead of the whole range.
CREATE INDEX events_name ON events (name_id, id);
