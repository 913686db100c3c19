//! Queries over `events`: totals and histogram from the per-minute counts, keyset pages
//! by time-ordered id, one event in full.

use super::filter::Selection;
use crate::model::{
    Bucket, EventDetail, EventRow, IssuedBy, Kpis, PrincipalInfo, ResolvedRange, ResourceInfo,
    StoreInfo, TopList, TopRow,
};
use crate::query::{Column, Sort};
use crate::schema::{Dim, ID_HASH_BITS, TermKind, first_id_at, id_time};
use sqlx::{FromRow, QueryBuilder, Sqlite, SqlitePool};
use std::collections::HashMap;

/// Totals over the whole store.
pub async fn store_info(pool: &SqlitePool) -> Result<StoreInfo, sqlx::Error> {
    let (events, oldest, newest): (Option<i64>, Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT sum(events), min(minute), max(minute) FROM counts_minute")
            .fetch_one(pool)
            .await?;
    let pending: Option<i64> =
        sqlx::query_scalar("SELECT pending_below FROM search_index WHERE id = 1")
            .fetch_optional(pool)
            .await?
            .flatten();
    Ok(StoreInfo {
        events: events.unwrap_or(0),
        oldest_ms: oldest.map(|m| m * 60_000),
        newest_ms: newest.map(|m| m * 60_000 + 59_999),
        search_pending_before_ms: pending.map(|id| id >> crate::schema::ID_HASH_BITS),
    })
}

/// The timeline's top-N panels, in order.
pub const TIMELINE_DIMS: [Dim; 10] = [
    Dim::Principal,
    Dim::Name,
    Dim::Resource,
    Dim::SourceIp,
    Dim::ErrorCode,
    Dim::UserAgent,
    Dim::AccessKey,
    Dim::Source,
    Dim::Region,
    Dim::Account,
];

/// Top-N panels show this many rows.
pub const TOP_N: usize = 8;
/// How deep partial top lists go before they are merged (exact whenever a part has no
/// more distinct values than this).
const MERGE_DEPTH: i64 = 1000;

/// Figures that the summaries cannot answer are counted from the events, newest first,
/// a window at a time, until at least this many have been counted; the figures then
/// cover the windows read and say from when (see [`Facets::counted_from_ms`]). At a few
/// microseconds per event, a common word searched over all of 10M events still answers
/// in well under a second.
pub const SCAN_CAP: i64 = 50_000;

/// Figures for a range: KPIs, the histogram and the top values of every dimension.
#[derive(Debug, Clone, Default)]
pub struct Facets {
    pub kpis: Kpis,
    pub buckets: Vec<Bucket>,
    /// Per dimension: (value id, events, errors), most events first.
    pub top: HashMap<u8, Vec<(i64, i64, i64)>>,
    /// Set when the figures stop short of the start of the range: they cover the events
    /// from this time on (at least [`SCAN_CAP`] of them), exactly.
    pub counted_from_ms: Option<i64>,
    /// Per dimension: how many values it has, and whether that is exact (a summary
    /// read only so deep gives a lower bound).
    pub distinct: HashMap<u8, (i64, bool)>,
}

fn empty_buckets(r: &ResolvedRange, bucket_ms: i64) -> (i64, Vec<Bucket>) {
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

/// The denied error codes' term ids, as a JSON array.
async fn denied_codes(pool: &SqlitePool) -> Result<String, sqlx::Error> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM terms WHERE kind = ?1
         AND (value GLOB 'AccessDenied*' OR value GLOB '*UnauthorizedOperation')",
    )
    .bind(TermKind::ErrorCode as u8)
    .fetch_all(pool)
    .await?;
    Ok(serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into()))
}

/// The column of `events` a dimension groups by (resources excepted: a JSON list).
fn scan_column(dim: Dim) -> &'static str {
    match dim {
        Dim::Principal => "principal_id",
        Dim::Name => "name_id",
        Dim::Source => "source_id",
        Dim::Resource => "resource_ids",
        Dim::SourceIp => "source_ip_id",
        Dim::ErrorCode => "error_code_id",
        Dim::Region => "region_id",
        Dim::Account => "account_id",
        Dim::UserAgent => "user_agent_id",
        Dim::AccessKey => "access_key_id",
    }
}

