-- Summaries per principal (kind 0) and per resource (kind 1; single S3 objects are not
-- summarised: their pages scan their few events), so a principal's or resource's page
-- and the timeline filtered to one answer long ranges without reading every event.

-- Events per entity, minute and flags (app::schema::flags): KPIs and the histogram.
CREATE TABLE entity_minute (
    kind   INTEGER NOT NULL,
    entity INTEGER NOT NULL,
    minute INTEGER NOT NULL,
    flags  INTEGER NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (kind, entity, minute, flags)
) WITHOUT ROWID;

-- Events per entity, dimension (app::schema::Dim; 10 = single S3 objects, kept apart
-- from 3 so lists that leave objects out can), day, flags and value: the top lists.
CREATE TABLE entity_day (
    kind   INTEGER NOT NULL,
    entity INTEGER NOT NULL,
    dim    INTEGER NOT NULL,
    day    INTEGER NOT NULL,
    flags  INTEGER NOT NULL,
    value  INTEGER NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (kind, entity, dim, day, flags, value)
) WITHOUT ROWID;

-- Backfill from what is stored already.
CREATE TEMP TABLE ev AS
    SELECT e.id, e.event_time / 60000 AS minute, e.event_time / 86400000 AS day,
           coalesce(e.read_only = 0, 0) | ((e.error_code_id IS NOT NULL) << 1)
             | (coalesce(ec.value GLOB 'AccessDenied*' OR ec.value GLOB '*UnauthorizedOperation', 0) << 2) AS flags,
           e.principal_id, e.name_id, e.source_id, e.resource_ids, e.source_ip_id, e.error_code_id,
           e.region_id, e.account_id, e.user_agent_id, e.access_key_id
    FROM events e LEFT JOIN terms ec ON ec.id = e.error_code_id;
-- Each event's values, one row per dimension.
CREATE TEMP TABLE vals AS
    SELECT id, 0 AS dim, principal_id AS value FROM ev
    UNION ALL SELECT id, 1, name_id FROM ev
    UNION ALL SELECT id, 2, source_id FROM ev
    UNION ALL SELECT ev.id, CASE WHEN res.type = 'AWS::S3::Object' THEN 10 ELSE 3 END, r.value
        FROM ev, json_each(ev.resource_ids) r JOIN resources res ON res.id = r.value
    UNION ALL SELECT id, 4, source_ip_id FROM ev WHERE source_ip_id IS NOT NULL
    UNION ALL SELECT id, 5, error_code_id FROM ev WHERE error_code_id IS NOT NULL
    UNION ALL SELECT id, 6, region_id FROM ev WHERE region_id IS NOT NULL
    UNION ALL SELECT id, 7, account_id FROM ev
    UNION ALL SELECT id, 8, user_agent_id FROM ev WHERE user_agent_id IS NOT NULL
    UNION ALL SELECT id, 9, access_key_id FROM ev WHERE access_key_id IS NOT NULL;
CREATE INDEX temp.ev_id ON ev (id);
CREATE INDEX temp.vals_id ON vals (id);
-- Each event's entities: its principal, and its resources other than single objects.
CREATE TEMP TABLE ents AS
    SELECT id, 0 AS kind, principal_id AS entity FROM ev
    UNION ALL SELECT id, 1, value FROM vals WHERE dim = 3;
INSERT INTO entity_minute
    SELECT n.kind, n.entity, ev.minute, ev.flags, count(*)
    FROM ents n JOIN ev ON ev.id = n.id GROUP BY 1, 2, 3, 4;
INSERT INTO entity_day
    SELECT n.kind, n.entity, v.dim, ev.day, ev.flags, v.value, count(*)
    FROM ents n JOIN ev ON ev.id = n.id JOIN vals v ON v.id = n.id
    GROUP BY 1, 2, 3, 4, 5, 6;
DROP TABLE ents;
DROP TABLE vals;
DROP TABLE ev;
