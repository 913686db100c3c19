//! `cairn demo` and `cairn bench`: generated events into a database, and the benchmark.

use crate::demo::{DemoSource, DemoSpec};
use crate::ingest;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Generates `events` demo events over `days` ending now, and imports them.
/// With `json`, the import summary is printed as one JSON object.
pub async fn demo(
    db: &Path,
    events: u64,
    days: u32,
    seed: u64,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let pool = crate::db::connect(db).await?;
    // Ends at the last full minute, so a rerun within a minute changes nothing.
    let end_ms = chrono::Utc::now().timestamp_millis() / 60_000 * 60_000;
    let spec = DemoSpec::new(events, days, seed, end_ms);
    let jobs = spec.jobs();
    let opts = ingest::Options {
        progress: !json && std::io::stderr().is_terminal(),
        ..Default::default()
    };
    let summary = ingest::run(&pool, Arc::new(DemoSource(spec)), jobs, opts).await?;
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        ingest::cli::print_summary(&summary);
    }
    pool.close().await;
    Ok(ExitCode::SUCCESS)
}

/// The benchmark: an import of generated files and the pages, or (`pages`) the pages
/// alone on the database at `db`.
pub async fn bench(
    db: &Path,
    events: u64,
    days: u32,
    files: Option<PathBuf>,
    pages: bool,
    opts: super::bench::BenchOptions,
) -> anyhow::Result<ExitCode> {
    if pages {
        super::bench::pages(db).await?;
    } else {
        super::bench::run(events, days, files, opts).await?;
    }
    Ok(ExitCode::SUCCESS)
}
