use crate::fmt;
use crate::model::ResolvedRange;
use crate::query::{EventQuery, Preset, TimeRange};
use leptos::prelude::*;

/// Presets as links and an absolute range as a GET form: both work without JavaScript.
#[component]
pub fn TimeRangeBar(
    query: EventQuery,
    resolved: ResolvedRange,
    #[prop(into)] path: String,
) -> impl IntoView {
    let current = query.range;
    view! {
        <div class="time-range">
            <nav class="time-range__presets" aria-label="Time range">
                {Preset::ALL
                    .into_iter()
                    .map(|p| {
                        let href = query.with_range(TimeRange::Preset(p)).href(&path);
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
            <form class="time-range__form" method="get" action=path.clone()>
                <crate::components::filter_bar::HiddenQuery query=query.clone() skip=&["from", "to", "range"]/>
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
