//! Store stage: the single writer. Many whole files share one transaction (committing
//! per small file is the slowest way to fill SQLite); each file's ledger row commits
//! with its events, so a crash loses nothing committed and a rerun doubles nothing.

use super::decode::{Parsed, RecordReject};
use super::normalize::{IssuedCredential, Principal};
use super::source::FileJob;
use app::schema::{event_row_id, TermKind, ID_HASH_BITS};
use sqlx::pool::PoolConnection;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use rustc_hash::FxHashMap as HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("no free event id near {0} (too many collisions)")]
    IdSpace(i64),
}

/// Rows per multi-row INSERT (21 columns each, well under SQLite's bound-variable limit).
const ROWS_PER_INSERT: usize = 64;
/// Rows queued before they are written together.
const FLUSH_ROWS: usize = 2048;

/// Splits `n` rows into chunks of a few fixed sizes, so every multi-row statement is one
/// of a handful of prepared statements.
fn chunk_sizes(mut n: usize, max: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for size in [max, max / 4, max / 16, 1] {
        let size = size.max(1);
        while n >= size {
            out.push(size);
            n -= size;
        }
    }
    out
}
/// Commit after this many events or this long, whichever comes first.
const BATCH_EVENTS: usize = 50_000;
const BATCH_TIME: Duration = Duration::from_secs(3);
/// Rejected records kept in the ledger per file.
const REJECTS_KEPT: usize = 100;

/// How a file ended, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    Imported,
    Rejected(String),
    /// Read and found to hold no events on purpose (a digest file).
    Skipped(String),
}

/// Per-file figures, filled in as its rows are written.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub source: String,
    pub job: FileJob,
    pub sha256: Option<String>,
    pub records: u64,
    pub events_new: u64,
    pub events_duplicate: u64,
    pub rejects: Vec<RecordReject>,
    pub rejected_records: u64,
    pub status: FileStatus,
}

struct PendingRow {
    id: i64,
    file: usize,
    time_ms: i64,
    account_id: i64,
    event_key: Vec<u8>,
    cols: [Option<i64>; 10],
    source_id: i64,
    name_id: i64,
    read_only: Option<bool>,
    principal_id: i64,
    issuer_id: Option<i64>,
    resources: Vec<super::normalize::Resource>,
    resource_ids: Vec<i64>,
    request_id: Option<String>,
    shared_event_id: Option<String>,
    raw_z: Vec<u8>,
    is_error: bool,
    issued: Option<IssuedCredential>,
}

#[derive(Default)]
struct PrincipalStat {
    first: i64,
    last: i64,
    events: i64,
}

pub struct Store {
    conn: PoolConnection<Sqlite>,
    dict_id: i64,
    in_tx: bool,
    terms: Vec<HashMap<String, i64>>,
    principals: HashMap<String, i64>,
    resources: HashMap<String, i64>,
    pending: Vec<PendingRow>,
    files: Vec<FileReport>,
    counts: HashMap<i64, (i64, i64)>,
    principal_stats: HashMap<i64, PrincipalStat>,
    batch_events: usize,
    batch_started: Instant,
    savepoint: bool,
    /// Files finished and committed, handed back by [`Store::take_committed`].
    committed: Vec<FileReport>,
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

impl Store {
    pub async fn open(pool: &SqlitePool, dict_id: i64) -> Result<Store, StoreError> {
        let conn = pool.acquire().await?;
        Ok(Store {
            conn,
            dict_id,
            in_tx: false,
            terms: vec![HashMap::default(); TermKind::COUNT],
            principals: HashMap::default(),
            resources: HashMap::default(),
            pending: Vec::new(),
            files: Vec::new(),
            counts: HashMap::default(),
            principal_stats: HashMap::default(),
            batch_events: 0,
            batch_started: Instant::now(),
            savepoint: false,
            committed: Vec::new(),
        })
    }

    async fn ensure_tx(&mut self) -> Result<(), StoreError> {
        if !self.in_tx {
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *self.conn).await?;
            self.in_tx = true;
            self.batch_started = Instant::now();
        }
        Ok(())
    }

    fn forget_caches(&mut self) {
        for t in &mut self.terms {
            t.clear();
        }
        self.principals.clear();
        self.resources.clear();
    }

    /// Registers a file; its events follow through [`Store::add`].
    pub fn begin_file(&mut self, source: &str, job: FileJob) -> usize {
        self.files.push(FileReport {
            source: source.to_owned(),
            job,
            sha256: None,
            records: 0,
            events_new: 0,
            events_duplicate: 0,
            rejects: Vec::new(),
            rejected_records: 0,
            status: FileStatus::Imported,
        });
        self.files.len() - 1
    }

