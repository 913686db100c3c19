//! The trail inventory (`trail_snapshots`): one row per trail per Region each time its
//! settings change, as the hourly inventory finds them. Every read and write.

use crate::model::TrailSummary;
use serde_json::Value;
use sqlx::{SqliteConnection, SqlitePool};

/// The latest snapshot of every trail one Region has shown: `(id, arn, config, gone)`.
pub async fn latest_in_region(
    conn: &mut SqliteConnection,
    source_id: i64,
    region: &str,
) -> Result<Vec<(i64, String, String, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id, s.trail_arn, s.config, s.gone FROM trail_snapshots s
         WHERE s.source_id = ?1 AND s.region = ?2 AND s.id = (
             SELECT max(id) FROM trail_snapshots
             WHERE source_id = s.source_id AND region = s.region AND trail_arn = s.trail_arn)",
    )
    .bind(source_id)
    .bind(region)
    .fetch_all(conn)
    .await
}

/// An unchanged trail seen again: when, and its status now.
pub async fn write_seen(
    conn: &mut SqliteConnection,
    id: i64,
    at: i64,
    status: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE trail_snapshots SET seen_at = ?2, status = ?3 WHERE id = ?1")
        .bind(id)
        .bind(at)
        .bind(status)
        .execute(conn)
        .await?;
    Ok(())
}

/// One new snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot<'a> {
    pub source_id: i64,
    pub region: &'a str,
    pub arn: &'a str,
    pub home_region: Option<&'a str>,
    pub config: &'a str,
    pub status: &'a str,
    pub gone: bool,
    pub at: i64,
}

pub async fn insert(conn: &mut SqliteConnection, s: &Snapshot<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO trail_snapshots
             (source_id, region, trail_arn, home_region, taken_at, seen_at, gone, config, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8)",
    )
    .bind(s.source_id)
    .bind(s.region)
    .bind(s.arn)
    .bind(s.home_region)
    .bind(s.at)
    .bind(s.gone)
    .bind(s.config)
    .bind(s.status)
    .execute(conn)
    .await?;
    Ok(())
}

/// The latest snapshot of every trail the source's Regions showed.
pub async fn latest_of_source(
    pool: &SqlitePool,
    source_id: i64,
) -> Result<Vec<TrailSummary>, sqlx::Error> {
    let rows: Vec<(
        String,
        String,
        Option<String>,
        bool,
        String,
        String,
        i64,
        i64,
    )> = sqlx::query_as(
        "SELECT s.region, s.trail_arn, s.home_region, s.gone, s.config, s.status, s.taken_at,
                    (SELECT count(*) FROM trail_snapshots
                      WHERE source_id = s.source_id AND region = s.region
                        AND trail_arn = s.trail_arn)
             FROM trail_snapshots s
             WHERE s.source_id = ?1 AND s.id = (
                 SELECT max(id) FROM trail_snapshots
                 WHERE source_id = s.source_id AND region = s.region AND trail_arn = s.trail_arn)
             ORDER BY s.trail_arn, s.region",
    )
    .bind(source_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(region, arn, home_region, gone, config, status, taken_at, n)| {
                let c: Value = serde_json::from_str(&config).unwrap_or(Value::Null);
                let s: Value = serde_json::from_str(&status).unwrap_or(Value::Null);
                let text = |v: &Value| v.as_str().map(str::to_owned);
                TrailSummary {
                    name: text(&c["name"]).unwrap_or_else(|| arn.clone()),
                    shadow: c["shadow"].as_bool().unwrap_or(false),
                    logging: c["logging"].as_bool(),
                    multi_region: c["multi_region"].as_bool().unwrap_or(false),
                    organization: c["organization"].as_bool().unwrap_or(false),
                    selectors: selectors_text(&c),
                    latest_delivery: s["latest_delivery"].as_i64(),
                    delivery_error: text(&c["delivery_error"]),
                    changed_at: taken_at,
                    changes: n - 1,
                    region,
                    arn,
                    home_region,
                    gone,
                }
            },
        )
        .collect())
}

/// A trail's selectors in a phrase: what it logs.
fn selectors_text(c: &Value) -> String {
    if c["shadow"].as_bool() == Some(true) {
        return "as in its home Region".into();
    }
    let advanced = c["advanced_event_selectors"].as_array().map_or(0, Vec::len);
    if advanced > 0 {
        return format!(
            "{advanced} advanced selector{}",
            if advanced == 1 { "" } else { "s" }
        );
    }
    let basic = c["event_selectors"].as_array().cloned().unwrap_or_default();
    let management = basic
        .iter()
        .any(|s| s["management_events"] != Value::Bool(false));
    let data: usize = basic
        .iter()
        .map(|s| s["data_resources"].as_array().map_or(0, Vec::len))
        .sum();
    match (management || basic.is_empty(), data) {
        (true, 0) => "management events".into(),
        (true, n) => format!("management events and data events ({n} resource types)"),
        (false, 0) => "nothing".into(),
        (false, n) => format!("data events only ({n} resource types)"),
    }
}

/// The latest snapshot of every trail in every source and Region, with the source's name
/// and how many snapshots that trail has there (changes + 1).
pub async fn latest_everywhere(pool: &SqlitePool) -> Result<Vec<crate::trails::Seen>, sqlx::Error> {
    type Row = (String, String, String, Option<String>, bool, String, String, i64, i64, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT src.name, s.region, s.trail_arn, s.home_region, s.gone, s.config, s.status,
                s.taken_at, s.seen_at,
                (SELECT count(*) FROM trail_snapshots
                  WHERE source_id = s.source_id AND region = s.region AND trail_arn = s.trail_arn)
         FROM trail_snapshots s JOIN sources src ON src.id = s.source_id
         WHERE s.id = (
             SELECT max(id) FROM trail_snapshots
             WHERE source_id = s.source_id AND region = s.region AND trail_arn = s.trail_arn)
         ORDER BY s.trail_arn, s.region",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(source, region, arn, home_region, gone, config, status, taken_at, seen_at, n)| {
                crate::trails::Seen {
                    source,
                    region,
                    arn,
                    home_region,
                    gone,
                    config: serde_json::from_str(&config).unwrap_or(Value::Null),
                    status: serde_json::from_str(&status).unwrap_or(Value::Null),
                    taken_at,
                    seen_at,
                    changes: n - 1,
                }
            },
        )
        .collect())
}

/// The organization IDs the sources name.
pub async fn organizations(pool: &SqlitePool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT org_id FROM sources WHERE org_id IS NOT NULL AND org_id != '' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
}

/// Every snapshot of one trail, from every source and Region, oldest first:
/// `(source, region, taken_at, seen_at, gone, config)`.
pub async fn snapshots_of(
    pool: &SqlitePool,
    arn: &str,
) -> Result<Vec<(String, String, i64, i64, bool, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT src.name, s.region, s.taken_at, s.seen_at, s.gone, s.config
         FROM trail_snapshots s JOIN sources src ON src.id = s.source_id
         WHERE s.trail_arn = ?1 ORDER BY s.id",
    )
    .bind(arn)
    .fetch_all(pool)
    .await
}

/// Every reading of every trail taken in the trail's own Region, oldest first:
/// `(arn, region, taken_at, gone, config)`.
pub async fn home_readings(
    pool: &SqlitePool,
) -> Result<Vec<(String, String, i64, bool, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT trail_arn, region, taken_at, gone, config FROM trail_snapshots
         WHERE json_extract(config, '$.shadow') IS NOT 1 ORDER BY id",
    )
    .fetch_all(pool)
    .await
}
