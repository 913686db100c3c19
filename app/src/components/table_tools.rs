use crate::fmt;
use crate::model::ResolvedRange;
use crate::query::{EventQuery, PAGE_SIZES, Sort};
use leptos::prelude::*;

/// Above an events list: its order (with the way back to time order), rows a page, a
/// jump to a time, and the export of exactly the selection. All links and GET forms.
#[component]
pub fn TableTools(
    query: EventQuery,
    #[prop(into)] path: String,
    range: ResolvedRange,
    /// A column order sorted only the events from here on.
    #[prop(default = None)]
    sorted_from_ms: Option<i64>,
    /// The whole selection (with a page's own fixed filter), for the export links.
    #[prop(optional)]
    selection: Option<EventQuery>,
) -> impl IntoView {
    let order = match query.sort {
        Sort::Newest => view! {
            "Newest first · " <a class="quiet-link" href=query.with_sort(Sort::Oldest).href(&path)>"oldest first"</a>
        }
        .into_any(),
        Sort::Oldest => view! {
            "Oldest first · " <a class="quiet-link" href=query.with_sort(Sort::Newest).href(&path)>"newest first"</a>
        }
        .into_any(),
        Sort::Column(c, desc) => {
            let dir = if desc { "Z–A" } else { "A–Z" };
            view! {
                {format!("By {} ({dir}), newest first among equals · ", c.label().to_lowercase())}
                <a class="quiet-link" href=query.with_sort(Sort::Newest).href(&path)>"back to time order"</a>
            }
            .into_any()
        }
    };
    let sizes = PAGE_SIZES
        .into_iter()
        .map(|n| {
            let active = query.rows == n;
            view! {
                <a class="chip chip--small" class:chip--active=active aria-current=active.then_some("true")
                    href=query.with_rows(n).href(&path)>{fmt::count(n)}</a>
            }
        })
        .collect_view();
    let jump = query.sort.by_time().then(|| {
        view! {
            <form class="table-tools__jump" method="get" action=path.clone()>
                <crate::components::filter_bar::HiddenQuery query=query.clone() skip=&["at"]/>
                <label>"Go to (UTC) "
                    <input type="text" name="at" size="16" autocomplete="off" spellcheck="false"
                        placeholder=fmt::minute_text(range.from_ms) title="UTC, 24-hour: 2021-07-28 10:00"/>
                </label>
                <button type="submit" class="button">"Go"</button>
            </form>
        }
    });
    let export = selection
        .unwrap_or_else(|| query.clone())
        .with_cursor(None)
        .pinned(&range)
        .to_query();
    let csv_href = format!("/export/events.csv?{export}");
    let json_href = format!("/export/events.json?{export}");
    let sorted = sorted_from_ms.map(|from| {
        view! {
            <p class="notice" role="status" data-testid="sorted-span">
                {format!(
                    "Many events match: the list is sorted over the newest of them, from {} UTC on. Narrow the range to sort them all; time order pages through every one.",
                    fmt::time(from)
                )}
            </p>
        }
    });
    view! {
        {sorted}
        <div class="table-tools">
            <span class="table-tools__order">{order}</span>
            <span class="table-tools__rows"><span class="muted">"Rows a page: "</span>{sizes}</span>
            {jump}
            <span class="table-tools__export">
                "Export this selection: "
                <a href=csv_href download="events.csv" data-testid="export-csv">"CSV"</a>
                " · "
                <a href=json_href download="events.json" data-testid="export-json">"JSON"</a>
            </span>
        </div>
    }
}
