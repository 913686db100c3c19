//! Interned values with pages of their own — source addresses and access keys: when
//! they were first and last seen, and the events that created or changed a key.

use crate::model::EventRow;
use crate::schema::{TermKind, id_time};
use sqlx::SqlitePool;

/// A value's term kind and the `events` column that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    SourceIp,
    AccessKey,
}

impl Held {
    fn kind(self) -> TermKind {
        match self {
            Held::SourceIp => TermKind::SourceIp,
            Held::AccessKey => TermKind::AccessKey,
        }
    }
}

use crate::search::lookup_phrase as phrase;

/// Whether the value is stored at all, and the times of its first and last events. The
/// full-text index finds the events holding it, each checked against the column; while
/// the index is still being filled in for older events, the events are scanned.
pub async fn span(
    pool: &SqlitePool,
    held: Held,
    value: &str,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    let term: Option<i64> = sqlx::query_scalar("SELECT id FROM terms WHERE kind = ?1 AND value = ?2")
        .bind(held.kind() as u8)
        .bind(value)
        .fetch_optional(pool)
        .await?;
    let Some(term) = term else { return Ok(None) };
    let pending = super::events::search_pending_below(pool).await?;
    // Column names come from this closed set, never from input. The index gives the
    // candidates in id order: the first and the last that hold the value end the walk.
    let (col_fts, col_scan) = match held {
        Held::SourceIp => (
            "SELECT (SELECT f.rowid FROM events_fts f JOIN events e ON e.id = f.rowid
                     WHERE events_fts MATCH ?1 AND e.source_ip_id = ?2 ORDER BY f.rowid LIMIT 1),
                    (SELECT f.rowid FROM events_fts f JOIN events e ON e.id = f.rowid
                     WHERE events_fts MATCH ?1 AND e.source_ip_id = ?2 ORDER BY f.rowid DESC LIMIT 1)",
            "SELECT min(id), max(id) FROM events WHERE source_ip_id = ?2 AND ?1 IS NOT NULL",
        ),
        Held::AccessKey => (
            "SELECT (SELECT f.rowid FROM events_fts f JOIN events e ON e.id = f.rowid
                     WHERE events_fts MATCH ?1 AND e.access_key_id = ?2 ORDER BY f.rowid LIMIT 1),
                    (SELECT f.rowid FROM events_fts f JOIN events e ON e.id = f.rowid
                     WHERE events_fts MATCH ?1 AND e.access_key_id = ?2 ORDER BY f.rowid DESC LIMIT 1)",
            "SELECT min(id), max(id) FROM events WHERE access_key_id = ?2 AND ?1 IS NOT NULL",
        ),
    };
    // A value the index cannot find (no whole token in what it holds) is scanned for.
    let fts = phrase(value);
    let sql = if pending.is_some() || fts.is_none() {
        col_scan
    } else {
        col_fts
    };
    let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(sql)
        .bind(fts.unwrap_or_default())
        .bind(term)
        .fetch_one(pool)
        .await?;
    Ok(first.zip(last).map(|(a, b)| (id_time(a), id_time(b))))
}

/// The events that issued, created, changed or deleted an access key, oldest first; at
/// most `limit`: the call that issued a temporary key (`issued_credentials`), and the
/// `CreateAccessKey`, `UpdateAccessKey` and `DeleteAccessKey` calls about a long-term
/// one (`access_key_changes`).
pub async fn key_lifecycle(
    pool: &SqlitePool,
    key: &str,
    limit: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT event_id FROM issued_credentials WHERE access_key = ?1
         UNION SELECT event_id FROM access_key_changes WHERE access_key = ?1
         ORDER BY 1 LIMIT ?2",
    )
    .bind(key)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    super::events::rows_by_ids(pool, &ids).await
}

/// Every value of one kind of term (Regions, accounts: a few dozen).
pub async fn values(pool: &SqlitePool, kind: crate::schema::TermKind) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM terms WHERE kind = ?1 ORDER BY value")
        .bind(kind as i64)
        .fetch_all(pool)
        .await
}
