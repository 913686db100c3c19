//! Trails and costs against the real CloudTrail and S3 APIs (moto), through the `cairn`
//! binary: three trails (one multi-Region with basic selectors, Insights and validation;
//! one single-Region with advanced selectors recording management events again into the
//! same bucket under another prefix; one never started), their delivered files synced,
//! and the findings and costs checked against figures worked out by hand below.

mod common;

use aws_sdk_cloudtrail::types::{
    AdvancedEventSelector, AdvancedFieldSelector, DataResource, EventSelector, InsightSelector,
    InsightType, ReadWriteType,
};
use aws_sdk_s3::primitives::ByteStream;
use common::{Moto, cairn, iso};
use chrono::Datelike;
use serde_json::{Value, json};
use std::path::Path;

/// moto's account.
const ACCOUNT: &str = "123456789012";

fn record(n: usize, region: &str, read_only: bool, data: bool, when: &str) -> Value {
    let (source, name, category, resources) = if data {
        (
            "s3.amazonaws.com",
            "GetObject",
            "Data",
            json!([{"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::secrets/f{n}")},
                   {"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::secrets"}]),
        )
    } else if read_only {
        ("ec2.amazonaws.com", "DescribeInstances", "Management", json!([]))
    } else {
        ("iam.amazonaws.com", "CreateUser", "Management", json!([]))
    };
    json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE",
            "arn": format!("arn:aws:iam::{ACCOUNT}:user/alice"), "accountId": ACCOUNT,
            "accessKeyId": "AKIAEXAMPLE", "userName": "alice"},
        "eventTime": when, "eventSource": source, "eventName": name, "awsRegion": region,
        "sourceIPAddress": "192.0.2.10", "userAgent": "aws-cli/2.15",
        "requestParameters": null, "responseElements": null,
        "requestID": format!("req-{n}"),
        "eventID": format!("00000000-0000-4000-8000-{n:012}"),
        "readOnly": read_only, "eventType": "AwsApiCall", "managementEvent": !data,
        "recipientAccountId": ACCOUNT, "eventCategory": category, "resources": resources,
    })
}

fn file(records: &[Value]) -> Vec<u8> {
    common::gz(serde_json::to_vec(&json!({ "Records": records })).expect("JSON in memory"))
}

fn key(prefix: &str, region: &str, suffix: &str) -> String {
    let d = chrono::Utc::now();
    format!(
        "{prefix}/AWSLogs/{ACCOUNT}/CloudTrail/{region}/{}/{ACCOUNT}_CloudTrail_{region}_{}_{suffix}.json.gz",
        d.format("%Y/%m/%d"),
        d.format("%Y%m%dT%H%MZ")
    )
}

fn json_of(db: &Path, args: &[&str]) -> (i32, Value) {
    let (code, out, err) = cairn(db, args, None);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, v)
}