/// One pass over the selected events of a range: KPIs, histogram (when `bucket_ms` is
/// given) and the top `depth` values of every dimension (when `depth > 0`). The events
/// are read once into a temporary result and every figure is grouped from that. Only
/// the top lists of `dims` are made.
pub async fn scan_facets(
    pool: &SqlitePool,
    sel: &Selection,
    r: &ResolvedRange,
    bucket_ms: Option<i64>,
    (depth, dims): (i64, &[Dim]),
    objects: bool,
) -> Result<Facets, sqlx::Error> {
    let denied = denied_codes(pool).await?;
    let bucket = bucket_ms.unwrap_or(i64::MAX);
    let (first, mut buckets) = match bucket_ms {
        Some(b) => empty_buckets(r, b),
        None => (r.from_ms, Vec::new()),
    };
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
        "WITH m AS MATERIALIZED (
             SELECT e.id, e.event_time, e.principal_id, e.name_id, e.source_id, e.source_ip_id,
                    e.error_code_id, e.region_id, e.account_id, e.read_only, e.resource_ids,
                    e.user_agent_id, e.access_key_id
             FROM events e WHERE e.id >= ",
    );
    qb.push_bind(first_id_at(r.from_ms));
    qb.push(" AND e.id < ");
    qb.push_bind(first_id_at(r.to_ms));
    sel.push_where(&mut qb, (first_id_at(r.from_ms), first_id_at(r.to_ms)));
    qb.push(
        ")
         SELECT -1, count(*), count(error_code_id), 0, 0 FROM m
         UNION ALL SELECT -2, coalesce(sum(read_only = 0), 0),
             coalesce(sum(error_code_id IN (SELECT value FROM json_each(",
    );
    qb.push_bind(denied);
    qb.push(
        "))), 0), 0, 0 FROM m
         UNION ALL SELECT -3, count(DISTINCT principal_id), 0, 0, 0 FROM m",
    );
    if bucket_ms.is_some() {
        qb.push(" UNION ALL SELECT -4, (event_time - ");
        qb.push_bind(first);
        qb.push(") / ");
        qb.push_bind(bucket);
        qb.push(", count(*), count(error_code_id), 0 FROM m GROUP BY 2");
    }
    if depth > 0 && !dims.is_empty() {
        qb.push(
            " UNION ALL SELECT dim, value, n, x, total FROM (
                SELECT dim, value, n, x,
                       row_number() OVER (PARTITION BY dim ORDER BY n DESC, value) AS rk,
                       count(*) OVER (PARTITION BY dim) AS total
                FROM (",
        );
        for (i, dim) in dims.iter().enumerate() {
            if i > 0 {
                qb.push(" UNION ALL ");
            }
            let d = *dim as u8;
            qb.push(match dim {
                Dim::Resource if objects => format!(
                    "SELECT {d} AS dim, r.value AS value, count(*) AS n, count(m.error_code_id) AS x
                     FROM m, json_each(m.resource_ids) r GROUP BY 2"
                ),
                Dim::Resource => format!(
                    "SELECT {d} AS dim, r.value AS value, count(*) AS n, count(m.error_code_id) AS x
                     FROM m, json_each(m.resource_ids) r JOIN resources res ON res.id = r.value
                     WHERE res.type <> 'AWS::S3::Object' GROUP BY 2"
                ),
                // The timeline lists long-term keys, as the rollups hold them: the ones
                // the daily rollup knows (temporary keys, one a session, are left out).
                Dim::AccessKey if !objects => format!(
                    "SELECT {d} AS dim, access_key_id AS value, count(*) AS n, count(error_code_id) AS x
                     FROM m WHERE access_key_id IN (SELECT value FROM rollup_day WHERE dim = {d})
                     GROUP BY 2"
                ),
                _ => {
                    let col = scan_column(*dim);
                    format!(
                        "SELECT {d} AS dim, {col} AS value, count(*) AS n, count(error_code_id) AS x
                         FROM m WHERE {col} IS NOT NULL GROUP BY 2"
                    )
                }
            });
        }
        qb.push(
            "
                )
            ) WHERE rk <= ",
        );
        qb.push_bind(depth);
    }
    let rows: Vec<(i64, i64, i64, i64, i64)> = qb.build_query_as().fetch_all(pool).await?;
    let mut f = Facets::default();
    for (dim, a, b, c, total) in rows {
        match dim {
            -1 => {
                f.kpis.events = a;
                f.kpis.errors = b;
            }
            -2 => {
                f.kpis.writes = a;
                f.kpis.denied = b;
            }
            -3 => f.kpis.principals = a,
            -4 => {
                if let Some(slot) = usize::try_from(a).ok().and_then(|i| buckets.get_mut(i)) {
                    slot.events = b;
                    slot.errors = c;
                }
            }
            d => {
                if let Ok(d) = u8::try_from(d) {
                    f.top.entry(d).or_default().push((a, b, c));
                    f.distinct.insert(d, (total, true));
                }
            }
        }
    }
    f.buckets = buckets;
    Ok(f)
}

/// The same figures from the summary tables, for a selection they can answer (see
/// [`Selection::rollup_mask`]): per-minute counts for the KPIs and histogram, hourly
/// rollups for the top values, and the events themselves only for the partial hours at
/// either end of the range.
pub async fn summary_facets(
    pool: &SqlitePool,
    sel: &Selection,
    (mask, want): (i64, i64),
    r: &ResolvedRange,
    bucket_ms: Option<i64>,
    depth: i64,
) -> Result<Facets, sqlx::Error> {
    const HOUR: i64 = 3_600_000;
    let mut f = Facets::default();
    let (k_events, k_errors, k_writes, k_denied): (Option<i64>, Option<i64>, Option<i64>, Option<i64>) =
        sqlx::query_as(
            "SELECT sum(events), sum(CASE WHEN flags & 2 THEN events END),
                    sum(CASE WHEN flags & 1 THEN events END), sum(CASE WHEN flags & 4 THEN events END)
             FROM counts_minute WHERE minute >= ?1 AND minute < ?2 AND (flags & ?3) = ?4",
        )
        .bind(r.from_ms.div_euclid(60_000))
        .bind(r.to_ms.div_euclid(60_000))
        .bind(mask)
        .bind(want)
        .fetch_one(pool)
        .await?;
    f.kpis = Kpis {
        events: k_events.unwrap_or(0),
        errors: k_errors.unwrap_or(0),
        writes: k_writes.unwrap_or(0),
        denied: k_denied.unwrap_or(0),
        principals: 0,
    };
    if let Some(b) = bucket_ms {
        f.buckets = histogram(pool, r, b, (mask, want), None).await?;
    }
    // Whole hours from the rollup, the ragged ends from the events.
    let h0 = (r.from_ms + HOUR - 1).div_euclid(HOUR);
    let h1 = r.to_ms.div_euclid(HOUR);
    let whole = h0 < h1;
    let edges = if whole {
        vec![(r.from_ms, h0 * HOUR), (h1 * HOUR, r.to_ms)]
    } else {
        vec![(r.from_ms, r.to_ms)]
    };
    // Edges are under two hours of events.
    let (mut parts, mut principals) = scan_edges(pool, sel, &edges, false).await?;
    if whole {
        // Whole days from the daily rollup, the hours around them from the hourly one.
        let d0 = (h0 + 23).div_euclid(24);
        let d1 = h1.div_euclid(24);
        let (d0, d1) = if d0 < d1 { (d0, d1) } else { (0, 0) };
        let (ha, hb) = if d0 < d1 {
            (d0 * 24, d1 * 24)
        } else {
            (h1, h1)
        };
        // Hours [h0, ha) and [hb, h1); days [d0, d1). Principals are always listed in
        // full (they are counted); the other dimensions only when top lists are asked for.
        let dims: &[Dim] = if depth > 0 { &Dim::ALL } else { &Dim::ALL[..1] };
        let mut middle = Facets::default();
        for dim in dims {
            let limit = if *dim == Dim::Principal {
                i64::MAX
            } else {
                MERGE_DEPTH.max(depth)
            };
            let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
                "SELECT value, sum(events) AS n, coalesce(sum(CASE WHEN flags & 2 THEN events END), 0)
                 FROM (
                     SELECT value, flags, events FROM rollup_day
                     WHERE dim = ?1 AND day >= ?6 AND day < ?7 AND (flags & ?4) = ?5
                     UNION ALL
                     SELECT value, flags, events FROM rollup_hour
                     WHERE dim = ?1 AND hour >= ?2 AND hour < ?8 AND (flags & ?4) = ?5
                     UNION ALL
                     SELECT value, flags, events FROM rollup_hour
                     WHERE dim = ?1 AND hour >= ?9 AND hour < ?3 AND (flags & ?4) = ?5
                 )
                 GROUP BY value ORDER BY n DESC, value LIMIT ?10",
            )
            .bind(*dim as u8)
            .bind(h0)
            .bind(h1)
            .bind(mask)
            .bind(want)
            .bind(d0)
            .bind(d1)
            .bind(ha)
            .bind(hb)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            if *dim == Dim::Principal {
                principals.extend(rows.iter().map(|(v, _, _)| *v));
            }
            if rows.len() as i64 >= limit {
                middle.distinct.insert(*dim as u8, (limit, false));
            }
            middle.top.insert(*dim as u8, rows);
        }
        parts.push(middle);
    }
    f.kpis.principals = principals.len() as i64;
    if depth > 0 {
        let m = merge_top(&parts, depth);
        f.top = m.top;
        f.distinct = m.distinct;
    }
    Ok(f)
}

/// Figures of the (short) `edges` of a range, each scanned with no depth limit so that
/// merging them with the summaries is exact, and the principals seen in them. Empty
/// edges are skipped.
async fn scan_edges(
    pool: &SqlitePool,
    sel: &Selection,
    edges: &[(i64, i64)],
    objects: bool,
) -> Result<(Vec<Facets>, std::collections::HashSet<i64>), sqlx::Error> {
    let mut parts = Vec::new();
    let mut principals = std::collections::HashSet::new();
    for &(from_ms, to_ms) in edges.iter().filter(|(a, b)| a < b) {
        let edge = ResolvedRange::new(from_ms, to_ms);
        let e = scan_facets(pool, sel, &edge, None, (i64::MAX, &Dim::ALL), objects).await?;
        if let Some(p) = e.top.get(&(Dim::Principal as u8)) {
            principals.extend(p.iter().map(|(v, _, _)| *v));
        }
        parts.push(e);
    }
    Ok((parts, principals))
}

/// Top lists of several parts of a range added up, each cut to `depth`, with how many
/// values each has in all (exact when no part's list was cut short).
fn merge_top(parts: &[Facets], depth: i64) -> MergedTop {
    let mut top = HashMap::new();
    let mut distinct = HashMap::new();
    for dim in Dim::ALL {
        let mut merged: HashMap<i64, (i64, i64)> = HashMap::new();
        for p in parts {
            for (v, n, x) in p.top.get(&(dim as u8)).into_iter().flatten() {
                let m = merged.entry(*v).or_insert((0, 0));
                m.0 += n;
                m.1 += x;
            }
        }
        let exact = parts.iter().all(|p| {
            p.distinct
                .get(&(dim as u8))
                .is_none_or(|(n, exact)| *exact && p.top.get(&(dim as u8)).map_or(0, Vec::len) as i64 >= *n)
        });
        let mut list: Vec<(i64, i64, i64)> =
            merged.into_iter().map(|(v, (n, x))| (v, n, x)).collect();
        distinct.insert(dim as u8, (list.len() as i64, exact));
        list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        list.truncate(usize::try_from(depth).unwrap_or(usize::MAX));
        top.insert(dim as u8, list);
    }
    MergedTop { top, distinct }
}

/// What [`merge_top`] gives.
struct MergedTop {
    top: HashMap<u8, Vec<(i64, i64, i64)>>,
    distinct: HashMap<u8, (i64, bool)>,
}

/// The same figures for one principal (a role with its sessions) or one resource, from
/// the per-entity summaries: minutes for the KPIs and histogram, days for the top lists,
/// and the events themselves only for the partial days at either end. Ranges shorter
/// than a whole day are scanned.
pub async fn entity_facets(
    pool: &SqlitePool,
    sel: &Selection,
    (kind, ids, (mask, want)): (u8, &str, (i64, i64)),
    r: &ResolvedRange,
    bucket_ms: Option<i64>,
    depth: i64,
    objects: bool,
) -> Result<Facets, sqlx::Error> {
    const DAY: i64 = 86_400_000;
    let d0 = (r.from_ms + DAY - 1).div_euclid(DAY);
    let d1 = r.to_ms.div_euclid(DAY);
    if d0 >= d1 {
        return scan_facets(pool, sel, r, bucket_ms, (depth, &Dim::ALL), objects).await;
    }
    let mut f = Facets::default();
    let (k_events, k_errors, k_writes, k_denied): (Option<i64>, Option<i64>, Option<i64>, Option<i64>) =
        sqlx::query_as(
            "SELECT sum(events), sum(CASE WHEN flags & 2 THEN events END),
                    sum(CASE WHEN flags & 1 THEN events END), sum(CASE WHEN flags & 4 THEN events END)
             FROM entity_minute WHERE kind = ?1 AND entity IN (SELECT value FROM json_each(?2))
               AND minute >= ?3 AND minute < ?4 AND (flags & ?5) = ?6",
        )
        .bind(kind)
        .bind(ids)
        .bind(r.from_ms.div_euclid(60_000))
        .bind(r.to_ms.div_euclid(60_000))
        .bind(mask)
        .bind(want)
        .fetch_one(pool)
        .await?;
    f.kpis = Kpis {
        events: k_events.unwrap_or(0),
        errors: k_errors.unwrap_or(0),
        writes: k_writes.unwrap_or(0),
        denied: k_denied.unwrap_or(0),
        principals: 0,
    };
    if let Some(b) = bucket_ms {
        f.buckets = histogram(pool, r, b, (mask, want), Some((kind, ids))).await?;
    }
    // Under a day of this entity's events each.
    let edges = [(r.from_ms, d0 * DAY), (d1 * DAY, r.to_ms)];
    let (mut parts, mut principals) = scan_edges(pool, sel, &edges, objects).await?;
    let dims: &[Dim] = if depth > 0 { &Dim::ALL } else { &Dim::ALL[..1] };
    let mut middle = Facets::default();
    for dim in dims {
        let limit = if *dim == Dim::Principal {
            i64::MAX
        } else {
            MERGE_DEPTH.max(depth)
        };
        // Single S3 objects are summarised apart; they join the resources when asked for.
        let also = if *dim == Dim::Resource && objects {
            crate::schema::entity::OBJECT_DIM
        } else {
            *dim as u8
        };
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT value, sum(events) AS n, coalesce(sum(CASE WHEN flags & 2 THEN events END), 0)
             FROM entity_day
             WHERE kind = ?1 AND entity IN (SELECT value FROM json_each(?2)) AND dim IN (?3, ?4)
               AND day >= ?5 AND day < ?6 AND (flags & ?7) = ?8
               -- On the timeline, long-term access keys only (see `scan_facets`).
               AND (?10 OR dim <> ?11 OR value IN (SELECT value FROM rollup_day WHERE dim = ?11))
             GROUP BY value ORDER BY n DESC, value LIMIT ?9",
        )
        .bind(kind)
        .bind(ids)
        .bind(*dim as u8)
        .bind(also)
        .bind(d0)
        .bind(d1)
        .bind(mask)
        .bind(want)
        .bind(limit)
        .bind(objects)
        .bind(Dim::AccessKey as u8)
        .fetch_all(pool)
        .await?;
        if *dim == Dim::Principal {
            principals.extend(rows.iter().map(|(v, _, _)| *v));
        }
        if rows.len() as i64 >= limit {
            middle.distinct.insert(*dim as u8, (limit, false));
        }
        middle.top.insert(*dim as u8, rows);
    }
    parts.push(middle);
    f.kpis.principals = principals.len() as i64;
    if depth > 0 {
        let m = merge_top(&parts, depth);
        f.top = m.top;
        f.distinct = m.distinct;
    }
    Ok(f)
}

