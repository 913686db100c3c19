//! The command line: `cairn serve | import | demo | bench`.

use crate::demo::{DemoSource, DemoSpec};
use crate::ingest::{self, LocalFiles, pipeline::Summary, source};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Cairn: a self-hosted dashboard for AWS CloudTrail.
///
/// Events are kept in one SQLite database. Fill it with `cairn import` (trail log files,
/// LookupEvents output, exports) or `cairn demo`, then browse it with `cairn serve`.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, propagate_version = true)]
pub struct Cli {
    /// The SQLite database (created if missing).
    #[arg(
        long,
        global = true,
        env = "CAIRN_DB",
        default_value = "./data/cairn.db"
    )]
    pub db: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the dashboard (runs migrations first).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "CAIRN_ADDR", default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        /// Folder with the built site (pkg/cairn.js, pkg/cairn_bg.wasm, pkg/cairn.css).
        /// Found next to the binary when not given.
        #[arg(long, env = "CAIRN_SITE")]
        site: Option<PathBuf>,
    },
    /// Import CloudTrail files or folders (recursively).
    ///
    /// Reads `.json` and `.json.gz` (gzip is detected by content), the `{"Records":[...]}`
    /// envelope, bare arrays of records, one record per line, and `LookupEvents` responses.
    /// Files already imported and unchanged are skipped; events already present are not
    /// stored twice. Exit status: 0 all went in, 1 some input was rejected (the rest was
    /// imported), 2 usage or fatal error.
    Import {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
        /// Decoder threads (default: the number of cores, at most 4).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Generate realistic demo events ending now and import them.
    Demo {
        /// Events to generate (planted incidents come on top).
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Days the events span.
        #[arg(long, default_value_t = 14)]
        days: u32,
        /// Seed: the same seed, size and end time give the same events.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Measure import speed and storage size on generated delivery files.
    Bench {
        /// Events to generate.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Days the events span.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Where the generated files are kept between runs.
        #[arg(long)]
        files: Option<PathBuf>,
    },
}

/// Runs one command; `Err` is a fatal error (exit status 2).
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { addr, site } => {
            let pool = crate::db::connect(&cli.db).await?;
            let site = match site {
                Some(s) => s,
                None => crate::web::find_site()
                    .context("cannot find the built site; pass --site DIR")?,
            };
            crate::web::serve(pool, addr, site).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Import {
            paths,
            json,
            threads,
        } => {
            for p in &paths {
                if !p.exists() {
                    eprintln!("error: {}: no such file or folder", p.display());
                    return Ok(ExitCode::from(2));
                }
            }
            let pool = crate::db::connect(&cli.db).await?;
            let (jobs, walk_errors) = source::walk(&paths);
            let mut opts = ingest::Options {
                progress: !json && std::io::stderr().is_terminal(),
                ..Default::default()
            };
            if let Some(t) = threads {
                opts.threads = t.max(1);
            }
            let mut summary = ingest::run(&pool, Arc::new(LocalFiles), jobs, opts).await?;
            for w in walk_errors {
                summary.files_rejected.push(ingest::pipeline::FileProblem {
                    path: w.path,
                    error: w.error,
                });
            }
            if json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                print_summary(&summary);
            }
            pool.close().await;
            Ok(if summary.clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Demo { events, days, seed } => {
            let pool = crate::db::connect(&cli.db).await?;
            // Ends at the last full minute, so a rerun within a minute changes nothing.
            let end_ms = chrono::Utc::now().timestamp_millis() / 60_000 * 60_000;
            let spec = DemoSpec::new(events, days, seed, end_ms);
            let jobs = spec.jobs();
            let opts = ingest::Options {
                progress: std::io::stderr().is_terminal(),
                ..Default::default()
            };
            let summary = ingest::run(&pool, Arc::new(DemoSource(spec)), jobs, opts).await?;
            print_summary(&summary);
            pool.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            events,
            days,
            files,
        } => {
            crate::bench::run(events, days, files).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn print_summary(s: &Summary) {
    let rate = if s.seconds > 0.0 {
        (s.events_new + s.events_duplicate) as f64 / s.seconds
    } else {
        0.0
    };
    println!(
        "{} files read: {} new events, {} already present, {} records rejected, {} files rejected ({:.1} s, {:.0} events/s)",
        s.files,
        s.events_new,
        s.events_duplicate,
        s.records_rejected,
        s.files_rejected.len(),
        s.seconds,
        rate
    );
    if s.files_unchanged > 0 {
        println!(
            "{} files unchanged since they were imported: skipped",
            s.files_unchanged
        );
    }
    if s.files_digest > 0 {
        println!(
            "{} log-file-integrity digest files: skipped (they hold no events)",
            s.files_digest
        );
    }
    for f in &s.files_rejected {
        println!("rejected file {}: {}", f.path, f.error);
    }
    for r in &s.rejected_records {
        println!(
            "rejected record {} #{} (byte {}): {}",
            r.path, r.position, r.offset, r.error
        );
    }
    if (s.rejected_records.len() as u64) < s.records_rejected {
        println!(
            "... and {} more rejected records",
            s.records_rejected - s.rejected_records.len() as u64
        );
    }
}
