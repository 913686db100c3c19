//! `POST /admin/source-actions/{action}`: sources added, edited, checked, paused, resumed,
//! removed and synced from the sources pages (admins only). Each answers with a redirect
//! to the page it came from, saying what happened, and is written to the audit log in
//! the change's own transaction.

use crate::access::{Admin, Signed};
use crate::sync;
use crate::sync::secrets::SecretBox;
use crate::sync::sources::{self, SourceError, SourceSpec};
use app::db::audit::AuditLine;
use app::error::WebError;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::SqlitePool;

#[derive(Clone)]
pub struct SourcesState {
    pub pool: SqlitePool,
    /// Without the key, sources cannot be added, edited or synced from the web.
    pub secrets: Option<SecretBox>,
}

/// The source form; every field is text, as a browser sends it.
#[derive(Debug, Default, Deserialize)]
pub struct SourceForm {
    #[serde(default)]
    name: String,
    /// The name before an edit.
    #[serde(default)]
    original: String,
    #[serde(default)]
    bucket: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    org_id: String,
    #[serde(default)]
    queue_url: String,
    #[serde(default)]
    lookup_events: Option<String>,
    #[serde(default)]
    regions: String,
    #[serde(default)]
    profile: String,
    #[serde(default)]
    role_arn: String,
    #[serde(default)]
    external_id: String,
    #[serde(default)]
    clear_external_id: Option<String>,
    #[serde(default)]
    session_name: String,
    #[serde(default)]
    endpoint_url: String,
    #[serde(default)]
    backfill_days: String,
    #[serde(default)]
    retain_days: String,
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

impl SourceForm {
    fn spec(&self) -> Result<SourceSpec, SourceError> {
        let backfill_days = match self.backfill_days.trim() {
            "" => 90,
            d => d
                .parse::<i64>()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| {
                    SourceError::Invalid("the backfill period is 1 to 3650 days".into())
                })?,
        };
        let retain_days = match self.retain_days.trim() {
            "" => None,
            d => Some(d.parse::<i64>().ok().filter(|d| (1..=36500).contains(d)).ok_or_else(|| {
                SourceError::Invalid("events are kept 1 to 36500 days".into())
            })?),
        };
        Ok(SourceSpec {
            name: self.name.trim().to_owned(),
            bucket: opt(&self.bucket),
            prefix: self.prefix.trim().to_owned(),
            org_id: opt(&self.org_id),
            queue_url: opt(&self.queue_url),
            lookup_events: self.lookup_events.is_some(),
            regions: self
                .regions
                .split([',', ' ', '\n'])
                .filter_map(opt)
                .collect(),
            profile: opt(&self.profile),
            role_arn: opt(&self.role_arn),
            external_id: opt(&self.external_id),
            session_name: opt(&self.session_name),
            endpoint_url: opt(&self.endpoint_url),
            backfill_days,
            retain_days,
        })
    }
}

fn page(name: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    format!("/admin/sources/{encoded}")
}

fn back(to: &str, key: &str, value: &str) -> Response {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair(key, value);
    Redirect::to(&format!("{to}?{}", q.finish())).into_response()
}

/// `POST /admin/source-actions/{action}`: add, edit, check, pause, resume, remove, sync.
/// Each change is written with its audit line in one transaction.
pub async fn manage_source(
    State(state): State<SourcesState>,
    Path(action): Path<String>,
    Signed {
        user: admin,
        client,
        ..
    }: Signed<Admin>,
    Form(f): Form<SourceForm>,
) -> Result<Response, WebError> {
    let Some(secrets) = &state.secrets else {
        return Err(WebError::Unavailable(
            "sources are managed with `cairn source` on this server (no secret key)".into(),
        ));
    };
    let pool = &state.pool;
    let name = if action == "edit" {
        f.original.trim().to_owned()
    } else {
        f.name.trim().to_owned()
    };
    let line = AuditLine::new(Some(&admin.name), "", &client).target(&name);
    // The page to go back to when this action cannot be done.
    let here = if action == "add" {
        "/admin/sources".to_owned()
    } else {
        page(&name)
    };
    let refused = |e: SourceError| match e {
        SourceError::Db(e) => WebError::internal("a source action failed", e),
        SourceError::Secret(e) => WebError::internal("a source action failed", e),
        e => WebError::mistake(here.clone(), "error", e),
    };
    match action.as_str() {
        "add" => {
            let spec = f.spec().map_err(refused)?;
            let feeds = spec.describe();
            let line = line.action("source.add").detail(&feeds);
            sources::add(pool, secrets, spec, &line)
                .await
                .map_err(refused)?;
            Ok(back(&page(&name), "done", "added"))
        }
        "edit" => {
            let spec = f.spec().map_err(refused)?;
            let new_name = spec.name.clone();
            let feeds = spec.describe();
            let clear = f.clear_external_id.is_some();
            let line = line.action("source.edit").target(&new_name).detail(&feeds);
            sources::update(pool, secrets, &name, spec, clear, &line)
                .await
                .map_err(refused)?;
            Ok(back(&page(&new_name), "done", "saved"))
        }
        "pause" | "resume" => {
            let pause = action == "pause";
            let what = if pause {
                "source.pause"
            } else {
                "source.resume"
            };
            sources::set_paused(pool, &name, pause, &line.action(what))
                .await
                .map_err(refused)?;
            Ok(back(
                &page(&name),
                "done",
                if pause { "paused" } else { "resumed" },
            ))
        }
        "remove" => {
            sources::remove(pool, &name, &line.action("source.remove"))
                .await
                .map_err(refused)?;
            Ok(back("/admin/sources", "done", "removed"))
        }
        "check" => {
            let source = sources::load(pool, secrets, &name).await.map_err(refused)?;
            let lines = sync::check::check(&source, &sync::check::tuning()).await;
            let ok = lines.iter().all(|l| l.ok || l.optional);
            let outcome = if ok {
                "all reachable"
            } else {
                "something refused"
            };
            let json = serde_json::to_string(&lines).unwrap_or_else(|_| "[]".into());
            let line = line.action("source.check").detail(outcome);
            sources::record_check(pool, source.row.id, &admin.name, &json, &line)
                .await
                .map_err(refused)?;
            Ok(Redirect::to(&format!("{}?done=checked#check", page(&name))).into_response())
        }
        "sync" => {
            let source = sources::load(pool, secrets, &name).await.map_err(refused)?;
            let Some(running) = sync::Running::claim(source.row.id) else {
                return Ok(back(
                    &page(&name),
                    "error",
                    "a pass of this source is running already",
                ));
            };
            // The request is recorded before the pass starts: a pass nobody can account
            // for does not run.
            crate::access::users::note(pool, &line.action("source.sync"))
                .await
                .map_err(|e| WebError::internal("a sync request could not be recorded", e))?;
            let pool = pool.clone();
            tokio::spawn(async move {
                let _running = running;
                if let Err(e) = sync::pass(&pool, &source, &sync::Options::default()).await {
                    tracing::error!(source = %source.row.name, error = %e, "sync pass could not run");
                }
            });
            Ok(back(&page(&name), "done", "syncing"))
        }
        _ => Err(WebError::not_found("no such action")),
    }
}
