//! Store stage: the single writer. Many whole files share one transaction (committing
//! per small file is the slowest way to fill SQLite); each file's ledger row commits
//! with its events, so a crash loses nothing committed and a rerun doubles nothing.
//!
//! The writer runs on its own thread with a direct SQLite connection and cached prepared
//! statements: one row costs a few microseconds, where a round trip through the async
//! pool costs tens. Everything else reads through the sqlx pool.

use super::decode::{Parsed, Piece, RecordReject};
use super::pipeline::Chunk;
use super::normalize::{Principal, Resource};
use super::source::FileJob;
use app::schema::{Dim, ID_HASH_BITS, S3_OBJECT, TermKind, billed, entity, event_row_id, flags};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use rustc_hash::FxHashMap as HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("no free event id near {0} (too many collisions)")]
    IdSpace(i64),
    #[error("could not start a thread: {0}")]
    Thread(String),
    #[error("block {0} of original records cannot be rewritten: {1}")]
    Block(i64, String),
}

/// Commit after this many events or this long, whichever comes first. Bigger batches
/// dirty each index page fewer times; the time bound keeps a crash's loss of progress
/// small and lets readers see new events promptly.
const BATCH_EVENTS: usize = 200_000;
/// The write-ahead log is copied back in full, between two transactions, once it is
/// larger than this: SQLite starts it over only when every frame in it has been copied,
/// which the checkpoint thread, running beside a writer that never stops, rarely sees
/// (a 1M-event import grew it to 850 MiB). After the copy the log restarts and is cut to
/// 64 MiB (`journal_size_limit` in [`Store::open`]).
const WAL_BOUND: u64 = 256 << 20;
const BATCH_TIME: Duration = Duration::from_secs(4);
/// Rejected records kept in the ledger per file.
const REJECTS_KEPT: usize = 100;

/// How a file ended, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    Imported,
    Rejected(String),
    /// Read and found to hold no events on purpose (a digest file).
    Skipped(String),
    /// Could not be read at all (a network or permission failure): reported, but left
    /// out of the ledger so that the next pass tries it again.
    Unreachable(String),
}

impl FileStatus {
    /// Whether nothing of the file went in.
    pub fn failed(&self) -> bool {
        matches!(self, FileStatus::Rejected(_) | FileStatus::Unreachable(_))
    }
}

/// Per-file figures, filled in as its rows are written.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub source: String,
    pub job: FileJob,
    pub sha256: Option<String>,
    /// SHA-256 of the uncompressed content (what a trail's digest lists).
    pub content_sha256: Option<String>,
    pub records: u64,
    pub events_new: u64,
    pub events_duplicate: u64,
    pub rejects: Vec<RecordReject>,
    pub rejected_records: u64,
    pub status: FileStatus,
    /// What the file delivered, by day and kind (duplicates included).
    pub deliveries: super::deliveries::Counts,
}

/// What one event adds to the summaries: its time, flags and the ids of its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    pub time_ms: i64,
    /// See [`flags`].
    pub flags: i64,
    pub principal: i64,
    pub name: i64,
    pub source: i64,
    pub account: i64,
    pub region: Option<i64>,
    pub source_ip: Option<i64>,
    /// The event's error term (see `Event::error`).
    pub error: Option<i64>,
    pub user_agent: Option<i64>,
    pub access_key: Option<i64>,
    /// Whether the access key is temporary (`ASIA…`: one a session): those are left out
    /// of the hourly and daily rollups, where they would be a row for every few events.
    pub temporary_key: bool,
    /// Resource ids, each with whether it is a single S3 object.
    pub resources: Vec<(i64, bool)>,
    /// The billed kind (`app::schema::billed`), for the cost drivers; `None` for what is
    /// not billed per event, and where a change leaves the kind as it was.
    pub cost: Option<u8>,
    /// A management API call, counted in the Insights rates (see [`is_call`]).
    pub call: bool,
}

/// Whether an event is a management API call, as the Insights rates count them: not a
/// data or network event, not AWS's own service event, not an Insights record.
pub fn is_call(e: &super::normalize::Event) -> bool {
    super::deliveries::kind_of(e) == "Management"
        && !matches!(e.event_type.as_deref(), Some("AwsServiceEvent" | "AwsCloudTrailInsight"))
}

/// Counts kept in memory for a batch and added to the summary tables at commit.
#[derive(Default)]
pub struct Counts {
    /// (minute, flags) -> events
    minutes: HashMap<(i64, i64), i64>,
    /// (dimension, hour, flags, value) -> events
    rollup: HashMap<(u8, i64, i64, i64), i64>,
    /// (entity kind, entity, minute, flags) -> events
    entity_minutes: HashMap<(u8, i64, i64, i64), i64>,
    /// (entity kind, entity, dimension, day, flags, value) -> events
    entity_days: HashMap<(u8, i64, u8, i64, i64, i64), i64>,
    /// (month, billed kind, dimension, value, account, Region or 0) -> events
    costs: HashMap<(i64, u8, u8, i64, i64, i64), i64>,
    /// S3 reads, for the exfiltration baselines.
    pub s3: crate::anomalies::S3Batch,
    /// Calls that named recipient accounts, for the sharing-outside rule.
    pub shares: Vec<crate::anomalies::sharing::Share>,
    /// Write and failed management calls per minute, for the Insights rates.
    pub calls: crate::anomalies::insights::CallBatch,
    /// AWS's Insights records, filed as episodes.
    pub aws_insights: Vec<crate::anomalies::insights::AwsRecord>,
}

impl Counts {
    fn clear(&mut self) {
        self.minutes.clear();
        self.rollup.clear();
        self.entity_minutes.clear();
        self.entity_days.clear();
        self.costs.clear();
        self.s3.clear();
        self.shares.clear();
        self.calls.clear();
        self.aws_insights.clear();
    }


    /// Counts one event `n` times (-1 takes it back out).
    pub fn add(&mut self, c: &Contribution, n: i64) {
        let f = c.flags;
        if c.call {
            self.calls.add(c, n);
        }
        *self
            .minutes
            .entry((c.time_ms.div_euclid(60_000), f))
            .or_insert(0) += n;
        let hour = c.time_ms.div_euclid(3_600_000);
        let mut roll = |dim: Dim, value: Option<i64>| {
            if let Some(v) = value {
                *self.rollup.entry((dim as u8, hour, f, v)).or_insert(0) += n;
            }
        };
        roll(Dim::Principal, Some(c.principal));
        roll(Dim::Name, Some(c.name));
        roll(Dim::Source, Some(c.source));
        for &(rid, object) in &c.resources {
            if !object {
                roll(Dim::Resource, Some(rid));
            }
        }
        roll(Dim::SourceIp, c.source_ip);
        roll(Dim::ErrorCode, c.error);
        roll(Dim::Region, c.region);
        roll(Dim::Account, Some(c.account));
        roll(Dim::UserAgent, c.user_agent);
        roll(Dim::AccessKey, c.access_key.filter(|_| !c.temporary_key));
        // Per principal and per resource (single objects are not summarised).
        let mut values: Vec<(u8, i64)> = vec![
            (Dim::Principal as u8, c.principal),
            (Dim::Name as u8, c.name),
            (Dim::Source as u8, c.source),
            (Dim::Account as u8, c.account),
        ];
        for (dim, v) in [
            (Dim::SourceIp, c.source_ip),
            (Dim::ErrorCode, c.error),
            (Dim::Region, c.region),
            (Dim::UserAgent, c.user_agent),
            (Dim::AccessKey, c.access_key),
        ] {
            if let Some(v) = v {
                values.push((dim as u8, v));
            }
        }
        for &(rid, object) in &c.resources {
            let dim = if object {
                entity::OBJECT_DIM
            } else {
                Dim::Resource as u8
            };
            values.push((dim, rid));
        }
        let at = (
            c.time_ms.div_euclid(60_000),
            c.time_ms.div_euclid(86_400_000),
            f,
        );
        self.entity((entity::PRINCIPAL, c.principal), at, &values, n);
        for &(rid, object) in &c.resources {
            if !object {
                self.entity((entity::RESOURCE, rid), at, &values, n);
            }
        }
        if let Some(kind) = c.cost {
            let month = billed::month_of(c.time_ms);
            let region = c.region.unwrap_or(0);
            let mut cost = |dim: Dim, value: i64| {
                *self
                    .costs
                    .entry((month, kind, dim as u8, value, c.account, region))
                    .or_insert(0) += n;
            };
            cost(Dim::Principal, c.principal);
            cost(Dim::Name, c.name);
            for &(rid, object) in &c.resources {
                if !object {
                    cost(Dim::Resource, rid);
                }
            }
        }
    }

    /// One event of `entity`, `n` times, with the event's values per dimension.
    fn entity(
        &mut self,
        (kind, entity): (u8, i64),
        (minute, day, flags): (i64, i64, i64),
        values: &[(u8, i64)],
        n: i64,
    ) {
        *self
            .entity_minutes
            .entry((kind, entity, minute, flags))
            .or_insert(0) += n;
        for &(dim, value) in values {
            *self
                .entity_days
                .entry((kind, entity, dim, day, flags, value))
                .or_insert(0) += n;
        }
    }

