//! Alerts end to end: destinations added from the shell, new findings queued in the
//! transaction that makes them, delivered once each to a local webhook receiver (generic
//! and Slack bodies, one of them failing at first), to an SNS topic and an EventBridge
//! bus of the AWS emulator (read back through SQS), retried after failures, never sent
//! twice on a re-import, and never showing or logging a webhook's URL or token.

mod common;

use common::{Moto, cairn};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What the receiver was sent: path and query, bearer token, idempotency key, body.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    auth: Option<String>,
    key: Option<String>,
    body: Value,
    status: u16,
}

#[derive(Default)]
struct Receiver {
    got: Mutex<Vec<Got>>,
    /// Requests to `/flaky` answered 503 before it starts to accept.
    flaky_left: Mutex<u32>,
}

/// A webhook receiver on a free loopback port, on its own thread.
fn receiver(flaky: u32) -> (Arc<Receiver>, String) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode, Uri};
    let state = Arc::new(Receiver {
        got: Mutex::new(Vec::new()),
        flaky_left: Mutex::new(flaky),
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let shared = state.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
                let shared = shared.clone();
                async move {
                    let path = uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
                    let mut status = StatusCode::OK;
                    if uri.path() == "/flaky" {
                        let mut left = shared.flaky_left.lock().unwrap();
                        if *left > 0 {
                            *left -= 1;
                            status = StatusCode::SERVICE_UNAVAILABLE;
                        }
                    }
                    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
                    shared.got.lock().unwrap().push(Got {
                        path,
                        auth: h("authorization"),
                        key: h("idempotency-key"),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        status: status.as_u16(),
                    });
                    (status, "busy")
                }
            });
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (state, format!("http://{addr}"))
}

fn got(r: &Receiver, path_prefix: &str) -> Vec<Got> {
    r.got.lock().unwrap().iter().filter(|g| g.path.starts_with(path_prefix)).cloned().collect()
}

fn ok(db: &Path, args: &[&str]) -> String {
    let (code, out, err) = cairn(db, args, None);
    assert_eq!(code, 0, "cairn {args:?}: {out}{err}");
    out
}

async fn sql_count(db: &Path, sql: &str) -> i64 {
    common::count_in(db, sql).await
}

/// Every message of a queue on the emulator, waiting until `want` arrived.
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str, want: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(20) {
        let r = sqs.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(1).send().await.unwrap();
        for m in r.messages() {
            out.push(serde_json::from_str(m.body().unwrap_or("null")).unwrap_or(Value::Null));
            sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
        if out.len() >= want && r.messages().is_empty() {
            break;
        }
    }
    out
}

