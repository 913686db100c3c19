//! `cairn trails [--json]`, `cairn coverage [--account A] [--from T] [--to T] [--json]` and
//! `cairn costs [--month YYYY-MM] [--json]`.

use app::costs::{self, Kind, Report, ReportError};
use app::trails::{self, Overview};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Every trail with its findings; exit status 0, or 1 when a critical or high finding
/// stands (for scripts that gate on it).
pub async fn trails(db: &Path, as_json: bool) -> anyhow::Result<ExitCode> {
    let pool = crate::db::connect(db).await?;
    let o = trails::overview(&pool, now_ms()).await?;
    pool.close().await;
    if as_json {
        println!("{}", serde_json::to_string(&o)?);
    } else {
        print_trails(&o);
    }
    let grave = o
        .findings
        .iter()
        .any(|f| f.severity <= trails::Severity::High);
    Ok(if grave {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The coverage of a range; exit status 1 when it holds time known to be unrecorded.
pub async fn coverage(
    db: &Path,
    accounts: &[String],
    from: Option<String>,
    to: Option<String>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    use app::query::{EventQuery, Field, TimeRange};
    let mut q = EventQuery::default();
    if from.is_some() || to.is_some() {
        let mut pairs = Vec::new();
        pairs.extend(from.map(|f| ("from", f)));
        pairs.extend(to.map(|t| ("to", t)));
        let parsed = EventQuery::from_params(|k| pairs.iter().filter(|(n, _)| *n == k).map(|(_, v)| v.clone()).collect());
        if let Some(p) = &parsed.range_problem {
            anyhow::bail!("the range cannot be read: {}", p.reason);
        }
        q = parsed;
    } else {
        q = q.with_range(TimeRange::Preset(app::query::Preset::All));
    }
    for a in accounts {
        q = q.with_filter(Field::Account, a, false);
    }
    let pool = crate::db::connect(db).await?;
    let v = app::pages::coverage::coverage_view(&pool, &q, now_ms()).await?;
    pool.close().await;
    let gaps: usize = v.accounts.iter().map(|a| a.gaps.len()).sum();
    if as_json {
        println!("{}", serde_json::to_string(&v)?);
    } else if v.accounts.is_empty() {
        println!("No trail is known: coverage comes from the trails' write events and the inventory.");
    } else {
        println!(
            "From {} to {} UTC; {} trails known.",
            app::fmt::time(v.from_ms),
            app::fmt::time(v.to_ms),
            v.trails_known
        );
        for a in &v.accounts {
            println!("Account {}: {} unrecorded stretches", a.account, a.gaps.len());
            for g in &a.gaps {
                println!("  {}", g.sentence);
                if !g.causes.is_empty() {
                    println!("      {}", g.causes);
                }
            }
        }
    }
    Ok(if gaps > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn print_trails(o: &Overview) {
    if o.trails.is_empty() {
        println!("No trails known yet: the inventory is taken by `cairn sync` from each source's Regions.");
        return;
    }
    for t in &o.trails {
        println!(
            "{}{}  {}  {}  logging {}  {} events in 24 h, {} in 30 d  ${:.2} in {}",
            t.name,
            if t.gone { " (gone)" } else { "" },
            t.arn,
            t.regions.join(","),
            match t.logging {
                Some(true) => "on",
                Some(false) => "STOPPED",
                None => "?",
            },
            t.events_24h,
            t.events_30d,
            t.usd_month,
            o.month
        );
        for s in &t.sentences {
            println!("    records: {s}");
        }
    }
    if !o.findings.is_empty() {
        println!("\nFindings, worst first:");
    }
    for f in &o.findings {
        println!("  [{}] {}", f.severity.as_str(), f.title);
        println!("      fix: {}", f.cli);
    }
}

/// The costs of a month as JSON: `month`, `currency`, `total_usd` (CloudTrail's own
/// charges for what the trails delivered) and `lines`.
pub fn costs_json(r: &Report) -> serde_json::Value {
    json!({
        "month": r.month,
        "currency": r.currency,
        "total_usd": r.total_usd,
        "projected_usd": r.projected_usd,
        "untrailed_usd": r.untrailed_usd,
        "outside_usd": r.outside_usd,
        "billed": {
            "sources": r.billed.sources,
            "usage": r.billed.usage.iter().map(|(u, v)| json!({"usage_type": u, "usd": v})).collect::<Vec<_>>(),
            "by_kind": r.billed.by_kind.iter().map(|(k, e, b)| json!({
                "kind": k.as_str(), "estimate_usd": e, "billed_usd": b,
            })).collect::<Vec<_>>(),
            "refused": r.billed.refused.iter().map(|(s, e)| json!({"source": s, "error": e})).collect::<Vec<_>>(),
        },
        "lines": r.lines.iter().map(|l| json!({
            "account": l.account,
            "region": l.region,
            "trail": l.trail,
            "kind": l.kind.as_str(),
            "resource_type": l.resource_type,
            "detail": l.detail,
            "events": l.events,
            "usd": l.usd,
        })).collect::<Vec<_>>(),
        "drivers": r.drivers.iter().map(|d| json!({
            "field": d.field.key(),
            "value": d.value,
            "label": d.label,
            "category": d.category,
            "events": d.events,
            "usd": d.usd,
            "timeline": d.href(&r.month),
        })).collect::<Vec<_>>(),
    })
}

/// A month's estimate; exit status 2 for a month that is not `YYYY-MM`.
pub async fn costs(db: &Path, month: Option<String>, as_json: bool) -> anyhow::Result<ExitCode> {
    let pool = crate::db::connect(db).await?;
    let r = costs::month_report(&pool, month.as_deref(), now_ms()).await;
    pool.close().await;
    let r = match r {
        Ok(r) => r,
        Err(ReportError::Month(m)) => {
            eprintln!("error: not a month (YYYY-MM): {m}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    if as_json {
        println!("{}", costs_json(&r));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: ${:.2} CloudTrail{}; ${:.2} outside CloudTrail (S3, CloudWatch Logs); ${:.2} for events no trail delivered, had a trail recorded them",
        r.month,
        r.total_usd,
        r.projected_usd
            .map(|p| format!(" (about ${p:.2} by the month's end)"))
            .unwrap_or_default(),
        r.outside_usd,
        r.untrailed_usd
    );
    for l in &r.lines {
        let amount = if matches!(l.kind, Kind::S3Storage | Kind::CloudwatchLogs) {
            format!("{} bytes", l.events)
        } else {
            format!("{} events", l.events)
        };
        println!(
            "  {} {} {} {}{} {amount} ${:.4}",
            l.account,
            l.region,
            r.trail_label(l.trail.as_deref()),
            l.kind.as_str(),
            l.resource_type
                .as_deref()
                .or(l.detail.as_deref())
                .map(|t| format!(" ({t})"))
                .unwrap_or_default(),
            l.usd
        );
    }
    if !r.drivers.is_empty() {
        println!("What drives the charges (share of each kind's charge by its events):");
        for d in &r.drivers {
            println!(
                "  {} {} ({}): {} events ${:.4}",
                d.field.key(),
                d.label,
                d.category,
                d.events,
                d.usd
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks the new digest files of every source's bucket (unless `check` is off), then
/// prints the result per trail and day over the range, with the keys of what failed.
/// Exit status 1 when anything in the range failed.
pub async fn verify(
    db: &Path,
    trail: Option<String>,
    from: Option<String>,
    to: Option<String>,
    check: bool,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    use crate::sync;
    use app::query::EventQuery;
    let (from_ms, to_ms) = if from.is_some() || to.is_some() {
        let mut pairs = Vec::new();
        pairs.extend(from.map(|f| ("from", f)));
        pairs.extend(to.map(|t| ("to", t)));
        let q = EventQuery::from_params(|k| {
            pairs.iter().filter(|(n, _)| *n == k).map(|(_, v)| v.clone()).collect()
        });
        if let Some(p) = &q.range_problem {
            anyhow::bail!("the range cannot be read: {}", p.reason);
        }
        let pool = crate::db::connect(db).await?;
        let store = app::db::events::store_info(&pool).await?;
        pool.close().await;
        let r = q.resolve(now_ms(), &store);
        (r.from_ms, r.to_ms)
    } else {
        (i64::MIN, i64::MAX)
    };
    let pool = crate::db::connect(db).await?;
    let mut checks = Vec::new();
    if check {
        let secrets = sync::secrets::SecretBox::for_db(db)?;
        let opts = sync::Options::default();
        for row in sync::sources::list(&pool).await? {
            if row.paused || row.bucket.is_none() {
                continue;
            }
            let source = sync::sources::load(&pool, &secrets, &row.name).await?;
            let Some(_running) = sync::Running::claim(source.row.id) else {
                continue;
            };
            checks.push(sync::integrity_now(&pool, &source, &opts).await?);
        }
    }
    let known = app::db::integrity::trails_checked(&pool).await?;
    let arns: Vec<String> = match &trail {
        None => known,
        Some(t) => {
            let by_name: Vec<String> = known
                .iter()
                .filter(|a| *a == t || a.rsplit('/').next() == Some(t.as_str()))
                .cloned()
                .collect();
            if by_name.is_empty() {
                anyhow::bail!("no digest file of a trail {t:?} has been read");
            }
            by_name
        }
    };
    let mut reports = Vec::new();
    for arn in arns {
        let r = app::integrity::report(&pool, &arn, from_ms, to_ms).await?;
        reports.push((arn, r));
    }
    pool.close().await;
    let failed = reports
        .iter()
        .any(|(_, r)| r.problems_total > 0 || r.days.iter().any(|d| d.failed()));
    if as_json {
        let trails: Vec<serde_json::Value> = reports
            .iter()
            .map(|(arn, r)| {
                json!({
                    "trail": arn,
                    "days": r.days,
                    "problems": r.problems,
                    "problems_total": r.problems_total,
                    "newest_digest_ms": r.newest_digest_ms,
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "from_ms": (from_ms != i64::MIN).then_some(from_ms),
                "to_ms": (to_ms != i64::MAX).then_some(to_ms),
                "checks": checks,
                "failed": failed,
                "trails": trails,
            })
        );
    } else {
        for c in &checks {
            println!(
                "{}: {} new digest files checked in {} digest folders{}",
                c.source,
                c.files,
                c.folders,
                c.error.as_ref().map(|e| format!(" — failed: {e}")).unwrap_or_default()
            );
            for p in &c.problems {
                println!("  problem: {}: {}", p.what, p.error);
            }
        }
        if reports.is_empty() {
            println!(
                "No digest file has been read: turn log file validation on for the trails, and add their bucket as a source."
            );
        }
        for (arn, r) in &reports {
            println!("{arn}");
            println!(
                "  {:<10}  {:>13}  {:>15}  {:>8}  {:>7}  {:>8}  {:>14}  {:>15}  {:>5}",
                "day", "digests valid", "files verified", "modified", "deleted", "unlisted", "digests gone", "digests invalid", "chain"
            );
            for d in &r.days {
                println!(
                    "  {:<10}  {:>13}  {:>15}  {:>8}  {:>7}  {:>8}  {:>14}  {:>15}  {:>5}",
                    d.day,
                    format!("{}/{}", d.digests_valid, d.digests),
                    format!("{}/{}", d.verified, d.files),
                    d.modified,
                    d.missing,
                    d.extra,
                    d.digests_missing,
                    d.digests_invalid,
                    d.chain
                );
            }
            for p in &r.problems {
                println!(
                    "  {} {} ({} UTC): {}",
                    p.kind.label(),
                    p.location,
                    app::fmt::time(p.at_ms),
                    p.detail
                );
            }
            if r.problems_total > r.problems.len() as i64 {
                println!("  … and {} more; use --from/--to or --json", r.problems_total - r.problems.len() as i64);
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
