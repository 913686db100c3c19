-- User agents (dimension 8) and long-term access keys (9) join the hourly and daily
-- rollups, so the timeline's top lists of agents and keys come from the summaries like
-- the others. Temporary keys (`ASIA…`, one a session) are left out: they would be a row
-- for every few events, and their sessions are listed as principals.
CREATE TEMP TABLE ev AS
    SELECT e.event_time / 3600000 AS hour,
           coalesce(e.read_only = 0, 0) | ((e.error_code_id IS NOT NULL) << 1)
             | (coalesce(ec.value GLOB 'AccessDenied*' OR ec.value GLOB '*UnauthorizedOperation', 0) << 2) AS flags,
           e.user_agent_id, e.access_key_id
    FROM events e LEFT JOIN terms ec ON ec.id = e.error_code_id AND ec.kind = 6;
INSERT INTO rollup_hour (dim, hour, flags, value, events)
    SELECT 8, hour, flags, user_agent_id, count(*) FROM ev
    WHERE user_agent_id IS NOT NULL GROUP BY 2, 3, 4;
INSERT INTO rollup_hour (dim, hour, flags, value, events)
    SELECT 9, hour, flags, access_key_id, count(*) FROM ev
    WHERE access_key_id IS NOT NULL AND access_key_id NOT IN
        (SELECT id FROM terms WHERE kind = 10 AND value GLOB 'ASIA*')
    GROUP BY 2, 3, 4;
DROP TABLE ev;
INSERT INTO rollup_day (dim, day, flags, value, events)
    SELECT dim, hour / 24, flags, value, sum(events) FROM rollup_hour
    WHERE dim IN (8, 9) GROUP BY 1, 2, 3, 4;
