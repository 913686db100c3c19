//! The export's reads: pages of events with their indexed fields as text and their
//! original records, in the order and by the cursor of the list.

use super::list::page_bounds;
use crate::db::filter::Selection;
use crate::model::ResolvedRange;
use crate::query::Sort;
use crate::schema::TermKind;
use sqlx::{FromRow, QueryBuilder, Sqlite, SqlitePool};

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
    pub raw_block: Option<i64>,
    pub raw_slot: Option<i64>,
}

impl ExportRow {
    /// Where the row's original record is stored.
    pub fn at(&self) -> super::At<'_> {
        super::At { dict: self.raw_dict, raw: &self.raw, block: self.raw_block, slot: self.raw_slot }
    }
}

/// A page of the export (same order and cursor as [`list`](fn@super::list)).
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
                e.request_id, e.raw_dict, e.raw, e.raw_block, e.raw_slot
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