/// Figures for a range: from the summaries when they can answer, else counted from the
/// events, newest first, until at least [`SCAN_CAP`] have been. `objects`: whether
/// single S3 objects count in the resource list; `dims`: the top lists wanted.
pub async fn facets(
    pool: &SqlitePool,
    sel: &Selection,
    r: &ResolvedRange,
    bucket_ms: Option<i64>,
    (depth, dims): (i64, &[Dim]),
    objects: bool,
) -> Result<Facets, sqlx::Error> {
    if let Some(mask) = sel.rollup_mask().filter(|_| !objects) {
        return summary_facets(pool, sel, mask, r, bucket_ms, depth).await;
    }
    if let Some((kind, ids, mask)) = sel.entity_scope() {
        return entity_facets(pool, sel, (kind, &ids, mask), r, bucket_ms, depth, objects).await;
    }
    newest_facets(pool, sel, r, bucket_ms, (depth, dims), objects, SCAN_CAP).await
}

/// The first window of a newest-first walk over `span` ms.
fn first_window(span: i64) -> i64 {
    (span / 32).max(60_000)
}

/// The next window of a walk that has found `found` of the `want` events it needs in
/// its first `walked` ms, the last window having been `w` ms long: as long as the rate
/// so far says is left to read, a tenth more, from half to eight times the last.
fn next_window(w: i64, walked: i64, found: i64, want: i64) -> i64 {
    if found <= 0 {
        return w.saturating_mul(8);
    }
    let left = i128::from(want - found).max(1);
    let guess = left * i128::from(walked) * 11 / (i128::from(found) * 10);
    let guess = i64::try_from(guess).unwrap_or(i64::MAX);
    guess.clamp((w / 2).max(60_000), w.saturating_mul(8))
}

