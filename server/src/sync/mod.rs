//! The sync engine: one pass over every feed of a source, recorded in `sync_runs`, with
//! what went wrong in `sync_errors`. `cairn serve` runs passes on a timer; `cairn sync
//! --once` runs one.

pub mod aws;
pub mod bucket;
pub mod check;
pub mod cli;
pub mod inventory;
pub mod lookup;
pub mod metrics;
pub mod queue;
pub mod secrets;
pub mod sources;
pub mod web;

use crate::ingest::{self, pipeline::ImportError};
use crate::sync::secrets::SecretBox;
use crate::sync::sources::{Source, SourceError};
use serde::Serialize;
use sqlx::SqlitePool;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{call} on {what}: {message}")]
    Aws {
        call: &'static str,
        what: String,
        message: String,
    },
    #[error("{0}")]
    Config(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Source(#[from] SourceError),
}

impl SyncError {
    pub fn aws(call: &'static str, what: &str, message: String) -> SyncError {
        SyncError::Aws {
            call,
            what: what.to_owned(),
            message,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub tuning: aws::Tuning,
    /// Decoder threads of the import.
    pub threads: usize,
    pub progress: bool,
    /// Seconds a receive waits on an empty queue before the pass ends.
    pub queue_wait_seconds: i32,
    /// How long the LookupEvents feed reads in one pass (`None`: until done).
    pub lookup_budget: Option<std::time::Duration>,
    /// The least time between two LookupEvents calls in one Region (the limit is 2/s).
    pub lookup_interval: std::time::Duration,
    /// How often the trail inventory is taken.
    pub inventory_every: std::time::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tuning: aws::Tuning::default(),
            threads: ingest::Options::default().threads,
            progress: false,
            queue_wait_seconds: 2,
            lookup_budget: Some(std::time::Duration::from_secs(240)),
            lookup_interval: std::time::Duration::from_millis(500),
            inventory_every: inventory::EVERY,
        }
    }
}

/// One thing that went wrong in a pass, while the rest went on.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    pub what: String,
    pub error: String,
}

/// What a pass of one feed did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PassReport {
    pub source: String,
    pub feed: &'static str,
    pub state: &'static str,
    /// Folders of delivered files looked at (bucket feed).
    pub folders: u64,
    /// Messages received, and those left on the queue to be tried again (queue feed).
    pub messages: u64,
    pub messages_kept: u64,
    /// New files found, and those read.
    pub found: u64,
    pub files: u64,
    pub files_rejected: u64,
    pub events_new: u64,
    pub events_duplicate: u64,
    pub records_rejected: u64,
    pub newest_ms: Option<i64>,
    pub problems: Vec<Problem>,
    /// Why the pass stopped, when it did.
    pub error: Option<String>,
}

/// The sources a pass is running for in this process: a timer's pass and "sync now"
/// never run one source twice at once.
static RUNNING: std::sync::Mutex<std::collections::BTreeSet<i64>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Holds a source's place in [`RUNNING`] until dropped.
pub struct Running(i64);

impl Running {
    /// `None` when a pass of the source is running already.
    pub fn claim(source_id: i64) -> Option<Running> {
        let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        running.insert(source_id).then_some(Running(source_id))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.0);
    }
}

/// Marks the passes a stopped process left `running` as failed. Called when a process
/// that runs passes on a timer starts.
pub async fn close_interrupted(pool: &SqlitePool) -> Result<u64, sqlx::Error> {
    app::db::sources::close_interrupted(pool).await
}

/// Records how many files a running pass found, for its progress.
async fn note_found(pool: &SqlitePool, source_id: i64, feed: &str, found: u64) {
    let r = app::db::sources::write_found(pool, source_id, feed, found as i64).await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "cannot record a pass's progress");
    }
}

/// Problems kept per pass.
const PROBLEMS_KEPT: usize = 100;

/// Runs one pass of every feed of `source` and records it.
pub async fn pass(
    pool: &SqlitePool,
    source: &Source,
    opts: &Options,
) -> Result<Vec<PassReport>, SyncError> {
    let mut out = Vec::new();
    if source.row.bucket.is_some() {
        out.push(recorded(pool, source, "bucket", bucket_pass(pool, source, opts)).await?);
        // After the import, so the files a digest lists are checked against what was read.
        out.push(
            recorded(
                pool,
                source,
                "integrity",
                crate::trails::verify::pass(pool, source, opts),
            )
            .await?,
        );
    }
    if source.row.queue_url.is_some() {
        out.push(recorded(pool, source, "queue", queue::pass(pool, source, opts)).await?);
    }
    if source.row.lookup_events {
        out.push(recorded(pool, source, "lookup", lookup::pass(pool, source, opts)).await?);
    }
    if inventory::due(pool, source.row.id, opts.inventory_every).await? {
        out.push(
            recorded(
                pool,
                source,
                "inventory",
                inventory::pass(pool, source, opts),
            )
            .await?,
        );
    }
    Ok(out)
}

/// Takes the inventory of `source` now (after a change made from the trail page), as
/// a recorded pass.
pub async fn inventory_now(pool: &SqlitePool, source: &Source) -> Result<PassReport, SyncError> {
    let opts = Options {
        tuning: check::tuning(),
        ..Options::default()
    };
    recorded(pool, source, "inventory", inventory::pass(pool, source, &opts)).await
}

/// Checks the integrity of the new digest files of `source`'s bucket now, as a
/// recorded pass (`cairn verify`).
pub async fn integrity_now(
    pool: &SqlitePool,
    source: &Source,
    opts: &Options,
) -> Result<PassReport, SyncError> {
    recorded(pool, source, "integrity", crate::trails::verify::pass(pool, source, opts)).await
}

