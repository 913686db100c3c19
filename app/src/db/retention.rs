//! `retention_passes`: what each removal of old events did, for the Sources page and
//! `/metrics`.

use crate::model::RetentionPass;
use sqlx::SqlitePool;

/// How long events are kept, as `cairn serve` was told (`None`: for ever); provided to
/// the pages as context.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy(pub Option<u32>);

/// One row per pass (an hourly pass makes under 9,000 rows a year).
pub async fn insert_pass(pool: &SqlitePool, p: &RetentionPass) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO retention_passes (finished_at, days, cutoff, removed, kept, unreadable,
           pages_freed, file_bytes, seconds, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .bind(p.finished_at)
    .bind(p.days)
    .bind(p.cutoff_ms)
    .bind(p.removed)
    .bind(p.kept)
    .bind(p.unreadable)
    .bind(p.pages_freed)
    .bind(p.file_bytes)
    .bind(p.seconds)
    .bind(&p.error)
    .execute(pool)
    .await?;
    Ok(())
}

type Row = (i64, i64, i64, i64, i64, i64, i64, i64, f64, Option<String>);

fn pass_of(r: Row) -> RetentionPass {
    RetentionPass {
        finished_at: r.0,
        days: r.1,
        cutoff_ms: r.2,
        removed: r.3,
        kept: r.4,
        unreadable: r.5,
        pages_freed: r.6,
        file_bytes: r.7,
        seconds: r.8,
        error: r.9,
    }
}

/// The newest pass.
pub async fn last_pass(pool: &SqlitePool) -> Result<Option<RetentionPass>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT finished_at, days, cutoff, removed, kept, unreadable, pages_freed, file_bytes, seconds, error
         FROM retention_passes ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(pass_of))
}

/// Events removed by every pass so far.
pub async fn removed_total(pool: &SqlitePool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT coalesce(sum(removed), 0) FROM retention_passes")
        .fetch_one(pool)
        .await
}
