-- Investigation views: pre-aggregated counts for the KPIs, histogram and top-N panels,
-- and the indexes the principal, resource and filter lookups need.
--
-- Counts are kept per combination of flags (see app::schema::flags): 1 = a write
-- (not read-only), 2 = failed (has an error code), 4 = refused (AccessDenied* or
-- *UnauthorizedOperation). So "writes only", "errors only" and "no errors" are answered
-- from the summaries as well as the unfiltered view.

CREATE TABLE counts_minute_flags (
    minute INTEGER NOT NULL,
    flags  INTEGER NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (minute, flags)
) WITHOUT ROWID;

INSERT INTO counts_minute_flags (minute, flags, events)
    SELECT e.event_time / 60000,
           (e.read_only = 0) | ((e.error_code_id IS NOT NULL) << 1)
             | (coalesce(ec.value GLOB 'AccessDenied*' OR ec.value GLOB '*UnauthorizedOperation', 0) << 2),
           count(*)
    FROM events e LEFT JOIN terms ec ON ec.id = e.error_code_id
    GROUP BY 1, 2;

DROP TABLE counts_minute;
ALTER TABLE counts_minute_flags RENAME TO counts_minute;

-- Events per hour, flags and value of one dimension (app::schema::Dim). S3 objects are
-- left out of the resource dimension: one row per object would make it as big as the
-- events; they are counted where a selection is scanned.
CREATE TABLE rollup_hour (
    dim    INTEGER NOT NULL,
    hour   INTEGER NOT NULL,
    flags  INTEGER NOT NULL,
    value  INTEGER NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (dim, hour, flags, value)
) WITHOUT ROWID;

-- The same per day, for long ranges (a month is 30 rows per value instead of 720).
CREATE TABLE rollup_day (
    dim    INTEGER NOT NULL,
    day    INTEGER NOT NULL,
    flags  INTEGER NOT NULL,
    value  INTEGER NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (dim, day, flags, value)
) WITHOUT ROWID;

-- A principal's events, newest last: the principal page and `principal=` filters.
CREATE INDEX events_principal ON events (principal_id, id);
CREATE INDEX principals_parent ON principals (parent_id);
CREATE INDEX principals_display ON principals (display_name);
CREATE INDEX resources_name ON resources (name);
CREATE INDEX resources_type ON resources (type);

-- Backfill from what is stored already.
CREATE TEMP TABLE ev AS
    SELECT e.event_time / 3600000 AS hour,
           (e.read_only = 0) | ((e.error_code_id IS NOT NULL) << 1)
             | (coalesce(ec.value GLOB 'AccessDenied*' OR ec.value GLOB '*UnauthorizedOperation', 0) << 2) AS flags,
           e.principal_id, e.name_id, e.source_id, e.resource_ids, e.source_ip_id, e.error_code_id,
           e.region_id, e.account_id
    FROM events e LEFT JOIN terms ec ON ec.id = e.error_code_id;
INSERT INTO rollup_hour SELECT 0, hour, flags, principal_id, count(*) FROM ev GROUP BY 2, 3, 4;
INSERT INTO rollup_hour SELECT 1, hour, flags, name_id, count(*) FROM ev GROUP BY 2, 3, 4;
INSERT INTO rollup_hour SELECT 2, hour, flags, source_id, count(*) FROM ev GROUP BY 2, 3, 4;
INSERT INTO rollup_hour SELECT 3, ev.hour, ev.flags, r.value, count(*)
    FROM ev, json_each(ev.resource_ids) r JOIN resources res ON res.id = r.value
    WHERE res.type <> 'AWS::S3::Object' GROUP BY 2, 3, 4;
INSERT INTO rollup_hour SELECT 4, hour, flags, source_ip_id, count(*) FROM ev
    WHERE source_ip_id IS NOT NULL GROUP BY 2, 3, 4;
INSERT INTO rollup_hour SELECT 5, hour, flags, error_code_id, count(*) FROM ev
    WHERE error_code_id IS NOT NULL GROUP BY 2, 3, 4;
INSERT INTO rollup_hour SELECT 6, hour, flags, region_id, count(*) FROM ev
    WHERE region_id IS NOT NULL GROUP BY 2, 3, 4;
INSERT INTO rollup_hour SELECT 7, hour, flags, account_id, count(*) FROM ev GROUP BY 2, 3, 4;
DROP TABLE ev;
INSERT INTO rollup_day SELECT dim, hour / 24, flags, value, sum(events) FROM rollup_hour GROUP BY 1, 2, 3, 4;
