//! What an analyst working an incident relies on: failed sign-ins counted as failures
//! (and stores made before that repaired), filters by address range, user agent part and
//! access key, the address and key pages, column order and page size, comparisons,
//! whole top lists, and related events that say when they are cut short.

mod common;

use common::{iso, store_of};
use app::db::{events, filter, terms};
use app::model::ResolvedRange;
use app::pages::{address, principal, timeline, top};
use app::query::{EventQuery, Field};
use serde_json::{Value, json};

const ACCT: &str = "111122223333";
/// 2021-07-28T10:00:00Z
const T0: i64 = 1_627_466_400_000;
const NOW: i64 = T0 + 86_400_000;

fn user(name: &str, key: &str) -> Value {
    json!({"type": "IAMUser", "principalId": format!("AIDA{name}"),
           "arn": format!("arn:aws:iam::{ACCT}:user/{name}"), "accountId": ACCT,
           "accessKeyId": key, "userName": name})
}

/// A record at `T0 + secs` seconds; `extra` is merged in last.
fn rec(n: u32, secs: i64, who: Value, name: &str, ip: &str, extra: Value) -> Value {
    let mut r = json!({
        "eventVersion": "1.09", "userIdentity": who, "eventTime": iso(T0 + secs * 1000),
        "eventSource": "iam.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": ip, "userAgent": "aws-cli/2.15.0 Python/3.11.6 command/iam.list-users",
        "requestID": format!("req-{n}"), "eventID": format!("00000000-0000-4000-8000-{n:012}"),
        "readOnly": true, "eventType": "AwsApiCall", "managementEvent": true,
        "recipientAccountId": ACCT, "eventCategory": "Management"
    });
    if let (Some(o), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            o.insert(k.clone(), v.clone());
        }
    }
    r
}

/// The incident: a user's key used from an outside address, a failed and a successful
/// console sign-in, a privilege escalation, a new key; plus a burst of forty calls.
fn incident() -> Vec<Value> {
    let alice = || user("alice", "AKIAALICEOLDKEY00001");
    let signin = |n, secs, extra: Value| {
        let mut r = rec(n, secs, user("alice", ""), "ConsoleLogin", "203.0.113.50", extra);
        r["eventSource"] = json!("signin.amazonaws.com");
        r["eventType"] = json!("AwsConsoleSignIn");
        r["readOnly"] = json!(false);
        r
    };
    let mut out = vec![
        signin(
            1,
            0,
            json!({"errorMessage": "Failed authentication",
                   "responseElements": {"ConsoleLogin": "Failure"},
                   "additionalEventData": {"MFAUsed": "No"}}),
        ),
        // Only the failure field, as some writers record it.
        signin(2, 30, json!({"responseElements": {"ConsoleLogin": "Failure"}})),
        signin(
            3,
            60,
            json!({"responseElements": {"ConsoleLogin": "Success"},
                   "additionalEventData": {"MFAUsed": "Yes"}}),
        ),
        rec(4, 120, alice(), "GetCallerIdentity", "198.51.100.23", json!({"eventSource": "sts.amazonaws.com"})),
        rec(
            5,
            180,
            alice(),
            "PutUserPolicy",
            "198.51.100.23",
            json!({"readOnly": false, "requestParameters": {"userName": "alice", "policyName": "pwn"},
                   "userAgent": "Boto3/1.28.0 Python/3.9 Linux/5.15 Botocore/1.31.0"}),
        ),
        rec(
            6,
            240,
            alice(),
            "CreateAccessKey",
            "198.51.100.23",
            json!({"readOnly": false, "requestParameters": {"userName": "alice"},
                   "responseElements": {"accessKey": {"accessKeyId": "AKIAALICENEWKEY00002",
                        "status": "Active", "userName": "alice"}}}),
        ),
        rec(
            7,
            300,
            user("alice", "AKIAALICENEWKEY00002"),
            "ListUsers",
            "198.51.100.99",
            json!({}),
        ),
        rec(8, 360, user("bob", "AKIABOBKEY0000000003"), "ListRoles", "10.1.2.3", json!({"errorCode": "AccessDenied", "errorMessage": "no"})),
    ];
    // Forty calls of bob within ten minutes: more related events than a page shows.
    for i in 0..40 {
        out.push(rec(100 + i, 400 + i as i64 * 5, user("bob", "AKIABOBKEY0000000003"), "GetUser", "10.1.2.3", json!({})));
    }
    // A week earlier, for comparisons.
    out.push(rec(200, -7 * 86_400 + 100, user("bob", "AKIABOBKEY0000000003"), "GetUser", "10.1.2.3", json!({})));
    out
}