/// Figures counted from the events in windows walking back from the end of the range,
/// until at least `cap` events have been counted or the range is done. Each window is
/// scanned exactly and the windows added up, so the figures are exact for the span they
/// cover; when that is not the whole range, [`Facets::counted_from_ms`] says where it
/// starts. Reading a window at a time also keeps what a search word's index lookups
/// collect to the window.
pub async fn newest_facets(
    pool: &SqlitePool,
    sel: &Selection,
    r: &ResolvedRange,
    bucket_ms: Option<i64>,
    (depth, dims): (i64, &[Dim]),
    objects: bool,
    cap: i64,
) -> Result<Facets, sqlx::Error> {
    // The principals of every window are needed to count them across windows.
    let mut wanted: Vec<Dim> = if depth > 0 { dims.to_vec() } else { Vec::new() };
    if !wanted.contains(&Dim::Principal) {
        wanted.push(Dim::Principal);
    }
    let (first, mut buckets) = match bucket_ms {
        Some(b) => empty_buckets(r, b),
        None => (r.from_ms, Vec::new()),
    };
    let mut f = Facets::default();
    let mut principals = std::collections::HashSet::new();
    let mut parts = Vec::new();
    let mut hi = r.to_ms;
    let mut w = first_window(r.to_ms - r.from_ms);
    while hi > r.from_ms {
        let mut lo = hi.saturating_sub(w).max(r.from_ms);
        if lo - r.from_ms < w / 4 {
            lo = r.from_ms;
        }
        let window = ResolvedRange::new(lo, hi);
        let part = scan_facets(pool, sel, &window, bucket_ms, (i64::MAX, &wanted), objects).await?;
        f.kpis.events += part.kpis.events;
        f.kpis.errors += part.kpis.errors;
        f.kpis.writes += part.kpis.writes;
        f.kpis.denied += part.kpis.denied;
        if let Some(p) = part.top.get(&(Dim::Principal as u8)) {
            principals.extend(p.iter().map(|(v, _, _)| *v));
        }
        if let Some(b) = bucket_ms {
            for pb in part.buckets.iter().filter(|pb| pb.events > 0) {
                let slot = usize::try_from((pb.start_ms - first) / b)
                    .ok()
                    .and_then(|i| buckets.get_mut(i));
                if let Some(slot) = slot {
                    slot.events += pb.events;
                    slot.errors += pb.errors;
                }
            }
        }
        parts.push(part);
        hi = lo;
        if f.kpis.events >= cap {
            break;
        }
        w = next_window(w, r.to_ms - hi, f.kpis.events, cap);
    }
    if hi > r.from_ms {
        f.counted_from_ms = Some(hi);
    }
    f.kpis.principals = principals.len() as i64;
    f.buckets = buckets;
    if depth > 0 {
        let m = merge_top(&parts, depth);
        f.top = m.top;
        f.distinct = m.distinct;
        f.top.retain(|d, _| dims.iter().any(|x| *x as u8 == *d));
    }
    Ok(f)
}

/// Names for the ids of the top lists: what a filter matches and what is shown.
pub async fn label_top(
    pool: &SqlitePool,
    facets: &Facets,
    dims: &[Dim],
    shown: usize,
) -> Result<Vec<TopList>, sqlx::Error> {
    let mut out = Vec::new();
    for &dim in dims {
        let mut rows = facets.top.get(&(dim as u8)).cloned().unwrap_or_default();
        let (distinct, exact) = facets
            .distinct
            .get(&(dim as u8))
            .copied()
            .unwrap_or((rows.len() as i64, true));
        rows.truncate(shown);
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let ids_json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        let names: Vec<(i64, String, String)> = match dim {
            Dim::Principal => {
                sqlx::query_as(
                    "SELECT id, key, display_name || coalesce(' · ' || account, '') FROM principals
                     WHERE id IN (SELECT value FROM json_each(?1))",
                )
                .bind(&ids_json)
                .fetch_all(pool)
                .await?
            }
            Dim::Resource => sqlx::query_as(
                "SELECT id, arn, name FROM resources WHERE id IN (SELECT value FROM json_each(?1))",
            )
            .bind(&ids_json)
            .fetch_all(pool)
            .await?,
            _ => sqlx::query_as(
                "SELECT id, value, value FROM terms WHERE id IN (SELECT value FROM json_each(?1))",
            )
            .bind(&ids_json)
            .fetch_all(pool)
            .await?,
        };
        let names: HashMap<i64, (String, String)> = names
            .into_iter()
            .map(|(id, v, l)| {
                let l = if dim == Dim::Resource {
                    resource_label(&v, &l)
                } else {
                    l
                };
                (id, (v, l))
            })
            .collect();
        let field = dim.field();
        out.push(TopList {
            field,
            distinct: distinct.max(rows.len() as i64),
            exact,
            rows: rows
                .into_iter()
                .filter_map(|(id, events, errors)| {
                    names.get(&id).map(|(value, label)| TopRow {
                        value: value.clone(),
                        label: label.clone(),
                        events,
                        errors,
                    })
                })
                .collect(),
        });
    }
    Ok(out)
}

/// Values a "show all" list goes down to.
pub const ALL_VALUES: i64 = 5000;

