//! `cairn alerts list|add|test|send|log|enable|disable|retry|remove`.

use super::{AlertError, Change, DestinationSpec, Dispatcher, Tuning};
use crate::access::cli::shell_actor;
use crate::sync::secrets::SecretBox;
use app::db::alerts as store;
use app::db::audit::AuditLine;
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum AlertsCommand {
    /// Every destination: kind, target, what it receives and how its deliveries stand.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a destination. New findings of the rules and severities it takes are sent to it.
    Add {
        /// Its name (letters, digits, spaces, '.', '_', '-').
        name: String,
        /// webhook (a generic JSON body), slack (a Slack-compatible body), sns or eventbridge.
        #[arg(long)]
        kind: String,
        /// A webhook's URL, or `-` to read it from standard input (it is a secret: it is
        /// sealed and never shown again).
        #[arg(long)]
        url: Option<String>,
        /// A file holding a bearer token the webhook is sent with.
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// The SNS topic's or EventBridge bus's ARN.
        #[arg(long)]
        arn: Option<String>,
        /// Another endpoint for SNS or EventBridge (a VPC endpoint or an emulator).
        #[arg(long)]
        endpoint_url: Option<String>,
        /// The least severity sent: informational, low, medium, high (default) or critical.
        #[arg(long, default_value = "high")]
        min_severity: String,
        /// Only these rules' findings (repeatable; default: every rule).
        #[arg(long)]
        rule: Vec<String>,
    },
    /// Send a test alert to a destination now.
    Test { destination: String },
    /// Deliver every alert that is due, once (what `cairn serve` does every few seconds).
    /// Exit status 1 when any delivery failed.
    Send {
        #[arg(long)]
        json: bool,
    },
    /// A destination's latest delivery attempts, and its alerts not yet sent.
    Log {
        destination: String,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    Enable { destination: String },
    /// Stop sending to a destination; its alerts wait until it is enabled again.
    Disable { destination: String },
    /// Make the alerts a destination gave up on due again.
    Retry { destination: String },
    /// Remove a destination with its outbox and delivery log.
    Remove { destination: String },
}

pub async fn alerts_command(db: &Path, cmd: AlertsCommand, public_url: Option<String>) -> anyhow::Result<ExitCode> {
    let pool = crate::db::connect(db).await?;
    let actor = shell_actor();
    let shell = AuditLine::new(Some(&actor), "", "shell");
    match cmd {
        AlertsCommand::List { json } => {
            let rows = store::list(&pool).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows.iter().map(row_json).collect::<Vec<_>>())?);
            } else if rows.is_empty() {
                println!("No alert destinations. Add one with `cairn alerts add NAME --kind …`.");
            } else {
                for r in rows {
                    println!(
                        "{:<24} {:<11} {:<8} {:<13} sent {:>5}  waiting {:>4}  failed {:>4}  {}{}",
                        r.name,
                        r.kind,
                        if r.enabled { "enabled" } else { "disabled" },
                        format!("{}+", r.min_severity.as_str()),
                        r.sent,
                        r.pending,
                        r.failed,
                        r.shown,
                        r.rules.map(|x| format!("  rules: {}", x.join(", "))).unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AlertsCommand::Add { name, kind, url, token_file, arn, endpoint_url, min_severity, rule } => {
            let secrets = SecretBox::for_db(db)?;
            let url = match url.as_deref() {
                Some("-") => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    s.trim().to_string()
                }
                Some(u) => u.to_string(),
                None => String::new(),
            };
            let token = match token_file {
                Some(f) => std::fs::read_to_string(&f)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?
                    .trim()
                    .to_string(),
                None => String::new(),
            };
            let spec = DestinationSpec {
                name,
                kind,
                url,
                token,
                arn: arn.unwrap_or_default(),
                endpoint_url: endpoint_url.unwrap_or_default(),
                min_severity,
                rules: rule.join(","),
            };
            let d = match super::prepare(&pool, &secrets, &spec).await {
                Ok(d) => d,
                Err(e @ (AlertError::Db(_) | AlertError::Rules(_) | AlertError::Secret(_))) => return Err(e.into()),
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let id = super::add(&pool, &d, &shell.action("alert.add")).await?;
            println!("Added alert destination {} ({}) → {}: id {id}", d.name, d.kind, d.shown);
            Ok(ExitCode::SUCCESS)
        }
        AlertsCommand::Test { destination } => {
            let id = destination_id(&pool, &destination).await?;
            let dispatcher = Dispatcher::new(pool.clone(), SecretBox::for_db(db)?, public_url, Tuning::default())?;
            match dispatcher.test(id).await? {
                Ok(answer) => {
                    println!("Delivered: {answer}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("Not delivered: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        AlertsCommand::Send { json } => {
            let dispatcher = Dispatcher::new(pool.clone(), SecretBox::for_db(db)?, public_url, Tuning::default())?;
            let r = dispatcher.pass().await?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!("sent {}, to try again {}, given up {}", r.sent, r.retrying, r.given_up);
            }
            Ok(if r.retrying + r.given_up > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        AlertsCommand::Log { destination, limit, json } => {
            let id = destination_id(&pool, &destination).await?;
            let lines = store::deliveries(&pool, id, limit.clamp(1, 10_000)).await?;
            let waiting = store::waiting(&pool, id, limit.clamp(1, 10_000)).await?;
            if json {
                let lines: Vec<_> = lines
                    .iter()
                    .map(|l| json!({"at": app::fmt::iso(l.at_ms), "finding": l.finding_id, "attempt": l.attempt,
                                    "ok": l.ok, "answer": l.answer, "error": l.error, "millis": l.millis}))
                    .collect();
                let waiting: Vec<_> = waiting
                    .iter()
                    .map(|w| json!({"finding": w.finding_id, "state": w.state, "attempts": w.attempts,
                                    "next": app::fmt::iso(w.next_ms), "error": w.last_error}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&json!({"deliveries": lines, "waiting": waiting}))?);
            } else {
                for l in lines {
                    println!(
                        "{}  {:<12} attempt {:>2}  {:<6} {:>5} ms  {}",
                        app::fmt::iso(l.at_ms),
                        l.finding_id.map(|f| format!("finding {f}")).unwrap_or_else(|| "test".into()),
                        l.attempt,
                        if l.ok { "ok" } else { "failed" },
                        l.millis,
                        l.answer.or(l.error).unwrap_or_default()
                    );
                }
                for w in waiting {
                    println!(
                        "waiting: finding {} {} after {} attempts, next {}{}",
                        w.finding_id,
                        w.state,
                        w.attempts,
                        app::fmt::iso(w.next_ms),
                        w.last_error.map(|e| format!(" ({e})")).unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AlertsCommand::Enable { destination } => apply(&pool, &shell, destination, Change::Enable(true), "alert.enable").await,
        AlertsCommand::Disable { destination } => apply(&pool, &shell, destination, Change::Enable(false), "alert.disable").await,
        AlertsCommand::Retry { destination } => apply(&pool, &shell, destination, Change::Retry, "alert.retry").await,
        AlertsCommand::Remove { destination } => apply(&pool, &shell, destination, Change::Remove, "alert.remove").await,
    }
}

async fn destination_id(pool: &sqlx::SqlitePool, name: &str) -> anyhow::Result<i64> {
    store::find(pool, name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no alert destination is named {name:?} (see `cairn alerts list`)"))
}

async fn apply(
    pool: &sqlx::SqlitePool,
    shell: &AuditLine<'_>,
    destination: String,
    change: Change,
    action: &str,
) -> anyhow::Result<ExitCode> {
    let id = destination_id(pool, &destination).await?;
    let done = super::change(pool, id, change, &shell.action(action)).await?;
    println!("{destination}: {done}");
    Ok(ExitCode::SUCCESS)
}

/// The destinations as `cairn alerts list --json` prints them.
fn row_json(r: &app::alerts::DestinationRow) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "kind": r.kind,
        "target": r.shown,
        "has_token": r.has_token,
        "min_severity": r.min_severity.as_str(),
        "rules": r.rules,
        "enabled": r.enabled,
        "pending": r.pending,
        "sent": r.sent,
        "failed": r.failed,
    })
}
