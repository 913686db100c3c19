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
    let timings = time_queries(&pool).await?;
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
        "  peak memory       {:.0} MiB",
        peak_rss_bytes().unwrap_or(0) as f64 / 1048576.0
    );
    println!("  database          {:.1} MiB", db_bytes as f64 / 1048576.0);
    println!("  bytes/event       {:.0}", db_bytes as f64 / stored as f64);
    println!("  timeline queries (median of 5, server side):");
    for (what, ms) in timings {
        println!("    {what:<28} {ms:>8.2} ms");
    }
    let _ = std::fs::remove_dir_all(&db_dir);
    Ok(())
}

/// Times what the timeline page and the event page ask of the database.
async fn time_queries(pool: &sqlx::SqlitePool) -> anyhow::Result<Vec<(String, f64)>> {
    use app::db::events;
    use app::query::{Preset, TimeRange, TimelineQuery, bucket_for};
    let mut out = Vec::new();
    let store = events::store_info(pool).await?;
    let now = store.newest_ms.unwrap_or(BENCH_END_MS);
    for preset in [Preset::Day, Preset::Week, Preset::Month, Preset::All] {
        let q = TimelineQuery {
            range: TimeRange::Preset(preset),
            before: None,
        };
        let mut samples = Vec::new();
        let mut cursor = None;
        for _ in 0..5 {
            let t = Instant::now();
            let store = events::store_info(pool).await?;
            let range = q.resolve(now, &store);
            let bucket = bucket_for(range.to_ms - range.from_ms);
            events::totals(pool, &range).await?;
            events::histogram(pool, &range, bucket).await?;
            let (_, next) = events::list(pool, &range, None).await?;
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
            cursor = next;
        }
        out.push((format!("timeline {}", preset.key()), median(&mut samples)));
        if preset == Preset::All {
            let mut samples = Vec::new();
            let range = q.resolve(now, &store);
            for _ in 0..5 {
                let t = Instant::now();
                events::list(pool, &range, cursor).await?;
                samples.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            out.push(("timeline all, page 2".into(), median(&mut samples)));
            if let Some(id) = cursor {
                let mut samples = Vec::new();
                for _ in 0..5 {
                    let t = Instant::now();
                    events::detail(pool, id)
                        .await
                        .map_err(|e| anyhow::anyhow!(e))?;
                    samples.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                out.push(("event page".into(), median(&mut samples)));
            }
        }
    }
    Ok(out)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
