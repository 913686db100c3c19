-- What drives the bill: the stored events of each billed kind per month, by principal,
-- event name and resource (S3 objects left out: their bucket is counted), per account
-- and Region, so the costs page shares each kind's charge among what caused it without
-- scanning events. Each stored event counts once; the costs page prices them at the
-- month's charge per stored event of their kind, account and Region.
--
-- month: the first day of the month (days since 1970-01-01). kind: 0 management,
-- 1 data, 2 network activity, plus 4 when the record names no `eventCategory` and the
-- kind was inferred (records older than that field), so a link into the timeline adds a
-- category filter only where it would find them. dim: app::schema::Dim (0 principal,
-- 1 event name, 3 resource). region: its term, 0 when the record names none.
CREATE TABLE cost_drivers (
    month   INTEGER NOT NULL,
    kind    INTEGER NOT NULL,
    dim     INTEGER NOT NULL,
    value   INTEGER NOT NULL,
    account INTEGER NOT NULL,
    region  INTEGER NOT NULL,
    events  INTEGER NOT NULL,
    PRIMARY KEY (month, kind, dim, value, account, region)
) WITHOUT ROWID;

-- From what is stored already, with the import's rule for records without a category:
-- S3 object-level calls and Lambda invocations are data events, the rest management.
CREATE TEMP TABLE billed (
    id          INTEGER PRIMARY KEY,
    month       INTEGER NOT NULL,
    kind        INTEGER,
    principal_id INTEGER NOT NULL,
    name_id     INTEGER NOT NULL,
    account_id  INTEGER NOT NULL,
    region      INTEGER NOT NULL
);
INSERT INTO temp.billed (id, month, kind, principal_id, name_id, account_id, region)
    SELECT e.id,
           CAST(julianday(date(e.event_time / 1000, 'unixepoch', 'start of month')) - 2440587.5 AS INTEGER),
           CASE
               WHEN c.value = 'Management' THEN 0
               WHEN c.value = 'Data' THEN 1
               WHEN c.value = 'NetworkActivity' THEN 2
               WHEN c.value IS NOT NULL THEN NULL
               WHEN coalesce(t.value, '') = 'AwsCloudTrailInsight' THEN NULL
               WHEN (s.value = 's3.amazonaws.com' AND (n.value GLOB '*Object*' OR n.value GLOB '*Multipart*'))
                    OR (s.value = 'lambda.amazonaws.com' AND n.value = 'Invoke') THEN 5
               ELSE 4
           END,
           e.principal_id, e.name_id, e.account_id, coalesce(e.region_id, 0)
    FROM events e
    JOIN terms s ON s.id = e.source_id
    JOIN terms n ON n.id = e.name_id
    LEFT JOIN terms c ON c.id = e.category_id
    LEFT JOIN terms t ON t.id = e.type_id;
DELETE FROM temp.billed WHERE kind IS NULL;
-- Any call on a single S3 object is a data event.
UPDATE temp.billed SET kind = 5
    WHERE kind = 4 AND id IN (SELECT er.event_id FROM resources r
                              JOIN event_resources er ON er.resource_id = r.id
                              WHERE r.type = 'AWS::S3::Object');

INSERT INTO cost_drivers (month, kind, dim, value, account, region, events)
    SELECT month, kind, 0, principal_id, account_id, region, count(*)
    FROM temp.billed GROUP BY 1, 2, 4, 5, 6;
INSERT INTO cost_drivers (month, kind, dim, value, account, region, events)
    SELECT month, kind, 1, name_id, account_id, region, count(*)
    FROM temp.billed GROUP BY 1, 2, 4, 5, 6;
INSERT INTO cost_drivers (month, kind, dim, value, account, region, events)
    SELECT b.month, b.kind, 3, er.resource_id, b.account_id, b.region, count(*)
    FROM resources r
    JOIN event_resources er ON er.resource_id = r.id
    JOIN temp.billed b ON b.id = er.event_id
    WHERE r.type <> 'AWS::S3::Object'
    GROUP BY 1, 2, 4, 5, 6;
DROP TABLE temp.billed;