fn moto_conf(moto: &Moto) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&moto.url)
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
            aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "test"),
        ))
        .http_client(Moto::http())
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_are_alerted_once_each_everywhere() {
    let moto = Moto::start();
    let conf = moto_conf(&moto);
    let sqs = moto.sqs();
    let sns = aws_sdk_sns::Client::new(&conf);
    let events = aws_sdk_eventbridge::Client::new(&conf);

    // SNS topic → queue; EventBridge bus → rule on source "cairn" → queue.
    let topic = sns.create_topic().name("security-alerts").send().await.unwrap().topic_arn().unwrap().to_string();
    let sns_q = sqs.create_queue().queue_name("from-sns").send().await.unwrap().queue_url().unwrap().to_string();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:123456789012:from-sns")
        .send()
        .await
        .unwrap();
    let bus = events.create_event_bus().name("security").send().await.unwrap().event_bus_arn().unwrap().to_string();
    let eb_q = sqs.create_queue().queue_name("from-bus").send().await.unwrap().queue_url().unwrap().to_string();
    events
        .put_rule()
        .name("cairn-findings")
        .event_bus_name("security")
        .event_pattern(r#"{"source": ["cairn"]}"#)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("cairn-findings")
        .event_bus_name("security")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("q")
                .arn("arn:aws:sqs:us-east-1:123456789012:from-bus")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let (rx, base) = receiver(2);
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, "tok-9f8e7d\n").unwrap();

    // Destinations, from the shell. The webhook URLs carry secrets in their paths.
    let hook_url = format!("{base}/hook/secret-path-4242?sig=s3cret");
    let (code, out, err) = cairn(
        &db,
        &["alerts", "add", "hook", "--kind", "webhook", "--url", "-", "--token-file", token_file.to_str().unwrap(),
          "--min-severity", "informational"],
        Some(&hook_url),
    );
    assert_eq!(code, 0, "{out}{err}");
    ok(&db, &["alerts", "add", "flaky", "--kind", "webhook", "--url", &format!("{base}/flaky"), "--min-severity", "informational"]);
    ok(&db, &["alerts", "add", "slack", "--kind", "slack", "--url", &format!("{base}/slack/T000/B000/xoxsecret"),
              "--rule", "cairn-logging-stopped", "--min-severity", "informational"]);
    ok(&db, &["alerts", "add", "topic", "--kind", "sns", "--arn", &topic, "--endpoint-url", &moto.url]);
    ok(&db, &["alerts", "add", "bus", "--kind", "eventbridge", "--arn", &bus, "--endpoint-url", &moto.url]);
    ok(&db, &["alerts", "add", "dead", "--kind", "webhook", "--url", "http://127.0.0.1:9/dead-secret-path", "--min-severity", "critical"]);
    // Mistakes are refused with the reason.
    for (args, says) in [
        (vec!["alerts", "add", "x", "--kind", "sns", "--arn", "arn:aws:sqs:us-east-1:123456789012:q"], "topic's ARN"),
        (vec!["alerts", "add", "x", "--kind", "webhook", "--url", "ftp://example.com/"], "http or https"),
        (vec!["alerts", "add", "x", "--kind", "webhook", "--url", "https://u:p@example.com/"], "token"),
        (vec!["alerts", "add", "x", "--kind", "pager"], "kind is one of"),
        (vec!["alerts", "add", "x", "--kind", "webhook", "--url", "https://e.com/", "--rule", "no-such-rule"], "no rule"),
        (vec!["alerts", "add", "hook", "--kind", "webhook", "--url", "https://e.com/"], "exists"),
    ] {
        let (code, out, err) = cairn(&db, &args, None);
        assert_ne!(code, 0, "{args:?} was accepted");
        assert!(err.contains(says), "{args:?}: {out}{err}");
    }
    // The list never shows a webhook's path, query or token.
    let list = ok(&db, &["alerts", "list", "--json"]);
    let list_text = ok(&db, &["alerts", "list"]);
    for secret in ["secret-path-4242", "s3cret", "tok-9f8e7d", "xoxsecret", "dead-secret-path"] {
        assert!(!list.contains(secret) && !list_text.contains(secret), "{secret} shown: {list}{list_text}");
    }
    let sealed = sql_count(&db, "SELECT count(*) FROM alert_destinations WHERE CAST(sealed_url AS TEXT) LIKE '%secret%'").await;
    assert_eq!(sealed, 0, "a URL is stored in the clear");

    // A test alert reaches the receiver now.
    ok(&db, &["alerts", "test", "hook"]);
    let tests = got(&rx, "/hook/");
    assert_eq!(tests.len(), 1);
    assert_eq!(tests[0].body["type"], "cairn.test");
    assert_eq!(tests[0].path, "/hook/secret-path-4242?sig=s3cret");
    assert_eq!(tests[0].auth.as_deref(), Some("Bearer tok-9f8e7d"));

    // Findings made by an import are queued in its transaction.
    let files = tmp.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    cairn::demo::DemoSpec::new(4000, 3, 42, 1_750_000_000_000).write_files(&files).unwrap();
    let (code, out, err) = cairn(&db, &["import", files.to_str().unwrap(), "--json"], None);
    assert!(code == 0 || code == 1, "{out}{err}");
    let findings: Vec<Value> = serde_json::from_str(&ok(&db, &["findings", "--json"])).unwrap();
    let all: BTreeSet<i64> = findings.iter().map(|f| f["id"].as_i64().unwrap()).collect();
    assert!(all.len() >= 5, "the demo makes findings: {findings:?}");
    let rank = |s: &str| ["informational", "low", "medium", "high", "critical"].iter().position(|x| *x == s).unwrap();
    let ids_where = |keep: &dyn Fn(&Value) -> bool| -> BTreeSet<i64> {
        findings.iter().filter(|f| keep(f)).map(|f| f["id"].as_i64().unwrap()).collect()
    };
    let high = ids_where(&|f| rank(f["severity"].as_str().unwrap()) >= 3);
    let logging = ids_where(&|f| f["rule"] == "cairn-logging-stopped");
    let critical = ids_where(&|f| f["severity"] == "critical");
    assert!(!high.is_empty() && high.len() < all.len(), "the demo has findings above and below high");
    assert!(!logging.is_empty());
    let queued = sql_count(&db, "SELECT count(*) FROM alert_outbox").await as usize;
    assert_eq!(queued, 2 * all.len() + logging.len() + 2 * high.len() + critical.len());

    // First pass: all but the flaky and the dead receivers get everything.
    let (code, out, err) = cairn(&db, &["alerts", "send", "--json"], None);
    assert_eq!(code, 1, "failures make exit status 1: {out}{err}");
    let pass: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(pass["sent"].as_u64().unwrap() as usize, 2 * all.len() - 2 + logging.len() + 2 * high.len());
    assert_eq!(pass["retrying"].as_u64().unwrap() as usize, 2 + critical.len());
    // The flaky receiver refused twice: two alerts wait. Let their wait pass, then send again.
    sqlx::query("UPDATE alert_outbox SET next_ms = 0 WHERE state = 'pending' AND destination_id = (SELECT id FROM alert_destinations WHERE name = 'flaky')")
        .execute(&cairn::db::connect(&db).await.unwrap())
        .await
        .unwrap();
    let (_, out, _) = cairn(&db, &["alerts", "send", "--json"], None);
    let pass: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(pass["sent"], 2, "{out}");

    // Each finding reached each receiver exactly once, with its own delivery id.
    let per_finding = |gots: &[Got]| -> BTreeMap<i64, usize> {
        let mut m = BTreeMap::new();
        for g in gots.iter().filter(|g| g.status == 200 && g.body["type"] == "cairn.finding") {
            *m.entry(g.body["finding"]["id"].as_i64().unwrap()).or_default() += 1;
        }
        m
    };
    let hook = got(&rx, "/hook/");
    let once = |m: BTreeMap<i64, usize>, want: &BTreeSet<i64>, what: &str| {
        assert_eq!(m.keys().copied().collect::<BTreeSet<_>>(), *want, "{what}");
        assert!(m.values().all(|n| *n == 1), "{what}: {m:?}");
    };
    once(per_finding(&hook), &all, "webhook");
    once(per_finding(&got(&rx, "/flaky")), &all, "flaky webhook");
    assert_eq!(got(&rx, "/flaky").iter().filter(|g| g.status == 503).count(), 2);
    for g in hook.iter().filter(|g| g.body["type"] == "cairn.finding") {
        assert_eq!(g.auth.as_deref(), Some("Bearer tok-9f8e7d"));
        assert_eq!(g.key.as_deref(), g.body["delivery"].as_str());
        let f = &g.body["finding"];
        assert!(f["rule"].is_string() && f["severity"].is_string() && f["events"].as_i64().unwrap() > 0);
        assert!(!f["event_ids"].as_array().unwrap().is_empty());
        assert_eq!(f["url"], format!("/findings/{}", f["id"]));
    }
    // Slack gets only its rule's findings, as text and blocks.
    let slack = got(&rx, "/slack/");
    assert_eq!(slack.len(), logging.len());
    for g in &slack {
        assert!(g.body["text"].as_str().unwrap().starts_with("[HIGH]") || g.body["text"].as_str().unwrap().starts_with("[CRITICAL]"), "{}", g.body);
        assert_eq!(g.body["blocks"][0]["type"], "section");
    }
    // SNS and EventBridge: high and worse, once each.
    let from_sns = drain(&sqs, &sns_q, high.len()).await;
    let sns_ids: Vec<i64> = from_sns
        .iter()
        .map(|m| serde_json::from_str::<Value>(m["Message"].as_str().unwrap()).unwrap()["finding"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(sns_ids.len(), high.len(), "{from_sns:?}");
    assert_eq!(sns_ids.iter().copied().collect::<BTreeSet<_>>(), high);
    assert!(from_sns.iter().all(|m| m["Subject"].as_str().unwrap().starts_with("Cairn [")));
    let from_bus = drain(&sqs, &eb_q, high.len()).await;
    let bus_ids: Vec<i64> = from_bus.iter().map(|m| m["detail"]["finding"]["id"].as_i64().unwrap()).collect();
    assert_eq!(bus_ids.len(), high.len(), "{from_bus:?}");
    assert_eq!(bus_ids.iter().copied().collect::<BTreeSet<_>>(), high);
    assert!(from_bus.iter().all(|m| m["detail-type"] == "Cairn finding" && m["source"] == "cairn"));

    // The dead receiver's alerts wait with the reason, and no secret is in the log.
    let log = ok(&db, &["alerts", "log", "dead", "--json"]);
    let log: Value = serde_json::from_str(&log).unwrap();
    assert_eq!(log["waiting"].as_array().unwrap().len(), critical.len());
    if !critical.is_empty() {
        assert!(log["deliveries"][0]["error"].as_str().unwrap().len() > 5, "{log}");
    }
    let leaked = sql_count(
        &db,
        "SELECT count(*) FROM alert_deliveries WHERE coalesce(error, '') || coalesce(answer, '') LIKE '%secret%'
           OR coalesce(error, '') LIKE '%127.0.0.1:9%'",
    )
    .await;
    assert_eq!(leaked, 0, "an error holds a webhook URL");

    // Importing the same files again queues nothing and sends nothing.
    let before = rx.got.lock().unwrap().len();
    cairn(&db, &["import", files.to_str().unwrap()], None);
    assert_eq!(sql_count(&db, "SELECT count(*) FROM alert_outbox").await as usize, queued);
    ok(&db, &["alerts", "disable", "dead"]);
    let (code, out, err) = cairn(&db, &["alerts", "send", "--json"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["sent"], 0);
    assert_eq!(rx.got.lock().unwrap().len(), before);

    // A delivery cut off between sending and settling is sent again after its lease, with
    // the same delivery id, so the receiver can drop the copy.
    let pool = cairn::db::connect(&db).await.unwrap();
    let one = *all.iter().next().unwrap();
    sqlx::query("UPDATE alert_outbox SET state = 'sending', next_ms = 0 WHERE finding_id = ?1 AND destination_id = (SELECT id FROM alert_destinations WHERE name = 'hook')")
        .bind(one)
        .execute(&pool)
        .await
        .unwrap();
    ok(&db, &["alerts", "send"]);
    let again: Vec<Got> = got(&rx, "/hook/").into_iter().filter(|g| g.body["finding"]["id"] == one).collect();
    assert_eq!(again.len(), 2);
    assert_eq!(again[0].key, again[1].key);

    // Changes from the shell are in the audit log.
    let audited = common::count(&pool, "SELECT count(*) FROM audit_log WHERE action LIKE 'alert.%'").await;
    assert_eq!(audited, 7, "six destinations added, one disabled");
}
