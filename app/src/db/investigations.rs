//! Investigations: reads (the writes are form handlers in the server).

use crate::model::{EventRow, HistoryEntry, Investigation, InvestigationSummary};
use sqlx::{FromRow, SqlitePool};

#[derive(FromRow)]
struct SummaryDb {
    id: i64,
    title: String,
    status: String,
    created_by: String,
    created_at: i64,
    updated_by: String,
    updated_at: i64,
    pinned: i64,
}

impl From<SummaryDb> for InvestigationSummary {
    fn from(r: SummaryDb) -> Self {
        InvestigationSummary {
            id: r.id,
            title: r.title,
            status: r.status,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_by: r.updated_by,
            updated_at: r.updated_at,
            pinned: r.pinned,
        }
    }
}

const SUMMARY: &str = "SELECT i.id, i.title, i.status, i.created_by, i.created_at, i.updated_by,
        i.updated_at, (SELECT count(*) FROM investigation_events p WHERE p.investigation_id = i.id) AS pinned
     FROM investigations i";

/// Investigations with this status (`open`, `closed`), most recently changed first.
pub async fn list(
    pool: &SqlitePool,
    status: &str,
) -> Result<Vec<InvestigationSummary>, sqlx::Error> {
    let rows: Vec<SummaryDb> = sqlx::query_as(&format!(
        "{SUMMARY} WHERE i.status = ?1 ORDER BY i.updated_at DESC, i.id DESC LIMIT 500"
    ))
    .bind(status)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// One investigation with its pinned events and history.
pub async fn get(pool: &SqlitePool, id: i64) -> Result<Option<Investigation>, sqlx::Error> {
    let row: Option<SummaryDb> = sqlx::query_as(&format!("{SUMMARY} WHERE i.id = ?1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    let Some(summary) = row else { return Ok(None) };
    let (notes, query): (String, String) =
        sqlx::query_as("SELECT notes, query FROM investigations WHERE id = ?1")
            .bind(id)
            .fetch_one(pool)
            .await?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT event_id FROM investigation_events WHERE investigation_id = ?1 ORDER BY event_id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let pinned: Vec<EventRow> = super::events::rows_by_ids(pool, &ids).await?;
    let history: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT at, actor, action, detail FROM investigation_history
         WHERE investigation_id = ?1 ORDER BY id DESC LIMIT 200",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Some(Investigation {
        summary: summary.into(),
        notes,
        query,
        pinned,
        history: history
            .into_iter()
            .map(|(at, actor, action, detail)| HistoryEntry {
                at,
                actor,
                action,
                detail,
            })
            .collect(),
    }))
}

/// The investigations an event is pinned to: (id, title), most recent first.
pub async fn pinned_in(pool: &SqlitePool, event_id: i64) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.id, i.title FROM investigation_events p
         JOIN investigations i ON i.id = p.investigation_id
         WHERE p.event_id = ?1 ORDER BY i.updated_at DESC, i.id DESC",
    )
    .bind(event_id)
    .fetch_all(pool)
    .await
}

/// Open investigations for a "pin to" choice: (id, title), most recent first.
pub async fn open_titles(pool: &SqlitePool) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, title FROM investigations WHERE status = 'open'
         ORDER BY updated_at DESC, id DESC LIMIT 100",
    )
    .fetch_all(pool)
    .await
}
