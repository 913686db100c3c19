//! The `sources` table and its passes' tables (`sync_runs`, `sync_errors`,
//! `source_checks`): every read and write, for the sources pages, `/metrics`, the
//! command line and the sync. The rules on what a source may be are the server's
//! (`sync::sources`).

use crate::model::{
    CheckRun, FeedStatus, SourceDetail, SourceSettings, SourceSummary, SyncProblem,
};

use super::ledger;
use sqlx::{SqliteConnection, SqlitePool};

/// A stored source: the settings the pages show, with its id.
pub type SourceRow = SourceSettings;

/// `SELECT` of every column of a source row, then `$tail`.
macro_rules! source_rows {
    ($tail:literal) => {
        concat!(
            "SELECT id, name, bucket, prefix, org_id, queue_url, lookup_events, regions,
                profile, role_arn, external_id IS NOT NULL AS has_external_id, session_name,
                endpoint_url, backfill_days, retain_days, paused, created_at, updated_at FROM sources",
            $tail
        )
    };
}

/// Every source, by name.
pub async fn rows(pool: &SqlitePool) -> Result<Vec<SourceRow>, sqlx::Error> {
    sqlx::query_as(source_rows!(" ORDER BY name"))
        .fetch_all(pool)
        .await
}

/// The source named `name`.
pub async fn row(pool: &SqlitePool, name: &str) -> Result<Option<SourceRow>, sqlx::Error> {
    sqlx::query_as(source_rows!(" WHERE name = ?1"))
        .bind(name)
        .fetch_optional(pool)
        .await
}

/// The sealed external ID of a source, as stored.
pub async fn sealed_external_id(
    pool: &SqlitePool,
    id: i64,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar("SELECT external_id FROM sources WHERE id = ?1")
        .bind(id)
        .fetch_one(pool)
        .await
}

/// A source's settings as they are written (validated by the server first).
#[derive(Debug, Clone, Copy)]
pub struct NewSettings<'a> {
    pub name: &'a str,
    pub bucket: Option<&'a str>,
    pub prefix: &'a str,
    pub org_id: Option<&'a str>,
    pub queue_url: Option<&'a str>,
    pub lookup_events: bool,
    pub regions: &'a [String],
    pub profile: Option<&'a str>,
    pub role_arn: Option<&'a str>,
    /// Sealed; `None` keeps none on insert, and on update see `keep_external_id`.
    pub external_id: Option<&'a [u8]>,
    pub session_name: Option<&'a str>,
    pub endpoint_url: Option<&'a str>,
    pub backfill_days: i64,
    /// `None`: the server's `--retain-days`.
    pub retain_days: Option<i64>,
}

fn regions_json(regions: &[String]) -> String {
    serde_json::to_string(regions).unwrap_or_else(|_| "[]".into())
}

/// Adds a source; its id. A taken name is a unique violation, for the caller to say.
pub async fn insert(
    conn: &mut SqliteConnection,
    s: &NewSettings<'_>,
    at: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO sources (name, bucket, prefix, org_id, queue_url, lookup_events, regions,
             profile, role_arn, external_id, session_name, endpoint_url, backfill_days,
             created_at, updated_at, retain_days)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?15)
         RETURNING id",
    )
    .bind(s.name)
    .bind(s.bucket)
    .bind(s.prefix)
    .bind(s.org_id)
    .bind(s.queue_url)
    .bind(s.lookup_events)
    .bind(regions_json(s.regions))
    .bind(s.profile)
    .bind(s.role_arn)
    .bind(s.external_id)
    .bind(s.session_name)
    .bind(s.endpoint_url)
    .bind(s.backfill_days)
    .bind(at)
    .bind(s.retain_days)
    .fetch_one(conn)
    .await
}

