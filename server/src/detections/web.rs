//! The detection pages' form posts (analysts and admins): a finding's status, assignee and
//! notes; a rule written, edited, enabled or disabled; suppressions added and removed.
//! Every change is one transaction with its history line and its audit line. Also the
//! back-tests the rule pages run, and the open-findings count of the top bar.

use super::history;
use crate::access::{Analyst, Signed};
use app::db::audit::{self, AuditLine};
use app::db::findings as store;
use app::db::rules::{self, RulesError, Suppression};
use app::detections::{BackTestResult, BackTester, OpenFindings, RuleDraft, Status};
use app::error::WebError;
use axum::extract::{Form, Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::SqlitePool;
use std::sync::Arc;

pub const MAX_NOTE: usize = 5_000;
pub const MAX_ASSIGNEE: usize = 100;
pub const MAX_REASON: usize = 500;
/// Most events a back-test lists.
const BACK_TEST_EVENTS: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("no such finding")]
    NoFinding,
    #[error("no such rule")]
    NoRule,
    #[error("no such suppression")]
    NoSuppression,
    #[error("the status is one of open, acknowledged, resolved, false_positive")]
    BadStatus,
    #[error("a note is at most {MAX_NOTE} characters, an assignee {MAX_ASSIGNEE}")]
    TooLong,
    #[error("{0}")]
    BadRule(String),
    #[error("a rule with the id {0:?} exists: open it to edit it")]
    Exists(String),
    #[error("{0}")]
    BadSuppression(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Rules(#[from] RulesError),
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A mistake goes back to the form saying so; a missing finding or rule is a 404;
/// anything else a logged 500.
fn failed(e: ChangeError, back: &str) -> WebError {
    match e {
        ChangeError::Db(e) => WebError::internal("a detection change failed", e),
        ChangeError::Rules(e) => WebError::internal("a rule change failed", e),
        ChangeError::NoFinding | ChangeError::NoRule | ChangeError::NoSuppression => {
            WebError::not_found(e.to_string())
        }
        e => WebError::mistake(back, "problem", e),
    }
}

/// Changes a finding's status and assignee and adds a note; returns what changed.
pub async fn update_finding(
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
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let (old_status, old_assignee) = store::read_state(&mut tx, id).await?.ok_or(ChangeError::NoFinding)?;
    let mut changes = app::detections::state_changes(
        (old_status.label(), old_assignee.as_deref()),
        (status.label(), assignee),
    );
    if changes.is_empty() && note.is_empty() {
        return Ok(changes);
    }
    let now = now_ms();
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

/// Writes a new rule (`create`) or a new version of one (`edit`); returns the id.
pub async fn save_rule(
    pool: &SqlitePool,
    draft: &RuleDraft,
    create: bool,
    enable: bool,
    line: AuditLine<'_>,
) -> Result<String, ChangeError> {
    let actor = line.actor.unwrap_or_default();
    let def = draft.to_def().map_err(ChangeError::BadRule)?;
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let existing = rules::get_in(&mut tx, &def.id).await?;
    let (origin, change) = match (&existing, create) {
        (Some(_), true) => return Err(ChangeError::Exists(def.id)),
        (None, false) => return Err(ChangeError::NoRule),
        (None, true) => ("user".to_string(), "created".to_string()),
        (Some(old), false) => {
            if old.def == def && old.enabled == enable {
                return Ok(def.id);
            }
            let mut words = Vec::new();
            if old.def != def {
                words.push("edited");
            }
            if old.enabled != enable {
                words.push(if enable { "enabled" } else { "disabled" });
            }
            (old.origin.clone(), words.join(" and "))
        }
    };
    let version = rules::save_in(&mut tx, &def, enable, &origin, None, actor, &change, now_ms()).await?;
    let detail = format!("version {version}: {change}{}", if enable { " (enabled)" } else { " (disabled)" });
    audit::write_line(&mut tx, &line.target(&def.id).detail(&detail)).await?;
    tx.commit().await?;
    Ok(def.id)
}

/// Enables or disables a rule; returns whether anything changed.
pub async fn set_enabled(pool: &SqlitePool, id: &str, on: bool, line: AuditLine<'_>) -> Result<bool, ChangeError> {
    let actor = line.actor.unwrap_or_default();
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let old = rules::get_in(&mut tx, id).await?.ok_or(ChangeError::NoRule)?;
    if old.enabled == on {
        return Ok(false);
    }
    if on {
        old.def.compile().map_err(|e| ChangeError::BadRule(format!("the rule does not compile: {e}")))?;
    }
    let change = if on { "enabled" } else { "disabled" };
    rules::save_in(&mut tx, &old.def, on, &old.origin, None, actor, change, now_ms()).await?;
    audit::write_line(&mut tx, &line.target(id).detail(change)).await?;
    tx.commit().await?;
    Ok(true)
}

/// Adds a suppression to a rule; returns its id.
pub async fn suppress(
    pool: &SqlitePool,
    rule: &str,
    field: &str,
    value: &str,
    reason: &str,
    expires: &str,
    line: AuditLine<'_>,
) -> Result<i64, ChangeError> {
    let actor = line.actor.unwrap_or_default();
    let (value, reason, expires) = (value.trim(), reason.trim(), expires.trim());
    if !matches!(field, "principal" | "source_ip" | "resource") {
        return Err(ChangeError::BadSuppression("suppress a principal, a source IP or a resource".into()));
    }
    if value.is_empty() || value.len() > 2048 {
        return Err(ChangeError::BadSuppression("give the value to suppress (at most 2,048 characters)".into()));
    }
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(ChangeError::BadSuppression(format!("give a reason (at most {MAX_REASON} characters)")));
    }
    let now = now_ms();
    let expires_ms = match expires {
        "" => None,
        e => match app::query::parse_instant(e, true) {
            Some(t) if t > now => Some(t),
            Some(_) => return Err(ChangeError::BadSuppression("the expiry is in the past".into())),
            None => return Err(ChangeError::BadSuppression(format!("{e:?} is not a date (YYYY-MM-DD)"))),
        },
    };
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    if rules::get_in(&mut tx, rule).await?.is_none() {
        return Err(ChangeError::NoRule);
    }
    let s = Suppression {
        id: 0,
        rule_id: rule.into(),
        field: field.into(),
        value: value.into(),
        reason: reason.into(),
        expires_ms,
        created_ms: now,
        created_by: actor.into(),
    };
    let id = rules::add_suppression(&mut tx, &s).await?;
    let detail = format!("not for {field} {value}: {reason}");
    audit::write_line(&mut tx, &line.target(rule).detail(&detail)).await?;
    tx.commit().await?;
    Ok(id)
}

/// Removes a suppression of a rule.
pub async fn unsuppress(pool: &SqlitePool, rule: &str, id: i64, line: AuditLine<'_>) -> Result<(), ChangeError> {
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let s = rules::remove_suppression(&mut tx, rule, id).await?.ok_or(ChangeError::NoSuppression)?;
    let detail = format!("removed: not for {} {}", s.field, s.value);
    audit::write_line(&mut tx, &line.target(rule).detail(&detail)).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct FindingForm {
    status: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    note: String,
}

pub async fn finding_form(
    State(pool): State<SqlitePool>,
    Path(id): Path<i64>,
    Signed { user, client, .. }: Signed<Analyst>,
    Form(f): Form<FindingForm>,
) -> Result<Response, WebError> {
    let back = format!("/findings/{id}");
    let line = AuditLine::new(Some(&user.name), "finding.update", &client);
    update_finding(&pool, id, &f.status, &f.assignee, &f.note, line)
        .await
        .map_err(|e| failed(e, &back))?;
    Ok(Redirect::to(&format!("{back}?saved=1")).into_response())
}

#[derive(Deserialize)]
pub struct RuleForm {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    enable: Option<String>,
    #[serde(flatten)]
    draft: RuleDraft,
}

/// The page a rule form came from, with the draft, so a mistake keeps what was typed.
fn draft_page(draft: &RuleDraft, create: bool) -> String {
    let page = if create { "/rules/new".to_string() } else { app::fmt::rule_href(draft.id.trim()) };
    format!("{page}?{}", draft.to_query())
}

pub async fn rule_form(
    State(pool): State<SqlitePool>,
    Signed { user, client, .. }: Signed<Analyst>,
    Form(f): Form<RuleForm>,
) -> Result<Response, WebError> {
    let create = f.mode != "edit";
    let enable = f.enable.as_deref() == Some("1");
    let back = draft_page(&f.draft, create);
    let action = if create { "rule.create" } else { "rule.edit" };
    let line = AuditLine::new(Some(&user.name), action, &client);
    let id = save_rule(&pool, &f.draft, create, enable, line)
        .await
        .map_err(|e| failed(e, &back))?;
    Ok(Redirect::to(&format!("{}?saved=1", app::fmt::rule_href(&id))).into_response())
}

#[derive(Deserialize)]
pub struct EnableForm {
    on: String,
}

pub async fn enable_form(
    State(pool): State<SqlitePool>,
    Path(id): Path<String>,
    Signed { user, client, .. }: Signed<Analyst>,
    Form(f): Form<EnableForm>,
) -> Result<Response, WebError> {
    let back = app::fmt::rule_href(&id);
    let on = f.on == "1";
    let line = AuditLine::new(Some(&user.name), if on { "rule.enable" } else { "rule.disable" }, &client);
    set_enabled(&pool, &id, on, line).await.map_err(|e| failed(e, &back))?;
    Ok(Redirect::to(&format!("{back}?saved=1")).into_response())
}

#[derive(Deserialize)]
pub struct SuppressForm {
    field: String,
    value: String,
    reason: String,
    #[serde(default)]
    expires: String,
}

pub async fn suppress_form(
    State(pool): State<SqlitePool>,
    Path(id): Path<String>,
    Signed { user, client, .. }: Signed<Analyst>,
    Form(f): Form<SuppressForm>,
) -> Result<Response, WebError> {
    let back = app::fmt::rule_href(&id);
    let line = AuditLine::new(Some(&user.name), "rule.suppress", &client);
    suppress(&pool, &id, &f.field, &f.value, &f.reason, &f.expires, line)
        .await
        .map_err(|e| failed(e, &back))?;
    Ok(Redirect::to(&format!("{back}?saved=1")).into_response())
}

#[derive(Deserialize)]
pub struct UnsuppressForm {
    suppression: i64,
}

pub async fn unsuppress_form(
    State(pool): State<SqlitePool>,
    Path(id): Path<String>,
    Signed { user, client, .. }: Signed<Analyst>,
    Form(f): Form<UnsuppressForm>,
) -> Result<Response, WebError> {
    let back = app::fmt::rule_href(&id);
    let line = AuditLine::new(Some(&user.name), "rule.unsuppress", &client);
    unsuppress(&pool, &id, f.suppression, line).await.map_err(|e| failed(e, &back))?;
    Ok(Redirect::to(&format!("{back}?saved=1")).into_response())
}

/// Back-tests for the rule pages: each runs on a read-only connection of its own, on a
/// blocking thread, and lists its first matched events.
pub fn back_tester(pool: SqlitePool) -> BackTester {
    BackTester(Arc::new(move |def, from_ms, to_ms| {
        let pool = pool.clone();
        Box::pin(async move {
            let db = pool.connect_options().get_filename().to_path_buf();
            let id = def.id.clone();
            let (set, broken) = app::detect::RuleSet::new(vec![def]);
            if let Some((_, e)) = broken.into_iter().next() {
                return Err(format!("the rule does not compile: {e}"));
            }
            let report = tokio::task::spawn_blocking(move || {
                let conn = history::open_read(&db)?;
                history::back_test(&conn, &set, from_ms, to_ms, |_, _| {})
            })
            .await
            .map_err(|e| format!("the back-test stopped: {e}"))?
            .map_err(|e| {
                tracing::warn!(rule = %id, error = %e, "a back-test failed");
                format!("the back-test failed: {e}")
            })?;
            let first: Vec<i64> = report.ids.iter().take(BACK_TEST_EVENTS).copied().collect();
            let mut events = app::db::events::rows_by_ids(&pool, &first).await.map_err(|e| {
                tracing::warn!(error = %e, "reading a back-test's events failed");
                "reading the matched events failed".to_string()
            })?;
            events.sort_by_key(|e| e.id);
            Ok(BackTestResult {
                from_ms,
                to_ms,
                matches: report.matches,
                principals: report.principals,
                findings: report.findings,
                first_ms: report.first_ms,
                last_ms: report.last_ms,
                scanned: report.scanned,
                millis: (report.seconds * 1000.0) as u64,
                now_ms: now_ms(),
                events,
            })
        })
    }))
}

/// Attaches the number of open findings to each page a signed-in person loads, for the
/// top bar's badge.
pub async fn open_findings(State(pool): State<SqlitePool>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let page = req.method() == axum::http::Method::GET
        && !path.starts_with("/api/")
        && !path.starts_with("/pkg/")
        && !path.starts_with("/export/")
        && path != "/healthz"
        && path != "/metrics";
    let signed_in = req
        .extensions()
        .get::<app::auth::Viewer>()
        .is_some_and(|v| v.0.is_some());
    if page && signed_in {
        match store::open_count(&pool).await {
            Ok(n) => {
                req.extensions_mut().insert(OpenFindings(n));
            }
            Err(e) => tracing::warn!(error = %e, "counting open findings failed"),
        }
    }
    next.run(req).await
}
