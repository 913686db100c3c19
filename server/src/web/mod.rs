//! The web server: the router of Leptos pages, server functions and each area's form
//! posts over one shared state, the guards every request passes, canonical view links,
//! `/healthz` and `/metrics`. Security headers are in `security`, downloads in `export`.

pub mod export;
pub mod hedge;
pub mod security;

use app::error::WebError;
use crate::access::{self, AuthState, Throttle};
use anyhow::Context;
use app::db::Db;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, State};
use axum::http::Request;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list, handle_server_fns_with_context};
use sqlx::SqlitePool;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything a request needs, passed to both the page renderer and the server functions.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub pool: SqlitePool,
    pub cache: app::cache::PageCache,
    pub auth: AuthState,
    pub retention: app::db::retention::Policy,
    pub sign_in: app::auth::SignInOptions,
}

/// How sessions behave.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Mark the session cookie `Secure` (set when Cairn is reached over HTTPS).
    pub secure_cookies: bool,
    /// A session ends after this long without a request.
    pub session_idle: std::time::Duration,
    /// Seals the secrets of sources added from the sources page (none: that page
    /// cannot add or sync sources).
    pub secrets: Option<crate::sync::secrets::SecretBox>,
    /// The dashboard's address as people reach it, for links in alerts.
    pub public_url: Option<String>,
    /// The reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
    pub trusted_proxies: access::proxy::TrustedProxies,
    /// Days events are kept (`None`: for ever), shown on the Sources page.
    pub retain_days: Option<u32>,
    /// Passwords, single sign-on, or both.
    pub sign_in: access::oidc::SignIn,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            secure_cookies: false,
            session_idle: std::time::Duration::from_secs(8 * 3600),
            secrets: None,
            public_url: None,
            trusted_proxies: Default::default(),
            retain_days: None,
            sign_in: Default::default(),
        }
    }
}

/// The built site next to the binary: `target/release/cairn` → `target/site`.
pub fn find_site() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    let candidates = [
        dir.join("../site"),
        dir.join("site"),
        PathBuf::from("target/site"),
    ];
    candidates
        .into_iter()
        .find(|c| c.join("pkg").is_dir())
        .map(|c| c.canonicalize().unwrap_or(c))
}

async fn server_fn_handler(State(state): State<AppState>, req: Request<Body>) -> impl IntoResponse {
    let (pool, cache, retention) = (state.pool.clone(), state.cache.clone(), state.retention);
    let sign_in = state.sign_in.clone();
    handle_server_fns_with_context(
        move || provide_contexts(&pool, &cache, retention, &sign_in),
        req,
    )
    .await
}

/// What pages and server functions find in their context: the database, the cache of
/// what pages read, how long events are kept, how people sign in, and the back-tests of
/// the rule pages.
fn provide_contexts(
    pool: &SqlitePool,
    cache: &app::cache::PageCache,
    retention: app::db::retention::Policy,
    sign_in: &app::auth::SignInOptions,
) {
    provide_context(Db(pool.clone()));
    provide_context(cache.clone());
    provide_context(retention);
    provide_context(sign_in.clone());
    provide_context(crate::detections::web::back_tester(pool.clone()));
}

/// `/metrics` for Prometheus. With `CAIRN_METRICS_TOKEN` set, only a request with
/// `Authorization: Bearer <token>` gets them.
async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    if let Some(token) = std::env::var("CAIRN_METRICS_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
    {
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return WebError::NeedsToken.into_response();
        }
    }
    let now = chrono::Utc::now().timestamp_millis();
    match crate::sync::metrics::render(&state.pool, now).await {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => WebError::db_unavailable("metrics failed", e).into_response(),
    }
}

/// Pages whose query string is an event view (see `app::query`).
fn is_view_page(path: &str) -> bool {
    path == "/"
        || ["/principals/", "/resources/", "/ips/", "/access-keys/"]
            .iter()
            .any(|p| path.starts_with(p))
}

/// Sends a view page asked for with a non-canonical query (what a GET form sends
/// without JavaScript: empty fields, repeats, a time to jump to) to its canonical URL,
/// so what lands in the address bar and in shared links is the clean form.
async fn canonical_urls(req: Request<Body>, next: axum::middleware::Next) -> axum::response::Response {
    if req.method() == axum::http::Method::GET && is_view_page(req.uri().path()) {
        if let Some(canonical) = req.uri().query().and_then(app::query::EventQuery::canonical_of) {
            let path = req.uri().path();
            let to = if canonical.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{canonical}")
            };
            return axum::response::Redirect::to(&to).into_response();
        }
    }
    next.run(req).await
}

async fn healthz(State(state): State<AppState>) -> Result<&'static str, WebError> {
    sqlx::query_scalar::<_, i64>("SELECT 1")
        .fetch_one(&state.pool)
        .await
        .map_err(|e| WebError::db_unavailable("health check failed", e))?;
    Ok("ok")
}

