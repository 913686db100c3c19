use crate::fmt;
use crate::model::{Bucket, ResolvedRange};
use crate::query::{EventQuery, TimeRange};
use leptos::prelude::*;

const W: f64 = 1000.0;
const H: f64 = 160.0;

/// The events histogram: SVG drawn on the server, errors set apart at the foot of each
/// bar; each bar links to its own time range, and once the page is hydrated a drag across
/// the chart zooms to the dragged span. The figures are repeated in a table. An island:
/// the browser runs it (its props travel in the page).
#[island]
pub fn TimelineChart(
    buckets: Vec<Bucket>,
    bucket_ms: i64,
    range: ResolvedRange,
    query: EventQuery,
    #[prop(into)] path: String,
    /// Where the counted figures start, when not at the start of the range.
    counted_from_ms: Option<i64>,
    /// Findings to mark at their first event, each a link to its page.
    markers: Vec<crate::detections::FindingMarker>,
    /// Insights episodes, drawn as bands over their window.
    episodes: Vec<crate::insights::Band>,
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
            // Named twice: the SVG `<title>` for a pointer's tooltip, `aria-label` for
            // assistive technology (a `<title>` drawn in the browser can land outside
            // the SVG namespace and name nothing).
            let bar_label = title.clone();
            // The `<g>` makes this view SVG, so the macro builds an SVG `<a>` (an HTML one,
            // as a separate view inside `<svg>` would get when rendered in the browser,
            // is not drawn).
            view! {
                <g>
                    <a href=href aria-label=bar_label>
                        <title>{title}</title>
                        <rect class="chart__bar" x=x y=H - h width=w height=h></rect>
                        {(eh > 0.0).then(|| view! { <rect class="chart__bar chart__bar--error" x=x y=H - eh width=w height=eh></rect> })}
                    </a>
                </g>
            }
        })
        .collect_view();
    // The part of the range left uncounted, shaded.
    let uncounted = counted_from_ms.and_then(|from| {
        let t0 = buckets.first()?.start_ms;
        let x = ((from - t0) as f64 / bucket_ms as f64 * bw).clamp(0.0, W);
        let title = format!("Not counted: before {} UTC", fmt::time(from));
        Some(view! {
            <g>
                <rect class="chart__uncounted" data-testid="uncounted" x="0" y="0" width=x height=H>
                    <title>{title}</title>
                </rect>
            </g>
        })
    });
    // Findings: a thin line across the chart at the first event, coloured by severity,
    // with a handle at the top that links to the finding.
    let marked = markers.len();
    let marks = {
        let t0 = buckets.first().map(|b| b.start_ms).unwrap_or(range.from_ms);
        let t_span = ((buckets.len().max(1) as i64) * bucket_ms).max(1);
        markers
            .into_iter()
            .map(|m| {
                let x = ((m.time_ms - t0) as f64 / t_span as f64 * W).clamp(0.0, W - 3.0);
                let title = format!("Finding #{}: {} ({}), {} UTC", m.id, m.title, m.severity.as_str(), fmt::time(m.time_ms));
                let class = format!("chart__marker chart__marker--{}", m.severity.as_str());
                let handle = format!("{class} chart__marker-handle");
                let label = title.clone();
                view! {
                    <g>
                        // The line lets the bars under it take the pointer; the finding
                        // is opened from the handle at the top of the chart.
                        <a href=format!("/findings/{}", m.id) aria-label=label>
                            <title>{title}</title>
                            <rect class=class x=x y="0" width="3" height=H></rect>
                            <rect class=handle x=(x - 3.0).max(0.0) y="0" width="9" height="10"></rect>
                        </a>
                    </g>
                }
            })
            .collect_view()
    };
    // Insights episodes: a translucent band across the chart over the episode's window,
    // over the bars (a short episode would hide behind its bar), letting the pointer
    // through to them, with a handle at the foot that opens the timeline of its calls.
    let t0 = buckets.first().map(|b| b.start_ms).unwrap_or(range.from_ms);
    let t_span = ((buckets.len().max(1) as i64) * bucket_ms).max(1);
    let band_title = |b: &crate::insights::Band| {
        let e = &b.episode;
        format!(
            "{} {} episode ({}): {}, {} to {} UTC",
            e.event_name,
            e.kind(),
            e.by(),
            b.severity.as_str(),
            fmt::time(e.start_ms),
            fmt::time(e.end_or_start())
        )
    };
    let bands = episodes
        .iter()
        .map(|b| {
            let e = &b.episode;
            // At least 6 units wide, so a short episode on a long range still shows.
            let x0 = ((e.start_ms - t0) as f64 / t_span as f64 * W).clamp(0.0, W - 6.0);
            let x1 = ((e.end_or_start() - t0) as f64 / t_span as f64 * W).clamp(x0 + 6.0, W);
            let class = if e.by_aws { "chart__episode chart__episode--aws" } else { "chart__episode" };
            let title = band_title(b);
            let label = format!("Open the calls of the {title}");
            view! {
                <g>
                    <rect class=class x=x0 y="0" width=x1 - x0 height=H>
                        <title>{title.clone()}</title>
                    </rect>
                    <a href=e.timeline_query().href("/") aria-label=label>
                        <title>{title}</title>
                        <rect class="chart__episode-handle" x=x0 y=H - 8.0 width=(x1 - x0).max(9.0) height="8"></rect>
                    </a>
                </g>
            }
        })
        .collect_view();
    let episode_list = (!episodes.is_empty()).then(|| {
        let items = episodes
            .iter()
            .map(|b| {
                let e = &b.episode;
                let text = band_title(b);
                view! {
                    <li>
                        <a href=format!("/findings/{}", b.finding)>{text}</a>
                        " · " <a href=e.timeline_query().href("/")>"its calls"</a>
                    </li>
                }
            })
            .collect_view();
        view! {
            <details class="chart__episodes" data-testid="chart-episodes">
                <summary>{format!("{} Insights episode{}", episodes.len(), if episodes.len() == 1 { "" } else { "s" })}</summary>
                <ul>{items}</ul>
            </details>
        }
    });
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
    // Drag to zoom: the dragged fraction of the chart's width becomes the new range.
    let t0 = buckets.first().map(|b| b.start_ms).unwrap_or(range.from_ms);
    let t_span = (buckets.len().max(1) as i64) * bucket_ms;
    let svg_ref = NodeRef::<leptos::svg::Svg>::new();
    let start = RwSignal::new(None::<f64>);
    let now = RwSignal::new(None::<f64>);
    let dragged = RwSignal::new(false);
    let frac = move |ev: &leptos::ev::MouseEvent| -> Option<f64> {
        #[cfg(feature = "hydrate")]
        {
            let el = svg_ref.get_untracked()?;
            let r = el.get_bounding_client_rect();
            if r.width() <= 0.0 {
                return None;
            }
            Some(((f64::from(ev.client_x()) - r.left()) / r.width()).clamp(0.0, 1.0))
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = ev;
            None
        }
    };
    let zoom_to = {
        let query = query.clone();
        let path = path.clone();
        move |a: f64, b: f64| -> String {
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            let minute = 60_000;
            let from_ms = (t0 + (lo * t_span as f64) as i64).div_euclid(minute) * minute;
            let to_ms =
                ((t0 + (hi * t_span as f64) as i64) + minute - 1).div_euclid(minute) * minute;
            query
                .with_range(TimeRange::Absolute {
                    from_ms,
                    to_ms: to_ms.max(from_ms + minute),
                })
                .href(&path)
        }
    };
    let on_down = move |ev: leptos::ev::MouseEvent| {
        if ev.button() == 0 {
            if let Some(f) = frac(&ev) {
                // Keeps the browser from dragging the bar's link instead.
                ev.prevent_default();
                start.set(Some(f));
                now.set(Some(f));
            }
        }
    };
    let on_move = move |ev: leptos::ev::MouseEvent| {
        if start.get_untracked().is_some() {
            now.set(frac(&ev));
        }
    };
    let on_up = move |ev: leptos::ev::MouseEvent| {
        if let (Some(a), Some(b)) = (start.get_untracked(), frac(&ev)) {
            if (a - b).abs() > 0.01 {
                dragged.set(true);
                #[cfg(feature = "hydrate")]
                if let Some(w) = web_sys::window() {
                    let _ = w.location().assign(&zoom_to(a, b));
                }
                #[cfg(not(feature = "hydrate"))]
                let _ = &zoom_to;
            }
        }
        start.set(None);
        now.set(None);
    };
    let on_leave = move |_: leptos::ev::MouseEvent| {
        start.set(None);
        now.set(None);
    };
    // A drag that ends on a bar must not also follow that bar's link.
    let on_click = move |ev: leptos::ev::MouseEvent| {
        if dragged.get_untracked() {
            ev.prevent_default();
            dragged.set(false);
        }
    };
    view! {
        <figure class="chart">
            <svg class="chart__svg" viewBox=format!("0 0 {W} {H}") preserveAspectRatio="none" role="group" aria-label=label.clone()
                node_ref=svg_ref on:mousedown=on_down on:mousemove=on_move on:mouseup=on_up on:mouseleave=on_leave on:click=on_click>
                <line class="chart__axis" x1="0" y1=H x2=W y2=H></line>
                {uncounted}
                {bars}
                {bands}
                {marks}
                {move || match (start.get(), now.get()) {
                    (Some(a), Some(b)) => Some(view! {
                        <rect class="chart__brush" data-testid="brush" x=a.min(b) * W y="0" width=(a - b).abs() * W height=H></rect>
                    }),
                    _ => None,
                }}
            </svg>
            <div class="chart__axis-labels" aria-hidden="true">
                <span>{fmt::axis(range.from_ms, span)}</span>
                <span>{fmt::axis(mid, span)}</span>
                <span>{fmt::axis(range.to_ms, span)}</span>
            </div>
            <figcaption class="chart__legend">
                <span class="legend"><span class="legend__swatch legend--events" aria-hidden="true">"■"</span>" events"</span>
                <span class="legend"><span class="legend__swatch legend--errors" aria-hidden="true">"■"</span>" errors"</span>
                {(marked > 0).then(|| view! {
                    <span class="legend" data-testid="chart-findings"><span class="legend__swatch legend--finding" aria-hidden="true">"▮"</span>" "
                        <a href="/findings">{format!("{marked} finding{} marked", if marked == 1 { "" } else { "s" })}</a></span>
                })}
                {(!episodes.is_empty()).then(|| view! {
                    <span class="legend"><span class="legend__swatch legend--episode" aria-hidden="true">"■"</span>" Insights episodes"</span>
                })}
                <span class="chart__scale">{format!("{} per bar · max {}", fmt::duration(bucket_ms), fmt::count(max))}</span>
            </figcaption>
            {episode_list}
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
