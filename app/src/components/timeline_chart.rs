use crate::fmt;
use crate::model::{Bucket, ResolvedRange};
use crate::query::{EventQuery, TimeRange};
use leptos::prelude::*;

const W: f64 = 1000.0;
const H: f64 = 160.0;

/// The events histogram: SVG drawn on the server, errors set apart at the foot of each
/// bar; each bar links to its own time range. The figures are repeated in a table.
#[component]
pub fn TimelineChart(
    buckets: Vec<Bucket>,
    bucket_ms: i64,
    range: ResolvedRange,
    query: EventQuery,
    #[prop(into)] path: String,
) -> impl IntoView {
    let max = buckets.iter().map(|b| b.events).max().unwrap_or(0).max(1);
    let n = buckets.len().max(1) as f64;
    let bw = W / n;
    let total: i64 = buckets.iter().map(|b| b.events).sum();
    let errors: i64 = buckets.iter().map(|b| b.errors).sum();
    let span = range.to_ms - range.from_ms;
    let label = format!(
        "Events per {} from {} to {} UTC: {} events, {} errors, at most {} in one bar.",
        fmt::duration(bucket_ms),
        fmt::time(range.from_ms),
        fmt::time(range.to_ms),
        fmt::count(total),
        fmt::count(errors),
        fmt::count(max)
    );
    let bars = buckets
        .iter()
        .enumerate()
        .filter(|(_, b)| b.events > 0)
        .map(|(i, b)| {
            let x = i as f64 * bw;
            let h = (b.events as f64 / max as f64 * H).max(1.0);
            let eh = if b.errors > 0 { (b.errors as f64 / max as f64 * H).max(1.0) } else { 0.0 };
            let href = query
                .with_range(TimeRange::Absolute { from_ms: b.start_ms, to_ms: b.start_ms + bucket_ms })
                .href(&path);
            let title = format!(
                "{} UTC: {} events, {} errors",
                fmt::time(b.start_ms),
                fmt::count(b.events),
                fmt::count(b.errors)
            );
            let w = (bw - 1.0).max(0.5);
            view! {
                <a href=href>
                    <title>{title}</title>
                    <rect class="chart__bar" x=x y=H - h width=w height=h></rect>
                    {(eh > 0.0).then(|| view! { <rect class="chart__bar chart__bar--error" x=x y=H - eh width=w height=eh></rect> })}
                </a>
            }
        })
        .collect_view();
    let rows = buckets
        .iter()
        .filter(|b| b.events > 0)
        .map(|b| {
            view! {
                <tr>
                    <th scope="row"><time datetime=fmt::iso(b.start_ms)>{fmt::time(b.start_ms)}</time></th>
                    <td class="num">{fmt::count(b.events)}</td>
                    <td class="num">{fmt::count(b.errors)}</td>
                </tr>
            }
        })
        .collect_view();
    let mid = range.from_ms + span / 2;
    view! {
        <figure class="chart">
            <svg class="chart__svg" viewBox=format!("0 0 {W} {H}") preserveAspectRatio="none" role="img" aria-label=label.clone()>
                <line class="chart__axis" x1="0" y1=H x2=W y2=H></line>
                {bars}
            </svg>
            <div class="chart__axis-labels" aria-hidden="true">
                <span>{fmt::axis(range.from_ms, span)}</span>
                <span>{fmt::axis(mid, span)}</span>
                <span>{fmt::axis(range.to_ms, span)}</span>
            </div>
            <figcaption class="chart__legend">
                <span class="legend legend--events">"■ events"</span>
                <span class="legend legend--errors">"■ errors"</span>
                <span class="chart__scale">{format!("{} per bar · max {}", fmt::duration(bucket_ms), fmt::count(max))}</span>
            </figcaption>
            <details class="chart__figures">
                <summary>"Figures"</summary>
                <table>
                    <caption>{label}</caption>
                    <thead>
                        <tr>
                            <th scope="col">"From (UTC)"</th>
                            <th scope="col">"Events"</th>
                            <th scope="col">"Errors"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </details>
        </figure>
    }
}
