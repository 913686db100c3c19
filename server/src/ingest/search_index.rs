//! Keeps the full-text index (`events_fts`) complete. New events are indexed as they are
//! stored; events stored before the index existed are indexed here, newest first, one
//! chunk per transaction, so the work survives a restart and never blocks imports for
//! long. `search_index.pending_below` says how far it got: every event with an id at or
//! above it is indexed, and the writer indexes a new event only above it (below, this
//! walk will reach it), so no event is indexed twice.

use crate::ingest::text::search_text;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::time::{Duration, Instant};

/// Events indexed per transaction.
const CHUNK: i64 = 20_000;

/// The id below which events still wait for the backfill; `None` when none do.
pub fn pending_below(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT pending_below FROM search_index WHERE id = 1",
            [],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()?
        .flatten())
}

/// Indexes every event that waits, then returns how many were indexed. Records that
/// cannot be read are logged and left unindexed.
pub fn backfill(path: &Path) -> rusqlite::Result<u64> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    let mut unpack = app::db::events::Unpacker::default();
    let (mut done, started, mut logged) = (0u64, Instant::now(), Instant::now());
    loop {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        match chunk(&conn, &mut unpack) {
            Ok(n) => {
                conn.execute_batch("COMMIT")?;
                done += n;
                if n < CHUNK as u64 {
                    if done > 0 {
                        tracing::info!(
                            events = done,
                            seconds = started.elapsed().as_secs(),
                            "search index complete"
                        );
                    }
                    return Ok(done);
                }
                // Let other writers (sign-ins, imports) take the lock between chunks.
                std::thread::sleep(Duration::from_millis(20));
                if logged.elapsed() >= Duration::from_secs(10) {
                    logged = Instant::now();
                    tracing::info!(events = done, "indexing older events for search");
                }
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
}

/// Indexes the next chunk down; fewer than [`CHUNK`] means the walk is over.
fn chunk(conn: &Connection, unpack: &mut app::db::events::Unpacker) -> rusqlite::Result<u64> {
    let Some(below) = pending_below(conn)? else {
        return Ok(0);
    };
    let mut rows = conn.prepare_cached(
        "SELECT id, raw_dict, raw, raw_block, raw_slot FROM events WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let mut insert = conn.prepare_cached("INSERT INTO events_fts (rowid, text) VALUES (?1, ?2)")?;
    let mut n = 0u64;
    let mut lowest = None;
    // Texts go in in ascending id order: FTS5 starts a new segment whenever a rowid
    // goes backwards.
    let mut texts: Vec<(i64, String)> = Vec::new();
    let mut it = rows.query(params![below, CHUNK])?;
    while let Some(r) = it.next()? {
        let id: i64 = r.get(0)?;
        n += 1;
        lowest = Some(id);
        let at = app::db::events::At {
            dict: r.get(1)?,
            raw: r.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?,
            block: r.get(3)?,
            slot: r.get(4)?,
        };
        match super::blocks::read(conn, unpack, at)? {
            Ok(record) => {
                let text = search_text(&record);
                if !text.is_empty() {
                    texts.push((id, text));
                }
            }
            Err(e) => {
                tracing::warn!(event = id, error = %e, "stored record unreadable; not indexed for search")
            }
        }
    }
    drop(it);
    for (id, text) in texts.into_iter().rev() {
        insert.execute(params![id, text])?;
    }
    let next = if n < CHUNK as u64 { None } else { lowest };
    conn.execute(
        "UPDATE search_index SET pending_below = ?1 WHERE id = 1",
        [next],
    )?;
    Ok(n)
}
