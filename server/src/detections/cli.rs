//! `cairn rules list|import|test|run|enable|disable` and `cairn findings`.

use super::history;
use app::detect::{Language, RuleDef, RuleSet, Severity, sigma};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn iso(ms: i64) -> String {
    app::fmt::iso(ms)
}

/// `--from` / `--to` as milliseconds; the default range is all time.
pub(crate) fn range(from: Option<&str>, to: Option<&str>) -> anyhow::Result<(i64, i64)> {
    let from_ms = match from {
        Some(f) => app::query::parse_instant(f, false)
            .ok_or_else(|| anyhow::anyhow!("--from {f:?} is not a date or date-time (2021-07-28 or 2021-07-28T10:00)"))?,
        None => 0,
    };
    let to_ms = match to {
        Some(t) => app::query::parse_instant(t, true)
            .ok_or_else(|| anyhow::anyhow!("--to {t:?} is not a date or date-time (2021-07-28 or 2021-07-28T10:00)"))?,
        None => now_ms() + 86_400_000,
    };
    if to_ms <= from_ms {
        anyhow::bail!("--to is not after --from");
    }
    Ok((from_ms, to_ms))
}

#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// Every rule: id, enabled, severity, language and title.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Import Sigma rules (`product: aws, service: cloudtrail`) from a YAML file or a folder
    /// of them. New rules start disabled unless `--enable`; a rule imported again with a
    /// change becomes a new version. Rules Cairn cannot apply are listed with the reason.
    Import {
        path: PathBuf,
        /// Enable the imported rules at once (back-test them first with `cairn rules test`).
        #[arg(long)]
        enable: bool,
        #[arg(long)]
        json: bool,
    },
    /// What a rule (its id, or a filter pattern in braces) would have matched over a
    /// range of stored events: matches, principals, findings, the CloudTrail eventIDs.
    Test {
        rule: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Make the findings of rules (enabled or not) over stored events, as if they had
    /// been enabled when the events arrived. Running it again adds nothing.
    Run {
        #[arg(required = true)]
        rules: Vec<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Add a rule of your own: a filter pattern or one Sigma rule, optionally with a
    /// threshold (`--threshold 20 --window 5m`: 20 matches with the same grouping key
    /// within 5 minutes; `--distinct awsRegion`: 20 distinct values). Starts disabled
    /// unless `--enable`: back-test it first with `cairn rules test ID`.
    Add {
        /// Its id: lower-case letters, digits, `.`, `_` and `-`.
        id: String,
        #[arg(long)]
        title: String,
        /// A CloudWatch Logs JSON filter pattern (`{ $.eventName = "StopLogging" }`).
        #[arg(long, conflicts_with = "sigma", required_unless_present = "sigma")]
        pattern: Option<String>,
        /// A file holding one Sigma rule.
        #[arg(long)]
        sigma: Option<PathBuf>,
        /// What it finds and why that matters.
        #[arg(long, default_value = "")]
        description: String,
        /// informational, low, medium, high or critical.
        #[arg(long, default_value = "medium")]
        severity: String,
        /// MITRE ATT&CK and other tags (repeatable).
        #[arg(long)]
        tag: Vec<String>,
        /// Matches needed within --window to make a finding.
        #[arg(long)]
        threshold: Option<u32>,
        /// Count distinct values of this field (`awsRegion`) instead of matches.
        #[arg(long, requires = "threshold")]
        distinct: Option<String>,
        /// The threshold's window (`300s`, `5m`, `1h`; default 1h), or without a threshold
        /// how long one finding collects matches (default 1d).
        #[arg(long)]
        window: Option<String>,
        /// The fields one finding is per, comma-separated: principal, account, region,
        /// source_ip, access_key or a record path (default principal).
        #[arg(long, default_value = "principal")]
        group_by: String,
        #[arg(long)]
        enable: bool,
    },
    /// Enable rules (by id; `--all-sigma` every imported Sigma rule).
    Enable {
        rules: Vec<String>,
        #[arg(long)]
        all_sigma: bool,
    },
    /// Disable rules (by id).
    Disable {
        #[arg(required = true)]
        rules: Vec<String>,
    },
}

pub async fn rules_command(db: &Path, cmd: RulesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RulesCommand::List { json } => list(db, json).await,
        RulesCommand::Import { path, enable, json } => import(db, &path, enable, json).await,
        RulesCommand::Test { rule, from, to, json } => test(db, &rule, from.as_deref(), to.as_deref(), json).await,
        RulesCommand::Run { rules, from, to, json } => run(db, &rules, from.as_deref(), to.as_deref(), json).await,
        RulesCommand::Enable { rules, all_sigma } => set_enabled(db, rules, all_sigma, true).await,
        RulesCommand::Add { id, title, pattern, sigma, description, severity, tag, threshold, distinct, window, group_by, enable } => {
            let (language, body) = match (pattern, sigma) {
                (Some(p), _) => ("pattern", p),
                (None, Some(f)) => (
                    "sigma",
                    std::fs::read_to_string(&f).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?,
                ),
                (None, None) => anyhow::bail!("give --pattern or --sigma"),
            };
            let draft = app::detections::RuleDraft {
                id,
                title,
                description,
                language: language.into(),
                body,
                severity,
                tags: tag.join(","),
                threshold: threshold.map(|t| t.to_string()).unwrap_or_default(),
                distinct: distinct.unwrap_or_default(),
                window: window.unwrap_or_default(),
                group_by,
            };
            let def = draft.to_def().map_err(|e| anyhow::anyhow!("the rule cannot be added: {e}"))?;
            add(db, def, enable).await
        }
        RulesCommand::Disable { rules } => set_enabled(db, rules, false, false).await,
    }
}

