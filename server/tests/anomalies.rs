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

/// One management call at `ms`.
fn api_call(n: &mut u64, ms: i64, account: &str, user: &str, source: &str, name: &str, write: bool, error: Option<&str>) -> Value {
    *n += 1;
    let mut e = json!({
        "eventVersion": "1.09", "eventTime": common::iso(ms),
        "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
        "eventID": format!("10000000-0000-4000-8000-{:012}", *n), "eventType": "AwsApiCall",
        "recipientAccountId": account, "sourceIPAddress": "198.51.100.9",
        "userAgent": format!("aws-cli/2.15.30 {user}"),
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{account}:user/{user}"),
            "accountId": account, "userName": user},
        "readOnly": !write, "managementEvent": true, "eventCategory": "Management",
    });
    if let (Some(code), Some(o)) = (error, e.as_object_mut()) {
        o.insert("errorCode".into(), json!(code));
        o.insert("errorMessage".into(), json!(format!("User is not authorized to perform {name}")));
    }
    e
}

/// `per_minute` calls in each of `minutes` minutes from `start_ms`.
#[allow(clippy::too_many_arguments)]
fn burst(n: &mut u64, out: &mut Vec<Value>, start_ms: i64, minutes: i64, per_minute: i64, account: &str, user: &str,
    source: &str, name: &str, write: bool, error: Option<&str>) {
    for m in 0..minutes {
        for i in 0..per_minute {
            out.push(api_call(n, start_ms + m * 60_000 + i * 50_000 / per_minute.max(1), account, user, source, name, write, error));
        }
    }
}

fn write_file(dir: &Path, name: &str, records: Vec<Value>) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, json!({"Records": records}).to_string()).unwrap();
    p
}