async fn view(pool: &sqlx::SqlitePool, q: &str) -> app::model::Timeline {
    timeline::timeline(pool, &EventQuery::parse(q), NOW).await.unwrap()
}

async fn names(pool: &sqlx::SqlitePool, q: &str) -> Vec<String> {
    view(pool, q).await.rows.into_iter().map(|r| r.name).collect()
}

const DAY_Q: &str = "from=2021-07-28&to=2021-07-28";

#[tokio::test]
async fn failed_sign_ins_are_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = store_of(tmp.path(), incident()).await;
    // `error=*` finds both failed sign-ins (neither has an error code) and the refusal.
    let t = view(&pool, &format!("{DAY_Q}&error=*&sort=oldest")).await;
    let failed: Vec<(String, Option<String>)> =
        t.rows.iter().map(|r| (r.name.clone(), r.error.clone())).collect();
    assert_eq!(
        failed,
        [
            ("ConsoleLogin".to_string(), Some("Failed authentication".to_string())),
            ("ConsoleLogin".to_string(), Some("ConsoleLogin: Failure".to_string())),
            ("ListRoles".to_string(), Some("AccessDenied".to_string())),
        ]
    );
    assert_eq!(t.kpis.errors, 3);
    assert_eq!(t.kpis.denied, 1);
    // And the rest are the successes.
    let ok = view(&pool, &format!("{DAY_Q}&not_error=*&event=ConsoleLogin")).await;
    assert_eq!(ok.kpis.events, 1);
    // The error's own value filters, and is a row of the errors list.
    assert_eq!(
        names(&pool, &format!("{DAY_Q}&error=Failed+authentication")).await,
        ["ConsoleLogin"]
    );
    let all = view(&pool, DAY_Q).await;
    let errors = all.top.iter().find(|l| l.field == Field::Error).unwrap();
    let labels: Vec<&str> = errors.rows.iter().map(|r| r.label.as_str()).collect();
    assert!(labels.contains(&"Failed authentication"), "{labels:?}");
    assert!(labels.contains(&"ConsoleLogin: Failure"), "{labels:?}");
    // The summaries (unfiltered, error=*) agree with a scan of the events.
    for q in ["", "error=*", "not_error=*"] {
        let sel = filter::resolve(&pool, &EventQuery::parse(q)).await.unwrap();
        let r = ResolvedRange::new(T0 - 3_600_000, T0 + 3_600_000);
        let s = events::summary_facets(&pool, &sel, sel.rollup_mask().unwrap(), &r, None, 50)
            .await
            .unwrap();
        let x = events::scan_facets(&pool, &sel, &r, None, (50, &app::schema::Dim::ALL), false)
            .await
            .unwrap();
        assert_eq!(s.kpis, x.kpis, "{q}");
    }
    // The event page: failed, with the message, and the failure field when that is all.
    let id = t.rows[1].id;
    let d = events::detail(&pool, id).await.unwrap().unwrap();
    assert_eq!(d.error.as_deref(), Some("ConsoleLogin: Failure"));
    assert_eq!((d.error_code, d.error_message), (None, None));
    // The principal counts successful and failed sign-ins apart, with MFA or not.
    let v = principal::principal_view(
        &pool,
        &format!("arn:aws:iam::{ACCT}:user/alice"),
        &EventQuery::default(),
        NOW,
    )
    .await
    .unwrap()
    .unwrap();
    let c = v.card.console;
    assert_eq!((c.succeeded, c.with_mfa, c.failed, c.last_ok_mfa), (1, 1, 2, Some(true)));
    // Its page opened without a range shows its own active period, not an empty day.
    assert_eq!(v.activity.range.picked, Some(app::model::Picked::ActivePeriod));
    assert_eq!(v.activity.kpis.events, 7);
}