async fn list(db: &Path, as_json: bool) -> anyhow::Result<ExitCode> {
    let pool = crate::db::connect(db).await?;
    let rules = app::db::rules::list(&pool).await?;
    pool.close().await;
    if as_json {
        let out: Vec<_> = rules
            .iter()
            .map(|r| {
                json!({
                    "id": r.def.id, "title": r.def.title, "enabled": r.enabled, "severity": r.def.severity,
                    "language": r.def.language, "origin": r.origin, "version": r.version,
                    "tags": r.def.tags, "author": r.def.author, "threshold": r.def.threshold,
                    "group_by": r.def.group_by, "updated": iso(r.updated_ms), "updated_by": r.updated_by,
                })
            })
            .collect();
        println!("{}", serde_json::to_string(&out)?);
    } else {
        for r in &rules {
            println!(
                "{:<48} {:<8} {:<13} {:<7} {}",
                r.def.id,
                if r.enabled { "enabled" } else { "disabled" },
                r.def.severity.as_str(),
                r.def.language.as_str(),
                r.def.title
            );
        }
        println!("{} rules, {} enabled", rules.len(), rules.iter().filter(|r| r.enabled).count());
    }
    Ok(ExitCode::SUCCESS)
}

/// A rule read from a file, or why not.
pub struct Imported {
    pub file: String,
    pub result: Result<RuleDef, String>,
}

