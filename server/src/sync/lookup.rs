//! The LookupEvents feed: a bootstrap of the last 90 days of management events in each
//! Region, then (for a source with no bucket or queue) the new events of each pass.
//!
//! LookupEvents allows 2 requests a second per account and Region, and cannot be raised,
//! so each Region is read by its own task that never starts two calls within 500 ms,
//! retries included: the SDK's own retries are off for this call, and throttled calls
//! wait with backoff and jitter before going through the same limiter.
//!
//! Pages come newest first. Every few pages become one chunk, imported through the
//! ingest pipeline like a file, whose ledger row (source `lookup://<source>`, path
//! `<region>/<start>-<end>/<oldest ms>`) is the checkpoint: it is committed with the
//! chunk's events. A restarted bootstrap asks again from the oldest event committed
//! (plus a second, so nothing at the boundary is missed; duplicates are dropped on
//! `eventID`). A window's last row is `<region>/<start>-<end>/done`.

use super::{Options, PassReport, Problem, SyncError};
use crate::ingest::{self, pipeline::Source as FileSource, source::parse_layout};
use crate::sync::aws;
use crate::sync::sources::Source;
use aws_sdk_cloudtrail::primitives::DateTime;
use sqlx::SqlitePool;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The Regions every account has enabled, read when `account:ListRegions` is refused
/// (opt-in Regions are then read when the source names them or the trail bucket holds
/// files from them).
pub const DEFAULT_REGIONS: [&str; 17] = [
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// How far back LookupEvents reaches.
pub const HISTORY_DAYS: i64 = 90;
/// Events become visible to LookupEvents up to about 15 minutes after the call: each
/// new window starts this long before the last one ended.
const OVERLAP_MS: i64 = 20 * 60 * 1000;
/// Pages per chunk (a page is at most 50 events).
const CHUNK_PAGES: usize = 4;
/// Attempts at one page before the Region's pass gives up.
const ATTEMPTS: u32 = 8;

use app::db::ledger::{self, Progress};

/// The Regions the feeds read: the source's; else the Regions enabled in its account
/// (`account:ListRegions`); when that call is refused, the Regions every account has plus
/// any the trail bucket delivered from.
pub async fn regions(
    pool: &SqlitePool,
    source: &Source,
    tuning: &aws::Tuning,
) -> Result<Vec<String>, sqlx::Error> {
    if !source.row.regions.is_empty() {
        return Ok(source.row.regions.clone());
    }
    match enabled_regions(source, tuning).await {
        Ok(r) if !r.is_empty() => return Ok(r),
        Ok(_) => {}
        Err(e) => tracing::info!(
            source = %source.row.name,
            error = %e,
            "account:ListRegions refused: reading the Regions every account has and those the \
             bucket delivered from"
        ),
    }
    let mut out: Vec<String> = DEFAULT_REGIONS.iter().map(|r| (*r).to_owned()).collect();
    if let Some(b) = &source.row.bucket {
        let seen = ledger::regions_of(pool, &ledger::bucket_name(b)).await?;
        out.extend(
            seen.into_iter()
                .filter(|r| crate::sync::sources::is_region(r)),
        );
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The Regions enabled in the source's account (enabled by default or opted in). Tried
/// twice at most: without it the feeds fall back to a fixed list.
pub async fn enabled_regions(source: &Source, tuning: &aws::Tuning) -> Result<Vec<String>, String> {
    use aws_sdk_account::types::RegionOptStatus;
    let config = aws::config(source, aws::HOME_REGION, tuning).await;
    let conf = aws_sdk_account::config::Builder::from(&config)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
        .build();
    let client = aws_sdk_account::Client::from_conf(conf);
    let mut pages = client
        .list_regions()
        .region_opt_status_contains(RegionOptStatus::Enabled)
        .region_opt_status_contains(RegionOptStatus::EnabledByDefault)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws::describe(&e))?;
        out.extend(
            page.regions()
                .iter()
                .filter_map(|r| r.region_name())
                .filter(|r| crate::sync::sources::is_region(r))
                .map(str::to_owned),
        );
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// What to ask of one Region in this pass: `(start, end, ask_until)`, or nothing.
fn plan(p: &Progress, now: i64, days: i64, follow: bool) -> Option<(i64, i64, i64)> {
    let oldest = now - days * 86_400_000;
    match (p.window, p.done) {
        (None, _) => Some((oldest, now, now)),
        (Some((s, e)), false) => Some((s, e, p.reached.map_or(e, |r| (r + 1000).min(e)))),
        (Some((_, e)), true) if follow => {
            let s = (e - OVERLAP_MS).max(oldest);
            (now > e).then_some((s, now, now))
        }
        (Some(_), true) => None,
    }
}

/// One chunk of pages, ready for the writer.
struct Chunk {
    region: String,
    window: (i64, i64),
    /// The oldest event time in the chunk, or `None` for a window's end.
    oldest: Option<i64>,
    body: Vec<u8>,
}

/// A chunk's pages as a file for the ingest pipeline.
struct ChunkFile {
    ledger: String,
    body: Vec<u8>,
}

impl FileSource for ChunkFile {
    fn name(&self) -> &str {
        &self.ledger
    }
    fn open(&self, _job: &ingest::source::FileJob) -> std::io::Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(&self.body[..]))
    }
}

/// How one Region's reading ended.
struct RegionEnd {
    region: String,
    pages: u64,
    throttled: u64,
    error: Option<String>,
}

/// One pass of the feed over every Region, the Regions side by side.
pub async fn pass(
    pool: &SqlitePool,
    source: &Source,
    opts: &Options,
) -> Result<PassReport, SyncError> {
    let mut report = PassReport::default();
    let now = chrono::Utc::now().timestamp_millis();
    let days = source.row.backfill_days.clamp(1, HISTORY_DAYS);
    // With a bucket or a queue, those bring what is new; the bootstrap runs once.
    let follow = source.row.bucket.is_none() && source.row.queue_url.is_none();
    let deadline = opts.lookup_budget.map(|b| Instant::now() + b);
    let (tx, mut rx) = mpsc::channel::<Chunk>(4);
    let mut tasks = tokio::task::JoinSet::new();
    for region in regions(pool, source, &opts.tuning).await? {
        let p = ledger::lookup_progress_in(pool, &source.row.name, &region).await?;
        let Some((start, end, until)) = plan(&p, now, days, follow) else {
            continue;
        };
        report.folders += 1;
        let config = aws::config(source, &region, &opts.tuning).await;
        let client = aws_sdk_cloudtrail::Client::new(&config);
        let tx = tx.clone();
        let interval = opts.lookup_interval;
        tasks.spawn(read_region(
            client,
            region,
            (start, end),
            until,
            interval,
            deadline,
            tx,
        ));
    }
    drop(tx);
    let ledger = ledger::lookup_name(&source.row.name);
    let mut written = 0u64;
    while let Some(chunk) = rx.recv().await {
        let path = match chunk.oldest {
            Some(t) => format!("{}/{}-{}/{t}", chunk.region, chunk.window.0, chunk.window.1),
            None => format!(
                "{}/{}-{}/done",
                chunk.region, chunk.window.0, chunk.window.1
            ),
        };
        let job = ingest::source::FileJob {
            path: path.clone().into(),
            display: path.clone(),
            size: chunk.body.len() as u64,
            modified_ms: chunk.window.1,
            layout: parse_layout(&path),
        };
        let file = Arc::new(ChunkFile {
            ledger: ledger.clone(),
            body: chunk.body,
        });
        let summary = ingest::run(
            pool,
            file,
            vec![job],
            ingest::Options {
                threads: 1,
                progress: false,
            },
        )
        .await?;
        written += 1;
        report.files += summary.files;
        report.events_new += summary.events_new;
        report.events_duplicate += summary.events_duplicate;
        report.records_rejected += summary.records_rejected;
        report.newest_ms = report.newest_ms.max(Some(chunk.window.1));
        for f in summary.files_rejected {
            report.files_rejected += 1;
            report.problems.push(Problem {
                what: f.path,
                error: f.error,
            });
        }
    }
    report.found = written;
    while let Some(end) = tasks.join_next().await {
        match end {
            Ok(end) => {
                report.messages += end.pages;
                if end.throttled > 0 {
                    tracing::info!(region = %end.region, throttled = end.throttled, "LookupEvents throttled");
                }
                if let Some(e) = end.error {
                    report.problems.push(Problem {
                        what: format!("cloudtrail:LookupEvents in {}", end.region),
                        error: e,
                    });
                }
            }
            Err(e) => report.problems.push(Problem {
                what: "cloudtrail:LookupEvents".into(),
                error: format!("a Region's task failed: {e}"),
            }),
        }
    }
    Ok(report)
}

fn epoch(ms: i64) -> DateTime {
    DateTime::from_millis(ms)
}

/// Reads `region` from `until` back to the window's start, newest first, sending a chunk
/// every few pages and a closing one when the window is read to its start.
async fn read_region(
    client: aws_sdk_cloudtrail::Client,
    region: String,
    window: (i64, i64),
    until: i64,
    interval: Duration,
    deadline: Option<Instant>,
    tx: mpsc::Sender<Chunk>,
) -> RegionEnd {
    let mut end = RegionEnd {
        region: region.clone(),
        pages: 0,
        throttled: 0,
        error: None,
    };
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let no_retries = aws_sdk_cloudtrail::config::Builder::default()
        .retry_config(aws_config::retry::RetryConfig::disabled());
    let mut token: Option<String> = None;
    let mut events: Vec<serde_json::Value> = Vec::new();
    let mut oldest: Option<i64> = None;
    let mut pages_in_chunk = 0usize;
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let mut attempt = 0u32;
        let page = loop {
            tick.tick().await;
            attempt += 1;
            let answer = client
                .lookup_events()
                .start_time(epoch(window.0))
                .end_time(epoch(until))
                .max_results(50)
                .set_next_token(token.clone())
                .customize()
                .config_override(no_retries.clone())
                .send()
                .await;
            match answer {
                Ok(page) => break Ok(page),
                Err(e) => {
                    let retry = retryable(&e);
                    if retry && attempt < ATTEMPTS {
                        end.throttled += 1;
                        tokio::time::sleep(backoff(attempt)).await;
                        continue;
                    }
                    break Err(aws::describe(&e));
                }
            }
        };
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                end.error = Some(e);
                break;
            }
        };
        end.pages += 1;
        pages_in_chunk += 1;
        for ev in page.events() {
            let Some(record) = ev.cloud_trail_event() else {
                continue;
            };
            if let Some(t) = ev.event_time().and_then(|t| t.to_millis().ok()) {
                oldest = Some(oldest.map_or(t, |o: i64| o.min(t)));
            }
            events.push(serde_json::json!({
                "EventId": ev.event_id(),
                "CloudTrailEvent": record,
            }));
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        let last = token.is_none();
        if (pages_in_chunk >= CHUNK_PAGES || last) && !events.is_empty() {
            let body =
                serde_json::to_vec(&serde_json::json!({ "Events": events })).unwrap_or_default();
            let chunk = Chunk {
                region: region.clone(),
                window,
                oldest: Some(oldest.unwrap_or(until)),
                body,
            };
            if tx.send(chunk).await.is_err() {
                return end;
            }
            events = Vec::new();
            oldest = None;
            pages_in_chunk = 0;
        }
        if last {
            let _ = tx
                .send(Chunk {
                    region: region.clone(),
                    window,
                    oldest: None,
                    body: br#"{"Events":[]}"#.to_vec(),
                })
                .await;
            return end;
        }
    }
    // Stopped early (the pass's time ran out, or a call kept failing): what was read so
    // far still goes in, and the next pass asks again from its oldest event.
    if !events.is_empty() {
        let body = serde_json::to_vec(&serde_json::json!({ "Events": events })).unwrap_or_default();
        let _ = tx
            .send(Chunk {
                region,
                window,
                oldest: Some(oldest.unwrap_or(until)),
                body,
            })
            .await;
    }
    end
}

