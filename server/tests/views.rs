//! The investigation views' queries on a small fixture with known answers: the timeline
//! with filters, the principal page (with the chain behind a session), the resource
//! page, related events, and the summaries agreeing with a scan of the events.

mod common;

use app::db::{events, filter};
use app::model::ResolvedRange;
use app::pages::{principal, resource, timeline};
use app::query::{EventQuery, Field};
use app::schema::Dim;
use cairn::ingest;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

const ACCT: &str = "111122223333";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/bob";
const ROLE: &str = "arn:aws:iam::111122223333:role/AdminRole";
const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/AdminRole/alice-admin";
const BUCKET: &str = "arn:aws:s3:::prod-data";
/// 2024-03-01T00:00:00Z
const DAY: i64 = 1_709_251_200_000;

fn user(arn: &str, name: &str) -> Value {
    json!({"type": "IAMUser", "principalId": format!("AIDA{name}"), "arn": arn, "accountId": ACCT,
           "accessKeyId": format!("AKIA{}", name.to_uppercase()), "userName": name})
}

fn session() -> Value {
    json!({"type": "AssumedRole", "principalId": "AROAADMIN:alice-admin", "arn": SESSION,
           "accountId": ACCT, "accessKeyId": "ASIASESSION1",
           "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAADMIN",
               "arn": ROLE, "accountId": ACCT, "userName": "AdminRole"},
               "attributes": {"mfaAuthenticated": "true", "creationDate": "2024-03-01T10:01:00Z"}}})
}

#[allow(clippy::too_many_arguments)]
fn rec(
    n: u32,
    time: &str,
    who: Value,
    source: &str,
    name: &str,
    region: &str,
    ip: &str,
    read_only: bool,
    error: Option<&str>,
    params: Value,
    extra: Value,
) -> Value {
    let mut r = json!({
        "eventVersion": "1.09", "userIdentity": who, "eventTime": time,
        "eventSource": source, "eventName": name, "awsRegion": region,
        "sourceIPAddress": ip, "userAgent": "aws-cli/2.15.0",
        "requestParameters": params, "responseElements": null,
        "requestID": format!("req-{n}"), "eventID": format!("00000000-0000-4000-8000-{n:012}"),
        "readOnly": read_only, "eventType": "AwsApiCall", "managementEvent": true,
        "recipientAccountId": ACCT, "eventCategory": "Management"
    });
    if let Some(code) = error {
        r["errorCode"] = json!(code);
        r["errorMessage"] = json!(format!("{code} happened"));
    }
    if let (Some(o), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            o.insert(k.clone(), v.clone());
        }
    }
    r
}

fn fixture() -> Vec<Value> {
    vec![
        rec(
            1,
            "2024-03-01T10:00:00Z",
            user(ALICE, "alice"),
            "signin.amazonaws.com",
            "ConsoleLogin",
            "us-east-1",
            "198.51.100.7",
            false,
            None,
            json!(null),
            json!({"additionalEventData": {"MFAUsed": "Yes"}}),
        ),
        rec(
            2,
            "2024-03-01T10:01:00Z",
            user(ALICE, "alice"),
            "sts.amazonaws.com",
            "AssumeRole",
            "us-east-1",
            "198.51.100.7",
            true,
            None,
            json!({"roleArn": ROLE, "roleSessionName": "alice-admin"}),
            json!({"responseElements": {"credentials": {"accessKeyId": "ASIASESSION1"},
                   "assumedRoleUser": {"arn": SESSION}}}),
        ),
        rec(
            3,
            "2024-03-01T10:02:00Z",
            session(),
            "s3.amazonaws.com",
            "PutBucketPolicy",
            "us-east-1",
            "203.0.113.9",
            false,
            None,
            json!({"bucketName": "prod-data"}),
            json!({}),
        ),
        rec(
            4,
            "2024-03-01T10:03:00Z",
            session(),
            "s3.amazonaws.com",
            "GetObject",
            "us-east-1",
            "203.0.113.9",
            true,
            None,
            json!({"bucketName": "prod-data", "key": "secret/a.csv"}),
            json!({"eventCategory": "Data", "managementEvent": false, "requestID": "req-3"}),
        ),
        rec(
            5,
            "2024-03-01T10:04:00Z",
            user(BOB, "bob"),
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            "us-east-1",
            "192.0.2.5",
            true,
            Some("AccessDenied"),
            json!({"secretId": "prod/db"}),
            json!({"userAgent": "<script>alert(1)</script>"}),
        ),
        rec(
            6,
            "2024-03-01T10:05:00Z",
            user(BOB, "bob"),
            "s3.amazonaws.com",
            "ListBuckets",
            "us-east-1",
            "192.0.2.5",
            true,
            None,
            json!(null),
            json!({}),
        ),
        rec(
            7,
            "2024-03-01T11:30:00Z",
            user(ALICE, "alice"),
            "cloudtrail.amazonaws.com",
            "DeleteTrail",
            "eu-west-1",
            "198.51.100.7",
            false,
            Some("TrailNotFoundException"),
            json!({"name": "main"}),
            json!({}),
        ),
    ]
}

