//! The investigation tables (`investigations`, `investigation_events`,
//! `investigation_history`): every read and write. The rules (lengths, what counts as a
//! change) and the form handlers are the server's (`investigations`); writes take the
//! caller's transaction so a change, its history line and its audit line land together.

use crate::model::{EventRow, HistoryEntry, Investigation, InvestigationSummary};
use sqlx::{FromRow, SqliteConnection, SqlitePool};

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
pub async fn pinned_in(
    pool: &SqlitePool,
    event_id: i64,
) -> Result<Vec<(i64, String)>, sqlx::Error> {
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

/// Opens one; returns its id.
pub async fn insert(
    conn: &mut SqliteConnection,
    title: &str,
    notes: &str,
    query: &str,
    actor: &str,
    at: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO investigations (title, notes, query, status, created_by, created_at, updated_by, updated_at)
         VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?4, ?5) RETURNING id",
    )
    .bind(title)
    .bind(notes)
    .bind(query)
    .bind(actor)
    .bind(at)
    .fetch_one(conn)
    .await
}

/// One line of an investigation's own history.
pub async fn write_history(
    conn: &mut SqliteConnection,
    id: i64,
    at: i64,
    actor: &str,
    action: &str,
    detail: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO investigation_history (investigation_id, at, actor, action, detail)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(id)
    .bind(at)
    .bind(actor)
    .bind(action)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// Title, notes and status, as an edit finds them.
pub async fn read_text(
    conn: &mut SqliteConnection,
    id: i64,
) -> Result<Option<(String, String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT title, notes, status FROM investigations WHERE id = ?1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn write_text(
    conn: &mut SqliteConnection,
    id: i64,
    (title, notes, status): (&str, &str, &str),
    actor: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE investigations SET title = ?2, notes = ?3, status = ?4, updated_by = ?5, updated_at = ?6
         WHERE id = ?1",
    )
    .bind(id)
    .bind(title)
    .bind(notes)
    .bind(status)
    .bind(actor)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The saved view, as a change of it finds it.
pub async fn read_query(
    conn: &mut SqliteConnection,
    id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT query FROM investigations WHERE id = ?1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn write_query(
    conn: &mut SqliteConnection,
    id: i64,
    query: &str,
    actor: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE investigations SET query = ?2, updated_by = ?3, updated_at = ?4 WHERE id = ?1",
    )
    .bind(id)
    .bind(query)
    .bind(actor)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks it changed by `actor` at `at` (a pin changes no column of its own).
pub async fn write_touch(
    conn: &mut SqliteConnection,
    id: i64,
    actor: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE investigations SET updated_by = ?2, updated_at = ?3 WHERE id = ?1")
        .bind(id)
        .bind(actor)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn exists(conn: &mut SqliteConnection, id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM investigations WHERE id = ?1)")
        .bind(id)
        .fetch_one(conn)
        .await
}

/// Pins an event; the number of pins added (0 when it was pinned already, or when there
/// is no such event).
pub async fn insert_pin(
    conn: &mut SqliteConnection,
    id: i64,
    event_id: i64,
    actor: &str,
    at: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT OR IGNORE INTO investigation_events (investigation_id, event_id, pinned_by, pinned_at)
         SELECT ?1, id, ?3, ?4 FROM events WHERE id = ?2",
    )
    .bind(id)
    .bind(event_id)
    .bind(actor)
    .bind(at)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Whether the event is pinned here already.
pub async fn is_pinned(
    conn: &mut SqliteConnection,
    id: i64,
    event_id: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM investigation_events WHERE investigation_id = ?1 AND event_id = ?2)",
    )
    .bind(id)
    .bind(event_id)
    .fetch_one(conn)
    .await
}

/// Unpins an event; the number of pins removed.
pub async fn delete_pin(
    conn: &mut SqliteConnection,
    id: i64,
    event_id: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM investigation_events WHERE investigation_id = ?1 AND event_id = ?2",
    )
    .bind(id)
    .bind(event_id)
    .execute(conn)
    .await?
    .rows_affected())
}