/// Replaces the settings of source `id` (the sealed external ID is kept as stored when
/// `keep_external_id`).
pub async fn write_settings(
    conn: &mut SqliteConnection,
    id: i64,
    s: &NewSettings<'_>,
    keep_external_id: bool,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sources SET name = ?2, bucket = ?3, prefix = ?4, org_id = ?5, queue_url = ?6,
             lookup_events = ?7, regions = ?8, profile = ?9, role_arn = ?10,
             external_id = CASE WHEN ?11 THEN external_id ELSE ?12 END, session_name = ?13,
             endpoint_url = ?14, backfill_days = ?15, updated_at = ?16, retain_days = ?17
         WHERE id = ?1",
    )
    .bind(id)
    .bind(s.name)
    .bind(s.bucket)
    .bind(s.prefix)
    .bind(s.org_id)
    .bind(s.queue_url)
    .bind(s.lookup_events)
    .bind(regions_json(s.regions))
    .bind(s.profile)
    .bind(s.role_arn)
    .bind(keep_external_id)
    .bind(s.external_id)
    .bind(s.session_name)
    .bind(s.endpoint_url)
    .bind(s.backfill_days)
    .bind(at)
    .bind(s.retain_days)
    .execute(conn)
    .await?;
    Ok(())
}

/// Pauses or resumes; the number of sources changed.
pub async fn write_paused(
    conn: &mut SqliteConnection,
    name: &str,
    paused: bool,
    at: i64,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("UPDATE sources SET paused = ?2, updated_at = ?3 WHERE name = ?1")
            .bind(name)
            .bind(paused)
            .bind(at)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// Removes a source (its passes, problems and checks go with it); the number removed.
pub async fn delete(conn: &mut SqliteConnection, name: &str) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM sources WHERE name = ?1")
        .bind(name)
        .execute(conn)
        .await?
        .rows_affected())
}

/// The state, end and error of a source's latest pass, any feed.
pub async fn last_pass(
    pool: &SqlitePool,
    source_id: i64,
) -> Result<Option<(String, Option<i64>, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT state, finished_at, error FROM sync_runs WHERE source_id = ?1
         ORDER BY id DESC LIMIT 1",
    )
    .bind(source_id)
    .fetch_optional(pool)
    .await
}

/// Keeps the outcome of a reachability check (`lines`, as JSON).
pub async fn insert_check(
    conn: &mut SqliteConnection,
    source_id: i64,
    by: &str,
    lines: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO source_checks (source_id, at, by_user, lines) VALUES (?1, ?2, ?3, ?4)",
    )
    .bind(source_id)
    .bind(at)
    .bind(by)
    .bind(lines)
    .execute(conn)
    .await?;
    Ok(())
}

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
        ("bucket", Some(b)) => ledger::bucket_name(&b),
        ("lookup", _) => ledger::lookup_name(&name),
        _ => return Ok(0),
    };
    ledger::files_since(pool, &ledger, since).await
}

/// Every source with the state of its latest passes.
pub async fn summaries(pool: &SqlitePool) -> Result<Vec<SourceSummary>, sqlx::Error> {
    let rows = rows(pool).await?;
    let day_ago = chrono::Utc::now().timestamp_millis() - 86_400_000;
    let mut out = Vec::new();
    for row in rows {
        let id = row.id;
        let settings = row;
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
    let Some(row) = row(pool, name).await? else {
        return Ok(None);
    };
    let id = row.id;
    let settings = row;
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
        ledger::lookup_progress(pool, &settings.name).await?
    } else {
        Vec::new()
    };
    let trails = super::trails::latest_of_source(pool, id).await?;
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

/// Marks the passes a stopped process left `running` as failed; how many.
pub async fn close_interrupted(pool: &SqlitePool) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE sync_runs SET state = 'failed', finished_at = started_at,
             error = 'interrupted: the process running it stopped'
         WHERE state = 'running'",
    )
    .execute(pool)
    .await?
    .rows_affected())
}

/// How many files the running pass of a feed has found so far.
pub async fn write_found(
    pool: &SqlitePool,
    source_id: i64,
    feed: &str,
    found: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sync_runs SET found = ?3 WHERE id = (
             SELECT max(id) FROM sync_runs WHERE source_id = ?1 AND feed = ?2)
         AND state = 'running'",
    )
    .bind(source_id)
    .bind(feed)
    .bind(found)
    .execute(pool)
    .await?;
    Ok(())
}

/// When the latest pass of a feed started.
pub async fn last_started(
    pool: &SqlitePool,
    source_id: i64,
    feed: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT max(started_at) FROM sync_runs WHERE source_id = ?1 AND feed = ?2")
        .bind(source_id)
        .bind(feed)
        .fetch_one(pool)
        .await
}