/// Every value of one dimension in a selection (down to [`ALL_VALUES`]), with its events
/// and errors, most events first.
pub async fn top_all(
    pool: &SqlitePool,
    sel: &Selection,
    r: &ResolvedRange,
    dim: Dim,
    objects: bool,
) -> Result<(TopList, Facets), sqlx::Error> {
    let f = facets(pool, sel, r, None, (ALL_VALUES, &[dim]), objects).await?;
    let list = label_top(pool, &f, &[dim], usize::MAX)
        .await?
        .pop()
        .unwrap_or(TopList {
            field: dim.field(),
            rows: Vec::new(),
            distinct: 0,
            exact: true,
        });
    Ok((list, f))
}

/// A resource's name with the Region and account from its ARN, so the same name in two
/// places reads differently: `alias/app-secrets · us-east-1 · 111122223333`.
pub fn resource_label(arn: &str, name: &str) -> String {
    let mut parts = arn.splitn(6, ':').skip(3);
    let region = parts.next().unwrap_or("");
    let account = parts.next().unwrap_or("");
    let mut label = name.to_owned();
    for p in [region, account] {
        if !p.is_empty() {
            label.push_str(" · ");
            label.push_str(p);
        }
    }
    label
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
        "SELECT (minute * 60000 - ?3) / ?4 AS b, sum(events),
                coalesce(sum(CASE WHEN flags & 2 THEN events END), 0)
         FROM entity_minute
         WHERE kind = ?7 AND entity IN (SELECT value FROM json_each(?8))
           AND minute >= ?1 AND minute < ?2 AND (flags & ?5) = ?6 GROUP BY b ORDER BY b"
    } else {
        "SELECT (minute * 60000 - ?3) / ?4 AS b, sum(events),
                coalesce(sum(CASE WHEN flags & 2 THEN events END), 0)
         FROM counts_minute
         WHERE minute >= ?1 AND minute < ?2 AND (flags & ?5) = ?6 GROUP BY b ORDER BY b"
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
    for (b, e, x) in rows {
        if let Some(slot) = usize::try_from(b).ok().and_then(|i| out.get_mut(i)) {
            slot.events = e;
            slot.errors = x;
        }
    }
    Ok(out)
}

#[derive(FromRow)]
struct RowDb {
    id: i64,
    event_time: i64,
    principal: String,
    principal_key: String,
    principal_kind: String,
    name: String,
    source: String,
    region: Option<String>,
    resource: Option<String>,
    resource_arn: Option<String>,
    source_ip: Option<String>,
    error: Option<String>,
    read_only: Option<bool>,
}

/// The id range of a page: the time range, cut at the cursor on the side the sort
/// order walks towards.
fn page_bounds(r: &ResolvedRange, sort: Sort, cursor: Option<i64>) -> (i64, i64) {
    let (lo, hi) = (first_id_at(r.from_ms), first_id_at(r.to_ms));
    match (sort, cursor) {
        (Sort::Newest, Some(c)) => (lo, hi.min(c)),
        (Sort::Oldest, Some(c)) => (lo.max(c.saturating_add(1)), hi),
        _ => (lo, hi),
    }
}

/// Where a column order starts sorting: the start of the bucket from which the newest
/// [`SCAN_CAP`] events of the histogram on, or `None` when the whole range holds fewer.
/// Sorting millions of events by a name would take seconds; the newest fifty thousand
/// take tens of milliseconds, and the page says which span it sorted.
pub fn sort_span(buckets: &[Bucket], range: &ResolvedRange) -> Option<i64> {
    let mut n = 0;
    for b in buckets.iter().rev() {
        n += b.events;
        if n >= SCAN_CAP {
            return Some(b.start_ms.max(range.from_ms)).filter(|s| *s > range.from_ms);
        }
    }
    None
}

/// One page of the selected events in `r` ordered by a column (then newest first),
/// `offset` rows in. Returns the rows and the offset of the next page.
pub async fn list_by_column(
    pool: &SqlitePool,
    sel: &Selection,
    r: &ResolvedRange,
    (column, desc): (Column, bool),
    offset: i64,
    limit: i64,
) -> Result<(Vec<EventRow>, Option<i64>), sqlx::Error> {
    let (lo, hi) = (first_id_at(r.from_ms), first_id_at(r.to_ms));
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(ROW_COLUMNS);
    qb.push(" FROM events e");
    qb.push(ROW_JOINS);
    qb.push(" WHERE e.id >= ");
    qb.push_bind(lo);
    qb.push(" AND e.id < ");
    qb.push_bind(hi);
    sel.push_where(&mut qb, (lo, hi));
    // The expression comes from a closed enum, never from input.
    let expr = match column {
        Column::Principal => "p.display_name",
        Column::Event => "n.value",
        Column::Source => "s.value",
        Column::Region => "rg.value",
        Column::Resource => "res.name",
        Column::SourceIp => "ip.value",
        Column::Error => "ec.value",
    };
    qb.push(format_args!(
        " ORDER BY {expr} IS NULL, {expr} {}, e.id DESC LIMIT ",
        if desc { "DESC" } else { "ASC" }
    ));
    qb.push_bind(limit + 1);
    qb.push(" OFFSET ");
    qb.push_bind(offset.max(0));
    let found: Vec<RowDb> = qb.build_query_as().fetch_all(pool).await?;
    let (rows, more) = page_rows(pool, sel, found, limit).await?;
    Ok((rows, more.then_some(offset.max(0) + limit)))
}

/// The first `limit` of the rows found (one more was asked for, to know whether there
/// is a next page), with where a search matched each; and whether there were more.
async fn page_rows(
    pool: &SqlitePool,
    sel: &Selection,
    found: Vec<RowDb>,
    limit: i64,
) -> Result<(Vec<EventRow>, bool), sqlx::Error> {
    let more = found.len() as i64 > limit;
    let mut rows: Vec<EventRow> = found
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(0))
        .map(RowDb::into_row)
        .collect();
    if !sel.words.is_empty() {
        annotate_matches(pool, &mut rows, &sel.words).await?;
    }
    Ok((rows, more))
}

