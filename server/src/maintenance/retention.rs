//! `--retain-days N`: events older than N days are removed in the background, a small
//! batch per transaction, with everything derived from them taken back out in the same
//! transaction, so the store agrees with itself after every batch:
//!
//! - the per-minute counts, hourly and daily rollups, per-principal and per-resource
//!   summaries, cost drivers and Insights call rates (the importer's own [`Counts`],
//!   with each event counted −1, rebuilt from its stored row);
//! - the S3 read summaries of the exfiltration baselines, and the console sign-ins;
//! - the principals' event counts and first sighting;
//! - the full-text index (FTS5's `delete`, with the text the event was indexed with);
//! - which events touched which resource and changed it, access-key changes, issued
//!   credentials, threshold rules' hits and the events of closed findings;
//! - the original records' blocks: a block loses the removed records and goes once
//!   none is left.
//!
//! Kept whatever their age: events pinned to an investigation, and the events of a
//! finding still open or acknowledged. The ledger (`ingest_files`) keeps every file it
//! read, so a sync never fetches a removed event's file again; what was delivered per
//! day (the cost estimate) stays as well.
//!
//! Space: a database made with incremental auto-vacuum (every database Cairn creates)
//! gives the freed pages back to the file system after each pass; an older one reuses
//! them for new events (`cairn backup` writes a compacted copy).

use crate::ingest::blocks::{self, Emptied};
use crate::ingest::normalize::{Event, normalize};
use crate::ingest::store::{Contribution, Counts, is_call};
use app::schema::{S3_OBJECT, billed, first_id_at, flags};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long events are kept: the server's period, and the accounts whose sources
/// have one of their own (the longest, when several sources bring an account in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub days: Option<u32>,
    pub accounts: BTreeMap<String, u32>,
}

impl Policy {
    /// The server's period with the sources' own, as they stand now.
    pub async fn read(pool: &sqlx::SqlitePool, days: Option<u32>) -> Result<Policy, sqlx::Error> {
        let accounts = app::db::sources::retained_accounts(pool)
            .await?
            .into_iter()
            .filter_map(|(a, d)| Some((a, u32::try_from(d).ok().filter(|d| *d > 0)?)))
            .collect();
        Ok(Policy { days, accounts })
    }