    /// Starts a large file that arrives in several chunks: the batch so far is committed,
    /// and the file is written under a savepoint so a failure half-way leaves no trace.
    /// Call before [`Store::begin_file`] for that file.
    pub async fn savepoint(&mut self) -> Result<(), StoreError> {
        self.commit().await?;
        self.ensure_tx().await?;
        sqlx::query("SAVEPOINT cairn_file").execute(&mut *self.conn).await?;
        self.savepoint = true;
        Ok(())
    }

    pub fn reject_record(&mut self, file: usize, r: RecordReject) {
        let f = &mut self.files[file];
        f.rejected_records += 1;
        if f.rejects.len() < REJECTS_KEPT {
            f.rejects.push(r);
        }
    }

    async fn term(&mut self, kind: TermKind, value: Option<&str>) -> Result<Option<i64>, StoreError> {
        let Some(value) = value else { return Ok(None) };
        if let Some(&id) = self.terms[kind as usize].get(value) {
            return Ok(Some(id));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO terms (kind, value) VALUES (?1, ?2)
             ON CONFLICT (kind, value) DO UPDATE SET value = excluded.value RETURNING id",
        )
        .bind(kind as i64)
        .bind(value)
        .fetch_one(&mut *self.conn)
        .await?;
        self.terms[kind as usize].insert(value.to_owned(), id);
        Ok(Some(id))
    }

