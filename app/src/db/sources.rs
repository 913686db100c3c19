//! Sync sources and how their passes went, for the sources pages and `/metrics`.

use crate::model::{
    CheckRun, FeedStatus, RegionProgress, SourceDetail, SourceSettings, SourceSummary, SyncProblem,
    TrailSummary,
};
use serde_json::Value;
use sqlx::SqlitePool;
use std::collections::BTreeMap;

/// What the ledger says about the LookupEvents feed in one Region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The latest window asked for, `(start, end)` in ms.
    pub window: Option<(i64, i64)>,
    /// The oldest event time committed in that window.
    pub reached: Option<i64>,
    pub done: bool,
    /// Whether some window was read to its start (the bootstrap is over).
    pub bootstrapped: bool,
}

impl Progress {
    /// The share of the latest window read, 0 to 1.
    pub fn fraction(&self) -> f64 {
        match (self.window, self.reached, self.done) {
            (_, _, true) => 1.0,
            (Some((s, e)), Some(r), _) if e > s => {
                ((e - r) as f64 / (e - s) as f64).clamp(0.0, 1.0)
            }
            _ => 0.0,
        }
    }
}

/// Reads the ledger rows of one Region: `<region>/<start>-<end>/<oldest ms>`, and
/// `<region>/<start>-<end>/done` once a window is read to its start.
pub fn progress_of(paths: &[String]) -> Progress {
    let mut windows: BTreeMap<(i64, i64), (Option<i64>, bool)> = BTreeMap::new();
    for p in paths {
        let mut parts = p.split('/').skip(1);
        let (Some(w), Some(last)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some((s, e)) = w.split_once('-') else {
            continue;
        };
        let (Ok(s), Ok(e)) = (s.parse::<i64>(), e.parse::<i64>()) else {
            continue;
        };
        let entry = windows.entry((e, s)).or_default();
        if last == "done" {
            entry.1 = true;
        } else if let Ok(t) = last.parse::<i64>() {
            entry.0 = Some(entry.0.map_or(t, |r: i64| r.min(t)));
        }
    }
    let bootstrapped = windows.values().any(|(_, done)| *done);
    match windows.into_iter().next_back() {
        Some(((e, s), (reached, done))) => Progress {
            window: Some((s, e)),
            reached,
            done,
            bootstrapped,
        },
        None => Progress::default(),
    }
}

/// The ledger's name for the LookupEvents pages of `source`.
pub fn lookup_ledger(source: &str) -> String {
    format!("lookup://{source}")
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    id: i64,
    name: String,
    bucket: Option<String>,
    prefix: String,
    org_id: Option<String>,
    queue_url: Option<String>,
    lookup_events: bool,
    regions: String,
    profile: Option<String>,
    role_arn: Option<String>,
    has_external_id: bool,
    session_name: Option<String>,
    endpoint_url: Option<String>,
    backfill_days: i64,
    paused: bool,
    created_at: i64,
    updated_at: i64,
}

impl From<SettingsRow> for SourceSettings {
    fn from(r: SettingsRow) -> Self {
        SourceSettings {
            regions: serde_json::from_str(&r.regions).unwrap_or_default(),
            name: r.name,
            bucket: r.bucket,
            prefix: r.prefix,
            org_id: r.org_id,
            queue_url: r.queue_url,
            lookup_events: r.lookup_events,
            profile: r.profile,
            role_arn: r.role_arn,
            has_external_id: r.has_external_id,
            session_name: r.session_name,
            endpoint_url: r.endpoint_url,
            backfill_days: r.backfill_days,
            paused: r.paused,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const SETTINGS: &str = "SELECT id, name, bucket, prefix, org_id, queue_url, lookup_events, regions,
    profile, role_arn, external_id IS NOT NULL AS has_external_id, session_name, endpoint_url,
    backfill_days, paused, created_at, updated_at FROM sources";

/// How bad a pass state is, for the worst of several.
fn rank(state: &str) -> u8 {
    match state {
        "running" => 4,
        "failed" => 3,
        "partial" => 2,
        "ok" => 1,
        _ => 0,
    }
}

/// Every feed's status: its latest pass, its last success, totals.
pub async fn feeds(pool: &SqlitePool, source_id: i64) -> Result<Vec<FeedStatus>, sqlx::Error> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        String,
        String,
        i64,
        Option<i64>,
        Option<i64>,
        i64,
        i64,
        i64,
        i64,
        Option<String>,
        Option<i64>,
        i64,
        i64,
        i64,
        Option<i64>,
    )> = sqlx::query_as(
        "SELECT r.feed, r.state, r.started_at, r.finished_at, r.newest_ms, r.found, r.files,
                r.events_new, r.events_duplicate, r.error,
                (SELECT max(finished_at) FROM sync_runs
                  WHERE source_id = r.source_id AND feed = r.feed AND state IN ('ok', 'partial')),
                t.files, t.events, t.passes, t.newest
         FROM sync_runs r
         JOIN (SELECT feed, max(id) AS id, sum(files) AS files, sum(events_new) AS events,
                      count(*) AS passes, max(newest_ms) AS newest
               FROM sync_runs WHERE source_id = ?1 GROUP BY feed) t ON t.id = r.id
         ORDER BY CASE r.feed WHEN 'bucket' THEN 1 WHEN 'queue' THEN 2 WHEN 'lookup' THEN 3
                  ELSE 4 END",
    )
    .bind(source_id)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let running_files = if r.1 == "running" {
            Some((running_files(pool, source_id, &r.0, r.2).await?, r.5))
        } else {
            None
        };
        out.push(FeedStatus {
            feed: r.0,
            state: r.1,
            last_started_at: r.2,
            last_finished_at: r.3,
            newest_ms: r.14.or(r.4),
            found_last: r.5,
            files_last: r.6,
            events_last: r.7,
            duplicates_last: r.8,
            error: r.9,
            last_success_at: r.10,
            files_total: r.11,
            events_total: r.12,
            passes: r.13,
            running_files,
        });
    }
    Ok(out)
}

/// Files a running pass has committed so far.
async fn running_files(
    pool: &SqlitePool,
    source_id: i64,
    feed: &str,
    since: i64,
) -> Result<i64, sqlx::Error> {
    let (bucket, name): (Option<String>, String) =
        sqlx::query_as("SELECT bucket, name FROM sources WHERE id = ?1")
            .bind(source_id)
            .fetch_one(pool)
            .await?;
    let ledger = match (feed, bucket) {
        ("bucket", Some(b)) => format!("s3://{b}"),
        ("lookup", _) => lookup_ledger(&name),
        _ => return Ok(0),
    };
    sqlx::query_scalar("SELECT count(*) FROM ingest_files WHERE source = ?1 AND imported_at >= ?2")
        .bind(ledger)
        .bind(since)
        .fetch_one(pool)
        .await
}

/// Every source with the state of its latest passes.
pub async fn summaries(pool: &SqlitePool) -> Result<Vec<SourceSummary>, sqlx::Error> {
    let rows: Vec<SettingsRow> = sqlx::query_as(&format!("{SETTINGS} ORDER BY name"))
        .fetch_all(pool)
        .await?;
    let day_ago = chrono::Utc::now().timestamp_millis() - 86_400_000;
    let mut out = Vec::new();
    for row in rows {
        let id = row.id;
        let settings = SourceSettings::from(row);
        let feeds = feeds(pool, id).await?;
        let problems_24h: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sync_errors WHERE source_id = ?1 AND at >= ?2",
        )
        .bind(id)
        .bind(day_ago)
        .fetch_one(pool)
        .await?;
        out.push(SourceSummary {
            feeds: settings.feeds(),
            regions: settings.regions.clone(),
            paused: settings.paused,
            state: feeds
                .iter()
                .filter(|f| f.feed != "inventory")
                .max_by_key(|f| rank(&f.state))
                .map(|f| f.state.clone()),
            last_pass_at: feeds.iter().map(|f| f.last_started_at).max(),
            last_success_at: feeds
                .iter()
                .filter(|f| f.feed != "inventory")
                .filter_map(|f| f.last_success_at)
                .max(),
            newest_ms: feeds.iter().filter_map(|f| f.newest_ms).max(),
            events_total: feeds.iter().map(|f| f.events_total).sum(),
            problems_24h,
            name: settings.name,
        });
    }
    Ok(out)
}

