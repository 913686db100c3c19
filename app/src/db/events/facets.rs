//! The figures of a range: KPIs, histogram and top lists, by whichever way answers the
//! selection — the hourly and daily rollups, the per-entity summaries, or a scan of the
//! events newest first, a window at a time — and the top lists' ids given their names.

use super::histogram::{empty_buckets, fill, histogram};
use crate::db::filter::Selection;
use crate::model::{Bucket, Kpis, ResolvedRange, TopList, TopRow};
use crate::schema::flags::{DENIED, ERROR, WRITE};
use crate::schema::{DENIED_PREFIX, DENIED_SUFFIX, Dim, S3_OBJECT, TermKind, first_id_at};
use const_format::formatcp;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use std::collections::HashMap;

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

/// The denied error codes' term ids, as a JSON array.
async fn denied_codes(pool: &SqlitePool) -> Result<String, sqlx::Error> {
    let ids: Vec<i64> = sqlx::query_scalar(formatcp!(
        "SELECT id FROM terms WHERE kind = ?1
         AND (value GLOB '{DENIED_PREFIX}*' OR value GLOB '*{DENIED_SUFFIX}')",
    ))
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
                     WHERE res.type <> '{S3_OBJECT}' GROUP BY 2"
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
/// [`Selection::rollup_mask`]): daily and hourly rollups for whole days and hours,
/// per-minute counts for the KPIs and histogram of the partial hours at either end, and
/// the events themselves only for the top lists of those partial hours.
pub async fn summary_facets(
    pool: &SqlitePool,
    sel: &Selection,
    (mask, want): (i64, i64),
    r: &ResolvedRange,
    bucket_ms: Option<i64>,
    depth: i64,
) -> Result<Facets, sqlx::Error> {
    let mut f = Facets::default();
    // Ends widened to whole hours where what is added holds no event (before the oldest,
    // after the newest): the figures are the same, and fewer minutes are read.
    let w = widen(pool, r, HOUR, None).await?;
    let c = Cut::of(&w);
    // The KPIs: whole days and hours from the rollups of one dimension every event has
    // (its account), the ragged ends from the minutes.
    let (k_events, k_errors, k_writes, k_denied): (Option<i64>, Option<i64>, Option<i64>, Option<i64>) =
        sqlx::query_as(formatcp!(
            "SELECT sum(events), sum(CASE WHEN flags & {ERROR} THEN events END),
                    sum(CASE WHEN flags & {WRITE} THEN events END), sum(CASE WHEN flags & {DENIED} THEN events END)
             FROM (
                 SELECT flags, events FROM rollup_day
                 WHERE dim = ?9 AND day >= ?5 AND day < ?6 AND (flags & ?10) = ?11
                 UNION ALL
                 SELECT flags, events FROM rollup_hour
                 WHERE dim = ?9 AND hour >= ?3 AND hour < ?7 AND (flags & ?10) = ?11
                 UNION ALL
                 SELECT flags, events FROM rollup_hour
                 WHERE dim = ?9 AND hour >= ?8 AND hour < ?4 AND (flags & ?10) = ?11
                 UNION ALL
                 SELECT flags, events FROM counts_minute
                 WHERE minute >= ?1 AND minute < ?12 AND (flags & ?10) = ?11
                 UNION ALL
                 SELECT flags, events FROM counts_minute
                 WHERE minute >= ?13 AND minute < ?2 AND (flags & ?10) = ?11
             )",
        ))
        .bind(c.m0)
        .bind(c.m1)
        .bind(c.h0)
        .bind(c.h1)
        .bind(c.d0)
        .bind(c.d1)
        .bind(c.ha)
        .bind(c.hb)
        .bind(Dim::Account as u8)
        .bind(mask)
        .bind(want)
        .bind(c.m0e)
        .bind(c.m1s)
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
        f.buckets = if b % HOUR == 0 {
            histogram_by_hours(pool, r, &c, b, (mask, want)).await?
        } else {
            histogram(pool, r, b, (mask, want), None).await?
        };
    }
    // Whole hours from the rollup, the ragged ends from the events.
    let (h0, h1, whole) = (c.h0, c.h1, c.whole());
    let edges = if whole {
        [(w.from_ms, h0 * HOUR), (h1 * HOUR, w.to_ms)]
    } else {
        [(w.from_ms, w.to_ms), (w.to_ms, w.to_ms)]
    };
    // Edges are under two hours of events.
    let (mut parts, mut principals) = scan_edges(pool, sel, &edges, false, Some((mask, want))).await?;
    if whole {
        let (d0, d1, ha, hb) = (c.d0, c.d1, c.ha, c.hb);
        // Whole days from the daily rollup, the hours around them from the hourly one:
        // hours [h0, ha) and [hb, h1); days [d0, d1). Principals are always listed in
        // full (they are counted); the other dimensions only when top lists are asked for.
        let dims: &[Dim] = if depth > 0 { &Dim::ALL } else { &Dim::ALL[..1] };
        let mut middle = Facets::default();
        for dim in dims {
            let limit = if *dim == Dim::Principal {
                i64::MAX
            } else {
                MERGE_DEPTH.max(depth)
            };
            let rows: Vec<(i64, i64, i64)> = sqlx::query_as(formatcp!(
                "SELECT value, sum(events) AS n, coalesce(sum(CASE WHEN flags & {ERROR} THEN events END), 0)
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
            ))
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

const HOUR: i64 = 3_600_000;

/// A range cut along the summaries: minutes `[m0, m0e)`, hours `[h0, ha)`, days
/// `[d0, d1)`, hours `[hb, h1)` and minutes `[m1s, m1)`. A range with no whole hour
/// inside is all minutes: `[m0, m1)`, every other part empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cut {
    m0: i64,
    m0e: i64,
    h0: i64,
    ha: i64,
    d0: i64,
    d1: i64,
    hb: i64,
    h1: i64,
    m1s: i64,
    m1: i64,
}

impl Cut {
    fn of(r: &ResolvedRange) -> Cut {
        let (m0, m1) = (r.from_ms.div_euclid(60_000), r.to_ms.div_euclid(60_000));
        let h0 = (r.from_ms + HOUR - 1).div_euclid(HOUR);
        let h1 = r.to_ms.div_euclid(HOUR);
        if h0 >= h1 {
            return Cut { m0, m0e: m1, h0: 0, ha: 0, d0: 0, d1: 0, hb: 0, h1: 0, m1s: m1, m1 };
        }
        let d0 = (h0 + 23).div_euclid(24);
        let d1 = h1.div_euclid(24);
        let (d0, d1) = if d0 < d1 { (d0, d1) } else { (0, 0) };
        let (ha, hb) = if d0 < d1 { (d0 * 24, d1 * 24) } else { (h1, h1) };
        Cut { m0, m0e: h0 * 60, h0, ha, d0, d1, hb, h1, m1s: h1 * 60, m1 }
    }

    /// Whether whole hours are inside.
    fn whole(&self) -> bool {
        self.h0 < self.h1
    }
}

/// `r` with either end moved out to a multiple of `unit_ms` (an hour, a day) when the
/// minutes added hold no event (before the oldest, after the newest, a quiet stretch):
/// no event at all, or, given a `scope` (an entity kind and a JSON list of ids), none of
/// those entities' events.
async fn widen(
    pool: &SqlitePool,
    r: &ResolvedRange,
    unit_ms: i64,
    scope: Option<(u8, &str)>,
) -> Result<ResolvedRange, sqlx::Error> {
    let from = r.from_ms.div_euclid(unit_ms) * unit_ms;
    let to = (r.to_ms + unit_ms - 1).div_euclid(unit_ms) * unit_ms;
    let sql = if scope.is_some() {
        "SELECT (SELECT count(*) FROM entity_minute WHERE kind = ?5
                   AND entity IN (SELECT value FROM json_each(?6)) AND minute >= ?1 AND minute < ?2),
                (SELECT count(*) FROM entity_minute WHERE kind = ?5
                   AND entity IN (SELECT value FROM json_each(?6)) AND minute >= ?3 AND minute < ?4)"
    } else {
        "SELECT (SELECT count(*) FROM counts_minute WHERE minute >= ?1 AND minute < ?2),
                (SELECT count(*) FROM counts_minute WHERE minute >= ?3 AND minute < ?4)"
    };
    let (kind, ids) = scope.unwrap_or((0, "[]"));
    let (before, after): (i64, i64) = sqlx::query_as(sql)
        .bind(from.div_euclid(60_000))
        .bind(r.from_ms.div_euclid(60_000))
        .bind(r.to_ms.div_euclid(60_000))
        .bind(to.div_euclid(60_000))
        .bind(kind)
        .bind(ids)
        .fetch_one(pool)
        .await?;
    Ok(ResolvedRange::new(
        if before == 0 { from } else { r.from_ms },
        if after == 0 { to } else { r.to_ms },
    ))
}

/// Events and errors per bucket of whole hours: the hours inside `c` from the hourly
/// rollup of one dimension every event has (its account), its ragged ends from the
/// minutes; every bucket of `r` present.
async fn histogram_by_hours(
    pool: &SqlitePool,
    r: &ResolvedRange,
    c: &Cut,
    bucket_ms: i64,
    (mask, want): (i64, i64),
) -> Result<Vec<Bucket>, sqlx::Error> {
    let (first, mut out) = empty_buckets(r, bucket_ms);
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(formatcp!(
        "SELECT b, sum(events), coalesce(sum(CASE WHEN flags & {ERROR} THEN events END), 0)
         FROM (
             SELECT (hour * 3600000 - ?5) / ?6 AS b, flags, events FROM rollup_hour
             WHERE dim = ?7 AND hour >= ?3 AND hour < ?4 AND (flags & ?8) = ?9
             UNION ALL
             SELECT (minute * 60000 - ?5) / ?6 AS b, flags, events FROM counts_minute
             WHERE minute >= ?1 AND minute < ?10 AND (flags & ?8) = ?9
             UNION ALL
             SELECT (minute * 60000 - ?5) / ?6 AS b, flags, events FROM counts_minute
             WHERE minute >= ?11 AND minute < ?2 AND (flags & ?8) = ?9
         )
         GROUP BY b ORDER BY b",
    ))
    .bind(c.m0)
    .bind(c.m1)
    .bind(c.h0)
    .bind(c.h1)
    .bind(first)
    .bind(bucket_ms)
    .bind(Dim::Account as u8)
    .bind(mask)
    .bind(want)
    .bind(c.m0e)
    .bind(c.m1s)
    .fetch_all(pool)
    .await?;
    fill(&mut out, rows);
    Ok(out)
}

/// The figures of `[a, b)`, inside one hour, as that hour's rollup less a scan of the
/// rest of the hour: exact, every list in full.
async fn hour_less_rest(
    pool: &SqlitePool,
    sel: &Selection,
    (mask, want): (i64, i64),
    (a, b): (i64, i64),
) -> Result<Facets, sqlx::Error> {
    let hour = a.div_euclid(HOUR);
    let (start, end) = (hour * HOUR, hour * HOUR + HOUR);
    let rows: Vec<(u8, i64, i64, i64)> = sqlx::query_as(formatcp!(
        "SELECT dim, value, sum(events), coalesce(sum(CASE WHEN flags & {ERROR} THEN events END), 0)
         FROM rollup_hour WHERE hour = ?1 AND (flags & ?2) = ?3 GROUP BY dim, value",
    ))
    .bind(hour)
    .bind(mask)
    .bind(want)
    .fetch_all(pool)
    .await?;
    let mut net: HashMap<u8, HashMap<i64, (i64, i64)>> = HashMap::new();
    for (dim, v, n, x) in rows {
        net.entry(dim).or_default().insert(v, (n, x));
    }
    for (from_ms, to_ms) in [(start, a), (b, end)].into_iter().filter(|(x, y)| x < y) {
        let rest = ResolvedRange::new(from_ms, to_ms);
        let rest = scan_facets(pool, sel, &rest, None, (i64::MAX, &Dim::ALL), false).await?;
        for (dim, list) in rest.top {
            let values = net.entry(dim).or_default();
            for (v, n, x) in list {
                let m = values.entry(v).or_insert((0, 0));
                m.0 -= n;
                m.1 -= x;
            }
        }
    }
    let mut f = Facets::default();
    for dim in Dim::ALL {
        let mut list: Vec<(i64, i64, i64)> = net
            .remove(&(dim as u8))
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, (n, _))| *n > 0)
            .map(|(v, (n, x))| (v, n, x))
            .collect();
        list.sort_by(|p, q| q.1.cmp(&p.1).then(p.0.cmp(&q.0)));
        f.distinct.insert(dim as u8, (list.len() as i64, true));
        f.top.insert(dim as u8, list);
    }
    Ok(f)
}

