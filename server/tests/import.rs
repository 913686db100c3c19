//! Import through the real pipeline into a fresh database: malformed fixtures,
//! re-imports, clashing ids and a crash in the middle. The real samples are in
//! `samples.rs` (their own tier).

mod common;

use common::{count, gz, import};
use std::path::Path;

fn rec(id: u32, time: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"{time}","eventSource":"iam.amazonaws.com","eventName":"ListUsers","awsRegion":"us-east-1","eventID":"00000000-0000-0000-0000-{id:012}","recipientAccountId":"111122223333","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/u","userName":"u"}}}}"#
    )
}

#[tokio::test]
async fn malformed_inputs_are_reported_and_the_rest_goes_in() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("in");
    let day = d.join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01");
    let digest = d.join("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/01");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::create_dir_all(&digest).unwrap();
    let t = "2024-01-01T00:00:00Z";
    std::fs::write(d.join("empty.json"), b"").unwrap();
    std::fs::write(d.join("empty-records.json"), br#"{"Records":[]}"#).unwrap();
    // Broken structure rejects the file; a broken record inside good structure only itself.
    std::fs::write(
        d.join("invalid.json"),
        format!(r#"{{"Records":[{}]}}}}"#, rec(80, t)),
    )
    .unwrap();
    std::fs::write(
        d.join("broken-record.json"),
        format!(r#"{{"Records":[{{"eventTime": }},{}]}}"#, rec(6, t)),
    )
    .unwrap();
    let full = gz(&format!(
        r#"{{"Records":[{},{},{}]}}"#,
        rec(90, t),
        rec(91, t),
        rec(92, t)
    ));
    std::fs::write(d.join("truncated.json.gz"), &full[..full.len() - 20]).unwrap();
    std::fs::write(
        day.join("a.json.gz"),
        gz(&format!(
            r#"{{"Records":[{},{{"eventName":"NoTime","eventSource":"x"}},{}]}}"#,
            rec(1, t),
            rec(2, t)
        )),
    )
    .unwrap();
    // The same event in a second file, and a new one; gzip without the .gz name.
    std::fs::write(
        day.join("b.json"),
        gz(&format!(r#"{{"Records":[{},{}]}}"#, rec(2, t), rec(3, t))),
    )
    .unwrap();
    std::fs::write(
        d.join("lines.json"),
        format!("{}\n{}\n", rec(4, "2024-01-01 00:00:05"), rec(5, t)),
    )
    .unwrap();
    std::fs::write(
        digest.join("d.json.gz"),
        gz(r#"{"awsAccountId":"111122223333","digestStartTime":"x","logFiles":[]}"#),
    )
    .unwrap();

    let pool = cairn::db::connect(&tmp.path().join("c.db")).await.unwrap();
    let s = import(&pool, &[d.clone()]).await;
    assert_eq!(s.events_new, 6, "{s:?}");
    assert_eq!(s.events_duplicate, 1);
    assert_eq!(s.records_rejected, 2);
    assert_eq!(s.files_digest, 1);
    let mut bad: Vec<(String, String)> = s
        .files_rejected
        .iter()
        .map(|f| {
            (
                Path::new(&f.path)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                f.error.clone(),
            )
        })
        .collect();
    bad.sort();
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert_eq!(bad[0].0, "empty.json");
    assert!(bad[0].1.contains("empty file"));
    assert_eq!(bad[1].0, "invalid.json");
    assert_eq!(bad[2].0, "truncated.json.gz");
    let r = s
        .rejected_records
        .iter()
        .find(|r| r.path.ends_with("a.json.gz"))
        .unwrap();
    assert!(r.position == 2 && r.error == "no eventTime", "{r:?}");
    let r = s
        .rejected_records
        .iter()
        .find(|r| r.path.ends_with("broken-record.json"))
        .unwrap();
    assert!(
        r.position == 1 && r.error.starts_with("not valid JSON"),
        "{r:?}"
    );
    // Nothing of the truncated or invalid files went in.
    assert_eq!(count(&pool, "SELECT count(*) FROM events").await, 6);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM ingest_files WHERE status = 'rejected'"
        )
        .await,
        3
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM ingest_rejects").await, 2);
}

#[test]
fn a_crash_mid_import_loses_and_doubles_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let files = tmp.path().join("files");
    // Big enough for several commits: the import commits whole files in batches of up to
    // 200,000 events (or 4 s), so a smaller import would be one transaction, and a kill
    // after its first commit would come after everything.
    let spec = cairn::demo::DemoSpec::new(450_000, 3, 9, 1_700_000_000_000);
    spec.write_files(&files).unwrap();
    let expected: i64 = (0..spec.files()).map(|j| common::demo_records(&spec, j).len() as i64).sum();
    let db = tmp.path().join("c.db");
    let mut child = common::command(&db)
        .args(["import", "--json", files.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it hard once the first batch is committed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut killed_mid_way = false;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        let committed = rt.block_on(async {
            let Ok(pool) =
                sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display())).await
            else {
                return 0;
            };
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM ingest_files")
                .fetch_one(&pool)
                .await
                .unwrap_or(0);
            pool.close().await;
            n
        });
        if committed > 0 {
            child.kill().unwrap();
            killed_mid_way = (committed as u64) < spec.files();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.wait();
    // The kill must have landed between commits, or this test proves nothing.
    assert!(
        killed_mid_way,
        "the import finished before it could be killed"
    );
    let out = common::command(&db)
        .args(["import", "--json", files.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The rerun had work left: the first run really stopped part-way.
    let rest = summary["events_new"].as_i64().unwrap_or(0);
    assert!(rest > 0 && rest < expected, "rerun: {summary}");
    rt.block_on(async {
        let pool = cairn::db::connect(&db).await.unwrap();
        let total = count(&pool, "SELECT count(*) FROM events").await;
        let distinct = count(
            &pool,
            "SELECT count(*) FROM (SELECT DISTINCT account_id, event_key FROM events)",
        )
        .await;
        let counted = count(&pool, "SELECT sum(events) FROM counts_minute").await;
        let ledger = count(&pool, "SELECT sum(events_new) FROM ingest_files").await;
        assert_eq!(total, expected, "rerun: {summary}");
        assert_eq!(distinct, total);
        assert_eq!(counted, total);
        assert_eq!(ledger, total);
        assert_eq!(
            count(&pool, "SELECT count(*) FROM ingest_files").await as u64,
            spec.files()
        );
    });
}

/// Dedup walks the probe chain of row ids: events whose first ids clash take the next
/// free ones, and a re-import finds each of them again, whatever the order.
#[tokio::test]
async fn events_whose_ids_clash_are_kept_apart_and_found_again() {
    use cairn::ingest::store::event_hash;
    use std::collections::HashMap;
    let mask = (1u64 << app::schema::ID_HASH_BITS) - 1;
    let mut slots: HashMap<u64, Vec<u32>> = HashMap::new();
    let clash = (0u32..)
        .find_map(|n| {
            let key = format!("clash-{n}");
            let slot = event_hash("111122223333", key.as_bytes()) & mask;
            // Away from the end of the millisecond, where a probe would wrap around.
            if slot > mask - 4 {
                return None;
            }
            let ids = slots.entry(slot).or_default();
            ids.push(n);
            (ids.len() == 3).then(|| ids.clone())
        })
        .expect("a three-way clash exists");
    let rec = |n: u32| {
        format!(
            r#"{{"eventTime":"2024-01-01T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","awsRegion":"us-east-1","eventID":"clash-{n}","recipientAccountId":"111122223333","userIdentity":{{"type":"Root","arn":"arn:aws:iam::111122223333:root"}}}}"#
        )
    };
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first.json");
    let second = tmp.path().join("second.json");
    std::fs::write(
        &first,
        format!(r#"{{"Records":[{},{}]}}"#, rec(clash[0]), rec(clash[1])),
    )
    .unwrap();
    // The later file repeats both in the other order and adds the third.
    std::fs::write(
        &second,
        format!(
            r#"{{"Records":[{},{},{}]}}"#,
            rec(clash[2]),
            rec(clash[1]),
            rec(clash[0])
        ),
    )
    .unwrap();
    let pool = cairn::db::connect(&tmp.path().join("c.db")).await.unwrap();
    let s = import(&pool, std::slice::from_ref(&first)).await;
    assert_eq!((s.events_new, s.events_duplicate), (2, 0));
    let s = import(&pool, std::slice::from_ref(&second)).await;
    assert_eq!((s.events_new, s.events_duplicate), (1, 2));
    assert_eq!(count(&pool, "SELECT count(*) FROM events").await, 3);
    assert_eq!(
        count(&pool, "SELECT count(DISTINCT id >> 21) FROM events").await,
        1,
        "one millisecond"
    );
    assert_eq!(
        count(&pool, "SELECT max(id) - min(id) FROM events").await,
        2,
        "three adjacent slots"
    );
}

/// Aggregated events (5-minute summaries of data events, timed by their window, with
/// `eventId` and `accountId`) are stored, never rejected, once however often imported,
/// and are found by their category like any event.
#[tokio::test]
async fn aggregated_events_go_in_once_beside_ordinary_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let summary = serde_json::json!({
        "eventVersion": "1.0", "accountId": "111122223333", "eventId": "5d3c1a2b-7e44-4c1d-9f0a-2b6c8d9e0f11",
        "eventCategory": "Aggregated", "eventType": "AwsAggregatedEvent", "awsRegion": "us-east-1",
        "eventSource": "s3.amazonaws.com",
        "timeWindow": {"windowStart": "2025-11-20T10:05:00Z", "windowEnd": "2025-11-20T10:10:00Z", "windowSize": "PT5M"},
        "summary": {"primaryDimension": {"dimension": "resourceARN", "details": [
            {"name": "arn:aws:s3:::prod-data", "statistics": {"count": 4812}}]}},
    });
    let ordinary = serde_json::json!({
        "eventVersion": "1.11", "eventTime": "2025-11-20T10:06:00Z", "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject", "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
        "eventID": "6a1f0a34-5bd4-4b7f-9a52-96d2e3a2f8b0", "eventCategory": "Data",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/a", "accountId": "111122223333"},
    });
    let file = tmp.path().join("aggregated.json");
    std::fs::write(
        &file,
        serde_json::json!({"Records": [summary, ordinary]}).to_string(),
    )
    .unwrap();
    let pool = cairn::db::connect(&tmp.path().join("c.db")).await.unwrap();
    let s = import(&pool, std::slice::from_ref(&file)).await;
    assert_eq!((s.events_new, s.records_rejected), (2, 0), "{s:?}");
    // The same records in another file (as two trails would deliver them): stored once.
    let copy = tmp.path().join("copy.json");
    std::fs::copy(&file, &copy).unwrap();
    let again = import(&pool, std::slice::from_ref(&copy)).await;
    assert_eq!(
        (again.events_new, again.events_duplicate),
        (0, 2),
        "{again:?}"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM events e JOIN terms c ON c.id = e.category_id JOIN terms n ON n.id = e.name_id
             WHERE c.value = 'Aggregated' AND n.value = 'Aggregated by resourceARN'
               AND e.event_time = 1763633100000"
        )
        .await,
        1
    );
}

/// Enriched events keep their `eventContext`: it is shown on the event's page, and its
/// tag keys, tag values and condition keys are found by search.
#[tokio::test]
async fn the_event_context_is_kept_shown_and_searchable() {
    let tmp = tempfile::tempdir().unwrap();
    let record = serde_json::json!({
        "eventVersion": "1.11", "eventTime": "2025-11-20T10:06:00Z", "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject", "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
        "eventID": "7b1f0a34-5bd4-4b7f-9a52-96d2e3a2f8b0", "eventCategory": "Data",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/a", "accountId": "111122223333"},
        "eventContext": {"requestContext": {"aws:MultiFactorAuthPresent": "false"},
            "tagContext": {"resourceTags": [{"arn": "arn:aws:s3:::prod-data", "tags": {"DataClass": "restricted"}}],
                           "principalTags": {"Team": "payments"}}},
    });
    let pool = common::store_of(tmp.path(), vec![record]).await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    let detail = app::db::events::detail(&pool, id).await.unwrap().unwrap();
    assert!(
        detail
            .event_context
            .as_deref()
            .is_some_and(|c| c.contains("\"DataClass\": \"restricted\"")),
        "{:?}",
        detail.event_context
    );
    let now = chrono::Utc::now().timestamp_millis();
    for q in [
        "DataClass",
        "restricted",
        "payments",
        "MultiFactorAuthPresent",
    ] {
        let query = app::query::EventQuery::parse(&format!("range=all&q={q}"));
        let t = app::pages::timeline::timeline(&pool, &query, now)
            .await
            .unwrap();
        assert_eq!(t.rows.len(), 1, "search for {q}");
    }
}

/// A record as a file holds it: keys in its own order, spacing and escapes as written.
fn written(id: u32, second: u32, extra: &str) -> String {
    format!(
        "{{ \"eventVersion\":\"1.08\",\"eventTime\":\"2024-03-01T10:00:{second:02}Z\", \"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"GetObject\",\"awsRegion\":\"eu-west-1\",\"eventID\":\"00000000-0000-0000-0000-{id:012}\",\"recipientAccountId\":\"111122223333\",\"userIdentity\":{{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::111122223333:user/a\\u00e9\"}}{extra} }}"
    )
}

/// Where event `id`'s record is stored.
async fn stored(pool: &sqlx::SqlitePool, id: i64) -> app::db::events::Stored {
    sqlx::query_as("SELECT raw_dict, raw, raw_block, raw_slot FROM events WHERE id = ?1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Every stored record, by eventID, read back through the page's reader.
async fn records_by_id(pool: &sqlx::SqlitePool) -> std::collections::BTreeMap<String, Vec<u8>> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM events ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap();
    let mut reader = app::db::events::RawReader::default();
    let mut out = std::collections::BTreeMap::new();
    for id in ids {
        let bytes = reader
            .read(pool, id, stored(pool, id).await.at())
            .await
            .expect("the record reads back");
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        out.insert(v["eventID"].as_str().unwrap().to_owned(), bytes);
    }
    out
}

#[tokio::test]
async fn records_come_back_byte_for_byte_from_blocks_and_duplicates_are_kept_once() {
    let dir = tempfile::tempdir().unwrap();
    let pool = cairn::db::connect(&dir.path().join("c.db")).await.unwrap();
    let recs: Vec<String> = (1..=5)
        .map(|i| written(i, i, if i == 4 { ",\"x\":\"\\\"<b>\"" } else { "" }))
        .collect();
    // The first file holds records 1 to 3; the second 2 to 5 (2 and 3 again), gzipped.
    std::fs::write(
        dir.path().join("a.json"),
        format!("{{\"Records\":[{}]}}", recs[..3].join(",")),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.json.gz"),
        common::gz(format!("{{\"Records\":[{}]}}", recs[1..].join(","))),
    )
    .unwrap();
    let s = common::import(&pool, &[dir.path().join("a.json")]).await;
    assert_eq!(s.events_new, 3);
    let s = common::import(&pool, &[dir.path().join("b.json.gz")]).await;
    assert_eq!((s.events_new, s.events_duplicate), (2, 2));
    // One block per file; the second keeps only its two new records.
    assert_eq!(
        common::count(&pool, "SELECT count(*) FROM raw_blocks").await,
        2
    );
    assert_eq!(
        common::count(
            &pool,
            "SELECT count(*) FROM events WHERE raw_block IS NULL OR length(raw) > 0"
        )
        .await,
        0
    );
    let back = records_by_id(&pool).await;
    assert_eq!(back.len(), 5);
    for (i, r) in recs.iter().enumerate() {
        let id = format!("00000000-0000-0000-0000-{:012}", i + 1);
        assert_eq!(
            std::str::from_utf8(&back[&id]).unwrap(),
            r,
            "record {id} is as written"
        );
    }
    let blocks: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT dict, data FROM raw_blocks ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut unpack = app::db::events::Unpacker::default();
    unpack.learn(
        blocks[1].0,
        sqlx::query_scalar("SELECT data FROM raw_dictionaries WHERE id = ?1")
            .bind(blocks[1].0)
            .fetch_optional(&pool)
            .await
            .unwrap(),
    );
    unpack.learn_block(2, blocks[1].0, &blocks[1].1).unwrap();
    let slot = |s| app::db::events::At {
        dict: 0,
        raw: &[],
        block: Some(2),
        slot: Some(s),
    };
    assert!(
        unpack.take(slot(0)).is_err() && unpack.take(slot(1)).is_err(),
        "the duplicates' slots are empty"
    );
    assert_eq!(unpack.take(slot(3)).unwrap(), recs[4].as_bytes());
    // A file all of whose records are held already leaves no block behind.
    std::fs::write(
        dir.path().join("c.json"),
        format!("{{\"Records\":[{}]}}", recs[..2].join(",")),
    )
    .unwrap();
    let s = common::import(&pool, &[dir.path().join("c.json")]).await;
    assert_eq!((s.events_new, s.events_duplicate), (0, 2));
    assert_eq!(
        common::count(&pool, "SELECT count(*) FROM raw_blocks").await,
        2
    );
    pool.close().await;
}

#[tokio::test]
async fn records_stored_one_by_one_by_older_versions_move_into_blocks_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let pool = cairn::db::connect(&db).await.unwrap();
    let recs: Vec<String> = (1..=40).map(|i| written(i, i % 60, "")).collect();
    std::fs::write(
        dir.path().join("a.json"),
        format!("{{\"Records\":[{}]}}", recs.join(",")),
    )
    .unwrap();
    common::import(&pool, &[dir.path().join("a.json")]).await;
    // As an older version stored them: each record compressed on its own in its row
    // (one unreadable), no blocks, the fix not yet applied.
    let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT id, raw_slot FROM events ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    let before = records_by_id(&pool).await;
    let by_slot: std::collections::HashMap<i64, Vec<u8>> = {
        let mut m = std::collections::HashMap::new();
        for (id, _) in &rows {
            let bytes = app::db::events::RawReader::default()
                .read(&pool, *id, stored(&pool, *id).await.at())
                .await
                .unwrap();
            m.insert(*id, bytes);
        }
        m
    };
    let broken = rows[7].0;
    for (id, _) in &rows {
        let own = if *id == broken {
            b"not zstd".to_vec()
        } else {
            zstd::bulk::compress(&by_slot[id], 3).unwrap()
        };
        sqlx::query("UPDATE events SET raw_dict = 0, raw = ?2, raw_block = NULL, raw_slot = NULL WHERE id = ?1")
            .bind(id)
            .bind(own)
            .execute(&pool)
            .await
            .unwrap();
    }
    sqlx::query("DELETE FROM raw_blocks")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM store_fixes WHERE name = 'raw-blocks'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    // Opening the database applies the fix.
    let pool = cairn::db::connect(&db).await.unwrap();
    assert_eq!(
        common::count(
            &pool,
            "SELECT count(*) FROM store_fixes WHERE name = 'raw-blocks'"
        )
        .await,
        1
    );
    assert_eq!(
        common::count(&pool, "SELECT count(*) FROM events WHERE raw_block IS NULL").await,
        1,
        "the unreadable record stays in its row"
    );
    assert_eq!(
        common::count(
            &pool,
            "SELECT count(*) FROM events WHERE raw_block IS NOT NULL AND length(raw) = 0"
        )
        .await,
        39
    );
    assert_eq!(
        stored(&pool, broken).await.raw,
        b"not zstd",
        "kept as it was"
    );
    for (id, _) in &rows {
        if *id == broken {
            continue;
        }
        let bytes = app::db::events::RawReader::default()
            .read(&pool, *id, stored(&pool, *id).await.at())
            .await
            .unwrap();
        assert_eq!(bytes, by_slot[id]);
    }
    assert_eq!(before.len(), 40);
    pool.close().await;
}

/// The records of the generated delivery file `j`.
/// The records of a small generated trail: every kind of event the generator writes.
fn generated_records() -> Vec<serde_json::Value> {
    let spec = cairn::demo::DemoSpec::new(3_000, 1, 21, 1_700_000_000_000);
    (0..spec.files()).flat_map(|j| common::demo_records(&spec, j)).collect()
}

#[tokio::test]
async fn exports_from_logstash_elastic_and_splunk_give_the_same_events() {
    let records = generated_records();
    assert!(records.len() >= 3_000);
    common::exports_give_the_same_events(&records).await;
}

#[tokio::test]
async fn broken_envelopes_are_rejected_with_reasons_and_the_rest_goes_in() {
    let dir = tempfile::tempdir().unwrap();
    let good = |id: u32| written(id, id, "");
    let quoted = |s: &str| serde_json::to_string(s).unwrap();
    // Elastic: one document kept its original, one has only the ECS fields (rebuilt,
    // with what it lacks said), one lacks the event's name, one holds no _source.
    let rebuilt = r#"{"@timestamp":"2024-03-01T10:00:07.000Z","aws":{"cloudtrail":{"event_version":"1.08","recipient_account_id":"111122223333","request_parameters":"{bucketName=b}","user_identity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a"}}},"cloud":{"account":{"id":"111122223333"},"region":"eu-west-1"},"event":{"action":"GetObject","provider":"s3.amazonaws.com","id":"00000000-0000-0000-0000-000000000007"},"source":{"address":"198.51.100.7"},"user_agent":{"original":"aws-cli/2"},"user":{"name":"a"}}"#;
    let ecs = [
        format!(r#"{{"@timestamp":"2024-03-01T10:00:01.000Z","event":{{"original":{}}}}}"#, quoted(&good(1))),
        rebuilt.to_owned(),
        r#"{"@timestamp":"2024-03-01T10:00:08.000Z","aws":{"cloudtrail":{"event_version":"1.08"}},"event":{"provider":"s3.amazonaws.com"}}"#.to_owned(),
        r#"{"_index":"ct","_id":"x"}"#.to_owned(),
    ];
    let input = dir.path().join("exports");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("elastic.ndjson"), ecs.join("\n")).unwrap();
    // Splunk: a good _raw, one holding broken JSON, in JSON lines and in CSV.
    let splunk = [
        format!(r#"{{"result":{{"_raw":{}}}}}"#, quoted(&good(2))),
        r#"{"result":{"_raw":"{\"eventTime\": \"2024-03-01T10:00:09Z\", oops"}}"#.to_owned(),
    ];
    std::fs::write(input.join("splunk.json"), splunk.join("\n")).unwrap();
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(["_time", "_raw"]).unwrap();
    csv.write_record(["t", good(3).as_str()]).unwrap();
    csv.write_record(["t", "not json at all"]).unwrap();
    std::fs::write(input.join("splunk.csv"), csv.into_inner().unwrap()).unwrap();
    // A CSV without a _raw column is not an export of records.
    std::fs::write(input.join("other.csv"), "a,b\n1,2\n").unwrap();
    // A quote never closed would make the rest of the file one field: refused past 16 MiB.
    let mut unclosed = b"_time,_raw\nt,\"".to_vec();
    unclosed.resize(unclosed.len() + (17 << 20), b'a');
    std::fs::write(input.join("unclosed.csv.gz"), gz(unclosed)).unwrap();
    // A byte-order mark before the JSON.
    std::fs::write(input.join("bom.json"), format!("\u{feff}{{\"Records\":[{}]}}", good(5))).unwrap();
    let pool = cairn::db::connect(&dir.path().join("c.db")).await.unwrap();
    let s = common::import(&pool, &[input]).await;
    assert_eq!(
        (s.events_new, s.records_rejected, s.records_partial),
        (5, 4, 1),
        "{s:?}"
    );
    assert_eq!(
        (s.shapes.ecs, s.shapes.splunk, s.shapes.cloudtrail),
        (4, 4, 1),
        "{:?}",
        s.shapes
    );
    let why: Vec<(String, u64, &str)> = s
        .rejected_records
        .iter()
        .map(|r| {
            (
                r.path.rsplit('/').next().unwrap().to_owned(),
                r.position,
                r.error.as_str(),
            )
        })
        .collect();
    let has = |file: &str, pos: u64, text: &str| {
        assert!(
            why.iter()
                .any(|(f, p, e)| f == file && *p == pos && e.contains(text)),
            "{file} #{pos} rejected for '{text}': {why:?}"
        )
    };
    has(
        "elastic.ndjson",
        3,
        "without event.action: the event cannot be rebuilt",
    );
    has("elastic.ndjson", 4, "a search hit without _source");
    has("splunk.json", 2, "_raw is not a JSON record");
    has("splunk.csv", 2, "_raw is not a JSON record");
    assert_eq!(s.files_rejected.len(), 2, "{:?}", s.files_rejected);
    assert!(
        s.files_rejected[0].path.ends_with("other.csv")
            && s.files_rejected[0].error.contains("no _raw column")
    );
    assert!(
        s.files_rejected[1].path.ends_with("unclosed.csv.gz")
            && s.files_rejected[1].error.contains("is larger than 16777216 bytes"),
        "{:?}",
        s.files_rejected[1]
    );
    let partial = &s.partial_records[0];
    assert!(
        partial.path.ends_with("elastic.ndjson") && partial.position == 2,
        "{partial:?}"
    );
    assert!(
        partial.error.ends_with("not recovered: requestParameters"),
        "{partial:?}"
    );
    // The rebuilt event is stored with what Elastic kept of it.
    let rebuilt: (String, String, String) = sqlx::query_as(
        "SELECT (SELECT value FROM terms WHERE id = e.name_id), (SELECT value FROM terms WHERE id = e.source_ip_id),
                (SELECT key FROM principals WHERE id = e.principal_id)
         FROM events e WHERE e.event_time = 1709287207000",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(rebuilt.0, "GetObject");
    assert_eq!(rebuilt.1, "198.51.100.7");
    assert!(rebuilt.2.contains("user/a"), "{rebuilt:?}");
}
