//! The web server: Leptos pages and server functions over one shared state.

use anyhow::Context;
use app::db::Db;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, State};
use axum::http::Request;
use axum::response::IntoResponse;
use axum::routing::get;
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
    let pool = state.pool.clone();
    handle_server_fns_with_context(move || provide_context(Db(pool.clone())), req).await
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match sqlx::query_scalar::<_, i64>("SELECT 1")
        .fetch_one(&state.pool)
        .await
    {
        Ok(_) => (axum::http::StatusCode::OK, "ok"),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable",
            )
        }
    }
}

/// Builds the router (also used by the integration tests).
pub fn router(pool: SqlitePool, addr: SocketAddr, site: &Path) -> Router {
    let leptos_options = LeptosOptions::builder()
        .output_name("cairn")
        .site_root(site.display().to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .env(leptos::config::Env::PROD)
        .build();
    let state = AppState {
        leptos_options,
        pool,
    };
    let routes = generate_route_list(app::App);
    let ctx_pool = state.pool.clone();
    let shell_options = state.leptos_options.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/api/{*fn_name}",
            get(server_fn_handler).post(server_fn_handler),
        )
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(Db(ctx_pool.clone())),
            move || app::shell(shell_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

pub async fn serve(pool: SqlitePool, addr: SocketAddr, site: PathBuf) -> anyhow::Result<()> {
    let app = router(pool, addr, &site);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(
        "serving the dashboard on http://{addr} (site files in {})",
        site.display()
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
