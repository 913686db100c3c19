//! `POST /admin/alert-actions/{action}`: destinations added, tested, enabled, disabled,
//! retried and removed from the alerts pages (admins only). Each answers with a redirect
//! to the page it came from saying what happened; each change is written with its audit
//! line in one transaction.

use super::{AlertError, Change, DestinationSpec, Dispatcher, Tuning};
use crate::access::{Admin, Signed};
use crate::sync::secrets::SecretBox;
use app::db::audit::AuditLine;
use app::error::WebError;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::SqlitePool;

#[derive(Clone)]
pub struct AlertsState {
    pub pool: SqlitePool,
    /// Without the key, destinations cannot be added or tested from the web.
    pub secrets: Option<SecretBox>,
    pub public_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AlertForm {
    #[serde(default)]
    destination: Option<i64>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    arn: String,
    #[serde(default)]
    endpoint_url: String,
    #[serde(default)]
    min_severity: String,
    #[serde(default)]
    rules: String,
}

fn back(to: &str, key: &str, value: &str) -> Response {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair(key, value);
    Redirect::to(&format!("{to}?{}", q.finish())).into_response()
}

fn failed(e: AlertError, page: &str) -> WebError {
    match e {
        AlertError::Db(e) => WebError::internal("an alert change failed", e),
        AlertError::Rules(e) => WebError::internal("reading the rules failed", e),
        AlertError::Secret(e) => WebError::internal("the secret key cannot be used", e),
        AlertError::NoDestination => WebError::not_found(e.to_string()),
        e => WebError::mistake(page, "error", e),
    }
}

pub async fn manage_alert(
    State(state): State<AlertsState>,
    Path(action): Path<String>,
    Signed { user: admin, client, .. }: Signed<Admin>,
    Form(f): Form<AlertForm>,
) -> Result<Response, WebError> {
    let pool = &state.pool;
    let line = AuditLine::new(Some(&admin.name), "", &client);
    let list = "/admin/alerts";
    let need_key = || {
        WebError::Unavailable("alert destinations are managed with `cairn alerts` on this server (no secret key)".into())
    };
    if action == "add" {
        let secrets = state.secrets.as_ref().ok_or_else(need_key)?;
        let spec = DestinationSpec {
            name: f.name,
            kind: f.kind,
            url: f.url,
            token: f.token,
            arn: f.arn,
            endpoint_url: f.endpoint_url,
            min_severity: f.min_severity,
            rules: f.rules,
        };
        let d = super::prepare(pool, secrets, &spec).await.map_err(|e| failed(e, list))?;
        let id = super::add(pool, &d, &line.action("alert.add")).await.map_err(|e| failed(e, list))?;
        return Ok(back(&format!("/admin/alerts/{id}"), "done", "added"));
    }
    let id = f.destination.ok_or_else(|| WebError::BadRequest("which destination?".into()))?;
    let page = format!("/admin/alerts/{id}");
    let (change, action_name, done) = match action.as_str() {
        "test" => {
            let secrets = state.secrets.clone().ok_or_else(need_key)?;
            let dispatcher = Dispatcher::new(pool.clone(), secrets, state.public_url.clone(), Tuning::default())
                .map_err(|e| WebError::internal("the HTTP client cannot be made", e))?;
            let outcome = dispatcher.test(id).await.map_err(|e| failed(e, &page))?;
            let name = app::db::alerts::get(pool, id).await.ok().flatten().map(|r| r.name).unwrap_or_default();
            let detail = match &outcome {
                Ok(a) => format!("test delivered: {a}"),
                Err(e) => format!("test not delivered: {e}"),
            };
            let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await.map_err(|e| WebError::internal("auditing a test failed", e))?;
            app::db::audit::write_line(&mut tx, &line.action("alert.test").target(&name).detail(&detail))
                .await
                .map_err(|e| WebError::internal("auditing a test failed", e))?;
            tx.commit().await.map_err(|e| WebError::internal("auditing a test failed", e))?;
            return Ok(match outcome {
                Ok(_) => back(&page, "done", "tested"),
                Err(e) => back(&page, "error", &format!("The test was not delivered: {e}")),
            });
        }
        "enable" => (Change::Enable(true), "alert.enable", "enabled"),
        "disable" => (Change::Enable(false), "alert.disable", "disabled"),
        "retry" => (Change::Retry, "alert.retry", "retried"),
        "remove" => (Change::Remove, "alert.remove", "removed"),
        _ => return Err(WebError::not_found("no such action")),
    };
    super::change(pool, id, change, &line.action(action_name))
        .await
        .map_err(|e| failed(e, &page))?;
    Ok(if done == "removed" { back(list, "done", done) } else { back(&page, "done", done) })
}
