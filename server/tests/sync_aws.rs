//! The sync feeds against real S3 and SQS APIs (moto), driven through the `cairn` binary
//! as a person would: `cairn source add`, `cairn sync --once`, `cairn source check`.

mod common;

/// The audit line of changes these tests make directly.
const SHELL: app::db::audit::AuditLine<'static> = app::db::audit::AuditLine {
    actor: Some("test"),
    action: "source.change",
    target: None,
    detail: None,
    client: Some("shell"),
};

use common::{Moto, cairn, count_in, forward, iso, upstream_client};
use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// `cairn sync --once` in the background, to be killed part-way.
fn spawn_sync(db: &Path) -> Child {
    common::command(db)
        .args(["sync", "--once", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cairn runs")
}

/// Runs `cairn sync --once --json` and returns its one report.
fn sync(db: &Path) -> (i32, Value) {
    sync_args(db, &["sync", "--once", "--json"])
}

/// The one report of an event feed (the trail inventory's, taken on a first pass, and
/// the integrity checks', which follow a bucket pass, are left out unless alone).
fn sync_args(db: &Path, args: &[&str]) -> (i32, Value) {
    let (code, out, err) = cairn(db, args, None);
    let reports: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON report"))
        .collect();
    let feeds: Vec<&Value> = reports
        .iter()
        .filter(|r| r["feed"] != "inventory" && r["feed"] != "integrity")
        .collect();
    match feeds.len() {
        1 => (code, feeds[0].clone()),
        0 if reports.len() == 1 => (code, reports[0].clone()),
        _ => panic!("one report: {out}\n{err}"),
    }
}

fn record(account: &str, region: &str, n: usize, time: &str) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": format!("arn:aws:iam::{account}:user/alice"),
            "accountId": account,
            "accessKeyId": "AKIAEXAMPLE",
            "userName": "alice"
        },
        "eventTime": time,
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "awsRegion": region,
        "sourceIPAddress": "192.0.2.10",
        "userAgent": "aws-cli/2.15",
        "requestParameters": null,
        "responseElements": null,
        "requestID": format!("req-{account}-{region}-{n}"),
        "eventID": format!("00000000-0000-4000-8000-{:012}", n),
        "readOnly": true,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
        "eventCategory": "Management"
    })
}

/// A delivery file: the records in CloudTrail's envelope, gzipped.
fn trail_file(records: &[Value]) -> Vec<u8> {
    common::gz(serde_json::to_vec(&json!({ "Records": records })).expect("JSON in memory"))
}

async fn put(s3: &aws_sdk_s3::Client, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket("trail")
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .expect("put");
}

/// Today's delivery folder date, `YYYY/MM/DD`, so the files fall in the backfill period.
fn day(offset: i64) -> (String, String) {
    let d = chrono::Utc::now().date_naive() + chrono::Duration::days(offset);
    (
        d.format("%Y/%m/%d").to_string(),
        d.format("%Y%m%d").to_string(),
    )
}

fn key(
    org: Option<&str>,
    account: &str,
    kind: &str,
    region: &str,
    offset: i64,
    suffix: &str,
) -> String {
    let (folder, stamp) = day(offset);
    let org = org.map(|o| format!("{o}/")).unwrap_or_default();
    format!(
        "logs/AWSLogs/{org}{account}/{kind}/{region}/{folder}/{account}_{kind}_{region}_{stamp}T0005Z_{suffix}.json.gz"
    )
}

