//! `cairn import PATH...`: files and folders from disk through the ingest pipeline, and
//! the summary it prints.

use crate::ingest::{self, LocalFiles, pipeline::Summary, source};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Imports `paths` (files or folders); exit status 0 when all went in, 1 when some input
/// was rejected (the rest went in), 2 when a path does not exist.
pub async fn import(
    db: &Path,
    paths: &[PathBuf],
    json: bool,
    threads: Option<usize>,
) -> anyhow::Result<ExitCode> {
    for p in paths {
        if !p.exists() {
            eprintln!("error: {}: no such file or folder", p.display());
            return Ok(ExitCode::from(2));
        }
    }
    let pool = crate::db::connect(db).await?;
    let (jobs, walk_errors) = source::walk(paths);
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
    let sh = &s.shapes;
    if sh.logstash + sh.ecs + sh.splunk > 0 {
        println!(
            "records by shape: {} CloudTrail, {} Logstash, {} Elastic (ECS), {} Splunk",
            sh.cloudtrail, sh.logstash, sh.ecs, sh.splunk
        );
    }
    print_records("partly recovered record", &s.partial_records, s.records_partial);
    for f in &s.files_rejected {
        println!("rejected file {}: {}", f.path, f.error);
    }
    print_records("rejected record", &s.rejected_records, s.records_rejected);
}

/// The records listed (file, position, byte offset, why), and how many more there were.
fn print_records(what: &str, listed: &[super::pipeline::RecordProblem], total: u64) {
    for r in listed {
        println!("{what} {} #{} (byte {}): {}", r.path, r.position, r.offset, r.error);
    }
    if (listed.len() as u64) < total {
        println!("... and {} more {what}s", total - listed.len() as u64);
    }
}
