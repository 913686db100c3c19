//! Sign-in, sessions and the request guards around the dashboard.
//!
//! A thin layer of our own over tower-sessions (stored in the same SQLite database):
//! the session holds the user id and the user's `auth_version`, so a password change,
//! a role change or a removal ends that user's sessions at once. axum-login would add a
//! backend trait and a second permission model for what is here one lookup per request.

use crate::users;
use app::auth::{Role, User, Viewer};
use axum::extract::{ConnectInfo, Form, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower_sessions::Session;

const KEY_USER: &str = "uid";
const KEY_VERSION: &str = "ver";

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

#[derive(Clone)]
pub struct AuthState {
    pub pool: SqlitePool,
    pub throttle: Throttle,
}

/// The client's address, as the listener saw it.
pub fn client_of(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Resolves the signed-in user for every request and attaches it as [`Viewer`].
pub async fn resolve_viewer(
    State(state): State<AuthState>,
    mut req: Request,
    next: Next,
) -> Response {
    let mut user = None;
    if let Some(session) = req.extensions().get::<Session>().cloned() {
        let id = session.get::<i64>(KEY_USER).await.ok().flatten();
        let version = session.get::<i64>(KEY_VERSION).await.ok().flatten();
        if let (Some(id), Some(version)) = (id, version) {
            match users::by_session(&state.pool, id, version).await {
                Ok(Some(u)) => user = Some(u),
                Ok(None) => {
                    // Removed, or its password or role changed since: sign in again.
                    if let Err(e) = session.flush().await {
                        tracing::warn!(error = %e, "could not end a stale session");
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not look up the session's user");
                    return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
                        .into_response();
                }
            }
        }
    }
    req.extensions_mut().insert(Viewer(user));
    next.run(req).await
}

/// Paths anyone may fetch: static files, sign-in, health, metrics (behind their own
/// token when one is set), and the server functions (which check the user themselves).
fn is_public(path: &str) -> bool {
    path == "/healthz"
        || path == "/metrics"
        || path == "/favicon.svg"
        || path == "/login"
        || path == "/setup"
        || path.starts_with("/pkg/")
        || path.starts_with("/auth/")
        || path.starts_with("/api/")
}

/// A same-site path to return to after sign-in; anything else becomes `/`.
pub fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 4096
        && !next.chars().any(|c| c.is_control() || c == '\\');
    if ok { next.to_owned() } else { "/".to_owned() }
}

fn login_url(next: &str, extra: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if next != "/" {
        q.append_pair("next", next);
    }
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    let q = q.finish();
    if q.is_empty() {
        "/login".to_owned()
    } else {
        format!("/login?{q}")
    }
}

/// Sends people who are not signed in to the sign-in page (and, while no user exists
/// at all, to the one-time set-up page), keeping the link they asked for.
pub async fn guard_pages(State(state): State<AuthState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let signed_in = req
        .extensions()
        .get::<Viewer>()
        .is_some_and(|v| v.0.is_some());
    if signed_in && path != "/setup" && path != "/login" {
        return next.run(req).await;
    }
    if is_public(&path) && path != "/setup" && path != "/login" {
        return next.run(req).await;
    }
    let has_users = match users::any_user(&state.pool).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "could not count users");
            return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response();
        }
    };
    match path.as_str() {
        "/setup" if !has_users => next.run(req).await,
        "/setup" => Redirect::to(if signed_in { "/" } else { "/login" }).into_response(),
        _ if !has_users => Redirect::to("/setup").into_response(),
        "/login" if signed_in => {
            let next_path = req
                .uri()
                .query()
                .and_then(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .find(|(k, _)| k == "next")
                        .map(|(_, v)| v.into_owned())
                })
                .unwrap_or_default();
            Redirect::to(&safe_next(&next_path)).into_response()
        }
        "/login" => next.run(req).await,
        _ => {
            let wanted = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            if req.method() == Method::GET || req.method() == Method::HEAD {
                Redirect::to(&login_url(&safe_next(wanted), &[])).into_response()
            } else {
                (StatusCode::UNAUTHORIZED, "not signed in").into_response()
            }
        }
    }
}

/// Refuses state-changing requests that a browser sent from another site.
pub async fn same_origin(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    if cross_site(req.headers()) {
        tracing::warn!(path = %req.uri().path(), "refused a cross-site request");
        return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    next.run(req).await
}

fn host_of_url(u: &str) -> Option<String> {
    let parsed = url::Url::parse(u).ok()?;
    let host = parsed.host_str()?;
    Some(match parsed.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    })
}

/// True when the request carries a browser's evidence of coming from another origin.
/// Requests without any such header are not from a browser page, and carry no
/// cookie a page could have lent them.
pub fn cross_site(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(origin) = text(header::ORIGIN) {
        // "null" (sandboxed frames, file: pages) is never our own origin.
        return host.is_none() || host_of_url(origin).map(|h| h.to_ascii_lowercase()) != host;
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    if let Some(referer) = text(header::REFERER) {
        return host.is_none() || host_of_url(referer).map(|h| h.to_ascii_lowercase()) != host;
    }
    false
}

/// The content security policy of pages without their own (static files, errors).
const DEFAULT_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
    img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Security headers on every response.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_CSP),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    res
}