/// Adds the source `name` reading the test bucket (`trail`, prefix `logs`) at `endpoint`.
fn add_bucket_source(db: &Path, name: &str, endpoint: &str) {
    let (code, out, err) = cairn(
        db,
        &[
            "source",
            "add",
            name,
            "--bucket",
            "trail",
            "--prefix",
            "logs",
            "--endpoint-url",
            endpoint,
        ], None,
    );
    assert_eq!(code, 0, "{out}{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bucket_feed_syncs_exactly_once() {
    let moto = Moto::start();
    let s3 = moto.s3();
    s3.create_bucket()
        .bucket("trail")
        .send()
        .await
        .expect("bucket");
    let time = |offset: i64| {
        (chrono::Utc::now() + chrono::Duration::days(offset))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    // Account A, two Regions over two days; an organization's account B; an Insights
    // file; a digest file (no events); a file that is not gzip; a record repeated in a
    // second file; a file older than the backfill period.
    let a = "111111111111";
    let b = "222222222222";
    let mut n = 0;
    let mut batch = |acct: &str, region: &str, count: usize, offset: i64| {
        let v: Vec<Value> = (0..count)
            .map(|_| {
                n += 1;
                record(acct, region, n, &time(offset))
            })
            .collect();
        v
    };
    let f1 = batch(a, "us-east-1", 5, -2);
    let f2 = batch(a, "us-east-1", 7, -1);
    let f3 = batch(a, "eu-west-1", 4, -1);
    let f4 = batch(b, "us-east-1", 6, -1);
    let old = batch(a, "us-east-1", 3, -40);
    put(
        &s3,
        &key(None, a, "CloudTrail", "us-east-1", -2, "AAAAAAAAAAAAAAAA"),
        trail_file(&f1),
    )
    .await;
    put(
        &s3,
        &key(None, a, "CloudTrail", "us-east-1", -1, "BBBBBBBBBBBBBBBB"),
        trail_file(&f2),
    )
    .await;
    // The repeat: f2's first record again, in another file.
    put(
        &s3,
        &key(None, a, "CloudTrail", "us-east-1", -1, "CCCCCCCCCCCCCCCC"),
        trail_file(&f2[..1]),
    )
    .await;
    put(
        &s3,
        &key(None, a, "CloudTrail", "eu-west-1", -1, "DDDDDDDDDDDDDDDD"),
        trail_file(&f3),
    )
    .await;
    put(
        &s3,
        &key(
            Some("o-abcdefghij"),
            b,
            "CloudTrail",
            "us-east-1",
            -1,
            "EEEEEEEEEEEEEEEE",
        ),
        trail_file(&f4),
    )
    .await;
    put(
        &s3,
        &key(None, a, "CloudTrail", "us-east-1", -40, "FFFFFFFFFFFFFFFF"),
        trail_file(&old),
    )
    .await;
    let bad = key(None, a, "CloudTrail", "eu-west-1", -1, "GGGGGGGGGGGGGGGG");
    put(&s3, &bad, b"this is not a delivery file".to_vec()).await;
    let (dfolder, dstamp) = day(-1);
    put(
        &s3,
        &format!("logs/AWSLogs/{a}/CloudTrail-Digest/us-east-1/{dfolder}/{a}_CloudTrail-Digest_us-east-1_main_us-east-1_{dstamp}T010000Z.json.gz"),
        trail_file(&[]),
    )
    .await;
    let insight = json!({
        "eventVersion": "1.07", "eventTime": time(-1), "awsRegion": "us-east-1",
        "eventID": "00000000-0000-4000-9000-000000000001", "eventType": "AwsCloudTrailInsight",
        "recipientAccountId": a, "sharedEventID": "11111111-0000-4000-9000-000000000001",
        "insightDetails": {"state": "Start", "eventSource": "iam.amazonaws.com", "eventName": "DeleteUser",
            "insightType": "ApiCallRateInsight"},
        "eventCategory": "Insight"
    });
    put(
        &s3,
        &key(
            None,
            a,
            "CloudTrail-Insight",
            "us-east-1",
            -1,
            "HHHHHHHHHHHHHHHH",
        ),
        trail_file(&[insight]),
    )
    .await;

    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let (code, out, err) = cairn(
        &db,
        &[
            "source",
            "add",
            "prod",
            "--bucket",
            "trail",
            "--prefix",
            "logs",
            "--endpoint-url",
            &moto.url,
            "--backfill-days",
            "30",
        ], None,
    );
    assert_eq!(code, 0, "{out}{err}");

    // First pass: everything in the 30 days, the old file left out, the bad file named.
    let (code, r) = sync(&db);
    assert_eq!(code, 1, "a problem file makes the pass partial: {r}");
    assert_eq!(r["state"], "partial", "{r}");
    assert_eq!(r["folders"], 4, "{r}"); // A us-east-1, A eu-west-1, A Insight, B (org)
    assert_eq!(r["found"], 7, "{r}");
    assert_eq!(r["events_new"], 5 + 7 + 4 + 6 + 1, "{r}");
    assert_eq!(r["events_duplicate"], 1, "{r}");
    let problems = r["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{r}");
    assert_eq!(problems[0]["what"], bad.as_str());
    assert_eq!(count_in(&db, "SELECT count(*) FROM events").await, 23);
    assert_eq!(
        count_in(
            &db,
            "SELECT count(*) FROM sync_errors WHERE what LIKE '%GGGGGGGGGGGGGGGG%'"
        )
        .await,
        1
    );

    // Again: nothing new, the bad file not read again.
    let (code, r) = sync(&db);
    assert_eq!(
        (code, r["state"].as_str(), r["found"].as_i64()),
        (0, Some("ok"), Some(0)),
        "{r}"
    );
    assert_eq!(count_in(&db, "SELECT count(*) FROM events").await, 23);

    // A new file arrives, one that sorts before the last key of its day too.
    let f5 = batch(a, "us-east-1", 9, 0);
    let f6 = batch(a, "us-east-1", 2, -1);
    put(
        &s3,
        &key(None, a, "CloudTrail", "us-east-1", 0, "IIIIIIIIIIIIIIII"),
        trail_file(&f5),
    )
    .await;
    put(
        &s3,
        &key(None, a, "CloudTrail", "us-east-1", -1, "0AAAAAAAAAAAAAAA"),
        trail_file(&f6),
    )
    .await;
    let (code, r) = sync(&db);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        (r["found"].as_i64(), r["events_new"].as_i64()),
        (Some(2), Some(11)),
        "{r}"
    );
    assert_eq!(count_in(&db, "SELECT count(*) FROM events").await, 34);
    assert_eq!(
        count_in(
            &db,
            "SELECT count(*) FROM sync_runs WHERE feed = 'bucket' AND state IN ('ok', 'partial')"
        )
        .await,
        3
    );

    // Listed as a person would see it; a paused source is not synced.
    let (_, out, _) = cairn(&db, &["source", "list"], None);
    assert!(
        out.contains("prod\tactive\ts3://trail/logs\tall Regions\tlast pass ok"),
        "{out}"
    );
    let (code, out, _) = cairn(&db, &["source", "check", "prod"], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("✓ bucket   s3:ListBucket"), "{out}");
    assert!(out.contains("4 log folders"), "{out}");
    assert!(out.contains("✓ bucket   s3:GetObject"), "{out}");
    // The same as metrics.
    let pool = cairn::db::connect(&db).await.unwrap();
    let text = cairn::sync::metrics::render(&pool, chrono::Utc::now().timestamp_millis())
        .await
        .unwrap();
    pool.close().await;
    for line in [
        "cairn_events_stored 34",
        "cairn_source_paused{source=\"prod\"} 0",
        "cairn_sync_passes_total{source=\"prod\",feed=\"bucket\"} 3",
        "cairn_sync_events_total{source=\"prod\",feed=\"bucket\"} 34",
        "cairn_sync_files_rejected_total{source=\"prod\",feed=\"bucket\"} 1",
        "cairn_sync_last_pass_state{source=\"prod\",feed=\"bucket\",state=\"ok\"} 1",
        "cairn_sync_last_pass_state{source=\"prod\",feed=\"bucket\",state=\"failed\"} 0",
        "cairn_sync_problems_total{source=\"prod\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from\n{text}"
        );
    }
    assert!(
        text.contains("cairn_sync_lag_seconds{source=\"prod\",feed=\"bucket\"} "),
        "{text}"
    );
    cairn(&db, &["source", "pause", "prod"], None);
    let (_, out, _) = cairn(&db, &["sync", "--once", "--json"], None);
    assert!(out.trim().is_empty(), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_reads_only_its_regions_and_organization() {
    let moto = Moto::start();
    let s3 = moto.s3();
    s3.create_bucket()
        .bucket("trail")
        .send()
        .await
        .expect("bucket");
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut n = 1000;
    for (org, acct, region) in [
        (Some("o-aaaaaaaaaa"), "111111111111", "us-east-1"),
        (Some("o-aaaaaaaaaa"), "111111111111", "eu-west-1"),
        (Some("o-bbbbbbbbbb"), "333333333333", "us-east-1"),
    ] {
        let recs: Vec<Value> = (0..3)
            .map(|_| {
                n += 1;
                record(acct, region, n, &now)
            })
            .collect();
        put(
            &s3,
            &key(org, acct, "CloudTrail", region, 0, "AAAAAAAAAAAAAAAA"),
            trail_file(&recs),
        )
        .await;
    }
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let (code, out, err) = cairn(
        &db,
        &[
            "source",
            "add",
            "org-a",
            "--bucket",
            "trail",
            "--prefix",
            "/logs/",
            "--org-id",
            "o-aaaaaaaaaa",
            "--regions",
            "us-east-1",
            "--endpoint-url",
            &moto.url,
        ], None,
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, r) = sync(&db);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        (r["folders"].as_i64(), r["events_new"].as_i64()),
        (Some(1), Some(3)),
        "{r}"
    );
    // Bad input is refused with the reason, and nothing is stored.
    let (code, _, err) = cairn(&db, &["source", "add", "x", "--bucket", "Not_A_Bucket"], None);
    assert_eq!(code, 2);
    assert!(err.contains("is not an S3 bucket name"), "{err}");
    let (code, _, err) = cairn(&db, &["source", "add", "org-a", "--bucket", "trail"], None);
    assert_eq!(code, 2);
    assert!(err.contains("exists already"), "{err}");
    // An unreachable bucket fails the pass with the call and reason, and is recorded.
    cairn(
        &db,
        &[
            "source",
            "add",
            "gone",
            "--bucket",
            "no-such-bucket",
            "--endpoint-url",
            &moto.url,
        ], None,
    );
    let (code, r) = sync_args(&db, &["sync", "--once", "--json", "--source", "gone"]);
    assert_eq!(code, 2, "{r}");
    assert_eq!(r["state"], "failed");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("s3:GetBucketLocation"),
        "{r}"
    );
    let (code, out, _) = cairn(&db, &["source", "check", "gone"], None);
    assert_eq!(code, 1);
    assert!(out.contains("✗ bucket   s3:GetBucketLocation"), "{out}");
    assert!(
        out.contains("allow s3:GetBucketLocation on arn:aws:s3:::no-such-bucket"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_feed_imports_what_notifications_name() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let sqs = moto.sqs();
    s3.create_bucket()
        .bucket("trail")
        .send()
        .await
        .expect("bucket");
    let queue = sqs
        .create_queue()
        .queue_name("cloudtrail-files")
        .send()
        .await
        .expect("queue")
        .queue_url()
        .unwrap()
        .to_owned();
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let a = "111111111111";
    let mut n = 5000;
    let mut file = |count: usize| -> Vec<Value> {
        (0..count)
            .map(|_| {
                n += 1;
                record(a, "us-east-1", n, &now)
            })
            .collect()
    };
    let k1 = key(None, a, "CloudTrail", "us-east-1", 0, "AAAAAAAAAAAAAAAA");
    let k2 = key(None, a, "CloudTrail", "us-east-1", 0, "BBBBBBBBBBBBBBBB");
    let k3 = key(None, a, "CloudTrail", "us-east-1", 0, "CCCCCCCCCCCCCCCC");
    put(&s3, &k1, trail_file(&file(5))).await;
    put(&s3, &k2, trail_file(&file(4))).await;
    put(&s3, &k3, trail_file(&file(3))).await;
    let cloudtrail = |k: &str| json!({"s3Bucket": "trail", "s3ObjectKey": [k]}).to_string();
    let bodies = [
        // CloudTrail's notification through SNS, and without the envelope.
        json!({"Type": "Notification", "MessageId": "1", "TopicArn": "arn:aws:sns:us-east-1:111111111111:ct",
               "Message": cloudtrail(&k1), "Timestamp": now}).to_string(),
        cloudtrail(&k2),
        // An S3 event, its key form-URL-encoded.
        json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
               "s3": {"bucket": {"name": "trail"}, "object": {"key": k3.replace('/', "%2F"), "size": 1}}}]})
        .to_string(),
        // The same file named twice.
        cloudtrail(&k1),
        json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "trail"}).to_string(),
        "<not a notification>".to_owned(),
        // A file that is not there (removed by a lifecycle rule, say).
        cloudtrail(&key(None, a, "CloudTrail", "us-east-1", 0, "ZZZZZZZZZZZZZZZZ")),
    ];
    for b in &bodies {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(b)
            .send()
            .await
            .expect("send");
    }
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let (code, out, err) = cairn(
        &db,
        &[
            "source",
            "add",
            "q",
            "--queue-url",
            &queue,
            "--endpoint-url",
            &moto.url,
        ], None,
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, r) = sync(&db);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["feed"], "queue");
    assert_eq!(r["state"], "partial", "{r}");
    assert_eq!(r["messages"], 7, "{r}");
    assert_eq!(r["messages_kept"], 0, "{r}");
    assert_eq!(
        (r["found"].as_i64(), r["events_new"].as_i64()),
        (Some(3), Some(12)),
        "{r}"
    );
    let problems: Vec<String> = r["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {}", p["what"], p["error"]))
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("not JSON")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("ZZZZZZZZZZZZZZZZ")),
        "{problems:?}"
    );
    assert_eq!(count_in(&db, "SELECT count(*) FROM events").await, 12);
    // Every message is gone from the queue: none waiting, none in flight.
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attr = |name: aws_sdk_sqs::types::QueueAttributeName| {
        attrs
            .attributes()
            .and_then(|m| m.get(&name))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        attr(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages),
        "0"
    );
    assert_eq!(
        attr(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        "0"
    );
    // A later notification for a file already in is read and let go.
    sqs.send_message()
        .queue_url(&queue)
        .message_body(cloudtrail(&k2))
        .send()
        .await
        .unwrap();
    let (code, r) = sync(&db);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        (r["messages"].as_i64(), r["found"].as_i64()),
        (Some(1), Some(0)),
        "{r}"
    );
    // The bucket read later brings nothing twice.
    add_bucket_source(&db, "b", &moto.url);
    let (code, r) = sync_args(&db, &["sync", "--once", "--json", "--source", "b"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["found"], 0, "{r}");
    assert_eq!(count_in(&db, "SELECT count(*) FROM events").await, 12);
    let (code, out, _) = cairn(&db, &["source", "check", "q"], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("✓ queue    sqs:GetQueueAttributes"), "{out}");
    assert!(out.contains("✓ queue    sqs:ReceiveMessage"), "{out}");
}

