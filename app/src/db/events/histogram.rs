//! Event and error counts per time bucket, from the per-minute summaries, every bucket
//! of the range present.

use crate::model::{Bucket, ResolvedRange};
use crate::schema::flags::ERROR;
use const_format::formatcp;
use sqlx::SqlitePool;

pub(super) fn empty_buckets(r: &ResolvedRange, bucket_ms: i64) -> (i64, Vec<Bucket>) {
    let first = r.from_ms.div_euclid(bucket_ms) * bucket_ms;
    let n = ((r.to_ms - first) + bucket_ms - 1) / bucket_ms;
    let out = (0..n.max(0))
        .map(|i| Bucket {
            start_ms: first + i * bucket_ms,
            events: 0,
            errors: 0,
        })
        .collect();
    (first, out)
}

/// Event and error counts per bucket of `bucket_ms`, every bucket of the range present.
pub async fn histogram(
    pool: &SqlitePool,
    r: &ResolvedRange,
    bucket_ms: i64,
    (mask, want): (i64, i64),
    entity: Option<(u8, &str)>,
) -> Result<Vec<Bucket>, sqlx::Error> {
    let (first, mut out) = empty_buckets(r, bucket_ms);
    let sql = if entity.is_some() {
        formatcp!(
            "SELECT (minute * 60000 - ?3) / ?4 AS b, sum(events),
                coalesce(sum(CASE WHEN flags & {ERROR} THEN events END), 0)
         FROM entity_minute
         WHERE kind = ?7 AND entity IN (SELECT value FROM json_each(?8))
           AND minute >= ?1 AND minute < ?2 AND (flags & ?5) = ?6 GROUP BY b ORDER BY b"
        )
    } else {
        formatcp!(
            "SELECT (minute * 60000 - ?3) / ?4 AS b, sum(events),
                coalesce(sum(CASE WHEN flags & {ERROR} THEN events END), 0)
         FROM counts_minute
         WHERE minute >= ?1 AND minute < ?2 AND (flags & ?5) = ?6 GROUP BY b ORDER BY b"
        )
    };
    let (kind, ids) = entity.unwrap_or((0, "[]"));
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(sql)
        .bind(r.from_ms.div_euclid(60_000))
        .bind(r.to_ms.div_euclid(60_000))
        .bind(first)
        .bind(bucket_ms)
        .bind(mask)
        .bind(want)
        .bind(kind)
        .bind(ids)
        .fetch_all(pool)
        .await?;
    fill(&mut out, rows);
    Ok(out)
}

/// Puts (bucket index, events, errors) rows in their buckets; indexes outside are dropped.
pub(super) fn fill(out: &mut [Bucket], rows: Vec<(i64, i64, i64)>) {
    for (b, e, x) in rows {
        if let Some(slot) = usize::try_from(b).ok().and_then(|i| out.get_mut(i)) {
            slot.events = e;
            slot.errors = x;
        }
    }
}