#[tokio::test]
async fn call_and_error_rate_episodes_are_found_and_quiet_rates_are_not() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let pool = cairn::db::connect(&db).await.unwrap();
    let dir = tmp.path().join("in");
    let other = "444455556666";
    let (ec2, sm) = ("ec2.amazonaws.com", "secretsmanager.amazonaws.com");
    let mut n = 0u64;
    let minute = 60_000;
    // Eight days of routine.
    let mut history = Vec::new();
    for day in 0..8 {
        for h in (0..24).step_by(2) {
            history.push(api_call(&mut n, at(day, h) + 17 * minute, ACCOUNT, "ops", ec2, "RunInstances", true, None));
        }
        // Twice in one minute once a day: the busiest minute is 2.
        burst(&mut n, &mut history, at(day, 13), 1, 2, ACCOUNT, "ops", ec2, "RunInstances", true, None);
        // A deploy tags 15 resources a minute for 5 minutes every morning.
        burst(&mut n, &mut history, at(day, 9), 5, 15, ACCOUNT, "deploy", ec2, "CreateTags", true, None);
        // The application reads its secret (read-only, allowed) and is refused once a day.
        burst(&mut n, &mut history, at(day, 11), 30, 1, ACCOUNT, "app", sm, "GetSecretValue", false, None);
        history.push(api_call(&mut n, at(day, 12), ACCOUNT, "app", sm, "GetSecretValue", false, Some("AccessDeniedException")));
    }
    // Another account with one day of history.
    for h in 0..24 {
        history.push(api_call(&mut n, at(7, h), other, "ops", ec2, "RunInstances", true, None));
    }
    let history = write_file(&dir, "history.json", history);
    // Day 8: the incident, and the quiet cases.
    let mut first = Vec::new();
    let mut second = Vec::new();
    // RunInstances at 40 a minute for 10 minutes, arriving in two deliveries.
    burst(&mut n, &mut first, at(8, 10), 5, 40, ACCOUNT, "intruder", ec2, "RunInstances", true, None);
    burst(&mut n, &mut second, at(8, 10) + 5 * minute, 5, 40, ACCOUNT, "intruder", ec2, "RunInstances", true, None);
    // AccessDenied on GetSecretValue, 30 a minute for 8 minutes.
    burst(&mut n, &mut first, at(8, 14), 8, 30, ACCOUNT, "intruder", sm, "GetSecretValue", false, Some("AccessDeniedException"));
    // Quiet: the morning deploy as every day; 100 reads a minute; a new write call at 9 a
    // minute; the young account's burst.
    burst(&mut n, &mut first, at(8, 9), 5, 15, ACCOUNT, "deploy", ec2, "CreateTags", true, None);
    burst(&mut n, &mut first, at(8, 16), 10, 100, ACCOUNT, "ops", ec2, "DescribeInstances", false, None);
    burst(&mut n, &mut first, at(8, 17), 10, 9, ACCOUNT, "ops", ec2, "CreateSnapshot", true, None);
    burst(&mut n, &mut first, at(8, 18), 5, 50, other, "ops", ec2, "RunInstances", true, None);
    let first = write_file(&dir, "day8-a.json", first);
    let second = write_file(&dir, "day8-b.json", second);
    // Three imports: the second delivery lands in a later batch and joins the episode.
    import(&pool, &[history.clone()]).await;
    import(&pool, &[first.clone()]).await;
    import(&pool, &[second.clone()]).await;
    // The rollup counts writes and failures of management calls, per minute.
    assert_eq!(count(&pool, "SELECT sum(calls) FROM call_minute").await,
        count(&pool, "SELECT count(*) FROM events WHERE read_only = 0").await);
    assert_eq!(count(&pool, "SELECT sum(errors) FROM call_minute").await, 8 + 240);
    assert_eq!(count(&pool, "SELECT sum(calls) FROM call_day").await, count(&pool, "SELECT sum(calls) FROM call_minute").await);

    let rows: Vec<(String, String, i64, i64, String, String)> = sqlx::query_as(
        "SELECT rule_id, group_key, window_start, events, severity, detail FROM findings
         WHERE rule_id LIKE 'cairn-insight-%' ORDER BY rule_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let got: Vec<(&str, &str, i64, i64, &str)> =
        rows.iter().map(|r| (r.0.as_str(), r.1.as_str(), r.2, r.3, r.4.as_str())).collect();
    assert_eq!(
        got,
        vec![
            ("cairn-insight-call-rate", "111122223333 us-east-1 ec2.amazonaws.com RunInstances", at(8, 10), 400, "high"),
            ("cairn-insight-error-rate", "111122223333 us-east-1 secretsmanager.amazonaws.com GetSecretValue", at(8, 14), 240, "high"),
        ]
    );
    let calls: app::insights::Episode = serde_json::from_str(&rows[0].5).unwrap();
    assert!(!calls.by_aws);
    assert_eq!(calls.insight_type, "ApiCallRateInsight");
    assert_eq!((calls.start_ms, calls.end_ms), (at(8, 10), Some(at(8, 10) + 10 * minute)));
    assert_eq!((calls.calls, calls.insight_duration, calls.insight_peak), (Some(400), Some(10), Some(40)));
    assert_eq!((calls.baseline_peak, calls.baseline_duration), (Some(2), Some(7 * 1440)));
    // 7 days of 14 calls.
    assert_eq!(calls.baseline_average, Some(98.0 / (7.0 * 1440.0)));
    assert_eq!(calls.insight_average, Some(40.0));
    let top = |e: &app::insights::Episode, attr: &str, baseline: bool| -> Vec<(String, f64)> {
        let a = e.attributions.iter().find(|a| a.attribute == attr).unwrap();
        let list = if baseline { &a.baseline } else { &a.insight };
        list.iter().map(|s| (s.value.clone(), s.average)).collect()
    };
    assert_eq!(top(&calls, "userIdentityArn", false), vec![(user("intruder"), 40.0)]);
    assert_eq!(top(&calls, "userIdentityArn", true), vec![(user("ops"), 98.0 / (7.0 * 1440.0))]);
    assert_eq!(top(&calls, "errorCode", false), vec![("null".to_owned(), 40.0)]);
    assert!(calls.summary.starts_with(
        "RunInstances (ec2.amazonaws.com) in 111122223333 us-east-1: 400 write calls in 10 minutes, 40.0 a minute, against under 0.01 a minute over the previous 7 days (at most 2 in a minute); mostly by arn:aws:iam::111122223333:user/intruder"
    ), "{}", calls.summary);
    let errors: app::insights::Episode = serde_json::from_str(&rows[1].5).unwrap();
    assert_eq!((errors.calls, errors.insight_duration, errors.baseline_peak), (Some(240), Some(8), Some(1)));
    assert_eq!(top(&errors, "errorCode", false), vec![("AccessDeniedException".to_owned(), 30.0)]);
    assert!(errors.summary.contains("240 calls returning an error in 8 minutes, 30.0 a minute"), "{}", errors.summary);
    assert!(errors.summary.contains("; mostly AccessDeniedException; mostly by arn:aws:iam::111122223333:user/intruder"), "{}", errors.summary);

    // Imported again, nothing changes.
    import(&pool, &[history, first, second]).await;
    assert_eq!(count(&pool, "SELECT count(*) FROM findings WHERE rule_id LIKE 'cairn-insight-%'").await, 2);
    assert_eq!(count(&pool, "SELECT sum(events) FROM findings WHERE rule_id LIKE 'cairn-insight-%'").await, 640);
    assert_eq!(count(&pool, "SELECT sum(errors) FROM call_minute").await, 8 + 240);

    // The timeline draws both over day 8, and neither over day 7.
    let bands = app::db::findings::episodes(&pool, at(8, 0), at(9, 0), 50).await.unwrap();
    assert_eq!(bands.len(), 2);
    assert!(app::db::findings::episodes(&pool, at(7, 0), at(8, 0), 50).await.unwrap().is_empty());
    pool.close().await;
}

