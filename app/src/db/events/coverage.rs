//! What coverage reads from the events: the trails' own write events (`CreateTrail`,
//! `StopLogging`, `PutEventSelectors`, ...) with their original records, and whether
//! management events of an account and Region are stored within a stretch of time.

use super::raw::{At, RawReader};
use crate::schema::TermKind;
use sqlx::SqlitePool;

/// Every successful event with one of `names`, oldest first: `(id, time, record)`. A
/// record that cannot be read is left out and logged; the rest go on.
pub async fn trail_writes(
    pool: &SqlitePool,
    names: &[&str],
) -> Result<Vec<(i64, i64, serde_json::Value)>, sqlx::Error> {
    let names = serde_json::to_string(names).unwrap_or_else(|_| "[]".to_owned());
    let rows: Vec<(i64, i64, i64, Vec<u8>, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT e.id, e.event_time, e.raw_dict, e.raw, e.raw_block, e.raw_slot FROM events e
         WHERE e.name_id IN (SELECT t.id FROM terms t, json_each(?1) n
                             WHERE t.kind = ?2 AND t.value = n.value)
           AND e.error_code_id IS NULL
         ORDER BY e.id",
    )
    .bind(names)
    .bind(TermKind::Name as u8)
    .fetch_all(pool)
    .await?;
    let mut reader = RawReader::default();
    let mut out = Vec::with_capacity(rows.len());
    for (id, time, dict, raw, block, slot) in rows {
        let record = match reader.read(pool, id, At { dict, raw: &raw, block, slot }).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| e.to_string()),
            Err(super::DetailError::Db(e)) => return Err(e),
            Err(e) => Err(e.to_string()),
        };
        match record {
            Ok(r) => out.push((id, time, r)),
            Err(e) => tracing::warn!(event = id, error = %e, "a trail write event's record cannot be read; coverage leaves it out"),
        }
    }
    Ok(out)
}

/// Most hours of activity looked into for [`management_between`]; more than this many
/// hours with the account's and Region's events means events are there.
const HOURS_LOOKED: usize = 200;

/// Whether a management event of the account and Region (with `network`, a network
/// activity event of that event source instead; reads or writes only, when `read_only`
/// says) is stored in `[from, to)`. The hourly summary names the hours with events of
/// both; each is then looked into.
pub async fn activity_between(
    pool: &SqlitePool,
    account: &str,
    region: &str,
    network: Option<&str>,
    from_ms: i64,
    to_ms: i64,
    read_only: Option<bool>,
) -> Result<bool, sqlx::Error> {
    use crate::schema::{Dim, first_id_at};
    const HOUR: i64 = 3_600_000;
    let ids: (Option<i64>, Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT id FROM terms WHERE kind = ?1 AND value = ?2),
                (SELECT id FROM terms WHERE kind = ?3 AND value = ?4),
                (SELECT id FROM terms WHERE kind = ?5 AND value = ?6),
                (SELECT id FROM terms WHERE kind = ?7 AND value = ?8)",
    )
    .bind(TermKind::Account as u8)
    .bind(account)
    .bind(TermKind::Region as u8)
    .bind(region)
    .bind(TermKind::Category as u8)
    .bind(if network.is_some() { "NetworkActivity" } else { "Management" })
    .bind(TermKind::Source as u8)
    .bind(network.unwrap_or_default())
    .fetch_one(pool)
    .await?;
    let (Some(account_id), Some(region_id)) = (ids.0, ids.1) else {
        return Ok(false);
    };
    // Network activity of a service never stored, or never categorised: none.
    if network.is_some() && (ids.2.is_none() || ids.3.is_none()) {
        return Ok(false);
    }
    let hours: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT a.hour FROM rollup_hour a
         JOIN rollup_hour r ON r.dim = ?1 AND r.hour = a.hour AND r.value = ?2
         WHERE a.dim = ?3 AND a.value = ?4 AND a.hour >= ?5 AND a.hour <= ?6
         ORDER BY a.hour LIMIT ?7",
    )
    .bind(Dim::Region as u8)
    .bind(region_id)
    .bind(Dim::Account as u8)
    .bind(account_id)
    .bind(from_ms.div_euclid(HOUR))
    .bind((to_ms - 1).div_euclid(HOUR))
    .bind(HOURS_LOOKED as i64 + 1)
    .fetch_all(pool)
    .await?;
    if hours.len() > HOURS_LOOKED {
        return Ok(true);
    }
    for h in hours {
        let lo = first_id_at(from_ms.max(h * HOUR));
        let hi = first_id_at(to_ms.min((h + 1) * HOUR));
        // Records without a category are management events, unless a source is asked.
        let found: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM events WHERE id >= ?1 AND id < ?2
                            AND account_id = ?3 AND region_id = ?4
                            AND ((?7 IS NULL AND category_id IS NULL) OR category_id = ?5)
                            AND (?7 IS NULL OR source_id = ?7)
                            AND (?6 IS NULL OR read_only = ?6))",
        )
        .bind(lo)
        .bind(hi)
        .bind(account_id)
        .bind(region_id)
        .bind(ids.2)
        .bind(read_only)
        .bind(ids.3.filter(|_| network.is_some()))
        .fetch_one(pool)
        .await?;
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}
