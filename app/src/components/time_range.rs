use crate::fmt;
use crate::model::ResolvedRange;
use crate::query::{Preset, TimeRange, TimelineQuery};
use leptos::prelude::*;

/// Presets as links and an absolute range as a GET form: both work without JavaScript.
#[component]
pub fn TimeRangeBar(query: TimelineQuery, resolved: ResolvedRange) -> impl IntoView {
    let current = query.range;
    view! {
        <div class="time-range">
            <nav class="time-range__presets" aria-label="Time range">
                {Preset::ALL
                    .into_iter()
                    .map(|p| {
                        let href = query.with_range(TimeRange::Preset(p)).href("/");
                        let active = current == TimeRange::Preset(p);
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
            <form class="time-range__form" method="get" action="/">
                <label>
                    "From (UTC) "
                    <input type="datetime-local" name="from" value=fmt::minute(resolved.from_ms) required/>
                </label>
                <label>
                    "To (UTC) "
                    <input type="datetime-local" name="to" value=fmt::minute(resolved.to_ms) required/>
                </label>
                <button type="submit">"Apply"</button>
            </form>
        </div>
    }
}