    async fn principal(&mut self, p: &Principal) -> Result<i64, StoreError> {
        if let Some(&id) = self.principals.get(&p.key) {
            return Ok(id);
        }
        let parent_id = match &p.parent {
            Some(parent) => Some(Box::pin(self.principal(parent)).await?),
            None => None,
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO principals (key, kind, display_name, arn, account, origin, parent_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (key) DO UPDATE SET
               origin = coalesce(principals.origin, excluded.origin),
               parent_id = coalesce(principals.parent_id, excluded.parent_id)
             RETURNING id",
        )
        .bind(&p.key)
        .bind(&p.kind)
        .bind(&p.display)
        .bind(&p.arn)
        .bind(&p.account)
        .bind(&p.origin)
        .bind(parent_id)
        .fetch_one(&mut *self.conn)
        .await?;
        self.principals.insert(p.key.clone(), id);
        Ok(id)
    }

    /// Gives every queued row the ids of its resources, inserting unknown ones in bulk.
    async fn resolve_resources(&mut self) -> Result<(), StoreError> {
        let mut unknown: Vec<super::normalize::Resource> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for row in &self.pending {
            for r in &row.resources {
                if !self.resources.contains_key(&r.arn) && seen.insert(r.arn.clone()) {
                    unknown.push(r.clone());
                }
            }
        }
        let mut rest = unknown.as_slice();
        for size in chunk_sizes(unknown.len(), 256) {
            let (chunk, tail) = rest.split_at(size);
            rest = tail;
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("INSERT INTO resources (arn, type, name, account) ");
            qb.push_values(chunk.iter(), |mut b, r| {
                b.push_bind(r.arn.as_str()).push_bind(r.kind.as_str()).push_bind(r.name.as_str()).push_bind(r.account.as_deref());
            });
            qb.push(" ON CONFLICT (arn) DO UPDATE SET arn = excluded.arn RETURNING id, arn");
            let rows = qb.build().fetch_all(&mut *self.conn).await?;
            for row in rows {
                self.resources.insert(row.get::<String, _>(1), row.get::<i64, _>(0));
            }
        }
        for row in &mut self.pending {
            row.resource_ids = row.resources.iter().filter_map(|r| self.resources.get(&r.arn).copied()).collect();
        }
        Ok(())
    }

    /// Queues one event of `file`.
    pub async fn add(&mut self, file: usize, parsed: Parsed) -> Result<(), StoreError> {
        self.ensure_tx().await?;
        let Parsed { event: e, raw_z } = parsed;
        let account_id = self.term(TermKind::Account, Some(&e.account)).await?.unwrap_or(0);
        let cols = [
            self.term(TermKind::Region, e.region.as_deref()).await?,
            self.term(TermKind::EventType, e.event_type.as_deref()).await?,
            self.term(TermKind::Category, e.category.as_deref()).await?,
            self.term(TermKind::ErrorCode, e.error_code.as_deref()).await?,
            self.term(TermKind::ErrorMessage, e.error_message.as_deref()).await?,
            self.term(TermKind::SourceIp, e.source_ip.as_deref()).await?,
            self.term(TermKind::UserAgent, e.user_agent.as_deref()).await?,
            self.term(TermKind::AccessKey, e.access_key.as_deref()).await?,
            None,
            None,
        ];
        let source_id = self.term(TermKind::Source, Some(&e.source)).await?.unwrap_or(0);
        let name_id = self.term(TermKind::Name, Some(&e.name)).await?.unwrap_or(0);
        let principal_id = self.principal(&e.principal).await?;
        let issuer_id = match &e.principal.parent {
            Some(p) => Some(self.principal(p).await?),
            None => None,
        };
        let hash = fnv1a(&[e.account.as_bytes(), &e.event_key]);
        self.files[file].records += 1;
        self.pending.push(PendingRow {
            id: event_row_id(e.time_ms, hash),
            file,
            time_ms: e.time_ms,
            account_id,
            event_key: e.event_key,
            cols,
            source_id,
            name_id,
            read_only: e.read_only,
            principal_id,
            issuer_id,
            resources: e.resources,
            resource_ids: Vec::new(),
            request_id: e.request_id,
            shared_event_id: e.shared_event_id,
            raw_z,
            is_error: e.error_code.is_some(),
            issued: e.issued,
        });
        self.batch_events += 1;
        if self.pending.len() >= FLUSH_ROWS {
            self.flush_rows().await?;
        }
        Ok(())
    }

    /// Writes queued rows; counts new and duplicate events per file.
    async fn flush_rows(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.resolve_resources().await?;
        let rows = std::mem::take(&mut self.pending);
        let sizes = chunk_sizes(rows.len(), ROWS_PER_INSERT);
        let mut iter = rows.into_iter();
        let mut stored: Vec<PendingRow> = Vec::new();
        for size in sizes {
            let chunk: Vec<PendingRow> = iter.by_ref().take(size).collect();
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO events (id, event_time, account_id, event_key, region_id, source_id,
                 name_id, type_id, category_id, read_only, error_code_id, error_message_id,
                 source_ip_id, user_agent_id, access_key_id, principal_id, issuer_id,
                 resource_ids, request_id, shared_event_id, raw_dict, raw) ",
            );
            let dict = self.dict_id;
            qb.push_values(chunk.iter(), |mut b, r| {
                b.push_bind(r.id)
                    .push_bind(r.time_ms)
                    .push_bind(r.account_id)
                    .push_bind(r.event_key.as_slice())
                    .push_bind(r.cols[0])
                    .push_bind(r.source_id)
                    .push_bind(r.name_id)
                    .push_bind(r.cols[1])
                    .push_bind(r.cols[2])
                    .push_bind(r.read_only)
                    .push_bind(r.cols[3])
                    .push_bind(r.cols[4])
                    .push_bind(r.cols[5])
                    .push_bind(r.cols[6])
                    .push_bind(r.cols[7])
                    .push_bind(r.principal_id)
                    .push_bind(r.issuer_id)
                    .push_bind(resource_list(&r.resource_ids))
                    .push_bind(r.request_id.as_deref())
                    .push_bind(r.shared_event_id.as_deref())
                    .push_bind(dict)
                    .push_bind(r.raw_z.as_slice());
            });
            qb.push(" ON CONFLICT DO NOTHING RETURNING id");
            let inserted: Vec<i64> = qb
                .build()
                .fetch_all(&mut *self.conn)
                .await?
                .iter()
                .map(|row| row.get::<i64, _>(0))
                .collect();
            drop(qb);
            let mut claimed: HashMap<i64, bool> = inserted.into_iter().map(|id| (id, false)).collect();
            for mut row in chunk {
                let won = match claimed.get_mut(&row.id) {
                    Some(c) if !*c => {
                        *c = true;
                        true
                    }
                    _ => false,
                };
                let ok = if won { true } else { self.resolve_conflict(&mut row).await? };
                if ok {
                    self.files[row.file].events_new += 1;
                    stored.push(row);
                } else {
                    self.files[row.file].events_duplicate += 1;
                }
            }
        }
        self.after_insert(&stored).await
    }

