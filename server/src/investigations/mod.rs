//! Investigations: the form posts that open, edit, close and pin (analysts and admins).
//! Every change is one transaction with its history line; the audit log records it too.

use crate::access::{client_of, safe_next};
use crate::access::users;
use app::auth::{Role, User, Viewer};
use app::query::EventQuery;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::SqlitePool;

pub const MAX_TITLE: usize = 200;
pub const MAX_NOTES: usize = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum InvestigationError {
    #[error("a title is needed (at most {MAX_TITLE} characters)")]
    BadTitle,
    #[error("notes are limited to {MAX_NOTES} characters")]
    LongNotes,
    #[error("no such investigation")]
    NotFound,
    #[error("no such event")]
    NoEvent,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn check(title: &str, notes: &str) -> Result<(), InvestigationError> {
    let n = title.chars().count();
    if n == 0 || n > MAX_TITLE {
        return Err(InvestigationError::BadTitle);
    }
    if notes.chars().count() > MAX_NOTES {
        return Err(InvestigationError::LongNotes);
    }
    Ok(())
}

/// The saved form of a view: canonical, first page, range made absolute (a shared link
/// shows the same events whenever it is opened).
pub async fn saved_query(pool: &SqlitePool, query: &str) -> Result<String, sqlx::Error> {
    let q = EventQuery::parse(query).with_cursor(None);
    let store = app::db::events::store_info(pool).await?;
    let resolved = q.resolve(now_ms(), &store);
    Ok(q.pinned(&resolved).to_query())
}

/// Opens an investigation; returns its id.
pub async fn create(
    pool: &SqlitePool,
    actor: &str,
    title: &str,
    notes: &str,
    query: &str,
) -> Result<i64, InvestigationError> {
    let (title, notes) = (title.trim(), notes.trim());
    check(title, notes)?;
    let query = saved_query(pool, query).await?;
    let now = now_ms();
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO investigations (title, notes, query, status, created_by, created_at, updated_by, updated_at)
         VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?4, ?5) RETURNING id",
    )
    .bind(title)
    .bind(notes)
    .bind(&query)
    .bind(actor)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    history(
        &mut tx,
        id,
        now,
        actor,
        "opened",
        Some(&format!("view: {query}")),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

async fn history(
    tx: &mut sqlx::SqliteConnection,
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
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Changes title, notes and status; records what changed. Returns the changes.
pub async fn edit(
    pool: &SqlitePool,
    id: i64,
    actor: &str,
    title: &str,
    notes: &str,
    status: &str,
) -> Result<Vec<String>, InvestigationError> {
    let (title, notes) = (title.trim(), notes.trim());
    check(title, notes)?;
    let status = if status == "closed" { "closed" } else { "open" };
    let mut tx = pool.begin().await?;
    let old: Option<(String, String, String)> =
        sqlx::query_as("SELECT title, notes, status FROM investigations WHERE id = ?1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((old_title, old_notes, old_status)) = old else {
        return Err(InvestigationError::NotFound);
    };
    let mut changes = Vec::new();
    if old_title != title {
        changes.push(format!("title: {old_title} → {title}"));
    }
    if old_notes != notes {
        changes.push("notes edited".to_string());
    }
    if old_status != status {
        changes.push(if status == "closed" {
            "closed".to_string()
        } else {
            "reopened".to_string()
        });
    }
    if changes.is_empty() {
        return Ok(changes);
    }
    let now = now_ms();
    sqlx::query(
        "UPDATE investigations SET title = ?2, notes = ?3, status = ?4, updated_by = ?5, updated_at = ?6
         WHERE id = ?1",
    )
    .bind(id)
    .bind(title)
    .bind(notes)
    .bind(status)
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    for c in &changes {
        let (action, detail) = match c.split_once(": ") {
            Some((a, d)) => (a.to_string(), Some(d.to_string())),
            None => (c.clone(), None),
        };
        history(&mut tx, id, now, actor, &action, detail.as_deref()).await?;
    }
    tx.commit().await?;
    Ok(changes)
}

/// Replaces the saved view with `query` (made canonical, its range absolute). Returns
/// the view saved, or `None` when it was the same.
pub async fn set_view(
    pool: &SqlitePool,
    id: i64,
    actor: &str,
    query: &str,
) -> Result<Option<String>, InvestigationError> {
    let query = saved_query(pool, query).await?;
    let mut tx = pool.begin().await?;
    let old: Option<String> = sqlx::query_scalar("SELECT query FROM investigations WHERE id = ?1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(old) = old else {
        return Err(InvestigationError::NotFound);
    };
    if old == query {
        return Ok(None);
    }
    let now = now_ms();
    sqlx::query("UPDATE investigations SET query = ?2, updated_by = ?3, updated_at = ?4 WHERE id = ?1")
        .bind(id)
        .bind(&query)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    history(&mut tx, id, now, actor, "changed the view", Some(&query)).await?;
    tx.commit().await?;
    Ok(Some(query))
}

/// Pins or unpins an event. Returns whether anything changed.
pub async fn pin(
    pool: &SqlitePool,
    id: i64,
    actor: &str,
    event_id: i64,
    on: bool,
) -> Result<bool, InvestigationError> {
    let mut tx = pool.begin().await?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM investigations WHERE id = ?1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Err(InvestigationError::NotFound);
    }
    let now = now_ms();
    let n = if on {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM events WHERE id = ?1")
            .bind(event_id)
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Err(InvestigationError::NoEvent);
        }
        sqlx::query(
            "INSERT OR IGNORE INTO investigation_events (investigation_id, event_id, pinned_by, pinned_at)
             VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(id)
        .bind(event_id)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    } else {
        sqlx::query(
            "DELETE FROM investigation_events WHERE investigation_id = ?1 AND event_id = ?2",
        )
        .bind(id)
        .bind(event_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    };
    if n > 0 {
        let what = if on { "pinned" } else { "unpinned" };
        history(
            &mut tx,
            id,
            now,
            actor,
            what,
            Some(&format!("event {event_id}")),
        )
        .await?;
        sqlx::query("UPDATE investigations SET updated_by = ?2, updated_at = ?3 WHERE id = ?1")
            .bind(id)
            .bind(actor)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(n > 0)
}

/// The analyst (or admin) behind a form post, or the answer that refuses it.
fn analyst_of(parts: &axum::http::request::Parts) -> Result<User, Response> {
    match parts.extensions.get::<Viewer>().and_then(|v| v.0.clone()) {
        None => Err((StatusCode::UNAUTHORIZED, "not signed in").into_response()),
        Some(u) if !u.can(Role::Analyst) => {
            Err((StatusCode::FORBIDDEN, app::auth::FORBIDDEN).into_response())
        }
        Some(u) => Ok(u),
    }
}

fn failed(e: InvestigationError, back: &str) -> Response {
    match e {
        InvestigationError::Db(e) => {
            tracing::error!(error = %e, "investigation change failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the change failed; see the server log",
            )
                .into_response()
        }
        InvestigationError::NotFound | InvestigationError::NoEvent => {
            (StatusCode::NOT_FOUND, e.to_string()).into_response()
        }
        e => {
            let sep = if back.contains('?') { '&' } else { '?' };
            let msg: String =
                url::form_urlencoded::byte_serialize(e.to_string().as_bytes()).collect();
            Redirect::to(&format!("{back}{sep}problem={msg}")).into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct NewForm {
    title: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    query: String,
    /// Where the form was, to go back to on a mistake.
    #[serde(default)]
    back: String,
}

pub async fn create_form(
    State(pool): State<SqlitePool>,
    parts: axum::http::request::Parts,
    Form(f): Form<NewForm>,
) -> Response {
    let user = match analyst_of(&parts) {
        Ok(u) => u,
        Err(r) => return r,
    };
    match create(&pool, &user.name, &f.title, &f.notes, &f.query).await {
        Ok(id) => {
            users::audit(
                &pool,
                Some(&user.name),
                "investigation.open",
                Some(&id.to_string()),
                Some(f.title.trim()),
                Some(&client_of(&parts.extensions)),
            )
            .await;
            Redirect::to(&format!("/investigations/{id}")).into_response()
        }
        Err(e) => failed(e, &safe_next(&f.back)),
    }
}

#[derive(Deserialize)]
pub struct EditForm {
    title: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    status: String,
}

pub async fn edit_form(
    State(pool): State<SqlitePool>,
    Path(id): Path<i64>,
    parts: axum::http::request::Parts,
    Form(f): Form<EditForm>,
) -> Response {
    let user = match analyst_of(&parts) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let back = format!("/investigations/{id}");
    match edit(&pool, id, &user.name, &f.title, &f.notes, &f.status).await {
        Ok(changes) => {
            if !changes.is_empty() {
                users::audit(
                    &pool,
                    Some(&user.name),
                    "investigation.edit",
                    Some(&id.to_string()),
                    Some(&changes.join("; ")),
                    Some(&client_of(&parts.extensions)),
                )
                .await;
            }
            Redirect::to(&format!("{back}?saved=1")).into_response()
        }
        Err(e) => failed(e, &back),
    }
}

#[derive(Deserialize)]
pub struct ViewForm {
    #[serde(default)]
    query: String,
}

/// `POST /investigations/{id}/view`: the view being looked at becomes the saved one.
pub async fn view_form(
    State(pool): State<SqlitePool>,
    Path(id): Path<i64>,
    parts: axum::http::request::Parts,
    Form(f): Form<ViewForm>,
) -> Response {
    let user = match analyst_of(&parts) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let back = format!("/investigations/{id}");
    match set_view(&pool, id, &user.name, &f.query).await {
        Ok(changed) => {
            if let Some(q) = &changed {
                users::audit(
                    &pool,
                    Some(&user.name),
                    "investigation.view",
                    Some(&id.to_string()),
                    Some(q),
                    Some(&client_of(&parts.extensions)),
                )
                .await;
            }
            Redirect::to(&format!("{back}?saved=1")).into_response()
        }
        Err(e) => failed(e, &back),
    }
}

#[derive(Deserialize)]
pub struct PinForm {
    investigation: i64,
    event: i64,
    /// Where to go afterwards (a path of this site).
    #[serde(default)]
    back: String,
}

async fn pin_form(
    pool: SqlitePool,
    parts: axum::http::request::Parts,
    f: PinForm,
    on: bool,
) -> Response {
    let id = f.investigation;
    let user = match analyst_of(&parts) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let back = if f.back.is_empty() {
        format!("/investigations/{id}")
    } else {
        safe_next(&f.back)
    };
    match pin(&pool, id, &user.name, f.event, on).await {
        Ok(changed) => {
            if changed {
                let action = if on {
                    "investigation.pin"
                } else {
                    "investigation.unpin"
                };
                users::audit(
                    &pool,
                    Some(&user.name),
                    action,
                    Some(&id.to_string()),
                    Some(&format!("event {}", f.event)),
                    Some(&client_of(&parts.extensions)),
                )
                .await;
            }
            // Back to where the form was, saying what was done.
            let sep = if back.contains('?') { '&' } else { '?' };
            let done = if on { "pinned" } else { "unpinned" };
            Redirect::to(&format!("{back}{sep}{done}={id}")).into_response()
        }
        Err(e) => failed(e, &back),
    }
}

pub async fn pin_handler(
    State(pool): State<SqlitePool>,
    parts: axum::http::request::Parts,
    Form(f): Form<PinForm>,
) -> Response {
    pin_form(pool, parts, f, true).await
}

pub async fn unpin_handler(
    State(pool): State<SqlitePool>,
    parts: axum::http::request::Parts,
    Form(f): Form<PinForm>,
) -> Response {
    pin_form(pool, parts, f, false).await
}
