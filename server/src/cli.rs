//! The command line: `cairn serve | user | import | demo | bench`.

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
        /// Mark the session cookie Secure: set this when people reach Cairn over HTTPS
        /// (through a TLS-terminating proxy).
        #[arg(long, env = "CAIRN_SECURE_COOKIES")]
        secure_cookies: bool,
        /// Hours without a request after which a session ends.
        #[arg(long, env = "CAIRN_SESSION_IDLE_HOURS", default_value_t = 8.0)]
        session_idle_hours: f64,
        /// Minutes between sync passes over the sources (0: no syncing).
        #[arg(long, env = "CAIRN_SYNC_EVERY", default_value_t = 5)]
        sync_every: u64,
    },
    /// Manage the people who may sign in to the dashboard.
    User {
        #[command(subcommand)]
        command: UserCommand,
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
    /// Manage the sources Cairn syncs from (AWS accounts, organization trail buckets).
    Source {
        #[command(subcommand)]
        command: crate::source_cli::SourceCommand,
    },
    /// Sync from the sources: one pass with --once, else a pass every --every minutes.
    ///
    /// Exit status with --once: 0 all went in, 1 some file or folder was a problem (the
    /// rest went in), 2 a pass failed.
    Sync {
        /// One pass, then exit.
        #[arg(long)]
        once: bool,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Minutes between passes.
        #[arg(long, default_value_t = 5)]
        every: u64,
        /// Print each pass's report as one JSON object.
        #[arg(long)]
        json: bool,
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
        /// Only time the pages, on the database given by --db (fill it with `cairn demo`).
        #[arg(long)]
        pages: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. The password is asked for on a terminal, or read from standard input
    /// with --password-stdin.
    Add {
        name: String,
        /// admin (everything), analyst (read, search, export, investigations) or viewer
        /// (read only).
        #[arg(long, value_parser = ["admin", "analyst", "viewer"])]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users and their roles.
    List,
    /// Set a user's password (their sessions end).
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user (the last admin cannot be removed).
    Remove { name: String },
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("no terminal to ask for a password on: pass --password-stdin");
    }
    let first = rpassword::prompt_password("Password: ").context("reading the password")?;
    let again = rpassword::prompt_password("Password again: ").context("reading the password")?;
    if first != again {
        anyhow::bail!("the two passwords differ");
    }
    Ok(first)
}

async fn user_command(db: &std::path::Path, command: UserCommand) -> anyhow::Result<ExitCode> {
    use crate::users;
    let pool = crate::db::connect(db).await?;
    let shell_actor = format!(
        "shell:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    let result = match command {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            let role = app::auth::Role::parse(&role).context("unknown role")?;
            let password = read_password(password_stdin)?;
            users::create(&pool, &name, role, &password).await.map(|u| {
                println!("added {} ({})", u.name, u.role);
                ("user.add", Some(u.name), Some(format!("role {role}")))
            })
        }
        UserCommand::List => {
            let list = app::db::admin::users(&pool).await?;
            if list.is_empty() {
                println!(
                    "no users yet: add the first admin with `cairn user add NAME --role admin`"
                );
            }
            for u in list {
                let last = u
                    .last_login_at
                    .map(app::fmt::time)
                    .unwrap_or_else(|| "never signed in".into());
                println!("{:<24} {:<8} {}", u.name, u.role, last);
            }
            pool.close().await;
            return Ok(ExitCode::SUCCESS);
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            users::set_password(&pool, &name, &password)
                .await
                .map(|()| {
                    println!("password set for {name}; their sessions have ended");
                    (
                        "user.password",
                        Some(name),
                        Some("password reset".to_owned()),
                    )
                })
        }
        UserCommand::Remove { name } => users::remove(&pool, &name).await.map(|()| {
            println!("removed {name}");
            ("user.remove", Some(name), None)
        }),
    };
    let code = match result {
        Ok((action, target, detail)) => {
            users::audit(
                &pool,
                Some(&shell_actor),
                action,
                target.as_deref(),
                detail.as_deref(),
                Some("shell"),
            )
            .await;
            ExitCode::SUCCESS
        }
        Err(e @ (users::UserError::Db(_) | users::UserError::Hash(_))) => return Err(e.into()),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    };
    pool.close().await;
    Ok(code)
}

/// Runs one command; `Err` is a fatal error (exit status 2).
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::User { command } => user_command(&cli.db, command).await,
        Command::Serve {
            addr,
            site,
            secure_cookies,
            session_idle_hours,
            sync_every,
        } => {
            if !(session_idle_hours.is_finite() && session_idle_hours > 0.0) {
                anyhow::bail!("--session-idle-hours must be a positive number");
            }
            let secrets = crate::secrets::SecretBox::for_db(&cli.db)?;
            let config = crate::web::WebConfig {
                secure_cookies,
                session_idle: std::time::Duration::from_secs_f64(
                    (session_idle_hours * 3600.0).min(1e9),
                ),
                secrets: Some(secrets.clone()),
            };
            let pool = crate::db::connect(&cli.db).await?;
            // Events stored before the search index existed are indexed in the background.
            let db_path = cli.db.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = crate::search_index::backfill(&db_path) {
                    tracing::error!(error = %e, "indexing older events for search failed");
                }
            });
            if sync_every > 0 {
                tokio::spawn(crate::sync::run_forever(
                    pool.clone(),
                    secrets,
                    None,
                    sync_every,
                ));
            }
            // `cargo leptos watch` says where it put the site it builds.
            let site =
                match site.or_else(|| std::env::var_os("LEPTOS_SITE_ROOT").map(PathBuf::from)) {
                    Some(s) => s,
                    None => crate::web::find_site()
                        .context("cannot find the built site; pass --site DIR")?,
                };
            crate::web::serve(pool, addr, site, config).await?;
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
        Command::Source { command } => crate::source_cli::source_command(&cli.db, command).await,
        Command::Sync {
            once,
            source,
            every,
            json,
        } => {
            if once {
                return crate::source_cli::sync_once(&cli.db, source.as_deref(), json).await;
            }
            let pool = crate::db::connect(&cli.db).await?;
            let secrets = crate::secrets::SecretBox::for_db(&cli.db)?;
            crate::sync::run_forever(pool, secrets, source, every.max(1)).await;
            Ok(ExitCode::SUCCESS)
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
            pages,
        } => {
            if pages {
                crate::bench::pages(&cli.db).await?;
            } else {
                crate::bench::run(events, days, files).await?;
            }
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