/// A store written before failures without an error code were counted (the state an
/// older version left), repaired when opened: the same tables as a fresh import.
#[tokio::test]
async fn older_stores_are_repaired_when_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let pool = store_of(tmp.path(), incident()).await;
    let tables = [
        "SELECT id, error_code_id FROM events ORDER BY id",
        "SELECT * FROM counts_minute ORDER BY 1, 2",
        "SELECT * FROM rollup_hour ORDER BY 1, 2, 3, 4",
        "SELECT * FROM rollup_day ORDER BY 1, 2, 3, 4",
        "SELECT * FROM entity_minute ORDER BY 1, 2, 3, 4",
        "SELECT * FROM entity_day ORDER BY 1, 2, 3, 4, 5, 6",
        "SELECT * FROM principal_console ORDER BY 1",
        "SELECT event_id FROM access_key_changes ORDER BY 1",
    ];
    async fn dump(pool: &sqlx::SqlitePool, sql: &str) -> Vec<Vec<Option<i64>>> {
        use sqlx::Row;
        sqlx::query(sql)
            .fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (0..r.len()).map(|i| r.get::<Option<i64>, _>(i)).collect())
            .collect()
    }
    let mut expected = Vec::new();
    for sql in tables {
        expected.push(dump(&pool, sql).await);
    }
    // What an older version stored: only error codes in the error column, summaries
    // counted from that, sign-ins counted whatever their outcome.
    sqlx::raw_sql(OLD_STATE).execute(&pool).await.unwrap();
    assert_eq!(
        view(&pool, &format!("{DAY_Q}&error=*")).await.kpis.events,
        1,
        "the old state counts only the refusal"
    );
    pool.close().await;
    let pool = cairn::db::connect(&db).await.unwrap();
    for (sql, want) in tables.iter().zip(&expected) {
        assert_eq!(&dump(&pool, sql).await, want, "{sql}");
    }
    // Once only.
    let fixes: Vec<String> = sqlx::query_scalar("SELECT name FROM store_fixes ORDER BY name")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(fixes, ["failures", "key-changes", "raw-blocks"]);
    assert_eq!(
        cairn::ingest::fixes::apply(&db).unwrap(),
        cairn::ingest::fixes::FixReport::default()
    );
}

/// The summaries as an older version computed them (error code only), from the events.
const OLD_STATE: &str = "
    UPDATE events SET error_code_id = NULL
        WHERE error_code_id IN (SELECT id FROM terms WHERE kind = 7);
    DELETE FROM counts_minute; DELETE FROM rollup_hour; DELETE FROM rollup_day;
    DELETE FROM entity_minute; DELETE FROM entity_day;
    CREATE TEMP TABLE ev AS
        SELECT e.id, e.event_time / 60000 AS minute, e.event_time / 3600000 AS hour,
               e.event_time / 86400000 AS day,
               coalesce(e.read_only = 0, 0) | ((e.error_code_id IS NOT NULL) << 1)
                 | (coalesce(ec.value GLOB 'AccessDenied*' OR ec.value GLOB '*UnauthorizedOperation', 0) << 2) AS flags,
               e.principal_id, e.name_id, e.source_id, e.resource_ids, e.source_ip_id,
               e.error_code_id, e.region_id, e.account_id, e.user_agent_id, e.access_key_id
        FROM events e LEFT JOIN terms ec ON ec.id = e.error_code_id;
    CREATE TEMP TABLE vals AS
        SELECT id, 0 AS dim, principal_id AS value FROM ev
        UNION ALL SELECT id, 1, name_id FROM ev
        UNION ALL SELECT id, 2, source_id FROM ev
        UNION ALL SELECT ev.id, CASE WHEN res.type = 'AWS::S3::Object' THEN 10 ELSE 3 END, r.value
            FROM ev, json_each(ev.resource_ids) r JOIN resources res ON res.id = r.value
        UNION ALL SELECT id, 4, source_ip_id FROM ev WHERE source_ip_id IS NOT NULL
        UNION ALL SELECT id, 5, error_code_id FROM ev WHERE error_code_id IS NOT NULL
        UNION ALL SELECT id, 6, region_id FROM ev WHERE region_id IS NOT NULL
        UNION ALL SELECT id, 7, account_id FROM ev
        UNION ALL SELECT id, 8, user_agent_id FROM ev WHERE user_agent_id IS NOT NULL
        UNION ALL SELECT id, 9, access_key_id FROM ev WHERE access_key_id IS NOT NULL;
    INSERT INTO counts_minute SELECT minute, flags, count(*) FROM ev GROUP BY 1, 2;
    INSERT INTO rollup_hour SELECT v.dim, ev.hour, ev.flags, v.value, count(*)
        FROM vals v JOIN ev ON ev.id = v.id WHERE v.dim <> 10
          AND NOT (v.dim = 9 AND v.value IN (SELECT id FROM terms WHERE kind = 10 AND value GLOB 'ASIA*'))
        GROUP BY 1, 2, 3, 4;
    INSERT INTO rollup_day SELECT dim, hour / 24, flags, value, sum(events)
        FROM rollup_hour GROUP BY 1, 2, 3, 4;
    CREATE TEMP TABLE ents AS
        SELECT id, 0 AS kind, principal_id AS entity FROM ev
        UNION ALL SELECT id, 1, value FROM vals WHERE dim = 3;
    INSERT INTO entity_minute SELECT n.kind, n.entity, ev.minute, ev.flags, count(*)
        FROM ents n JOIN ev ON ev.id = n.id GROUP BY 1, 2, 3, 4;
    INSERT INTO entity_day SELECT n.kind, n.entity, v.dim, ev.day, ev.flags, v.value, count(*)
        FROM ents n JOIN ev ON ev.id = n.id JOIN vals v ON v.id = n.id GROUP BY 1, 2, 3, 4, 5, 6;
    UPDATE principal_console SET failed = 0, mfa = 0, last_ok_event_id = NULL;
    DELETE FROM access_key_changes;
    DELETE FROM store_fixes;
