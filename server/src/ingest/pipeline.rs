//! The ingest pipeline, top to bottom: a source hands out files; decoder threads turn
//! each into normalised events (gzip, JSON shapes, records); the single writer stores
//! them, many whole files per transaction, with the ledger row of each file.

use super::blocks::BlockBuilder;
use super::decode::{self, DecodeError, Decoded, Piece};
use super::source::{FileJob, LogKind};
use super::store::{FileReport, FileStatus, Store, StoreError};
use serde::Serialize;
use sqlx::SqlitePool;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::mpsc;

/// Where files come from: local paths, generated demo files, S3 objects.
pub trait Source: Send + Sync {
    /// The ledger's name for this source (`file`, `demo`, `s3://bucket`).
    fn name(&self) -> &str;
    fn open(&self, job: &FileJob) -> std::io::Result<Box<dyn Read + Send + '_>>;
}

/// Files on the local disk.
pub struct LocalFiles;

impl Source for LocalFiles {
    fn name(&self) -> &str {
        "file"
    }
    fn open(&self, job: &FileJob) -> std::io::Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(std::fs::File::open(&job.path)?))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("a decoder thread failed: {0}")]
    Thread(String),
    #[error(transparent)]
    Rules(#[from] app::db::rules::RulesError),
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileProblem {
    pub path: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecordProblem {
    pub path: String,
    pub position: u64,
    pub offset: u64,
    pub error: String,
}

/// What an import did. Serialised as-is by `cairn import --json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Files read.
    pub files: u64,
    pub events_new: u64,
    pub events_duplicate: u64,
    pub records_rejected: u64,
    pub files_rejected: Vec<FileProblem>,
    /// Files that could not be fetched or opened at all (also in `files_rejected`): not
    /// in the ledger, so tried again next time.
    pub files_unreachable: Vec<String>,
    /// Files left alone because the ledger shows them imported and unchanged.
    pub files_unchanged: u64,
    /// Log-file-integrity digest files, which hold no events.
    pub files_digest: u64,
    /// The first rejected records, with file, position and reason.
    pub rejected_records: Vec<RecordProblem>,
    /// Records read, by the shape they came in: CloudTrail's own, or an export of
    /// Logstash, Elastic or Splunk (see `envelope`).
    pub shapes: super::envelope::Shapes,
    /// Records stored without some of their fields (Elastic documents rebuilt from their
    /// fields), and the first of them with what each lacks.
    pub records_partial: u64,
    pub partial_records: Vec<RecordProblem>,
    /// Findings the enabled rules made from the new events.
    pub findings_new: u64,
    pub seconds: f64,
}

/// Rejected records listed in the summary (all are counted).
const RECORDS_LISTED: usize = 1000;
/// Events per message from a decoder to the writer.
const CHUNK: usize = 2048;

impl Summary {
    fn add_report(&mut self, r: FileReport) {
        self.files += 1;
        self.events_new += r.events_new;
        self.events_duplicate += r.events_duplicate;
        self.records_rejected += r.rejected_records;
        for rej in r.rejects {
            if self.rejected_records.len() < RECORDS_LISTED {
                self.rejected_records.push(RecordProblem {
                    path: r.job.display.clone(),
                    position: rej.position,
                    offset: rej.offset,
                    error: rej.reason,
                });
            }
        }
        match r.status {
            FileStatus::Imported => {}
            FileStatus::Skipped(_) => self.files_digest += 1,
            FileStatus::Rejected(error) => self.files_rejected.push(FileProblem {
                path: r.job.display,
                error,
            }),
            FileStatus::Unreachable(error) => {
                self.files_unreachable.push(r.job.display.clone());
                self.files_rejected.push(FileProblem {
                    path: r.job.display,
                    error,
                })
            }
        }
    }

    /// What the decode of a file said about its records' shapes.
    fn add_decoded(&mut self, path: &str, end: &Result<Decoded, DecodeError>) {
        let Ok(d) = end else { return };
        self.shapes.add(&d.shapes);
        self.records_partial += d.partial;
        for p in &d.partial_records {
            if self.partial_records.len() < RECORDS_LISTED {
                self.partial_records.push(RecordProblem {
                    path: path.to_owned(),
                    position: p.position,
                    offset: p.offset,
                    error: p.reason.clone(),
                });
            }
        }
    }

    /// True when everything offered went in.
    pub fn clean(&self) -> bool {
        self.records_rejected == 0 && self.files_rejected.is_empty()
    }
}

pub struct Options {
    pub threads: usize,
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .min(4),
            progress: false,
        }
    }
}

/// Pieces of a file in order, with the block that holds their records (`None` when
/// none of them is an event).
pub struct Chunk {
    pub block: Option<Vec<u8>>,
    pub pieces: Vec<Piece>,
}

enum FileMsg {
    Chunk(Chunk),
    End(Result<Decoded, DecodeError>),
}