    /// Adds the batch's summaries to the tables (and empties it).
    pub fn write(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        // In key order: the upserts walk the summaries' B-trees front to back.
        let mut minutes: Vec<((i64, i64), i64)> = self.minutes.drain().collect();
        minutes.sort_unstable_by_key(|(k, _)| *k);
        let days = self.days();
        let mut rollup: Vec<((u8, i64, i64, i64), i64)> = self.rollup.drain().collect();
        rollup.sort_unstable_by_key(|(k, _)| *k);
        let mut entity_minutes: Vec<_> = self.entity_minutes.drain().collect();
        entity_minutes.sort_unstable_by_key(|(k, _)| *k);
        let mut entity_days: Vec<_> = self.entity_days.drain().collect();
        entity_days.sort_unstable_by_key(|(k, _)| *k);
        let mut t = Upsert::new(conn, COUNTS_MINUTE)?;
        for ((minute, f), n) in minutes {
            t.add(params![minute, f], n)?;
        }
        let mut t = Upsert::new(conn, ROLLUP_DAY)?;
        for ((dim, day, f, value), n) in days {
            t.add(params![dim, day, f, value], n)?;
        }
        let mut t = Upsert::new(conn, ROLLUP_HOUR)?;
        for ((dim, hour, f, value), n) in rollup {
            t.add(params![dim, hour, f, value], n)?;
        }
        let mut t = Upsert::new(conn, ENTITY_MINUTE)?;
        for ((kind, entity, minute, f), n) in entity_minutes {
            t.add(params![kind, entity, minute, f], n)?;
        }
        let mut t = Upsert::new(conn, ENTITY_DAY)?;
        for ((kind, entity, dim, day, f, value), n) in entity_days {
            t.add(params![kind, entity, dim, day, f, value], n)?;
        }
        let mut costs: Vec<_> = self.costs.drain().collect();
        costs.sort_unstable_by_key(|(k, _)| *k);
        let mut t = Upsert::new(conn, COST_DRIVERS)?;
        for ((month, kind, dim, value, account, region), n) in costs {
            t.add(params![month, kind, dim, value, account, region], n)?;
        }
        self.calls.write(conn)?;
        Ok(())
    }

    /// The hourly rollup summed per day.
    fn days(&self) -> Vec<((u8, i64, i64, i64), i64)> {
        let mut days: HashMap<(u8, i64, i64, i64), i64> = HashMap::default();
        for (&(dim, hour, f, v), &n) in &self.rollup {
            *days.entry((dim, hour.div_euclid(24), f, v)).or_insert(0) += n;
        }
        let mut out: Vec<_> = days.into_iter().collect();
        out.sort_unstable_by_key(|(k, _)| *k);
        out
    }
}

/// Records a call that creates, changes or deletes a long-term access key.
pub const KEY_CHANGE: &str =
    "INSERT INTO access_key_changes (access_key, event_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING";

/// Each summary table's upsert (adding to `events`) and the delete of a row left empty.
const COUNTS_MINUTE: (&str, &str) = (
    "INSERT INTO counts_minute (minute, flags, events) VALUES (?1, ?2, ?3)
     ON CONFLICT (minute, flags) DO UPDATE SET events = events + excluded.events",
    "DELETE FROM counts_minute WHERE minute = ?1 AND flags = ?2 AND events <= 0",
);
const ROLLUP_DAY: (&str, &str) = (
    "INSERT INTO rollup_day (dim, day, flags, value, events) VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (dim, day, flags, value) DO UPDATE SET events = events + excluded.events",
    "DELETE FROM rollup_day WHERE dim = ?1 AND day = ?2 AND flags = ?3 AND value = ?4
     AND events <= 0",
);
const ROLLUP_HOUR: (&str, &str) = (
    "INSERT INTO rollup_hour (dim, hour, flags, value, events) VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (dim, hour, flags, value) DO UPDATE SET events = events + excluded.events",
    "DELETE FROM rollup_hour WHERE dim = ?1 AND hour = ?2 AND flags = ?3 AND value = ?4
     AND events <= 0",
);
const ENTITY_MINUTE: (&str, &str) = (
    "INSERT INTO entity_minute (kind, entity, minute, flags, events) VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (kind, entity, minute, flags) DO UPDATE SET events = events + excluded.events",
    "DELETE FROM entity_minute WHERE kind = ?1 AND entity = ?2 AND minute = ?3 AND flags = ?4
     AND events <= 0",
);
const ENTITY_DAY: (&str, &str) = (
    "INSERT INTO entity_day (kind, entity, dim, day, flags, value, events)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
     ON CONFLICT (kind, entity, dim, day, flags, value) DO UPDATE SET events = events + excluded.events",
    "DELETE FROM entity_day WHERE kind = ?1 AND entity = ?2 AND dim = ?3 AND day = ?4
     AND flags = ?5 AND value = ?6 AND events <= 0",
);

const COST_DRIVERS: (&str, &str) = (
    "INSERT INTO cost_drivers (month, kind, dim, value, account, region, events)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
     ON CONFLICT (month, kind, dim, value, account, region) DO UPDATE SET events = events + excluded.events",
    "DELETE FROM cost_drivers WHERE month = ?1 AND kind = ?2 AND dim = ?3 AND value = ?4
     AND account = ?5 AND region = ?6 AND events <= 0",
);

/// Adds counts to one summary table, keyed by `key` columns with an `events` count.
/// A negative count takes events back out; a row left at zero is deleted, so a value
/// with no events never shows in a list.
struct Upsert<'c> {
    insert: rusqlite::CachedStatement<'c>,
    delete: rusqlite::CachedStatement<'c>,
}

impl<'c> Upsert<'c> {
    fn new(conn: &'c Connection, (insert, delete): (&str, &str)) -> rusqlite::Result<Self> {
        Ok(Upsert {
            insert: conn.prepare_cached(insert)?,
            delete: conn.prepare_cached(delete)?,
        })
    }

    fn add(&mut self, key: &[&dyn rusqlite::ToSql], n: i64) -> rusqlite::Result<()> {
        if n == 0 {
            return Ok(());
        }
        let mut all: Vec<&dyn rusqlite::ToSql> = key.to_vec();
        all.push(&n);
        self.insert.execute(all.as_slice())?;
        if n < 0 {
            self.delete.execute(key)?;
        }
        Ok(())
    }
}

struct PrincipalStat {
    first: i64,
    last: i64,
    events: i64,
    logins: SignIns,
}

/// One principal's console sign-ins, as `principal_console` keeps them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SignIns {
    pub attempts: i64,
    pub failed: i64,
    /// Successful ones that used MFA.
    pub mfa: i64,
    /// Row ids of the newest attempt and of the newest successful one (0: none).
    pub last: i64,
    pub last_ok: i64,
}

impl SignIns {
    pub fn add(&mut self, s: super::normalize::SignIn, id: i64) {
        self.attempts += 1;
        self.last = self.last.max(id);
        if s.failed {
            self.failed += 1;
        } else {
            self.last_ok = self.last_ok.max(id);
            if s.mfa {
                self.mfa += 1;
            }
        }
    }

    /// Adds these to the principal's row.
    pub fn write(&self, conn: &Connection, principal_id: i64) -> rusqlite::Result<()> {
        if self.attempts == 0 {
            return Ok(());
        }
        conn.prepare_cached(
            "INSERT INTO principal_console
                 (principal_id, logins, failed, mfa, last_event_id, last_ok_event_id)
             VALUES (?1, ?2, ?3, ?4, ?5, nullif(?6, 0))
             ON CONFLICT (principal_id) DO UPDATE SET logins = logins + excluded.logins,
                 failed = failed + excluded.failed, mfa = mfa + excluded.mfa,
                 last_event_id = max(last_event_id, excluded.last_event_id),
                 last_ok_event_id = max(coalesce(last_ok_event_id, 0),
                                        coalesce(excluded.last_ok_event_id, 0))",
        )?
        .execute(params![
            principal_id,
            self.attempts,
            self.failed,
            self.mfa,
            self.last,
            self.last_ok
        ])?;
        Ok(())
    }
}

pub struct Store {
    conn: Connection,
    dict_id: i64,
    /// The dictionary's bytes, once read (for rewriting a block with duplicates).
    dict: Option<Option<Vec<u8>>>,
    /// The write-ahead log's file.
    wal: std::path::PathBuf,
    in_tx: bool,
    /// See [`Writer::index_below`]; read at the start of every transaction.
    index_below: Option<i64>,
    /// The batch's text for the full-text index, written in id order at commit: FTS5
    /// writes a new segment whenever a rowid goes backwards, so inserting as events come
    /// (in file order) would make thousands of tiny segments to merge.
    texts: Vec<(i64, String)>,
    caches: Caches,
    files: Vec<FileReport>,
    counts: Counts,
    principal_stats: HashMap<i64, PrincipalStat>,
    batch_events: usize,
    batch_started: Instant,
    savepoint: bool,
    /// Files finished and committed, handed back by [`Store::take_committed`].
    committed: Vec<FileReport>,
    checkpointer: Option<Checkpointer>,
    /// The rules this import runs, and the batch's newly stored events that matched
    /// some: their findings are written at commit, in the same transaction.
    detection: crate::detections::record::Detection,
    matched: Vec<crate::detections::record::Matched>,
    /// Findings made by this import so far.
    pub findings_new: u64,
}