/// Reads every `.yml` / `.yaml` file under `path` (or the file itself) as Sigma rules.
pub fn read_sigma(path: &Path) -> Vec<Imported> {
    let mut files: Vec<PathBuf> = if path.is_dir() {
        walkdir::WalkDir::new(path)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| e.into_path())
            .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let shown = f.display().to_string();
        let text = match std::fs::metadata(&f) {
            Ok(m) if m.len() > 1 << 20 => {
                out.push(Imported { file: shown, result: Err("larger than 1 MiB: not a rule file".into()) });
                continue;
            }
            _ => match std::fs::read_to_string(&f) {
                Ok(t) => t,
                Err(e) => {
                    out.push(Imported { file: shown, result: Err(format!("cannot read: {e}")) });
                    continue;
                }
            },
        };
        let docs = sigma::parse_all(&text);
        let single = docs.len() == 1;
        let bodies = if single { vec![text.clone()] } else { sigma::documents(&text) };
        for (k, (doc, body)) in docs.into_iter().zip(bodies).enumerate() {
            let file = if single { shown.clone() } else { format!("{shown}#{}", k + 1) };
            let stem = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let result = doc.map_err(|e| e.0).map(|s| {
                let m = s.meta;
                let id = format!(
                    "sigma-{}",
                    m.id.clone().unwrap_or_else(|| if single { stem.clone() } else { format!("{stem}-{}", k + 1) })
                );
                RuleDef {
                    description: m.description,
                    severity: m.level.as_deref().and_then(Severity::parse).unwrap_or(Severity::Medium),
                    tags: m.tags,
                    author: m.author,
                    references: m.references,
                    license: m.license,
                    ..RuleDef::new(&id, &m.title, Language::Sigma, &body)
                }
            });
            out.push(Imported { file, result });
        }
    }
    out
}

