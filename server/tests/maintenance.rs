//! Retention: removing old events leaves the store exactly as an import of the events
//! that remain would have made it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A summary value spelt out: principals by key, resources by ARN, terms by value.
const NAME: &str = "CASE WHEN d = 0 THEN (SELECT key FROM principals WHERE id = v)
     WHEN d IN (3, 10) THEN (SELECT arn FROM resources WHERE id = v)
     ELSE (SELECT value FROM terms WHERE id = v) END";

/// Every summary and side table, with ids spelt out, one sorted list per table.
async fn dump(pool: &sqlx::SqlitePool) -> BTreeMap<&'static str, Vec<String>> {
    let entity = "CASE WHEN k = 0 THEN (SELECT key FROM principals WHERE id = en) ELSE (SELECT arn FROM resources WHERE id = en) END";
    let term = |col: &str| format!("(SELECT value FROM terms WHERE id = {col})");
    let queries: Vec<(&'static str, String)> = vec![
        ("counts_minute", "SELECT json_array(minute, flags, events) FROM counts_minute".into()),
        (
            "rollup_hour",
            format!("SELECT json_array(d, hour, flags, {NAME}, events) FROM (SELECT dim AS d, value AS v, * FROM rollup_hour)"),
        ),
        (
            "rollup_day",
            format!("SELECT json_array(d, day, flags, {NAME}, events) FROM (SELECT dim AS d, value AS v, * FROM rollup_day)"),
        ),
        (
            "entity_minute",
            format!("SELECT json_array(k, {entity}, minute, flags, events) FROM (SELECT kind AS k, entity AS en, * FROM entity_minute)"),
        ),
        (
            "entity_day",
            format!(
                "SELECT json_array(k, {entity}, d, day, flags, {NAME}, events)
                 FROM (SELECT kind AS k, entity AS en, dim AS d, value AS v, * FROM entity_day)"
            ),
        ),
        (
            "cost_drivers",
            format!(
                "SELECT json_array(month, kind, d, {NAME}, {}, {}, events)
                 FROM (SELECT dim AS d, value AS v, * FROM cost_drivers)",
                term("account"),
                term("region")
            ),
        ),
        (
            "call_minute",
            format!(
                "SELECT json_array({}, {}, {}, {}, minute, calls, errors) FROM call_minute",
                term("account"),
                term("region"),
                term("source"),
                term("name")
            ),
        ),
        (
            "call_day",
            format!(
                "SELECT json_array({}, {}, {}, {}, day, calls, errors) FROM call_day WHERE calls > 0 OR errors > 0",
                term("account"),
                term("region"),
                term("source"),
                term("name")
            ),
        ),
        (
            "s3_reads",
            format!(
                "SELECT json_array(hour, (SELECT key FROM principals WHERE id = actor),
                   (SELECT arn FROM resources WHERE id = bucket), {}, objects, lists, bytes, presigned)
                 FROM s3_reads",
                term("source_ip")
            ),
        ),
        (
            "principals",
            "SELECT json_array(key, events, first_seen, last_seen) FROM principals WHERE events > 0".into(),
        ),
        (
            "principal_console",
            "SELECT json_array((SELECT key FROM principals WHERE id = principal_id), logins, failed, mfa,
               last_event_id, last_ok_event_id) FROM principal_console"
                .into(),
        ),
        (
            "event_resources",
            "SELECT json_array((SELECT arn FROM resources WHERE id = resource_id), event_id) FROM event_resources".into(),
        ),
        (
            "resource_changes",
            "SELECT json_array((SELECT arn FROM resources WHERE id = resource_id), event_id) FROM resource_changes".into(),
        ),
        (
            "access_key_changes",
            "SELECT json_array(access_key, event_id) FROM access_key_changes".into(),
        ),
        (
            "issued_credentials",
            "SELECT json_array(access_key, event_id, (SELECT key FROM principals WHERE id = principal_id),
               session_arn, source_identity) FROM issued_credentials"
                .into(),
        ),
        // The full-text index: every term, in how many events.
        ("events_fts", "SELECT json_array(term, doc, cnt) FROM events_fts_terms".into()),
    ];
    let mut out = BTreeMap::new();
    for (table, sql) in queries {
        let mut rows: Vec<String> = sqlx::query_scalar(&sql)
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        rows.sort();
        out.insert(table, rows);
    }
    out
}

