-- Insights-style rates: per account, Region, event source and name, the write management
-- calls (call rate) and the management calls returning an error (error rate) of each
-- minute, kept by the importer in the transaction that stores the events. Minutes with
-- neither are not kept. region: terms.id, 0 for none.
CREATE TABLE call_minute (
    account INTEGER NOT NULL,
    region  INTEGER NOT NULL,
    source  INTEGER NOT NULL,
    name    INTEGER NOT NULL,
    minute  INTEGER NOT NULL,
    calls   INTEGER NOT NULL,
    errors  INTEGER NOT NULL,
    PRIMARY KEY (account, region, source, name, minute)
) WITHOUT ROWID;

-- The same per day, with the busiest minute of each: a baseline of 7 days is 7 rows.
CREATE TABLE call_day (
    account     INTEGER NOT NULL,
    region      INTEGER NOT NULL,
    source      INTEGER NOT NULL,
    name        INTEGER NOT NULL,
    day         INTEGER NOT NULL,
    calls       INTEGER NOT NULL,
    errors      INTEGER NOT NULL,
    calls_peak  INTEGER NOT NULL,
    errors_peak INTEGER NOT NULL,
    PRIMARY KEY (account, region, source, name, day)
) WITHOUT ROWID;

-- Backfill from what is stored already (judged from the next import on). A management
-- call is one whose eventCategory says so, or, for records older than that field, one
-- that is not an S3 object call or a Lambda invocation; AWS's own service events and
-- Insights records are not calls.
INSERT INTO call_minute (account, region, source, name, minute, calls, errors)
    SELECT e.account_id, coalesce(e.region_id, 0), e.source_id, e.name_id, e.event_time / 60000,
           sum(e.read_only = 0), sum(e.error_code_id IS NOT NULL OR e.error_message_id IS NOT NULL)
    FROM events e
    JOIN terms s ON s.id = e.source_id
    JOIN terms n ON n.id = e.name_id
    LEFT JOIN terms c ON c.id = e.category_id
    LEFT JOIN terms t ON t.id = e.type_id
    WHERE coalesce(t.value, '') NOT IN ('AwsServiceEvent', 'AwsCloudTrailInsight')
      AND coalesce(c.value,
            CASE WHEN s.value = 's3.amazonaws.com' AND (n.value LIKE '%Object%' OR n.value LIKE '%Multipart%')
                   THEN 'Data'
                 WHEN s.value = 'lambda.amazonaws.com' AND n.value = 'Invoke' THEN 'Data'
                 ELSE 'Management' END) = 'Management'
      AND (e.read_only = 0 OR e.error_code_id IS NOT NULL OR e.error_message_id IS NOT NULL)
    GROUP BY 1, 2, 3, 4, 5;

INSERT INTO call_day (account, region, source, name, day, calls, errors, calls_peak, errors_peak)
    SELECT account, region, source, name, minute / 1440, sum(calls), sum(errors), max(calls), max(errors)
    FROM call_minute GROUP BY 1, 2, 3, 4, 5;