/// The fixture's seven events in a new store in `dir`.
async fn store(dir: &Path) -> sqlx::SqlitePool {
    let pool = common::store_of(dir, fixture()).await;
    assert_eq!(common::count(&pool, "SELECT count(*) FROM events").await, 7);
    pool
}

/// A database of `events` demo events over the three days that end at `DAY + 3 days`.
async fn demo_store(dir: &Path, events: u64, seed: u64) -> (sqlx::SqlitePool, i64) {
    let pool = cairn::db::connect(&dir.join("demo.db")).await.unwrap();
    let end = DAY + 3 * 86_400_000;
    let spec = cairn::demo::DemoSpec::new(events, 3, seed, end);
    let jobs = spec.jobs();
    ingest::run(
        &pool,
        Arc::new(cairn::demo::DemoSource(spec)),
        jobs,
        ingest::Options {
            threads: 2,
            progress: false,
        },
    )
    .await
    .unwrap();
    (pool, end)
}

/// "Now" for the views: the end of the fixture's day.
const NOW: i64 = DAY + 86_400_000 - 60_000;

async fn names(pool: &sqlx::SqlitePool, q: &str) -> Vec<String> {
    let t = timeline::timeline(pool, &EventQuery::parse(q), NOW)
        .await
        .unwrap();
    t.rows.into_iter().map(|r| r.name).collect()
}

#[tokio::test]
async fn search_index_backfill_covers_older_events() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = store(tmp.path()).await;
    let db = tmp.path().join("c.db");
    // Found only in additionalEventData, through the index.
    let q = "from=2024-03-01&to=2024-03-01&q=yes";
    assert_eq!(names(&pool, q).await, ["ConsoleLogin"]);
    // As if the events had been stored before the index existed.
    sqlx::query("INSERT INTO events_fts (events_fts) VALUES ('delete-all')")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE search_index SET pending_below = (SELECT max(id) + 1 FROM events)")
        .execute(&pool)
        .await
        .unwrap();
    assert!(names(&pool, q).await.is_empty());
    let t = timeline::timeline(&pool, &EventQuery::parse(q), NOW)
        .await
        .unwrap();
    assert!(t.store.search_pending_before_ms.is_some());
    assert_eq!(cairn::ingest::search_index::backfill(&db).unwrap(), 7);
    assert_eq!(names(&pool, q).await, ["ConsoleLogin"]);
    let t = timeline::timeline(&pool, &EventQuery::parse(q), NOW)
        .await
        .unwrap();
    assert_eq!(t.store.search_pending_before_ms, None);
    // Run again: nothing left to do.
    assert_eq!(cairn::ingest::search_index::backfill(&db).unwrap(), 0);
}