async fn sign_in(
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

fn server_error(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "sign-in failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "something failed on the server; see its log",
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn login(
    State(state): State<AuthState>,
    session: Session,
    req_parts: axum::http::request::Parts,
    Form(f): Form<LoginForm>,
) -> Response {
    let client = client_of(&req_parts.extensions);
    let next = safe_next(if f.next.is_empty() { "/" } else { &f.next });
    if let Some(wait) = state.throttle.wait(&f.name, &client) {
        let minutes = wait.as_secs().div_ceil(60).max(1).to_string();
        users::audit(
            &state.pool,
            None,
            "login.throttled",
            Some(&f.name),
            None,
            Some(&client),
        )
        .await;
        return Redirect::to(&login_url(
            &next,
            &[("error", "throttled"), ("wait", &minutes)],
        ))
        .into_response();
    }
    match users::authenticate(&state.pool, &f.name, &f.password).await {
        Ok(Some((user, version))) => {
            if let Err(e) = sign_in(&session, &user, version).await {
                return server_error(e);
            }
            state.throttle.succeeded(&f.name);
            users::audit(
                &state.pool,
                Some(&user.name),
                "login",
                None,
                None,
                Some(&client),
            )
            .await;
            Redirect::to(&next).into_response()
        }
        Ok(None) => {
            state.throttle.failed(&f.name, &client);
            users::audit(
                &state.pool,
                None,
                "login.failed",
                Some(&f.name),
                None,
                Some(&client),
            )
            .await;
            Redirect::to(&login_url(&next, &[("error", "invalid")])).into_response()
        }
        Err(e) => server_error(e),
    }
}

pub async fn logout(
    State(state): State<AuthState>,
    session: Session,
    req_parts: axum::http::request::Parts,
) -> Response {
    let client = client_of(&req_parts.extensions);
    if let Some(Viewer(Some(u))) = req_parts.extensions.get::<Viewer>() {
        users::audit(
            &state.pool,
            Some(&u.name),
            "logout",
            None,
            None,
            Some(&client),
        )
        .await;
    }
    if let Err(e) = session.flush().await {
        return server_error(e);
    }
    Redirect::to("/login?signed_out=1").into_response()
}

#[derive(Deserialize)]
pub struct SetupForm {
    name: String,
    password: String,
    confirm: String,
}

pub async fn setup(
    State(state): State<AuthState>,
    session: Session,
    req_parts: axum::http::request::Parts,
    Form(f): Form<SetupForm>,
) -> Response {
    let client = client_of(&req_parts.extensions);
    if f.password != f.confirm {
        return Redirect::to("/setup?error=mismatch").into_response();
    }
    match users::create_first_admin(&state.pool, f.name.trim(), &f.password).await {
        Ok(user) => {
            users::audit(
                &state.pool,
                Some(&user.name),
                "user.create",
                Some(&user.name),
                Some("role admin (first run)"),
                Some(&client),
            )
            .await;
            if let Err(e) = sign_in(&session, &user, 1).await {
                return server_error(e);
            }
            if let Err(e) = users::signed_in(&state.pool, user.id).await {
                return server_error(e);
            }
            Redirect::to("/").into_response()
        }
        Err(users::UserError::AlreadySetUp) => Redirect::to("/login").into_response(),
        Err(users::UserError::BadName) => Redirect::to("/setup?error=name").into_response(),
        Err(users::UserError::BadPassword) => Redirect::to("/setup?error=password").into_response(),
        Err(e) => server_error(e),
    }
}

/// The admin behind a form post, or the answer that refuses it.
pub fn admin_of(parts: &axum::http::request::Parts) -> Result<User, Response> {
    match parts.extensions.get::<Viewer>().and_then(|v| v.0.clone()) {
        None => Err((StatusCode::UNAUTHORIZED, "not signed in").into_response()),
        Some(u) if !u.can(Role::Admin) => {
            Err((StatusCode::FORBIDDEN, app::auth::FORBIDDEN).into_response())
        }
        Some(u) => Ok(u),
    }
}

#[derive(Deserialize)]
pub struct UserForm {
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

fn outcome(r: Result<&str, users::UserError>) -> Response {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    match r {
        Ok(done) => q.append_pair("done", done),
        Err(e) => q.append_pair("error", &e.to_string()),
    };
    Redirect::to(&format!("/admin/users?{}", q.finish())).into_response()
}

/// `POST /admin/users/{action}`: add, role, password, remove.
pub async fn manage_user(
    State(state): State<AuthState>,
    axum::extract::Path(action): axum::extract::Path<String>,
    parts: axum::http::request::Parts,
    Form(f): Form<UserForm>,
) -> Response {
    let admin = match admin_of(&parts) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let client = client_of(&parts.extensions);
    let name = f.name.trim();
    let role = Role::parse(&f.role);
    let (result, detail) = match (action.as_str(), role) {
        ("add", Some(role)) => (
            users::create(&state.pool, name, role, &f.password)
                .await
                .map(|_| "added"),
            format!("role {role}"),
        ),
        ("role", Some(role)) => (
            users::set_role(&state.pool, name, role)
                .await
                .map(|_| "role"),
            format!("role {role}"),
        ),
        ("add" | "role", None) => return (StatusCode::BAD_REQUEST, "unknown role").into_response(),
        ("password", _) => (
            users::set_password(&state.pool, name, &f.password)
                .await
                .map(|_| "password"),
            "password reset".into(),
        ),
        ("remove", _) => (
            users::remove(&state.pool, name).await.map(|_| "removed"),
            String::new(),
        ),
        _ => return (StatusCode::NOT_FOUND, "no such action").into_response(),
    };
    match &result {
        Ok(_) => {
            let action = format!("user.{action}");
            let detail = (!detail.is_empty()).then_some(detail.as_str());
            users::audit(
                &state.pool,
                Some(&admin.name),
                &action,
                Some(name),
                detail,
                Some(&client),
            )
            .await;
        }
        Err(users::UserError::Db(_) | users::UserError::Hash(_)) => {
            return server_error(result.err().map(|e| e.to_string()).unwrap_or_default());
        }
        Err(_) => {}
    }
    outcome(result)
}
