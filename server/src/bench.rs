//! `cairn bench`: the import benchmark. Generates gzipped delivery files (kept between
//! runs), imports them into a fresh database and prints figures to compare between
//! commits: events/s, peak memory, bytes per event.

use crate::demo::DemoSpec;
use crate::ingest::{self, LocalFiles, source};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// A fixed end time so the generated files are the same on every run.
const BENCH_END_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn dir_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Peak resident memory of this process, from /proc (Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub async fn run(events: u64, days: u32, files: Option<PathBuf>) -> anyhow::Result<()> {
    let spec = DemoSpec::new(events, days, 1, BENCH_END_MS);
    let files =
        files.unwrap_or_else(|| std::env::temp_dir().join(format!("cairn-bench-{events}-{days}")));
    let marker = files.join(".complete");
    if !marker.exists() {
        eprintln!(
            "generating {} delivery files with {events} events in {}",
            spec.files(),
            files.display()
        );
        let t = Instant::now();
        let bytes = spec
            .write_files(&files)
            .context("writing benchmark files")?;
        std::fs::write(&marker, b"")?;
        eprintln!(
            "generated {:.1} MiB of gzip in {:.1} s",
            bytes as f64 / 1048576.0,
            t.elapsed().as_secs_f64()
        );
    }
    let db_dir = std::env::temp_dir().join(format!("cairn-bench-db-{}", std::process::id()));
    std::fs::create_dir_all(&db_dir)?;
    let db_path = db_dir.join("bench.db");
    let pool = crate::db::connect(&db_path).await?;
    let (jobs, _) = source::walk(std::slice::from_ref(&files));
    let input_bytes = dir_bytes(&files);
    let start = Instant::now();
    let summary = ingest::run(
        &pool,
        Arc::new(LocalFiles),
        jobs,
        ingest::Options::default(),
    )
    .await?;
    let secs = start.elapsed().as_secs_f64();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await?;
    // Peak memory of the import alone (the page queries below add the readers' caches).
    let import_peak = peak_rss_bytes().unwrap_or(0);
    let timings = time_pages(&pool).await?;
    pool.close().await;
    let db_bytes = dir_bytes(&db_dir);
    let stored = summary.events_new.max(1);
    println!(
        "cairn bench: {} files, {:.1} MiB gzip in",
        summary.files,
        input_bytes as f64 / 1048576.0
    );
    println!("  events imported   {}", summary.events_new);
    println!("  import time       {secs:.2} s");
    println!(
        "  events/s          {:.0}",
        summary.events_new as f64 / secs
    );
    println!(
        "  peak memory       {:.0} MiB (import), {:.0} MiB (with the page queries)",
        import_peak as f64 / 1048576.0,
        peak_rss_bytes().unwrap_or(0) as f64 / 1048576.0
    );
    println!("  database          {:.1} MiB", db_bytes as f64 / 1048576.0);
    println!("  bytes/event       {:.0}", db_bytes as f64 / stored as f64);
    println!("  page queries (median of 5, server side):");
    for (what, ms) in timings {
        println!("    {what:<52} {ms:>8.1} ms");
    }
    let _ = std::fs::remove_dir_all(&db_dir);
    Ok(())
}

/// Times what each page asks of the database (server side, median of 5), on whatever
/// the database at hand holds: unfiltered and filtered timelines over several ranges,
/// the next page, an event, a principal (a busy role and a session), a resource.
pub async fn time_pages(pool: &sqlx::SqlitePool) -> anyhow::Result<Vec<(String, f64)>> {
    use app::db::events;
    use app::pages::{principal, resource, timeline};
    use app::query::EventQuery;
    let store = events::store_info(pool).await?;
    let now = store.newest_ms.unwrap_or(BENCH_END_MS);
    let top_principal: Option<String> = sqlx::query_scalar(
        "SELECT key FROM principals WHERE kind IN ('IAMUser', 'Role') ORDER BY events DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    let session: Option<String> = sqlx::query_scalar(
        "SELECT key FROM principals WHERE kind = 'AssumedRole' ORDER BY events DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    let top_resource: Option<String> = sqlx::query_scalar(
        "SELECT r.arn FROM rollup_hour h JOIN resources r ON r.id = h.value WHERE h.dim = 3
         GROUP BY h.value ORDER BY sum(h.events) DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    let mut out = Vec::new();
    let mut views: Vec<(String, String)> = Vec::new();
    for r in ["range=24h", "range=7d", "range=30d", "range=all"] {
        views.push((format!("timeline {r}"), r.to_string()));
    }
    for f in [
        "event=ConsoleLogin",
        "error=*",
        "access=write",
        "q=admin",
        "q=ReadOnlyAccess",
        "q=password",
        "q=185.220.101.7",
    ] {
        for r in ["range=24h", "range=all"] {
            views.push((format!("timeline {r}&{f}"), format!("{r}&{f}")));
        }
    }
    if let Some(p) = &top_principal {
        views.push((
            "timeline range=all&principal=<top>".into(),
            EventQuery::default()
                .with_range(app::query::TimeRange::Preset(app::query::Preset::All))
                .with_filter(app::query::Field::Principal, p, false)
                .to_query(),
        ));
    }
    for (what, q) in &views {
        let query = EventQuery::parse(q);
        let mut samples = Vec::new();
        let mut next = None;
        for _ in 0..5 {
            let t = Instant::now();
            let tl = timeline::timeline(pool, &query, now).await?;
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
            next = tl.next_cursor;
        }
        out.push((what.clone(), median(&mut samples)));
        if what == "timeline range=all" {
            if let Some(c) = next {
                let q2 = query.with_cursor(Some(c));
                let mut samples = Vec::new();
                for _ in 0..5 {
                    let t = Instant::now();
                    timeline::timeline(pool, &q2, now).await?;
                    samples.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                out.push(("timeline range=all, page 2".into(), median(&mut samples)));
                let mut samples = Vec::new();
                for _ in 0..5 {
                    let t = Instant::now();
                    events::detail(pool, c)
                        .await
                        .map_err(|e| anyhow::anyhow!(e))?;
                    samples.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                out.push(("event page".into(), median(&mut samples)));
            }
        }
    }
    let mut pages: Vec<(String, &str, String)> = Vec::new();
    for (label, key) in [
        ("busiest user/role", &top_principal),
        ("busiest session", &session),
    ] {
        if let Some(k) = key {
            for r in ["range=24h", "range=all"] {
                pages.push((format!("principal ({label}) {r}"), "p", format!("{k}\n{r}")));
            }
        }
    }
    if let Some(arn) = &top_resource {
        for r in ["range=24h", "range=all"] {
            pages.push((
                format!("resource (busiest) {r}"),
                "r",
                format!("{arn}\n{r}"),
            ));
        }
    }
    for (what, kind, arg) in pages {
        let (key, q) = arg.split_once('\n').unwrap_or((&arg, ""));
        let query = EventQuery::parse(q);
        let mut samples = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            if kind == "p" {
                principal::principal_view(pool, key, &query, now)
                    .await
                    .map_err(|e| anyhow::anyhow!(e))?;
            } else {
                resource::resource_view(pool, key, &query, now).await?;
            }
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        out.push((what, median(&mut samples)));
    }
    Ok(out)
}

/// `cairn bench --pages`: page timings on an existing database.
pub async fn pages(db: &Path) -> anyhow::Result<()> {
    let pool = crate::db::connect(db).await?;
    let store = app::db::events::store_info(&pool).await?;
    println!(
        "cairn bench --pages: {} events in {}",
        store.events,
        db.display()
    );
    println!("  page queries (median of 5, server side):");
    for (what, ms) in time_pages(&pool).await? {
        println!("    {what:<52} {ms:>8.1} ms");
    }
    pool.close().await;
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