#[tokio::test]
async fn timeline_filters_select_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = store(tmp.path()).await;
    let all = "from=2024-03-01&to=2024-03-01";
    // Newest first; the whole day.
    assert_eq!(
        names(&pool, all).await,
        [
            "DeleteTrail",
            "ListBuckets",
            "GetSecretValue",
            "GetObject",
            "PutBucketPolicy",
            "AssumeRole",
            "ConsoleLogin"
        ]
    );
    assert_eq!(
        names(&pool, &format!("{all}&sort=oldest"))
            .await
            .first()
            .map(String::as_str),
        Some("ConsoleLogin")
    );
    let cases: &[(&str, &[&str])] = &[
        (
            "event=GetObject&event=ListBuckets",
            &["ListBuckets", "GetObject"],
        ),
        (
            "not_event=GetObject&not_event=ConsoleLogin&not_event=AssumeRole",
            &[
                "DeleteTrail",
                "ListBuckets",
                "GetSecretValue",
                "PutBucketPolicy",
            ],
        ),
        ("error=*", &["DeleteTrail", "GetSecretValue"]),
        ("not_error=*&principal=bob", &["ListBuckets"]),
        ("error=AccessDenied", &["GetSecretValue"]),
        (
            "access=write",
            &["DeleteTrail", "PutBucketPolicy", "ConsoleLogin"],
        ),
        (
            "access=read&source=s3.amazonaws.com",
            &["ListBuckets", "GetObject"],
        ),
        ("region=eu-west-1", &["DeleteTrail"]),
        ("ip=203.0.113.9", &["GetObject", "PutBucketPolicy"]),
        // A role covers its sessions; a user by ARN, key or name.
        (
            &*format!("principal={ROLE}"),
            &["GetObject", "PutBucketPolicy"],
        ),
        (
            &*format!("principal={ALICE}"),
            &["DeleteTrail", "AssumeRole", "ConsoleLogin"],
        ),
        (
            "not_principal=alice&not_principal=bob",
            &["GetObject", "PutBucketPolicy"],
        ),
        // Resources by ARN, by name, by type.
        (
            &*format!("resource={BUCKET}"),
            &["GetObject", "PutBucketPolicy"],
        ),
        ("resource=secret/a.csv", &["GetObject"]),
        ("resource=AWS::S3::Object", &["GetObject"]),
        (
            "not_resource=prod-data",
            &[
                "DeleteTrail",
                "ListBuckets",
                "GetSecretValue",
                "AssumeRole",
                "ConsoleLogin",
            ],
        ),
        ("access_key=ASIASESSION1", &["GetObject", "PutBucketPolicy"]),
        ("user_agent=<script>alert(1)</script>", &["GetSecretValue"]),
        ("account=111122223333&event=ListBuckets", &["ListBuckets"]),
        ("category=Data", &["GetObject"]),
        // Free text: in names, principals, resources, IPs, error messages.
        ("q=bucket", &["ListBuckets", "PutBucketPolicy"]),
        ("q=192.0.2", &["ListBuckets", "GetSecretValue"]),
        ("q=happened", &["DeleteTrail", "GetSecretValue"]),
        // LIKE wildcards in a word are plain characters.
        ("q=Delete%25Trail", &[]),
        ("q=Delete_rail", &[]),
        ("q=DeleteTrail", &["DeleteTrail"]),
        // Addresses match by whole parts, in order.
        (
            "q=198.51.100",
            &["DeleteTrail", "AssumeRole", "ConsoleLogin"],
        ),
        ("q=98.51", &[]),
        // Full text: request parameters and response elements, by words.
        ("q=prod/db", &["GetSecretValue"]),
        (
            "q=alice-admin",
            &["GetObject", "PutBucketPolicy", "AssumeRole"],
        ),
        (
            "q=ASIASESSION1",
            &["GetObject", "PutBucketPolicy", "AssumeRole"],
        ),
        ("q=secret/a.csv", &["GetObject"]),
        // Every word must match, each anywhere.
        ("q=prod+data", &["GetObject", "PutBucketPolicy"]),
        ("q=prod+happened", &["GetSecretValue"]),
        // A word's last token may be cut short.
        (
            "q=alice-adm",
            &["GetObject", "PutBucketPolicy", "AssumeRole"],
        ),
        // An eventID finds its event.
        (
            "q=00000000-0000-4000-8000-000000000005",
            &["GetSecretValue"],
        ),
        // Only punctuation: nothing to search for, nothing matches.
        ("q=%3A%3A", &[]),
        // A value that names nothing selects nothing; excluding it excludes nothing.
        ("event=NoSuchCall", &[]),
    ];
    for (f, want) in cases {
        assert_eq!(names(&pool, &format!("{all}&{f}")).await, *want, "{f}");
    }
    // Where a search matched is shown per row, by field.
    let t = timeline::timeline(
        &pool,
        &EventQuery::parse(&format!("{all}&q=ASIASESSION1")),
        NOW,
    )
    .await
    .unwrap();
    let fields: Vec<Vec<&str>> = t
        .rows
        .iter()
        .map(|r| r.matches.iter().map(|m| m.field.as_str()).collect())
        .collect();
    assert_eq!(
        fields,
        [
            vec!["userIdentity.accessKeyId"],
            vec!["userIdentity.accessKeyId"],
            vec!["responseElements.credentials.accessKeyId"],
        ]
    );
    assert_eq!(t.rows[2].matches[0].text, "ASIASESSION1");
    // Range: only the 11:00 hour.
    assert_eq!(
        names(&pool, "from=2024-03-01T11:00&to=2024-03-01T12:00").await,
        ["DeleteTrail"]
    );
}

