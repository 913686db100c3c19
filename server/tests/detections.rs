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


/// One attacker's story: refused calls, a policy on itself, a key for another user (who
/// then uses it), the trail stopped, and a second identity acting from the same address
/// no one else used. Quiet neighbours with one finding each make no incident.
#[tokio::test]
async fn findings_that_share_an_actor_are_one_incident() {
    use app::db::audit::AuditLine;
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let pool = cairn::db::connect(&db).await.unwrap();
    let m = 60_000;
    let from = |ip: &str| json!({"sourceIPAddress": ip});
    let mut n = 100;
    let mut id = || {
        n += 1;
        uuid(n)
    };
    let mut records = Vec::new();
    let attacker = "203.0.113.66";
    for i in 0..25 {
        let mut extra = json!({"errorCode": "AccessDenied", "errorMessage": "not authorized"});
        extra["sourceIPAddress"] = json!(attacker);
        records.push(event(&id(), T0 + i * 2_000, "ListRoles", "iam.amazonaws.com", "mallory", extra));
    }
    records.push(event(&id(), T0 + 10 * m, "PutUserPolicy", "iam.amazonaws.com", "mallory",
        json!({"sourceIPAddress": attacker, "readOnly": false,
            "requestParameters": {"userName": "mallory", "policyName": "all", "policyDocument": "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}"}})));
    records.push(event(&id(), T0 + 12 * m, "CreateAccessKey", "iam.amazonaws.com", "mallory",
        json!({"sourceIPAddress": attacker, "readOnly": false, "requestParameters": {"userName": "bob"},
            "responseElements": {"accessKey": {"accessKeyId": "AKIABOBNEWKEY0000001", "status": "Active", "userName": "bob"}}})));
    let mut bob = event(&id(), T0 + 20 * m, "ListBuckets", "s3.amazonaws.com", "bob", from("198.51.100.77"));
    bob["userIdentity"]["accessKeyId"] = json!("AKIABOBNEWKEY0000001");
    records.push(bob);
    records.push(event(&id(), T0 + 30 * m, "StopLogging", "cloudtrail.amazonaws.com", "mallory",
        json!({"sourceIPAddress": attacker, "readOnly": false, "requestParameters": {"name": "org-trail"}})));
    // A second identity from the attacker's address.
    let mut eve = event(&id(), T0 + 40 * m, "AuthorizeSecurityGroupIngress", "ec2.amazonaws.com", "eve",
        json!({"sourceIPAddress": attacker, "readOnly": false, "requestParameters": {"groupId": "sg-1", "ipPermissions": {"items": [
            {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}}));
    eve["userIdentity"]["accessKeyId"] = json!("AKIAEVEKEY0000000001");
    records.push(eve);
    // Neighbours: one finding each, from an address others use too.
    for (k, user) in ["frank", "gina"].iter().enumerate() {
        let mut e = event(&id(), T0 + (50 + k as i64) * m, "StopLogging", "cloudtrail.amazonaws.com", user,
            json!({"sourceIPAddress": "10.0.0.1", "readOnly": false, "requestParameters": {"name": "t"}}));
        e["userIdentity"]["accessKeyId"] = json!(format!("AKIA{}KEY00000000", user.to_uppercase()));
        records.push(e);
    }
    let mut helper = event(&id(), T0 + 52 * m, "ListUsers", "iam.amazonaws.com", "helper", from("10.0.0.1"));
    helper["userIdentity"]["accessKeyId"] = json!("AKIAHELPERKEY0000001");
    records.push(helper);
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).unwrap();
    // Everyone's key but mallory's own is theirs: the test's `event` gives all one key.
    for r in records.iter_mut() {
        if r["userIdentity"]["userName"] == "mallory" {
            r["userIdentity"]["accessKeyId"] = json!("AKIAMALLORYKEY000001");
        }
    }
    import(&pool, &[write(&dir, "story.json", &records)]).await;

    let list = app::db::incidents::list(&pool, None, None).await.unwrap();
    assert_eq!(list.len(), 1, "{list:#?}");
    let i = &list[0];
    let user = |u: &str| format!("arn:aws:iam::111122223333:user/{u}");
    assert_eq!(i.principals, vec![user("eve"), user("mallory")]);
    assert_eq!(i.actor_key.as_deref(), Some(user("mallory").as_str()));
    assert_eq!(i.links, vec![format!("address {attacker}")]);
    assert_eq!((i.first_ms, i.last_ms), (T0, T0 + 40 * m));
    // Steps in time order, each with its tactic.
    let times: Vec<i64> = i.steps.iter().map(|s| s.first_ms).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let by_rule = |r: &str| i.steps.iter().find(|s| s.rule == r).unwrap_or_else(|| panic!("{r} in {:#?}", i.steps));
    assert_eq!(by_rule("cairn-access-denied-burst").tactic.as_deref(), Some("discovery"));
    assert_eq!(by_rule("cairn-access-key-for-another-user").tactic.as_deref(), Some("persistence"));
    assert_eq!(by_rule("cairn-logging-stopped").tactic.as_deref(), Some("defense-evasion"));
    assert_eq!(by_rule("cairn-security-group-open-to-world").tactic.as_deref(), Some("initial-access"));
    assert_eq!(i.tactics().first(), Some(&"discovery"));

    // The page's view: eventIDs per step, and what else the actor touched.
    let v = app::db::incidents::one(&pool, i.id).await.unwrap().expect("the incident");
    assert!(v.incident.steps.iter().all(|s| s.event_ids.len() as i64 == s.events.min(500) && !s.event_ids.is_empty()));
    let key = v.touched.iter().find(|t| t.kind == "access_key").expect("the key made for bob");
    assert_eq!((key.value.as_str(), key.after_by_others), ("AKIABOBNEWKEY0000001", 1));
    assert_eq!(key.used_by.as_deref(), Some(user("bob").as_str()));
    assert!(app::db::incidents::one(&pool, i.id + 1000).await.unwrap().is_none());

    // `cairn incidents --json`: actor, first, last, steps with tactic, title and eventIDs.
    let (code, out, err) = cairn(&db, &["incidents", "--json"], None);
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    let one = &json[0];
    assert_eq!(one["actor_key"], user("mallory"));
    assert_eq!(one["first"], common::iso(T0));
    assert_eq!(one["last"], common::iso(T0 + 40 * m));
    let burst = one["steps"].as_array().unwrap().iter().find(|s| s["rule"] == "cairn-access-denied-burst").unwrap();
    assert_eq!(burst["tactic"], "discovery");
    assert!(burst["event_ids"].as_array().unwrap().len() >= 20);
    let (code, out, _) = cairn(&db, &["incidents", "--from", "2023-01-01", "--to", "2023-01-02"], None);
    assert_eq!((code, out.trim()), (0, "0 incidents"));

    // Closed, then a new finding of the same actor opens it again.
    let line = || AuditLine::new(Some("ivan"), "test", "127.0.0.1");
    let changes = cairn::incidents::update(&pool, i.id, "closed", "ivan", "contained", line()).await.unwrap();
    assert_eq!(changes, vec!["status: open → closed", "assigned to ivan", "noted"]);
    assert!(matches!(cairn::incidents::update(&pool, 999_999, "closed", "", "", line()).await, Err(cairn::incidents::ChangeError::NoIncident)));
    assert!(matches!(cairn::incidents::update(&pool, i.id, "gone", "", "", line()).await, Err(cairn::incidents::ChangeError::BadStatus)));
    let now = app::db::incidents::list(&pool, None, None).await.unwrap();
    assert_eq!((now[0].status, now[0].assignee.as_deref()), (app::incidents::Status::Closed, Some("ivan")));
    let mut later = event(&uuid(999), T0 + 60 * m, "AuthorizeSecurityGroupIngress", "ec2.amazonaws.com", "mallory",
        json!({"sourceIPAddress": attacker, "readOnly": false, "requestParameters": {"groupId": "sg-2", "ipPermissions": {"items": [
            {"ipProtocol": "tcp", "fromPort": 3389, "toPort": 3389, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}}));
    later["userIdentity"]["accessKeyId"] = json!("AKIAMALLORYKEY000001");
    import(&pool, &[write(&dir, "later.json", &[later])]).await;
    let now = app::db::incidents::list(&pool, None, None).await.unwrap();
    assert_eq!(now[0].id, i.id, "the incident keeps its id as findings join");
    assert_eq!(now[0].status, app::incidents::Status::Open);
    assert_eq!(app::db::incidents::history(&pool, i.id).await.unwrap().len(), 3);
    pool.close().await;
}