#[tokio::test]
async fn aws_insights_records_are_episodes_marked_as_aws() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let pool = cairn::db::connect(&db).await.unwrap();
    let rec = |id: &str, time: &str, state: &str, duration: Option<i64>| {
        let mut stats = json!({"baseline": {"average": 85.4202380952}, "insight": {"average": 664}});
        if let Some(d) = duration {
            stats["insightDuration"] = json!(d);
        }
        json!({"eventVersion": "1.07", "eventTime": time, "awsRegion": "us-east-1", "eventID": id,
            "eventType": "AwsCloudTrailInsight", "recipientAccountId": "123456789012",
            "sharedEventID": "EXAMPLE2-1729-42f1-b735-5d8c0EXAMPLE",
            "insightDetails": {"state": state, "eventSource": "ssm.amazonaws.com",
                "eventName": "UpdateInstanceInformation", "insightType": "ApiCallRateInsight",
                "insightContext": {"statistics": stats, "attributions": [{"attribute": "userAgent",
                    "insight": [{"value": "<img src=x onerror=alert(1)>", "average": 664}], "baseline": []}]}},
            "eventCategory": "Insight"})
    };
    let dir = tmp.path().join("in");
    // The End first, the Start in a later import: one finding either way.
    let end = write_file(&dir, "end.json", vec![rec("EXAMPLEc-28be", "2019-11-14T00:52:00Z", "End", Some(1))]);
    let start = write_file(&dir, "start.json", vec![rec("EXAMPLE8-9621", "2019-11-14T00:51:00Z", "Start", None)]);
    import(&pool, &[end]).await;
    import(&pool, &[start]).await;
    let rows: Vec<(String, i64, String, String)> = sqlx::query_as(
        "SELECT group_key, events, severity, detail FROM findings WHERE rule_id = 'cairn-aws-insight'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[0].1, rows[0].2.as_str()), ("EXAMPLE2-1729-42f1-b735-5d8c0EXAMPLE", 2, "low"));
    let e: app::insights::Episode = serde_json::from_str(&rows[0].3).unwrap();
    assert!(e.by_aws);
    let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
    assert_eq!((e.start_ms, e.end_ms), (t("2019-11-14T00:51:00Z"), Some(t("2019-11-14T00:52:00Z"))));
    assert_eq!((e.insight_average, e.baseline_average, e.insight_duration), (Some(664.0), Some(85.4202380952), Some(1)));
    assert_eq!(e.attributions[0].insight[0].value, "<img src=x onerror=alert(1)>");
    assert_eq!(e.summary, "AWS CloudTrail Insights: UpdateInstanceInformation (ssm.amazonaws.com) call rate at 664 a minute against 85.4 a minute, for 1 minute");
    // Insights records are not calls: they make no rate of their own.
    assert_eq!(count(&pool, "SELECT count(*) FROM call_minute").await, 0);
    pool.close().await;
}