/// A plain HTTP POST of JSON (moto's own API); returns the response head and body.
fn http_post(url: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut s = std::net::TcpStream::connect(host).expect("moto");
    write!(
        s,
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("sent");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("an answer");
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trails_are_explained_checked_and_priced_from_what_they_delivered() {
    let moto = Moto::start();
    let s3 = moto.s3();
    s3.create_bucket().bucket("trail").send().await.expect("bucket");
    let (use1, euw1) = (moto.cloudtrail("us-east-1"), moto.cloudtrail("eu-west-1"));
    let main = use1
        .create_trail()
        .name("main")
        .s3_bucket_name("trail")
        .s3_key_prefix("logs")
        .is_multi_region_trail(true)
        .enable_log_file_validation(true)
        .send()
        .await
        .expect("main");
    let main_arn = main.trail_arn().expect("an ARN").to_owned();
    use1.start_logging().name("main").send().await.expect("start");
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
        .expect("basic selectors");
    use1.put_insight_selectors()
        .trail_name("main")
        .insight_selectors(
            InsightSelector::builder()
                .insight_type(InsightType::ApiCallRateInsight)
                .build(),
        )
        .send()
        .await
        .expect("insights");
    let copy = use1
        .create_trail()
        .name("copy")
        .s3_bucket_name("trail")
        .s3_key_prefix("copy")
        .send()
        .await
        .expect("copy");
    let copy_arn = copy.trail_arn().expect("an ARN").to_owned();
    use1.start_logging().name("copy").send().await.expect("start");
    let field = |f: &str, eq: &[&str]| {
        let mut b = AdvancedFieldSelector::builder().field(f);
        for v in eq {
            b = b.equals(*v);
        }
        b.build().expect("a field selector")
    };
    use1.put_event_selectors()
        .trail_name("copy")
        .advanced_event_selectors(
            AdvancedEventSelector::builder()
                .name("Management, read")
                .field_selectors(field("eventCategory", &["Management"]))
                .field_selectors(field("readOnly", &["true"]))
                .build()
                .expect("a selector"),
        )
        .send()
        .await
        .expect("advanced selectors");
    let old = euw1
        .create_trail()
        .name("old")
        .s3_bucket_name("trail")
        .s3_key_prefix("old")
        .send()
        .await
        .expect("old");
    let old_arn = old.trail_arn().expect("an ARN").to_owned();

    // What they delivered today. main: 100 writes and 200 reads in us-east-1, 40 reads
    // in eu-west-1, 50 S3 object reads. copy: the same 200 reads again (a second copy).
    let now = chrono::Utc::now().timestamp_millis();
    let when = iso(now - 60_000);
    let writes: Vec<Value> = (1..=100).map(|n| record(n, "us-east-1", false, false, &when)).collect();
    let reads: Vec<Value> = (101..=300).map(|n| record(n, "us-east-1", true, false, &when)).collect();
    let eu: Vec<Value> = (301..=340).map(|n| record(n, "eu-west-1", true, false, &when)).collect();
    let data: Vec<Value> = (341..=390).map(|n| record(n, "us-east-1", true, true, &when)).collect();
    let mut bytes = 0u64;
    let mut put = async |key: String, body: Vec<u8>| {
        bytes += body.len() as u64;
        s3.put_object()
            .bucket("trail")
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .expect("put");
    };
    let mut us = writes.clone();
    us.extend(reads.iter().cloned());
    put(key("logs", "us-east-1", "A1"), file(&us)).await;
    put(key("logs", "us-east-1", "A2"), file(&data)).await;
    put(key("logs", "eu-west-1", "A3"), file(&eu)).await;
    put(key("copy", "us-east-1", "B1"), file(&reads)).await;

    // What Cost Explorer will say AWS billed: last month and this one.
    let today = chrono::Utc::now().date_naive();
    let first = chrono::NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap();
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let (prev, next) = (
        first - chrono::Months::new(1),
        first + chrono::Months::new(1),
    );
    let cost = |usage: &str, usd: &str| json!({"Keys": [usage], "Metrics": {"UnblendedCost": {"Amount": usd, "Unit": "USD"}}});
    let queued = json!({"results": [{"ResultsByTime": [
        {"TimePeriod": {"Start": day(prev), "End": day(first)}, "Groups": [cost("USE1-PaidEventsRecorded", "1.5")], "Estimated": false},
        {"TimePeriod": {"Start": day(first), "End": day(next)}, "Groups": [
            cost("USE1-PaidEventsRecorded", "0.005"), cost("USE1-DataEventsRecorded", "0.0001")], "Estimated": true}
    ]}]});
    let r = http_post(&format!("{}/moto-api/static/ce/cost-and-usage-results", moto.url), &queued.to_string());
    assert!(r.starts_with("HTTP/1.1 2"), "{r}");

    let tmp = tempfile::tempdir().expect("a temp dir");
    let db = tmp.path().join("t.db");
    for (name, prefix) in [("main", "logs"), ("copy", "copy")] {
        let (code, out, err) = cairn(
            &db,
            &[
                "source", "add", name, "--bucket", "trail", "--prefix", prefix,
                "--regions", "us-east-1,eu-west-1", "--endpoint-url", &moto.url,
            ],
            None,
        );
        assert_eq!(code, 0, "{out}{err}");
    }
    let (code, out, err) = cairn(&db, &["sync", "--once", "--json"], None);
    assert_eq!(code, 0, "{out}{err}");
    // LookupEvents or an import: events no trail delivered, in a Region none records.
    let local = tmp.path().join("local.json");
    let south: Vec<Value> = (391..=395).map(|n| record(n, "ap-south-1", true, false, &when)).collect();
    std::fs::write(&local, serde_json::to_vec(&json!({ "Records": south })).unwrap()).unwrap();
    let (code, out, err) = cairn(&db, &["import", local.to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}{err}");

    // The trails: each once, in sentences, with what it delivered and its findings.
    let (code, o) = json_of(&db, &["trails", "--json"]);
    assert_eq!(code, 1, "a critical finding stands: {o}");
    let trails = o["trails"].as_array().expect("trails");
    assert_eq!(trails.len(), 3, "{o}");
    let trail = |arn: &str| trails.iter().find(|t| t["arn"] == arn).expect("the trail").clone();
    // Each trail's findings, by name (the page lists them worst first).
    let codes = |t: &Value| -> Vec<String> {
        let mut c: Vec<String> = t["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap().to_owned()).collect();
        c.sort();
        c
    };
    let m = trail(&main_arn);
    assert_eq!(m["regions"], json!(["eu-west-1", "us-east-1"]));
    assert_eq!(m["sources"], json!(["copy", "main"]));
    assert_eq!(m["logging"], true);
    assert_eq!(
        m["sentences"],
        json!([
            "All management events, read and write",
            "S3 data events on arn:aws:s3:::secrets/ only"
        ])
    );
    assert_eq!(m["insights"], json!(["ApiCallRateInsight on Management"]));
    assert_eq!((m["events_30d"].as_i64(), m["events_24h"].as_i64()), (Some(390), Some(390)));
    let lag: Vec<String> = codes(&m).into_iter().filter(|c| c != "delivery_lagging").collect();
    assert_eq!(lag, ["no_cloudwatch_logs", "no_kms_key"], "{m}");
    let c = trail(&copy_arn);
    assert_eq!(c["regions"], json!(["us-east-1"]));
    assert_eq!(c["sentences"], json!(["All management events, read only"]), "{c}");
    assert_eq!(c["events_30d"].as_i64(), Some(200));
    let c_codes: Vec<String> = codes(&c).into_iter().filter(|c| c != "delivery_lagging").collect();
    assert_eq!(
        c_codes,
        [
            "duplicate_management_events",
            "insights_off",
            "log_file_validation_off",
            "no_cloudwatch_logs",
            "no_kms_key",
            "not_multi_region"
        ],
        "{c}"
    );
    let dup = c["findings"].as_array().unwrap().iter().find(|f| f["code"] == "duplicate_management_events").unwrap();
    assert!(dup["title"].as_str().unwrap().contains("main"), "{dup}");
    let o_ = trail(&old_arn);
    assert_eq!(o_["logging"], false);
    assert_eq!(o_["findings"][0]["code"], "logging_stopped");
    assert_eq!(o_["events_30d"].as_i64(), Some(0));
    // Across trails: the Region with activity no trail records; the worst first.
    let all = o["findings"].as_array().unwrap();
    assert_eq!(all[0]["code"], "logging_stopped");
    let uncovered: Vec<&Value> = all.iter().filter(|f| f["code"] == "region_not_covered").collect();
    assert_eq!(uncovered.len(), 1);
    assert_eq!(uncovered[0]["region"], "ap-south-1");

    // The costs, by hand: the 200 reads copy delivered again are a paid copy
    // (200 × $2.00 / 100k = $0.004); 50 data events (50 × $0.10 / 100k); call-rate
    // Insights on main's 100 writes (100 × $0.35 / 100k). main's copies are the free ones.
    let (code, r) = json_of(&db, &["costs", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(r["currency"], "USD");
    assert_eq!(r["month"], chrono::Utc::now().format("%Y-%m").to_string());
    let total = r["total_usd"].as_f64().unwrap();
    assert!(close(total, 0.004 + 0.00005 + 0.00035), "{total}: {r}");
    let lines = r["lines"].as_array().unwrap();
    let find = |trail: Option<&str>, kind: &str, region: &str| -> (i64, f64) {
        let l: Vec<&Value> = lines
            .iter()
            .filter(|l| l["trail"].as_str() == trail && l["kind"] == kind && l["region"] == region)
            .collect();
        assert_eq!(l.len(), 1, "{trail:?} {kind} {region}: {r}");
        (l[0]["events"].as_i64().unwrap(), l[0]["usd"].as_f64().unwrap())
    };
    assert_eq!(find(Some(&main_arn), "management_free", "us-east-1"), (300, 0.0));
    assert_eq!(find(Some(&main_arn), "management_free", "eu-west-1"), (40, 0.0));
    let (n, usd) = find(Some(&copy_arn), "management_paid", "us-east-1");
    assert!(n == 200 && close(usd, 0.004), "{n} {usd}");
    // What drives the charges: each stored event carries its share of its kind's charge
    // where it was charged. us-east-1's 300 management events share the paid copy's
    // $0.004 (eu-west-1's are free, ap-south-1's no trail delivered); the 50 object reads
    // share $0.00005, through the bucket (never one row per object).
    let drivers: Vec<(String, String, String, i64, f64)> = r["drivers"]
        .as_array()
        .expect("drivers")
        .iter()
        .map(|d| {
            (
                d["field"].as_str().unwrap().to_owned(),
                d["label"].as_str().unwrap().to_owned(),
                d["category"].as_str().unwrap().to_owned(),
                d["events"].as_i64().unwrap(),
                d["usd"].as_f64().unwrap(),
            )
        })
        .collect();
    let expected: [(&str, &str, &str, i64, f64); 6] = [
        ("principal", "alice", "Management", 300, 0.004),
        ("principal", "alice", "Data", 50, 0.00005),
        ("event", "DescribeInstances", "Management", 200, 0.004 * 200.0 / 300.0),
        ("event", "CreateUser", "Management", 100, 0.004 * 100.0 / 300.0),
        ("event", "GetObject", "Data", 50, 0.00005),
        ("resource", "secrets", "Data", 50, 0.00005),
    ];
    assert_eq!(drivers.len(), expected.len(), "{drivers:?}");
    for (got, want) in drivers.iter().zip(expected) {
        assert!(
            got.0 == want.0 && got.1.starts_with(want.1) && got.2 == want.2 && got.3 == want.3 && close(got.4, want.4),
            "{got:?} is not {want:?}"
        );
    }
    let link = r["drivers"][4]["timeline"].as_str().unwrap();
    assert!(link.starts_with("/?") && link.contains("event=GetObject") && link.contains("category=Data"), "{link}");
    let (n, usd) = find(Some(&main_arn), "data", "us-east-1");
    assert!(n == 50 && close(usd, 0.00005), "{n} {usd}");
    let (n, usd) = find(Some(&main_arn), "insights", "us-east-1");
    assert!(n == 100 && close(usd, 0.00035), "{n} {usd}");
    assert_eq!(find(None, "management_free", "ap-south-1"), (5, 0.0));
    // The bucket's storage: every delivered byte, outside CloudTrail's bill.
    let stored: i64 = lines.iter().filter(|l| l["kind"] == "s3_storage").map(|l| l["events"].as_i64().unwrap()).sum();
    assert_eq!(stored as u64, bytes);
    let outside = r["outside_usd"].as_f64().unwrap();
    assert!(close(outside, bytes as f64 / 1_073_741_824.0 * 0.023), "{outside}");

    // The bill beside the estimate: one account, read by two sources, billed once.
    let billed = &r["billed"];
    assert_eq!(billed["sources"], json!(["main"]), "{billed}");
    let kind = |k: &str| billed["by_kind"].as_array().unwrap().iter().find(|x| x["kind"] == k).cloned().unwrap_or_else(|| panic!("{k} in {billed}"));
    let paid = kind("management_paid");
    assert!(close(paid["billed_usd"].as_f64().unwrap(), 0.005) && close(paid["estimate_usd"].as_f64().unwrap(), 0.004), "{paid}");
    assert!(close(kind("data")["billed_usd"].as_f64().unwrap(), 0.0001));
    assert_eq!(billed["refused"], json!([]));
    let (_, last) = json_of(&db, &["costs", "--json", "--month", &first.pred_opt().unwrap().format("%Y-%m").to_string()]);
    assert!(close(last["billed"]["by_kind"][0]["billed_usd"].as_f64().unwrap(), 1.5), "{last}");
    assert_eq!(last["total_usd"].as_f64(), Some(0.0));

    // A second pass reads nothing again and counts nothing twice.
    let (code, out, err) = cairn(&db, &["sync", "--once", "--json"], None);
    assert_eq!(code, 0, "{out}{err}");
    let (_, again) = json_of(&db, &["costs", "--json"]);
    assert_eq!(again["lines"], r["lines"]);
    // A month that is not one is refused.
    let (code, _, err) = cairn(&db, &["costs", "--month", "2024-13"], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a month"), "{err}");
}

/// A trail changed from its page: previewed with its cost, refused to a viewer, sent to
/// CloudTrail (moto) by an admin, audited, and seen in the inventory taken right after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trails_are_changed_by_admins_after_a_preview_and_every_change_is_audited() {
    use app::trail_change::ChangeQuery;
    let moto = Moto::start();
    let s3 = moto.s3();
    s3.create_bucket().bucket("trail").send().await.expect("bucket");
    let ct = moto.cloudtrail("us-east-1");
    let t = ct
        .create_trail()
        .name("main")
        .s3_bucket_name("trail")
        .s3_key_prefix("logs")
        .send()
        .await
        .expect("main");
    let arn = t.trail_arn().expect("an ARN").to_owned();
    ct.start_logging().name("main").send().await.expect("start");
    // It delivered 100 writes and 200 reads; 2,000 S3 reads of `secrets` came from an
    // import (another account's copy, say): what S3 data events there would add.
    let now = chrono::Utc::now().timestamp_millis();
    let when = iso(now - 60_000);
    let mgmt: Vec<Value> = (1..=300).map(|n| record(n, "us-east-1", n > 100, false, &when)).collect();
    s3.put_object()
        .bucket("trail")
        .key(key("logs", "us-east-1", "A1"))
        .body(ByteStream::from(file(&mgmt)))
        .send()
        .await
        .expect("put");
    let tmp = tempfile::tempdir().expect("a temp dir");
    let db = tmp.path().join("t.db");
    let local = tmp.path().join("data.json");
    let data: Vec<Value> = (1001..=3000).map(|n| record(n, "us-east-1", true, true, &when)).collect();
    std::fs::write(&local, serde_json::to_vec(&json!({ "Records": data })).unwrap()).unwrap();
    for args in [
        vec!["source", "add", "main", "--bucket", "trail", "--prefix", "logs", "--regions", "us-east-1", "--endpoint-url", &moto.url],
        vec!["sync", "--once", "--json"],
        vec!["import", local.to_str().unwrap()],
    ] {
        let (code, out, err) = cairn(&db, &args, None);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
    common::add_user(&db, "ada", "admin");
    common::add_user(&db, "vic", "viewer");
    let server = common::Served::start(&db, &tmp.path().join("site"));
    let (ada, vic) = (server.sign_in("ada"), server.sign_in("vic"));
    let page = format!("/trails/{arn}");

    // The preview: management kept, S3 data events on `secrets` added (2,000 × $0.10 /
    // 100,000 = $0.0020 per 30 days), Lambda functions no stored event shows.
    let proposed = "change=selectors&mode=form&management=all&s3=secrets&lambda=*";
    let r = server.request("GET", &format!("{page}?{proposed}"), Some(&ada), None);
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(r.body.contains("Preview: Replace the event selectors"), "{}", r.body);
    let cell = |body: &str, id: &str| -> String {
        let at = body.find(&format!("data-testid=\"{id}\"")).unwrap_or_else(|| panic!("{id} in {body}"));
        let rest = &body[at..];
        let start = rest.find('>').unwrap() + 1;
        rest[start..start + rest[start..].find('<').unwrap()].to_owned()
    };
    assert_eq!(cell(&r.body, "preview-before-usd"), "$0.00");
    assert_eq!(cell(&r.body, "preview-after-usd"), "$0.0020");
    assert!(r.body.contains("data-testid=\"preview-unseen\""), "{}", r.body);
    assert!(r.body.contains("Lambda data events"));
    assert!(r.body.contains("data-testid=\"apply-form\""));
    // A viewer sees no form, and is refused the change itself.
    let r = server.request("GET", &format!("{page}?{proposed}"), Some(&vic), None);
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("apply-form") && r.body.contains("Trails are changed by admins"), "{}", r.body);
    let q = ChangeQuery {
        change: "selectors".into(),
        management: "all".into(),
        s3: "secrets".into(),
        ..ChangeQuery::default()
    };
    let payload = q.form_selectors().expect("selectors").to_aws().to_string();
    // The apply form carries when the inventory last saw the trail change (the preview's).
    let seen = || json_of(&db, &["trails", "--json"]).1["trails"][0]["changed_at"].to_string();
    let form = |change: &str, payload: &str, confirm: &str| {
        let mut f = url::form_urlencoded::Serializer::new(String::new());
        f.append_pair("trail", &arn)
            .append_pair("change", change)
            .append_pair("payload", payload)
            .append_pair("confirm", confirm)
            .append_pair("seen", &seen());
        f.finish()
    };
    let r = server.request("POST", "/admin/trail-actions/apply", Some(&vic), Some(&form("selectors", &payload, "")));
    assert_eq!(r.status, 403, "{}", r.head);
    // What cannot be sent is refused with the reason, before CloudTrail is called.
    let r = server.request("POST", "/admin/trail-actions/apply", Some(&ada), Some(&form("selectors", "[]", "")));
    assert_eq!(r.status, 303);
    assert!(r.location_query().get("error").is_some_and(|e| e.contains("no selector")), "{}", r.head);

    // A preview older than the trail's last change is not applied.
    let stale = form("selectors", &payload, "").replace("&seen=", "&seen=1");
    let r = server.request("POST", "/admin/trail-actions/apply", Some(&ada), Some(&stale));
    let q = r.location_query();
    assert!(q.get("error").is_some_and(|e| e.contains("changed since this preview")), "{}", r.head);
    // The way back is the same preview, with the proposal still in it.
    assert_eq!((q["change"].as_str(), q["mode"].as_str()), ("selectors", "json"), "{}", r.head);

    // Applied: CloudTrail has the selectors, and the inventory taken right after shows them.
    let r = server.request("POST", "/admin/trail-actions/apply", Some(&ada), Some(&form("selectors", &payload, "")));
    assert_eq!(r.status, 303, "{}", r.head);
    let q = r.location_query();
    assert_eq!((q["done"].as_str(), q["inventory"].as_str()), ("event_selectors", "taken"), "{}", r.head);
    let got = ct.get_event_selectors().trail_name(&arn).send().await.expect("selectors");
    assert_eq!(got.advanced_event_selectors().len(), 2, "{got:?}");
    let (_, o) = json_of(&db, &["trails", "--json"]);
    assert_eq!(
        o["trails"][0]["sentences"],
        json!(["All management events, read and write", "S3 data events: all on arn:aws:s3:::secrets/ only"]),
        "{o}"
    );
    let r = server.request("GET", &format!("{page}?done=event_selectors&inventory=taken"), Some(&ada), None);
    assert!(r.body.contains("The event selectors were replaced"), "{}", r.body);
    assert!(r.body.contains("data-testid=\"trail-change\""), "the history shows the change: {}", r.body);

    // An event page says which trail recorded it, by which selector, under the
    // settings read before it (here the first reading: management events only).
    let pool = cairn::db::connect(&db).await.unwrap();
    let id_of = async |name: &str| -> i64 {
        sqlx::query_scalar("SELECT e.id FROM events e JOIN terms t ON t.id = e.name_id WHERE t.value = ?1 LIMIT 1")
            .bind(name)
            .fetch_one(&pool)
            .await
            .expect("an event")
    };
    let r = server.request("GET", &format!("/events/{}", id_of("CreateUser").await), Some(&vic), None);
    assert!(r.body.contains(", selector 1: All management events, read and write"), "{}", r.body);
    let r = server.request("GET", &format!("/events/{}", id_of("GetObject").await), Some(&vic), None);
    assert!(r.body.contains("No trail the inventory knows records this event"), "{}", r.body);

    // Stopping asks for the trail's name.
    let r = server.request("POST", "/admin/trail-actions/apply", Some(&ada), Some(&form("logging", "off", "mian")));
    assert!(r.location_query()["error"].contains("type the trail's name"), "{}", r.head);
    assert_eq!(ct.get_trail_status().name(&arn).send().await.expect("status").is_logging(), Some(true));
    let r = server.request("POST", "/admin/trail-actions/apply", Some(&ada), Some(&form("logging", "off", "main")));
    assert_eq!(r.location_query()["done"], "stop_logging", "{}", r.head);
    assert_eq!(ct.get_trail_status().name(&arn).send().await.expect("status").is_logging(), Some(false));
    let (_, o) = json_of(&db, &["trails", "--json"]);
    assert_eq!(o["trails"][0]["logging"], false);
    // The finding it raises previews its own fix.
    let r = server.request("GET", &page, Some(&ada), None);
    assert!(r.body.contains("change=logging&amp;logging=on"), "{}", r.body);

    // Insights.
    let insights = r#"[{"InsightType":"ApiErrorRateInsight","EventCategories":["Management"]}]"#;
    let r = server.request("POST", "/admin/trail-actions/apply", Some(&ada), Some(&form("insights", insights, "")));
    assert_eq!(r.location_query()["done"], "insight_selectors", "{}", r.head);
    let got = ct.get_insight_selectors().trail_name(&arn).send().await.expect("insights");
    assert_eq!(got.insight_selectors()[0].insight_type().map(|t| t.as_str()), Some("ApiErrorRateInsight"));

    // A refusal says which call failed and why, and is audited too.
    ct.delete_trail().name("main").send().await.expect("deleted");
    let r = server.request("POST", "/admin/trail-actions/apply", Some(&ada), Some(&form("logging", "on", "")));
    let e = r.location_query().get("error").cloned().unwrap_or_default();
    assert!(e.contains("cloudtrail:StartLogging"), "{}", r.head);

    let lines: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT actor, action, target, detail FROM audit_log WHERE action LIKE 'trail.%' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let actions: Vec<&str> = lines.iter().map(|l| l.1.as_str()).collect();
    assert_eq!(
        actions,
        ["trail.event_selectors", "trail.stop_logging", "trail.insight_selectors", "trail.start_logging", "trail.change_refused"]
    );
    assert!(lines.iter().all(|l| l.0 == "ada" && l.2 == arn), "{lines:?}");
    assert!(lines[0].3.contains("→") && lines[0].3.contains("arn:aws:s3:::secrets/"), "{:?}", lines[0]);
    assert_eq!(lines[1].3, "on → off");
}

/// The written incident of `fixtures/coverage-incident.json` (see its README).
fn coverage_fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/coverage-incident.json")
}

#[test]
fn coverage_says_what_was_not_recorded_and_never_claims_what_events_contradict() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let fixture = coverage_fixture();
    let (code, _, err) = cairn(&db, &["import", fixture.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");

    // All time: the stopped trail and the bucket turned on late, exit status 1.
    let (code, v) = json_of(&db, &["coverage", "--json"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["trails_known"], 1);
    let acct = &v["accounts"][0];
    assert_eq!(acct["account"], "444455556666");
    let sentences: Vec<&str> = acct["gaps"].as_array().unwrap().iter().map(|g| g["sentence"].as_str().unwrap()).collect();
    assert_eq!(
        sentences,
        [
            "S3 data events for falsimentis-eng were not recorded before 2021-07-29 23:53:00 UTC: reads and writes before then are invisible.",
            "Management events in 444455556666 us-east-1 were not recorded from 2021-07-28 14:00:00 UTC to 2021-07-28 18:00:00 UTC: calls in that time are invisible.",
        ]
    );
    let stop = &acct["gaps"][1];
    assert_eq!(stop["causes"], "began with StopLogging by mallory; ended with StartLogging by ops; trails known here: main");
    assert!(stop["began_event"].as_i64().is_some() && stop["ended_event"].as_i64().is_some());
    assert!(acct["gaps"][0]["began_event"].is_null() && acct["gaps"][0]["ended_event"].as_i64().is_some());
    // The chart: management events not recorded exactly in the stopped hours.
    let rows = acct["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let no: Vec<(i64, i64)> = rows[0]["spans"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s[2] == "No")
        .map(|s| (s[0].as_i64().unwrap(), s[1].as_i64().unwrap()))
        .collect();
    let ms = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp_millis();
    assert_eq!(no, [(ms("2021-07-28T14:00:00Z"), ms("2021-07-28T18:00:00Z"))]);

    // A range after both: nothing unrecorded, exit status 0; another account: nothing known.
    let (code, v) = json_of(&db, &["coverage", "--from", "2021-07-30", "--to", "2021-07-30T06:00", "--json"]);
    assert_eq!((code, v["accounts"][0]["gaps"].as_array().map(Vec::len)), (0, Some(0)), "{v}");
    let (code, v) = json_of(&db, &["coverage", "--account", "999999999999", "--json"]);
    assert_eq!((code, v["accounts"].as_array().map(Vec::len)), (0, Some(0)));
    let (code, _, err) = cairn(&db, &["coverage", "--from", "yesterday-ish"], None);
    assert_ne!(code, 0);
    assert!(err.contains("range"), "{err}");

    // Events of another trail, unknown to Cairn, in both stretches: they were recorded
    // after all. What stands is the bucket while the known trail was stopped (no event
    // shows it recorded then).
    let other = |n: u32, when: &str, data: bool| {
        let mut r = json!({
            "eventVersion": "1.08", "eventTime": when, "awsRegion": "us-east-1",
            "eventID": format!("00000000-0000-4000-a000-{n:012}"), "recipientAccountId": "444455556666",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::444455556666:user/eve", "accountId": "444455556666"},
            "eventSource": "ec2.amazonaws.com", "eventName": "DescribeVpcs", "readOnly": true,
            "eventType": "AwsApiCall", "managementEvent": true, "eventCategory": "Management",
            "sourceIPAddress": "10.0.0.9", "requestID": format!("other-{n}"),
        });
        if data {
            r["eventSource"] = json!("s3.amazonaws.com");
            r["eventName"] = json!("GetObject");
            r["managementEvent"] = json!(false);
            r["eventCategory"] = json!("Data");
            r["resources"] = json!([{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::falsimentis-eng/x"},
                                    {"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::falsimentis-eng"}]);
        }
        r
    };
    let more = tmp.path().join("other.json");
    std::fs::write(
        &more,
        json!({"Records": [other(1, "2021-07-28T15:00:00Z", false), other(2, "2021-07-29T10:00:00Z", true)]}).to_string(),
    )
    .unwrap();
    let (code, _, err) = cairn(&db, &["import", more.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    let (code, v) = json_of(&db, &["coverage", "--json"]);
    let gaps = v["accounts"][0]["gaps"].as_array().unwrap();
    assert_eq!((code, gaps.len()), (1, 1), "{v}");
    assert_eq!(
        gaps[0]["sentence"],
        "S3 data events for falsimentis-eng were not recorded from 2021-07-28 14:00:00 UTC to 2021-07-28 18:00:00 UTC: reads and writes in that time are invisible."
    );
}

/// The written incident, then the trail also records one Lambda function (writes only of
/// a DynamoDB table, and S3 network activity) from 02:00 on 2021-07-30 and is stopped at
/// 06:00; one invocation of the function is stored from before it was turned on.
#[tokio::test]
async fn coverage_follows_functions_tables_and_network_activity() {
    const FN: &str = "arn:aws:lambda:us-east-1:444455556666:function:payments";
    const TABLE: &str = "arn:aws:dynamodb:us-east-1:444455556666:table/orders";
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let fixture = coverage_fixture();
    let (code, _, err) = cairn(&db, &["import", fixture.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    let base = |n: u32, when: &str, source: &str, name: &str| {
        json!({
            "eventVersion": "1.09", "eventTime": when, "awsRegion": "us-east-1",
            "eventID": format!("00000000-0000-4000-b000-{n:012}"), "recipientAccountId": "444455556666",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::444455556666:user/ops", "accountId": "444455556666"},
            "eventSource": source, "eventName": name, "readOnly": false, "eventType": "AwsApiCall",
            "managementEvent": true, "eventCategory": "Management", "sourceIPAddress": "10.0.0.5",
            "requestID": format!("more-{n}"),
        })
    };
    let mut put = base(1, "2021-07-30T02:00:00Z", "cloudtrail.amazonaws.com", "PutEventSelectors");
    put["requestParameters"] = json!({"trailName": "main", "advancedEventSelectors": [
        {"name": "management", "fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}]},
        {"name": "eng", "fieldSelectors": [{"field": "eventCategory", "equals": ["Data"]},
            {"field": "resources.type", "equals": ["AWS::S3::Object"]},
            {"field": "resources.ARN", "startsWith": ["arn:aws:s3:::falsimentis-eng/"]}]},
        {"name": "payments", "fieldSelectors": [{"field": "eventCategory", "equals": ["Data"]},
            {"field": "resources.type", "equals": ["AWS::Lambda::Function"]},
            {"field": "resources.ARN", "equals": [FN]}]},
        {"name": "orders", "fieldSelectors": [{"field": "eventCategory", "equals": ["Data"]},
            {"field": "resources.type", "equals": ["AWS::DynamoDB::Table"]},
            {"field": "resources.ARN", "equals": [TABLE]}, {"field": "readOnly", "equals": ["false"]}]},
        {"name": "vpce", "fieldSelectors": [{"field": "eventCategory", "equals": ["NetworkActivity"]},
            {"field": "eventSource", "equals": ["s3.amazonaws.com"]}]}]});
    let mut stop = base(2, "2021-07-30T06:00:00Z", "cloudtrail.amazonaws.com", "StopLogging");
    stop["requestParameters"] = json!({"name": "main"});
    // An invocation while the selectors of 23:53 did not name the function: something
    // Cairn does not know recorded it, so 23:53 to 02:00 is no gap for the function.
    let mut invoke = base(3, "2021-07-30T01:00:00Z", "lambda.amazonaws.com", "Invoke");
    invoke["managementEvent"] = json!(false);
    invoke["eventCategory"] = json!("Data");
    invoke["resources"] = json!([{"type": "AWS::Lambda::Function", "ARN": FN, "accountId": "444455556666"}]);
    let more = tmp.path().join("more.json");
    std::fs::write(&more, json!({"Records": [put, stop, invoke]}).to_string()).unwrap();
    let (code, _, err) = cairn(&db, &["import", more.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");

    let (code, v) = json_of(&db, &["coverage", "--json"]);
    assert_eq!(code, 1, "{v}");
    let acct = &v["accounts"][0];
    let sentences: Vec<&str> = acct["gaps"].as_array().unwrap().iter().map(|g| g["sentence"].as_str().unwrap()).collect();
    let t = "2021-07-28 14:00:00 UTC to 2021-07-28 18:00:00 UTC";
    assert_eq!(
        sentences,
        [
            "S3 data events for falsimentis-eng were not recorded before 2021-07-29 23:53:00 UTC: reads and writes before then are invisible.",
            &format!("Management events in 444455556666 us-east-1 were not recorded from {t}: calls in that time are invisible."),
            &format!("Lambda data events for function payments in 444455556666 us-east-1 were not recorded from {t}: invocations in that time are invisible."),
            &format!("DynamoDB data events for table orders in 444455556666 us-east-1 were not recorded from {t}: item reads and writes in that time are invisible."),
            &format!("Network activity events for s3.amazonaws.com in 444455556666 us-east-1 were not recorded from {t}: calls through VPC endpoints in that time are invisible."),
            "DynamoDB data events for table orders in 444455556666 us-east-1 were not recorded from 2021-07-29 23:53:00 UTC to 2021-07-30 02:00:00 UTC: item reads and writes in that time are invisible.",
            "Network activity events for s3.amazonaws.com in 444455556666 us-east-1 were not recorded from 2021-07-29 23:53:00 UTC to 2021-07-30 02:00:00 UTC: calls through VPC endpoints in that time are invisible.",
            "DynamoDB data events for table orders (reads) in 444455556666 us-east-1 were not recorded from 2021-07-30 02:00:00 UTC to 2021-07-30 06:00:00 UTC: item reads in that time are invisible.",
            "Management events in 444455556666 us-east-1 were not recorded since 2021-07-30 06:00:00 UTC: calls since then are invisible.",
            "S3 data events for falsimentis-eng were not recorded since 2021-07-30 06:00:00 UTC: reads and writes since then are invisible.",
            "Lambda data events for function payments in 444455556666 us-east-1 were not recorded since 2021-07-30 06:00:00 UTC: invocations since then are invisible.",
            "DynamoDB data events for table orders in 444455556666 us-east-1 were not recorded since 2021-07-30 06:00:00 UTC: item reads and writes since then are invisible.",
            "Network activity events for s3.amazonaws.com in 444455556666 us-east-1 were not recorded since 2021-07-30 06:00:00 UTC: calls through VPC endpoints since then are invisible.",
        ]
    );
    // The chart follows each of them.
    let labels: Vec<&str> = acct["rows"].as_array().unwrap().iter().map(|r| r["label"].as_str().unwrap()).collect();
    assert_eq!(
        labels,
        [
            "Management events",
            "S3 data events for falsimentis-eng",
            "Lambda data events for function payments",
            "DynamoDB data events for table orders",
            "Network activity events for s3.amazonaws.com",
        ]
    );

    // The function's page warns of its own gaps only: what a timeline filtered to it asks.
    let pool = cairn::db::connect(&db).await.unwrap();
    let ms = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp_millis();
    let q = app::query::EventQuery::default().with_filter(app::query::Field::Resource, FN, false);
    let scope = app::pages::coverage::GapScope::of_query(&q, ms("2021-07-29T00:00:00Z"), ms("2021-07-31T00:00:00Z"));
    assert_eq!(scope.kinds, [format!("lambda:{FN}")]);
    let gaps = app::pages::coverage::gaps_in(&pool, &scope).await.unwrap();
    let said: Vec<&str> = gaps.iter().map(|g| g.sentence.as_str()).collect();
    assert_eq!(
        said,
        ["Lambda data events for function payments in 444455556666 us-east-1 were not recorded since 2021-07-30 06:00:00 UTC: invocations since then are invisible."]
    );
    assert_eq!(gaps[0].causes, "began with StopLogging by ops; trails known here: main");
}

/// A random source for `rsa` (which speaks `rand_core` 0.6), from the test's own ChaCha.
struct KeyRng(rand_chacha::ChaCha20Rng);

impl rsa::rand_core::RngCore for KeyRng {
    fn next_u32(&mut self) -> u32 {
        rand::RngCore::next_u32(&mut self.0)
    }
    fn next_u64(&mut self) -> u64 {
        rand::RngCore::next_u64(&mut self.0)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand::RngCore::fill_bytes(&mut self.0, dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        rand::RngCore::fill_bytes(&mut self.0, dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for KeyRng {}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Serves `cloudtrail:ListPublicKeys` (moto lacks it) with `key` and
/// `cloudtrail:GetEventConfiguration` (likewise), adds the last digest delivery (seconds)
/// to moto's `GetTrailStatus` (it has none), and forwards the rest.
async fn public_keys_fake(upstream: String, der: Vec<u8>, fingerprint: &'static str, digest_at: f64) -> String {
    use axum::body::Body;
    use axum::http::{Request, Response};
    let client = common::upstream_client();
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let handler = move |req: Request<Body>| {
        let (client, upstream, der, asked) = (client.clone(), upstream.clone(), der.clone(), asked.clone());
        async move {
            let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
            if target == "CloudTrail_20131101.GetEventConfiguration" {
                // moto lacks it too: the trail aggregates its data events.
                let body = json!({"AggregationConfigurations": [
                    {"EventCategory": "Data", "Templates": ["API_ACTIVITY", "RESOURCE_ACCESS"]}]});
                return Response::builder()
                    .status(200)
                    .header("content-type", "application/x-amz-json-1.1")
                    .body(Body::from(body.to_string()))
                    .unwrap();
            }
            if target == "CloudTrail_20131101.GetTrailStatus" {
                use http_body_util::BodyExt;
                let r = common::forward(&client, &upstream, req).await;
                let (parts, body) = r.into_parts();
                let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                let mut v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                if parts.status.is_success() {
                    v["LatestDigestDeliveryTime"] = json!(digest_at);
                }
                let mut out = Response::builder().status(parts.status);
                for (k, val) in &parts.headers {
                    if k != "content-length" {
                        out = out.header(k, val);
                    }
                }
                return out.body(Body::from(v.to_string())).unwrap();
            }
            if target != "CloudTrail_20131101.ListPublicKeys" {
                return common::forward(&client, &upstream, req).await;
            }
            asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let now = chrono::Utc::now().timestamp() as f64;
            let body = json!({"PublicKeyList": [{
                "Value": base64(&der),
                "ValidityStartTime": now - 90.0 * 86400.0,
                "ValidityEndTime": now + 86400.0,
                "Fingerprint": fingerprint,
            }]});
            Response::builder()
                .status(200)
                .header("content-type", "application/x-amz-json-1.1")
                .header("x-amzn-requestid", "00000000-0000-0000-0000-000000000001")
                .body(Body::from(body.to_string()))
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

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// Digests signed by a key made here and served by a fake `ListPublicKeys`; a log file
/// modified after delivery, one deleted, one no digest lists, a digest deleted from the
/// chain and one whose signature does not verify: each named with its exact key, per
/// day, on the trail page, in `cairn verify` and as a finding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digests_prove_what_was_delivered_and_every_tampering_is_named() {
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rand::SeedableRng;
    let moto = Moto::start();
    let s3 = moto.s3();
    s3.create_bucket().bucket("ct-logs").send().await.expect("bucket");
    let use1 = moto.cloudtrail("us-east-1");
    let trail = use1
        .create_trail()
        .name("audit")
        .s3_bucket_name("ct-logs")
        .s3_key_prefix("p")
        .is_multi_region_trail(true)
        .enable_log_file_validation(true)
        .send()
        .await
        .expect("trail");
    let arn = trail.trail_arn().expect("an ARN").to_owned();
    use1.start_logging().name("audit").send().await.expect("start");

    let mut rng = KeyRng(rand_chacha::ChaCha20Rng::seed_from_u64(7));
    let private = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("a key");
    let der = private.to_public_key().to_pkcs1_der().expect("DER").as_bytes().to_vec();
    // Another key, as a forger would have.
    let forger = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("a key");
    let sign = |key: &rsa::RsaPrivateKey, message: &str| -> String {
        // PKCS#1 v1.5 with SHA-256: the DigestInfo prefix, then the hash.
        let mut info = vec![0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];
        use sha2::Digest;
        info.extend_from_slice(&sha2::Sha256::digest(message.as_bytes()));
        hex::encode(key.sign(rsa::Pkcs1v15Sign::new_unprefixed(), &info).expect("signed"))
    };
    // Four hours of digests ending an hour ago; CloudTrail reports the last of them
    // delivered 5 minutes after its hour.
    let hour = 3_600_000;
    let now = chrono::Utc::now().timestamp_millis();
    let h0 = now - now.rem_euclid(hour) - 5 * hour;
    let last_digest_ms = h0 + 4 * hour + 5 * 60_000;
    let endpoint = public_keys_fake(moto.url.clone(), der, "fp-2026", last_digest_ms as f64 / 1000.0).await;
    let t = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap();
    let log_key = |ms: i64, tag: &str| {
        format!(
            "p/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/{}/{ACCOUNT}_CloudTrail_us-east-1_{}_{tag}.json.gz",
            t(ms).format("%Y/%m/%d"),
            t(ms).format("%Y%m%dT%H%MZ")
        )
    };
    let digest_key = |end: i64| {
        format!(
            "p/AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/{}/{ACCOUNT}_CloudTrail-Digest_us-east-1_audit_us-east-1_{}.json.gz",
            t(end).format("%Y/%m/%d"),
            t(end).format("%Y%m%dT%H%M%SZ")
        )
    };
    let body = |n: usize, when: i64| serde_json::to_vec(&json!({"Records": [record(n, "us-east-1", true, false, &iso(when))]})).unwrap();
    let put = |key: String, bytes: Vec<u8>, meta: Option<String>| {
        let s3 = s3.clone();
        async move {
            let mut p = s3.put_object().bucket("ct-logs").key(key).body(ByteStream::from(bytes));
            if let Some(sig) = meta {
                p = p.metadata("signature", sig).metadata("signature-algorithm", "SHA256withRSA");
            }
            p.send().await.expect("put");
        }
    };
    // Log files: (key, content as delivered, content now in the bucket or None).
    let a = (log_key(h0 + 5 * 60_000, "aaaaaaaaaaaaaaaa"), body(1, h0 + 60_000));
    let b = (log_key(h0 + 20 * 60_000, "bbbbbbbbbbbbbbbb"), body(2, h0 + 15 * 60_000));
    let c = (log_key(h0 + hour + 10 * 60_000, "cccccccccccccccc"), body(3, h0 + hour + 60_000));
    let f = (log_key(h0 + 2 * hour + 5 * 60_000, "ffffffffffffffff"), body(4, h0 + 2 * hour + 60_000));
    let g = (log_key(h0 + 2 * hour + 15 * 60_000, "gggggggggggggggg"), body(5, h0 + 2 * hour + 60_000));
    let e = (log_key(h0 + 2 * hour + 30 * 60_000, "eeeeeeeeeeeeeeee"), body(6, h0 + 2 * hour + 60_000));
    let h = (log_key(h0 + 3 * hour + 10 * 60_000, "hhhhhhhhhhhhhhhh"), body(7, h0 + 3 * hour + 60_000));
    for (key, content) in [&a, &b, &c, &h] {
        put(key.clone(), common::gz(content), None).await;
    }
    // G is rewritten after delivery (another event in place of the one delivered); F is
    // deleted; E was never delivered by CloudTrail.
    put(g.0.clone(), common::gz(body(55, h0 + 2 * hour + 60_000)), None).await;
    put(e.0.clone(), common::gz(&e.1), None).await;

    // The chain: D1 (A, B) → D2 (C, deleted later) → D3 (F, G) → D4 (H, signed by a
    // forger).
    let mut previous: Option<(String, String, String)> = None; // key, content hash, signature
    let mut digests = Vec::new();
    for (i, files) in [vec![&a, &b], vec![&c], vec![&f, &g], vec![&h]].into_iter().enumerate() {
        let (start, end) = (h0 + i as i64 * hour, h0 + (i as i64 + 1) * hour);
        let key = digest_key(end);
        let iso_s = |ms: i64| t(ms).format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let mut d = json!({
            "awsAccountId": ACCOUNT,
            "digestStartTime": iso_s(start),
            "digestEndTime": iso_s(end),
            "digestS3Bucket": "ct-logs",
            "digestS3Object": key,
            "digestPublicKeyFingerprint": "fp-2026",
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": iso_s(end - 60_000),
            "oldestEventTime": iso_s(start),
            "previousDigestSignature": null,
            "logFiles": files.iter().map(|(k, content)| json!({
                "s3Bucket": "ct-logs", "s3Object": k, "hashValue": sha256_hex(content),
                "hashAlgorithm": "SHA-256",
            })).collect::<Vec<_>>(),
        });
        if let Some((pk, ph, ps)) = &previous {
            d["previousDigestS3Bucket"] = json!("ct-logs");
            d["previousDigestS3Object"] = json!(pk);
            d["previousDigestHashValue"] = json!(ph);
            d["previousDigestHashAlgorithm"] = json!("SHA-256");
            d["previousDigestSignature"] = json!(ps);
        }
        let content = serde_json::to_vec(&d).unwrap();
        let hash = sha256_hex(&content);
        let to_sign = format!(
            "{}\nct-logs/{key}\n{hash}\n{}",
            iso_s(end),
            previous.as_ref().map_or("null".to_owned(), |p| p.2.clone())
        );
        let signature = sign(if i == 3 { &forger } else { &private }, &to_sign);
        if i != 1 {
            put(key.clone(), common::gz(&content), Some(signature.clone())).await;
        }
        digests.push(key.clone());
        previous = Some((key, hash, signature));
    }

    let tmp = tempfile::tempdir().expect("a temp dir");
    let db = tmp.path().join("v.db");
    let (code, out, err) = cairn(
        &db,
        &["source", "add", "ct", "--bucket", "ct-logs", "--prefix", "p", "--regions", "us-east-1", "--endpoint-url", &endpoint],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = cairn(&db, &["sync", "--once", "--json"], None);
    assert_eq!(code, 0, "{out}{err}");
    let integrity: Value = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|r| r["feed"] == "integrity")
        .unwrap_or_else(|| panic!("an integrity pass in {out}"));
    assert_eq!((integrity["state"].as_str(), integrity["files"].as_u64()), (Some("ok"), Some(3)), "{integrity}");

    // What the checks found, worked out by hand: D1 and D3 valid (A, B verified; F
    // deleted, G modified), D2 gone, D4 forged, E listed by no digest.
    let (code, v) = json_of(&db, &["verify", "--json", "--no-check"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["failed"], true);
    let trails = v["trails"].as_array().expect("trails");
    assert_eq!(trails.len(), 1, "{v}");
    assert_eq!(trails[0]["trail"], arn.as_str());
    let sum = |field: &str| -> i64 { trails[0]["days"].as_array().unwrap().iter().map(|d| d[field].as_i64().unwrap()).sum() };
    let totals: Vec<i64> = ["digests", "digests_valid", "files", "verified", "modified", "missing", "extra", "digests_missing", "digests_invalid", "chain"]
        .iter()
        .map(|f| sum(f))
        .collect();
    assert_eq!(totals, vec![3, 2, 4, 2, 1, 1, 1, 1, 1, 0], "{v}");
    let mut found: Vec<(String, String)> = trails[0]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["kind"].as_str().unwrap().to_owned(), p["location"].as_str().unwrap().to_owned()))
        .collect();
    found.sort();
    let at = |k: &str| format!("s3://ct-logs/{k}");
    assert_eq!(
        found,
        vec![
            ("digest_invalid".to_owned(), at(&digests[3])),
            ("digest_missing".to_owned(), at(&digests[1])),
            ("extra".to_owned(), at(&e.0)),
            ("missing".to_owned(), at(&f.0)),
            ("modified".to_owned(), at(&g.0)),
        ],
        "{v}"
    );
    let detail = |kind: &str| trails[0]["problems"].as_array().unwrap().iter().find(|p| p["kind"] == kind).unwrap()["detail"].as_str().unwrap().to_owned();
    assert!(detail("digest_invalid").contains("a signature that does not verify"), "{v}");
    assert!(detail("modified").contains(&sha256_hex(&g.1)), "the hash the digest recorded: {v}");

    // Checked once: a second pass reads no digest again and finds the same.
    let (code, v2) = json_of(&db, &["verify", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(v2["checks"][0]["files"], 0, "{v2}");
    assert_eq!(v2["trails"][0]["problems_total"], 5, "{v2}");
    // A range before the digests holds nothing, and passes.
    let (code, v3) = json_of(&db, &["verify", "--json", "--no-check", "--from", "2020-01-01", "--to", "2020-01-02"]);
    assert_eq!((code, v3["failed"].as_bool()), (0, Some(false)), "{v3}");

    // The trail's finding, worst of all.
    let (_, o) = json_of(&db, &["trails", "--json"]);
    // Its event configuration, read by the inventory, in a sentence.
    let audit = o["trails"].as_array().unwrap().iter().find(|t| t["arn"] == arn.as_str()).expect("the trail");
    assert!(
        audit["sentences"].as_array().unwrap().iter().any(|s| s == "Data events are also delivered as 5-minute summaries (aggregated events) of API activity and resource access"),
        "{audit}"
    );
    // The status's last digest is read, and the bucket holds it: no digest is late or gone.
    assert_eq!(audit["latest_digest"], last_digest_ms, "{audit}");
    assert!(
        o["findings"].as_array().unwrap().iter().all(|f| !f["code"].as_str().unwrap().starts_with("digests_")),
        "{o}"
    );
    let f0 = &o["findings"][0];
    assert_eq!(f0["code"], "integrity_failed", "{o}");
    assert_eq!(f0["severity"], "critical");
    assert!(f0["title"].as_str().unwrap().contains("1 log file modified, 1 log file deleted, 1 log file no digest lists, 1 digest file deleted, 1 digest file invalid"), "{f0}");
    assert!(f0["cli"].as_str().unwrap().starts_with(&format!("aws cloudtrail validate-logs --region us-east-1 --trail-arn {arn}")), "{f0}");

    // The trail page shows the days and every key, without JavaScript.
    common::add_user(&db, "vic", "viewer");
    let server = common::Served::start(&db, &tmp.path().join("site"));
    let vic = server.sign_in("vic");
    let r = server.request("GET", &format!("/trails/{arn}"), Some(&vic), None);
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(r.body.contains("data-testid=\"integrity-day\""), "{}", r.body);
    assert_eq!(r.body.matches("data-testid=\"integrity-problem\"").count(), 5);
    for key in [&g.0, &f.0, &e.0, &digests[1], &digests[3]] {
        assert!(r.body.contains(&at(key)), "{key} on the page");
    }
    let r = server.request("GET", &format!("/trails/{arn}?from=2020-01-01&to=2020-01-02"), Some(&vic), None);
    assert!(r.body.contains("data-testid=\"integrity-empty\""), "{}", r.body);
}
