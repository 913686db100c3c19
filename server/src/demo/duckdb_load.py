# The peer of `cairn bench --duckdb`: loads the same generated delivery files into DuckDB
# with its faster JSON reader (read_json_objects, one object per file, its Records
# unnested), keeping the columns a timeline filters on beside each whole record, and
# prints one JSON line: seconds, events, bytes on disk.
import json
import os
import sys
import time

import duckdb

files, db = sys.argv[1], sys.argv[2]
for p in (db, db + ".wal"):
    if os.path.exists(p):
        os.remove(p)
con = duckdb.connect(db)
con.execute("SET enable_progress_bar = false")
start = time.perf_counter()
con.execute(
    """
    CREATE TABLE events AS
    SELECT r->>'eventID' AS event_id,
           (r->>'eventTime')::TIMESTAMP AS event_time,
           r->>'recipientAccountId' AS account,
           r->>'awsRegion' AS region,
           r->>'eventSource' AS event_source,
           r->>'eventName' AS event_name,
           r->'userIdentity'->>'arn' AS principal,
           r->>'sourceIPAddress' AS source_ip,
           r->>'userAgent' AS user_agent,
           r->>'errorCode' AS error_code,
           r AS record
    FROM (SELECT unnest(json_extract(json, '$.Records[*]')) AS r
          FROM read_json_objects(?, format = 'auto', compression = 'gzip'))
    """,
    [os.path.join(files, "**", "*.json.gz")],
)
con.execute("CHECKPOINT")
seconds = time.perf_counter() - start
events = con.execute("SELECT count(*) FROM events").fetchone()[0]
con.close()
print(json.dumps({"version": duckdb.__version__, "seconds": seconds, "events": events,
                  "bytes": os.path.getsize(db)}))
