-- The write events of each resource (single S3 objects included): a resource's page
-- lists its changes without walking its reads, which can be millions (a KMS key).
CREATE TABLE resource_changes (
    resource_id INTEGER NOT NULL,
    event_id    INTEGER NOT NULL,
    PRIMARY KEY (resource_id, event_id)
) WITHOUT ROWID;

INSERT INTO resource_changes (resource_id, event_id)
    SELECT er.resource_id, er.event_id FROM event_resources er
    JOIN events e ON e.id = er.event_id WHERE e.read_only = 0;