    /// The shortest period in force (`None`: events are kept for ever).
    pub fn shortest(&self) -> Option<u32> {
        self.days.into_iter().chain(self.accounts.values().copied()).min()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("nothing to remove: give a number of days, or a source a retention period of its own")]
    NoPolicy,
    #[error("removing old events failed: {0}")]
    Pass(#[from] rusqlite::Error),
    #[error("the pass could not be recorded: {0}")]
    Record(#[from] sqlx::Error),
    #[error("the pass stopped: {0}")]
    Stopped(String),
}

/// Hours between passes of `cairn serve --retain-days`.
pub const EVERY: Duration = Duration::from_secs(3600);

/// The time before which events are due, `days` before `now_ms`.
pub fn cutoff(now_ms: i64, days: u32) -> i64 {
    now_ms - i64::from(days) * 86_400_000
}

/// One pass over the database at `db` now, recorded in `retention_passes` (a failed
/// pass too, with its error).
pub async fn run_once(
    pool: &sqlx::SqlitePool,
    db: &Path,
    policy: &Policy,
    tuning: Tuning,
) -> Result<PassReport, RetentionError> {
    let days = policy.shortest().ok_or(RetentionError::NoPolicy)?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let cutoff_ms = cutoff(now_ms, days);
    let path = db.to_path_buf();
    let owned = policy.clone();
    let result = match tokio::task::spawn_blocking(move || pass(&path, &owned, now_ms, tuning)).await {
        Ok(r) => r.map_err(RetentionError::from),
        Err(e) => Err(RetentionError::Stopped(e.to_string())),
    };
    let finished_at = chrono::Utc::now().timestamp_millis();
    let row = match &result {
        Ok(r) => app::model::RetentionPass {
            finished_at,
            days: i64::from(days),
            cutoff_ms,
            removed: r.removed as i64,
            kept: r.kept as i64,
            unreadable: r.unreadable as i64,
            pages_freed: r.pages_freed,
            file_bytes: r.file_bytes,
            seconds: r.seconds,
            error: None,
        },
        Err(e) => app::model::RetentionPass {
            finished_at,
            days: i64::from(days),
            cutoff_ms,
            removed: 0,
            kept: 0,
            unreadable: 0,
            pages_freed: 0,
            file_bytes: 0,
            seconds: 0.0,
            error: Some(e.to_string()),
        },
    };
    app::db::retention::insert_pass(pool, &row).await?;
    result
}

/// `cairn serve`: a pass at start-up, then one every [`EVERY`], with the server's
/// `--retain-days` and the sources' own periods as they stand at each pass (none: no
/// pass).
pub async fn run_forever(pool: sqlx::SqlitePool, db: std::path::PathBuf, days: Option<u32>) {
    loop {
        match Policy::read(&pool, days).await {
            Ok(policy) if policy.shortest().is_none() => {}
            Ok(policy) => match run_once(&pool, &db, &policy, Tuning::default()).await {
                Ok(r) => tracing::info!(
                    removed = r.removed,
                    kept = r.kept,
                    unreadable = r.unreadable,
                    pages_freed = r.pages_freed,
                    seconds = r.seconds,
                    "retention pass: old events removed"
                ),
                Err(e) => tracing::error!(error = %e, "retention pass failed; the next one tries again"),
            },
            Err(e) => tracing::error!(error = %e, "cannot read the sources' retention periods"),
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// How a pass goes about it.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// Events looked at per transaction.
    pub batch: usize,
    /// Rest between transactions, for imports and sign-ins to take the write lock.
    pub pause: Duration,
    /// Pages given back to the file system per transaction.
    pub vacuum_pages: i64,
    /// Full-text index pages merged per transaction, after a pass that removed events
    /// (their delete markers cancel out against the entries they delete), and the most
    /// transactions of it per pass.
    pub merge_pages: i64,
    pub merge_steps: u32,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            batch: 2_000,
            pause: Duration::from_millis(50),
            vacuum_pages: 2_048,
            merge_pages: 500,
            merge_steps: 40,
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct PassReport {
    /// Events before this time were due.
    pub cutoff_ms: i64,
    pub removed: u64,
    /// Due, but pinned to an investigation or part of an open finding.
    pub kept: u64,
    /// Due, but their record could not be read: removed, with what only the record
    /// says (full-text entries, S3 read sums, sign-ins, cost drivers) left in place.
    pub unreadable: u64,
    pub blocks_removed: u64,
    pub blocks_shrunk: u64,
    /// Compressed bytes of original records freed inside the database.
    pub record_bytes_freed: u64,
    /// Leaf pages of the full-text index fewer after merging its delete markers.
    pub index_pages_merged: i64,
    /// Pages given back to the file system, and the database's size after.
    pub pages_freed: i64,
    pub file_bytes: i64,
    /// The oldest event left.
    pub oldest_ms: Option<i64>,
    pub seconds: f64,
    /// The longest a batch held the write lock (what an import or a sign-in waited at
    /// most).
    pub longest_batch_ms: f64,
}

/// One due event's row, as the importer wrote it.
struct Due {
    id: i64,
    time_ms: i64,
    account: i64,
    principal: i64,
    name: i64,
    source: i64,
    region: Option<i64>,
    source_ip: Option<i64>,
    error: Option<i64>,
    user_agent: Option<i64>,
    access_key: Option<i64>,
    read_only: Option<bool>,
    resource_ids: Vec<i64>,
    issuer: Option<i64>,
    key_text: Option<String>,
    error_text: Option<String>,
    block: Option<i64>,
    slot: Option<i64>,
}

/// Console sign-ins taken out of one principal's counts.
#[derive(Default)]
struct SignInsGone {
    attempts: i64,
    failed: i64,
    mfa: i64,
    ids: HashSet<i64>,
}

/// Removes every event older than its account's period at `now_ms` (the policy's
/// `days` for accounts no source gives a period) that nothing keeps. Blocking: run it
/// on a thread of its own. Resumable: an interrupted pass leaves whole batches done,
/// and the next one starts over from the oldest event.
pub fn pass(db: &Path, policy: &Policy, now_ms: i64, tuning: Tuning) -> rusqlite::Result<PassReport> {
    let started = Instant::now();
    let conn = Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(60))?;
    let Some(shortest) = policy.shortest() else {
        return Ok(PassReport::default());
    };
    let cutoff_ms = cutoff(now_ms, shortest);
    let cut = first_id_at(cutoff_ms);
    let cuts = Cuts {
        default: policy.days.map(|d| first_id_at(cutoff(now_ms, d))),
        accounts: account_cuts(&conn, policy, now_ms)?,
    };
    let mut report = PassReport {
        cutoff_ms,
        ..PassReport::default()
    };
    let mut work = Work::default();
    let mut cursor = i64::MIN;
    loop {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let began = Instant::now();
        match batch(&conn, cut, &cuts, &mut cursor, tuning.batch, &mut work, &mut report) {
            Ok(looked) => {
                conn.execute_batch("COMMIT")?;
                report.longest_batch_ms = report.longest_batch_ms.max(began.elapsed().as_secs_f64() * 1000.0);
                if looked < tuning.batch {
                    break;
                }
                std::thread::sleep(tuning.pause);
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
    if report.removed > 0 {
        report.index_pages_merged = merge_index(&conn, tuning)?;
    }
    report.pages_freed = give_back(&conn, tuning)?;
    // The file shrinks when the log is copied back; a reader in the way leaves it to
    // the next checkpoint.
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    report.file_bytes = conn.query_row(
        "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
        [],
        |r| r.get(0),
    )?;
    report.oldest_ms = conn
        .query_row("SELECT event_time FROM events ORDER BY id LIMIT 1", [], |r| r.get(0))
        .optional()?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The first event id each account keeps.
struct Cuts {
    /// Accounts no source gives a period of its own (`None`: kept for ever).
    default: Option<i64>,
    /// By account term id.
    accounts: HashMap<i64, i64>,
}

impl Cuts {
    /// Whether event `id` of account `account` is past its period.
    fn due(&self, account: i64, id: i64) -> bool {
        self.accounts
            .get(&account)
            .copied()
            .or(self.default)
            .is_some_and(|cut| id < cut)
    }
}

fn account_cuts(conn: &Connection, policy: &Policy, now_ms: i64) -> rusqlite::Result<HashMap<i64, i64>> {
    let mut out = HashMap::new();
    let mut st = conn.prepare("SELECT id FROM terms WHERE kind = ?1 AND value = ?2")?;
    for (account, days) in &policy.accounts {
        if let Some(id) = st
            .query_row(params![app::schema::TermKind::Account as u8, account], |r| r.get::<_, i64>(0))
            .optional()?
        {
            out.insert(id, first_id_at(cutoff(now_ms, *days)));
        }
    }
    Ok(out)
}

/// Events in `from..to` that stay: pinned to an investigation, or part of a finding
/// not yet resolved. Read in the batch's own transaction, so a pin made meanwhile counts.
fn kept_ids(conn: &Connection, from: i64, to: i64) -> rusqlite::Result<HashSet<i64>> {
    let mut kept = HashSet::new();
    let mut st = conn.prepare_cached(
        "SELECT event_id FROM investigation_events WHERE event_id >= ?1 AND event_id < ?2
         UNION
         SELECT fe.event_id FROM finding_events fe JOIN findings f ON f.id = fe.finding_id
         WHERE fe.event_id >= ?1 AND fe.event_id < ?2 AND f.status IN ('open', 'acknowledged')",
    )?;
    for id in st.query_map([from, to], |r| r.get::<_, i64>(0))? {
        kept.insert(id?);
    }
    Ok(kept)
}

/// What a pass keeps between its batches.
#[derive(Default)]
struct Work {
    unpack: app::db::events::Unpacker,
    /// Resource id -> whether it is a single S3 object.
    objects: HashMap<i64, bool>,
}

/// One transaction: looks at up to `limit` events from `cursor` on, below `cut`, and
/// removes those nothing keeps. Returns how many it looked at.
fn batch(
    conn: &Connection,
    cut: i64,
    cuts: &Cuts,
    cursor: &mut i64,
    limit: usize,
    work: &mut Work,
    report: &mut PassReport,
) -> rusqlite::Result<usize> {
    let index_below = crate::ingest::search_index::pending_below(conn)?;
    let kept = kept_ids(conn, *cursor, cut)?;
    let mut rows_st = conn.prepare_cached(
        "SELECT e.id, e.event_time, e.account_id, e.principal_id, e.name_id, e.source_id,
                e.region_id, e.source_ip_id, e.error_code_id, e.user_agent_id, e.access_key_id,
                e.read_only, e.resource_ids, e.issuer_id, k.value, c.value,
                e.raw_dict, e.raw, e.raw_block, e.raw_slot
         FROM events e
         LEFT JOIN terms k ON k.id = e.access_key_id
         LEFT JOIN terms c ON c.id = e.error_code_id
         WHERE e.id >= ?1 AND e.id < ?2 ORDER BY e.id LIMIT ?3",
    )?;
    let mut due: Vec<(Due, Option<Vec<u8>>)> = Vec::new();
    let mut looked = 0usize;
    {
        let mut rows = rows_st.query(params![*cursor, cut, limit as i64])?;
        while let Some(r) = rows.next()? {
            looked += 1;
            let id: i64 = r.get(0)?;
            *cursor = id + 1;
            if !cuts.due(r.get(2)?, id) {
                continue;
            }
            if kept.contains(&id) {
                report.kept += 1;
                continue;
            }
            let ids: Option<String> = r.get(12)?;
            let row = Due {
                id,
                time_ms: r.get(1)?,
                account: r.get(2)?,
                principal: r.get(3)?,
                name: r.get(4)?,
                source: r.get(5)?,
                region: r.get(6)?,
                source_ip: r.get(7)?,
                error: r.get(8)?,
                user_agent: r.get(9)?,
                access_key: r.get(10)?,
                read_only: r.get(11)?,
                resource_ids: ids
                    .as_deref()
                    .and_then(|j| serde_json::from_str(j).ok())
                    .unwrap_or_default(),
                issuer: r.get(13)?,
                key_text: r.get(14)?,
                error_text: r.get(15)?,
                block: r.get(18)?,
                slot: r.get(19)?,
            };
            let raw: &[u8] = r.get_ref(17)?.as_blob().map_err(rusqlite::Error::from)?;
            let at = app::db::events::At {
                dict: r.get(16)?,
                raw,
                block: row.block,
                slot: row.slot,
            };
            let record = match blocks::read(conn, &mut work.unpack, at)? {
                Ok(record) => Some(record),
                Err(e) => {
                    tracing::warn!(event = id, error = %e, "removing an event whose record cannot be read");
                    None
                }
            };
            due.push((row, record));
        }
    }
    if due.is_empty() {
        return Ok(looked);
    }

    let mut counts = Counts::default();
    let mut per_principal: BTreeMap<i64, i64> = BTreeMap::new();
    let mut sign_ins: BTreeMap<i64, SignInsGone> = BTreeMap::new();
    let mut slots: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut gone_ids: Vec<i64> = Vec::with_capacity(due.len());
    let mut type_st = conn.prepare_cached("SELECT type FROM resources WHERE id = ?1")?;
    let mut delete_event = conn.prepare_cached("DELETE FROM events WHERE id = ?1")?;
    let mut delete_touch = conn.prepare_cached(
        "DELETE FROM event_resources WHERE resource_id = ?1 AND event_id = ?2",
    )?;
    let mut delete_change = conn.prepare_cached(
        "DELETE FROM resource_changes WHERE resource_id = ?1 AND event_id = ?2",
    )?;
    let mut delete_key_change = conn.prepare_cached(
        "DELETE FROM access_key_changes WHERE access_key = ?1 AND event_id = ?2",
    )?;
    let mut delete_issued = conn.prepare_cached(
        "DELETE FROM issued_credentials WHERE access_key = ?1 AND event_id = ?2",
    )?;
    let mut delete_text = conn.prepare_cached(
        "INSERT INTO events_fts (events_fts, rowid, text) VALUES ('delete', ?1, ?2)",
    )?;
    for (row, record) in &due {
        let event: Option<Event> = record.as_deref().and_then(|r| normalize(r, None).ok());
        if event.is_none() {
            report.unreadable += 1;
        }
        let mut resources = Vec::with_capacity(row.resource_ids.len());
        for &rid in &row.resource_ids {
            let object = match work.objects.get(&rid) {
                Some(o) => *o,
                None => {
                    let kind: Option<String> = type_st.query_row([rid], |r| r.get(0)).optional()?;
                    let o = kind.as_deref() == Some(S3_OBJECT);
                    work.objects.insert(rid, o);
                    o
                }
            };
            resources.push((rid, object));
        }
        // The flags as the importer set them: from the record when it reads, else from
        // the row (its error term is the event's failure).
        let event_flags = match &event {
            Some(e) => flags::of(e.read_only, e.failed(), e.error_code.as_deref()),
            None => flags::of(row.read_only, row.error.is_some(), row.error_text.as_deref()),
        };
        let contribution = Contribution {
            time_ms: row.time_ms,
            flags: event_flags,
            principal: row.principal,
            name: row.name,
            source: row.source,
            account: row.account,
            region: row.region,
            source_ip: row.source_ip,
            error: row.error,
            user_agent: row.user_agent,
            access_key: row.access_key,
            temporary_key: row.key_text.as_deref().is_some_and(app::schema::is_temporary_key),
            resources,
            cost: event
                .as_ref()
                .and_then(|e| billed::kind(crate::ingest::deliveries::kind_of(e), e.category.is_none())),
            call: event.as_ref().is_some_and(is_call),
        };
        counts.add(&contribution, -1);
        *per_principal.entry(row.principal).or_insert(0) += 1;
        if let Some(e) = &event {
            if let Some(read) = &e.s3_read {
                let actor = crate::anomalies::actor_of(row.principal, row.issuer, &e.principal);
                let bucket = row
                    .resource_ids
                    .iter()
                    .zip(&e.resources)
                    .find(|(_, r)| r.kind == "AWS::S3::Bucket")
                    .map(|(id, _)| *id);
                let ip = row.source_ip.filter(|_| e.source_ip.is_some());
                counts.s3.take_back(row.time_ms, actor, bucket, ip, read);
            }
            if let Some(s) = e.sign_in {
                let g = sign_ins.entry(row.principal).or_default();
                g.attempts += 1;
                if s.failed {
                    g.failed += 1;
                } else if s.mfa {
                    g.mfa += 1;
                }
                g.ids.insert(row.id);
            }
            if let Some(key) = &e.key_change {
                delete_key_change.execute(params![key, row.id])?;
            }
            if let Some(c) = &e.issued {
                delete_issued.execute(params![c.access_key, row.id])?;
            }
        }
        // The full-text entry, with the very text it was indexed with; indexed only
        // when non-empty and at or above the backfill's mark.
        if let Some(record) = record {
            let indexed = index_below.is_none_or(|below| row.id >= below);
            if indexed {
                let text = crate::ingest::text::search_text(record);
                if !text.is_empty() {
                    delete_text.execute(params![row.id, text])?;
                }
            }
        }
        for &rid in &row.resource_ids {
            delete_touch.execute(params![rid, row.id])?;
            delete_change.execute(params![rid, row.id])?;
        }
        delete_event.execute([row.id])?;
        if let (Some(block), Some(slot)) = (row.block, row.slot) {
            slots.entry(block).or_default().push(slot);
        }
        gone_ids.push(row.id);
    }
    report.removed += gone_ids.len() as u64;

    counts.write(conn)?;
    counts.s3.write(conn)?;
    let last_hour = gone_ids.last().map_or(0, |&id| app::schema::id_time(id).div_euclid(3_600_000));
    conn.prepare_cached(
        "DELETE FROM s3_reads WHERE hour <= ?1 AND objects <= 0 AND lists <= 0 AND bytes <= 0",
    )?
    .execute([last_hour])?;
    conn.prepare_cached(
        "DELETE FROM call_day WHERE day <= ?1 AND calls <= 0 AND errors <= 0",
    )?
    .execute([last_hour.div_euclid(24)])?;

    let ids_json = serde_json::to_string(&gone_ids).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached("DELETE FROM rule_hits WHERE event_id IN (SELECT value FROM json_each(?1))")?
        .execute([&ids_json])?;
    conn.prepare_cached("DELETE FROM finding_events WHERE event_id IN (SELECT value FROM json_each(?1))")?
        .execute([&ids_json])?;

    for (principal, n) in per_principal {
        conn.prepare_cached(
            "UPDATE principals SET events = max(events - ?2, 0),
               first_seen = coalesce((SELECT event_time FROM events WHERE principal_id = ?1 ORDER BY id LIMIT 1),
                                     first_seen),
               last_seen = coalesce((SELECT event_time FROM events WHERE principal_id = ?1 ORDER BY id DESC LIMIT 1),
                                    last_seen)
             WHERE id = ?1",
        )?
        .execute(params![principal, n])?;
    }
    for (principal, g) in sign_ins {
        let last_ok: Option<i64> = conn
            .prepare_cached("SELECT last_ok_event_id FROM principal_console WHERE principal_id = ?1")?
            .query_row([principal], |r| r.get(0))
            .optional()?
            .flatten();
        let clear_ok = last_ok.is_some_and(|id| g.ids.contains(&id));
        conn.prepare_cached(
            "UPDATE principal_console SET logins = logins - ?2, failed = failed - ?3, mfa = mfa - ?4,
               last_ok_event_id = CASE WHEN ?5 THEN NULL ELSE last_ok_event_id END
             WHERE principal_id = ?1",
        )?
        .execute(params![principal, g.attempts, g.failed, g.mfa, clear_ok])?;
        conn.prepare_cached("DELETE FROM principal_console WHERE principal_id = ?1 AND logins <= 0")?
            .execute([principal])?;
    }

    for (block, gone) in slots {
        match blocks::empty_slots(conn, block, &gone)? {
            Ok(Emptied::Removed(bytes)) => {
                report.blocks_removed += 1;
                report.record_bytes_freed += bytes;
            }
            Ok(Emptied::Shrunk(before, after)) => {
                report.blocks_shrunk += 1;
                report.record_bytes_freed += before.saturating_sub(after);
            }
            Ok(Emptied::Missing) => {}
            Err(e) => tracing::warn!(block, error = %e, "a block of removed records cannot be read; left as it was"),
        }
    }
    Ok(looked)
}

/// Merges the full-text index a few pages per transaction, until it stops shrinking
/// or the step budget is spent (the next pass goes on). Returns how many leaf pages it
/// has fewer.
fn merge_index(conn: &Connection, tuning: Tuning) -> rusqlite::Result<i64> {
    let leaves = |c: &Connection| c.query_row("SELECT count(*) FROM events_fts_data", [], |r| r.get::<_, i64>(0));
    let before = leaves(conn)?;
    let mut last = before;
    for _ in 0..tuning.merge_steps {
        // Negative: merge even where a level has fewer segments than FTS5 waits for.
        conn.execute(
            "INSERT INTO events_fts (events_fts, rank) VALUES ('merge', ?1)",
            [-tuning.merge_pages.max(1)],
        )?;
        let now = leaves(conn)?;
        if now >= last {
            break;
        }
        last = now;
        std::thread::sleep(tuning.pause);
    }
    Ok(before - last)
}

/// Gives free pages back to the file system, a few at a time (nothing happens in a
/// database without incremental auto-vacuum). Returns how many.
fn give_back(conn: &Connection, tuning: Tuning) -> rusqlite::Result<i64> {
    let free = |c: &Connection| c.query_row("PRAGMA freelist_count", [], |r| r.get::<_, i64>(0));
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    if mode != 2 {
        return Ok(0);
    }
    let before = free(conn)?;
    let mut left = before;
    while left > 0 {
        // A pragma's argument cannot be bound: this one is a number of our own, never
        // input.
        let sql = format!("PRAGMA incremental_vacuum({})", tuning.vacuum_pages.max(1));
        {
            let mut st = conn.prepare(&sql)?;
            let mut rows = st.query([])?;
            while rows.next()?.is_some() {}
        }
        let now = free(conn)?;
        if now >= left {
            break;
        }
        left = now;
        std::thread::sleep(tuning.pause);
    }
    Ok(before - left)
}