#[tokio::test]
async fn timeline_figures_and_top_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = store(tmp.path()).await;
    let t = timeline::timeline(
        &pool,
        &EventQuery::parse("from=2024-03-01&to=2024-03-01"),
        NOW,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            t.kpis.events,
            t.kpis.errors,
            t.kpis.denied,
            t.kpis.writes,
            t.kpis.principals
        ),
        (7, 2, 1, 3, 3)
    );
    assert_eq!(t.compare_kpis.map(|k| k.events), Some(0));
    assert_eq!(t.buckets.iter().map(|b| b.events).sum::<i64>(), 7);
    // Ties in any order: sorted here by count, then value.
    let top = |f: Field| -> Vec<(String, i64)> {
        let mut v: Vec<(String, i64)> = t
            .top
            .iter()
            .find(|l| l.field == f)
            .unwrap()
            .rows
            .iter()
            .map(|r| (r.value.clone(), r.events))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    };
    assert_eq!(
        top(Field::Principal),
        [
            (ALICE.to_string(), 3),
            (BOB.to_string(), 2),
            (SESSION.to_string(), 2)
        ]
    );
    // Labels carry the account, so same-named users of two accounts stay apart.
    let p = t.top.iter().find(|l| l.field == Field::Principal).unwrap();
    assert_eq!(p.rows[0].label, "alice · 111122223333");
    assert_eq!(
        top(Field::Error),
        [
            ("AccessDenied".to_string(), 1),
            ("TrailNotFoundException".to_string(), 1)
        ]
    );
    // The timeline leaves single S3 objects out of its resource list.
    assert_eq!(top(Field::Resource)[0], (BUCKET.to_string(), 2));
    assert!(
        top(Field::Resource)
            .iter()
            .all(|(arn, _)| !arn.contains("secret/a.csv"))
    );
    assert_eq!(top(Field::Region)[0], ("us-east-1".to_string(), 6));
    // Filtered: figures of the selection only.
    let t = timeline::timeline(
        &pool,
        &EventQuery::parse("from=2024-03-01&to=2024-03-01&principal=bob"),
        NOW,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            t.kpis.events,
            t.kpis.errors,
            t.kpis.denied,
            t.kpis.principals
        ),
        (2, 1, 1, 1)
    );
}