struct Incoming {
    idx: usize,
    rx: mpsc::Receiver<FileMsg>,
}

/// Imports `jobs` from `source`. Files the ledger shows as imported with the same size
/// and modification time are skipped; digest files are noted, not read.
pub async fn run(
    pool: &SqlitePool,
    source: Arc<dyn Source>,
    jobs: Vec<FileJob>,
    opts: Options,
) -> Result<Summary, ImportError> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let ledger = app::db::ledger::imported_files(pool, source.name()).await?;
    let mut todo = Vec::with_capacity(jobs.len());
    for job in jobs {
        if job.layout.kind == LogKind::Digest {
            summary.files_digest += 1;
            continue;
        }
        if ledger.get(&job.display) == Some(&(job.size as i64, Some(job.modified_ms))) {
            summary.files_unchanged += 1;
            continue;
        }
        todo.push(job);
    }
    if todo.is_empty() {
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    let (dict_id, dict) = super::dictionary::ensure(pool, source.clone(), &todo).await?;
    let detection = crate::detections::load(pool).await?;
    let rules = detection.rules.clone();
    let todo = Arc::new(todo);
    let total_bytes: u64 = todo.iter().map(|j| j.size).sum();
    let bar = if opts.progress {
        let b = indicatif::ProgressBar::new(total_bytes);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };

    let (main_tx, mut main_rx) = mpsc::channel::<Incoming>(32);
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let dict = Arc::new(dict);
    let mut threads = Vec::new();
    for t in 0..opts.threads.max(1) {
        let (todo, next, stop, main_tx, source, dict, bar, rules) = (
            todo.clone(),
            next.clone(),
            stop.clone(),
            main_tx.clone(),
            source.clone(),
            dict.clone(),
            bar.clone(),
            rules.clone(),
        );
        let handle = std::thread::Builder::new()
            .name(format!("cairn-decode-{t}"))
            .spawn(move || {
                let mut blocks = match BlockBuilder::new(dict.as_deref()) {
                    Ok(c) => c,
                    Err(e) => return Err(e.to_string()),
                };
                loop {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    let idx = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = todo.get(idx) else {
                        return Ok(());
                    };
                    let (tx, rx) = mpsc::channel::<FileMsg>(4);
                    if main_tx.blocking_send(Incoming { idx, rx }).is_err() {
                        return Ok(());
                    }
                    let result = decode_one(&*source, job, &mut blocks, &rules, &tx);
                    bar.inc(job.size);
                    if tx.blocking_send(FileMsg::End(result)).is_err() {
                        return Ok(());
                    }
                }
            });
        match handle {
            Ok(h) => threads.push(h),
            Err(e) => return Err(ImportError::Thread(e.to_string())),
        }
    }
    drop(main_tx);

    let db_path = pool.connect_options().get_filename().to_path_buf();
    let source_name = source.name().to_owned();
    let writer_todo = todo.clone();
    let writer_stop = stop.clone();
    let writer = std::thread::Builder::new()
        .name("cairn-writer".into())
        .spawn(move || {
            let written = Store::open(&db_path, dict_id)
                .map_err(ImportError::from)
                .and_then(|mut store| {
                    store.set_detection(detection);
                    write_all(
                        &mut store,
                        &source_name,
                        &writer_todo,
                        &mut main_rx,
                        &mut summary,
                    )?;
                    summary.findings_new = store.close()?;
                    Ok(())
                });
            if written.is_err() {
                writer_stop.store(true, Ordering::Relaxed);
            }
            drop(main_rx);
            (written, summary)
        });
    let writer = writer.map_err(|e| ImportError::Thread(e.to_string()))?;
    let (written, summary_back) = tokio::task::spawn_blocking(move || writer.join())
        .await
        .map_err(|e| ImportError::Thread(e.to_string()))?
        .map_err(|_| ImportError::Thread("the writer panicked".into()))?;
    let mut summary = summary_back;
    for h in threads {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(ImportError::Thread(e)),
            Err(_) => return Err(ImportError::Thread("panicked".into())),
        }
    }
    written?;
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn decode_one(
    source: &dyn Source,
    job: &FileJob,
    blocks: &mut BlockBuilder,
    rules: &app::detect::RuleSet,
    tx: &mpsc::Sender<FileMsg>,
) -> Result<Decoded, DecodeError> {
    let reader = source.open(job).map_err(DecodeError::Open)?;
    let mut pieces = Vec::with_capacity(256);
    let mut failed: Option<std::io::Error> = None;
    // A chunk goes to the writer once it holds CHUNK pieces or a full block; its events'
    // records travel compressed in its block.
    let send = |pieces: &mut Vec<Piece>,
                blocks: &mut BlockBuilder|
     -> Result<(), Option<std::io::Error>> {
        let block = blocks.seal().map_err(Some)?;
        let chunk = Chunk {
            block,
            pieces: std::mem::replace(pieces, Vec::with_capacity(256)),
        };
        tx.blocking_send(FileMsg::Chunk(chunk)).map_err(|_| None)
    };
    let result = decode::decode(
        reader,
        job.layout.account.as_deref(),
        rules,
        |mut piece, record| {
            if let (Piece::Event(p), Some(record)) = (&mut piece, record) {
                match blocks.push(record) {
                    Ok(slot) => p.raw_slot = slot,
                    Err(e) => {
                        failed = Some(e);
                        return Err(decode::Stop);
                    }
                }
            }
            pieces.push(piece);
            if pieces.len() >= CHUNK || blocks.is_full() {
                send(&mut pieces, blocks).map_err(|e| {
                    failed = e;
                    decode::Stop
                })?;
            }
            Ok(())
        },
    );
    let decoded = match (result, failed) {
        (_, Some(e)) => Err(DecodeError::Compress(e)),
        (r, None) => r,
    };
    let decoded = match decoded {
        Ok(d) => d,
        Err(e) => {
            // What was gathered of a file that failed is not stored.
            let _ = blocks.seal();
            return Err(e);
        }
    };
    if !pieces.is_empty() {
        send(&mut pieces, blocks)
            .map_err(|e| e.map_or(DecodeError::Stopped, DecodeError::Compress))?;
    }
    Ok(decoded)
}