/// One page of the selected events in the range, in `sort` order, after the cursor.
/// Returns the rows and the cursor of the next page. A search reads the range in
/// windows from the end it starts at, growing until the page is full, so that a common
/// word's index lookups stay within what the page needs.
pub async fn list(
    pool: &SqlitePool,
    sel: &Selection,
    r: &ResolvedRange,
    sort: Sort,
    cursor: Option<i64>,
    limit: i64,
) -> Result<(Vec<EventRow>, Option<i64>), sqlx::Error> {
    let (lo, hi) = page_bounds(r, sort, cursor);
    let want = limit + 1;
    let mut found: Vec<RowDb> = Vec::new();
    if sel.words.is_empty() {
        found = list_ids(pool, sel, (lo, hi), sort, want).await?;
    } else {
        let mut w = first_window(id_time(hi) - id_time(lo)).saturating_mul(1 << ID_HASH_BITS);
        let (mut a, mut b) = (lo, hi);
        while a < b && (found.len() as i64) < want {
            let window = match sort {
                Sort::Oldest => (a, a.saturating_add(w).min(b)),
                _ => (b.saturating_sub(w).max(a), b),
            };
            let more = list_ids(pool, sel, window, sort, want - found.len() as i64).await?;
            found.extend(more);
            match sort {
                Sort::Oldest => a = window.1,
                _ => b = window.0,
            }
            w = w.saturating_mul(8);
        }
    }
    let (rows, more) = page_rows(pool, sel, found, limit).await?;
    let next = if more {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok((rows, next))
}

/// Up to `limit` selected events with ids in `[lo, hi)`, in `sort` order.
async fn list_ids(
    pool: &SqlitePool,
    sel: &Selection,
    (lo, hi): (i64, i64),
    sort: Sort,
    limit: i64,
) -> Result<Vec<RowDb>, sqlx::Error> {
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(ROW_COLUMNS);
    qb.push(" FROM (SELECT e.* FROM events e WHERE e.id >= ");
    qb.push_bind(lo);
    qb.push(" AND e.id < ");
    qb.push_bind(hi);
    sel.push_where(&mut qb, (lo, hi));
    qb.push(match sort {
        Sort::Oldest => " ORDER BY e.id ASC LIMIT ",
        _ => " ORDER BY e.id DESC LIMIT ",
    });
    qb.push_bind(limit);
    qb.push(") e");
    qb.push(ROW_JOINS);
    qb.push(match sort {
        Sort::Oldest => " ORDER BY e.id ASC",
        _ => " ORDER BY e.id DESC",
    });
    qb.build_query_as().fetch_all(pool).await
}

/// Fields matched per row shown under a search result.
const MATCHES_SHOWN: usize = 3;

/// Fills in where a search matched each row, from the rows' original records (a
/// record that cannot be read is logged and shows no match).
async fn annotate_matches(
    pool: &SqlitePool,
    rows: &mut [EventRow],
    words: &[crate::search::Word],
) -> Result<(), sqlx::Error> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let raws: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as(
        "SELECT id, raw_dict, raw FROM events WHERE id IN (SELECT value FROM json_each(?1))",
    )
    .bind(serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into()))
    .fetch_all(pool)
    .await?;
    let mut reader = RawReader::default();
    for (id, dict, raw) in raws {
        let record = match reader.read(pool, id, dict, &raw).await {
            Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
                .map_err(|e| DetailError::Raw(id, e.to_string())),
            Err(e) => Err(e),
        };
        match record {
            Ok(v) => {
                if let Some(row) = rows.iter_mut().find(|r| r.id == id) {
                    row.matches = crate::search::matched_fields(&v, words, MATCHES_SHOWN);
                }
            }
            Err(DetailError::Db(e)) => return Err(e),
            Err(e) => tracing::warn!(error = %e, "cannot show where a search matched"),
        }
    }
    Ok(())
}

/// Columns of an [`EventRow`] over `e` (with [`ROW_JOINS`]).
const ROW_COLUMNS: &str =
    "SELECT e.id, e.event_time, p.display_name AS principal, p.key AS principal_key,
        p.kind AS principal_kind, n.value AS name, s.value AS source, rg.value AS region,
        res.name AS resource, res.arn AS resource_arn, ip.value AS source_ip,
        ec.value AS error, e.read_only";

const ROW_JOINS: &str = "
     JOIN principals p ON p.id = e.principal_id
     JOIN terms n ON n.id = e.name_id
     JOIN terms s ON s.id = e.source_id
     LEFT JOIN terms rg ON rg.id = e.region_id
     LEFT JOIN terms ip ON ip.id = e.source_ip_id
     LEFT JOIN terms ec ON ec.id = e.error_code_id
     LEFT JOIN resources res ON res.id = json_extract(e.resource_ids, '$[0]')";

/// Events by id, in time order (ids that name no event are left out).
pub async fn rows_by_ids(pool: &SqlitePool, ids: &[i64]) -> Result<Vec<EventRow>, sqlx::Error> {
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(ROW_COLUMNS);
    qb.push(" FROM events e");
    qb.push(ROW_JOINS);
    qb.push(" WHERE e.id IN (SELECT value FROM json_each(");
    qb.push_bind(serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()));
    qb.push(")) ORDER BY e.id");
    let rows: Vec<RowDb> = qb.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().map(RowDb::into_row).collect())
}

/// How far around an event related ones are looked for.
const RELATED_WINDOW_MS: i64 = 10 * 60_000;

/// Events within minutes of `id` from the same request, the same shared event (copies
/// delivered to other accounts) or the same principal — those of the same request or
/// shared event first, then the nearest in time, at most [`crate::model::RELATED_SHOWN`] — with the
/// event itself, in time order; and whether more were left out.
pub async fn related(
    pool: &SqlitePool,
    id: i64,
) -> Result<(Vec<crate::model::RelatedEvent>, bool), sqlx::Error> {
    let t = crate::schema::id_time(id);
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(ROW_COLUMNS);
    qb.push(
        ", CASE WHEN e.request_id = me.request_id THEN 'same request'
                WHEN e.shared_event_id = me.shared_event_id THEN 'same shared event'
                ELSE 'same principal' END AS why
         FROM events me, events e",
    );
    qb.push(ROW_JOINS);
    qb.push(" WHERE me.id = ");
    qb.push_bind(id);
    qb.push(" AND e.id >= ");
    qb.push_bind(first_id_at(t - RELATED_WINDOW_MS));
    qb.push(" AND e.id < ");
    qb.push_bind(first_id_at(t + RELATED_WINDOW_MS));
    qb.push(
        " AND e.id <> me.id AND (e.request_id = me.request_id
              OR e.shared_event_id = me.shared_event_id OR e.principal_id = me.principal_id)
         ORDER BY (coalesce(e.request_id = me.request_id, 0)
                   OR coalesce(e.shared_event_id = me.shared_event_id, 0)) DESC,
                  abs(e.event_time - me.event_time), e.id
         LIMIT ",
    );
    qb.push_bind(crate::model::RELATED_SHOWN + 1);
    #[derive(FromRow)]
    struct Rel {
        #[sqlx(flatten)]
        row: RowDb,
        why: String,
    }
    let mut rows: Vec<Rel> = qb.build_query_as().fetch_all(pool).await?;
    let capped = rows.len() as i64 > crate::model::RELATED_SHOWN;
    rows.truncate(crate::model::RELATED_SHOWN as usize);
    let mut out: Vec<crate::model::RelatedEvent> = rows
        .into_iter()
        .map(|r| crate::model::RelatedEvent {
            why: r.why,
            row: r.row.into_row(),
        })
        .collect();
    // The event itself, in its place among them.
    out.extend(
        rows_by_ids(pool, &[id])
            .await?
            .into_iter()
            .map(|row| crate::model::RelatedEvent {
                why: "this event".into(),
                row,
            }),
    );
    out.sort_by_key(|r| r.row.id);
    Ok((out, capped))
}