/// Copies the write-ahead log back into the database file on its own thread and
/// connection. Left to SQLite's automatic checkpoint, that copy (and its fsync) would
/// run inside the writer's commit and stall it for a third of the import.
struct Checkpointer {
    poke: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Checkpointer {
    fn spawn(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(30))?;
        let (poke, pokes) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("cairn-checkpoint".into())
            .spawn(move || {
                // One pass per commit (pokes coalesce), and a last one when the import ends.
                while pokes.recv().is_ok() {
                    checkpoint(&conn, "PASSIVE");
                }
                checkpoint(&conn, "PASSIVE");
            })
            .map_err(|e| StoreError::Thread(e.to_string()))?;
        Ok(Checkpointer { poke, thread })
    }

    fn poke(&self) {
        // A full channel means a pass is already due: nothing is lost by skipping.
        let _ = self.poke.try_send(());
    }

    fn finish(self) {
        drop(self.poke);
        if self.thread.join().is_err() {
            tracing::warn!("the checkpoint thread panicked");
        }
    }
}

/// What the writer remembers of rows already stored, so repeated values cost a hash
/// lookup instead of a query.
#[derive(Default)]
struct Caches {
    terms: Vec<HashMap<String, i64>>,
    principals: HashMap<String, i64>,
    resources: HashMap<String, i64>,
}

impl Caches {
    fn new() -> Caches {
        Caches {
            terms: vec![HashMap::default(); TermKind::COUNT],
            ..Default::default()
        }
    }
    fn clear(&mut self) {
        *self = Caches::new();
    }
}

struct Statements<'c> {
    event: rusqlite::CachedStatement<'c>,
    event_is: rusqlite::CachedStatement<'c>,
    term_new: rusqlite::CachedStatement<'c>,
    term_id: rusqlite::CachedStatement<'c>,
    principal: rusqlite::CachedStatement<'c>,
    resource_new: rusqlite::CachedStatement<'c>,
    resource_id: rusqlite::CachedStatement<'c>,
    event_resource: rusqlite::CachedStatement<'c>,
    resource_change: rusqlite::CachedStatement<'c>,
    issued: rusqlite::CachedStatement<'c>,
    key_change: rusqlite::CachedStatement<'c>,
}

impl<'c> Statements<'c> {
    fn prepare(conn: &'c Connection) -> Result<Statements<'c>, StoreError> {
        Ok(Statements {
            event: conn.prepare_cached(INSERT_EVENT)?,
            event_is: conn.prepare_cached("SELECT 1 FROM events WHERE id = ?1 AND account_id = ?2 AND event_key = ?3")?,
            term_new: conn.prepare_cached("INSERT OR IGNORE INTO terms (kind, value) VALUES (?1, ?2)")?,
            term_id: conn.prepare_cached("SELECT id FROM terms WHERE kind = ?1 AND value = ?2")?,
            principal: conn.prepare_cached(
                "INSERT INTO principals (key, kind, display_name, arn, account, origin, parent_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (key) DO UPDATE SET
                   origin = coalesce(principals.origin, excluded.origin),
                   parent_id = coalesce(principals.parent_id, excluded.parent_id)
                 RETURNING id",
            )?,
            resource_new: conn
                .prepare_cached("INSERT OR IGNORE INTO resources (arn, type, name, account) VALUES (?1, ?2, ?3, ?4)")?,
            resource_id: conn.prepare_cached("SELECT id FROM resources WHERE arn = ?1")?,
            event_resource: conn.prepare_cached(
                "INSERT INTO event_resources (resource_id, event_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?,
            resource_change: conn.prepare_cached(
                "INSERT INTO resource_changes (resource_id, event_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?,
            issued: conn.prepare_cached(
                "INSERT INTO issued_credentials (access_key, event_id, principal_id, session_arn, source_identity)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            )?,
            key_change: conn.prepare_cached(KEY_CHANGE)?,
        })
    }
}

/// The per-event work of the store, over statements prepared for one chunk.
struct Writer<'a> {
    st: Statements<'a>,
    conn: &'a Connection,
    caches: &'a mut Caches,
    dict_id: i64,
    /// Events below this id wait for the search index backfill (`None`: none wait).
    index_below: Option<i64>,
    /// For the suppressions in force.
    detection: &'a crate::detections::record::Detection,
}

impl Writer<'_> {
    fn term(&mut self, kind: TermKind, value: Option<&str>) -> Result<Option<i64>, StoreError> {
        let Some(value) = value else { return Ok(None) };
        if let Some(&id) = self.caches.terms[kind as usize].get(value) {
            return Ok(Some(id));
        }
        // A plain insert, and the new row id, in the common case of a value not seen
        // before; a lookup when an earlier import stored it.
        let id = if self.st.term_new.execute(params![kind as i64, value])? == 1 {
            self.conn.last_insert_rowid()
        } else {
            self.st
                .term_id
                .query_row(params![kind as i64, value], |r| r.get(0))?
        };
        self.caches.terms[kind as usize].insert(value.to_owned(), id);
        Ok(Some(id))
    }

    fn principal(&mut self, p: &Principal) -> Result<i64, StoreError> {
        if let Some(&id) = self.caches.principals.get(&p.key) {
            return Ok(id);
        }
        let parent_id = match &p.parent {
            Some(parent) => Some(self.principal(parent)?),
            None => None,
        };
        let id: i64 = self.st.principal.query_row(
            params![
                p.key, p.kind, p.display, p.arn, p.account, p.origin, parent_id
            ],
            |r| r.get(0),
        )?;
        self.caches.principals.insert(p.key.clone(), id);
        Ok(id)
    }

    fn resource(&mut self, r: &Resource) -> Result<i64, StoreError> {
        if let Some(&id) = self.caches.resources.get(&r.arn) {
            return Ok(id);
        }
        let id = if self
            .st
            .resource_new
            .execute(params![r.arn, r.kind, r.name, r.account])?
            == 1
        {
            self.conn.last_insert_rowid()
        } else {
            self.st
                .resource_id
                .query_row(params![r.arn], |row| row.get(0))?
        };
        self.caches.resources.insert(r.arn.clone(), id);
        Ok(id)
    }

    /// Stores one event, whose record is in block `block` (or counts it as already
    /// present: then it returns false).
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        report: &mut FileReport,
        counts: &mut Counts,
        principal_stats: &mut HashMap<i64, PrincipalStat>,
        texts: &mut Vec<(i64, String)>,
        matched: &mut Vec<crate::detections::record::Matched>,
        block: Option<i64>,
        parsed: Parsed,
    ) -> Result<bool, StoreError> {
        let Parsed {
            event: e,
            raw_slot,
            raw_len,
            text,
            hits,
        } = parsed;
        let account_id = self.term(TermKind::Account, Some(&e.account))?.unwrap_or(0);
        let region = self.term(TermKind::Region, e.region.as_deref())?;
        let source_id = self.term(TermKind::Source, Some(&e.source))?.unwrap_or(0);
        let name_id = self.term(TermKind::Name, Some(&e.name))?.unwrap_or(0);
        let event_type = self.term(TermKind::EventType, e.event_type.as_deref())?;
        let category = self.term(TermKind::Category, e.category.as_deref())?;
        // The error column holds the event's error as Cairn files it (see `Event::error`).
        let error = match e.error() {
            Some((kind, text)) => self.term(kind, Some(text))?,
            None => None,
        };
        let error_message = self.term(TermKind::ErrorMessage, e.error_message.as_deref())?;
        let source_ip = self.term(TermKind::SourceIp, e.source_ip.as_deref())?;
        let user_agent = self.term(TermKind::UserAgent, e.user_agent.as_deref())?;
        let access_key = self.term(TermKind::AccessKey, e.access_key.as_deref())?;
        let principal_id = self.principal(&e.principal)?;
        let issuer_id = match &e.principal.parent {
            Some(p) => Some(self.principal(p)?),
            None => None,
        };
        let mut resource_ids = Vec::with_capacity(e.resources.len());
        for r in &e.resources {
            resource_ids.push(self.resource(r)?);
        }
        let resources_json = resource_list(&resource_ids);
        let hash = event_hash(&e.account, &e.event_key);
        let span = 1i64 << ID_HASH_BITS;
        let first = event_row_id(e.time_ms, hash);
        let base = first & !(span - 1);
        report.records += 1;
        report.deliveries.add(&e, raw_len, account_id, region);
        let mut id = first;
        let mut stored = false;
        for step in 0..4096 {
            id = base + ((first - base + step) & (span - 1));
            let n = self.st.event.execute(params![
                id,
                e.time_ms,
                account_id,
                e.event_key,
                region,
                source_id,
                name_id,
                event_type,
                category,
                e.read_only,
                error,
                error_message,
                source_ip,
                user_agent,
                access_key,
                principal_id,
                issuer_id,
                resources_json,
                e.request_id,
                e.shared_event_id,
                self.dict_id,
                block,
                block.map(|_| raw_slot),
            ])?;
            if n == 1 {
                stored = true;
                break;
            }
            // Not inserted: the id is taken, by this very event (a duplicate) or by
            // another event whose id probed to the same slot, and the next one is tried.
            let exists = self
                .st
                .event_is
                .query_row(params![id, account_id, e.event_key], |_| Ok(()))
                .optional()?
                .is_some();
            if exists {
                break;
            }
            if step == 4095 {
                return Err(StoreError::IdSpace(first));
            }
        }
        if !stored {
            report.events_duplicate += 1;
            return Ok(false);
        }
        report.events_new += 1;
        let mut hits = hits;
        self.detection
            .unsuppressed(&mut hits, &e.principal.key, e.source_ip.as_deref(), || {
                e.resources.iter().map(|r| r.arn.as_str()).collect()
            });
        if !hits.is_empty() {
            matched.push(crate::detections::record::Matched { hits, event_id: id });
        }
        if !text.is_empty() && self.index_below.is_none_or(|below| id >= below) {
            texts.push((id, text));
        }
        for rid in &resource_ids {
            self.st.event_resource.execute(params![rid, id])?;
            if e.read_only == Some(false) {
                self.st.resource_change.execute(params![rid, id])?;
            }
        }
        if let Some(key) = &e.key_change {
            self.st.key_change.execute(params![key, id])?;
        }
        if let Some(c) = &e.issued {
            self.st.issued.execute(params![
                c.access_key,
                id,
                principal_id,
                c.session_arn,
                c.source_identity
            ])?;
        }
        let contribution = Contribution {
            time_ms: e.time_ms,
            flags: flags::of(e.read_only, e.failed(), e.error_code.as_deref()),
            principal: principal_id,
            name: name_id,
            source: source_id,
            account: account_id,
            region,
            source_ip,
            error,
            user_agent,
            access_key,
            temporary_key: e.access_key.as_deref().is_some_and(app::schema::is_temporary_key),
            resources: resource_ids
                .iter()
                .zip(&e.resources)
                .map(|(rid, r)| (*rid, r.kind == S3_OBJECT))
                .collect(),
            cost: billed::kind(super::deliveries::kind_of(&e), e.category.is_none()),
            call: is_call(&e),
        };
        counts.add(&contribution, 1);
        if let Some(read) = &e.s3_read {
            let actor = crate::anomalies::actor_of(principal_id, issuer_id, &e.principal);
            let bucket = resource_ids
                .iter()
                .zip(&e.resources)
                .find(|(_, r)| r.kind == "AWS::S3::Bucket")
                .map(|(id, _)| *id);
            counts.s3.add(e.time_ms, actor, bucket, source_ip.zip(e.source_ip.as_deref()), read);
        }
        if let Some(insight) = &e.aws_insight {
            counts.aws_insights.push(crate::anomalies::insights::AwsRecord {
                event_id: id,
                time_ms: e.time_ms,
                account: e.account.clone(),
                region: e.region.clone(),
                insight: insight.clone(),
            });
        }
        if !e.shared_with.is_empty() {
            counts.shares.push(crate::anomalies::sharing::Share {
                event_id: id,
                time_ms: e.time_ms,
                principal: principal_id,
                call: e.name.clone(),
                what: e.resources.first().map(|r| r.name.clone()),
                accounts: e.shared_with.clone(),
            });
        }
        let s = principal_stats
            .entry(principal_id)
            .or_insert(PrincipalStat {
                first: e.time_ms,
                last: e.time_ms,
                events: 0,
                logins: SignIns::default(),
            });
        s.first = s.first.min(e.time_ms);
        s.last = s.last.max(e.time_ms);
        s.events += 1;
        if let Some(sign_in) = e.sign_in {
            s.logins.add(sign_in, id);
        }
        Ok(true)
    }
}

fn checkpoint(conn: &Connection, mode: &str) {
    let sql = format!("PRAGMA wal_checkpoint({mode})");
    if let Err(e) = conn.query_row(&sql, [], |_| Ok(())) {
        // Not fatal: the next pass, or any later connection, copies the log.
        tracing::warn!(error = %e, "checkpoint failed");
    }
}

/// The hash that places an event inside its millisecond: of its account and dedup key.
pub fn event_hash(account: &str, event_key: &[u8]) -> u64 {
    fnv1a(&[account.as_bytes(), event_key])
}

fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Resource ids as the JSON array stored in `events.resource_ids`.
fn resource_list(ids: &[i64]) -> Option<String> {
    if ids.is_empty() {
        return None;
    }
    let parts: Vec<String> = ids.iter().map(i64::to_string).collect();
    Some(format!("[{}]", parts.join(",")))
}

const INSERT_EVENT: &str = "INSERT INTO events (id, event_time, account_id, event_key, region_id,
    source_id, name_id, type_id, category_id, read_only, error_code_id, error_message_id,
    source_ip_id, user_agent_id, access_key_id, principal_id, issuer_id, resource_ids,
    request_id, shared_event_id, raw_dict, raw, raw_block, raw_slot)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
    ?19, ?20, ?21, x'', ?22, ?23) ON CONFLICT DO NOTHING";

