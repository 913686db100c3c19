//! Signing in and out, and the one-time set-up of the first admin: the form posts, the
//! session they start or end, and the throttle on failed attempts.

use super::users;
use super::{AuthState, KEY_USER, KEY_VERSION, client_of, login_url, safe_next};
use app::auth::{User, Viewer};
use app::db::audit::AuditLine;
use app::error::WebError;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower_sessions::Session;

/// Failed sign-ins allowed per account and per client address within [`WINDOW`].
const PER_ACCOUNT: usize = 5;
const PER_ADDRESS: usize = 20;
const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Remembers recent failed sign-ins, per account name and per client address.
#[derive(Default, Clone)]
pub struct Throttle {
    failures: Arc<Mutex<HashMap<String, Vec<Instant>>>>,
}

impl Throttle {
    fn keys(name: &str, client: &str) -> [(String, usize); 2] {
        [
            (format!("account:{}", name.to_lowercase()), PER_ACCOUNT),
            (format!("address:{client}"), PER_ADDRESS),
        ]
    }

    /// How long to wait before another attempt is allowed, if one is not allowed now.
    pub fn wait(&self, name: &str, client: &str) -> Option<Duration> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = None;
        for (key, limit) in Self::keys(name, client) {
            if let Some(times) = map.get_mut(&key) {
                times.retain(|t| now.duration_since(*t) < WINDOW);
                if times.len() >= limit {
                    let until = times[times.len() - limit] + WINDOW;
                    let w = until.saturating_duration_since(now);
                    wait = Some(wait.map_or(w, |x: Duration| x.max(w)));
                }
            }
        }
        wait
    }

    pub fn failed(&self, name: &str, client: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Keep the map bounded: forget entries whose failures have all expired.
        if map.len() > 10_000 {
            map.retain(|_, times| times.iter().any(|t| now.duration_since(*t) < WINDOW));
        }
        for (key, _) in Self::keys(name, client) {
            map.entry(key).or_default().push(now);
        }
    }

    pub fn succeeded(&self, name: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("account:{}", name.to_lowercase()));
    }
}

pub(super) async fn sign_in(
    session: &Session,
    user: &User,
    version: i64,
) -> Result<(), tower_sessions::session::Error> {
    // A new id at every sign-in: a session id planted before sign-in is worth nothing.
    session.cycle_id().await?;
    session.insert(KEY_USER, user.id).await?;
    session.insert(KEY_VERSION, version).await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /auth/login`. Every attempt is in the audit log; one that cannot be written
/// there is refused.
pub async fn login(
    State(state): State<AuthState>,
    session: Session,
    req_parts: axum::http::request::Parts,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    let client = client_of(&req_parts.extensions);
    let next = safe_next(if f.next.is_empty() { "/" } else { &f.next });
    let refused = |e| WebError::internal("a sign-in could not be recorded", e);
    if !state.sign_in.password {
        let line = AuditLine::new(None, "login.refused", &client)
            .target(&f.name)
            .detail("password sign-in is off");
        users::note(&state.pool, &line).await.map_err(refused)?;
        return Ok(Redirect::to(&login_url(&next, &[("error", "password-off")])).into_response());
    }
    if let Some(wait) = state.throttle.wait(&f.name, &client) {
        let minutes = wait.as_secs().div_ceil(60).max(1).to_string();
        let line = AuditLine::new(None, "login.throttled", &client).target(&f.name);
        users::note(&state.pool, &line).await.map_err(refused)?;
        return Ok(Redirect::to(&login_url(
            &next,
            &[("error", "throttled"), ("wait", &minutes)],
        ))
        .into_response());
    }
    match users::authenticate(&state.pool, &f.name, &f.password).await {
        Ok(Some((user, version))) => {
            let line = AuditLine::new(Some(&user.name), "login", &client);
            users::signed_in(&state.pool, user.id, &line)
                .await
                .map_err(refused)?;
            sign_in(&session, &user, version)
                .await
                .map_err(|e| WebError::internal("a session could not start", e))?;
            state.throttle.succeeded(&f.name);
            Ok(Redirect::to(&next).into_response())
        }
        Ok(None) => {
            state.throttle.failed(&f.name, &client);
            let line = AuditLine::new(None, "login.failed", &client).target(&f.name);
            users::note(&state.pool, &line).await.map_err(refused)?;
            Ok(Redirect::to(&login_url(&next, &[("error", "invalid")])).into_response())
        }
        Err(e) => Err(WebError::internal("a sign-in failed", e)),
    }
}

/// `POST /auth/logout`. Signing out always happens: a sign-out whose audit line cannot
/// be written is logged as such rather than keeping the session alive.
pub async fn logout(
    State(state): State<AuthState>,
    session: Session,
    req_parts: axum::http::request::Parts,
) -> Result<Response, WebError> {
    let client = client_of(&req_parts.extensions);
    if let Some(Viewer(Some(u))) = req_parts.extensions.get::<Viewer>() {
        let line = AuditLine::new(Some(&u.name), "logout", &client);
        if let Err(e) = users::note(&state.pool, &line).await {
            tracing::error!(error = %e, user = %u.name, "a sign-out could not be recorded");
        }
    }
    session
        .flush()
        .await
        .map_err(|e| WebError::internal("a session could not end", e))?;
    Ok(Redirect::to("/login?signed_out=1").into_response())
}

#[derive(Deserialize)]
pub struct SetupForm {
    name: String,
    password: String,
    confirm: String,
}

/// `POST /setup`: the first admin, once, signed in at once.
pub async fn setup(
    State(state): State<AuthState>,
    session: Session,
    req_parts: axum::http::request::Parts,
    Form(f): Form<SetupForm>,
) -> Result<Response, WebError> {
    let client = client_of(&req_parts.extensions);
    if !state.sign_in.password {
        return Ok(Redirect::to("/login?error=password-off").into_response());
    }
    if f.password != f.confirm {
        return Ok(Redirect::to("/setup?error=mismatch").into_response());
    }
    let name = f.name.trim();
    let line = AuditLine::new(Some(name), "user.create", &client)
        .target(name)
        .detail("role admin (first run)");
    match users::create_first_admin(&state.pool, name, &f.password, &line).await {
        Ok(user) => {
            let line = AuditLine::new(Some(&user.name), "login", &client);
            users::signed_in(&state.pool, user.id, &line)
                .await
                .map_err(|e| WebError::internal("a sign-in could not be recorded", e))?;
            sign_in(&session, &user, 1)
                .await
                .map_err(|e| WebError::internal("a session could not start", e))?;
            Ok(Redirect::to("/").into_response())
        }
        Err(users::UserError::AlreadySetUp) => Ok(Redirect::to("/login").into_response()),
        Err(users::UserError::BadName) => Ok(Redirect::to("/setup?error=name").into_response()),
        Err(users::UserError::BadPassword) => {
            Ok(Redirect::to("/setup?error=password").into_response())
        }
        Err(e) => Err(WebError::internal(
            "the first admin could not be created",
            e,
        )),
    }
}