impl RowDb {
    fn into_row(self) -> EventRow {
        let r = self;
        EventRow {
            id: r.id,
            time_ms: r.event_time,
            principal: r.principal,
            principal_key: r.principal_key,
            principal_kind: r.principal_kind,
            name: r.name,
            source: r.source,
            region: r.region,
            resource: r.resource,
            resource_arn: r.resource_arn,
            source_ip: r.source_ip,
            error: r.error,
            read_only: r.read_only,
            matches: Vec::new(),
        }
    }
}

#[derive(FromRow)]
struct DetailDb {
    id: i64,
    event_time: i64,
    account: String,
    region: Option<String>,
    source: String,
    name: String,
    event_type: Option<String>,
    category: Option<String>,
    read_only: Option<bool>,
    error: Option<String>,
    source_ip: Option<String>,
    user_agent: Option<String>,
    access_key: Option<String>,
    request_id: Option<String>,
    shared_event_id: Option<String>,
    resource_ids: Option<String>,
    raw_dict: i64,
    raw: Vec<u8>,
    p_display: String,
    p_kind: String,
    p_key: String,
    p_arn: Option<String>,
    p_account: Option<String>,
    p_origin: Option<String>,
    p_parent: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DetailError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("the stored record of event {0} cannot be read: {1}")]
    Raw(i64, String),
}

/// Decompresses one stored original record.
pub fn decompress(dict: Option<&[u8]>, raw: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    match dict {
        Some(d) => {
            let mut dec =
                zstd::stream::read::Decoder::with_dictionary(std::io::BufReader::new(raw), d)?;
            dec.read_to_end(&mut out)?;
        }
        None => {
            out = zstd::stream::decode_all(raw)?;
        }
    }
    Ok(out)
}