/// The summaries and a scan of the events give the same figures for every range the
/// summaries answer: whole days, whole hours and ragged minutes, with and without the
/// read/write and error filters.
#[tokio::test]
async fn summaries_agree_with_scans() {
    let tmp = tempfile::tempdir().unwrap();
    let (pool, end) = demo_store(tmp.path(), 20_000, 7).await;
    let ranges = [
        (DAY, end),
        (DAY + 7 * 60_000, end - 13 * 60_000),
        (DAY + 86_400_000 + 3_600_000, DAY + 2 * 86_400_000),
        (
            DAY + 5 * 3_600_000 + 60_000,
            DAY + 5 * 3_600_000 + 50 * 60_000,
        ),
        (end - 86_400_000 - 23 * 60_000, end - 60_000),
        // Ends past the oldest and the newest event, moved out to whole hours.
        (DAY - 2 * 3_600_000 - 37 * 60_000, DAY + 5 * 3_600_000 + 13 * 60_000),
        (DAY + 86_400_000 + 7 * 60_000, end + 17 * 60_000),
        (DAY - 3 * 86_400_000 - 11 * 60_000, end + 86_400_000 + 29 * 60_000),
        (end + 7 * 60_000, end + 50 * 60_000),
    ];
    for (from_ms, to_ms) in ranges {
        for q in [
            "",
            "access=write",
            "access=read",
            "error=*",
            "not_error=*",
            "access=write&error=*",
        ] {
            let query = EventQuery::parse(q);
            let sel = filter::resolve(&pool, &query).await.unwrap();
            let mask = sel.rollup_mask().expect("the summaries answer this");
            let r = ResolvedRange::new(from_ms, to_ms);
            let b = app::query::bucket_for(to_ms - from_ms);
            let s = events::summary_facets(&pool, &sel, mask, &r, Some(b), 50)
                .await
                .unwrap();
            let x = events::scan_facets(&pool, &sel, &r, Some(b), (50, &Dim::ALL), false)
                .await
                .unwrap();
            assert_eq!(s.kpis, x.kpis, "{q} {from_ms}..{to_ms}");
            if q.is_empty() && from_ms < end {
                assert!(s.kpis.events > 0, "{from_ms}..{to_ms}");
            }
            assert_eq!(s.buckets, x.buckets, "{q} {from_ms}..{to_ms}");
            for dim in 0..10u8 {
                let a = s.top.get(&dim).cloned().unwrap_or_default();
                let c = x.top.get(&dim).cloned().unwrap_or_default();
                assert_eq!(a, c, "dim {dim} {q} {from_ms}..{to_ms}");
            }
        }
    }
    // Per principal (a role with its sessions, one session) and per resource.
    let role: String = sqlx::query_scalar(
        "SELECT p.key FROM principals p WHERE p.kind = 'Role'
         AND EXISTS (SELECT 1 FROM principals c WHERE c.parent_id = p.id)
         ORDER BY p.id LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let session: String = sqlx::query_scalar(
        "SELECT key FROM principals WHERE kind = 'AssumedRole' ORDER BY events DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let bucket: String = sqlx::query_scalar(
        "SELECT r.arn FROM resources r JOIN event_resources er ON er.resource_id = r.id
         WHERE r.type = 'AWS::S3::Bucket' GROUP BY r.id ORDER BY count(*) DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let scopes = [
        EventQuery::default().with_filter(Field::Principal, &role, false),
        EventQuery::default().with_filter(Field::Principal, &session, false),
        EventQuery::default().with_filter(Field::Resource, &bucket, false),
        EventQuery::default()
            .with_filter(Field::Resource, &bucket, false)
            .with_access(Some(app::query::Access::Write)),
        EventQuery::parse("error=*").with_filter(Field::Principal, &role, false),
    ];
    let ranges = [
        (DAY, end),
        (DAY + 7 * 60_000, end - 13 * 60_000),
        (DAY + 3 * 3_600_000 + 60_000, end - 5 * 3_600_000),
        (DAY + 5 * 3_600_000, DAY + 9 * 3_600_000),
        // Ends past the entity's first and last events, moved out to whole days.
        (DAY - 5 * 3_600_000 - 17 * 60_000, end + 2 * 3_600_000 + 3 * 60_000),
        (DAY + 2 * 86_400_000 + 5 * 3_600_000, end + 6 * 3_600_000),
    ];
    for query in &scopes {
        let sel = filter::resolve(&pool, query).await.unwrap();
        let (kind, ids, mask) = sel
            .entity_scope()
            .expect("the entity summaries answer this");
        for (from_ms, to_ms) in ranges {
            let r = ResolvedRange::new(from_ms, to_ms);
            let b = app::query::bucket_for(to_ms - from_ms);
            for objects in [false, true] {
                let what = format!("{} {from_ms}..{to_ms} objects={objects}", query.to_query());
                let s = events::entity_facets(
                    &pool,
                    &sel,
                    (kind, &ids, mask),
                    &r,
                    Some(b),
                    50,
                    objects,
                )
                .await
                .unwrap();
                let x = events::scan_facets(&pool, &sel, &r, Some(b), (50, &Dim::ALL), objects)
                    .await
                    .unwrap();
                if !what.contains("error") {
                    assert!(x.kpis.events > 0, "{what}");
                }
                assert_eq!(s.kpis, x.kpis, "{what}");
                assert_eq!(s.buckets, x.buckets, "{what}");
                for dim in 0..10u8 {
                    let a = s.top.get(&dim).cloned().unwrap_or_default();
                    let c = x.top.get(&dim).cloned().unwrap_or_default();
                    assert_eq!(a, c, "dim {dim} {what}");
                }
            }
        }
    }
    // The migration's backfill from stored events builds the same summaries as the
    // importer does.
    async fn entity_rows(
        pool: &sqlx::SqlitePool,
    ) -> (
        Vec<(i64, i64, i64, i64, i64)>,
        Vec<(i64, i64, i64, i64, i64, i64, i64)>,
    ) {
        (
            sqlx::query_as("SELECT * FROM entity_minute ORDER BY 1, 2, 3, 4")
                .fetch_all(pool)
                .await
                .unwrap(),
            sqlx::query_as("SELECT * FROM entity_day ORDER BY 1, 2, 3, 4, 5, 6")
                .fetch_all(pool)
                .await
                .unwrap(),
        )
    }
    let written = entity_rows(&pool).await;
    assert!(written.0.len() > 100 && written.1.len() > 1000);
    let migration = include_str!("../../migrations/20261202000005_entity_summaries.sql");
    let backfill = &migration[migration
        .find("-- Backfill from what is stored already.")
        .unwrap()..];
    sqlx::raw_sql("DELETE FROM entity_minute; DELETE FROM entity_day;")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::raw_sql(backfill).execute(&pool).await.unwrap();
    assert!(
        entity_rows(&pool).await == written,
        "backfill differs from the importer"
    );
    let (changes, writes): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM resource_changes),
                (SELECT count(*) FROM event_resources er JOIN events e ON e.id = er.event_id
                 WHERE e.read_only = 0)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(changes > 0);
    assert_eq!(changes, writes);
    // A single S3 object, an exclusion or a second filter is scanned instead.
    let object: String =
        sqlx::query_scalar("SELECT arn FROM resources WHERE type = 'AWS::S3::Object' LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    for q in [
        format!("resource={object}&resource={bucket}"),
        format!("not_principal={role}"),
        format!("principal={role}&event=GetObject"),
    ] {
        let sel = filter::resolve(&pool, &EventQuery::parse(&q))
            .await
            .unwrap();
        assert!(sel.entity_scope().is_none(), "{q}");
    }
}

#[tokio::test]
async fn principal_page_follows_a_session_back_to_its_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = store(tmp.path()).await;
    let all = EventQuery::parse("range=all");
    let v = principal::principal_view(&pool, SESSION, &all, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.card.kind, "AssumedRole");
    assert_eq!(v.card.parent.as_ref().map(|p| p.0.as_str()), Some(ROLE));
    assert_eq!(v.chain.len(), 1);
    assert_eq!(
        (
            v.chain[0].principal_key.as_str(),
            v.chain[0].event_name.as_str()
        ),
        (ALICE, "AssumeRole")
    );
    assert_eq!(v.chain[0].source_ip.as_deref(), Some("198.51.100.7"));
    assert_eq!(v.activity.kpis.events, 2);
    let names: Vec<&str> = v.activity.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["GetObject", "PutBucketPolicy"]);
    // Its resources include the object (the principal page counts single objects).
    let res = v
        .activity
        .top
        .iter()
        .find(|l| l.field == Field::Resource)
        .unwrap();
    let arns: Vec<&str> = res.rows.iter().map(|r| r.value.as_str()).collect();
    assert_eq!(arns, [BUCKET, "arn:aws:s3:::prod-data/secret/a.csv"]);

    // The role: its sessions, and all their events.
    let v = principal::principal_view(&pool, ROLE, &all, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        v.sessions
            .iter()
            .map(|s| s.key.as_str())
            .collect::<Vec<_>>(),
        [SESSION]
    );
    assert_eq!(v.activity.kpis.events, 2);

    // The person: console use with MFA, no chain.
    let v = principal::principal_view(&pool, ALICE, &all, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (v.card.console.succeeded, v.card.console.failed, v.card.console.last_ok_mfa),
        (1, 0, Some(true))
    );
    assert!(v.chain.is_empty());
    assert_eq!(v.activity.kpis.events, 3);
    let keys = v
        .activity
        .top
        .iter()
        .find(|l| l.field == Field::AccessKey)
        .unwrap();
    assert_eq!(keys.rows[0].value, "AKIAALICE");
    // Filters on the page narrow it further.
    let v = principal::principal_view(&pool, ALICE, &EventQuery::parse("range=all&error=*"), NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.activity.rows.len(), 1);

    assert!(
        principal::principal_view(&pool, "arn:aws:iam::1:user/nobody", &all, NOW)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn resource_page_lists_changes_and_who() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = store(tmp.path()).await;
    let v = resource::resource_view(&pool, BUCKET, &EventQuery::parse("range=all"), NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (v.card.kind.as_str(), v.card.name.as_str()),
        ("AWS::S3::Bucket", "prod-data")
    );
    assert_eq!(
        v.changes
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["PutBucketPolicy"]
    );
    assert_eq!(v.changes[0].source_ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(v.activity.kpis.events, 2);
    let who = v
        .activity
        .top
        .iter()
        .find(|l| l.field == Field::Principal)
        .unwrap();
    assert_eq!(
        who.rows
            .iter()
            .map(|r| (r.value.as_str(), r.events))
            .collect::<Vec<_>>(),
        [(SESSION, 2)]
    );
    // Related resources: the object, not the bucket itself.
    let rel = v
        .activity
        .top
        .iter()
        .find(|l| l.field == Field::Resource)
        .unwrap();
    assert_eq!(
        rel.rows
            .iter()
            .map(|r| r.value.as_str())
            .collect::<Vec<_>>(),
        ["arn:aws:s3:::prod-data/secret/a.csv"]
    );
    assert!(
        resource::resource_view(&pool, "arn:aws:s3:::nope", &EventQuery::default(), NOW)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_event_links_to_its_neighbours() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = store(tmp.path()).await;
    let t = timeline::timeline(
        &pool,
        &EventQuery::parse("from=2024-03-01&to=2024-03-01&event=PutBucketPolicy"),
        NOW,
    )
    .await
    .unwrap();
    let id = t.rows[0].id;
    let d = events::detail(&pool, id).await.unwrap().unwrap();
    let rel: Vec<(&str, &str)> = d
        .related
        .iter()
        .map(|r| (r.row.name.as_str(), r.why.as_str()))
        .collect();
    // GetObject shares the request ID and the session; the event itself is in its place.
    assert_eq!(
        rel,
        [("PutBucketPolicy", "this event"), ("GetObject", "same request")]
    );
    assert!(!d.related_capped);
    let d = events::detail(&pool, t.rows[0].id).await.unwrap().unwrap();
    assert_eq!(d.principal.key, SESSION);
    assert_eq!(
        d.issued_by.map(|i| i.event_name),
        Some("AssumeRole".to_string())
    );
}

#[tokio::test]
async fn figures_counted_newest_first_are_exact_for_what_they_cover() {
    let tmp = tempfile::tempdir().unwrap();
    let (pool, end) = demo_store(tmp.path(), 6_000, 11).await;
    let range = |from_ms, to_ms| ResolvedRange::new(from_ms, to_ms);
    // `ASIA` stands for more indexed tokens than are spelt out: left to FTS5 as a prefix.
    let keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events_fts_terms WHERE term >= 'asia' AND term < 'asib'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(keys > 64, "{keys}");
    let same = |a: &events::Facets, b: &events::Facets, what: &str| {
        assert_eq!(a.kpis, b.kpis, "{what}");
        assert_eq!(a.buckets, b.buckets, "{what}");
        for dim in Dim::ALL {
            let x = a.top.get(&(dim as u8)).cloned().unwrap_or_default();
            let y = b.top.get(&(dim as u8)).cloned().unwrap_or_default();
            assert_eq!(x, y, "{dim:?} {what}");
        }
    };
    for q in [
        "q=admin",
        "q=ReadOnlyAcc",
        "q=ASIA",
        "q=s3",
        "event=GetObject",
        "q=password&not_error=*",
    ] {
        let sel = filter::resolve(&pool, &EventQuery::parse(q)).await.unwrap();
        let r = range(DAY + 7 * 60_000, end - 13 * 60_000);
        let b = app::query::bucket_for(r.to_ms - r.from_ms);
        let whole = events::scan_facets(&pool, &sel, &r, Some(b), (50, &Dim::ALL), true)
            .await
            .unwrap();
        assert!(whole.kpis.events > 100, "{q}: {}", whole.kpis.events);
        // Walked in windows with room for everything: the same as one scan.
        let walked =
            events::newest_facets(&pool, &sel, &r, Some(b), (50, &Dim::ALL), true, i64::MAX)
                .await
                .unwrap();
        assert_eq!(walked.counted_from_ms, None, "{q}");
        same(&walked, &whole, q);
        // Stopped early: exact for the span it says it covers, and only that.
        let cap = whole.kpis.events / 3;
        let part = events::newest_facets(&pool, &sel, &r, Some(b), (50, &Dim::ALL), true, cap)
            .await
            .unwrap();
        let from = part.counted_from_ms.expect("stops short of the start");
        assert!(from > r.from_ms && from < r.to_ms, "{q}");
        assert!(
            part.kpis.events >= cap && part.kpis.events < whole.kpis.events,
            "{q}"
        );
        let mut covered = events::scan_facets(
            &pool,
            &sel,
            &range(from, r.to_ms),
            Some(b),
            (50, &Dim::ALL),
            true,
        )
        .await
        .unwrap();
        // The same buckets over the whole range, empty before `from`.
        let mut full = whole.buckets.clone();
        for slot in &mut full {
            slot.events = 0;
            slot.errors = 0;
            if let Some(c) = covered.buckets.iter().find(|c| c.start_ms == slot.start_ms) {
                *slot = c.clone();
            }
        }
        covered.buckets = full;
        same(&part, &covered, q);
        // Only the top lists asked for are made.
        let some = events::newest_facets(&pool, &sel, &r, None, (5, &[Dim::Name]), true, i64::MAX)
            .await
            .unwrap();
        assert_eq!(
            some.top.keys().copied().collect::<Vec<_>>(),
            [Dim::Name as u8],
            "{q}"
        );
        assert_eq!(some.kpis, whole.kpis, "{q}");
        // Every matching event is listed once, in order, page after page.
        for sort in [app::query::Sort::Newest, app::query::Sort::Oldest] {
            let mut seen: Vec<i64> = Vec::new();
            let mut cursor = None;
            loop {
                let (rows, next) = events::list(&pool, &sel, &r, sort, cursor, 50)
                    .await
                    .unwrap();
                seen.extend(rows.iter().map(|e| e.id));
                match next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            assert_eq!(seen.len() as i64, whole.kpis.events, "{q} {sort:?}");
            let ordered = match sort {
                app::query::Sort::Newest => seen.windows(2).all(|w| w[0] > w[1]),
                app::query::Sort::Oldest => seen.windows(2).all(|w| w[0] < w[1]),
                app::query::Sort::Column(..) => unreachable!("time orders only"),
            };
            assert!(ordered, "{q} {sort:?}");
        }
    }
}

/// The two aggregated events the CloudTrail user guide shows (API activity and resource
/// access, one window): each resource they count shows what they say about it.
#[tokio::test]
async fn aggregated_summaries_show_on_the_resources_they_count() {
    let window = json!({"windowStart": "2025-11-17T19:20:00Z", "windowEnd": "2025-11-17T19:25:00Z", "windowSize": "PT5M"});
    let stat = |n: &str, v: u64| json!({"name": n, "value": v});
    let agg = |id: &str, primary: Value, details: Value| {
        json!({"eventVersion": "1.0", "accountId": ACCT, "eventId": id, "eventCategory": "Aggregated",
            "eventType": "AwsAggregatedEvent", "awsRegion": "us-west-2", "eventSource": "s3.amazonaws.com",
            "timeWindow": window.clone(), "summary": {"primaryDimension": primary, "details": details}})
    };
    let records = vec![
        agg(
            "62759c1a-6248-48e1-a6b3-d5fb7e6c4bc0",
            json!({"dimension": "eventName", "statistics": [stat("PutObject", 1000)], "aggregationType": "Count"}),
            json!([{"dimension": "resourceARN", "statistics": [stat("arn:aws:s3:::bucket-1", 800),
                stat("arn:aws:s3:::bucket-2", 150), stat("arn:aws:s3:::bucket-3", 50)], "aggregationType": "Count"}]),
        ),
        agg(
            "2ed87efa-45c1-412d-bc38-7e0879faa6df",
            json!({"dimension": "resourceARN", "statistics": [stat("arn:aws:s3:::bucket-1", 800)], "aggregationType": "Count"}),
            json!([{"dimension": "eventName", "statistics": [stat("PutObject", 800)], "aggregationType": "Count"},
                   {"dimension": "userIdentity", "statistics": [stat("arn:aws:iam::111122223333:role/Writer", 800)], "aggregationType": "Count"}]),
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let pool = common::store_of(tmp.path(), records).await;
    let now = 1_764_000_000_000; // 2025-11-24
    let view = async |arn: &str| {
        resource::resource_view(&pool, arn, &EventQuery::parse("range=all"), now)
            .await
            .unwrap()
            .expect("the resource is known from the summaries")
    };
    let b1 = view("arn:aws:s3:::bucket-1").await;
    assert_eq!(b1.card.kind, "AWS::S3::Bucket");
    let mut seen: Vec<(String, i64, bool)> = b1
        .windows
        .iter()
        .map(|w| (w.template.clone(), w.about.count, w.about.only_this))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [("API activity".into(), 800, true), ("Resource access".into(), 800, true)]
    );
    let access = b1.windows.iter().find(|w| w.template == "Resource access").unwrap();
    assert_eq!(access.window_start, "2025-11-17T19:20:00Z");
    assert_eq!(
        access.about.by[1],
        ("userIdentity".into(), vec![("arn:aws:iam::111122223333:role/Writer".into(), 800)])
    );
    let b2 = view("arn:aws:s3:::bucket-2").await;
    assert_eq!(b2.windows.len(), 1);
    assert_eq!(b2.windows[0].about.count, 150);
    assert_eq!(b2.windows[0].about.by, vec![("eventName".into(), vec![("PutObject".into(), 1000)])]);
    // The event page shows the whole summary.
    let d = events::detail(&pool, b2.windows[0].event_id).await.unwrap().unwrap();
    let s = d.summary.expect("a summary");
    assert_eq!((s.primary.dimension.as_str(), s.details.len()), ("eventName", 1));
}

