//! `cairn backup PATH [--json]` and `cairn retain --days N [--json]`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Takes a backup and says where it went; exit status 0, or 2 with the reason.
pub async fn backup(db: &Path, to: PathBuf, as_json: bool) -> anyhow::Result<ExitCode> {
    let from = db.to_path_buf();
    let made = tokio::task::spawn_blocking(move || super::backup::backup(&from, &to)).await??;
    tracing::info!(path = %made.path.display(), bytes = made.bytes, events = made.events, "backup taken");
    if as_json {
        println!("{}", serde_json::to_string(&made)?);
    } else {
        println!(
            "backup: {} ({} bytes, {} events, {:.1} s)",
            made.path.display(),
            made.bytes,
            made.events,
            made.seconds
        );
        match &made.key_file {
            Some(k) => println!("key file: {} (keep it with the copy: it opens the sources' secrets)", k.display()),
            None => println!("key file: none (the database has sealed no secrets yet)"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One retention pass now, with `days` for the accounts no source gives a period of
/// its own; exit status 0, or 2 with the reason.
pub async fn retain(db: &Path, days: Option<u32>, as_json: bool) -> anyhow::Result<ExitCode> {
    let pool = crate::db::connect(db).await?;
    let policy = super::retention::Policy::read(&pool, days).await?;
    let r = super::retention::run_once(&pool, db, &policy, super::retention::Tuning::default()).await;
    pool.close().await;
    let r = r?;
    if as_json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        let period = match days {
            Some(d) => format!("{d} days"),
            None => "their sources' periods".to_owned(),
        };
        println!(
            "removed {} events older than {period} ({} kept: pinned or in an open finding){}",
            r.removed,
            r.kept,
            if r.unreadable > 0 { format!(", {} of them with an unreadable record", r.unreadable) } else { String::new() }
        );
        for (account, d) in &policy.accounts {
            println!("  account {account}: {d} days (its source's period)");
        }
        println!(
            "original-record blocks: {} removed, {} shrunk, {} bytes freed; {} pages given back, database now {} bytes",
            r.blocks_removed, r.blocks_shrunk, r.record_bytes_freed, r.pages_freed, r.file_bytes
        );
        match r.oldest_ms {
            Some(t) => println!("oldest event kept: {}", app::fmt::time(t)),
            None => println!("no events left"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
