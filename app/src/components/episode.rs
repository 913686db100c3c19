//! An Insights episode's figures on its finding's page: the rate against its baseline,
//! the windows, and the top principals, user agents and error codes of each, with who
//! found it (Cairn or AWS CloudTrail Insights).

use crate::fmt;
use crate::insights::{Attribution, Episode, rate};
use leptos::prelude::*;

fn attribute_name(a: &str) -> &'static str {
    match a {
        "userIdentityArn" => "Principals",
        "userAgent" => "User agents",
        "errorCode" => "Error codes",
        _ => "Values",
    }
}

/// One attribute's values, the episode's and the baseline's side by side.
fn attribution_table(a: &Attribution) -> impl IntoView + use<> {
    let mut values: Vec<String> = a.insight.iter().map(|s| s.value.clone()).collect();
    for s in &a.baseline {
        if !values.contains(&s.value) {
            values.push(s.value.clone());
        }
    }
    let avg = |list: &[crate::insights::Share], v: &str| {
        list.iter().find(|s| s.value == v).map(|s| rate(s.average)).unwrap_or_else(|| "—".into())
    };
    let rows = values
        .iter()
        .map(|v| {
            view! {
                <tr>
                    <th scope="row" class="cell-wrap"><code>{fmt::clip(v, 300)}</code></th>
                    <td class="num">{avg(&a.insight, v)}</td>
                    <td class="num">{avg(&a.baseline, v)}</td>
                </tr>
            }
        })
        .collect_view();
    let caption = format!("{} (calls a minute)", attribute_name(&a.attribute));
    view! {
        <table class="table episode__top">
            <caption>{caption}</caption>
            <thead><tr>
                <th scope="col">"Value"</th>
                <th scope="col">"Episode"</th>
                <th scope="col">"Baseline"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

fn minutes(m: Option<i64>) -> String {
    match m {
        Some(m) if m >= 2 * 1440 && m % 1440 == 0 => format!("{} days", m / 1440),
        Some(m) if m >= 1440 => format!("{} minutes ({:.1} days)", fmt::count(m), m as f64 / 1440.0),
        Some(1) => "1 minute".into(),
        Some(m) => format!("{} minutes", fmt::count(m)),
        None => "not given".into(),
    }
}

#[component]
pub fn EpisodeFigures(episode: Episode) -> impl IntoView {
    let e = episode;
    let href = e.timeline_query().href("/");
    let by_class = if e.by_aws { "badge badge--aws" } else { "badge badge--cairn" };
    let what = if e.is_error_rate() { "calls returning an error" } else { "write management calls" };
    let place = match &e.region {
        Some(r) => format!("{} · {r}", e.account),
        None => e.account.clone(),
    };
    let window = match e.end_ms {
        Some(end) => format!("{} to {} UTC", fmt::time(e.start_ms), fmt::time(end)),
        None => format!("from {} UTC (no End record yet)", fmt::time(e.start_ms)),
    };
    let peak = |p: Option<i64>| p.map(|p| format!(", at most {} in a minute", fmt::count(p))).unwrap_or_default();
    let baseline = format!(
        "{} a minute over {}{}",
        e.baseline_average.map(rate).unwrap_or_else(|| "not given".into()),
        minutes(e.baseline_duration),
        peak(e.baseline_peak)
    );
    let insight = format!(
        "{} a minute over {}{}{}",
        e.insight_average.map(rate).unwrap_or_else(|| "not given".into()),
        minutes(e.insight_duration),
        peak(e.insight_peak),
        e.calls.map(|c| format!(" ({} calls)", fmt::count(c))).unwrap_or_default()
    );
    let tables = e.attributions.iter().map(attribution_table).collect_view();
    view! {
        <section class="card episode" aria-labelledby="episode-title" data-testid="episode">
            <h2 id="episode-title">"The episode " <span class=by_class data-testid="episode-by">{e.by()}</span></h2>
            <dl class="fields">
                <dt>"Rate"</dt><dd>{format!("{} ({what} a minute)", e.kind())}</dd>
                <dt>"Call"</dt><dd><code>{e.event_name.clone()}</code> " on " <code>{e.event_source.clone()}</code></dd>
                <dt>"Where"</dt><dd>{place}</dd>
                <dt>"When"</dt><dd>{window}</dd>
                <dt>"Episode"</dt><dd data-testid="episode-insight">{insight}</dd>
                <dt>"Baseline"</dt><dd data-testid="episode-baseline">{baseline}</dd>
            </dl>
            <p class="card__actions"><a class="button" href=href data-testid="episode-timeline">"Open these calls in the timeline"</a></p>
            <div class="episode__tables">{tables}</div>
        </section>
    }
}
