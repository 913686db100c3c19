//! `/metrics`: the sync engine's state in the Prometheus text format, per source and
//! feed, and the size of the store.

use sqlx::SqlitePool;
use std::fmt::Write;

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, rows: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, v) in rows {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {v}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}

/// Renders every metric at `now_ms`.
pub async fn render(pool: &SqlitePool, now_ms: i64) -> Result<String, sqlx::Error> {
    let mut out = String::new();
    // The per-minute counts sum to the events stored (the import keeps them so), and
    // are far cheaper to read than counting the events at every scrape.
    let store = app::db::events::store_info(pool).await?;
    metric(
        &mut out,
        "cairn_events_stored",
        "gauge",
        "Events in the database.",
        &[(String::new(), store.events as f64)],
    );
    if let Some(oldest) = store.oldest_ms {
        metric(
            &mut out,
            "cairn_events_oldest_timestamp_seconds",
            "gauge",
            "Time of the oldest event kept (to the minute).",
            &[(String::new(), (oldest / 1000) as f64)],
        );
    }
    metric(
        &mut out,
        "cairn_retention_removed_events_total",
        "counter",
        "Events removed by the retention as older than --retain-days.",
        &[(String::new(), app::db::retention::removed_total(pool).await? as f64)],
    );
    if let Some(p) = app::db::retention::last_pass(pool).await? {
        metric(
            &mut out,
            "cairn_retention_last_pass_timestamp_seconds",
            "gauge",
            "When the last retention pass ended.",
            &[(String::new(), (p.finished_at / 1000) as f64)],
        );
        metric(
            &mut out,
            "cairn_retention_last_pass_success",
            "gauge",
            "1 when the last retention pass succeeded.",
            &[(String::new(), if p.error.is_none() { 1.0 } else { 0.0 })],
        );
    }
    let paused: Vec<(String, f64)> = app::db::sources::rows(pool)
        .await?
        .iter()
        .map(|r| {
            (
                format!("source=\"{}\"", label(&r.name)),
                if r.paused { 1.0 } else { 0.0 },
            )
        })
        .collect();
    metric(
        &mut out,
        "cairn_source_paused",
        "gauge",
        "1 when the source is paused.",
        &paused,
    );
    // Per source and feed: totals over every pass, and the last pass and success.
    let feeds = app::db::sources::feed_totals(pool).await?;
    let key = |s: &str, f: &str| format!("source=\"{}\",feed=\"{}\"", label(s), label(f));
    let pick = |f: &dyn Fn(&app::db::sources::FeedTotals) -> Option<f64>| -> Vec<(String, f64)> {
        feeds
            .iter()
            .filter_map(|r| f(r).map(|v| (key(&r.0, &r.1), v)))
            .collect()
    };
    metric(
        &mut out,
        "cairn_sync_passes_total",
        "counter",
        "Sync passes run.",
        &pick(&|r| Some(r.2 as f64)),
    );
    metric(
        &mut out,
        "cairn_sync_files_total",
        "counter",
        "Files read by sync passes.",
        &pick(&|r| Some(r.3 as f64)),
    );
    metric(
        &mut out,
        "cairn_sync_files_rejected_total",
        "counter",
        "Files that could not be read or imported.",
        &pick(&|r| Some(r.4 as f64)),
    );
    metric(
        &mut out,
        "cairn_sync_events_total",
        "counter",
        "New events brought in by sync passes.",
        &pick(&|r| Some(r.5 as f64)),
    );
    metric(
        &mut out,
        "cairn_sync_events_duplicate_total",
        "counter",
        "Events read that were stored already.",
        &pick(&|r| Some(r.6 as f64)),
    );
    metric(
        &mut out,
        "cairn_sync_last_success_timestamp_seconds",
        "gauge",
        "When a pass last went through (partly or fully).",
        &pick(&|r| r.7.map(|t| t as f64 / 1000.0)),
    );
    metric(
        &mut out,
        "cairn_sync_last_pass_timestamp_seconds",
        "gauge",
        "When the last pass ended.",
        &pick(&|r| r.8.map(|t| t as f64 / 1000.0)),
    );
    metric(
        &mut out,
        "cairn_sync_lag_seconds",
        "gauge",
        "Now less the newest delivery seen.",
        &pick(&|r| r.9.map(|t| ((now_ms - t) as f64 / 1000.0).max(0.0))),
    );
    let last: Vec<(String, f64)> = feeds
        .iter()
        .flat_map(|r| {
            ["ok", "partial", "failed", "running"]
                .into_iter()
                .map(move |st| {
                    (
                        format!("{},state=\"{st}\"", key(&r.0, &r.1)),
                        if r.10 == st { 1.0 } else { 0.0 },
                    )
                })
        })
        .collect();
    metric(
        &mut out,
        "cairn_sync_last_pass_state",
        "gauge",
        "1 for the state the last pass ended in.",
        &last,
    );
    let errors = app::db::sources::problems_per_source(pool).await?;
    let errors: Vec<(String, f64)> = errors
        .into_iter()
        .map(|(n, c)| (format!("source=\"{}\"", label(&n)), c as f64))
        .collect();
    metric(
        &mut out,
        "cairn_sync_problems_total",
        "counter",
        "Problems recorded by sync passes.",
        &errors,
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped() {
        assert_eq!(super::label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