/// A file's hashes (as stored, and of its content) and how it ended.
fn status_of(result: &Result<Decoded, DecodeError>) -> (Option<(String, String)>, FileStatus) {
    let hashes = |d: &Decoded| Some((d.sha256.clone(), d.content_sha256.clone()));
    match result {
        Ok(d) if d.digest && d.records == 0 => (
            hashes(d),
            FileStatus::Skipped("log file integrity digest: no events".into()),
        ),
        Ok(d) => (hashes(d), FileStatus::Imported),
        Err(e @ DecodeError::Open(_)) => (None, FileStatus::Unreachable(e.to_string())),
        Err(e) => (None, FileStatus::Rejected(e.to_string())),
    }
}

/// Ends `file` (at `path`) in the store with what its decode said, and adds what it said
/// of the records' shapes to the summary.
fn finish(
    store: &mut Store,
    summary: &mut Summary,
    file: usize,
    path: &str,
    end: &Result<Decoded, DecodeError>,
) -> Result<FileStatus, StoreError> {
    let (hashes, status) = status_of(end);
    let (sha, content) = hashes.unzip();
    store.set_content_sha256(file, content);
    store.finish_file(file, sha, status.clone())?;
    summary.add_decoded(path, end);
    Ok(status)
}

fn add_pieces(store: &mut Store, file: usize, chunk: Chunk) -> Result<(), StoreError> {
    store.add_pieces(file, chunk)
}

fn write_all(
    store: &mut Store,
    source: &str,
    todo: &[FileJob],
    main_rx: &mut mpsc::Receiver<Incoming>,
    summary: &mut Summary,
) -> Result<(), ImportError> {
    let lost = || Err(DecodeError::Stopped);
    while let Some(Incoming { idx, mut rx }) = main_rx.blocking_recv() {
        let job = todo[idx].clone();
        let path = job.display.clone();
        let first = rx.blocking_recv();
        match first {
            Some(FileMsg::Chunk(pieces)) => match rx.blocking_recv() {
                Some(FileMsg::Chunk(more)) => {
                    // A large file: streamed under a savepoint, chunk by chunk.
                    store.savepoint()?;
                    let file = store.begin_file(source, job);
                    add_pieces(store, file, pieces)?;
                    add_pieces(store, file, more)?;
                    let end = loop {
                        match rx.blocking_recv() {
                            Some(FileMsg::Chunk(more)) => add_pieces(store, file, more)?,
                            Some(FileMsg::End(r)) => break r,
                            None => break lost(),
                        }
                    };
                    finish(store, summary, file, &path, &end)?;
                }
                end => {
                    let end = match end {
                        Some(FileMsg::End(r)) => r,
                        _ => lost(),
                    };
                    let file = store.begin_file(source, job);
                    if status_of(&end).1 == FileStatus::Imported {
                        add_pieces(store, file, pieces)?;
                    }
                    finish(store, summary, file, &path, &end)?;
                }
            },
            Some(FileMsg::End(r)) => {
                let file = store.begin_file(source, job);
                finish(store, summary, file, &path, &r)?;
            }
            None => {
                let file = store.begin_file(source, job);
                finish(store, summary, file, &path, &lost())?;
            }
        }
        store.maybe_commit()?;
        for r in store.take_committed() {
            summary.add_report(r);
        }
    }
    store.commit()?;
    for r in store.take_committed() {
        summary.add_report(r);
    }
    Ok(())
}
