//! Investigations: the form posts that open, edit, close and pin (analysts and admins),
//! and the rules they follow. Every change is one transaction with its history line and
//! its audit line; the SQL is in `app::db::investigations`.

use crate::access::{Analyst, Signed, safe_next};
use app::db::audit::{self, AuditLine};
use app::db::investigations as store;
use app::error::WebError;
use app::query::EventQuery;
use axum::extract::{Form, Path, State};
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

/// Opens an investigation; returns its id. `line` (actor, action, client) is completed
/// with the new id and the title, and written in the same transaction.
pub async fn create(
    pool: &SqlitePool,
    title: &str,
    notes: &str,
    query: &str,
    line: AuditLine<'_>,
) -> Result<i64, InvestigationError> {
    let actor = line.actor.unwrap_or_default();
    let (title, notes) = (title.trim(), notes.trim());
    check(title, notes)?;
    let query = saved_query(pool, query).await?;
    let now = now_ms();
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let id = store::insert(&mut tx, title, notes, &query, actor, now).await?;
    let view = format!("view: {query}");
    store::write_history(&mut tx, id, now, actor, "opened", Some(&view)).await?;
    let target = id.to_string();
    audit::write_line(&mut tx, &line.target(&target).detail(title)).await?;
    tx.commit().await?;
    Ok(id)
}

/// Changes title, notes and status; records what changed (history and `line`, in the
/// same transaction). Returns the changes.
pub async fn edit(
    pool: &SqlitePool,
    id: i64,
    title: &str,
    notes: &str,
    status: &str,
    line: AuditLine<'_>,
) -> Result<Vec<String>, InvestigationError> {
    let actor = line.actor.unwrap_or_default();
    let (title, notes) = (title.trim(), notes.trim());
    check(title, notes)?;
    let status = if status == "closed" { "closed" } else { "open" };
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let Some((old_title, old_notes, old_status)) = store::read_text(&mut tx, id).await? else {
        return Err(InvestigationError::NotFound);
    };
    let changes = changes_of(
        (&old_title, &old_notes, &old_status),
        (title, notes, status),
    );
    if changes.is_empty() {
        return Ok(changes);
    }
    let now = now_ms();
    store::write_text(&mut tx, id, (title, notes, status), actor, now).await?;
    for c in &changes {
        let (action, detail) = match c.split_once(": ") {
            Some((a, d)) => (a, Some(d)),
            None => (c.as_str(), None),
        };
        store::write_history(&mut tx, id, now, actor, action, detail).await?;
    }
    let (target, detail) = (id.to_string(), changes.join("; "));
    audit::write_line(&mut tx, &line.target(&target).detail(&detail)).await?;
    tx.commit().await?;
    Ok(changes)
}

/// What an edit changes, in words: `title: old → new`, `notes edited`, `closed`,
/// `reopened`.
fn changes_of(old: (&str, &str, &str), new: (&str, &str, &str)) -> Vec<String> {
    let mut changes = Vec::new();
    if old.0 != new.0 {
        changes.push(format!("title: {} → {}", old.0, new.0));
    }
    if old.1 != new.1 {
        changes.push("notes edited".to_string());
    }
    if old.2 != new.2 {
        changes.push(
            if new.2 == "closed" {
                "closed"
            } else {
                "reopened"
            }
            .to_string(),
        );
    }
    changes
}

/// Replaces the saved view with `query` (made canonical, its range absolute). Returns
/// the view saved, or `None` when it was the same.
pub async fn set_view(
    pool: &SqlitePool,
    id: i64,
    query: &str,
    line: AuditLine<'_>,
) -> Result<Option<String>, InvestigationError> {
    let actor = line.actor.unwrap_or_default();
    let query = saved_query(pool, query).await?;
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let Some(old) = store::read_query(&mut tx, id).await? else {
        return Err(InvestigationError::NotFound);
    };
    if old == query {
        return Ok(None);
    }
    let now = now_ms();
    store::write_query(&mut tx, id, &query, actor, now).await?;
    store::write_history(&mut tx, id, now, actor, "changed the view", Some(&query)).await?;
    let target = id.to_string();
    audit::write_line(&mut tx, &line.target(&target).detail(&query)).await?;
    tx.commit().await?;
    Ok(Some(query))
}

