//! `cairn serve`: the dashboard, with syncing, alert delivery and the search index's
//! backfill in the background.

use anyhow::Context;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// How `cairn serve` was asked to run.
pub struct ServeArgs {
    pub addr: SocketAddr,
    pub site: Option<PathBuf>,
    pub secure_cookies: bool,
    pub trusted_proxies: Option<String>,
    pub retain_days: Option<u32>,
    pub session_idle_hours: f64,
    pub sync_every: u64,
    pub public_url: Option<String>,
    pub alert_poll_seconds: f64,
    pub sign_in: crate::access::oidc::SignInArgs,
}

pub async fn serve(db: &Path, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let ServeArgs {
        addr,
        site,
        secure_cookies,
        trusted_proxies,
        retain_days,
        session_idle_hours,
        sync_every,
        public_url,
        alert_poll_seconds,
        sign_in,
    } = args;

    if !(session_idle_hours.is_finite() && session_idle_hours > 0.0) {
        anyhow::bail!("--session-idle-hours must be a positive number");
    }
    if !(alert_poll_seconds.is_finite() && (0.1..=3600.0).contains(&alert_poll_seconds)) {
        anyhow::bail!("--alert-poll-seconds must be between 0.1 and 3600");
    }
    if let Some(u) = &public_url {
        if !(u.starts_with("https://") || u.starts_with("http://")) {
            anyhow::bail!("--public-url must be an http or https address");
        }
    }
    let trusted_proxies =
        crate::access::proxy::TrustedProxies::parse(trusted_proxies.as_deref().unwrap_or(""))?;
    let sign_in = sign_in.settings(public_url.as_deref())?;
    let secrets = crate::sync::secrets::SecretBox::for_db(db)?;
    let config = crate::web::WebConfig {
        secure_cookies,
        session_idle: std::time::Duration::from_secs_f64((session_idle_hours * 3600.0).min(1e9)),
        secrets: Some(secrets.clone()),
        public_url: public_url.clone(),
        trusted_proxies,
        retain_days,
        sign_in,
    };
    let pool = crate::db::connect(db).await?;
    if let Some(provider) = config.sign_in.provider.clone() {
        tokio::spawn(async move { provider.discover().await });
    }
    // Events stored before the search index existed are indexed in the background.
    let db_path = db.to_path_buf();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = crate::ingest::search_index::backfill(&db_path) {
            tracing::error!(error = %e, "indexing older events for search failed");
        }
    });
    // Old events go as `--retain-days` and the sources' own periods say.
    tokio::spawn(crate::maintenance::retention::run_forever(pool.clone(), db.to_path_buf(), retain_days));
    // New findings go to the alert destinations from the outbox, whoever made them.
    let tuning = crate::alerts::Tuning {
        poll: std::time::Duration::from_secs_f64(alert_poll_seconds),
        ..Default::default()
    };
    let dispatcher = crate::alerts::Dispatcher::new(pool.clone(), secrets.clone(), public_url, tuning)?;
    tokio::spawn(dispatcher.run_forever());
    if sync_every > 0 {
        tokio::spawn(crate::sync::run_forever(
            pool.clone(),
            secrets,
            None,
            sync_every,
        ));
    }
    // `cargo leptos watch` says where it put the site it builds.
    let site = match site.or_else(|| std::env::var_os("LEPTOS_SITE_ROOT").map(PathBuf::from)) {
        Some(s) => s,
        None => crate::web::find_site().context("cannot find the built site; pass --site DIR")?,
    };
    crate::web::serve(pool, addr, site, config).await?;
    Ok(ExitCode::SUCCESS)
}