/// Builds the router (also used by the integration tests). Creates the session table
/// when missing; expired sessions are deleted in the background.
pub async fn router(
    pool: SqlitePool,
    addr: SocketAddr,
    site: &Path,
    config: &WebConfig,
) -> anyhow::Result<Router> {
    use tower_sessions::session_store::ExpiredDeletion;
    let leptos_options = LeptosOptions::builder()
        .output_name("cairn")
        .site_root(site.display().to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .env(leptos::config::Env::PROD)
        .build();
    let store = tower_sessions_sqlx_store::SqliteStore::new(pool.clone());
    store
        .migrate()
        .await
        .context("creating the session table")?;
    tokio::spawn(
        store
            .clone()
            .continuously_delete_expired(tokio::time::Duration::from_secs(600)),
    );
    let idle = time::Duration::seconds(
        i64::try_from(config.session_idle.as_secs())
            .unwrap_or(i64::MAX)
            .max(60),
    );
    let sessions = tower_sessions::SessionManagerLayer::new(store)
        .with_name("cairn_session")
        .with_http_only(true)
        .with_same_site(tower_sessions::cookie::SameSite::Lax)
        .with_secure(config.secure_cookies)
        .with_expiry(tower_sessions::Expiry::OnInactivity(idle));
    let auth_state = AuthState {
        pool: pool.clone(),
        throttle: Throttle::default(),
        sign_in: config.sign_in.clone(),
    };
    let state = AppState {
        leptos_options,
        cache: app::cache::PageCache::new(&pool),
        pool,
        auth: auth_state.clone(),
        retention: app::db::retention::Policy(config.retain_days),
        sign_in: config.sign_in.options(),
    };
    let routes = generate_route_list(app::App);
    let ctx_pool = state.pool.clone();
    let ctx_cache = state.cache.clone();
    let ctx_retention = state.retention;
    let ctx_sign_in = state.sign_in.clone();
    let shell_options = state.leptos_options.clone();
    // Layers listed last run first: trace, the client's address, headers, same-origin
    // check, session, user, page guard, open findings, canonical URLs, a second render
    // for a page still rendering after `hedge::STALL`, then the route.
    Ok(Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/auth/login", post(access::signin::login))
        .route("/auth/logout", post(access::signin::logout))
        .route("/auth/setup", post(access::signin::setup))
        .route("/auth/oidc/start", get(access::oidc::start))
        .route("/auth/oidc/callback", get(access::oidc::callback))
        .route("/admin/users/{action}", post(access::admin::manage_user))
        .route(
            "/admin/source-actions/{action}",
            post(crate::sync::web::manage_source).with_state(crate::sync::web::SourcesState {
                pool: state.pool.clone(),
                secrets: config.secrets.clone(),
            }),
        )
        .route(
            "/admin/trail-actions/apply",
            post(crate::trails::change::apply).with_state(crate::sync::web::SourcesState {
                pool: state.pool.clone(),
                secrets: config.secrets.clone(),
            }),
        )
        .route(
            "/admin/alert-actions/{action}",
            post(crate::alerts::web::manage_alert).with_state(crate::alerts::web::AlertsState {
                pool: state.pool.clone(),
                secrets: config.secrets.clone(),
                public_url: config.public_url.clone(),
            }),
        )
        .route("/admin/prices", post(crate::trails::web::set_price))
        .route("/export/{file}", get(crate::web::export::export))
        .route("/export/top/{file}", get(crate::web::export::export_top))
        .route(
            "/investigations/new",
            post(crate::investigations::create_form),
        )
        .route(
            "/investigations/{id}/edit",
            post(crate::investigations::edit_form),
        )
        .route(
            "/investigations/{id}/view",
            post(crate::investigations::view_form),
        )
        .route(
            "/investigations/pin",
            post(crate::investigations::pin_handler),
        )
        .route(
            "/investigations/unpin",
            post(crate::investigations::unpin_handler),
        )
        .route(
            "/findings/{id}/update",
            post(crate::detections::web::finding_form),
        )
        .route("/incidents/{id}/update", post(crate::incidents::update_form))
        .route(
            "/incidents/{id}/{file}",
            get(crate::incidents::report).with_state(crate::incidents::ReportState {
                pool: state.pool.clone(),
                public_url: config.public_url.clone(),
            }),
        )
        .route("/rule-actions/save", post(crate::detections::web::rule_form))
        .route("/rules/{id}/enable", post(crate::detections::web::enable_form))
        .route("/rules/{id}/suppress", post(crate::detections::web::suppress_form))
        .route(
            "/rules/{id}/unsuppress",
            post(crate::detections::web::unsuppress_form),
        )
        .route(
            "/api/{*fn_name}",
            get(server_fn_handler).post(server_fn_handler),
        )
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_contexts(&ctx_pool, &ctx_cache, ctx_retention, &ctx_sign_in),
            move || app::shell(shell_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(axum::middleware::from_fn(hedge::pages))
        .layer(axum::middleware::from_fn(canonical_urls))
        .layer(from_fn_with_state(
            state.pool.clone(),
            crate::detections::web::open_findings,
        ))
        .layer(from_fn_with_state(auth_state.clone(), access::guard_pages))
        .layer(from_fn_with_state(auth_state, access::resolve_viewer))
        .layer(sessions)
        .layer(axum::middleware::from_fn(security::same_origin))
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::middleware::from_fn(security::security_headers))
        .layer(from_fn_with_state(
            config.trusted_proxies.clone(),
            access::proxy::client_address,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state))
}

/// Ctrl-C, or the SIGTERM a service manager stops a service with.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("stopping: finishing the requests under way");
}

pub async fn serve(
    pool: SqlitePool,
    addr: SocketAddr,
    site: PathBuf,
    config: WebConfig,
) -> anyhow::Result<()> {
    let app = router(pool, addr, &site, &config).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(
        "serving the dashboard on http://{addr} (site files in {})",
        site.display()
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop_signal())
    .await?;
    Ok(())
}
