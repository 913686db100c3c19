//! Anomalies end to end, on generated scenarios with exact ground truth: S3 reads summed
//! at import, judged against each reader's own history, and filed as findings with the
//! figures that made them fire; quiet readers, slow readers and a weekly job make none.

mod common;

use common::{count, import};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Monday 2024-01-01 00:00 UTC.
const T0: i64 = 1_704_067_200_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const ACCOUNT: &str = "111122223333";
const MB: i64 = 1_000_000;

struct Gen {
    n: u64,
    files: Vec<(String, Vec<Value>)>,
}

#[derive(Clone, Copy)]
struct Read<'a> {
    user: &'a str,
    bucket: &'a str,
    ip: &'a str,
    bytes: i64,
    presigned: bool,
}

impl Gen {
    fn new() -> Gen {
        Gen { n: 0, files: Vec::new() }
    }

    fn record(&mut self, ms: i64, r: Read<'_>) -> Value {
        self.n += 1;
        let key = format!("data/{}/{:08}.bin", r.user, self.n);
        json!({
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "principalId": format!("AIDA{}", r.user.to_uppercase()),
                "arn": format!("arn:aws:iam::{ACCOUNT}:user/{}", r.user), "accountId": ACCOUNT,
                "accessKeyId": "AKIAEXAMPLEKEY00001", "userName": r.user},
            "eventTime": common::iso(ms),
            "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject",
            "awsRegion": "us-east-1",
            "sourceIPAddress": r.ip,
            "userAgent": "[aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64 command/s3.cp]",
            "requestParameters": {"bucketName": r.bucket, "key": key, "Host": format!("{}.s3.us-east-1.amazonaws.com", r.bucket)},
            "responseElements": null,
            "additionalEventData": {"bytesTransferredIn": 0, "bytesTransferredOut": r.bytes,
                "AuthenticationMethod": if r.presigned { "QueryString" } else { "AuthHeader" }},
            "requestID": format!("REQ{:012}", self.n),
            "eventID": format!("00000000-0000-4000-8000-{:012}", self.n),
            "readOnly": true,
            "resources": [
                {"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{}/{key}", r.bucket)},
                {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{}", r.bucket)}
            ],
            "eventType": "AwsApiCall",
            "managementEvent": false,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Data"
        })
    }

    /// `n` reads spread over the hour starting at `hour_ms`, into file `file`.
    fn hour(&mut self, file: &str, hour_ms: i64, n: i64, r: Read<'_>) {
        let recs: Vec<Value> = (0..n).map(|i| self.record(hour_ms + i * (HOUR - 1000) / n.max(1), r)).collect();
        match self.files.iter_mut().find(|(f, _)| f == file) {
            Some((_, v)) => v.extend(recs),
            None => self.files.push((file.to_owned(), recs)),
        }
    }

    fn write(&mut self, dir: &Path) -> Vec<PathBuf> {
        std::fs::create_dir_all(dir).unwrap();
        self.files
            .drain(..)
            .map(|(name, recs)| {
                let p = dir.join(name);
                std::fs::write(&p, json!({"Records": recs}).to_string()).unwrap();
                p
            })
            .collect()
    }
}

fn at(day: i64, hour: i64) -> i64 {
    T0 + day * DAY + hour * HOUR
}

/// Reader `user`'s principal key.
fn user(u: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{u}")
}