/// Everything the page of one source shows; `None` when there is no such source.
pub async fn detail(pool: &SqlitePool, name: &str) -> Result<Option<SourceDetail>, sqlx::Error> {
    let Some(id) = sqlx::query_scalar::<_, i64>("SELECT id FROM sources WHERE name = ?1")
        .bind(name)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let settings: SourceSettings =
        sqlx::query_as::<_, SettingsRow>(&format!("{SETTINGS} WHERE id = ?1"))
            .bind(id)
            .fetch_one(pool)
            .await?
            .into();
    let feeds = feeds(pool, id).await?;
    let problems = sqlx::query_as::<_, (i64, String, String, String)>(
        "SELECT at, feed, what, error FROM sync_errors WHERE source_id = ?1
         ORDER BY id DESC LIMIT 20",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(at, feed, what, error)| SyncProblem {
        at,
        feed,
        what,
        error,
    })
    .collect();
    let check = sqlx::query_as::<_, (i64, Option<String>, String)>(
        "SELECT at, by_user, lines FROM source_checks WHERE source_id = ?1
         ORDER BY id DESC LIMIT 1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .map(|(at, by, lines)| CheckRun {
        at,
        by,
        lines: serde_json::from_str(&lines).unwrap_or_default(),
    });
    let lookup = if settings.lookup_events {
        lookup_progress(pool, &settings.name).await?
    } else {
        Vec::new()
    };
    let trails = trails(pool, id).await?;
    Ok(Some(SourceDetail {
        now_ms: chrono::Utc::now().timestamp_millis(),
        settings,
        feeds,
        lookup,
        problems,
        check,
        trails,
    }))
}

