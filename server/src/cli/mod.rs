//! The command line: `cairn serve | user | import | source | sync | rules | alerts | demo | bench | …`. The
//! arguments are defined here; each verb is carried out by its area (`serve` here, as it
//! wires the web server, syncing and the search index together).

mod serve;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

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
        /// Reverse proxies in front of Cairn (`127.0.0.1,10.0.0.0/8`): only from these
        /// addresses are `X-Forwarded-For` (the client's address, for the sign-in
        /// throttle and the audit log) and `X-Forwarded-Proto` (HTTPS makes the session
        /// cookie Secure) believed.
        #[arg(long, env = "CAIRN_TRUSTED_PROXIES", value_name = "CIDR,...")]
        trusted_proxies: Option<String>,
        /// Remove events older than this many days, in the background (at start-up, then
        /// hourly); events pinned to an investigation or in an open finding stay.
        /// Sources may set a period of their own for their accounts. Without either,
        /// events are kept for ever.
        #[arg(long, env = "CAIRN_RETAIN_DAYS", value_parser = clap::value_parser!(u32).range(1..))]
        retain_days: Option<u32>,
        /// Hours without a request after which a session ends.
        #[arg(long, env = "CAIRN_SESSION_IDLE_HOURS", default_value_t = 8.0)]
        session_idle_hours: f64,
        /// Minutes between sync passes over the sources (0: no syncing).
        #[arg(long, env = "CAIRN_SYNC_EVERY", default_value_t = 5)]
        sync_every: u64,
        /// The dashboard's address as people reach it (`https://cairn.example.com`), for
        /// the links in alerts.
        #[arg(long, env = "CAIRN_PUBLIC_URL")]
        public_url: Option<String>,
        /// Seconds between looks at the alert outbox.
        #[arg(long, env = "CAIRN_ALERT_POLL_SECONDS", default_value_t = 5.0)]
        alert_poll_seconds: f64,
        #[command(flatten)]
        sign_in: crate::access::oidc::SignInArgs,
    },
    /// Manage the people who may sign in to the dashboard.
    ///
    /// This works from the shell whatever the dashboard's sign-in settings. With single
    /// sign-on and `--password-login off`, it is the break-glass way in when the identity
    /// provider fails: set an admin's password here, then restart `cairn serve` with
    /// `--password-login on`.
    User {
        #[command(subcommand)]
        command: crate::access::cli::UserCommand,
    },
    /// Print the dashboard's own audit log, newest first: sign-ins (with single
    /// sign-on's refusals and why), user and role changes, and the changes made to
    /// sources, rules, alerts, prices, findings, incidents and investigations.
    Audit {
        /// How many lines.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
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
        command: crate::sync::cli::SourceCommand,
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
    /// Every trail of every source once, what it records, delivered and costs, and its
    /// findings, worst first. Exit status 1 when a critical or high finding stands.
    Trails {
        /// Print the trails and findings as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// When each account, Region and kind of event was recorded, and the time that was
    /// not: from the trails' own write events and the inventory. Exit status 1 when
    /// the range holds unrecorded time.
    Coverage {
        /// Only these accounts (repeatable).
        #[arg(long)]
        account: Vec<String>,
        /// Start of the range (`2021-07-28` or `2021-07-28T10:00`, UTC; default: the first event).
        #[arg(long)]
        from: Option<String>,
        /// End of the range (default: the last event).
        #[arg(long)]
        to: Option<String>,
        /// Print the coverage as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Check the integrity of what the trails delivered: every new digest file of every
    /// source's bucket (signature, the log files it lists, the chain), then the result
    /// per trail and day, with the exact keys of what failed. Exit status 1 when anything
    /// in the range failed.
    Verify {
        /// Only this trail (its ARN or name).
        #[arg(long)]
        trail: Option<String>,
        /// Start of the range (`2021-07-28` or `2021-07-28T10:00`, UTC; default: all time).
        #[arg(long)]
        from: Option<String>,
        /// End of the range (default: now).
        #[arg(long)]
        to: Option<String>,
        /// Only show what earlier checks recorded; read nothing from the buckets.
        #[arg(long)]
        no_check: bool,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// What the trails cost in a month, estimated from what each delivered.
    Costs {
        /// The month, YYYY-MM (default: this month).
        #[arg(long)]
        month: Option<String>,
        /// Print the estimate as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Detection rules: list, import Sigma rules, back-test over stored events, make
    /// findings over history, enable and disable.
    Rules {
        #[command(subcommand)]
        command: crate::detections::cli::RulesCommand,
    },
    /// Where new findings are sent: webhooks, Slack, SNS topics, EventBridge buses.
    Alerts {
        /// The dashboard's address as people reach it, for the links in alerts.
        #[arg(long, env = "CAIRN_PUBLIC_URL")]
        public_url: Option<String>,
        #[command(subcommand)]
        command: crate::alerts::cli::AlertsCommand,
    },
    /// The findings whose events fall in the range, newest first.
    Findings {
        /// Start of the range (`2021-07-28` or `2021-07-28T10:00`, UTC; default: all time).
        #[arg(long)]
        from: Option<String>,
        /// End of the range (default: now).
        #[arg(long)]
        to: Option<String>,
        /// Only this rule's findings (repeatable).
        #[arg(long)]
        rule: Vec<String>,
        /// Print the findings as a JSON list.
        #[arg(long)]
        json: bool,
    },
    /// The incidents (findings that share an actor) whose findings fall in the range,
    /// latest first.
    Incidents {
        /// Start of the range (`2021-07-28` or `2021-07-28T10:00`, UTC; default: all time).
        #[arg(long)]
        from: Option<String>,
        /// End of the range (default: now).
        #[arg(long)]
        to: Option<String>,
        /// Print the incidents as a JSON list, each with its steps and their eventIDs.
        #[arg(long)]
        json: bool,
    },
    /// Copy the database and its key file to PATH while `cairn serve`, syncs and imports
    /// go on: one consistent moment of the store, compacted. PATH must not exist.
    /// Restore by stopping the server and putting the copy (and PATH.key) back in place.
    Backup {
        /// Where the copy goes (its key file goes to PATH.key).
        path: PathBuf,
        /// Print the path, bytes and event count as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Remove events older than --days now (what `cairn serve --retain-days` does every
    /// hour): events pinned to an investigation or in an open finding stay; summaries,
    /// search index and resources follow; freed space goes back to the file system.
    Retain {
        /// Days of events to keep (accounts of sources with a period of their own keep
        /// theirs).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        days: Option<u32>,
        /// Print what the pass did as one JSON object.
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
        /// Print the import summary as one JSON object.
        #[arg(long)]
        json: bool,
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
        /// The rules the import runs: `builtin` (a new database's), `none`, or a file or
        /// folder of Sigma rules to run besides the built-in ones.
        #[arg(long, default_value = "builtin")]
        rules: crate::demo::bench::BenchRules,
        /// A Python that has the `duckdb` package: load the same files into DuckDB too,
        /// alternating with Cairn's imports, and print both (`make bench-peers`).
        #[arg(long)]
        duckdb: Option<PathBuf>,
        /// Imports to run (and DuckDB loads, alternated); medians are printed.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// Load the server instead: start `cairn serve` on the database given by --db
        /// (on loopback) and have --connections clients cycle the all-time views for
        /// --seconds (`make bench-load`).
        #[arg(long)]
        load: bool,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// With --load: a path and query to request (repeat for several) instead of the
        /// usual all-time views.
        #[arg(long = "view")]
        views: Vec<String>,
    },
}

/// Runs one command; `Err` is a fatal error (exit status 2).
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let db = cli.db.as_path();
    match cli.command {
        Command::Serve {
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
        } => {
            serve::serve(
                db,
                serve::ServeArgs {
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
                },
            )
            .await
        }
        Command::User { command } => crate::access::cli::user_command(db, command).await,
        Command::Audit { limit, json } => crate::access::cli::audit_command(db, limit, json).await,
        Command::Import {
            paths,
            json,
            threads,
        } => crate::ingest::cli::import(db, &paths, json, threads).await,
        Command::Source { command } => crate::sync::cli::source_command(db, command).await,
        Command::Sync {
            once,
            source,
            every,
            json,
        } => crate::sync::cli::sync(db, once, source, every, json).await,
        Command::Trails { json } => crate::trails::cli::trails(db, json).await,
        Command::Rules { command } => crate::detections::cli::rules_command(db, command).await,
        Command::Alerts { public_url, command } => crate::alerts::cli::alerts_command(db, command, public_url).await,
        Command::Findings { from, to, rule, json } => {
            crate::detections::cli::findings(db, from.as_deref(), to.as_deref(), rule, json).await
        }
        Command::Incidents { from, to, json } => {
            crate::incidents::cli::incidents(db, from.as_deref(), to.as_deref(), json).await
        }
        Command::Coverage { account, from, to, json } => {
            crate::trails::cli::coverage(db, &account, from, to, json).await
        }
        Command::Costs { month, json } => crate::trails::cli::costs(db, month, json).await,
        Command::Verify {
            trail,
            from,
            to,
            no_check,
            json,
        } => crate::trails::cli::verify(db, trail, from, to, !no_check, json).await,
        Command::Backup { path, json } => crate::maintenance::cli::backup(db, path, json).await,
        Command::Retain { days, json } => crate::maintenance::cli::retain(db, days, json).await,
        Command::Demo {
            events,
            days,
            seed,
            json,
        } => crate::demo::cli::demo(db, events, days, seed, json).await,
        Command::Bench {
            events,
            days,
            files,
            pages,
            rules,
            duckdb,
            rounds,
            load,
            connections,
            seconds,
            views,
        } => {
            if load {
                let opts = crate::demo::load::LoadOptions { connections, seconds, views };
                crate::demo::load::run(db, opts).await?;
                return Ok(ExitCode::SUCCESS);
            }
            let opts = crate::demo::bench::BenchOptions { rules, duckdb, rounds };
            crate::demo::cli::bench(db, events, days, files, pages, opts).await
        }
    }
}
