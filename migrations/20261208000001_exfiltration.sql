-- Exfiltration: S3 reads summed per hour, actor, bucket and source address, kept by the
-- importer in the transaction that stores the events (late events add to their hour).
--
-- actor: the principal a read is judged as (principals.id): the person behind a session,
-- or the role when the session's name is a machine's (an instance id, an SDK's random
-- name). bucket: resources.id of the bucket, 0 when the record names none. source_ip:
-- terms.id, 0 when none. objects: object reads (GetObject, CopyObject, …); lists: listing
-- calls; bytes: additionalEventData.bytesTransferredOut summed; presigned: reads signed
-- in the query string.
CREATE TABLE s3_reads (
    hour      INTEGER NOT NULL,
    actor     INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    source_ip INTEGER NOT NULL,
    objects   INTEGER NOT NULL,
    lists     INTEGER NOT NULL,
    bytes     INTEGER NOT NULL,
    presigned INTEGER NOT NULL,
    PRIMARY KEY (hour, actor, bucket, source_ip)
) WITHOUT ROWID;
CREATE INDEX s3_reads_by_actor ON s3_reads (actor, hour);

-- The first hour an actor read a bucket (kind 0, value: the bucket's resources.id) or
-- read from a network (kind 1, value: the address's /16, or /48 for IPv6, as text).
CREATE TABLE s3_firsts (
    actor      INTEGER NOT NULL,
    kind       INTEGER NOT NULL,
    value      TEXT NOT NULL,
    first_hour INTEGER NOT NULL,
    PRIMARY KEY (actor, kind, value)
) WITHOUT ROWID;

-- What made an anomaly finding fire (JSON: a sentence and its figures).
ALTER TABLE findings ADD COLUMN detail TEXT;
