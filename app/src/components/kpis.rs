use crate::fmt;
use crate::model::{Kpis, ResolvedRange};
use crate::query::{Compare, EventQuery, TimeRange};
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

/// Headline figures, each with its change against the comparison period's (when there
/// is one with events in it).
#[component]
pub fn KpiStrip(now: Kpis, #[prop(default = None)] before: Option<Kpis>) -> impl IntoView {
    let before = before.filter(|b| b.events > 0);
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
                            <span class=format!("kpi__delta kpi__delta--{dir}")>{delta}</span>
                        })}
                    </div>
                })
                .collect_view()}
        </section>
    }
}

/// What the headline figures are compared with, said on the page, and the choice of
/// another period: the one before, the same time a week earlier, none, or a chosen range
/// (links and a GET form, so it works without JavaScript).
#[component]
pub fn CompareLine(
    query: EventQuery,
    #[prop(into)] path: String,
    range: ResolvedRange,
    compare: Option<ResolvedRange>,
    before: Option<Kpis>,
    /// The figures count only part of the range (no change can be shown).
    counted: bool,
) -> impl IntoView {
    let what = match query.compare {
        Compare::Previous => "the period before",
        Compare::Week => "the same time a week earlier",
        Compare::Off => "",
        Compare::Range { .. } => "the chosen period",
    };
    let said = match (&compare, before) {
        _ if counted => "No change is shown: the figures count only the newest part of the range.".to_string(),
        (None, _) if query.compare == Compare::Off => "Not compared with another period.".to_string(),
        (None, _) => "Not compared: “all time” has no period before it.".to_string(),
        (Some(c), Some(b)) if b.events > 0 => format!(
            "Change against {} – {} UTC ({what}).",
            fmt::time(c.from_ms),
            fmt::time(c.to_ms)
        ),
        (Some(c), _) => format!(
            "No change is shown: nothing happened in {} – {} UTC ({what}).",
            fmt::time(c.from_ms),
            fmt::time(c.to_ms)
        ),
    };
    let choices = [
        (Compare::Previous, "previous period"),
        (Compare::Week, "same time last week"),
        (Compare::Off, "none"),
    ]
    .into_iter()
    .map(|(c, label)| {
        // "All time" compares with nothing unless told otherwise.
        let active = match c {
            Compare::Previous => query.compare == c && compare.is_some(),
            Compare::Off => query.compare == c || (query.compare == Compare::Previous && compare.is_none()),
            _ => query.compare == c,
        };
        let href = query.with_compare(c).href(&path);
        view! {
            <a class="chip chip--small" class:chip--active=active
                aria-current=active.then_some("true") href=href>{label}</a>
        }
    })
    .collect_view();
    let (cf, ct) = match query.compare {
        Compare::Range { from_ms, to_ms } => (fmt::minute_text(from_ms), fmt::minute_text(to_ms)),
        _ => {
            let span = range.to_ms - range.from_ms;
            (
                fmt::minute_text(range.from_ms - span),
                fmt::minute_text(range.from_ms),
            )
        }
    };
    view! {
        <div class="compare" data-testid="compare">
            <p class="compare__said">{said}</p>
            <div class="compare__choices">
                <span class="muted">"Compare with: "</span>
                {choices}
                <details class="compare__custom" open=matches!(query.compare, Compare::Range { .. })>
                    <summary>"a chosen range"</summary>
                    <form method="get" action=path.clone() class="time-range__form">
                        <crate::components::filter_bar::HiddenQuery query=query.clone() skip=&["compare", "compare_from", "compare_to"]/>
                        <label>"From (UTC) " <input type="text" name="compare_from" value=cf size="16" autocomplete="off"/></label>
                        <label>"To (UTC) " <input type="text" name="compare_to" value=ct size="16" autocomplete="off"/></label>
                        <button type="submit">"Compare"</button>
                    </form>
                </details>
            </div>
        </div>
    }
}