/// A pass starts: its `running` row; its id.
pub async fn insert_run(
    pool: &SqlitePool,
    source_id: i64,
    feed: &str,
    started: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO sync_runs (source_id, feed, started_at, state) VALUES (?1, ?2, ?3, 'running')
         RETURNING id",
    )
    .bind(source_id)
    .bind(feed)
    .bind(started)
    .fetch_one(pool)
    .await
}

/// How a pass ended.
#[derive(Debug, Clone, Copy)]
pub struct RunOutcome<'a> {
    pub finished: i64,
    pub state: &'a str,
    pub found: i64,
    pub files: i64,
    pub files_rejected: i64,
    pub events_new: i64,
    pub events_duplicate: i64,
    pub newest_ms: Option<i64>,
    pub error: Option<&'a str>,
}

pub async fn write_outcome(
    conn: &mut SqliteConnection,
    run_id: i64,
    o: &RunOutcome<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sync_runs SET finished_at = ?2, state = ?3, found = ?4, files = ?5,
             files_rejected = ?6, events_new = ?7, events_duplicate = ?8, newest_ms = ?9, error = ?10
         WHERE id = ?1",
    )
    .bind(run_id)
    .bind(o.finished)
    .bind(o.state)
    .bind(o.found)
    .bind(o.files)
    .bind(o.files_rejected)
    .bind(o.events_new)
    .bind(o.events_duplicate)
    .bind(o.newest_ms)
    .bind(o.error)
    .execute(conn)
    .await?;
    Ok(())
}

/// One problem of a pass: what (a file, a folder, the feed) and why.
pub async fn insert_problem(
    conn: &mut SqliteConnection,
    (source_id, run_id, at): (i64, i64, i64),
    feed: &str,
    what: &str,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sync_errors (source_id, run_id, at, feed, what, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(source_id)
    .bind(run_id)
    .bind(at)
    .bind(feed)
    .bind(what)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Per source and feed, over every pass: source, feed, passes, files, files rejected,
/// events new, events already present, last success, last end, newest event, last state.
pub type FeedTotals = (
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    String,
);

/// Every feed's totals, for `/metrics`.
pub async fn feed_totals(pool: &SqlitePool) -> Result<Vec<FeedTotals>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.name, r.feed, count(*), sum(r.files), sum(r.files_rejected), sum(r.events_new),
                sum(r.events_duplicate),
                max(CASE WHEN r.state IN ('ok', 'partial') THEN r.finished_at END),
                max(r.finished_at),
                (SELECT max(x.newest_ms) FROM sync_runs x WHERE x.source_id = s.id AND x.feed = r.feed),
                (SELECT y.state FROM sync_runs y WHERE y.source_id = s.id AND y.feed = r.feed
                 ORDER BY y.id DESC LIMIT 1)
         FROM sync_runs r JOIN sources s ON s.id = r.source_id
         GROUP BY s.id, r.feed ORDER BY s.name, r.feed",
    )
    .fetch_all(pool)
    .await
}

/// Problems recorded per source, every source listed.
pub async fn problems_per_source(pool: &SqlitePool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.name, count(e.id) FROM sources s LEFT JOIN sync_errors e ON e.source_id = s.id
         GROUP BY s.id ORDER BY s.name",
    )
    .fetch_all(pool)
    .await
}

/// The accounts whose events a source with a retention period of its own brought in
/// (from the ledger: the accounts of the files it read from its bucket and prefix, and
/// of its LookupEvents pages), each with the longest such period.
pub async fn retained_accounts(pool: &SqlitePool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT f.account, max(s.retain_days) FROM sources s JOIN ingest_files f
           ON (s.bucket IS NOT NULL AND f.source = ?1 || s.bucket
               AND substr(f.path, 1, length(s.prefix)) = s.prefix)
           OR f.source = ?2 || s.name
         WHERE s.retain_days IS NOT NULL AND f.account IS NOT NULL
         GROUP BY f.account ORDER BY f.account",
    )
    .bind(ledger::bucket_name(""))
    .bind(ledger::lookup_name(""))
    .fetch_all(pool)
    .await
}

/// Each source with a retention period of its own: name and days.
pub async fn retention_periods(pool: &SqlitePool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT name, retain_days FROM sources WHERE retain_days IS NOT NULL ORDER BY name")
        .fetch_all(pool)
        .await
}
