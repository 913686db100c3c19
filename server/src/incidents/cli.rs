//! `cairn incidents`: the incidents whose findings fall in a range, latest first, as
//! lines or as JSON (each with its actor, first and last event, and its steps: tactic,
//! title and eventIDs).

use std::path::Path;
use std::process::ExitCode;

pub async fn incidents(db: &Path, from: Option<&str>, to: Option<&str>, as_json: bool) -> anyhow::Result<ExitCode> {
    let (from_ms, to_ms) = crate::detections::cli::range(from, to)?;
    let pool = crate::db::connect(db).await?;
    let list = app::db::incidents::list(&pool, Some(from_ms), Some(to_ms)).await?;
    if as_json {
        let mut out = Vec::with_capacity(list.len());
        for mut i in list {
            for s in &mut i.steps {
                s.event_ids = app::db::findings::cloudtrail_ids(&pool, s.finding, 100_000).await?;
            }
            let touched = app::db::incidents::touched(&pool, &i).await?;
            let history = app::db::incidents::history(&pool, i.id).await?;
            out.push(app::incidents::report_json(&i, &touched, &history));
        }
        println!("{}", serde_json::to_string(&out)?);
    } else {
        // A reader that stops early (`| head`) ends the listing, not the program.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let iso = app::fmt::iso;
        for i in &list {
            let mut text = format!(
                "#{:<6} {:<9} {:<13} {} .. {}  {}",
                i.id,
                i.severity.as_str(),
                i.status.as_str(),
                iso(i.first_ms),
                iso(i.last_ms),
                i.actor
            );
            for s in &i.steps {
                text.push_str(&format!(
                    "\n         {}  {:<22} {} (finding #{})",
                    iso(s.first_ms),
                    s.tactic.as_deref().map_or("Unlabelled", app::incidents::tactic_label),
                    s.title,
                    s.finding
                ));
            }
            if writeln!(out, "{text}").is_err() {
                break;
            }
        }
        let _ = writeln!(out, "{} incidents", list.len());
    }
    pool.close().await;
    Ok(ExitCode::SUCCESS)
}
