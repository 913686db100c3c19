//! Who may use the dashboard: users and their roles (`users`), signing in and out
//! (`signin`), single sign-on through an OpenID Connect provider (`oidc`), the Admin
//! page's user changes (`admin`), the `cairn user` verb (`cli`),
//! the role every handler asks for (`role`),
//! and the guards every request passes: the session's user is looked up and attached,
//! and pages ask whoever is not signed in to sign in first.
//!
//! A thin layer of our own over tower-sessions (stored in the same SQLite database):
//! the session holds the user id and the user's `auth_version`, so a password change,
//! a role change or a removal ends that user's sessions at once. axum-login would add a
//! backend trait and a second permission model for what is here one lookup per request.

pub mod admin;
pub mod cli;
pub mod oidc;
pub mod proxy;
pub mod role;
pub mod signin;
pub mod users;

pub use role::{Admin, Analyst, Anyone, Signed};
pub use signin::Throttle;

use app::auth::Viewer;
use app::error::WebError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use sqlx::SqlitePool;
use std::net::SocketAddr;
use tower_sessions::Session;

const KEY_USER: &str = "uid";
const KEY_VERSION: &str = "ver";

#[derive(Clone)]
pub struct AuthState {
    pub pool: SqlitePool,
    pub throttle: Throttle,
    /// Passwords, single sign-on, or both.
    pub sign_in: oidc::SignIn,
}

/// The client's address: the one a trusted proxy forwarded (see `proxy`), else the
/// listener's peer.
pub fn client_of(extensions: &axum::http::Extensions) -> String {
    if let Some(c) = extensions.get::<proxy::Client>() {
        return c.ip.to_string();
    }
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
                    return WebError::db_unavailable("could not look up the session's user", e)
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
        Err(e) => return WebError::db_unavailable("could not count users", e).into_response(),
    };
    // The first admin is made on /setup while nobody exists and passwords are taken.
    // With single sign-on, the sign-in page stays open instead: the provider's first
    // admin-group member can sign in.
    let setup_open = !has_users && state.sign_in.password;
    let setup_first = setup_open && state.sign_in.provider.is_none();
    match path.as_str() {
        "/setup" if setup_open => next.run(req).await,
        "/setup" => Redirect::to(if signed_in { "/" } else { "/login" }).into_response(),
        _ if setup_first => Redirect::to("/setup").into_response(),
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
                WebError::NotSignedIn.into_response()
            }
        }
    }
}

