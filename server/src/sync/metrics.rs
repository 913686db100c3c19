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
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?;
    metric(
        &mut out,
        "cairn_events_stored",
        "gauge",
        "Events in the database.",
        &[(String::new(), events as f64)],
    );
    let sources: Vec<(String, bool)> =
        sqlx::query_as("SELECT name, paused FROM sources ORDER BY name")
            .fetch_all(pool)
            .await?;
    let paused: Vec<(String, f64)> = sources
        .iter()
        .map(|(n, p)| {
            (
                format!("source=\"{}\"", label(n)),
                if *p { 1.0 } else { 0.0 },
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
    let feeds: Vec<(String, String, i64, i64, i64, i64, i64, Option<i64>, Option<i64>, Option<i64>, String)> =
        sqlx::query_as(
            "SELECT s.name, r.feed, count(*), sum(r.files), sum(r.files_rejected), sum(r.events_new),
                    sum(r.events_duplicate),
                    max(CASE WHEN r.state IN ('ok', 'partial') THEN r.finished_at END),
                    max(r.finished_at),
                    (SELECT max(x.newest_ms) FROM sync_runs x WHERE x.source_id = s.id AND x.feed = r.feed),
                    (SELECT y.state FROM sync_runs y WHERE y.source_id = s.id AND y.feed = r.feed
                     ORDER BY y.id DESC LIMIT 1)
             FROM sync_runs r JOIN sources s ON s.id = r.source_id
             GROUP BY s.id, r.feed ORDER BY s.name, r.feed",
        )
        .fetch_all(pool)
        .await?;
    let key = |s: &str, f: &str| format!("source=\"{}\",feed=\"{}\"", label(s), label(f));
    let pick = |f: &dyn Fn(
        &(
            String,
            String,
            i64,
            i64,
            i64,
            i64,
            i64,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            String,
        ),
    ) -> Option<f64>|
     -> Vec<(String, f64)> {
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
    let errors: Vec<(String, i64)> = sqlx::query_as(
        "SELECT s.name, count(e.id) FROM sources s LEFT JOIN sync_errors e ON e.source_id = s.id
         GROUP BY s.id ORDER BY s.name",
    )
    .fetch_all(pool)
    .await?;
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