/// A top-level string field of a record.
fn text_field(record: &serde_json::Value, key: &str) -> Option<String> {
    record
        .get(key)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn pretty(v: Option<&serde_json::Value>) -> Option<String> {
    v.filter(|v| !v.is_null())
        .and_then(|v| serde_json::to_string_pretty(v).ok())
}

/// One event in full, with its original record. `None` when there is no such event.
pub async fn detail(pool: &SqlitePool, id: i64) -> Result<Option<EventDetail>, DetailError> {
    let row: Option<DetailDb> = sqlx::query_as(
        "SELECT e.id, e.event_time, a.value AS account, rg.value AS region, s.value AS source,
                n.value AS name, et.value AS event_type, c.value AS category, e.read_only,
                ec.value AS error, ip.value AS source_ip,
                ua.value AS user_agent, ak.value AS access_key, e.request_id, e.shared_event_id,
                e.resource_ids, e.raw_dict, e.raw,
                p.display_name AS p_display, p.kind AS p_kind, p.key AS p_key, p.arn AS p_arn,
                p.account AS p_account, p.origin AS p_origin, pp.display_name AS p_parent
         FROM events e
         JOIN principals p ON p.id = e.principal_id
         LEFT JOIN principals pp ON pp.id = p.parent_id
         JOIN terms a ON a.id = e.account_id
         JOIN terms s ON s.id = e.source_id
         JOIN terms n ON n.id = e.name_id
         LEFT JOIN terms rg ON rg.id = e.region_id
         LEFT JOIN terms et ON et.id = e.type_id
         LEFT JOIN terms c ON c.id = e.category_id
         LEFT JOIN terms ec ON ec.id = e.error_code_id
         LEFT JOIN terms ip ON ip.id = e.source_ip_id
         LEFT JOIN terms ua ON ua.id = e.user_agent_id
         LEFT JOIN terms ak ON ak.id = e.access_key_id
         WHERE e.id = ?1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let raw = RawReader::default()
        .read(pool, r.id, r.raw_dict, &r.raw)
        .await?;
    let (related, related_capped) = related(pool, r.id).await?;
    let value: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|e| DetailError::Raw(r.id, e.to_string()))?;
    let resources: Vec<ResourceInfo> = match &r.resource_ids {
        Some(ids) => sqlx::query_as::<_, (String, String, String)>(
            "SELECT arn, type, name FROM resources WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(ids)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|(arn, kind, name)| ResourceInfo { arn, kind, name })
        .collect(),
        None => Vec::new(),
    };
    let issued_by = match &r.access_key {
        Some(key) => sqlx::query_as::<_, (i64, String, String)>(
            "SELECT ic.event_id, p.display_name, n.value FROM issued_credentials ic
             JOIN principals p ON p.id = ic.principal_id
             JOIN events e ON e.id = ic.event_id
             JOIN terms n ON n.id = e.name_id
             WHERE ic.access_key = ?1",
        )
        .bind(key)
        .fetch_optional(pool)
        .await?
        .map(|(event_id, principal, event_name)| IssuedBy {
            event_id,
            principal,
            event_name,
        }),
        None => None,
    };
    Ok(Some(EventDetail {
        id: r.id,
        time_ms: r.event_time,
        event_id: value
            .get("eventID")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        account: r.account,
        region: r.region,
        source: r.source,
        name: r.name,
        event_type: r.event_type,
        category: r.category,
        read_only: r.read_only,
        error_code: text_field(&value, "errorCode"),
        error_message: text_field(&value, "errorMessage"),
        error: r.error,
        source_ip: r.source_ip,
        user_agent: r.user_agent,
        access_key: r.access_key,
        request_id: r.request_id,
        shared_event_id: r.shared_event_id,
        principal: PrincipalInfo {
            display: r.p_display,
            kind: r.p_kind,
            key: r.p_key,
            arn: r.p_arn,
            account: r.p_account,
            origin: r.p_origin,
            parent: r.p_parent,
        },
        issued_by,
        resources,
        request_parameters: pretty(value.get("requestParameters")),
        response_elements: pretty(value.get("responseElements")),
        additional_event_data: pretty(value.get("additionalEventData")),
        raw_pretty: serde_json::to_string_pretty(&value).unwrap_or_default(),
        pin_to: Vec::new(),
        pinned_in: Vec::new(),
        can_pin: false,
        related,
        related_capped,
    }))
}

/// A selection's figures, top lists (of `dims`) and first page of rows.
pub async fn activity(
    pool: &SqlitePool,
    sel: &Selection,
    query: &crate::query::EventQuery,
    range: &ResolvedRange,
    dims: &[Dim],
) -> Result<crate::model::Activity, sqlx::Error> {
    let bucket_ms = crate::query::bucket_for(range.to_ms - range.from_ms);
    let figures = facets(
        pool,
        sel,
        range,
        Some(bucket_ms),
        (TOP_N as i64, dims),
        true,
    );
    let (f, page) = figures_and_page(pool, sel, query, range, figures).await?;
    let top = label_top(pool, &f, dims, TOP_N).await?;
    Ok(crate::model::Activity {
        range: range.clone(),
        bucket_ms,
        buckets: f.buckets,
        kpis: f.kpis,
        counted_from_ms: f.counted_from_ms,
        top,
        rows: page.rows,
        next_cursor: page.next_cursor,
        sorted_from_ms: page.sorted_from_ms,
    })
}

/// A page of rows as a view shows it.
#[derive(Debug, Clone, Default)]
pub struct RowsPage {
    pub rows: Vec<EventRow>,
    /// The cursor of the next page (see [`crate::query::EventQuery::cursor`]).
    pub next_cursor: Option<i64>,
    /// A column order sorted only the events from here on (see [`sort_span`]).
    pub sorted_from_ms: Option<i64>,
}

/// The figures (from `figures`) and the page of rows a query asks for. In time order
/// both are read side by side; a column order waits for the figures, which bound what
/// it sorts.
pub async fn figures_and_page(
    pool: &SqlitePool,
    sel: &Selection,
    query: &crate::query::EventQuery,
    range: &ResolvedRange,
    figures: impl std::future::Future<Output = Result<Facets, sqlx::Error>>,
) -> Result<(Facets, RowsPage), sqlx::Error> {
    match query.sort {
        Sort::Column(column, desc) => {
            let f = figures.await?;
            let from = sort_span(&f.buckets, range)
                .into_iter()
                .chain(f.counted_from_ms)
                .max();
            let span = ResolvedRange::new(from.unwrap_or(range.from_ms), range.to_ms);
            let offset = query.cursor.unwrap_or(0);
            let (rows, next_cursor) =
                list_by_column(pool, sel, &span, (column, desc), offset, query.rows).await?;
            Ok((
                f,
                RowsPage {
                    rows,
                    next_cursor,
                    sorted_from_ms: from,
                },
            ))
        }
        _ => {
            let (f, (rows, next_cursor)) = futures::try_join!(
                figures,
                list(pool, sel, range, query.sort, query.cursor, query.rows)
            )?;
            Ok((
                f,
                RowsPage {
                    rows,
                    next_cursor,
                    sorted_from_ms: None,
                },
            ))
        }
    }
}

/// The original record of an event, parsed.
pub async fn record(pool: &SqlitePool, id: i64) -> Result<Option<serde_json::Value>, DetailError> {
    let row: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT raw_dict, raw FROM events WHERE id = ?1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    let Some((dict_id, raw)) = row else {
        return Ok(None);
    };
    let bytes = RawReader::default().read(pool, id, dict_id, &raw).await?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| DetailError::Raw(id, e.to_string()))
}

/// One event as exported: the indexed fields as text, and its original record.
#[derive(Debug, FromRow)]
pub struct ExportRow {
    pub id: i64,
    pub event_time: i64,
    pub account: String,
    pub region: Option<String>,
    pub source: String,
    pub name: String,
    pub principal: String,
    pub principal_key: String,
    pub principal_kind: String,
    pub access_key: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// Whether the event failed (see `EventRow::error`).
    pub failed: bool,
    pub read_only: Option<bool>,
    pub resources: Option<String>,
    pub request_id: Option<String>,
    pub raw_dict: i64,
    pub raw: Vec<u8>,
}

/// A page of the export (same order and cursor as [`list`]).
pub async fn export_page(
    pool: &SqlitePool,
    sel: &Selection,
    r: &ResolvedRange,
    sort: Sort,
    cursor: Option<i64>,
    limit: i64,
) -> Result<Vec<ExportRow>, sqlx::Error> {
    let (lo, hi) = page_bounds(r, sort, cursor);
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT e.id, e.event_time, a.value AS account, rg.value AS region, s.value AS source,
                n.value AS name, p.display_name AS principal, p.key AS principal_key,
                p.kind AS principal_kind, ak.value AS access_key, ip.value AS source_ip,
                ua.value AS user_agent,
                CASE WHEN ec.kind = ",
    );
    qb.push_bind(TermKind::ErrorCode as u8);
    qb.push(
        " THEN ec.value END AS error_code,
                em.value AS error_message, e.error_code_id IS NOT NULL AS failed,
                e.read_only,
                (SELECT group_concat(r.arn, ' ') FROM json_each(e.resource_ids) j
                 JOIN resources r ON r.id = j.value) AS resources,
                e.request_id, e.raw_dict, e.raw
         FROM (SELECT e.* FROM events e WHERE e.id >= ",
    );
    qb.push_bind(lo);
    qb.push(" AND e.id < ");
    qb.push_bind(hi);
    sel.push_where(&mut qb, (lo, hi));
    qb.push(match sort {
        Sort::Oldest => " ORDER BY e.id ASC LIMIT ",
        _ => " ORDER BY e.id DESC LIMIT ",
    });
    qb.push_bind(limit);
    qb.push(
        ") e
         JOIN principals p ON p.id = e.principal_id
         JOIN terms a ON a.id = e.account_id
         JOIN terms n ON n.id = e.name_id
         JOIN terms s ON s.id = e.source_id
         LEFT JOIN terms rg ON rg.id = e.region_id
         LEFT JOIN terms ak ON ak.id = e.access_key_id
         LEFT JOIN terms ip ON ip.id = e.source_ip_id
         LEFT JOIN terms ua ON ua.id = e.user_agent_id
         LEFT JOIN terms ec ON ec.id = e.error_code_id
         LEFT JOIN terms em ON em.id = e.error_message_id",
    );
    qb.push(match sort {
        Sort::Oldest => " ORDER BY e.id ASC",
        _ => " ORDER BY e.id DESC",
    });
    qb.build_query_as().fetch_all(pool).await
}

/// Decompresses original records, loading each dictionary once.
#[derive(Default)]
pub struct RawReader {
    dicts: HashMap<i64, Option<Vec<u8>>>,
}

impl RawReader {
    pub async fn read(
        &mut self,
        pool: &SqlitePool,
        id: i64,
        dict_id: i64,
        raw: &[u8],
    ) -> Result<Vec<u8>, DetailError> {
        if dict_id != 0 && !self.dicts.contains_key(&dict_id) {
            let d: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT data FROM raw_dictionaries WHERE id = ?1")
                    .bind(dict_id)
                    .fetch_optional(pool)
                    .await?;
            self.dicts.insert(dict_id, d);
        }
        let dict = if dict_id == 0 {
            None
        } else {
            self.dicts.get(&dict_id).and_then(|d| d.as_deref())
        };
        decompress(dict, raw).map_err(|e| DetailError::Raw(id, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn resource_labels_carry_region_and_account() {
        assert_eq!(
            super::resource_label(
                "arn:aws:kms:us-east-1:111122223333:alias/app-secrets",
                "alias/app-secrets"
            ),
            "alias/app-secrets · us-east-1 · 111122223333"
        );
        assert_eq!(
            super::resource_label("arn:aws:s3:::bucket", "bucket"),
            "bucket"
        );
        assert_eq!(super::resource_label("not an arn", "x"), "x");
    }
}
