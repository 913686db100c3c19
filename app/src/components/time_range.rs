use crate::fmt;
use crate::model::{Picked, ResolvedRange};
use crate::query::{EventQuery, Preset, TimeRange};
use leptos::prelude::*;

/// Presets as links and an absolute range as a GET form: both work without JavaScript.
/// The inputs take UTC in the tables' own 24-hour form (`2021-07-28 10:00`); a range that
/// could not be read is shown again as it was typed.
#[component]
pub fn TimeRangeBar(
    query: EventQuery,
    resolved: ResolvedRange,
    #[prop(into)] path: String,
) -> impl IntoView {
    let current = query.range;
    let (from_value, to_value) = match &query.range_problem {
        Some(p) => (p.from.clone(), p.to.clone()),
        None => (
            fmt::minute_text(resolved.from_ms),
            fmt::minute_text(resolved.to_ms),
        ),
    };
    let invalid = query.range_problem.is_some();
    view! {
        <div class="time-range">
            <nav class="time-range__presets" aria-label="Time range">
                {Preset::ALL
                    .into_iter()
                    .map(|p| {
                        let href = query.with_range(TimeRange::Preset(p)).href(&path);
                        let active = current == TimeRange::Preset(p)
                            || (current == TimeRange::Auto && resolved.picked == Some(Picked::LastDay) && p == Preset::Day);
                        view! {
                            <a
                                class="chip"
                                class:chip--active=active
                                aria-current=if active { Some("page") } else { None }
                                href=href
                                title=p.label()
                            >
                                {p.key()}
                            </a>
                        }
                    })
                    .collect_view()}
            </nav>
            <form class="time-range__form" method="get" action=path.clone()>
                <crate::components::filter_bar::HiddenQuery query=query.clone() skip=&["from", "to", "range"]/>
                <label>
                    "From (UTC) "
                    <input type="text" name="from" value=from_value size="16" autocomplete="off" spellcheck="false"
                        placeholder="2021-07-28 10:00" aria-invalid=invalid.then_some("true")
                        title="UTC, 24-hour: 2021-07-28 or 2021-07-28 10:00"/>
                </label>
                <label>
                    "To (UTC) "
                    <input type="text" name="to" value=to_value size="16" autocomplete="off" spellcheck="false"
                        placeholder="2021-07-29 10:00" aria-invalid=invalid.then_some("true")
                        title="UTC, 24-hour; a date alone includes that whole day"/>
                </label>
                <button type="submit">"Apply"</button>
            </form>
        </div>
    }
}

/// Says what range a page shows when it is not the one asked for: a range that could not
/// be read, or the page's own pick when none was given.
#[component]
pub fn RangeNotice(
    query: EventQuery,
    resolved: ResolvedRange,
    #[prop(into)] path: String,
) -> impl IntoView {
    let shown = format!(
        "{} – {} UTC",
        fmt::time(resolved.from_ms),
        fmt::time(resolved.to_ms)
    );
    let problem = query.range_problem.clone().map(|p| {
        view! {
            <p class="notice notice--error" role="alert" data-testid="range-problem">
                {format!("The time range could not be read. {} Showing {shown} instead; correct the range above.", p.reason)}
            </p>
        }
    });
    let picked = match (query.range, resolved.picked) {
        (TimeRange::Auto, Some(Picked::LatestDay)) => {
            let day = query.with_range(TimeRange::Preset(Preset::Day)).href(&path);
            Some(view! {
                <p class="notice" role="status" data-testid="range-picked">
                    {format!("Nothing happened in the last 24 hours: showing the 24 hours up to the newest event ({shown}). ")}
                    <a href=day>"Show the last 24 hours anyway"</a>
                </p>
            }.into_any())
        }
        (TimeRange::Auto, Some(Picked::ActivePeriod)) => Some(view! {
            <p class="notice" role="status" data-testid="range-picked">
                {format!("Showing its whole active period, first to last seen: {shown}.")}
            </p>
        }.into_any()),
        _ => None,
    };
    view! { {problem} {picked} }
}
