//! `cairn source …` and `cairn sync`: sources managed from the shell, passes run by hand.

use crate::sync;
use crate::sync::secrets::SecretBox;
use crate::sync::sources::{self, SourceSpec};
use app::db::audit::AuditLine;
use clap::{Args, Subcommand};
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Add a source: an AWS account or an organization's trail bucket.
    ///
    /// Credentials come from the standard AWS chain (environment, --profile, SSO,
    /// instance or task role); --role-arn assumes a role on top of them.
    Add(AddArgs),
    /// List the sources and how their last passes went.
    List {
        /// Print one JSON object per source.
        #[arg(long)]
        json: bool,
    },
    /// Check what each feed of a source can reach, naming any IAM action missing.
    Check { name: String },
    /// Stop syncing a source (its events stay).
    Pause { name: String },
    /// Sync a paused source again.
    Resume { name: String },
    /// Remove a source and its sync history (its events stay).
    Remove { name: String },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    pub name: String,
    /// The trail bucket.
    #[arg(long)]
    pub bucket: Option<String>,
    /// The key prefix the trail writes under (before `AWSLogs/`).
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// Only this organization's files (organization trails: AWSLogs/o-…/).
    #[arg(long)]
    pub org_id: Option<String>,
    /// An SQS queue of file notifications (CloudTrail's through SNS, or S3 events).
    #[arg(long)]
    pub queue_url: Option<String>,
    /// Bootstrap from LookupEvents: the last 90 days of management events in each
    /// Region (2 calls a second per Region). Without a bucket or queue, it goes on
    /// reading the new events each pass.
    #[arg(long)]
    pub lookup_events: bool,
    /// Regions to read, comma-separated (default: every Region found).
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// A profile of the shared AWS config and credentials files.
    #[arg(long)]
    pub profile: Option<String>,
    /// A role to assume for reading.
    #[arg(long)]
    pub role_arn: Option<String>,
    /// The external ID the role's trust policy asks for (stored sealed).
    #[arg(long)]
    pub external_id: Option<String>,
    /// The session name when assuming the role (default: cairn).
    #[arg(long)]
    pub session_name: Option<String>,
    /// An endpoint for every AWS call of this source (an S3-compatible store, an
    /// emulator). AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> are honoured too.
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// Days a first sync reaches back.
    #[arg(long, default_value_t = 90)]
    pub backfill_days: i64,
    /// Days the events of the accounts this source brings in are kept (default: as
    /// `cairn serve --retain-days` says).
    #[arg(long)]
    pub retain_days: Option<i64>,
}

fn when(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "never".into())
}