    /// A row was not inserted: either the event is already stored (a duplicate) or its
    /// time-ordered id collided with another event's, in which case the next free id in
    /// the same millisecond is taken.
    async fn resolve_conflict(&mut self, row: &mut PendingRow) -> Result<bool, StoreError> {
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT id FROM events WHERE account_id = ?1 AND event_key = ?2")
                .bind(row.account_id)
                .bind(row.event_key.as_slice())
                .fetch_optional(&mut *self.conn)
                .await?;
        if existing.is_some() {
            return Ok(false);
        }
        let base = row.time_ms << ID_HASH_BITS;
        let span = 1i64 << ID_HASH_BITS;
        for step in 1..span.min(4096) {
            let id = base + ((row.id - base + step) & (span - 1));
            let done = sqlx::query(
                "INSERT INTO events (id, event_time, account_id, event_key, region_id, source_id,
                 name_id, type_id, category_id, read_only, error_code_id, error_message_id,
                 source_ip_id, user_agent_id, access_key_id, principal_id, issuer_id,
                 resource_ids, request_id, shared_event_id, raw_dict, raw)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?18, ?19, ?20, ?21, ?22) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(row.time_ms)
            .bind(row.account_id)
            .bind(row.event_key.as_slice())
            .bind(row.cols[0])
            .bind(row.source_id)
            .bind(row.name_id)
            .bind(row.cols[1])
            .bind(row.cols[2])
            .bind(row.read_only)
            .bind(row.cols[3])
            .bind(row.cols[4])
            .bind(row.cols[5])
            .bind(row.cols[6])
            .bind(row.cols[7])
            .bind(row.principal_id)
            .bind(row.issuer_id)
            .bind(resource_list(&row.resource_ids))
            .bind(row.request_id.as_deref())
            .bind(row.shared_event_id.as_deref())
            .bind(self.dict_id)
            .bind(row.raw_z.as_slice())
            .execute(&mut *self.conn)
            .await?
            .rows_affected();
            if done == 1 {
                row.id = id;
                return Ok(true);
            }
        }
        Err(StoreError::IdSpace(row.id))
    }

    /// Links, issued credentials and aggregates of the rows just stored.
    async fn after_insert(&mut self, rows: &[PendingRow]) -> Result<(), StoreError> {
        let links: Vec<(i64, i64)> = rows
            .iter()
            .flat_map(|r| r.resource_ids.iter().map(move |rid| (*rid, r.id)))
            .collect();
        let mut rest = links.as_slice();
        for size in chunk_sizes(links.len(), 512) {
            let (chunk, tail) = rest.split_at(size);
            rest = tail;
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("INSERT INTO event_resources (resource_id, event_id) ");
            qb.push_values(chunk.iter(), |mut b, (rid, eid)| {
                b.push_bind(*rid).push_bind(*eid);
            });
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&mut *self.conn).await?;
        }
        for row in rows {
            if let Some(c) = &row.issued {
                sqlx::query(
                    "INSERT INTO issued_credentials (access_key, event_id, principal_id, session_arn, source_identity)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                )
                .bind(&c.access_key)
                .bind(row.id)
                .bind(row.principal_id)
                .bind(&c.session_arn)
                .bind(&c.source_identity)
                .execute(&mut *self.conn)
                .await?;
            }
            let minute = row.time_ms.div_euclid(60_000);
            let c = self.counts.entry(minute).or_insert((0, 0));
            c.0 += 1;
            c.1 += i64::from(row.is_error);
            let s = self.principal_stats.entry(row.principal_id).or_insert(PrincipalStat {
                first: row.time_ms,
                last: row.time_ms,
                events: 0,
            });
            s.first = s.first.min(row.time_ms);
            s.last = s.last.max(row.time_ms);
            s.events += 1;
        }
        Ok(())
    }

    /// Ends a file. For a file streamed under a savepoint, a failure rolls back its rows.
    pub async fn finish_file(
        &mut self,
        file: usize,
        sha256: Option<String>,
        status: FileStatus,
    ) -> Result<(), StoreError> {
        self.ensure_tx().await?;
        if self.savepoint {
            self.flush_rows().await?;
            if matches!(status, FileStatus::Rejected(_)) {
                sqlx::query("ROLLBACK TO cairn_file").execute(&mut *self.conn).await?;
                // The batch holds only this file (see `savepoint`): its rows, terms and
                // aggregates are gone, so forget what was cached about them.
                self.forget_caches();
                self.counts.clear();
                self.principal_stats.clear();
            }
            sqlx::query("RELEASE cairn_file").execute(&mut *self.conn).await?;
            self.savepoint = false;
        }
        let f = &mut self.files[file];
        f.sha256 = sha256;
        if matches!(status, FileStatus::Rejected(_)) {
            // The file went in not at all: its events count as neither new nor present.
            f.events_new = 0;
            f.events_duplicate = 0;
        }
        f.status = status;
        Ok(())
    }

    /// Commits when the batch is big or old enough.
    pub async fn maybe_commit(&mut self) -> Result<(), StoreError> {
        if self.in_tx && !self.savepoint
            && (self.batch_events >= BATCH_EVENTS || self.batch_started.elapsed() >= BATCH_TIME)
        {
            self.commit().await?;
        }
        Ok(())
    }

    /// Writes the batch's rows, aggregates and ledger rows, and commits.
    pub async fn commit(&mut self) -> Result<(), StoreError> {
        if !self.in_tx && self.files.is_empty() {
            return Ok(());
        }
        self.ensure_tx().await?;
        match self.write_batch_tail().await {
            Ok(()) => {
                sqlx::query("COMMIT").execute(&mut *self.conn).await?;
                self.in_tx = false;
                self.batch_events = 0;
                self.committed.append(&mut self.files);
                Ok(())
            }
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *self.conn).await;
                self.in_tx = false;
                self.forget_caches();
                Err(e)
            }
        }
    }

    async fn write_batch_tail(&mut self) -> Result<(), StoreError> {
        self.flush_rows().await?;
        let counts: Vec<(i64, (i64, i64))> = self.counts.drain().collect();
        for chunk in counts.chunks(300) {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO counts_minute (minute, events, errors) ");
            qb.push_values(chunk.iter(), |mut b, (m, (n, e))| {
                b.push_bind(*m).push_bind(*n).push_bind(*e);
            });
            qb.push(
                " ON CONFLICT (minute) DO UPDATE SET events = events + excluded.events,
                  errors = errors + excluded.errors",
            );
            qb.build().execute(&mut *self.conn).await?;
        }
        let stats: Vec<(i64, PrincipalStat)> = self.principal_stats.drain().collect();
        for (id, s) in stats {
            sqlx::query(
                "UPDATE principals SET first_seen = min(coalesce(first_seen, ?2), ?2),
                 last_seen = max(coalesce(last_seen, ?3), ?3), events = events + ?4 WHERE id = ?1",
            )
            .bind(id)
            .bind(s.first)
            .bind(s.last)
            .bind(s.events)
            .execute(&mut *self.conn)
            .await?;
        }
        let now = chrono::Utc::now().timestamp_millis();
        for f in &self.files {
            let (status, error) = match &f.status {
                FileStatus::Imported => ("imported", None),
                FileStatus::Rejected(e) => ("rejected", Some(e.as_str())),
                FileStatus::Skipped(e) => ("skipped", Some(e.as_str())),
            };
            let file_id: i64 = sqlx::query_scalar(
                "INSERT INTO ingest_files (source, path, size, modified, sha256, kind, account, region,
                   log_date, status, records, events_new, events_duplicate, records_rejected, error,
                   imported_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                 ON CONFLICT (source, path) DO UPDATE SET size = excluded.size,
                   modified = excluded.modified, sha256 = excluded.sha256, kind = excluded.kind,
                   account = excluded.account, region = excluded.region,
                   log_date = excluded.log_date, status = excluded.status,
                   records = excluded.records, events_new = excluded.events_new,
                   events_duplicate = excluded.events_duplicate,
                   records_rejected = excluded.records_rejected, error = excluded.error,
                   imported_at = excluded.imported_at
                 RETURNING id",
            )
            .bind(&f.source)
            .bind(&f.job.display)
            .bind(f.job.size as i64)
            .bind(f.job.modified_ms)
            .bind(&f.sha256)
            .bind(f.job.layout.kind.as_str())
            .bind(&f.job.layout.account)
            .bind(&f.job.layout.region)
            .bind(&f.job.layout.date)
            .bind(status)
            .bind(f.records as i64)
            .bind(f.events_new as i64)
            .bind(f.events_duplicate as i64)
            .bind(f.rejected_records as i64)
            .bind(error)
            .bind(now)
            .fetch_one(&mut *self.conn)
            .await?;
            sqlx::query("DELETE FROM ingest_rejects WHERE file_id = ?1")
                .bind(file_id)
                .execute(&mut *self.conn)
                .await?;
            for r in &f.rejects {
                sqlx::query(
                    "INSERT INTO ingest_rejects (file_id, position, offset, reason) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO NOTHING",
                )
                .bind(file_id)
                .bind(r.position as i64)
                .bind(r.offset as i64)
                .bind(&r.reason)
                .execute(&mut *self.conn)
                .await?;
            }
        }
        Ok(())
    }

    /// Reports of the files committed so far (drained).
    pub fn take_committed(&mut self) -> Vec<FileReport> {
        std::mem::take(&mut self.committed)
    }
}