impl Store {
    /// Opens the writer's own connection to the (already migrated) database at `path`.
    pub fn open(path: &Path, dict_id: i64) -> Result<Store, StoreError> {
        // Only this thread uses the connection: SQLite's own mutexes are not needed.
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;
             PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;",
        )?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Store {
            conn,
            dict_id,
            dict: None,
            wal: {
                let mut p = path.as_os_str().to_owned();
                p.push("-wal");
                std::path::PathBuf::from(p)
            },
            in_tx: false,
            index_below: None,
            texts: Vec::new(),
            caches: Caches::new(),
            files: Vec::new(),
            counts: Counts::default(),
            principal_stats: HashMap::default(),
            batch_events: 0,
            batch_started: Instant::now(),
            savepoint: false,
            committed: Vec::new(),
            checkpointer: Some(Checkpointer::spawn(path)?),
            detection: Default::default(),
            matched: Vec::new(),
            findings_new: 0,
        })
    }

    /// The rules to run on the events this store writes.
    pub fn set_detection(&mut self, detection: crate::detections::record::Detection) {
        self.detection = detection;
    }

    /// Commits what is pending and waits for the last checkpoint. Returns how many
    /// findings the import made.
    pub fn close(mut self) -> Result<u64, StoreError> {
        self.commit()?;
        if let Some(c) = self.checkpointer.take() {
            c.finish();
        }
        Ok(self.findings_new)
    }

    fn ensure_tx(&mut self) -> Result<(), StoreError> {
        if !self.in_tx {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.in_tx = true;
            self.index_below = crate::ingest::search_index::pending_below(&self.conn)?;
            self.batch_started = Instant::now();
        }
        Ok(())
    }

    fn forget_caches(&mut self) {
        self.caches.clear();
    }

    /// Registers a file; its events follow through [`Store::add`].
    pub fn begin_file(&mut self, source: &str, job: FileJob) -> usize {
        self.files.push(FileReport {
            source: source.to_owned(),
            job,
            sha256: None,
            content_sha256: None,
            records: 0,
            events_new: 0,
            events_duplicate: 0,
            rejects: Vec::new(),
            rejected_records: 0,
            status: FileStatus::Imported,
            deliveries: Default::default(),
        });
        self.files.len() - 1
    }

    /// Starts a large file that arrives in several chunks: the batch so far is committed,
    /// and the file is written under a savepoint so a failure half-way leaves no trace.
    /// Call before [`Store::begin_file`] for that file.
    pub fn savepoint(&mut self) -> Result<(), StoreError> {
        self.commit()?;
        self.ensure_tx()?;
        self.conn.execute_batch("SAVEPOINT cairn_file")?;
        self.savepoint = true;
        Ok(())
    }

    /// Stores a chunk of `file`'s events and rejected records, in file order. The
    /// statements are looked up once per chunk, not once per event.
    /// Stores a chunk of a file: its block once, then its events pointing at it. A
    /// block none of whose events is new is not kept; one with some already stored is
    /// kept with only the new ones' records.
    pub fn add_pieces(&mut self, file: usize, chunk: Chunk) -> Result<(), StoreError> {
        self.ensure_tx()?;
        let Chunk { block, pieces } = chunk;
        let block_id = match &block {
            Some(data) => {
                let records = pieces.iter().filter(|p| matches!(p, Piece::Event(_))).count();
                self.conn
                    .prepare_cached("INSERT INTO raw_blocks (dict, records, data) VALUES (?1, ?2, ?3)")?
                    .execute(params![self.dict_id, records as i64, data])?;
                Some(self.conn.last_insert_rowid())
            }
            None => None,
        };
        let kept = self.add_events(file, block_id, pieces)?;
        if let (Some(id), Some(data)) = (block_id, &block) {
            if !kept.iter().any(|&k| k) {
                self.conn.prepare_cached("DELETE FROM raw_blocks WHERE id = ?1")?.execute([id])?;
            } else if !kept.iter().all(|&k| k) {
                let dict = self.dictionary()?;
                let data = super::blocks::keep_only(dict.as_deref(), data, &kept)
                    .map_err(|e| StoreError::Block(id, e.to_string()))?;
                self.conn
                    .prepare_cached("UPDATE raw_blocks SET data = ?2 WHERE id = ?1")?
                    .execute(params![id, data])?;
            }
        }
        Ok(())
    }

    /// The bytes of the dictionary this store compresses with (read once).
    fn dictionary(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        if self.dict.is_none() {
            let bytes: Option<Vec<u8>> = self
                .conn
                .query_row("SELECT data FROM raw_dictionaries WHERE id = ?1", [self.dict_id], |r| r.get(0))
                .optional()?;
            self.dict = Some(bytes);
        }
        Ok(self.dict.clone().flatten())
    }

    /// Stores the pieces of a chunk; returns, per slot of its block, whether that event
    /// was new.
    fn add_events(&mut self, file: usize, block: Option<i64>, pieces: Vec<Piece>) -> Result<Vec<bool>, StoreError> {
        let mut kept = Vec::new();
        let Store {
            conn,
            dict_id,
            index_below,
            caches,
            files,
            counts,
            principal_stats,
            texts,
            batch_events,
            matched,
            detection,
            ..
        } = self;
        let mut w = Writer {
            st: Statements::prepare(conn)?,
            conn,
            caches,
            dict_id: *dict_id,
            index_below: *index_below,
            detection,
        };
        let report = &mut files[file];
        for piece in pieces {
            match piece {
                Piece::Event(parsed) => {
                    *batch_events += 1;
                    let slot = parsed.raw_slot as usize;
                    let new = w.add(report, counts, principal_stats, texts, matched, block, parsed)?;
                    if kept.len() <= slot {
                        kept.resize(slot + 1, false);
                    }
                    kept[slot] = new;
                }
                Piece::Reject(r) => {
                    report.rejected_records += 1;
                    if report.rejects.len() < REJECTS_KEPT {
                        report.rejects.push(r);
                    }
                }
            }
        }
        Ok(kept)
    }

    /// Notes the hash of a file's uncompressed content, before [`Store::finish_file`].
    pub fn set_content_sha256(&mut self, file: usize, content: Option<String>) {
        self.files[file].content_sha256 = content;
    }

    /// Ends a file. For a file streamed under a savepoint, a failure rolls back its rows.
    pub fn finish_file(
        &mut self,
        file: usize,
        sha256: Option<String>,
        status: FileStatus,
    ) -> Result<(), StoreError> {
        self.ensure_tx()?;
        if self.savepoint {
            if status.failed() {
                self.conn.execute_batch("ROLLBACK TO cairn_file")?;
                // The batch holds only this file (see `savepoint`): its rows, terms and
                // aggregates are gone, so forget what was cached about them.
                self.forget_caches();
                self.counts.clear();
                self.principal_stats.clear();
                self.texts.clear();
                self.matched.clear();
            }
            self.conn.execute_batch("RELEASE cairn_file")?;
            self.savepoint = false;
        }
        let f = &mut self.files[file];
        f.sha256 = sha256;
        if status.failed() {
            // The file went in not at all: its events count as neither new nor present.
            f.events_new = 0;
            f.events_duplicate = 0;
            f.deliveries.clear();
        }
        f.status = status;
        Ok(())
    }

    /// Commits when the batch is big or old enough.
    pub fn maybe_commit(&mut self) -> Result<(), StoreError> {
        if self.in_tx
            && !self.savepoint
            && (self.batch_events >= BATCH_EVENTS || self.batch_started.elapsed() >= BATCH_TIME)
        {
            self.commit()?;
        }
        Ok(())
    }

    /// Writes the batch's aggregates and ledger rows, and commits.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        if !self.in_tx && self.files.is_empty() {
            return Ok(());
        }
        self.ensure_tx()?;
        match self.write_batch_tail() {
            Ok(()) => {
                self.conn.execute_batch("COMMIT")?;
                self.in_tx = false;
                self.batch_events = 0;
                self.committed.append(&mut self.files);
                if let Some(c) = &self.checkpointer {
                    c.poke();
                }
                if std::fs::metadata(&self.wal).is_ok_and(|m| m.len() > WAL_BOUND) {
                    // Waits for the checkpoint thread's pass and for readers on older
                    // snapshots, then copies what is left.
                    checkpoint(&self.conn, "FULL");
                }
                Ok(())
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                self.in_tx = false;
                self.forget_caches();
                self.counts.clear();
                self.texts.clear();
                self.matched.clear();
                Err(e)
            }
        }
    }

    fn write_batch_tail(&mut self) -> Result<(), StoreError> {
        self.texts.sort_unstable_by_key(|(id, _)| *id);
        {
            let mut st = self
                .conn
                .prepare_cached("INSERT INTO events_fts (rowid, text) VALUES (?1, ?2)")?;
            for (id, text) in self.texts.drain(..) {
                st.execute(params![id, text])?;
            }
        }
        self.counts.write(&self.conn)?;
        let now = chrono::Utc::now().timestamp_millis();
        let matched = std::mem::take(&mut self.matched);
        self.findings_new += crate::detections::record::record(&self.conn, &self.detection, matched, now)?;
        let touched = self.counts.s3.write(&self.conn)?;
        self.findings_new += crate::anomalies::exfil::judge(
            &self.conn,
            &self.detection.anomalies,
            &touched,
            self.detection.alerts,
            now,
        )?;
        let shares = std::mem::take(&mut self.counts.shares);
        self.findings_new += crate::anomalies::sharing::judge(
            &self.conn,
            &self.detection.anomalies,
            &shares,
            self.detection.alerts,
            now,
        )?;
        let hot = self.counts.calls.take_hot();
        self.findings_new += crate::anomalies::insights::judge(
            &self.conn,
            &self.detection.anomalies,
            &hot,
            self.detection.alerts,
            now,
        )?;
        let aws = std::mem::take(&mut self.counts.aws_insights);
        self.findings_new += crate::anomalies::insights::file_aws(
            &self.conn,
            &self.detection.anomalies,
            &aws,
            self.detection.alerts,
            now,
        )?;
        let stats: Vec<(i64, PrincipalStat)> = self.principal_stats.drain().collect();
        for (id, s) in stats {
            self.conn
                .prepare_cached(
                    "UPDATE principals SET first_seen = min(coalesce(first_seen, ?2), ?2),
                     last_seen = max(coalesce(last_seen, ?3), ?3), events = events + ?4 WHERE id = ?1",
                )?
                .execute(params![id, s.first, s.last, s.events])?;
            s.logins.write(&self.conn, id)?;
        }
        let now = chrono::Utc::now().timestamp_millis();
        for f in &self.files {
            let (status, error) = match &f.status {
                FileStatus::Imported => ("imported", None),
                FileStatus::Rejected(e) => ("rejected", Some(e.as_str())),
                FileStatus::Skipped(e) => ("skipped", Some(e.as_str())),
                FileStatus::Unreachable(_) => continue,
            };
            let deliveries = super::deliveries::record(
                &self.conn,
                &super::deliveries::FileDeliveries {
                    origin: &f.source,
                    path: &f.job.display,
                    date: f.job.layout.date.as_deref(),
                    size: f.job.size,
                    account: f.job.layout.account.as_deref(),
                    region: f.job.layout.region.as_deref(),
                    counts: &f.deliveries,
                    imported: status == "imported",
                },
            )?;
            let file_id: i64 = self
                .conn
                .prepare_cached(
                    "INSERT INTO ingest_files (source, path, size, modified, sha256, kind, account, region,
                       log_date, status, records, events_new, events_duplicate, records_rejected, error,
                       imported_at, deliveries, content_sha256)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
                     ON CONFLICT (source, path) DO UPDATE SET size = excluded.size,
                       modified = excluded.modified, sha256 = excluded.sha256,
                       content_sha256 = excluded.content_sha256, kind = excluded.kind,
                       account = excluded.account, region = excluded.region,
                       log_date = excluded.log_date, status = excluded.status,
                       records = excluded.records, events_new = excluded.events_new,
                       events_duplicate = excluded.events_duplicate,
                       records_rejected = excluded.records_rejected, error = excluded.error,
                       imported_at = excluded.imported_at, deliveries = excluded.deliveries
                     RETURNING id",
                )?
                .query_row(
                    params![
                        f.source,
                        f.job.display,
                        f.job.size as i64,
                        f.job.modified_ms,
                        f.sha256,
                        f.job.layout.kind.as_str(),
                        f.job.layout.account,
                        f.job.layout.region,
                        f.job.layout.date,
                        status,
                        f.records as i64,
                        f.events_new as i64,
                        f.events_duplicate as i64,
                        f.rejected_records as i64,
                        error,
                        now,
                        deliveries,
                        f.content_sha256
                    ],
                    |r| r.get(0),
                )?;
            self.conn
                .prepare_cached("DELETE FROM ingest_rejects WHERE file_id = ?1")?
                .execute(params![file_id])?;
            for r in &f.rejects {
                self.conn
                    .prepare_cached(
                        "INSERT INTO ingest_rejects (file_id, position, offset, reason) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT DO NOTHING",
                    )?
                    .execute(params![file_id, r.position as i64, r.offset as i64, r.reason])?;
            }
        }
        Ok(())
    }

    /// Reports of the files committed so far (drained).
    pub fn take_committed(&mut self) -> Vec<FileReport> {
        std::mem::take(&mut self.committed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::normalize::normalize;
    use crate::ingest::source::parse_layout;
    use std::path::PathBuf;

    const ACCOUNT: &str = "111122223333";
    /// 2024-01-01T00:00:00Z.
    const T0: i64 = 1_704_067_200_000;
    const MINUTE0: i64 = T0 / 60_000;

    /// A database migrated the way the server does it, in a folder of its own.
    struct Db {
        _dir: tempfile::TempDir,
        path: PathBuf,
    }

    impl Db {
        fn new() -> Db {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("cairn.db");
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async { crate::db::connect(&path).await.unwrap().close().await });
            Db { _dir: dir, path }
        }

        fn store(&self) -> Store {
            Store::open(&self.path, 0).unwrap()
        }

        /// Reads through a connection of its own, as the pages do.
        fn conn(&self) -> Connection {
            Connection::open(&self.path).unwrap()
        }

        fn count(&self, sql: &str) -> i64 {
            self.conn()
                .query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
                .unwrap()
                .unwrap_or(0)
        }

        /// Every stored event as (row id, eventID), in id order.
        fn ids(&self) -> Vec<(i64, String)> {
            let conn = self.conn();
            let mut st = conn
                .prepare("SELECT id, CAST(event_key AS TEXT) FROM events ORDER BY id")
                .unwrap();
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        }
    }

    /// A record with a non-UUID `eventID` (stored as its bytes), `second`s after `T0`.
    fn record(event_id: &str, account: &str, second: i64, user: &str, extra: &str) -> String {
        let time = chrono::DateTime::from_timestamp_millis(T0 + second * 1000)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ");
        format!(
            r#"{{"eventVersion":"1.08","eventTime":"{time}","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","eventID":"{event_id}","recipientAccountId":"{account}","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::{account}:user/{user}","userName":"{user}"}}{extra}}}"#
        )
    }

    fn event(raw: &str) -> Piece {
        Piece::Event(Parsed {
            event: normalize(raw.as_bytes(), None).unwrap(),
            raw_slot: 0,
            raw_len: raw.len(),
            // A word of its own, to count what reached the (contentless) index.
            text: format!(
                "indexed\n{}",
                crate::ingest::text::search_text(raw.as_bytes())
            ),
            hits: Vec::new(),
        })
    }

    /// A chunk of `pieces` as a decoder sends it: their records in a block (the tests
    /// read their events' columns, not their records; each stands for its event by id).
    fn chunk(mut pieces: Vec<Piece>) -> Chunk {
        let mut b = crate::ingest::blocks::BlockBuilder::new(None).unwrap();
        for p in &mut pieces {
            if let Piece::Event(e) = p {
                e.raw_slot = b.push(format!("{{\"eventID\":{:?}}}", e.event.event_key).as_bytes()).unwrap();
            }
        }
        Chunk { block: b.seal().unwrap(), pieces }
    }

    impl Store {
        fn add_test_pieces(&mut self, file: usize, pieces: Vec<Piece>) -> Result<(), StoreError> {
            self.add_pieces(file, chunk(pieces))
        }
    }

    const INDEXED: &str = "SELECT count(*) FROM events_fts WHERE events_fts MATCH 'indexed'";

    fn ev(event_id: &str, second: i64, user: &str) -> Piece {
        event(&record(event_id, ACCOUNT, second, user, ""))
    }

    fn reject(position: u64) -> Piece {
        Piece::Reject(RecordReject {
            position,
            offset: position * 100,
            reason: format!("bad record {position}"),
        })
    }

    fn job(path: &str) -> FileJob {
        FileJob {
            path: PathBuf::from(path),
            display: path.to_owned(),
            size: 1234,
            modified_ms: 42,
            layout: parse_layout(path),
        }
    }

    /// Stores one whole file in a transaction of its own and returns its report.
    fn import(store: &mut Store, path: &str, pieces: Vec<Piece>) -> FileReport {
        let f = store.begin_file("file", job(path));
        store.add_test_pieces(f, pieces).unwrap();
        store
            .finish_file(f, Some("sha".into()), FileStatus::Imported)
            .unwrap();
        store.commit().unwrap();
        let mut done = store.take_committed();
        assert_eq!(done.len(), 1);
        done.remove(0)
    }

    /// Three eventIDs whose events' first row ids are the same (in one millisecond, and
    /// away from its end, where a probe wraps: see the test of that).
    fn clashing_keys() -> Vec<String> {
        let mask = (1u64 << ID_HASH_BITS) - 1;
        let mut slots: HashMap<u64, Vec<String>> = HashMap::default();
        (0u32..)
            .find_map(|n| {
                let key = format!("clash-{n}");
                let slot = event_hash(ACCOUNT, key.as_bytes()) & mask;
                if slot > mask - 4 {
                    return None;
                }
                let keys = slots.entry(slot).or_default();
                keys.push(key);
                (keys.len() == 3).then(|| keys.clone())
            })
            .unwrap()
    }

    const ORDERS: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];

    #[test]
    fn clashing_ids_take_the_next_free_ones_and_are_found_again_in_any_order() {
        let keys = clashing_keys();
        let first = event_row_id(T0, event_hash(ACCOUNT, keys[0].as_bytes()));
        for k in &keys {
            assert_eq!(event_row_id(T0, event_hash(ACCOUNT, k.as_bytes())), first);
        }
        for stored in [[0, 1, 2], [2, 0, 1]] {
            let db = Db::new();
            let mut store = db.store();
            let r = import(
                &mut store,
                "/first.json",
                stored.iter().map(|&i| ev(&keys[i], 0, "alice")).collect(),
            );
            assert_eq!((r.events_new, r.events_duplicate), (3, 0));
            // The first to come takes the first id, the next the id after, and so on.
            let expected: Vec<(i64, String)> = stored
                .iter()
                .enumerate()
                .map(|(n, &i)| (first + n as i64, keys[i].clone()))
                .collect();
            assert_eq!(db.ids(), expected);
            for order in ORDERS {
                let r = import(
                    &mut store,
                    "/again.json",
                    order.iter().map(|&i| ev(&keys[i], 0, "alice")).collect(),
                );
                assert_eq!((r.events_new, r.events_duplicate), (0, 3), "{order:?}");
            }
            assert_eq!(db.ids(), expected);
            store.close().unwrap();
        }
    }

    #[test]
    fn a_probe_past_the_end_of_its_millisecond_goes_on_at_its_start() {
        let mask = (1i64 << ID_HASH_BITS) - 1;
        // Found by search: both hash to the last id of their millisecond.
        let keys = ["wrap-203253", "wrap-2333781"];
        for k in keys {
            assert_eq!(event_hash(ACCOUNT, k.as_bytes()) as i64 & mask, mask, "{k}");
        }
        let db = Db::new();
        let mut store = db.store();
        let r = import(
            &mut store,
            "/a.json",
            keys.iter().map(|k| ev(k, 0, "alice")).collect(),
        );
        assert_eq!((r.events_new, r.events_duplicate), (2, 0));
        let base = T0 << ID_HASH_BITS;
        assert_eq!(
            db.ids(),
            vec![
                (base, keys[1].to_owned()),
                (base + mask, keys[0].to_owned())
            ]
        );
        let r = import(
            &mut store,
            "/b.json",
            keys.iter().rev().map(|k| ev(k, 0, "alice")).collect(),
        );
        assert_eq!((r.events_new, r.events_duplicate), (0, 2));
        store.close().unwrap();
    }

    #[test]
    fn dedup_is_per_account_and_holds_inside_one_chunk() {
        let db = Db::new();
        let mut store = db.store();
        let other = "999988887777";
        let r = import(
            &mut store,
            "/a.json",
            vec![
                ev("same-id", 0, "alice"),
                event(&record("same-id", other, 0, "alice", "")),
                ev("same-id", 0, "alice"),
                ev("other-id", 5, "alice"),
                ev("other-id", 5, "alice"),
            ],
        );
        assert_eq!((r.records, r.events_new, r.events_duplicate), (5, 3, 2));
        assert_eq!(db.count("SELECT count(*) FROM events"), 3);
        store.close().unwrap();
    }

    #[test]
    fn a_batch_is_committed_whole_and_its_summaries_match_its_rows() {
        let db = Db::new();
        let mut store = db.store();
        let f = store.begin_file("file", job("/batch.json"));
        // Two chunks: alice three times in the first minute (once refused), a rejected
        // record, then bob twice in the next minute (once a write to a bucket).
        store
            .add_test_pieces(
                f,
                vec![
                    ev("e1", 0, "alice"),
                    ev("e2", 10, "alice"),
                    event(&record(
                        "e3",
                        ACCOUNT,
                        20,
                        "alice",
                        r#","errorCode":"AccessDenied""#,
                    )),
                    reject(4),
                ],
            )
            .unwrap();
        store
            .add_test_pieces(
                f,
                vec![
                    ev("e5", 60, "bob"),
                    event(&record(
                        "e6",
                        ACCOUNT,
                        90,
                        "bob",
                        r#","readOnly":false,"requestParameters":{"bucketName":"b"}"#,
                    )),
                ],
            )
            .unwrap();
        store
            .finish_file(f, Some("sha".into()), FileStatus::Imported)
            .unwrap();
        // Until the commit, readers see none of it.
        assert_eq!(db.count("SELECT count(*) FROM events"), 0);
        assert_eq!(db.count("SELECT count(*) FROM ingest_files"), 0);
        store.commit().unwrap();

        assert_eq!(db.count("SELECT count(*) FROM events"), 5);
        assert_eq!(db.count(INDEXED), 5);
        let conn = db.conn();
        let minutes: Vec<(i64, i64, i64)> = conn
            .prepare("SELECT minute, flags, events FROM counts_minute ORDER BY minute, flags")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            minutes,
            vec![
                (MINUTE0, 0, 2),
                (MINUTE0, flags::ERROR | flags::DENIED, 1),
                (MINUTE0 + 1, 0, 1),
                (MINUTE0 + 1, flags::WRITE, 1),
            ]
        );
        let per_principal: Vec<(String, i64, i64, i64, i64)> = conn
            .prepare(
                "SELECT p.display_name, p.events, p.first_seen, p.last_seen,
                        (SELECT sum(events) FROM rollup_hour WHERE dim = ?1 AND value = p.id)
                 FROM principals p ORDER BY p.display_name",
            )
            .unwrap()
            .query_map([Dim::Principal as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            per_principal,
            vec![
                ("alice".into(), 3, T0, T0 + 20_000, 3),
                ("bob".into(), 2, T0 + 60_000, T0 + 90_000, 2),
            ]
        );
        for sql in [
            "SELECT sum(events) FROM rollup_day WHERE dim = 0",
            "SELECT sum(events) FROM rollup_hour WHERE dim = 2",
            "SELECT sum(events) FROM entity_minute WHERE kind = 0",
        ] {
            assert_eq!(db.count(sql), 5, "{sql}");
        }
        assert_eq!(db.count("SELECT count(*) FROM event_resources"), 1);
        assert_eq!(db.count("SELECT count(*) FROM resource_changes"), 1);
        assert_eq!(
            db.count("SELECT sum(events) FROM rollup_hour WHERE dim = 3"),
            1
        );
        let ledger: (i64, i64, i64, i64) = conn
            .query_row(
                "SELECT records, events_new, events_duplicate, records_rejected FROM ingest_files",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(ledger, (5, 5, 0, 1));
        store.close().unwrap();
    }

    #[test]
    fn a_file_that_fails_half_way_leaves_no_trace_and_can_come_again() {
        let db = Db::new();
        let mut store = db.store();
        import(
            &mut store,
            "/good.json",
            vec![ev("e1", 0, "alice"), ev("e2", 1, "alice")],
        );
        // A large file, streamed in chunks under a savepoint, fails after two of them.
        store.savepoint().unwrap();
        let f = store.begin_file("file", job("/big.json.gz"));
        store
            .add_test_pieces(f, vec![ev("e3", 2, "carol"), ev("e1", 0, "alice")])
            .unwrap();
        store
            .add_test_pieces(f, vec![ev("e4", 3, "carol"), reject(4)])
            .unwrap();
        let why = "gzip stream: corrupt deflate stream";
        store
            .finish_file(f, None, FileStatus::Rejected(why.into()))
            .unwrap();
        store.commit().unwrap();
        let r = store.take_committed().remove(0);
        assert_eq!(
            (
                r.records,
                r.events_new,
                r.events_duplicate,
                r.rejected_records
            ),
            (3, 0, 0, 1)
        );
        assert_eq!(db.count("SELECT count(*) FROM events"), 2);
        assert_eq!(db.count(INDEXED), 2);
        assert_eq!(db.count("SELECT sum(events) FROM counts_minute"), 2);
        assert_eq!(db.count("SELECT sum(events) FROM principals"), 2);
        assert_eq!(
            db.count("SELECT count(*) FROM principals WHERE display_name = 'carol'"),
            0
        );
        let (status, error, new): (String, String, i64) = db
            .conn()
            .query_row(
                "SELECT status, error, events_new FROM ingest_files WHERE path = '/big.json.gz'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((status.as_str(), error.as_str(), new), ("rejected", why, 0));

        // Read again whole, its events are new; the principal it had made is made anew.
        let r = import(
            &mut store,
            "/big.json.gz",
            vec![
                ev("e3", 2, "carol"),
                ev("e1", 0, "alice"),
                ev("e4", 3, "carol"),
            ],
        );
        assert_eq!((r.events_new, r.events_duplicate), (2, 1));
        assert_eq!(db.count("SELECT count(*) FROM events"), 4);
        assert_eq!(db.count("SELECT sum(events) FROM counts_minute"), 4);
        assert_eq!(
            db.count("SELECT events FROM principals WHERE display_name = 'carol'"),
            2
        );
        assert_eq!(
            db.count(
                "SELECT count(*) FROM ingest_files
                 WHERE path = '/big.json.gz' AND status = 'imported'"
            ),
            1
        );
        assert_eq!(db.count("SELECT count(*) FROM ingest_rejects"), 0);
        store.close().unwrap();
    }

    #[test]
    fn the_ledger_records_every_file_read_with_its_counts() {
        let db = Db::new();
        let mut store = db.store();
        let path = "/logs/AWSLogs/111122223333/CloudTrail/eu-west-1/2024/01/01/\
                    111122223333_CloudTrail_eu-west-1_20240101T0000Z_x.json.gz";
        // Several files in one transaction, as the import batches them.
        let a = store.begin_file("file", job(path));
        store
            .add_test_pieces(
                a,
                vec![
                    ev("e1", 0, "alice"),
                    reject(2),
                    ev("e2", 1, "alice"),
                    ev("e1", 0, "alice"),
                    reject(5),
                ],
            )
            .unwrap();
        store
            .finish_file(a, Some("aaa".into()), FileStatus::Imported)
            .unwrap();
        let digest = store.begin_file("file", job("/logs/digest.json.gz"));
        store
            .finish_file(
                digest,
                Some("ddd".into()),
                FileStatus::Skipped("log file integrity digest: no events".into()),
            )
            .unwrap();
        let bad = store.begin_file("file", job("/logs/bad.json"));
        store
            .finish_file(
                bad,
                None,
                FileStatus::Rejected("invalid JSON at byte 0".into()),
            )
            .unwrap();
        let gone = store.begin_file("file", job("/logs/gone.json"));
        store
            .finish_file(
                gone,
                None,
                FileStatus::Unreachable("permission denied".into()),
            )
            .unwrap();
        let many = store.begin_file("file", job("/logs/many.json"));
        store
            .add_test_pieces(many, (1..=REJECTS_KEPT as u64 + 5).map(reject).collect())
            .unwrap();
        store
            .finish_file(many, Some("mmm".into()), FileStatus::Imported)
            .unwrap();
        store.commit().unwrap();
        // Every file is reported, the unreachable one too (it is tried again next time).
        let reports = store.take_committed();
        assert_eq!(reports.len(), 5);
        assert!(reports[3].status.failed());

        type Row = (
            String,
            String,
            i64,
            i64,
            i64,
            i64,
            Option<String>,
            Option<String>,
        );
        let conn = db.conn();
        let rows: Vec<Row> = conn
            .prepare(
                "SELECT path, status, records, events_new, events_duplicate, records_rejected,
                        error, sha256
                 FROM ingest_files ORDER BY id",
            )
            .unwrap()
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let row = |p: &str, s: &str, n: [i64; 4], e: Option<&str>, h: Option<&str>| -> Row {
            let [records, new, dup, rejected] = n;
            let (e, h) = (e.map(str::to_owned), h.map(str::to_owned));
            (p.into(), s.into(), records, new, dup, rejected, e, h)
        };
        assert_eq!(
            rows,
            vec![
                row(path, "imported", [3, 2, 1, 2], None, Some("aaa")),
                row(
                    "/logs/digest.json.gz",
                    "skipped",
                    [0, 0, 0, 0],
                    Some("log file integrity digest: no events"),
                    Some("ddd")
                ),
                row(
                    "/logs/bad.json",
                    "rejected",
                    [0, 0, 0, 0],
                    Some("invalid JSON at byte 0"),
                    None
                ),
                row(
                    "/logs/many.json",
                    "imported",
                    [0, 0, 0, 105],
                    None,
                    Some("mmm")
                ),
            ]
        );
        // What the file's key says, for the pages that list deliveries.
        let layout: (String, String, String, String, i64, i64) = conn
            .query_row(
                "SELECT kind, account, region, log_date, size, modified FROM ingest_files
                 WHERE path = ?1",
                [path],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(
            layout,
            (
                "CloudTrail".into(),
                ACCOUNT.into(),
                "eu-west-1".into(),
                "2024/01/01".into(),
                1234,
                42
            )
        );
        let rejects: Vec<(i64, i64, String)> = conn
            .prepare(
                "SELECT r.position, r.offset, r.reason FROM ingest_rejects r
                 JOIN ingest_files f ON f.id = r.file_id WHERE f.path = ?1 ORDER BY 1",
            )
            .unwrap()
            .query_map([path], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rejects,
            vec![
                (2, 200, "bad record 2".into()),
                (5, 500, "bad record 5".into())
            ]
        );
        // Only the first rejects of a file are kept; all are counted (above).
        assert_eq!(
            db.count(
                "SELECT count(*) FROM ingest_rejects r JOIN ingest_files f ON f.id = r.file_id
                 WHERE f.path = '/logs/many.json'"
            ),
            REJECTS_KEPT as i64
        );

        // A file read again replaces its row and its rejects; it does not add a row.
        let r = import(
            &mut store,
            path,
            vec![ev("e1", 0, "alice"), ev("e2", 1, "alice")],
        );
        assert_eq!((r.events_new, r.events_duplicate), (0, 2));
        let again: (i64, i64, i64, i64) = db
            .conn()
            .query_row(
                "SELECT count(*), sum(events_duplicate), sum(records_rejected),
                        (SELECT count(*) FROM ingest_rejects WHERE file_id = max(f.id))
                 FROM ingest_files f WHERE path = ?1",
                [path],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(again, (1, 2, 0, 0));
        // The same path from another source is another file.
        let other = store.begin_file("s3://bucket", job(path));
        store
            .finish_file(other, Some("aaa".into()), FileStatus::Imported)
            .unwrap();
        store.commit().unwrap();
        assert_eq!(
            db.count(&format!(
                "SELECT count(*) FROM ingest_files WHERE path = '{path}'"
            )),
            2
        );
        store.close().unwrap();
    }

    /// The ledger is what lets an import skip what it has read: through the whole
    /// pipeline, an unchanged file is skipped, a rejected one read again, a changed one
    /// read again with its old events found as duplicates.
    #[tokio::test]
    async fn an_unchanged_file_is_skipped_and_a_failed_one_read_again() {
        use crate::ingest::{LocalFiles, Options, source};
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::connect(&dir.path().join("c.db")).await.unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let records = |ids: &[&str]| {
            let r: Vec<String> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| record(id, ACCOUNT, i as i64, "alice", ""))
                .collect();
            format!(r#"{{"Records":[{}]}}"#, r.join(","))
        };
        std::fs::write(logs.join("good.json"), records(&["g1", "g2"])).unwrap();
        std::fs::write(logs.join("bad.json"), r#"{"Records":[{"eventTime":"#).unwrap();
        let import = || async {
            let (jobs, errors) = source::walk(std::slice::from_ref(&logs));
            assert!(errors.is_empty(), "{errors:?}");
            let opts = Options {
                threads: 1,
                progress: false,
            };
            crate::ingest::run(&pool, std::sync::Arc::new(LocalFiles), jobs, opts)
                .await
                .unwrap()
        };
        let figures = |s: &crate::ingest::Summary| {
            (
                s.files,
                s.files_unchanged,
                s.events_new,
                s.events_duplicate,
                s.files_rejected.len(),
            )
        };
        assert_eq!(figures(&import().await), (2, 0, 2, 0, 1));
        assert_eq!(figures(&import().await), (1, 1, 0, 0, 1));
        std::fs::write(logs.join("good.json"), records(&["g1", "g2", "g3"])).unwrap();
        assert_eq!(figures(&import().await), (2, 0, 1, 2, 1));
        let ledger: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT status, records, events_new, events_duplicate FROM ingest_files ORDER BY path",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(
            ledger,
            vec![("rejected".into(), 0, 0, 0), ("imported".into(), 3, 1, 2)]
        );
    }

    #[test]
    fn counts_leave_objects_and_session_keys_out_of_the_rollup_and_take_back_to_nothing() {
        let c = Contribution {
            time_ms: T0 + 90_000,
            flags: flags::WRITE,
            principal: 1,
            name: 2,
            source: 3,
            account: 4,
            region: Some(5),
            source_ip: None,
            error: None,
            user_agent: None,
            access_key: Some(6),
            temporary_key: true,
            resources: vec![(7, false), (8, true)],
            cost: Some(billed::DATA),
            call: false,
        };
        let mut counts = Counts::default();
        counts.add(&c, 1);
        let hour = (T0 + 90_000) / 3_600_000;
        let mut rollup: Vec<(u8, i64)> = counts
            .rollup
            .iter()
            .map(|(&(dim, h, f, value), &n)| {
                assert_eq!((h, f, n), (hour, flags::WRITE, 1));
                (dim, value)
            })
            .collect();
        rollup.sort_unstable();
        // Neither the single object (8) nor the session's key (6).
        let d = |dim: Dim, v: i64| (dim as u8, v);
        assert_eq!(
            rollup,
            vec![
                d(Dim::Principal, 1),
                d(Dim::Name, 2),
                d(Dim::Source, 3),
                d(Dim::Resource, 7),
                d(Dim::Region, 5),
                d(Dim::Account, 4),
            ]
        );
        // Per entity: the principal and the resource (not the object), each with every
        // value of the event, the key and the object included.
        let mut entities: Vec<(u8, i64)> = counts
            .entity_minutes
            .keys()
            .map(|&(kind, e, _, _)| (kind, e))
            .collect();
        entities.sort_unstable();
        assert_eq!(
            entities,
            vec![(entity::PRINCIPAL, 1), (entity::RESOURCE, 7)]
        );
        assert_eq!(counts.entity_days.len(), 2 * 8);
        // What drives the bill: principal, name and the resource (not the object).
        let mut costs: Vec<(u8, i64)> = counts.costs.keys().map(|&(_, k, dim, v, a, r)| {
            assert_eq!((k, a, r), (billed::DATA, 4, 5));
            (dim, v)
        }).collect();
        costs.sort_unstable();
        assert_eq!(costs, vec![d(Dim::Principal, 1), d(Dim::Name, 2), d(Dim::Resource, 7)]);

        let db = Db::new();
        let conn = db.conn();
        let tables = [
            "counts_minute",
            "rollup_hour",
            "rollup_day",
            "entity_minute",
            "entity_day",
            "cost_drivers",
        ];
        let rows = |conn: &Connection| -> Vec<i64> {
            tables
                .iter()
                .map(|t| {
                    conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                        .unwrap()
                })
                .collect()
        };
        counts.write(&conn).unwrap();
        assert_eq!(rows(&conn), vec![1, 6, 6, 2, 16, 3]);
        assert!(counts.rollup.is_empty(), "written counts are emptied");
        // Taken back out, a row left at zero goes: no value shows with no events.
        counts.add(&c, -1);
        counts.write(&conn).unwrap();
        assert_eq!(rows(&conn), vec![0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn deliveries_count_every_copy_once_per_reading() {
        let db = Db::new();
        let mut store = db.store();
        let path = |prefix: &str| {
            format!(
                "{prefix}/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/01/01/\
                 {ACCOUNT}_CloudTrail_us-east-1_20240101T0000Z_x.json.gz"
            )
        };
        let (a, b) = (path("logs/a"), path("logs/b"));
        let delivered = |conn: &Connection| -> Vec<(String, String, i64, i64)> {
            conn.prepare(
                "SELECT prefix, kind, events, bytes > 0 FROM delivery_days
                 ORDER BY prefix, kind",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        import(&mut store, &a, vec![ev("e1", 0, "alice"), ev("e2", 1, "alice")]);
        // Another trail's copy of e1: stored once, delivered (and billed) twice.
        let copy = import(&mut store, &b, vec![ev("e1", 0, "alice")]);
        assert_eq!(copy.events_duplicate, 1);
        let row = |p: &str, k: &str, n: i64| (p.to_owned(), k.to_owned(), n, 1);
        assert_eq!(
            delivered(&db.conn()),
            [
                row("logs/a", "Data", 2),
                row("logs/a", "file", 1),
                row("logs/b", "Data", 1),
                row("logs/b", "file", 1)
            ]
        );
        // The same file read again, grown: its counts replace the first reading's.
        import(
            &mut store,
            &a,
            vec![ev("e1", 0, "alice"), ev("e2", 1, "alice"), ev("e3", 2, "bob")],
        );
        let after = delivered(&db.conn());
        assert_eq!(after[0], row("logs/a", "Data", 3));
        assert_eq!(after[1], row("logs/a", "file", 1));
        // A reading that fails takes nothing back and adds nothing.
        let f = store.begin_file("file", job(&a));
        store.add_test_pieces(f, vec![ev("e4", 3, "bob")]).unwrap();
        store
            .finish_file(f, None, FileStatus::Rejected("truncated".into()))
            .unwrap();
        store.commit().unwrap();
        assert_eq!(delivered(&db.conn()), after);
        // Day and account come from the events; management events of old records too.
        let day: (i64, String, String) = db
            .conn()
            .query_row(
                "SELECT day, account, resource_type FROM delivery_days WHERE kind = 'Data' LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(day, (T0 / 86_400_000, ACCOUNT.into(), S3_OBJECT.into()));
    }
}
