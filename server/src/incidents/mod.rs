//! Incidents: findings told as one story per attacker (grouped in `app::incidents`, read
//! by `app::db::incidents`). Here: the incident page's form post (status, assignee, a
//! note: one transaction with its history and audit lines), the report downloads
//! (Markdown and JSON), and `cairn incidents` (`cli.rs`).

pub mod cli;

use crate::access::{Analyst, Anyone, Signed};
use app::db::audit::{self, AuditLine};
use app::db::incidents as store;
use app::error::WebError;
use app::incidents::Status;
use axum::body::Body;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::SqlitePool;

pub use crate::detections::web::{MAX_ASSIGNEE, MAX_NOTE};

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("no such incident")]
    NoIncident,
    #[error("the status is one of open, acknowledged, closed")]
    BadStatus,
    #[error("a note is at most {MAX_NOTE} characters, an assignee {MAX_ASSIGNEE}")]
    TooLong,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Changes an incident's status and assignee and adds a note; returns what changed.
pub async fn update(
    pool: &SqlitePool,
    id: i64,
    status: &str,
    assignee: &str,
    note: &str,
    line: AuditLine<'_>,
) -> Result<Vec<String>, ChangeError> {
    let actor = line.actor.unwrap_or_default();
    let status = Status::parse(status).ok_or(ChangeError::BadStatus)?;
    let (assignee, note) = (assignee.trim(), note.trim());
    if note.chars().count() > MAX_NOTE || assignee.chars().count() > MAX_ASSIGNEE {
        return Err(ChangeError::TooLong);
    }
    let assignee = (!assignee.is_empty()).then_some(assignee);
    // Only an incident that is one now can be changed.
    if !store::list(pool, None, None).await?.iter().any(|i| i.id == id) {
        return Err(ChangeError::NoIncident);
    }
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let (old_status, old_assignee) = store::read_state(&mut tx, id).await?.unwrap_or((Status::Open, None));
    let mut changes =
        app::detections::state_changes((old_status.as_str(), old_assignee.as_deref()), (status.as_str(), assignee));
    if changes.is_empty() && note.is_empty() {
        return Ok(changes);
    }
    let now = chrono::Utc::now().timestamp_millis();
    store::write_state(&mut tx, id, status, assignee, now).await?;
    for c in &changes {
        store::write_history(&mut tx, id, now, actor, c, None).await?;
    }
    if !note.is_empty() {
        store::write_history(&mut tx, id, now, actor, "noted", Some(note)).await?;
        changes.push("noted".into());
    }
    let (target, detail) = (id.to_string(), changes.join("; "));
    audit::write_line(&mut tx, &line.target(&target).detail(&detail)).await?;
    tx.commit().await?;
    Ok(changes)
}

#[derive(Deserialize)]
pub struct IncidentForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    note: String,
}

pub async fn update_form(
    State(pool): State<SqlitePool>,
    Path(id): Path<i64>,
    Signed { user, client, .. }: Signed<Analyst>,
    Form(f): Form<IncidentForm>,
) -> Result<Response, WebError> {
    let back = format!("/incidents/{id}");
    let line = AuditLine::new(Some(&user.name), "incident.update", &client);
    update(&pool, id, &f.status, &f.assignee, &f.note, line).await.map_err(|e| match e {
        ChangeError::Db(e) => WebError::internal("an incident change failed", e),
        ChangeError::NoIncident => WebError::not_found(e.to_string()),
        e => WebError::mistake(&back, "problem", e),
    })?;
    Ok(Redirect::to(&format!("{back}?saved=1")).into_response())
}

/// What the report routes need: the pool and the address Cairn is reached at, for the
/// report's link back.
#[derive(Clone)]
pub struct ReportState {
    pub pool: SqlitePool,
    pub public_url: Option<String>,
}

/// `GET /incidents/{id}/report.md` and `report.json`: the incident for a ticket.
pub async fn report(
    State(s): State<ReportState>,
    Path((id, file)): Path<(i64, String)>,
    _: Signed<Anyone>,
) -> Result<Response, WebError> {
    let markdown = match file.as_str() {
        "report.md" => true,
        "report.json" => false,
        _ => return Err(WebError::not_found("no such report")),
    };
    let v = store::one(&s.pool, id)
        .await
        .map_err(|e| WebError::internal("an incident report failed", e))?
        .ok_or_else(|| WebError::not_found("no such incident"))?;
    let (body, ctype, name) = if markdown {
        let base = s.public_url.as_deref().unwrap_or("").trim_end_matches('/');
        (app::incidents::markdown(&v, base), "text/markdown; charset=utf-8", format!("incident-{id}.md"))
    } else {
        let json = app::incidents::report_json(&v.incident, &v.touched, &v.history);
        (serde_json::to_string_pretty(&json).unwrap_or_default(), "application/json", format!("incident-{id}.json"))
    };
    let mut res = Response::new(Body::from(body));
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}