/// Figures of the (short) `edges` of a range, each exact and listed in full so that
/// merging them with the summaries is exact, and the principals seen in them. Empty
/// edges are skipped. Given the selection's `rollup` mask (it is one the hourly rollup
/// answers), an edge longer than half its hour is that hour less the rest of it (the
/// shorter scan); otherwise every edge is scanned.
async fn scan_edges(
    pool: &SqlitePool,
    sel: &Selection,
    edges: &[(i64, i64)],
    objects: bool,
    rollup: Option<(i64, i64)>,
) -> Result<(Vec<Facets>, std::collections::HashSet<i64>), sqlx::Error> {
    let mut parts = Vec::new();
    let mut principals = std::collections::HashSet::new();
    for &(from_ms, to_ms) in edges.iter().filter(|(a, b)| a < b) {
        let hour_end = (from_ms.div_euclid(HOUR) + 1) * HOUR;
        let e = match rollup {
            Some(mask) if to_ms <= hour_end && to_ms - from_ms > HOUR / 2 => {
                hour_less_rest(pool, sel, mask, (from_ms, to_ms)).await?
            }
            _ => {
                let edge = ResolvedRange::new(from_ms, to_ms);
                scan_facets(pool, sel, &edge, None, (i64::MAX, &Dim::ALL), objects).await?
            }
        };
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
    // Ends widened to whole days where what is added holds none of the entity's events
    // (before its first, after its last): the figures are the same, and less is scanned.
    let w = widen(pool, r, DAY, Some((kind, ids))).await?;
    let d0 = (w.from_ms + DAY - 1).div_euclid(DAY);
    let d1 = w.to_ms.div_euclid(DAY);
    if d0 >= d1 {
        return scan_facets(pool, sel, r, bucket_ms, (depth, &Dim::ALL), objects).await;
    }
    let mut f = Facets::default();
    let (k_events, k_errors, k_writes, k_denied): (Option<i64>, Option<i64>, Option<i64>, Option<i64>) =
        sqlx::query_as(formatcp!(
            "SELECT sum(events), sum(CASE WHEN flags & {ERROR} THEN events END),
                    sum(CASE WHEN flags & {WRITE} THEN events END), sum(CASE WHEN flags & {DENIED} THEN events END)
             FROM entity_minute WHERE kind = ?1 AND entity IN (SELECT value FROM json_each(?2))
               AND minute >= ?3 AND minute < ?4 AND (flags & ?5) = ?6",
        ))
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
    let edges = [(w.from_ms, d0 * DAY), (d1 * DAY, w.to_ms)];
    let (mut parts, mut principals) = scan_edges(pool, sel, &edges, objects, None).await?;
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
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(formatcp!(
            "SELECT value, sum(events) AS n, coalesce(sum(CASE WHEN flags & {ERROR} THEN events END), 0)
             FROM entity_day
             WHERE kind = ?1 AND entity IN (SELECT value FROM json_each(?2)) AND dim IN (?3, ?4)
               AND day >= ?5 AND day < ?6 AND (flags & ?7) = ?8
               -- On the timeline, long-term access keys only (see `scan_facets`).
               AND (?10 OR dim <> ?11 OR value IN (SELECT value FROM rollup_day WHERE dim = ?11))
             GROUP BY value ORDER BY n DESC, value LIMIT ?9",
        ))
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
pub(super) fn first_window(span: i64) -> i64 {
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
        let names = labels(pool, dim, &ids).await?;
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

/// What a filter matches and what is shown, for ids of one dimension: a principal's key
/// and name, a resource's ARN and name (with its Region and account), a term's value.
pub async fn labels(
    pool: &SqlitePool,
    dim: Dim,
    ids: &[i64],
) -> Result<HashMap<i64, (String, String)>, sqlx::Error> {
    let ids_json = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
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
    Ok(names
        .into_iter()
        .map(|(id, v, l)| {
            let l = if dim == Dim::Resource {
                resource_label(&v, &l)
            } else {
                l
            };
            (id, (v, l))
        })
        .collect())
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
