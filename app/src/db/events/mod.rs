//! Queries over `events`, one file per kind of read: the figures of a range (`facets`,
//! with its `histogram`), pages of rows (`list`), one event in full (`detail`) and the
//! export (`export`). Here: totals over the whole store, and what a view reads at once —
//! a range's figures beside its first page of rows. Everything is re-exported, so
//! callers name it `db::events::…` whichever file it lives in.

mod detail;
mod export;
mod facets;
mod histogram;
mod list;
mod raw;
mod scan;
mod coverage;

pub use detail::{DetailError, detail, record, records, related};
pub use raw::{At, RawReader, Stored, Unpacker, block_ranges, decompress, seal_block};
pub use export::{ExportRow, export_page};
pub use facets::{
    labels,
    ALL_VALUES, Facets, SCAN_CAP, TIMELINE_DIMS, TOP_N, entity_facets, facets, label_top,
    newest_facets, resource_label, scan_facets, summary_facets, top_all,
};
pub use histogram::histogram;
pub use scan::{Place, scan_selectable};
pub use coverage::{activity_between, trail_writes};
pub use list::{list, list_by_column, rows_by_ids, sort_span};

use super::filter::Selection;
use crate::model::{EventRow, ResolvedRange, StoreInfo};
use crate::query::Sort;
use crate::schema::Dim;
use sqlx::SqlitePool;

/// The search index covers every event from this row id up; older ones are still being
/// indexed (`None`: all are covered). The one read of `search_index` (the import writes
/// it).
pub async fn search_pending_below(pool: &SqlitePool) -> Result<Option<i64>, sqlx::Error> {
    Ok(
        sqlx::query_scalar("SELECT pending_below FROM search_index WHERE id = 1")
            .fetch_optional(pool)
            .await?
            .flatten(),
    )
}

/// Totals over the whole store.
pub async fn store_info(pool: &SqlitePool) -> Result<StoreInfo, sqlx::Error> {
    let (events, oldest, newest): (Option<i64>, Option<i64>, Option<i64>) =
        // Every event has an account: the daily rollup of accounts counts them all (a few
        // hundred rows, where the minutes are tens of thousands); the oldest and newest
        // minutes are the ends of the minutes' key.
        sqlx::query_as(
            "SELECT (SELECT sum(events) FROM rollup_day WHERE dim = ?1),
                    (SELECT min(minute) FROM counts_minute), (SELECT max(minute) FROM counts_minute)",
        )
        .bind(crate::schema::Dim::Account as u8)
        .fetch_one(pool)
        .await?;
    let pending = search_pending_below(pool).await?;
    Ok(StoreInfo {
        events: events.unwrap_or(0),
        oldest_ms: oldest.map(|m| m * 60_000),
        newest_ms: newest.map(|m| m * 60_000 + 59_999),
        search_pending_before_ms: pending.map(|id| id >> crate::schema::ID_HASH_BITS),
    })
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
