//! Pages of events as the table shows them: keyset pages in time order (a search read in
//! growing windows), pages ordered by a column, events by id, and where a search matched
//! each row. The row's columns and joins are shared with the related events of `detail`.

use super::detail::DetailError;
use super::raw::{At, RawReader};
use super::facets::{SCAN_CAP, first_window};
use crate::db::filter::Selection;
use crate::model::{Bucket, EventRow, ResolvedRange};
use crate::query::{Column, Sort};
use crate::schema::{ID_HASH_BITS, first_id_at, id_time};
use sqlx::{FromRow, QueryBuilder, Sqlite, SqlitePool};

#[derive(FromRow)]
pub(super) struct RowDb {
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
pub(super) fn page_bounds(r: &ResolvedRange, sort: Sort, cursor: Option<i64>) -> (i64, i64) {
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
    let raws: Vec<(i64, i64, Vec<u8>, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT id, raw_dict, raw, raw_block, raw_slot FROM events
         WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id",
    )
    .bind(serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into()))
    .fetch_all(pool)
    .await?;
    let mut reader = RawReader::default();
    for (id, dict, raw, block, slot) in raws {
        let record = match reader.read(pool, id, At { dict, raw: &raw, block, slot }).await {
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
pub(super) const ROW_COLUMNS: &str =
    "SELECT e.id, e.event_time, p.display_name AS principal, p.key AS principal_key,
        p.kind AS principal_kind, n.value AS name, s.value AS source, rg.value AS region,
        res.name AS resource, res.arn AS resource_arn, ip.value AS source_ip,
        ec.value AS error, e.read_only";

pub(super) const ROW_JOINS: &str = "
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

impl RowDb {
    pub(super) fn into_row(self) -> EventRow {
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