async fn findings(pool: &sqlx::SqlitePool) -> Vec<(String, String, i64, i64, String)> {
    sqlx::query_as(
        "SELECT rule_id, group_key, window_start, events, coalesce(detail, '') FROM findings
         WHERE rule_id LIKE 'cairn-exfil-%' ORDER BY rule_id, group_key, window_start",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn exfiltration_is_found_against_each_readers_own_history() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let pool = cairn::db::connect(&db).await.unwrap();
    let mut g = Gen::new();
    let steady = Read { user: "steady", bucket: "app-assets", ip: "198.51.100.10", bytes: MB, presigned: false };
    let slow = Read { user: "slow", bucket: "logs-archive", ip: "198.51.100.20", bytes: MB, presigned: false };
    let batch = Read { user: "batch", bucket: "reports", ip: "10.1.2.3", bytes: 2 * MB, presigned: false };
    let sharer = Read { user: "sharer", bucket: "shared-media", ip: "198.51.100.30", bytes: MB, presigned: true };
    for day in 0..29 {
        let file = format!("day-{day:02}.json");
        let weekday = day % 7 < 5;
        for h in 8..19 {
            if weekday {
                // A principal whose reads jump 30× for one hour (day 22, a Tuesday, 14:00).
                let n = if (day, h) == (22, 14) { 300 } else { 10 };
                g.hour(&file, at(day, h), n, steady);
            }
        }
        // A slow reader: 50 an hour at first, then 150 (under 4× its own baseline).
        for h in 9..13 {
            let n = if day < 20 { 40 + (day * 7 + h) % 21 } else { 150 };
            g.hour(&file, at(day, h), n, slow);
        }
        // A weekly batch job every Monday at 02:00, from the third week on.
        if day % 7 == 0 && day >= 14 {
            g.hour(&file, at(day, 2), 400, batch);
        }
        // A few presigned reads a day, then a burst on day 24 at 15:00.
        if day < 24 {
            g.hour(&file, at(day, 10), 5, sharer);
        } else if day == 24 {
            g.hour(&file, at(day, 15), 150, sharer);
        }
    }
    // A first-time bulk reader: day 20 at 03:00, 250 objects of a bucket it never read.
    let newcomer = Read { user: "newcomer", bucket: "prod-customer-data", ip: "203.0.113.50", bytes: 20 * MB, presigned: false };
    g.hour("newcomer.json", at(20, 3), 250, newcomer);
    // The steady reader from a network it never used (day 25, 10:00), 20 objects.
    g.hour("elsewhere.json", at(25, 10), 20, Read { ip: "185.220.101.7", ..steady });
    let files = g.write(&tmp.path().join("in"));
    let s = import(&pool, &files).await;
    assert!(s.files_rejected.is_empty());
    let events = count(&pool, "SELECT count(*) FROM events").await;
    assert_eq!(count(&pool, "SELECT sum(objects) FROM s3_reads").await, events);
    assert_eq!(count(&pool, "SELECT sum(presigned) FROM s3_reads").await, 24 * 5 + 150);
    assert_eq!(
        count(&pool, "SELECT sum(bytes) FROM s3_reads r JOIN principals p ON p.id = r.actor WHERE p.key LIKE '%user/newcomer'").await,
        250 * 20 * MB
    );

    let found = findings(&pool).await;
    let summary: Vec<(&str, &str, i64, i64)> =
        found.iter().map(|(r, g, w, n, _)| (r.as_str(), g.as_str(), *w, *n)).collect();
    let expected = vec![
        ("cairn-exfil-first-bulk-read", format!("{} arn:aws:s3:::reports", user("batch")), at(14, 2), 400),
        ("cairn-exfil-first-bulk-read", format!("{} arn:aws:s3:::prod-customer-data", user("newcomer")), at(20, 3), 250),
        ("cairn-exfil-new-network", format!("{} 185.220.0.0/16", user("steady")), at(25, 10), 20),
        ("cairn-exfil-over-baseline", user("sharer"), at(24, 15), 150),
        ("cairn-exfil-over-baseline", user("steady"), at(22, 14), 300),
        ("cairn-exfil-presigned-burst", user("sharer"), at(24, 15), 150),
    ];
    let expected: Vec<(&str, &str, i64, i64)> = expected.iter().map(|(r, g, w, n)| (*r, g.as_str(), *w, *n)).collect();
    assert_eq!(summary, expected, "{found:#?}");

    // The figures that made them fire.
    let detail = |rule: &str, group: &str| -> Value {
        let d = &found.iter().find(|f| f.0 == rule && f.1 == group).unwrap().4;
        serde_json::from_str(d).unwrap()
    };
    let spike = detail("cairn-exfil-over-baseline", &user("steady"));
    assert_eq!(spike["objects"], 300);
    assert_eq!(spike["bytes"], 300 * MB);
    assert_eq!(spike["baseline_objects"], 10);
    assert_eq!(spike["baseline_weekly"], true);
    assert_eq!(spike["baseline_day_objects"], 110);
    let text = spike["summary"].as_str().unwrap();
    assert!(text.starts_with("read 300 objects / 300 MB in 60 minutes; over the previous 14 days it read at most 10 objects / 10.0 MB at this hour of the week"), "{text}");
    let first = detail("cairn-exfil-first-bulk-read", &format!("{} arn:aws:s3:::prod-customer-data", user("newcomer")));
    assert_eq!(first["objects"], 250);
    assert_eq!(first["bytes"], 250 * 20 * MB);
    assert_eq!(first["summary"], "read 250 objects / 5.0 GB from prod-customer-data, a bucket it had never read, in 60 minutes");
    // Findings are filed as their reader: the principal, its account.
    assert_eq!(
        count(&pool, "SELECT count(*) FROM findings f JOIN principals p ON p.id = f.principal_id
                      WHERE f.rule_id LIKE 'cairn-exfil-%' AND substr(f.group_key, 1, length(p.key)) = p.key
                        AND f.account = '111122223333'").await,
        6
    );

    // Imported again: nothing is doubled.
    import(&pool, &files).await;
    assert_eq!(findings(&pool).await, found);
    let reads = count(&pool, "SELECT sum(objects) FROM s3_reads").await;
    assert_eq!(reads, events);

    // Late events of a judged hour join its finding, and its figures follow.
    let mut late = Gen { n: 1_000_000, files: Vec::new() };
    late.hour("late.json", at(22, 14), 60, steady);
    let late_files = late.write(&tmp.path().join("late"));
    import(&pool, &late_files).await;
    let after = findings(&pool).await;
    let spike = after.iter().find(|f| f.0 == "cairn-exfil-over-baseline" && f.1 == user("steady")).unwrap();
    assert_eq!((spike.2, spike.3), (at(22, 14), 360));
    assert_eq!(serde_json::from_str::<Value>(&spike.4).unwrap()["objects"], 360);
    assert_eq!(after.len(), found.len());

    // An episode that runs on into the next hour stays one finding.
    let mut on = Gen { n: 2_000_000, files: Vec::new() };
    on.hour("on.json", at(22, 15), 300, steady);
    let on_files = on.write(&tmp.path().join("on"));
    import(&pool, &on_files).await;
    let after = findings(&pool).await;
    let spike = after.iter().find(|f| f.0 == "cairn-exfil-over-baseline" && f.1 == user("steady")).unwrap();
    assert_eq!((spike.2, spike.3), (at(22, 14), 670), "{after:#?}");
    assert_eq!(serde_json::from_str::<Value>(&spike.4).unwrap()["objects"], 670);
    assert_eq!(after.len(), found.len());
    pool.close().await;
}

#[tokio::test]
async fn the_demos_planted_bulk_download_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let pool = cairn::db::connect(&db).await.unwrap();
    let files = tmp.path().join("in");
    std::fs::create_dir_all(&files).unwrap();
    cairn::demo::DemoSpec::new(20_000, 14, 7, 1_750_000_000_000).write_files(&files).unwrap();
    import(&pool, &[files]).await;
    let (events, detail): (i64, String) = sqlx::query_as(
        "SELECT events, detail FROM findings WHERE rule_id = 'cairn-exfil-first-bulk-read'
           AND group_key LIKE '%assumed-role/DataPipelineRole/contractor-temp arn:aws:s3:::prod-customer-data'",
    )
    .fetch_one(&pool)
    .await
    .expect("the bulk download is found");
    let d: Value = serde_json::from_str(&detail).unwrap();
    // 20,000 events plant 40 downloads of 50 MiB.
    assert_eq!(events, 40);
    assert_eq!(d["objects"], 40);
    assert_eq!(d["bytes"], 40 * 52_428_800i64);
    pool.close().await;
}

#[tokio::test]
async fn data_shared_outside_the_accounts_held_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let pool = cairn::db::connect(&db).await.unwrap();
    let call = |n: u32, account: &str, source: &str, name: &str, extra: Value| {
        let mut e = json!({
            "eventVersion": "1.09", "eventTime": common::iso(T0 + i64::from(n) * 60_000),
            "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
            "eventID": format!("00000000-0000-4000-8000-{n:012}"), "eventType": "AwsApiCall",
            "recipientAccountId": account, "sourceIPAddress": "198.51.100.9", "userAgent": "aws-cli/2.15",
            "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{account}:user/mallory"),
                "accountId": account, "userName": "mallory"},
        });
        if let (Some(o), Some(x)) = (e.as_object_mut(), extra.as_object()) {
            o.extend(x.clone());
        }
        e
    };
    let snapshot = |to: &str| json!({"requestParameters": {"snapshotId": "snap-0123456789abcdef0",
        "createVolumePermission": {"add": {"items": [{"userId": to}]}}}});
    let records = vec![
        // A second account of the organization: Cairn holds its events.
        call(1, "444455556666", "s3.amazonaws.com", "ListBuckets", json!({})),
        // Shared inside: no finding.
        call(2, ACCOUNT, "ec2.amazonaws.com", "ModifySnapshotAttribute", snapshot("444455556666")),
        // Shared outside: a finding.
        call(3, ACCOUNT, "ec2.amazonaws.com", "ModifySnapshotAttribute", snapshot("999988887777")),
        // Refused: no finding.
        call(4, ACCOUNT, "ec2.amazonaws.com", "ModifySnapshotAttribute",
            json!({"errorCode": "Client.UnauthorizedOperation"}).as_object().map(|o| {
                let mut v = snapshot("999988887777");
                v.as_object_mut().unwrap().extend(o.clone());
                v
            }).unwrap()),
        // A bucket policy letting an outside account read: the same finding (principal, day).
        call(5, ACCOUNT, "s3.amazonaws.com", "PutBucketPolicy", json!({"requestParameters": {"bucketName": "prod-customer-data",
            "bucketPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::888877776666:root"}, "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::prod-customer-data/*"}]}}})),
    ];
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a.json");
    std::fs::write(&file, json!({"Records": records}).to_string()).unwrap();
    import(&pool, &[file]).await;
    let rows: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT group_key, events, detail FROM findings WHERE rule_id = 'cairn-data-shared-outside'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, format!("arn:aws:iam::{ACCOUNT}:user/mallory"));
    assert_eq!(rows[0].1, 2);
    let d: Value = serde_json::from_str(&rows[0].2).unwrap();
    // The latest share is the sentence.
    assert_eq!(d["summary"], "PutBucketPolicy prod-customer-data granted account 888877776666, outside the accounts Cairn holds events of");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM finding_events fe JOIN findings f ON f.id = fe.finding_id
                      JOIN events e ON e.id = fe.event_id WHERE f.rule_id = 'cairn-data-shared-outside'
                        AND e.error_code_id IS NULL").await,
        2
    );
    pool.close().await;
}