";

#[tokio::test]
async fn addresses_agents_and_keys_filter_as_an_analyst_means() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = store_of(tmp.path(), incident()).await;
    // A range of addresses.
    assert_eq!(
        view(&pool, &format!("{DAY_Q}&ip=198.51.100.0/24")).await.kpis.events,
        4
    );
    assert_eq!(view(&pool, &format!("{DAY_Q}&ip=198.51.0.0/16&ip=10.1.2.3")).await.kpis.events, 45);
    assert_eq!(view(&pool, &format!("{DAY_Q}&not_ip=10.0.0.0/8")).await.kpis.events, 7);
    // Part of a user agent.
    assert_eq!(names(&pool, &format!("{DAY_Q}&user_agent=Boto3")).await, ["PutUserPolicy"]);
    // An access key in the principal filter finds whose it is: everything alice did.
    assert_eq!(
        view(&pool, &format!("{DAY_Q}&principal=AKIAALICENEWKEY00002")).await.kpis.events,
        7
    );
    // The key filter itself: only the events made with it.
    assert_eq!(
        names(&pool, &format!("{DAY_Q}&access_key=AKIAALICENEWKEY00002")).await,
        ["ListUsers"]
    );
    // The same while the full-text index is still being filled in (scanned instead).
    sqlx::query("UPDATE search_index SET pending_below = (SELECT max(id) + 1 FROM events)")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        view(&pool, &format!("{DAY_Q}&ip=198.51.100.0/24")).await.kpis.events,
        4
    );
    sqlx::query("UPDATE search_index SET pending_below = NULL")
        .execute(&pool)
        .await
        .unwrap();
    // An address's and a key's first and last use, and the key's own history.
    let (first, last) = terms::span(&pool, terms::Held::SourceIp, "198.51.100.23")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first, last), (T0 + 120_000, T0 + 240_000));
    assert_eq!(
        terms::span(&pool, terms::Held::SourceIp, "192.0.2.1").await.unwrap(),
        None
    );
    let life = terms::key_lifecycle(&pool, "AKIAALICENEWKEY00002", 10).await.unwrap();
    let life: Vec<&str> = life.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(life, ["CreateAccessKey"]);
    // The old key made that call, but nothing created it here: its history is empty.
    assert!(terms::key_lifecycle(&pool, "AKIAALICEOLDKEY00001", 10).await.unwrap().is_empty());
    let kept: Vec<String> = sqlx::query_scalar("SELECT access_key FROM access_key_changes")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(kept, ["AKIAALICENEWKEY00002"]);
    assert_eq!(address::describe_address("10.1.2.3"), "IPv4, private (RFC 1918)");
}