/// The bootstrap's progress in each Region it has started.
pub async fn lookup_progress(
    pool: &SqlitePool,
    source: &str,
) -> Result<Vec<RegionProgress>, sqlx::Error> {
    let paths: Vec<String> =
        sqlx::query_scalar("SELECT path FROM ingest_files WHERE source = ?1 ORDER BY path")
            .bind(lookup_ledger(source))
            .fetch_all(pool)
            .await?;
    let mut by_region: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in paths {
        if let Some((region, _)) = p.split_once('/') {
            by_region.entry(region.to_owned()).or_default().push(p);
        }
    }
    Ok(by_region
        .into_iter()
        .map(|(region, paths)| {
            let p = progress_of(&paths);
            RegionProgress {
                region,
                reached_ms: p.reached,
                start_ms: p.window.map_or(0, |w| w.0),
                done: p.done || p.bootstrapped,
                fraction: if p.bootstrapped { 1.0 } else { p.fraction() },
            }
        })
        .collect())
}

/// The latest snapshot of every trail the source's Regions showed.
async fn trails(pool: &SqlitePool, source_id: i64) -> Result<Vec<TrailSummary>, sqlx::Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_read_from_the_ledger_rows() {
        assert_eq!(progress_of(&[]), Progress::default());
        let rows = [
            "us-east-1/100-900/700".to_owned(),
            "us-east-1/100-900/500".to_owned(),
            "us-east-1/100-900/done".to_owned(),
            "us-east-1/880-2000/1500".to_owned(),
            "us-east-1/880-2000/1200".to_owned(),
            "us-east-1/bad/row".to_owned(),
        ];
        let p = progress_of(&rows);
        assert_eq!(p.window, Some((880, 2000)));
        assert_eq!(p.reached, Some(1200));
        assert!(!p.done && p.bootstrapped);
        assert!((p.fraction() - 800.0 / 1120.0).abs() < 1e-9);
    }
}
