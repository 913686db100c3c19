//! Detections end to end: rules run as events are imported, findings made once per event
//! however often it is imported, thresholds over events that arrive in any order,
//! Sigma rules imported with refusals, back-tests and findings over history, and the
//! `cairn rules` / `cairn findings` commands.

mod common;

use common::{cairn, count, import};
use serde_json::{Value, json};
use std::path::Path;

const T0: i64 = 1_700_000_000_000; // 2023-11-14T22:13:20Z

fn event(id: &str, ms: i64, name: &str, source: &str, user: &str, extra: Value) -> Value {
    let mut e = json!({
        "eventVersion": "1.08",
        "eventTime": common::iso(ms),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "eventID": id,
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
        "sourceIPAddress": "203.0.113.9",
        "userAgent": "aws-cli/2.15",
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::111122223333:user/{user}"),
            "accountId": "111122223333", "userName": user, "accessKeyId": "AKIAEXAMPLE0001"},
    });
    if let (Some(o), Some(x)) = (e.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            o.insert(k.clone(), v.clone());
        }
    }
    e
}

fn write(dir: &Path, name: &str, records: &[Value]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, json!({"Records": records}).to_string()).unwrap();
    p
}

fn uuid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

#[tokio::test]
async fn rules_run_on_import_once_per_event() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let pool = cairn::db::connect(&db).await.unwrap();
    let records = vec![
        event(&uuid(1), T0, "StopLogging", "cloudtrail.amazonaws.com", "mallory", json!({})),
        event(&uuid(2), T0 + 1000, "DeleteTrail", "cloudtrail.amazonaws.com", "mallory", json!({})),
        // Refused: no finding of the logging rule, but CIS 4.1 counts it.
        event(&uuid(3), T0 + 2000, "StopLogging", "cloudtrail.amazonaws.com", "mallory",
            json!({"errorCode": "AccessDenied", "errorMessage": "not allowed"})),
        event(&uuid(4), T0 + 3000, "AuthorizeSecurityGroupIngress", "ec2.amazonaws.com", "mallory",
            json!({"requestParameters": {"groupId": "sg-1", "ipPermissions": {"items": [
                {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                 "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}})),
        event(&uuid(5), T0 + 4000, "AuthorizeSecurityGroupIngress", "ec2.amazonaws.com", "alice",
            json!({"requestParameters": {"groupId": "sg-2", "ipPermissions": {"items": [
                {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
                 "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}]}}})),
        event(&uuid(6), T0 + 5000, "ListBuckets", "s3.amazonaws.com", "alice", json!({})),
    ];
    let first = write(tmp.path(), "a.json", &records);
    let s = import(&pool, std::slice::from_ref(&first)).await;
    assert_eq!(s.events_new, 6);
    let of = |rule: &str| format!("SELECT count(*) FROM finding_events fe JOIN findings f ON f.id = fe.finding_id WHERE f.rule_id = '{rule}'");
    assert_eq!(count(&pool, &of("cairn-logging-stopped")).await, 2);
    assert_eq!(count(&pool, &of("cis-4.5")).await, 3);
    assert_eq!(count(&pool, &of("cis-4.1")).await, 1);
    assert_eq!(count(&pool, &of("cairn-security-group-open-to-world")).await, 1);
    assert_eq!(count(&pool, &of("cis-4.10")).await, 2);
    // One finding per rule, principal and day.
    assert_eq!(count(&pool, "SELECT count(*) FROM findings WHERE rule_id = 'cis-4.10'").await, 2);
    assert_eq!(count(&pool, "SELECT events FROM findings WHERE rule_id = 'cis-4.5'").await, 3);
    let before = count(&pool, "SELECT count(*) FROM finding_events").await;
    assert_eq!(s.findings_new as i64, count(&pool, "SELECT count(*) FROM findings").await);

    // The same events again, in another file and in the same one changed: nothing doubles.
    let again = write(tmp.path(), "b.json", &records);
    let s2 = import(&pool, &[again]).await;
    assert_eq!((s2.events_new, s2.findings_new), (0, 0));
    assert_eq!(count(&pool, "SELECT count(*) FROM finding_events").await, before);
    assert_eq!(count(&pool, "SELECT sum(events) FROM findings").await, before);
    assert_eq!(count(&pool, "SELECT count(*) FROM finding_history WHERE change = 'opened'").await,
        count(&pool, "SELECT count(*) FROM findings").await);
    pool.close().await;

    // The command line lists them with the CloudTrail eventIDs.
    let (code, out, err) = cairn(&db, &["findings", "--rule", "cairn-logging-stopped", "--json"], None);
    assert_eq!(code, 0, "{err}");
    let list: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(list.len(), 1);
    let f = &list[0];
    assert_eq!(f["rule"], "cairn-logging-stopped");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["status"], "open");
    assert_eq!(f["count"], 2);
    assert_eq!(f["principal"], "arn:aws:iam::111122223333:user/mallory");
    assert_eq!(f["event_ids"], json!([uuid(1), uuid(2)]));
    assert_eq!(f["first"], common::iso(T0));
}

#[tokio::test]
async fn thresholds_count_over_a_sliding_window_in_any_order() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = cairn::db::connect(&tmp.path().join("c.db")).await.unwrap();
    let denied = |n: u32, ms: i64| {
        event(&uuid(n), ms, "DescribeInstances", "ec2.amazonaws.com", "prober",
            json!({"errorCode": "Client.UnauthorizedOperation", "errorMessage": "no"}))
    };
    // 19 refusals in 4 minutes: below the threshold of 20 in 5 minutes.
    let early: Vec<Value> = (0..19).map(|i| denied(i, T0 + 60_000 + i64::from(i) * 12_000)).collect();
    let s = import(&pool, &[write(tmp.path(), "a.json", &early)]).await;
    assert_eq!(s.events_new, 19);
    let burst = "SELECT count(*) FROM findings WHERE rule_id = 'cairn-access-denied-burst'";
    assert_eq!(count(&pool, burst).await, 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM rule_hits WHERE rule_id = 'cairn-access-denied-burst'").await, 19);
    // One more, earlier, arriving later: the window now holds 20.
    let s = import(&pool, &[write(tmp.path(), "b.json", &[denied(100, T0 + 30_000)])]).await;
    assert_eq!(s.findings_new, 1);
    assert_eq!(count(&pool, burst).await, 1);
    assert_eq!(count(&pool, "SELECT events FROM findings WHERE rule_id = 'cairn-access-denied-burst'").await, 20);
    // A straggler an hour later joins no burst; one within the window joins this one.
    import(&pool, &[write(tmp.path(), "c.json", &[denied(101, T0 + 3_600_000), denied(102, T0 + 330_000)])]).await;
    assert_eq!(count(&pool, burst).await, 1);
    assert_eq!(count(&pool, "SELECT events FROM findings WHERE rule_id = 'cairn-access-denied-burst'").await, 21);

    // Distinct values: ten Regions for one access key within an hour, a rule of one's own.
    pool.close().await;
    let db = tmp.path().join("c.db");
    let (code, _, err) = cairn(&db, &["rules", "add", "cairn-access-key-many-regions", "--title", "Many Regions",
        "--pattern", "{ $.userIdentity.accessKeyId = * }", "--threshold", "10", "--distinct", "awsRegion",
        "--window", "1h", "--group-by", "access_key", "--enable"], None);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cairn(&db, &["rules", "add", "Bad Id", "--title", "x", "--pattern", "{ $.a = 1 }"], None);
    assert_eq!(code, 2);
    assert!(err.contains("is not lower-case"), "{err}");
    let (code, _, err) = cairn(&db, &["rules", "add", "bad-pattern", "--title", "x", "--pattern", "{ $.a = }"], None);
    assert_eq!(code, 2);
    assert!(err.contains("does not compile"), "{err}");
    let pool = cairn::db::connect(&db).await.unwrap();
    let regions: Vec<Value> = (0..10)
        .map(|i| {
            let mut e = event(&uuid(200 + i), T0 + i64::from(i) * 60_000, "DescribeRegions", "ec2.amazonaws.com", "walker", json!({}));
            e["awsRegion"] = json!(format!("region-{}", i % 10));
            e["userIdentity"]["accessKeyId"] = json!("AKIAWALKER0000000001");
            e
        })
        .collect();
    import(&pool, &[write(tmp.path(), "d.json", &regions[..9])]).await;
    let many = "SELECT count(*) FROM findings WHERE rule_id = 'cairn-access-key-many-regions' AND group_key = 'AKIAWALKER0000000001'";
    assert_eq!(count(&pool, many).await, 0);
    // The same Region again is no new Region.
    let mut repeat = regions[0].clone();
    repeat["eventID"] = json!(uuid(299));
    import(&pool, &[write(tmp.path(), "e.json", &[repeat])]).await;
    assert_eq!(count(&pool, many).await, 0);
    import(&pool, &[write(tmp.path(), "f.json", &regions[9..])]).await;
    assert_eq!(count(&pool, many).await, 1);
    pool.close().await;
}

#[tokio::test]
async fn sigma_import_test_and_history() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let pool = cairn::db::connect(&db).await.unwrap();
    let records: Vec<Value> = (0..5)
        .map(|i| {
            event(&uuid(i), T0 + i64::from(i) * 86_400_000, "ListBuckets", "s3.amazonaws.com",
                if i < 3 { "alice" } else { "bob" }, json!({"userAgent": "TruffleHog"}))
        })
        .collect();
    import(&pool, &[write(tmp.path(), "a.json", &records)]).await;
    pool.close().await;

    let rules = tmp.path().join("rules");
    std::fs::create_dir_all(rules.join("nested")).unwrap();
    std::fs::write(
        rules.join("trufflehog.yml"),
        "title: TruffleHog used\nid: 11111111-2222-3333-4444-555555555555\nstatus: test\nauthor: Someone Else\n\
         references:\n  - https://example.com/trufflehog\nlevel: high\ntags:\n  - attack.discovery\n  - attack.t1580\n\
         logsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  selection:\n    userAgent|contains: trufflehog\n\
         \x20 condition: selection\n",
    )
    .unwrap();
    std::fs::write(
        rules.join("nested/counted.yaml"),
        "title: Counted\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  selection:\n    eventName: ListBuckets\n\
         \x20 condition: selection | count() > 5\n",
    )
    .unwrap();
    std::fs::write(rules.join("broken.yml"), "title: [unclosed\n").unwrap();
    std::fs::write(rules.join("notes.txt"), "not a rule").unwrap();

    let (code, out, err) = cairn(&db, &["rules", "import", rules.to_str().unwrap(), "--json"], None);
    assert_eq!(code, 1, "some rules are refused: {err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["imported"], 1);
    assert_eq!(r["ids"], json!(["sigma-11111111-2222-3333-4444-555555555555"]));
    let refused = r["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused.iter().any(|x| x["file"].as_str().unwrap().ends_with("counted.yaml")
        && x["reason"].as_str().unwrap().contains("aggregation")));
    assert!(refused.iter().any(|x| x["file"].as_str().unwrap().ends_with("broken.yml")
        && x["reason"].as_str().unwrap().contains("not YAML")));
    // Imported disabled: the import made no finding.
    let id = "sigma-11111111-2222-3333-4444-555555555555";
    assert_eq!(common::count_in(&db, "SELECT count(*) FROM findings").await, 0);
    let (_, out, _) = cairn(&db, &["rules", "list", "--json"], None);
    let list: Vec<Value> = serde_json::from_str(&out).unwrap();
    let sigma = list.iter().find(|x| x["id"] == id).unwrap();
    assert_eq!((sigma["enabled"].as_bool(), sigma["severity"].as_str()), (Some(false), Some("high")));
    assert_eq!(sigma["author"], "Someone Else");
    assert!(list.iter().filter(|x| x["id"].as_str().unwrap().starts_with("cis-4.")).count() == 15);

    // The back-test says what it would have matched, in a range.
    let (code, out, err) = cairn(&db, &["rules", "test", id, "--json"], None);
    assert_eq!(code, 0, "{err}");
    let t: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((t["rule"].as_str(), t["matches"].as_u64(), t["principals"].as_u64()), (Some(id), Some(5), Some(2)));
    assert_eq!(t["event_ids"], json!((0..5).map(uuid).collect::<Vec<_>>()));
    let to = common::iso(T0 + 2 * 86_400_000);
    let (_, out, _) = cairn(&db, &["rules", "test", id, "--to", &to[..10], "--json"], None);
    let t: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(t["matches"], 3, "a bare --to date includes that day");
    let (_, out, _) = cairn(&db, &["rules", "test", r#"{ $.userIdentity.userName = "bob" }"#, "--json"], None);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["matches"], 2);
    let (code, _, err) = cairn(&db, &["rules", "test", "no-such-rule"], None);
    assert_eq!(code, 2);
    assert!(err.contains("no rule has the id"), "{err}");

    // Findings over history, once.
    let (code, out, err) = cairn(&db, &["rules", "run", id, "--json"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["findings_new"], 5);
    let (_, out, _) = cairn(&db, &["rules", "run", id, "--json"], None);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["findings_new"], 0);
    assert_eq!(common::count_in(&db, "SELECT count(*) FROM finding_events").await, 5);
    let (_, out, _) = cairn(&db, &["findings", "--rule", id, "--json"], None);
    let found: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(found.len(), 5);
    assert!(found.iter().all(|f| f["author"] == "Someone Else" && f["title"] == "TruffleHog used"));

    // Enabled, it runs on what comes next.
    let (code, _, err) = cairn(&db, &["rules", "enable", id], None);
    assert_eq!(code, 0, "{err}");
    let pool = cairn::db::connect(&db).await.unwrap();
    let later = event(&uuid(50), T0 + 10 * 86_400_000, "GetCallerIdentity", "sts.amazonaws.com", "carol",
        json!({"userAgent": "TruffleHog v3"}));
    let s = import(&pool, &[write(tmp.path(), "b.json", &[later])]).await;
    assert_eq!(s.findings_new, 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM rule_versions WHERE rule_id LIKE 'sigma-%'").await, 2);
    pool.close().await;
}

/// What the detection pages change: a finding's status, assignee and notes with their
/// history; rules written, refused, edited and disabled; suppressions applied to the
/// next import and removed; back-tests of a draft.
#[tokio::test]
async fn page_changes_are_checked_kept_and_applied() {
    use app::db::audit::AuditLine;
    use app::detections::RuleDraft;
    use cairn::detections::web::{self, ChangeError};
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let pool = cairn::db::connect(&db).await.unwrap();
    let day = 86_400_000;
    let first = write(tmp.path(), "a.json", &[
        event(&uuid(1), T0, "StopLogging", "cloudtrail.amazonaws.com", "mallory", json!({})),
        event(&uuid(2), T0 + 1000, "DeleteTrail", "cloudtrail.amazonaws.com", "mallory", json!({})),
    ]);
    import(&pool, &[first]).await;
    let line = || AuditLine::new(Some("ivan"), "test", "127.0.0.1");
    let finding = count(&pool, "SELECT id FROM findings WHERE rule_id = 'cairn-logging-stopped'").await;

    // A finding: status, assignee and a note, each a line of its history and audited.
    assert!(matches!(web::update_finding(&pool, finding, "closed", "", "", line()).await, Err(ChangeError::BadStatus)));
    assert!(matches!(web::update_finding(&pool, 999_999, "open", "", "", line()).await, Err(ChangeError::NoFinding)));
    let changes = web::update_finding(&pool, finding, "acknowledged", "ivan", "<b>ours</b>", line()).await.unwrap();
    assert_eq!(changes, ["status: Open → Acknowledged", "assigned to ivan", "noted"]);
    assert!(web::update_finding(&pool, finding, "acknowledged", " ivan ", "", line()).await.unwrap().is_empty());
    let history = app::db::findings::history(&pool, finding).await.unwrap();
    let said: Vec<(&str, Option<&str>)> = history.iter().map(|h| (h.change.as_str(), h.note.as_deref())).collect();
    assert_eq!(said[1..], [("status: Open → Acknowledged", None), ("assigned to ivan", None), ("noted", Some("<b>ours</b>"))]);
    assert_eq!(count(&pool, "SELECT count(*) FROM audit_log WHERE action = 'test'").await, 1);

    // Rules: refused with the reason, created, not twice, edited into a new version.
    let draft = |body: &str| RuleDraft {
        id: "ours".into(),
        title: "Ours".into(),
        language: "pattern".into(),
        body: body.into(),
        ..Default::default()
    };
    match web::save_rule(&pool, &draft(r#"{ $.eventName = "StopLogging" "#), true, true, line()).await {
        Err(ChangeError::BadRule(reason)) => assert!(!reason.is_empty()),
        other => panic!("{other:?}"),
    }
    let bad_id = RuleDraft { id: "Not An Id".into(), ..draft(r#"{ $.eventName = "X" }"#) };
    assert!(matches!(web::save_rule(&pool, &bad_id, true, true, line()).await, Err(ChangeError::BadRule(_))));
    let body = r#"{ $.eventName = "StopLogging" || $.eventName = "DeleteTrail" }"#;
    assert_eq!(web::save_rule(&pool, &draft(body), true, false, line()).await.unwrap(), "ours");
    assert!(matches!(web::save_rule(&pool, &draft(body), true, false, line()).await, Err(ChangeError::Exists(_))));
    let edited = RuleDraft { title: "Ours, edited".into(), severity: "high".into(), threshold: "2".into(), window: "5m".into(), ..draft(body) };
    web::save_rule(&pool, &edited, false, true, line()).await.unwrap();
    let stored = app::db::rules::get(&pool, "ours").await.unwrap().unwrap();
    assert_eq!((stored.version, stored.enabled, stored.origin.as_str()), (2, true, "user"));
    assert_eq!(stored.def.threshold.as_ref().map(|t| (t.count, t.window_secs)), Some((2, 300)));
    let versions = app::db::rules::versions(&pool, "ours").await.unwrap();
    assert_eq!(versions.iter().map(|v| v.change.as_str()).collect::<Vec<_>>(), ["edited and enabled", "created"]);

    // A back-test of the stored draft reads history without writing anything.
    let tester = web::back_tester(pool.clone());
    let r = (tester.0)(stored.def.clone(), T0 - day, T0 + day).await.unwrap();
    assert_eq!((r.matches, r.principals, r.findings, r.scanned), (2, 1, 1, 2));
    assert_eq!(r.events.len(), 2);
    assert_eq!(r.events[0].name, "StopLogging");

    // Suppressions: checked, applied to the next import, removed.
    let sup = |field: &'static str, expires: &'static str| {
        let pool = pool.clone();
        async move {
            web::suppress(&pool, "cairn-logging-stopped", field, "arn:aws:iam::111122223333:user/mallory", "drill", expires, line()).await
        }
    };
    assert!(matches!(sup("user_agent", "").await, Err(ChangeError::BadSuppression(_))));
    assert!(matches!(sup("principal", "2001-01-01").await, Err(ChangeError::BadSuppression(_))));
    let sid = sup("principal", "").await.unwrap();
    let later = write(tmp.path(), "b.json", &[
        event(&uuid(3), T0 + 2 * day, "StopLogging", "cloudtrail.amazonaws.com", "mallory", json!({})),
    ]);
    import(&pool, &[later]).await;
    let stopped = "SELECT count(*) FROM findings WHERE rule_id = 'cairn-logging-stopped'";
    assert_eq!(count(&pool, stopped).await, 1, "suppressed");
    assert_eq!(count(&pool, "SELECT count(*) FROM findings WHERE rule_id = 'cis-4.5'").await, 2, "other rules still run");
    web::unsuppress(&pool, "cairn-logging-stopped", sid, line()).await.unwrap();
    assert!(matches!(web::unsuppress(&pool, "cairn-logging-stopped", sid, line()).await, Err(ChangeError::NoSuppression)));
    let again = write(tmp.path(), "c.json", &[
        event(&uuid(4), T0 + 3 * day, "StopLogging", "cloudtrail.amazonaws.com", "mallory", json!({})),
    ]);
    import(&pool, &[again]).await;
    assert_eq!(count(&pool, stopped).await, 2, "no longer suppressed");

    // Disabled rules are not run.
    assert!(web::set_enabled(&pool, "cairn-logging-stopped", false, line()).await.unwrap());
    assert!(!web::set_enabled(&pool, "cairn-logging-stopped", false, line()).await.unwrap());
    let loaded = cairn::detections::load(&pool).await.unwrap();
    assert!(loaded.rules.rules.iter().all(|r| r.def.id != "cairn-logging-stopped"));
    assert!(loaded.rules.rules.iter().any(|r| r.def.id == "ours"));
    pool.close().await;
}

/// The incidents `cairn demo` plants are each found by the built-in rules, in one
/// finding holding exactly the planted events (the bulk download is left to the
/// anomaly detectors: no match rule can tell it from ordinary reads).
#[tokio::test]
async fn demo_incidents_are_found_with_exactly_their_events() {
    let tmp = tempfile::tempdir().unwrap();
    // A fixed end time: the same events every run.
    let spec = cairn::demo::DemoSpec::new(4000, 3, 42, 1_750_000_000_000);
    let files = tmp.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    spec.write_files(&files).unwrap();
    let pool = cairn::db::connect(&tmp.path().join("c.db")).await.unwrap();
    import(&pool, &[files]).await;
    // The planted events, told apart by what only they have.
    let planted = |sql: String| {
        let pool = pool.clone();
        async move {
            let ids: Vec<i64> = sqlx::query_scalar(&sql).fetch_all(&pool).await.unwrap();
            assert!(!ids.is_empty(), "{sql}");
            ids
        }
    };
    let held = |rule: &'static str, ids: Vec<i64>| {
        let pool = pool.clone();
        async move {
            let findings: Vec<i64> = sqlx::query_scalar(
                "SELECT DISTINCT fe.finding_id FROM finding_events fe JOIN findings f ON f.id = fe.finding_id
                 WHERE f.rule_id = ?1 AND fe.event_id IN (SELECT value FROM json_each(?2))",
            )
            .bind(rule)
            .bind(serde_json::to_string(&ids).unwrap())
            .fetch_all(&pool)
            .await
            .unwrap();
            assert_eq!(findings.len(), 1, "{rule}: one finding holds the incident");
            let events: Vec<i64> =
                sqlx::query_scalar("SELECT event_id FROM finding_events WHERE finding_id = ?1 ORDER BY event_id")
                    .bind(findings[0])
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            assert_eq!(events, ids, "{rule}: exactly the planted events");
        }
    };
    const E: &str = "SELECT e.id FROM events e JOIN principals p ON p.id = e.principal_id
        JOIN terms n ON n.id = e.name_id LEFT JOIN terms x ON x.id = e.error_code_id";
    let root = planted(format!("{E} WHERE p.key LIKE '%:root' ORDER BY e.id")).await;
    assert_eq!(root.len(), 1);
    held("cairn-root-activity", root.clone()).await;
    held("cis-4.3", root.clone()).await;
    held("cairn-console-signin-without-mfa", root).await;
    let burst = planted(format!("{E} WHERE p.key LIKE '%:user/intern' AND x.value = 'AccessDenied' ORDER BY e.id")).await;
    assert_eq!(burst.len(), 60);
    held("cairn-access-denied-burst", burst).await;
    let open = planted(format!("{E} WHERE n.value = 'AuthorizeSecurityGroupIngress' AND p.key LIKE '%AdminRole/bob' ORDER BY e.id")).await;
    held("cairn-security-group-open-to-world", open.clone()).await;
    held("cis-4.10", open).await;
    let stop = planted(format!("{E} WHERE n.value = 'StopLogging' ORDER BY e.id")).await;
    held("cairn-logging-stopped", stop.clone()).await;
    held("cis-4.5", stop).await;
    pool.close().await;
}