/// What the proxy does to requests: fail every `fail_every`-th one (throttling or 503,
/// as each service says it), and hold each object download for `delay_get`.
#[derive(Default)]
struct Faults {
    fail_every: u32,
    delay_get: Duration,
    seen: std::sync::atomic::AtomicU32,
    failed: std::sync::atomic::AtomicU32,
}

/// A proxy in front of moto that injects `faults`; its URL is the endpoint to use.
async fn fault_proxy(upstream: String, faults: std::sync::Arc<Faults>) -> String {
    use axum::body::Body;
    use axum::http::{Request, Response, StatusCode};
    use std::sync::atomic::Ordering;
    let client = upstream_client();
    let handler = move |req: Request<Body>| {
        let (client, upstream, faults) = (client.clone(), upstream.clone(), faults.clone());
        async move {
            let n = faults.seen.fetch_add(1, Ordering::SeqCst) + 1;
            let sqs = req.headers().get("x-amz-target").is_some();
            if faults.fail_every > 0 && n % faults.fail_every == 0 {
                faults.failed.fetch_add(1, Ordering::SeqCst);
                return if sqs {
                    Response::builder()
                        .status(StatusCode::BAD_REQUEST)
                        .header("content-type", "application/x-amz-json-1.0")
                        .header("x-amzn-query-error", "ThrottlingException;Sender")
                        .body(Body::from(r#"{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded"}"#))
                        .unwrap()
                } else {
                    Response::builder()
                        .status(StatusCode::SERVICE_UNAVAILABLE)
                        .header("content-type", "application/xml")
                        .body(Body::from("<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>x</RequestId><HostId>y</HostId></Error>"))
                        .unwrap()
                };
            }
            let download = req.method() == "GET" && req.uri().path().ends_with(".json.gz");
            if download && !faults.delay_get.is_zero() {
                tokio::time::sleep(faults.delay_get).await;
            }
            forward(&client, &upstream, req).await
        }
    };
    let app = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_503s_lose_and_double_nothing() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let sqs = moto.sqs();
    s3.create_bucket()
        .bucket("trail")
        .send()
        .await
        .expect("bucket");
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let a = "111111111111";
    let mut n = 20_000;
    let mut keys = Vec::new();
    for (i, region) in ["us-east-1", "eu-west-1", "ap-south-1"].iter().enumerate() {
        for j in 0..6 {
            let recs: Vec<Value> = (0..10)
                .map(|_| {
                    n += 1;
                    record(a, region, n, &now)
                })
                .collect();
            let k = key(
                None,
                a,
                "CloudTrail",
                region,
                0,
                &format!("{i}{j}AAAAAAAAAAAAAA"),
            );
            put(&s3, &k, trail_file(&recs)).await;
            keys.push(k);
        }
    }
    let queue = sqs
        .create_queue()
        .queue_name("files")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    for k in &keys[..9] {
        let body = json!({"s3Bucket": "trail", "s3ObjectKey": [k]}).to_string();
        sqs.send_message()
            .queue_url(&queue)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let faults = std::sync::Arc::new(Faults {
        fail_every: 3,
        ..Faults::default()
    });
    let proxy = fault_proxy(moto.url.clone(), faults.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    // The queue through the proxy first, then the bucket.
    let proxied_queue = queue.replace(&moto.url, &proxy);
    cairn(
        &db,
        &[
            "source",
            "add",
            "q",
            "--queue-url",
            &proxied_queue,
            "--endpoint-url",
            &proxy,
        ], None,
    );
    let (code, r) = sync(&db);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        (r["found"].as_i64(), r["events_new"].as_i64()),
        (Some(9), Some(90)),
        "{r}"
    );
    cairn(&db, &["source", "remove", "q"], None);
    add_bucket_source(&db, "b", &proxy);
    let (code, r) = sync(&db);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        (r["found"].as_i64(), r["events_new"].as_i64()),
        (Some(9), Some(90)),
        "{r}"
    );
    let failed = faults.failed.load(std::sync::atomic::Ordering::SeqCst);
    assert!(failed >= 10, "faults injected: {failed}");
    assert_eq!(count_in(&db, "SELECT count(*) FROM events").await, 180);
    let (_, r) = sync(&db);
    assert_eq!(r["found"], 0, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_files_loses_and_doubles_nothing() {
    let moto = Moto::start();
    let s3 = moto.s3();
    s3.create_bucket()
        .bucket("trail")
        .send()
        .await
        .expect("bucket");
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let a = "111111111111";
    let mut n = 40_000;
    let files = 40;
    for i in 0..files {
        let recs: Vec<Value> = (0..100)
            .map(|_| {
                n += 1;
                record(a, "us-east-1", n, &now)
            })
            .collect();
        put(
            &s3,
            &key(
                None,
                a,
                "CloudTrail",
                "us-east-1",
                0,
                &format!("{i:02}AAAAAAAAAAAAAA"),
            ),
            trail_file(&recs),
        )
        .await;
    }
    // Each download held for 400 ms: the importer commits every few seconds, so a kill
    // part-way leaves some files committed and the rest not.
    let faults = std::sync::Arc::new(Faults {
        delay_get: Duration::from_millis(400),
        ..Faults::default()
    });
    let proxy = fault_proxy(moto.url.clone(), faults).await;
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    add_bucket_source(&db, "b", &proxy);
    let mut child = spawn_sync(&db);
    let pool = cairn::db::connect(&db).await.unwrap();
    let started = Instant::now();
    let committed = loop {
        let c: i64 = sqlx::query_scalar("SELECT count(*) FROM ingest_files")
            .fetch_one(&pool)
            .await
            .unwrap();
        if c > 0 {
            break c;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing committed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!("killed with {committed} of {files} files committed");
    assert!(
        committed < files,
        "the kill came part-way: {committed} of {files} files in"
    );
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        events,
        committed * 100,
        "events and ledger committed together"
    );
    pool.close().await;
    // Restarted: the rest comes in, nothing twice.
    let (code, r) = sync(&db);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["found"].as_i64(), Some(files - committed), "{r}");
    assert_eq!(
        r["events_new"].as_i64(),
        Some((files - committed) * 100),
        "{r}"
    );
    assert_eq!(r["events_duplicate"], 0, "{r}");
    assert_eq!(count_in(&db, "SELECT count(*) FROM events").await, files * 100);
}

/// A LookupEvents service of our own (moto has none), speaking CloudTrail's JSON 1.1:
/// events newest first in pages of `MaxResults`, `NextToken` paging bound to the
/// request's times, `ThrottlingException` on every `throttle_every`-th call. Every other
/// request goes on to moto.
#[derive(Default)]
struct Lookup {
    /// Per Region: `(event time ms, record)`, newest first.
    events: std::sync::Mutex<std::collections::HashMap<String, Vec<(i64, Value)>>>,
    throttle_every: u32,
    calls: std::sync::atomic::AtomicU32,
    throttled: std::sync::atomic::AtomicU32,
    /// When each call reached it, per Region.
    seen: std::sync::Mutex<Vec<(String, Instant)>>,
}

impl Lookup {
    fn add(&self, region: &str, time_ms: i64, record: Value) {
        let mut all = self.events.lock().unwrap();
        let list = all.entry(region.to_owned()).or_default();
        list.push((time_ms, record));
        list.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
    }

    fn answer(&self, region: &str, body: &[u8]) -> (u16, Value) {
        use std::sync::atomic::Ordering;
        self.seen
            .lock()
            .unwrap()
            .push((region.to_owned(), Instant::now()));
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.throttle_every > 0 && n % self.throttle_every == 0 {
            self.throttled.fetch_add(1, Ordering::SeqCst);
            return (
                400,
                json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
            );
        }
        let Ok(req) = serde_json::from_slice::<Value>(body) else {
            return (400, json!({"__type": "SerializationException"}));
        };
        let ms = |k: &str| {
            req.get(k)
                .and_then(Value::as_f64)
                .map(|s| (s * 1000.0) as i64)
        };
        let (start, end) = (
            ms("StartTime").unwrap_or(0),
            ms("EndTime").unwrap_or(i64::MAX),
        );
        if start > end {
            return (400, json!({"__type": "InvalidTimeRangeException"}));
        }
        let max = req.get("MaxResults").and_then(Value::as_u64).unwrap_or(50) as usize;
        if !(1..=50).contains(&max) {
            return (400, json!({"__type": "InvalidMaxResultsException"}));
        }
        let bound = format!("{start}:{end}");
        let offset = match req.get("NextToken").and_then(Value::as_str) {
            None => 0,
            Some(t) => match t.split_once('@') {
                Some((o, b)) if b == bound => o.parse().unwrap_or(0),
                _ => return (400, json!({"__type": "InvalidNextTokenException"})),
            },
        };
        let all = self.events.lock().unwrap();
        let matching: Vec<&(i64, Value)> = all
            .get(region)
            .map(|l| l.iter().filter(|(t, _)| *t >= start && *t <= end).collect())
            .unwrap_or_default();
        let page: Vec<Value> = matching
            .iter()
            .skip(offset)
            .take(max)
            .map(|(t, r)| {
                json!({
                    "EventId": r["eventID"],
                    "EventName": r["eventName"],
                    "ReadOnly": "true",
                    "EventTime": *t as f64 / 1000.0,
                    "EventSource": r["eventSource"],
                    "Username": "alice",
                    "Resources": [],
                    "CloudTrailEvent": r.to_string(),
                })
            })
            .collect();
        let mut out = json!({ "Events": page });
        if offset + max < matching.len() {
            out["NextToken"] = json!(format!("{}@{bound}", offset + max));
        }
        (200, out)
    }
}

/// Serves `lookup` and forwards the rest to `upstream`; returns its URL.
async fn lookup_fake(upstream: String, lookup: std::sync::Arc<Lookup>) -> String {
    use axum::body::Body;
    use axum::http::{Request, Response};
    use http_body_util::BodyExt;
    let client = upstream_client();
    let handler = move |req: Request<Body>| {
        let (client, upstream, lookup) = (client.clone(), upstream.clone(), lookup.clone());
        async move {
            let target = req
                .headers()
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            if req.uri().path() == "/listRegions" {
                // account:ListRegions (REST-JSON), which moto lacks too: the Regions this
                // account has enabled, one of them opted in.
                let regions = json!({"Regions": [
                    {"RegionName": "af-south-1", "RegionOptStatus": "ENABLED"},
                    {"RegionName": "eu-west-1", "RegionOptStatus": "ENABLED_BY_DEFAULT"},
                    {"RegionName": "us-east-1", "RegionOptStatus": "ENABLED_BY_DEFAULT"},
                ]});
                return Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(Body::from(regions.to_string()))
                    .unwrap();
            }
            if target != "CloudTrail_20131101.LookupEvents" {
                return forward(&client, &upstream, req).await;
            }
            // The Region is in the signature's credential scope.
            let region = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|a| a.split("Credential=").nth(1))
                .and_then(|c| c.split('/').nth(2))
                .unwrap_or("")
                .to_owned();
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let (status, answer) = lookup.answer(&region, &body);
            Response::builder()
                .status(status)
                .header("content-type", "application/x-amz-json-1.1")
                .header("x-amzn-requestid", "00000000-0000-0000-0000-000000000000")
                .body(Body::from(answer.to_string()))
                .unwrap()
        }
    };
    let app = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lookup_bootstrap_is_paced_resumable_and_deduplicated() {
    let moto = Moto::start();
    let s3 = moto.s3();
    s3.create_bucket()
        .bucket("trail")
        .send()
        .await
        .expect("bucket");
    let lookup = std::sync::Arc::new(Lookup {
        throttle_every: 6,
        ..Lookup::default()
    });
    let a = "111111111111";
    let now = chrono::Utc::now().timestamp_millis() / 1000 * 1000;
    let minute = 60_000;
    // us-east-1: 700 events over the last two months, three to a second so that pages
    // end between events of one second; 20 more from 95 days ago, past what
    // LookupEvents is asked for.
    let t_of = |i: i64| now - 5 * minute - (i / 3) * 350 * minute;
    for i in 0..700i64 {
        let t = t_of(i);
        lookup.add("us-east-1", t, record(a, "us-east-1", i as usize, &iso(t)));
    }
    for i in 0..20i64 {
        let t = now - 95 * 86_400_000 - i * minute;
        lookup.add(
            "us-east-1",
            t,
            record(a, "us-east-1", 900 + i as usize, &iso(t)),
        );
    }
    for i in 0..60i64 {
        let t = now - 10 * minute - i * 1000 * minute;
        lookup.add(
            "eu-west-1",
            t,
            record(a, "eu-west-1", 1000 + i as usize, &iso(t)),
        );
    }
    let fake = lookup_fake(moto.url.clone(), lookup.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("l.db");
    let (code, out, err) = cairn(
        &db,
        &[
            "source",
            "add",
            "boot",
            "--lookup-events",
            "--regions",
            "us-east-1,eu-west-1",
            "--endpoint-url",
            &fake,
        ], None,
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = cairn(&db, &["source", "check", "boot"], None);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("cloudtrail:LookupEvents") && out.contains("eu-west-1"),
        "{out}"
    );

    // A first pass, killed once a chunk of us-east-1 is in and before its end.
    let mut child = spawn_sync(&db);
    let pool = cairn::db::connect(&db).await.unwrap();
    let started = Instant::now();
    loop {
        let c: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM ingest_files WHERE source = 'lookup://boot'
             AND path LIKE 'us-east-1/%' AND path NOT LIKE '%/done'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if c > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing committed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ingest_files WHERE source = 'lookup://boot' AND path LIKE 'us-east-1/%/done'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        done, 0,
        "the kill came before us-east-1 was read to its start"
    );
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(before > 0 && before < 760, "part-way: {before}");
    pool.close().await;

    // Restarted: the rest, from the oldest event in, and nothing from past 90 days.
    lookup.seen.lock().unwrap().clear();
    let (code, r) = sync(&db);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["feed"], "lookup", "{r}");
    assert_eq!(r["events_new"].as_i64(), Some(760 - before), "{r}");
    assert_eq!(count_in(&db, "SELECT count(*) FROM events").await, 760);
    assert_eq!(
        count_in(
            &db,
            "SELECT count(*) FROM events e JOIN terms t ON t.id = e.region_id
             WHERE t.value = 'eu-west-1'"
        )
        .await,
        60
    );
    // Throttled calls were waited out, and no Region was asked twice within 480 ms in
    // that pass.
    let throttled = lookup.throttled.load(std::sync::atomic::Ordering::SeqCst);
    assert!(throttled >= 2, "throttled {throttled} times");
    let seen = lookup.seen.lock().unwrap().clone();
    for region in ["us-east-1", "eu-west-1"] {
        let times: Vec<Instant> = seen
            .iter()
            .filter(|(r, _)| r == region)
            .map(|(_, t)| *t)
            .collect();
        for w in times.windows(2) {
            let gap = w[1].duration_since(w[0]);
            assert!(
                gap >= Duration::from_millis(480),
                "{region}: calls {gap:?} apart"
            );
        }
    }

    // Bootstrapped, with no bucket or queue: later passes read what is new.
    let (_, r) = sync(&db);
    assert_eq!(r["events_new"], 0, "{r}");
    lookup.add(
        "us-east-1",
        now + 1000,
        record(a, "us-east-1", 5000, &iso(now + 1000)),
    );
    std::thread::sleep(Duration::from_millis(1100));
    let (_, r) = sync(&db);
    assert_eq!(r["events_new"], 1, "{r}");

    // The bucket later brings ten of the same events and five new ones.
    let mut recs: Vec<Value> = (0..10)
        .map(|i| record(a, "us-east-1", i, &iso(t_of(i as i64))))
        .collect();
    recs.extend((0..5).map(|i| record(a, "us-east-1", 6000 + i, &iso(now))));
    put(
        &s3,
        &key(None, a, "CloudTrail", "us-east-1", 0, "AAAAAAAAAAAAAAAA"),
        trail_file(&recs),
    )
    .await;
    add_bucket_source(&db, "bucket", &fake);
    let (_, r) = sync_args(&db, &["sync", "--once", "--json", "--source", "bucket"]);
    assert_eq!(
        (r["events_new"].as_i64(), r["events_duplicate"].as_i64()),
        (Some(5), Some(10)),
        "{r}"
    );
    assert_eq!(count_in(&db, "SELECT count(*) FROM events").await, 766);

    // A source naming no Regions asks those enabled in its account, opted-in ones too.
    let (code, out, err) = cairn(
        &db,
        &[
            "source",
            "add",
            "every",
            "--lookup-events",
            "--endpoint-url",
            &fake,
        ], None,
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = cairn(&db, &["source", "check", "every"], None);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("✓ regions  account:ListRegions") && out.contains("3 Regions enabled"),
        "{out}"
    );
    lookup.seen.lock().unwrap().clear();
    let (_, r) = sync_args(&db, &["sync", "--once", "--json", "--source", "every"]);
    assert_eq!(r["folders"], 3, "{r}");
    assert_eq!(r["events_new"], 0, "{r}");
    let asked: std::collections::BTreeSet<String> = lookup
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(r, _)| r.clone())
        .collect();
    assert_eq!(
        asked.into_iter().collect::<Vec<_>>(),
        ["af-south-1", "eu-west-1", "us-east-1"]
    );
    // Where ListRegions is refused (moto has none), the 17 Regions every account has.
    let (code, out, err) = cairn(
        &db,
        &[
            "source",
            "add",
            "fixed",
            "--lookup-events",
            "--endpoint-url",
            &moto.url,
        ], None,
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = cairn(&db, &["source", "check", "fixed"], None);
    assert!(out.contains("! regions  account:ListRegions"), "{out}");
    assert_eq!(code, 1, "LookupEvents itself is refused by moto: {out}");
    let pool = cairn::db::connect(&db).await.unwrap();
    let fixed = cairn::sync::sources::load(
        &pool,
        &cairn::sync::secrets::SecretBox::for_db(&db).unwrap(),
        "fixed",
    )
    .await
    .unwrap();
    let regions = cairn::sync::lookup::regions(&pool, &fixed, &cairn::sync::aws::Tuning::default())
        .await
        .unwrap();
    assert_eq!(regions.len(), 17, "{regions:?}");
    pool.close().await;
    assert_eq!(cairn(&db, &["source", "remove", "fixed"], None).0, 0);
    // Removed, its checkpoints go; the events stay.
    assert_eq!(cairn(&db, &["source", "remove", "every"], None).0, 0);
    assert_eq!(
        count_in(
            &db,
            "SELECT count(*) FROM ingest_files WHERE source = 'lookup://every'"
        )
        .await,
        0
    );
    assert_eq!(count_in(&db, "SELECT count(*) FROM events").await, 766);
}

fn reports(db: &Path, args: &[&str]) -> (i32, Vec<Value>) {
    let (code, out, _) = cairn(db, args, None);
    (
        code,
        out.lines()
            .map(|l| serde_json::from_str(l).expect("a JSON report"))
            .collect(),
    )
}

fn inventory_of(reports: &[Value]) -> Value {
    reports
        .iter()
        .find(|r| r["feed"] == "inventory")
        .cloned()
        .unwrap_or_else(|| panic!("an inventory report in {reports:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trail_inventory_keeps_each_change() {
    let moto = Moto::start();
    let s3 = moto.s3();
    s3.create_bucket()
        .bucket("trail")
        .send()
        .await
        .expect("bucket");
    let ct = |region: &str| {
        let conf = aws_sdk_cloudtrail::Config::builder()
            .behavior_version(aws_sdk_cloudtrail::config::BehaviorVersion::latest())
            .region(aws_sdk_cloudtrail::config::Region::new(region.to_owned()))
            .endpoint_url(&moto.url)
            .credentials_provider(aws_sdk_cloudtrail::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .http_client(Moto::http())
            .build();
        aws_sdk_cloudtrail::Client::from_conf(conf)
    };
    let (use1, euw1) = (ct("us-east-1"), ct("eu-west-1"));
    let main = use1
        .create_trail()
        .name("main")
        .s3_bucket_name("trail")
        .s3_key_prefix("logs")
        .is_multi_region_trail(true)
        .enable_log_file_validation(true)
        .send()
        .await
        .expect("trail");
    let main_arn = main.trail_arn().unwrap().to_owned();
    use1.start_logging()
        .name("main")
        .send()
        .await
        .expect("logging");
    use aws_sdk_cloudtrail::types::{DataResource, EventSelector, ReadWriteType, Tag};
    use1.put_event_selectors()
        .trail_name("main")
        .event_selectors(
            EventSelector::builder()
                .read_write_type(ReadWriteType::All)
                .include_management_events(true)
                .data_resources(
                    DataResource::builder()
                        .r#type("AWS::S3::Object")
                        .values("arn:aws:s3:::secrets/")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("selectors");
    use1.add_tags()
        .resource_id(&main_arn)
        .tags_list(
            Tag::builder()
                .key("team")
                .value("<b>sec</b>")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("tags");
    euw1.create_trail()
        .name("local")
        .s3_bucket_name("trail")
        .send()
        .await
        .expect("local trail");

    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("i.db");
    let (code, out, err) = cairn(
        &db,
        &[
            "source",
            "add",
            "inv",
            "--bucket",
            "trail",
            "--prefix",
            "logs",
            "--regions",
            "eu-west-1,us-east-1",
            "--endpoint-url",
            &moto.url,
        ], None,
    );
    assert_eq!(code, 0, "{out}{err}");
    let snapshots = |db: std::path::PathBuf| async move {
        let pool = cairn::db::connect(&db).await.unwrap();
        let rows: Vec<(String, String, bool, String)> = sqlx::query_as(
            "SELECT region, trail_arn, gone, config FROM trail_snapshots ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        rows.into_iter()
            .map(|(r, a, g, c)| (r, a, g, serde_json::from_str::<Value>(&c).unwrap()))
            .collect::<Vec<_>>()
    };

    // First look: main in its home Region and as a shadow in eu-west-1, and local.
    let (code, r) = reports(&db, &["sync", "--once", "--json"]);
    let inv = inventory_of(&r);
    assert_eq!(code, 0, "{r:?}");
    assert_eq!(
        (inv["state"].as_str(), inv["folders"].as_i64()),
        (Some("ok"), Some(2)),
        "{inv}"
    );
    assert_eq!(
        (inv["found"].as_i64(), inv["files"].as_i64()),
        (Some(3), Some(3)),
        "{inv}"
    );
    let rows = snapshots(db.clone()).await;
    let home = rows
        .iter()
        .find(|(r, a, _, _)| r == "us-east-1" && *a == main_arn)
        .expect("main at home");
    assert_eq!(home.3["logging"], true);
    assert_eq!(home.3["multi_region"], true);
    assert_eq!(home.3["log_file_validation"], true);
    assert_eq!(home.3["tags"], json!({"team": "<b>sec</b>"}));
    assert_eq!(
        home.3["event_selectors"][0]["data_resources"][0]["values"],
        json!(["arn:aws:s3:::secrets/"])
    );
    let shadow = rows
        .iter()
        .find(|(r, a, _, _)| r == "eu-west-1" && *a == main_arn)
        .expect("main's shadow");
    assert_eq!(shadow.3["home_region"], "us-east-1");
    assert_eq!(shadow.3["shadow"], true);

    // Nothing changed: nothing written.
    let (_, r) = reports(&db, &["sync", "--once", "--json"]);
    let inv = inventory_of(&r);
    assert_eq!(
        (inv["found"].as_i64(), inv["files"].as_i64()),
        (Some(3), Some(0)),
        "{inv}"
    );

    // Logging stopped: a change at home. Local deleted: gone.
    use1.stop_logging().name("main").send().await.expect("stop");
    euw1.delete_trail()
        .name("local")
        .send()
        .await
        .expect("delete");
    let (_, r) = reports(&db, &["sync", "--once", "--json"]);
    let inv = inventory_of(&r);
    assert_eq!(
        (inv["found"].as_i64(), inv["files"].as_i64()),
        (Some(2), Some(2)),
        "{inv}"
    );
    let rows = snapshots(db.clone()).await;
    assert_eq!(rows.len(), 5);
    let main_history: Vec<&Value> = rows
        .iter()
        .filter(|(r, a, _, _)| r == "us-east-1" && *a == main_arn)
        .map(|(_, _, _, c)| &c["logging"])
        .collect();
    assert_eq!(main_history, [&json!(true), &json!(false)]);
    let local: Vec<bool> = rows
        .iter()
        .filter(|(_, a, _, _)| a.ends_with(":trail/local"))
        .map(|(_, _, g, _)| *g)
        .collect();
    assert_eq!(local, [false, true]);

    // Within the hour a server's passes leave the inventory alone; a pass by hand takes it.
    let pool = cairn::db::connect(&db).await.unwrap();
    let source_id: i64 = sqlx::query_scalar("SELECT id FROM sources WHERE name = 'inv'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        !cairn::sync::inventory::due(&pool, source_id, cairn::sync::inventory::EVERY)
            .await
            .unwrap()
    );
    assert!(
        cairn::sync::inventory::due(&pool, source_id, Duration::ZERO)
            .await
            .unwrap()
    );
    pool.close().await;
}

#[tokio::test]
async fn editing_a_source_keeps_its_secret_and_its_checkpoints() {
    use cairn::sync::sources::{self, SourceError, SourceSpec};
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("e.db");
    let pool = cairn::db::connect(&db).await.unwrap();
    let secrets = cairn::sync::secrets::SecretBox::for_db(&db).unwrap();
    let spec = |name: &str| SourceSpec {
        name: name.into(),
        lookup_events: true,
        role_arn: Some("arn:aws:iam::111111111111:role/read".into()),
        backfill_days: 90,
        ..SourceSpec::default()
    };
    sources::add(
        &pool,
        &secrets,
        SourceSpec {
            external_id: Some("ext-1".into()),
            ..spec("a")
        }, &SHELL,
    )
    .await
    .unwrap();
    sources::add(&pool, &secrets, spec("c"), &SHELL).await.unwrap();
    sqlx::query(
        "INSERT INTO ingest_files (source, path, size, kind, status, imported_at)
         VALUES ('lookup://a', 'us-east-1/1-2/done', 0, 'other', 'imported', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    // Renamed without a new external ID: the sealed one and the checkpoints follow.
    sources::update(&pool, &secrets, "a", spec("b"), false, &SHELL)
        .await
        .unwrap();
    let b = sources::load(&pool, &secrets, "b").await.unwrap();
    assert_eq!(b.external_id.as_deref(), Some("ext-1"));
    let moved: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ingest_files WHERE source = 'lookup://b'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(moved, 1);
    // The stored ID needs its role; a new one replaces it; clearing removes it.
    let no_role = SourceSpec {
        role_arn: None,
        ..spec("b")
    };
    assert!(matches!(
        sources::update(&pool, &secrets, "b", no_role.clone(), false, &SHELL).await,
        Err(SourceError::Invalid(_))
    ));
    sources::update(
        &pool,
        &secrets,
        "b",
        SourceSpec {
            external_id: Some("ext-2".into()),
            ..spec("b")
        },
        false, &SHELL,
    )
    .await
    .unwrap();
    assert_eq!(
        sources::load(&pool, &secrets, "b")
            .await
            .unwrap()
            .external_id
            .as_deref(),
        Some("ext-2")
    );
    sources::update(&pool, &secrets, "b", no_role, true, &SHELL)
        .await
        .unwrap();
    assert_eq!(
        sources::load(&pool, &secrets, "b")
            .await
            .unwrap()
            .external_id,
        None
    );
    // A name taken, or an unknown source, is refused.
    assert!(matches!(
        sources::update(&pool, &secrets, "b", spec("c"), false, &SHELL).await,
        Err(SourceError::Duplicate(_))
    ));
    assert!(matches!(
        sources::update(&pool, &secrets, "zz", spec("zz"), false, &SHELL).await,
        Err(SourceError::NotFound(_))
    ));
    pool.close().await;
}

/// What a backup must hold to be a moment of the store: it opens, SQLite finds it
/// whole, and the events, the summaries, the search index and the ledger agree.
async fn check_backup(path: &Path, printed: &Value) -> i64 {
    use sqlx::sqlite::SqliteConnectOptions;
    let options = SqliteConnectOptions::new().filename(path).read_only(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.expect("the backup opens");
    let one = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.expect(sql) }
    };
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .expect("integrity_check runs");
    assert_eq!(check, "ok", "{}", path.display());
    let events = one("SELECT count(*) FROM events").await;
    assert_eq!(printed["events"], events, "{printed}");
    assert_eq!(
        printed["bytes"].as_u64(),
        Some(std::fs::metadata(path).expect("the backup").len()),
        "{printed}"
    );
    let agree = [
        ("the ledger", "SELECT coalesce(sum(events_new), 0) FROM ingest_files"),
        ("the per-minute counts", "SELECT coalesce(sum(events), 0) FROM counts_minute"),
        ("the principals' counts", "SELECT coalesce(sum(events), 0) FROM principals"),
        // Every record of these tests has this access key; the index holds each one once.
        ("the search index", "SELECT count(*) FROM events_fts WHERE events_fts MATCH '\"AKIAEXAMPLE\"'"),
    ];
    for (what, sql) in agree {
        assert_eq!(one(sql).await, events, "{what} disagrees with the events in {}", path.display());
    }
    pool.close().await;
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_taken_during_an_import_and_a_sync_are_whole() {
    let moto = Moto::start();
    let s3 = moto.s3();
    s3.create_bucket().bucket("trail").send().await.expect("bucket");
    let time = (chrono::Utc::now() - chrono::Duration::days(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    // The bucket: 40 files of 300 events of account A.
    let a = "111111111111";
    for f in 0..40 {
        let records: Vec<Value> = (0..300).map(|i| record(a, "us-east-1", f * 300 + i, &time)).collect();
        put(&s3, &key(None, a, "CloudTrail", "us-east-1", -1, &format!("{f:016}")), trail_file(&records)).await;
    }
    // A folder to import: 100 files of 1,500 events of account B.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    let b = "222222222222";
    for f in 0..100 {
        let records: Vec<Value> = (0..1500)
            .map(|i| record(b, "eu-west-1", 1_000_000 + f * 1500 + i, &time))
            .collect();
        std::fs::write(dir.join(format!("{f:03}.json.gz")), trail_file(&records)).unwrap();
    }
    let total = 40 * 300 + 100 * 1500;
    let db = tmp.path().join("c.db");
    add_bucket_source(&db, "prod", &moto.url);

    let mut import = common::command(&db)
        .arg("import")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cairn import runs");
    let mut sync = spawn_sync(&db);
    let copies = tmp.path().join("copies");
    let mut taken = Vec::new();
    let (mut import_done, mut sync_done) = (None, None);
    let started = Instant::now();
    while import_done.is_none() || sync_done.is_none() {
        assert!(started.elapsed() < Duration::from_secs(300), "the import and sync did not end");
        let path = copies.join(format!("cairn-{}.db", taken.len()));
        let (code, out, err) = cairn(&db, &["backup", path.to_str().unwrap(), "--json"], None);
        assert_eq!(code, 0, "{out}{err}");
        let printed: Value = serde_json::from_str(&out).expect("one JSON object");
        assert_eq!(printed["path"], path.to_str().unwrap());
        taken.push(check_backup(&path, &printed).await);
        // The key file goes with each copy.
        assert_eq!(
            std::fs::read(copies.join(format!("cairn-{}.db.key", taken.len() - 1))).expect("the key's copy"),
            std::fs::read(tmp.path().join("c.db.key")).expect("the key"),
        );
        import_done = import_done.or(import.try_wait().expect("import"));
        sync_done = sync_done.or(sync.try_wait().expect("sync"));
    }
    assert_eq!(import_done.and_then(|s| s.code()), Some(0));
    assert_eq!(sync_done.and_then(|s| s.code()), Some(0));
    // Some copies were taken part-way: neither empty nor the whole.
    assert!(
        taken.iter().any(|&n| n > 0 && n < total as i64),
        "no backup fell while events were going in: {taken:?}"
    );
    // And after both, the copy holds everything.
    let path = copies.join("last.db");
    let (code, out, err) = cairn(&db, &["backup", path.to_str().unwrap(), "--json"], None);
    assert_eq!(code, 0, "{out}{err}");
    let printed: Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(check_backup(&path, &printed).await, total as i64);
    // Another backup never lands on an existing one.
    let (code, _, err) = cairn(&db, &["backup", path.to_str().unwrap()], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("exists already"), "{err}");
    // The copy is a database Cairn serves from.
    let (code, out, err) = cairn(&path, &["findings", "--json"], None);
    assert_eq!(code, 0, "{out}{err}");
}
