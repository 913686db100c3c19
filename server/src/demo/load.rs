//! `cairn bench --load`: many analysts at once. Starts `cairn serve` on the database at
//! hand (on loopback, a port of its own), signs a viewer in, and has `connections`
//! clients cycle the all-time views a team opens during an incident for `seconds`;
//! prints requests per second, the median and 99th percentile latency, errors, and the
//! server's peak resident memory.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The longest a run may last, and the most connections it may open.
pub const MAX_SECONDS: u64 = 600;
pub const MAX_CONNECTIONS: usize = 256;

pub struct LoadOptions {
    pub connections: usize,
    pub seconds: u64,
    /// Paths (with their query) to cycle instead of the usual views.
    pub views: Vec<String>,
}

/// The views each client cycles through, all time: the timeline, a search, the busiest
/// principal and resource, the failures, one event name.
async fn views(pool: &sqlx::SqlitePool) -> anyhow::Result<Vec<String>> {
    use app::query::{EventQuery, Field, Preset, TimeRange};
    let all = EventQuery::default().with_range(TimeRange::Preset(Preset::All));
    let principal: Option<String> = sqlx::query_scalar(
        "SELECT key FROM principals WHERE kind IN ('IAMUser', 'Role') ORDER BY events DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    let resource: Option<String> = sqlx::query_scalar(
        "SELECT r.arn FROM rollup_day d JOIN resources r ON r.id = d.value WHERE d.dim = ?1
         GROUP BY d.value ORDER BY sum(d.events) DESC LIMIT 1",
    )
    .bind(app::schema::Dim::Resource as u8)
    .fetch_optional(pool)
    .await?;
    let mut out = vec![
        format!("/?{}", all.to_query()),
        format!("/?{}", all.with_text(Some("admin".into())).to_query()),
        format!("/?{}", all.with_filter(Field::Error, "*", false).to_query()),
        format!("/?{}", all.with_filter(Field::Name, "GetObject", false).to_query()),
    ];
    if let Some(p) = principal {
        out.push(format!("{}?{}", app::fmt::principal_href(&p), all.to_query()));
    }
    if let Some(r) = resource {
        out.push(format!("{}?{}", app::fmt::resource_href(&r), all.to_query()));
    }
    Ok(out)
}

/// A free port on loopback.
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Resident and peak resident memory of process `pid` (Linux).
fn rss(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Stops the server when the run ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn run(db: &Path, opts: LoadOptions) -> anyhow::Result<()> {
    let connections = opts.connections.clamp(1, MAX_CONNECTIONS);
    let seconds = opts.seconds.clamp(1, MAX_SECONDS);
    let pool = crate::db::connect(db).await?;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await?;
    let views = if opts.views.is_empty() {
        views(&pool).await?
    } else {
        opts.views.iter().map(|v| if v.starts_with('/') { v.clone() } else { format!("/{v}") }).collect()
    };
    // A viewer of its own, with a password made for this run.
    let name = "bench-load";
    let password = format!("{:032x}", rand::random::<u128>());
    let line = app::db::audit::AuditLine::new(None, "user.bench", "cli").target(name);
    let _ = crate::access::users::remove(&pool, name, &line).await;
    crate::access::users::create(&pool, name, app::auth::Role::Viewer, &password, &line).await?;
    pool.close().await;

    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let site: PathBuf = std::env::temp_dir().join(format!("cairn-load-site-{}", std::process::id()));
    std::fs::create_dir_all(&site)?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .arg("--db")
        .arg(db)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--sync-every", "0", "--site"])
        .arg(&site)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("starting cairn serve")?;
    let child = Child(child);
    let pid = child.0.id();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(60))
        .build()?;
    let started = Instant::now();
    loop {
        if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            anyhow::bail!("the server did not answer on {base} within a minute");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let login = client
        .post(format!("{base}/auth/login"))
        .header("origin", &base)
        .form(&[("name", name), ("password", password.as_str())])
        .send()
        .await?;
    let cookie = login
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    if cookie.is_empty() {
        anyhow::bail!("signing in gave no session (HTTP {})", login.status());
    }
    let (rss_idle, _) = rss(pid).unwrap_or((0, 0));
    eprintln!(
        "cairn bench --load: {events} events, {connections} connections for {seconds} s over {} views",
        views.len()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let peak = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut peak = 0u64;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss(pid).map_or(0, |(now, _)| now));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        })
    };
    let views = Arc::new(views);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (client, views, cookie, base) = (client.clone(), views.clone(), cookie.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<f64> = Vec::new();
            let mut errors: Vec<String> = Vec::new();
            let mut i = c;
            while Instant::now() < deadline {
                let url = format!("{base}{}", views[i % views.len()]);
                i += 1;
                let t = Instant::now();
                let result = client.get(&url).header("cookie", &cookie).send().await;
                let outcome = match result {
                    Ok(r) if r.status().is_success() => r.bytes().await.map(|_| ()).map_err(|e| e.to_string()),
                    Ok(r) => Err(format!("HTTP {} on {url}", r.status())),
                    Err(e) => Err(e.to_string()),
                };
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                if let Err(e) = outcome {
                    errors.push(e);
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for t in tasks {
        let (l, e) = t.await?;
        latencies.extend(l);
        errors.extend(e);
    }
    let ran = seconds as f64;
    stop.store(true, Ordering::Relaxed);
    let peak_sampled = peak.await.unwrap_or(0);
    let (_, hwm) = rss(pid).unwrap_or((0, 0));
    drop(child);
    let _ = std::fs::remove_dir_all(&site);
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    println!("  requests          {} in {ran:.0} s ({:.1} a second)", latencies.len(), latencies.len() as f64 / ran);
    println!("  latency           p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms", pct(0.5), pct(0.99), pct(1.0));
    println!("  errors            {}", errors.len());
    for e in errors.iter().take(5) {
        println!("    {e}");
    }
    println!(
        "  server memory     {:.0} MiB idle, {:.0} MiB at most (resident)",
        rss_idle as f64 / 1048576.0,
        hwm.max(peak_sampled) as f64 / 1048576.0
    );
    // The run's user goes again.
    let pool = crate::db::connect(db).await?;
    let _ = crate::access::users::remove(&pool, name, &line).await;
    pool.close().await;
    Ok(())
}