/// Pins or unpins an event. Returns whether anything changed.
pub async fn pin(
    pool: &SqlitePool,
    id: i64,
    event_id: i64,
    on: bool,
    line: AuditLine<'_>,
) -> Result<bool, InvestigationError> {
    let actor = line.actor.unwrap_or_default();
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    if !store::exists(&mut tx, id).await? {
        return Err(InvestigationError::NotFound);
    }
    let now = now_ms();
    let n = if on {
        let n = store::insert_pin(&mut tx, id, event_id, actor, now).await?;
        if n == 0 && !store::is_pinned(&mut tx, id, event_id).await? {
            return Err(InvestigationError::NoEvent);
        }
        n
    } else {
        store::delete_pin(&mut tx, id, event_id).await?
    };
    if n > 0 {
        let what = if on { "pinned" } else { "unpinned" };
        let detail = format!("event {event_id}");
        store::write_history(&mut tx, id, now, actor, what, Some(&detail)).await?;
        store::write_touch(&mut tx, id, actor, now).await?;
        let target = id.to_string();
        audit::write_line(&mut tx, &line.target(&target).detail(&detail)).await?;
    }
    tx.commit().await?;
    Ok(n > 0)
}

/// A change that could not be made: a mistake goes back to the form saying so; a
/// missing investigation or event is a 404; anything else a logged 500.
fn failed(e: InvestigationError, back: &str) -> WebError {
    match e {
        InvestigationError::Db(e) => WebError::internal("an investigation change failed", e),
        InvestigationError::NotFound | InvestigationError::NoEvent => {
            WebError::not_found(e.to_string())
        }
        e => WebError::mistake(back, "problem", e),
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
    Signed { user, client, .. }: Signed<Analyst>,
    Form(f): Form<NewForm>,
) -> Result<Response, WebError> {
    let line = AuditLine::new(Some(&user.name), "investigation.open", &client);
    let id = create(&pool, &f.title, &f.notes, &f.query, line)
        .await
        .map_err(|e| failed(e, &safe_next(&f.back)))?;
    Ok(Redirect::to(&format!("/investigations/{id}")).into_response())
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
    Signed { user, client, .. }: Signed<Analyst>,
    Form(f): Form<EditForm>,
) -> Result<Response, WebError> {
    let back = format!("/investigations/{id}");
    let line = AuditLine::new(Some(&user.name), "investigation.edit", &client);
    edit(&pool, id, &f.title, &f.notes, &f.status, line)
        .await
        .map_err(|e| failed(e, &back))?;
    Ok(Redirect::to(&format!("{back}?saved=1")).into_response())
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
    Signed { user, client, .. }: Signed<Analyst>,
    Form(f): Form<ViewForm>,
) -> Result<Response, WebError> {
    let back = format!("/investigations/{id}");
    let line = AuditLine::new(Some(&user.name), "investigation.view", &client);
    set_view(&pool, id, &f.query, line)
        .await
        .map_err(|e| failed(e, &back))?;
    Ok(Redirect::to(&format!("{back}?saved=1")).into_response())
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
    signed: Signed<Analyst>,
    f: PinForm,
    on: bool,
) -> Result<Response, WebError> {
    let id = f.investigation;
    let back = if f.back.is_empty() {
        format!("/investigations/{id}")
    } else {
        safe_next(&f.back)
    };
    let action = if on {
        "investigation.pin"
    } else {
        "investigation.unpin"
    };
    let line = AuditLine::new(Some(&signed.user.name), action, &signed.client);
    pin(&pool, id, f.event, on, line)
        .await
        .map_err(|e| failed(e, &back))?;
    // Back to where the form was, saying what was done.
    let sep = if back.contains('?') { '&' } else { '?' };
    let done = if on { "pinned" } else { "unpinned" };
    Ok(Redirect::to(&format!("{back}{sep}{done}={id}")).into_response())
}

pub async fn pin_handler(
    State(pool): State<SqlitePool>,
    signed: Signed<Analyst>,
    Form(f): Form<PinForm>,
) -> Result<Response, WebError> {
    pin_form(pool, signed, f, true).await
}

pub async fn unpin_handler(
    State(pool): State<SqlitePool>,
    signed: Signed<Analyst>,
    Form(f): Form<PinForm>,
) -> Result<Response, WebError> {
    pin_form(pool, signed, f, false).await
}
