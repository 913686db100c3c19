//! `POST /admin/source-actions/{action}`: sources added, edited, checked, paused, resumed,
//! removed and synced from the sources pages (admins only). Each answers with a redirect
//! to the page it came from, saying what happened, and is written to the audit log.

use crate::access::admin::admin_of;
use crate::access::client_of;
use crate::sync::secrets::SecretBox;
use crate::sync::sources::{self, SourceError, SourceSpec};
use crate::sync;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
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

fn failed(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "a source action failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "something failed on the server; see its log",
    )
        .into_response()
}

/// `POST /admin/source-actions/{action}`: add, edit, check, pause, resume, remove, sync.
pub async fn manage_source(
    State(state): State<SourcesState>,
    Path(action): Path<String>,
    parts: axum::http::request::Parts,
    Form(f): Form<SourceForm>,
) -> Response {
    let admin = match admin_of(&parts) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(secrets) = &state.secrets else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "sources are managed with `cairn source` on this server (no secret key)",
        )
            .into_response();
    };
    let client = client_of(&parts.extensions);
    let pool = &state.pool;
    let name = if action == "edit" {
        f.original.trim().to_owned()
    } else {
        f.name.trim().to_owned()
    };
    let audit = |what: &'static str, target: String, detail: Option<String>| {
        let (pool, admin, client) = (pool.clone(), admin.name.clone(), client.clone());
        async move {
            crate::access::users::audit(
                &pool,
                Some(&admin),
                what,
                Some(&target),
                detail.as_deref(),
                Some(&client),
            )
            .await;
        }
    };
    // The page to go back to when this action cannot be done.
    let here = if action == "add" {
        "/admin/sources".to_owned()
    } else {
        page(&name)
    };
    let refused = |e: SourceError| match e {
        SourceError::Db(e) => failed(e),
        SourceError::Secret(e) => failed(e),
        e => back(&here, "error", &e.to_string()),
    };
    match action.as_str() {
        "add" => {
            let spec = match f.spec() {
                Ok(s) => s,
                Err(e) => return refused(e),
            };
            let feeds = describe(&spec);
            match sources::add(pool, secrets, spec).await {
                Ok(_) => {
                    audit("source.add", name.clone(), Some(feeds)).await;
                    back(&page(&name), "done", "added")
                }
                Err(e) => refused(e),
            }
        }
        "edit" => {
            let spec = match f.spec() {
                Ok(s) => s,
                Err(e) => return refused(e),
            };
            let new_name = spec.name.clone();
            let feeds = describe(&spec);
            let clear = f.clear_external_id.is_some();
            match sources::update(pool, secrets, &name, spec, clear).await {
                Ok(()) => {
                    audit("source.edit", new_name.clone(), Some(feeds)).await;
                    back(&page(&new_name), "done", "saved")
                }
                Err(e) => refused(e),
            }
        }
        "pause" | "resume" => match sources::set_paused(pool, &name, action == "pause").await {
            Ok(()) => {
                let what = if action == "pause" {
                    "source.pause"
                } else {
                    "source.resume"
                };
                audit(what, name.clone(), None).await;
                back(
                    &page(&name),
                    "done",
                    if action == "pause" {
                        "paused"
                    } else {
                        "resumed"
                    },
                )
            }
            Err(e) => refused(e),
        },
        "remove" => match sources::remove(pool, &name).await {
            Ok(()) => {
                audit("source.remove", name.clone(), None).await;
                back("/admin/sources", "done", "removed")
            }
            Err(e) => refused(e),
        },
        "check" => {
            let source = match sources::load(pool, secrets, &name).await {
                Ok(s) => s,
                Err(e) => return refused(e),
            };
            let lines = sync::check::check(&source, &sync::check::tuning()).await;
            let ok = lines.iter().all(|l| l.ok || l.optional);
            let stored = sqlx::query(
                "INSERT INTO source_checks (source_id, at, by_user, lines) VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(source.row.id)
            .bind(chrono::Utc::now().timestamp_millis())
            .bind(&admin.name)
            .bind(serde_json::to_string(&lines).unwrap_or_else(|_| "[]".into()))
            .execute(pool)
            .await;
            if let Err(e) = stored {
                return failed(e);
            }
            audit(
                "source.check",
                name.clone(),
                Some(
                    if ok {
                        "all reachable"
                    } else {
                        "something refused"
                    }
                    .into(),
                ),
            )
            .await;
            Redirect::to(&format!("{}?done=checked#check", page(&name))).into_response()
        }
        "sync" => {
            let source = match sources::load(pool, secrets, &name).await {
                Ok(s) => s,
                Err(e) => return refused(e),
            };
            let Some(running) = sync::Running::claim(source.row.id) else {
                return back(
                    &page(&name),
                    "error",
                    "a pass of this source is running already",
                );
            };
            let pool = pool.clone();
            tokio::spawn(async move {
                let _running = running;
                if let Err(e) = sync::pass(&pool, &source, &sync::Options::default()).await {
                    tracing::error!(source = %source.row.name, error = %e, "sync pass could not run");
                }
            });
            audit("source.sync", name.clone(), None).await;
            back(&page(&name), "done", "syncing")
        }
        _ => (StatusCode::NOT_FOUND, "no such action").into_response(),
    }
}

/// What a source reads, for the audit log.
fn describe(spec: &SourceSpec) -> String {
    let mut parts = Vec::new();
    if let Some(b) = &spec.bucket {
        parts.push(format!("bucket {b}"));
    }
    if let Some(q) = &spec.queue_url {
        parts.push(format!("queue {q}"));
    }
    if spec.lookup_events {
        parts.push("LookupEvents".into());
    }
    if let Some(r) = &spec.role_arn {
        parts.push(format!("role {r}"));
    }
    parts.join(", ")
}
