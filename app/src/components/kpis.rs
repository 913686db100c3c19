use crate::fmt;
use crate::model::{Kpis, ResolvedRange};
use crate::query::{EventQuery, TimeRange};
use leptos::prelude::*;

/// An arrow and a CSS modifier for a change of `d`, flat within `eps`.
fn direction(d: f64, eps: f64) -> (&'static str, &'static str) {
    if d > eps {
        ("▲", "up")
    } else if d < -eps {
        ("▼", "down")
    } else {
        ("=", "flat")
    }
}

fn change(now: f64, before: f64, pct_points: bool) -> (String, &'static str) {
    if pct_points {
        let d = now - before;
        let (arrow, dir) = direction(d, 0.05);
        return (format!("{arrow} {d:+.1} pts"), dir);
    }
    if before == 0.0 {
        return if now == 0.0 {
            ("= no change".into(), "flat")
        } else {
            ("▲ new".into(), "up")
        };
    }
    let p = (now - before) * 100.0 / before;
    let (arrow, dir) = direction(p, 0.5);
    (format!("{arrow} {p:+.0}%"), dir)
}

fn rate(n: i64, d: i64) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 * 100.0 / d as f64
    }
}

/// Said above figures that stop short of the start of the range: from when they count,
/// with a link to that span alone.
#[component]
pub fn CountedNotice(
    from_ms: i64,
    events: i64,
    range: ResolvedRange,
    query: EventQuery,
    #[prop(into)] path: String,
) -> impl IntoView {
    let href = query
        .with_range(TimeRange::Absolute {
            from_ms,
            to_ms: range.to_ms,
        })
        .href(&path);
    view! {
        <p class="notice" role="status" data-testid="counted-notice">
            {format!(
                "Many events match: the figures, chart and top lists count the newest {} of them, from {} UTC on. The list below pages through them all. ",
                fmt::count(events),
                fmt::time(from_ms)
            )}
            <a href=href>"Show only that span"</a>
        </p>
    }
}

/// Headline figures, each with its change against the period before.
#[component]
pub fn KpiStrip(
    now: Kpis,
    #[prop(default = None)] before: Option<Kpis>,
    #[prop(optional, into)] period: String,
) -> impl IntoView {
    let compared = before.is_some();
    let before = before.unwrap_or_default();
    let items: Vec<(&str, &str, String, (String, &str))> = vec![
        (
            "Events",
            "kpi-events",
            fmt::count(now.events),
            change(now.events as f64, before.events as f64, false),
        ),
        (
            "Principals",
            "kpi-principals",
            fmt::count(now.principals),
            change(now.principals as f64, before.principals as f64, false),
        ),
        (
            "Error rate",
            "kpi-errors",
            format!("{:.1} %", rate(now.errors, now.events)),
            change(
                rate(now.errors, now.events),
                rate(before.errors, before.events),
                true,
            ),
        ),
        (
            "Access denied",
            "kpi-denied",
            format!("{:.1} %", rate(now.denied, now.events)),
            change(
                rate(now.denied, now.events),
                rate(before.denied, before.events),
                true,
            ),
        ),
        (
            "Write events",
            "kpi-writes",
            fmt::count(now.writes),
            change(now.writes as f64, before.writes as f64, false),
        ),
    ];
    view! {
        <section class="kpis" aria-label="Totals">
            {items
                .into_iter()
                .map(|(label, id, value, (delta, dir))| view! {
                    <div class="kpi">
                        <span class="kpi__label">{label}</span>
                        <span class="kpi__value" data-testid=id>{value}</span>
                        {compared.then(|| view! {
                            <span class=format!("kpi__delta kpi__delta--{dir}") title=format!("against {}", period.clone())>{delta}</span>
                        })}
                    </div>
                })
                .collect_view()}
        </section>
    }
}