async fn import(db: &Path, path: &Path, enable: bool, as_json: bool) -> anyhow::Result<ExitCode> {
    if !path.exists() {
        anyhow::bail!("{} does not exist", path.display());
    }
    let read = read_sigma(path);
    let pool = crate::db::connect(db).await?;
    let (mut imported, mut unchanged, mut refused) = (Vec::new(), Vec::new(), Vec::new());
    for r in read {
        match r.result {
            Err(reason) => refused.push(json!({"file": r.file, "reason": reason})),
            Ok(def) => {
                if let Err(e) = def.compile() {
                    refused.push(json!({"file": r.file, "reason": e}));
                    continue;
                }
                let existing = app::db::rules::get(&pool, &def.id).await?;
                match existing {
                    Some(s) if s.def == def && (s.enabled || !enable) => unchanged.push(def.id),
                    Some(s) => {
                        app::db::rules::save(&pool, &def, s.enabled || enable, &s.origin, Some(&r.file), "cli", "imported again", now_ms()).await?;
                        imported.push(def.id);
                    }
                    None => {
                        app::db::rules::save(&pool, &def, enable, "sigma", Some(&r.file), "cli", "imported", now_ms()).await?;
                        imported.push(def.id);
                    }
                }
            }
        }
    }
    pool.close().await;
    if as_json {
        println!(
            "{}",
            serde_json::to_string(&json!({
                "imported": imported.len(), "ids": imported, "unchanged": unchanged, "refused": refused,
            }))?
        );
    } else {
        println!(
            "{} rules imported ({}), {} unchanged, {} refused",
            imported.len(),
            if enable { "enabled" } else { "disabled: back-test with `cairn rules test ID`, then `cairn rules enable ID`" },
            unchanged.len(),
            refused.len()
        );
        for r in &refused {
            println!("  refused {}: {}", r["file"].as_str().unwrap_or(""), r["reason"].as_str().unwrap_or(""));
        }
    }
    Ok(if refused.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Anomaly rules judge the summaries as events are imported: nothing to run over records.
fn refuse_anomaly(def: &RuleDef) -> anyhow::Result<()> {
    if def.language == Language::Anomaly {
        anyhow::bail!(
            "rule {} is an anomaly detector: it judges each reader's S3 read summaries as events are imported, and is not run over stored records",
            def.id
        );
    }
    Ok(())
}

/// The definition a `RULE` argument names: a stored rule's id, or a filter pattern.
async fn rule_def(pool: &sqlx::SqlitePool, rule: &str) -> anyhow::Result<RuleDef> {
    if rule.trim_start().starts_with('{') {
        return Ok(RuleDef::new("pattern", rule.trim(), Language::Pattern, rule.trim()));
    }
    match app::db::rules::get(pool, rule).await? {
        Some(s) => Ok(s.def),
        None => anyhow::bail!("no rule has the id {rule:?} (see `cairn rules list`)"),
    }
}

fn compiled(def: RuleDef) -> anyhow::Result<RuleSet> {
    let id = def.id.clone();
    refuse_anomaly(&def)?;
    let (set, broken) = RuleSet::new(vec![def]);
    if let Some((_, e)) = broken.into_iter().next() {
        anyhow::bail!("rule {id} does not compile: {e}");
    }
    Ok(set)
}

fn progress_bar(from_ms: i64, to_ms: i64, show: bool) -> impl FnMut(u64, i64) {
    let bar = if show && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let b = indicatif::ProgressBar::new(1000);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {bar:30} {msg} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    move |scanned, reached| {
        let span = (to_ms - from_ms).max(1) as f64;
        let done = ((reached.min(to_ms) - from_ms).max(0) as f64 / span * 1000.0) as u64;
        bar.set_position(done);
        bar.set_message(format!("{scanned} events read, at {}", iso(reached.min(to_ms))));
        if reached >= to_ms {
            bar.finish_and_clear();
        }
    }
}

async fn test(db: &Path, rule: &str, from: Option<&str>, to: Option<&str>, as_json: bool) -> anyhow::Result<ExitCode> {
    let (from_ms, to_ms) = range(from, to)?;
    let pool = crate::db::connect(db).await?;
    let def = rule_def(&pool, rule).await?;
    pool.close().await;
    let set = compiled(def)?;
    let db = db.to_path_buf();
    let report = tokio::task::spawn_blocking(move || {
        let conn = history::open_read(&db)?;
        history::back_test(&conn, &set, from_ms, to_ms, progress_bar(from_ms, to_ms, true))
    })
    .await??;
    if as_json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", sentence(&report, now_ms()));
        println!("{} events read in {:.1} s", report.scanned, report.seconds);
    }
    Ok(ExitCode::SUCCESS)
}

/// "Would have matched 37 events, 4 principals, last 2 days ago (5 findings)."
pub fn sentence(r: &history::BackTest, now_ms: i64) -> String {
    if r.matches == 0 {
        return format!("{} would have matched nothing in this range.", r.rule);
    }
    let ago = r.last_ms.map(|l| app::fmt::duration(now_ms - l)).unwrap_or_default();
    format!(
        "{} would have matched {} event{}, {} principal{}, last {} ago ({} finding{}).",
        r.rule,
        r.matches,
        if r.matches == 1 { "" } else { "s" },
        r.principals,
        if r.principals == 1 { "" } else { "s" },
        ago,
        r.findings,
        if r.findings == 1 { "" } else { "s" }
    )
}

async fn run(db: &Path, rules: &[String], from: Option<&str>, to: Option<&str>, as_json: bool) -> anyhow::Result<ExitCode> {
    let (from_ms, to_ms) = range(from, to)?;
    let pool = crate::db::connect(db).await?;
    let mut defs = Vec::new();
    let mut versions = Vec::new();
    for r in rules {
        let Some(s) = app::db::rules::get(&pool, r).await? else {
            anyhow::bail!("no rule has the id {r:?} (see `cairn rules list`)");
        };
        refuse_anomaly(&s.def)?;
        defs.push(s.def);
        versions.push(s.version);
    }
    let mut detection = super::load(&pool).await?;
    pool.close().await;
    let (set, broken) = RuleSet::new(defs);
    if let Some((id, e)) = broken.into_iter().next() {
        anyhow::bail!("rule {id} does not compile: {e}");
    }
    detection.rules = std::sync::Arc::new(set);
    detection.versions = versions;
    // Findings over history are reported here, not sent to the alert destinations.
    detection.alerts = false;
    let db = db.to_path_buf();
    let started = std::time::Instant::now();
    let (scanned, created) = tokio::task::spawn_blocking(move || {
        history::find_in_history(&db, &detection, from_ms, to_ms, progress_bar(from_ms, to_ms, true))
    })
    .await??;
    if as_json {
        println!(
            "{}",
            serde_json::to_string(&json!({"rules": rules, "scanned": scanned, "findings_new": created,
                "seconds": started.elapsed().as_secs_f64()}))?
        );
    } else {
        println!("{created} new findings from {scanned} events read in {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(ExitCode::SUCCESS)
}

async fn add(db: &Path, def: RuleDef, enable: bool) -> anyhow::Result<ExitCode> {
    let pool = crate::db::connect(db).await?;
    if app::db::rules::get(&pool, &def.id).await?.is_some() {
        anyhow::bail!("a rule with the id {:?} exists", def.id);
    }
    app::db::rules::save(&pool, &def, enable, "user", None, "cli", "created", now_ms()).await?;
    pool.close().await;
    println!("rule {} added ({})", def.id, if enable { "enabled" } else { "disabled" });
    Ok(ExitCode::SUCCESS)
}

async fn set_enabled(db: &Path, ids: Vec<String>, all_sigma: bool, enabled: bool) -> anyhow::Result<ExitCode> {
    let pool = crate::db::connect(db).await?;
    let mut targets = ids;
    if all_sigma {
        targets.extend(
            app::db::rules::list(&pool).await?.into_iter().filter(|r| r.origin == "sigma").map(|r| r.def.id),
        );
    }
    if targets.is_empty() {
        anyhow::bail!("name the rules (or --all-sigma)");
    }
    let mut changed = 0;
    for id in &targets {
        let Some(s) = app::db::rules::get(&pool, id).await? else {
            anyhow::bail!("no rule has the id {id:?} (see `cairn rules list`)");
        };
        if s.enabled != enabled {
            app::db::rules::save(&pool, &s.def, enabled, &s.origin, None, "cli", if enabled { "enabled" } else { "disabled" }, now_ms()).await?;
            changed += 1;
        }
    }
    pool.close().await;
    println!("{changed} rules {}", if enabled { "enabled" } else { "disabled" });
    Ok(ExitCode::SUCCESS)
}

/// `cairn findings`: the findings whose events fall in the range, newest first.
pub async fn findings(db: &Path, from: Option<&str>, to: Option<&str>, rules: Vec<String>, as_json: bool) -> anyhow::Result<ExitCode> {
    let (from_ms, to_ms) = range(from, to)?;
    let pool = crate::db::connect(db).await?;
    let list = app::db::findings::list(
        &pool,
        &app::db::findings::FindingFilter {
            from_ms: Some(from_ms),
            to_ms: Some(to_ms),
            rules,
            limit: 10_000,
            ..Default::default()
        },
    )
    .await?;
    if as_json {
        let mut out = Vec::with_capacity(list.len());
        for f in &list {
            let ids = app::db::findings::cloudtrail_ids(&pool, f.id, 100_000).await?;
            out.push(json!({
                "id": f.id, "rule": f.rule, "title": f.rule_title, "author": f.rule_author,
                "severity": f.severity, "status": f.status, "assignee": f.assignee,
                "principal": f.principal_key, "group": f.group, "account": f.account, "region": f.region,
                "first": iso(f.first_ms), "last": iso(f.last_ms), "count": f.events, "event_ids": ids,
                "summary": f.summary,
            }));
        }
        println!("{}", serde_json::to_string(&out)?);
    } else {
        // A reader that stops early (`| head`) ends the listing, not the program.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for f in &list {
            let line = format!(
                "#{:<6} {:<13} {:<13} {} .. {}  {:>6} events  {}  {}",
                f.id,
                f.severity.as_str(),
                f.status.as_str(),
                iso(f.first_ms),
                iso(f.last_ms),
                f.events,
                f.rule_title,
                f.principal.as_deref().unwrap_or(&f.group)
            );
            let summary = f.summary.as_ref().map(|s| format!("\n         {s}")).unwrap_or_default();
            if writeln!(out, "{line}{summary}").is_err() {
                break;
            }
        }
        let _ = writeln!(out, "{} findings", list.len());
    }
    pool.close().await;
    Ok(ExitCode::SUCCESS)
}