/// Writes each delivery file's records to `dir` as a file of its own.
fn write_files(dir: &Path, files: &[Vec<serde_json::Value>]) {
    std::fs::create_dir_all(dir).unwrap();
    for (j, records) in files.iter().enumerate() {
        if records.is_empty() {
            continue;
        }
        let body = serde_json::json!({ "Records": records }).to_string();
        std::fs::write(dir.join(format!("{j:05}.json")), body).unwrap();
    }
}

fn time_of(record: &serde_json::Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(record["eventTime"].as_str().expect("eventTime"))
        .expect("a time")
        .timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_old_events_leaves_what_an_import_of_the_rest_would() {
    // Eight days of generated events, every kind the generator writes, one file per
    // delivery; the oldest four days are due.
    let end = 1_700_000_000_000;
    let spec = cairn::demo::DemoSpec::new(8_000, 8, 5, end);
    let files: Vec<Vec<serde_json::Value>> = (0..spec.files()).map(|j| common::demo_records(&spec, j)).collect();
    let cutoff = end - 4 * 86_400_000;
    // Access-key changes, one due and one not (the generator writes none).
    let mut files = files;
    let changes: Vec<serde_json::Value> = [(1i64, 6i64), (2, 1)]
        .iter()
        .map(|&(k, days_ago)| {
            let mut r = files[0][0].clone();
            let o = r.as_object_mut().expect("a record");
            o.remove("errorCode");
            o.remove("errorMessage");
            o.insert("eventName".into(), "UpdateAccessKey".into());
            o.insert("eventSource".into(), "iam.amazonaws.com".into());
            o.insert("eventTime".into(), common::iso(end - days_ago * 86_400_000).into());
            o.insert("eventID".into(), format!("ffffffff-0000-4000-8000-{k:012}").into());
            o.insert("readOnly".into(), false.into());
            o.insert(
                "requestParameters".into(),
                serde_json::json!({"accessKeyId": format!("AKIAKEYCHANGE{k:07}"), "status": "Inactive"}),
            );
            o.insert("responseElements".into(), serde_json::Value::Null);
            r
        })
        .collect();
    files.push(changes);
    // One file per generated file and day, as trails deliver them (a file spans
    // minutes): the blocks of old days hold only old records.
    let files: Vec<Vec<serde_json::Value>> = files
        .into_iter()
        .flat_map(|f| {
            let mut by_day: BTreeMap<i64, Vec<serde_json::Value>> = BTreeMap::new();
            for r in f {
                by_day.entry(time_of(&r).div_euclid(86_400_000)).or_default().push(r);
            }
            by_day.into_values()
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    write_files(&tmp.path().join("all"), &files);
    let db = tmp.path().join("a.db");
    let a = cairn::db::connect(&db).await.unwrap();
    let summary = common::import(&a, &[tmp.path().join("all")]).await;
    assert_eq!(summary.records_rejected, 0, "{summary:?}");
    let before_events = common::count(&a, "SELECT count(*) FROM events").await;
    let cut = app::schema::first_id_at(cutoff);

    // Kept past the cutoff: an event pinned to an investigation, and one in an open
    // finding; one in a resolved finding goes. Console sign-ins, S3 reads and role
    // sessions are among the events due.
    let old: Vec<i64> = sqlx::query_scalar("SELECT id FROM events WHERE id < ?1 ORDER BY id")
        .bind(cut)
        .fetch_all(&a)
        .await
        .unwrap();
    assert!(old.len() > 1_000, "{}", old.len());
    let (pinned, open, resolved) = (old[10], old[old.len() / 2], old[old.len() - 3]);
    for sql in [
        // The findings the import made are closed: their events may go.
        "UPDATE findings SET status = 'resolved'",
        "INSERT INTO investigations (id, title, query, created_by, created_at, updated_by, updated_at)
         VALUES (1, 'keep', '', 'test', 0, 'test', 0)",
        "INSERT INTO findings (id, rule_id, rule_version, group_key, window_start, severity, status,
           first_ms, last_ms, events, created_ms, updated_ms)
         VALUES (9001, 'test.open', 1, 'a', 1, 'high', 'open', 0, 0, 1, 0, 0),
                (9002, 'test.resolved', 1, 'b', 1, 'high', 'resolved', 0, 0, 1, 0, 0)",
    ] {
        sqlx::query(sql).execute(&a).await.unwrap();
    }
    sqlx::query("INSERT INTO investigation_events (investigation_id, event_id, pinned_by, pinned_at) VALUES (1, ?1, 'test', 0)")
        .bind(pinned)
        .execute(&a)
        .await
        .unwrap();
    sqlx::query("INSERT INTO finding_events (finding_id, event_id) VALUES (9001, ?1), (9002, ?2)")
        .bind(open)
        .bind(resolved)
        .execute(&a)
        .await
        .unwrap();
    for (what, sql) in [
        ("console sign-ins", "SELECT count(*) FROM principal_console"),
        ("S3 reads", "SELECT count(*) FROM s3_reads"),
        ("issued credentials", "SELECT count(*) FROM issued_credentials"),
        ("key changes", "SELECT count(*) FROM access_key_changes"),
        ("resource changes", "SELECT count(*) FROM resource_changes"),
    ] {
        assert!(common::count(&a, sql).await > 0, "the generated events hold {what}");
    }
    let kept_records = common::stored_records(&a).await;
    let kept_records: Vec<serde_json::Value> = [pinned, open]
        .iter()
        .map(|id| serde_json::from_slice(&kept_records[id]).expect("a record"))
        .collect();
    let size = |a: sqlx::SqlitePool| async move {
        common::count(&a, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()").await
    };
    let size_before = size(a.clone()).await;

    // Small batches, so a pass takes many transactions.
    let tuning = cairn::maintenance::retention::Tuning {
        batch: 300,
        pause: std::time::Duration::ZERO,
        vacuum_pages: 64,
        merge_pages: 50,
        merge_steps: 100,
    };
    let policy = cairn::maintenance::retention::Policy { days: Some(4), accounts: Default::default() };
    let (path, p) = (db.clone(), policy.clone());
    let report = tokio::task::spawn_blocking(move || cairn::maintenance::retention::pass(&path, &p, end, tuning))
        .await
        .unwrap()
        .expect("the pass runs");
    let left = common::count(&a, "SELECT count(*) FROM events").await;
    assert_eq!(report.removed as i64, before_events - left, "{report:?}");
    assert_eq!(report.kept, 2, "{report:?}");
    assert_eq!(report.unreadable, 0, "{report:?}");
    let recent: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE id >= ?1")
        .bind(cut)
        .fetch_one(&a)
        .await
        .unwrap();
    assert_eq!(left, recent + 2);
    assert!(report.blocks_removed > 0, "{report:?}");
    assert_eq!(report.oldest_ms, Some(app::schema::id_time(pinned)));

    // The same store, imported from the records that remain.
    let rest: Vec<Vec<serde_json::Value>> = files
        .iter()
        .map(|f| f.iter().filter(|r| time_of(r) >= cutoff).cloned().collect())
        .chain(std::iter::once(kept_records))
        .collect();
    write_files(&tmp.path().join("rest"), &rest);
    let b = cairn::db::connect(&tmp.path().join("b.db")).await.unwrap();
    common::import(&b, &[tmp.path().join("rest")]).await;
    assert_eq!(common::stored_events(&a).await, common::stored_events(&b).await);
    assert_eq!(common::stored_records(&a).await, common::stored_records(&b).await);
    let (da, db_) = (dump(&a).await, dump(&b).await);
    for (table, rows) in &db_ {
        let mine = &da[table];
        let extra: BTreeSet<&String> = mine.iter().filter(|r| !rows.contains(r)).collect();
        let missing: BTreeSet<&String> = rows.iter().filter(|r| !mine.contains(r)).collect();
        assert!(
            extra.is_empty() && missing.is_empty(),
            "{table}: after the removal, not as an import of the rest makes it:\n left in: {:?}\n lacking: {:?}",
            extra.iter().take(5).collect::<Vec<_>>(),
            missing.iter().take(5).collect::<Vec<_>>()
        );
    }

    // What refers to events refers to events that are there.
    for sql in [
        "SELECT count(*) FROM raw_blocks b WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.raw_block = b.id)",
        "SELECT count(*) FROM rule_hits h WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = h.event_id)",
        "SELECT count(*) FROM finding_events f WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = f.event_id)",
    ] {
        assert_eq!(common::count(&a, sql).await, 0, "{sql}");
    }
    assert_eq!(
        common::count(&a, "SELECT count(*) FROM finding_events WHERE finding_id = 9001").await,
        1,
        "the open finding keeps its event"
    );
    let check_b: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&b).await.unwrap();
    assert_eq!(check_b, "ok", "B");
    let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&a).await.unwrap();
    assert_eq!(check, "ok");
    sqlx::query("INSERT INTO events_fts (events_fts) VALUES ('integrity-check')")
        .execute(&a)
        .await
        .expect("the full-text index is whole");

    // The space went back to the file system.
    assert!(report.pages_freed > 0, "{report:?}");
    let size_after = size(a.clone()).await;
    assert!(size_after < size_before, "{size_before} -> {size_after}");
    assert_eq!(report.file_bytes, size_after);

    // A second pass finds nothing more to do.
    let path = db.clone();
    let again = tokio::task::spawn_blocking(move || cairn::maintenance::retention::pass(&path, &policy, end, tuning))
        .await
        .unwrap()
        .expect("the pass runs");
    assert_eq!((again.removed, again.kept), (0, 2), "{again:?}");
}

/// `cairn retain`: one pass now, said in JSON and recorded for the Sources page and
/// `/metrics`; a source's own period applies to the accounts whose files it read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_retain_keeps_each_account_as_long_as_its_policy_says() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let now = chrono::Utc::now().timestamp_millis();
    let record = |n: i64, account: &str, days_ago: i64| {
        serde_json::json!({
            "eventVersion": "1.09", "eventTime": common::iso(now - days_ago * 86_400_000 - n * 1000),
            "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "awsRegion": "us-east-1",
            "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{account}:user/ana"),
                             "accountId": account, "userName": "ana"},
            "sourceIPAddress": "192.0.2.1", "eventID": format!("00000000-0000-4000-8000-{n:012}"),
            "readOnly": true, "eventType": "AwsApiCall", "recipientAccountId": account,
            "eventCategory": "Management"
        })
    };
    // Two accounts, ten events each 40, 20 and 1 days ago.
    let mut records = Vec::new();
    let mut n = 0;
    for account in ["111111111111", "222222222222"] {
        for days_ago in [40, 20, 1] {
            for _ in 0..10 {
                n += 1;
                records.push(record(n, account, days_ago));
            }
        }
    }
    let pool = common::store_of(tmp.path(), records).await;
    // Nothing says how long to keep them yet.
    let (code, _, err) = common::cairn(&db, &["retain"], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nothing to remove"), "{err}");
    let (code, _, err) = common::cairn(&db, &["retain", "--days", "0"], None);
    assert_eq!(code, 2, "{err}");

    // A sandbox source that keeps 10 days, and has read account 222's files.
    let (code, out, err) = common::cairn(
        &db,
        &["source", "add", "sandbox", "--bucket", "trail", "--prefix", "logs", "--retain-days", "10"],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    sqlx::query(
        "INSERT INTO ingest_files (source, path, size, kind, account, status, imported_at)
         VALUES ('s3://trail', 'logs/AWSLogs/222222222222/CloudTrail/us-east-1/f.json.gz', 1, 'CloudTrail',
                 '222222222222', 'imported', 0),
                ('s3://trail', 'other/AWSLogs/111111111111/CloudTrail/us-east-1/f.json.gz', 1, 'CloudTrail',
                 '111111111111', 'imported', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let (code, out, err) = common::cairn(&db, &["retain", "--days", "30", "--json"], None);
    assert_eq!(code, 0, "{out}{err}");
    let r: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    // 111 (outside the source's prefix) keeps 30 days; 222 keeps 10.
    assert_eq!((r["removed"].as_i64(), r["kept"].as_i64()), (Some(30), Some(0)), "{r}");
    let left = |account: &'static str| {
        let db = db.clone();
        async move {
            let pool = cairn::db::connect(&db).await.unwrap();
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM events e JOIN terms t ON t.id = e.account_id WHERE t.value = ?1",
            )
            .bind(account)
            .fetch_one(&pool)
            .await
            .unwrap();
            pool.close().await;
            n
        }
    };
    assert_eq!((left("111111111111").await, left("222222222222").await), (20, 10));
    assert_eq!(
        common::count_in(&db, "SELECT removed FROM retention_passes WHERE days = 10 AND error IS NULL").await,
        30
    );
    // The source's period alone, later: nothing more to remove.
    let (code, out, err) = common::cairn(&db, &["retain", "--json"], None);
    assert_eq!(code, 0, "{out}{err}");
    let r: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(r["removed"], 0, "{r}");
    assert_eq!(common::count_in(&db, "SELECT count(*) FROM events").await, 30);
}