#[tokio::test]
async fn lists_sort_by_any_column_page_and_jump() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = store_of(tmp.path(), incident()).await;
    let by_ip = view(&pool, &format!("{DAY_Q}&sort=-ip")).await;
    let ips: Vec<String> = by_ip.rows.iter().filter_map(|r| r.source_ip.clone()).collect();
    let mut sorted = ips.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(ips, sorted);
    assert_eq!(ips[0], "203.0.113.50");
    // Column order pages by rows skipped.
    let by_event = view(&pool, &format!("{DAY_Q}&sort=event")).await;
    assert_eq!(by_event.rows.len(), 48);
    assert_eq!(by_event.next_cursor, None, "48 events fit in one page of 50");
    assert_eq!(by_event.rows[0].name, "ConsoleLogin");
    let small = view(&pool, &format!("{DAY_Q}&sort=event&rows=50&cursor=40")).await;
    assert_eq!(small.rows.len(), 8);
    // 200 a page.
    assert_eq!(view(&pool, &format!("{DAY_Q}&rows=200")).await.rows.len(), 48);
    // Jump to a time: newest first from 10:03 back.
    let at = view(&pool, &format!("{DAY_Q}&at=2021-07-28T10:03")).await;
    assert!(at.rows.iter().all(|r| r.time_ms < T0 + 4 * 60_000));
    assert_eq!(at.rows[0].name, "PutUserPolicy");
}

#[tokio::test]
async fn comparisons_say_what_they_compare_with() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = store_of(tmp.path(), incident()).await;
    let day = view(&pool, DAY_Q).await;
    let c = day.compare.clone().unwrap();
    assert_eq!((c.from_ms, c.to_ms), (T0 - 10 * 3_600_000 - 86_400_000, T0 - 10 * 3_600_000));
    assert_eq!(day.compare_kpis.map(|k| k.events), Some(0));
    let week = view(&pool, &format!("{DAY_Q}&compare=week")).await;
    assert_eq!(week.compare_kpis.map(|k| k.events), Some(1));
    assert_eq!(view(&pool, "range=all").await.compare, None, "all time compares with nothing");
    let chosen = view(&pool, &format!("{DAY_Q}&compare_from=2021-07-21&compare_to=2021-07-21")).await;
    assert_eq!(chosen.compare_kpis.map(|k| k.events), Some(1));
    // No range given, and nothing in the last 24 hours: the 24 hours up to the newest event.
    let picked = timeline::timeline(&pool, &EventQuery::default(), NOW + 30 * 86_400_000)
        .await
        .unwrap();
    assert_eq!(picked.range.picked, Some(app::model::Picked::LatestDay));
    assert_eq!(picked.kpis.events, 48);
}

#[tokio::test]
async fn whole_top_lists_and_related_events() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = store_of(tmp.path(), incident()).await;
    let day = view(&pool, DAY_Q).await;
    let ips = day.top.iter().find(|l| l.field == Field::SourceIp).unwrap();
    assert_eq!((ips.distinct, ips.exact), (4, true));
    let names = day.top.iter().find(|l| l.field == Field::Name).unwrap();
    assert_eq!((names.distinct, names.exact), (7, true));
    assert_eq!(names.rows.len(), 7);
    let agents = day.top.iter().find(|l| l.field == Field::UserAgent).unwrap();
    assert_eq!(agents.distinct, 2);
    let all = top::top_all_view(&pool, Field::Name, &EventQuery::parse(DAY_Q), top::By::Value, NOW)
        .await
        .unwrap()
        .unwrap();
    let labels: Vec<&str> = all.list.rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(
        labels,
        ["ConsoleLogin", "CreateAccessKey", "GetCallerIdentity", "GetUser", "ListRoles",
         "ListUsers", "PutUserPolicy"]
    );
    // Related events: cut at thirty, the event itself in its place.
    let t = view(&pool, &format!("{DAY_Q}&event=ListRoles")).await;
    let d = events::detail(&pool, t.rows[0].id).await.unwrap().unwrap();
    assert!(d.related_capped);
    assert_eq!(d.related.len(), app::model::RELATED_SHOWN as usize + 1);
    let me: Vec<&str> = d.related.iter().filter(|r| r.why == "this event").map(|r| r.row.name.as_str()).collect();
    assert_eq!(me, ["ListRoles"]);
    assert!(d.related.windows(2).all(|w| w[0].row.id < w[1].row.id));
}