pub async fn source_command(db: &Path, command: SourceCommand) -> anyhow::Result<ExitCode> {
    let pool = crate::db::connect(db).await?;
    let secrets = SecretBox::for_db(db)?;
    // Changes made from the shell are in the audit log too.
    let actor = crate::access::cli::shell_actor();
    let shell = AuditLine::new(Some(&actor), "", "shell");
    let code = match command {
        SourceCommand::Add(a) => {
            let spec = SourceSpec {
                name: a.name,
                bucket: a.bucket,
                prefix: a.prefix,
                org_id: a.org_id,
                queue_url: a.queue_url,
                lookup_events: a.lookup_events,
                regions: a.regions,
                profile: a.profile,
                role_arn: a.role_arn,
                external_id: a.external_id,
                session_name: a.session_name,
                endpoint_url: a.endpoint_url,
                backfill_days: a.backfill_days,
                retain_days: a.retain_days,
                ..SourceSpec::default()
            };
            let name = spec.name.clone();
            let feeds = spec.describe();
            let line = shell.action("source.add").target(&name).detail(&feeds);
            match sources::add(&pool, &secrets, spec, &line).await {
                Ok(_) => {
                    println!("added source {name}; `cairn source check {name}` tests its access");
                    ExitCode::SUCCESS
                }
                Err(
                    e @ (sources::SourceError::Invalid(_) | sources::SourceError::Duplicate(_)),
                ) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
                Err(e) => return Err(e.into()),
            }
        }
        SourceCommand::List { json } => {
            let list = sources::list(&pool).await?;
            if list.is_empty() && !json {
                println!("no sources yet: add one with `cairn source add NAME --bucket BUCKET`");
            }
            for s in list {
                let last = app::db::sources::last_pass(&pool, s.id).await?;
                if json {
                    let mut v = serde_json::to_value(&s)?;
                    v["last_pass"] = serde_json::json!(last.as_ref().map(|(st, at, err)| {
                        serde_json::json!({"state": st, "finished_at": at, "error": err})
                    }));
                    println!("{v}");
                    continue;
                }
                let mut feeds = Vec::new();
                if let Some(b) = &s.bucket {
                    let p = if s.prefix.is_empty() {
                        String::new()
                    } else {
                        format!("/{}", s.prefix)
                    };
                    feeds.push(format!("s3://{b}{p}"));
                }
                if let Some(q) = &s.queue_url {
                    feeds.push(q.clone());
                }
                if s.lookup_events {
                    feeds.push("LookupEvents".into());
                }
                let regions = if s.regions.is_empty() {
                    "all Regions".to_owned()
                } else {
                    s.regions.join(",")
                };
                let state = if s.paused { "paused" } else { "active" };
                let pass = match &last {
                    Some((st, at, _)) => format!("last pass {st} {}", when(*at)),
                    None => "never synced".into(),
                };
                println!(
                    "{}\t{state}\t{}\t{regions}\t{pass}",
                    s.name,
                    feeds.join(" ")
                );
            }
            ExitCode::SUCCESS
        }
        SourceCommand::Check { name } => {
            let source = sources::load(&pool, &secrets, &name).await?;
            let lines = crate::sync::check::check(&source, &crate::sync::check::tuning()).await;
            let mut ok = true;
            for l in &lines {
                ok &= l.ok || l.optional;
                println!(
                    "{} {:<8} {:<24} {}",
                    match (l.ok, l.optional) {
                        (true, _) => "✓",
                        (false, true) => "!",
                        (false, false) => "✗",
                    },
                    l.feed,
                    l.action,
                    l.detail
                );
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        SourceCommand::Pause { name } => {
            let line = shell.action("source.pause").target(&name);
            sources::set_paused(&pool, &name, true, &line).await?;
            println!("paused {name}");
            ExitCode::SUCCESS
        }
        SourceCommand::Resume { name } => {
            let line = shell.action("source.resume").target(&name);
            sources::set_paused(&pool, &name, false, &line).await?;
            println!("resumed {name}");
            ExitCode::SUCCESS
        }
        SourceCommand::Remove { name } => {
            let line = shell.action("source.remove").target(&name);
            sources::remove(&pool, &name, &line).await?;
            println!("removed {name}; the events it brought in stay");
            ExitCode::SUCCESS
        }
    };
    pool.close().await;
    Ok(code)
}

/// `cairn sync --once`: one pass over every feed of every active source (or of one).
/// `cairn sync`: one pass of every active source (or `only`) with `once`, else a pass
/// every `every` minutes until stopped.
pub async fn sync(
    db: &Path,
    once: bool,
    only: Option<String>,
    every: u64,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if once {
        return sync_once(db, only.as_deref(), json).await;
    }
    let pool = crate::db::connect(db).await?;
    let secrets = SecretBox::for_db(db)?;
    sync::run_forever(pool, secrets, only, every.max(1)).await;
    Ok(ExitCode::SUCCESS)
}

/// Exit status 0 when every pass went through cleanly, 1 when some file or folder was a
/// problem (the rest went in), 2 when a pass failed.
pub async fn sync_once(db: &Path, only: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let pool = crate::db::connect(db).await?;
    let secrets = SecretBox::for_db(db)?;
    let opts = sync::Options {
        progress: !json && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        lookup_budget: None,
        inventory_every: std::time::Duration::ZERO,
        ..sync::Options::default()
    };
    let reports = sync::pass_all(&pool, &secrets, only, &opts).await?;
    let mut code = ExitCode::SUCCESS;
    for r in &reports {
        if json {
            println!("{}", serde_json::to_string(r)?);
        } else {
            let looked = match r.feed {
                "queue" => format!(
                    "{} messages ({} kept to retry)",
                    r.messages, r.messages_kept
                ),
                "inventory" => format!(
                    "{}, {} seen, {} changed",
                    crate::sync::check::plural(r.folders as usize, "Region"),
                    crate::sync::check::plural(r.found as usize, "trail"),
                    r.files
                ),
                "lookup" => format!(
                    "{}, {}",
                    crate::sync::check::plural(r.folders as usize, "Region"),
                    crate::sync::check::plural(r.messages as usize, "page")
                ),
                _ => crate::sync::check::plural(r.folders as usize, "folder"),
            };
            if r.feed == "inventory" {
                println!("{} {}: {} — {looked}", r.source, r.feed, r.state);
            } else if r.feed == "integrity" {
                println!(
                    "{} {}: {} — {} digest folders, {} new digest files checked (`cairn verify` shows what they found)",
                    r.source, r.feed, r.state, r.folders, r.files
                );
            } else {
                println!(
                    "{} {}: {} — {looked}, {} new files, {} read, {} events new, {} already \
                     present",
                    r.source, r.feed, r.state, r.found, r.files, r.events_new, r.events_duplicate
                );
            }
            for p in &r.problems {
                println!("  problem: {}: {}", p.what, p.error);
            }
            if let Some(e) = &r.error {
                println!("  failed: {e}");
            }
        }
        match r.state {
            "failed" => code = ExitCode::from(2),
            "partial" if code == ExitCode::SUCCESS => code = ExitCode::from(1),
            _ => {}
        }
    }
    if reports.is_empty() && !json {
        println!("no active sources: add one with `cairn source add NAME --bucket BUCKET`");
    }
    pool.close().await;
    Ok(code)
}