/// Whether a failed call is worth another try: throttling, 5xx, timeouts, dropped
/// connections.
fn retryable<E>(
    e: &aws_sdk_cloudtrail::error::SdkError<E, aws_sdk_cloudtrail::config::http::HttpResponse>,
) -> bool
where
    E: aws_sdk_cloudtrail::error::ProvideErrorMetadata,
{
    use aws_sdk_cloudtrail::error::{ProvideErrorMetadata, SdkError};
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            status >= 500
                || matches!(
                    e.code(),
                    Some(
                        "ThrottlingException"
                            | "Throttling"
                            | "TooManyRequestsException"
                            | "RequestLimitExceeded"
                            | "RequestTimeout"
                    )
                )
        }
        _ => false,
    }
}

/// Full jitter over 1 s doubling to 20 s.
fn backoff(attempt: u32) -> Duration {
    let cap = 1000u64.saturating_mul(1 << attempt.min(5)).min(20_000);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0);
    Duration::from_millis(cap / 2 + nanos % (cap / 2 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_resume_from_the_oldest_event_committed() {
        let day = 86_400_000;
        let now = 100 * day;
        // First pass: the whole history.
        assert_eq!(
            plan(&Progress::default(), now, 90, false),
            Some((10 * day, now, now))
        );
        // Cut short: the same window, from a second after the oldest event in.
        let cut = Progress {
            window: Some((10 * day, 99 * day)),
            reached: Some(50 * day),
            done: false,
            bootstrapped: false,
        };
        assert_eq!(
            plan(&cut, now, 90, false),
            Some((10 * day, 99 * day, 50 * day + 1000))
        );
        // Done: over for a source with a bucket; else the new events, with an overlap.
        let done = Progress { done: true, ..cut };
        assert_eq!(plan(&done, now, 90, false), None);
        assert_eq!(
            plan(&done, now, 90, true),
            Some((99 * day - OVERLAP_MS, now, now))
        );
    }
}