/// Runs the feeds of every source that is not paused (or of the one named).
pub async fn pass_all(
    pool: &SqlitePool,
    secrets: &SecretBox,
    only: Option<&str>,
    opts: &Options,
) -> Result<Vec<PassReport>, SyncError> {
    let names: Vec<String> = match only {
        Some(n) => vec![sources::get(pool, n).await?.name],
        None => sources::list(pool)
            .await?
            .into_iter()
            .filter(|s| !s.paused)
            .map(|s| s.name)
            .collect(),
    };
    let mut out = Vec::new();
    for name in names {
        let source = sources::load(pool, secrets, &name).await?;
        let Some(_running) = Running::claim(source.row.id) else {
            tracing::info!(source = %name, "a pass of this source is running already");
            continue;
        };
        out.extend(pass(pool, &source, opts).await?);
    }
    Ok(out)
}

/// Runs one feed's pass between a `running` row in `sync_runs` and its outcome.
async fn recorded(
    pool: &SqlitePool,
    source: &Source,
    feed: &'static str,
    work: impl Future<Output = Result<PassReport, SyncError>>,
) -> Result<PassReport, SyncError> {
    let started = chrono::Utc::now().timestamp_millis();
    let run_id = app::db::sources::insert_run(pool, source.row.id, feed, started).await?;
    let mut report = match work.await {
        Ok(r) => r,
        Err(e) => PassReport {
            error: Some(e.to_string()),
            ..PassReport::default()
        },
    };
    report.source = source.row.name.clone();
    report.feed = feed;
    report.state = match (&report.error, report.problems.is_empty()) {
        (Some(_), _) => "failed",
        (None, true) => "ok",
        (None, false) => "partial",
    };
    match &report.error {
        Some(e) => tracing::warn!(source = %report.source, feed, error = %e, "sync pass failed"),
        None => tracing::info!(
            source = %report.source,
            feed,
            found = report.found,
            files = report.files,
            events_new = report.events_new,
            problems = report.problems.len(),
            "sync pass done"
        ),
    }
    let finished = chrono::Utc::now().timestamp_millis();
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let outcome = app::db::sources::RunOutcome {
        finished,
        state: report.state,
        found: report.found as i64,
        files: report.files as i64,
        files_rejected: report.files_rejected as i64,
        events_new: report.events_new as i64,
        events_duplicate: report.events_duplicate as i64,
        newest_ms: report.newest_ms,
        error: report.error.as_deref(),
    };
    app::db::sources::write_outcome(&mut tx, run_id, &outcome).await?;
    let mut problems: Vec<(&str, &str)> = report
        .problems
        .iter()
        .map(|p| (p.what.as_str(), p.error.as_str()))
        .collect();
    if let Some(e) = &report.error {
        problems.push((feed, e.as_str()));
    }
    for (what, error) in problems {
        let at = (source.row.id, run_id, finished);
        app::db::sources::insert_problem(&mut tx, at, feed, what, error).await?;
    }
    tx.commit().await?;
    Ok(report)
}

/// The trail bucket: every folder listed from its checkpoint, the new files imported.
/// A folder that cannot be listed or a file that cannot be read is a problem of the
/// pass; the other folders and files go on.
async fn bucket_pass(
    pool: &SqlitePool,
    source: &Source,
    opts: &Options,
) -> Result<PassReport, SyncError> {
    let mut report = PassReport::default();
    let bucket = bucket::Bucket::open(source, &opts.tuning).await?;
    let folders = bucket.folders(source).await?;
    report.folders = folders.len() as u64;
    let backfill_from = bucket::backfill_from(source);
    let mut jobs = Vec::new();
    for folder in &folders {
        match bucket.new_files(pool, folder, backfill_from).await {
            Ok((found, newest)) => {
                jobs.extend(found);
                report.newest_ms = report.newest_ms.max(newest);
            }
            Err(e) => report.problems.push(Problem {
                what: folder.prefix.clone(),
                error: e.to_string(),
            }),
        }
    }
    report.found = jobs.len() as u64;
    if jobs.is_empty() {
        return Ok(report);
    }
    note_found(pool, source.row.id, "bucket", report.found).await;
    let summary = ingest::run(
        pool,
        Arc::new(bucket.objects()),
        jobs,
        ingest::Options {
            threads: opts.threads,
            progress: opts.progress,
        },
    )
    .await?;
    report.files = summary.files;
    report.files_rejected = summary.files_rejected.len() as u64;
    report.events_new = summary.events_new;
    report.events_duplicate = summary.events_duplicate;
    report.records_rejected = summary.records_rejected;
    for f in summary.files_rejected.into_iter().take(PROBLEMS_KEPT) {
        report.problems.push(Problem {
            what: f.path,
            error: f.error,
        });
    }
    Ok(report)
}

/// Passes over every active source (or the one named), one every `every_minutes`, for
/// as long as the process runs. A failing pass is logged and recorded; the next one
/// starts on time.
pub async fn run_forever(
    pool: SqlitePool,
    secrets: SecretBox,
    only: Option<String>,
    every_minutes: u64,
) {
    let opts = Options::default();
    match close_interrupted(&pool).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            passes = n,
            "passes left running by a stopped process marked failed"
        ),
        Err(e) => tracing::error!(error = %e, "cannot close interrupted passes"),
    }
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(
        every_minutes.saturating_mul(60),
    ));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = pass_all(&pool, &secrets, only.as_deref(), &opts).await {
            tracing::error!(error = %e, "sync pass could not run");
        }
    }
}
