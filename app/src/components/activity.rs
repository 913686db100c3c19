use crate::components::{
    empty_state::EmptyState,
    events_table::EventsTable,
    kpis::{CountedNotice, KpiStrip},
    pager::Pager,
    table_tools::TableTools,
    timeline_chart::TimelineChart,
    top_list::TopPanel,
};
use crate::fmt;
use crate::model::Activity;
use crate::query::{EventQuery, Preset, TimeRange};
use leptos::prelude::*;

/// A selection's figures, histogram, top lists and rows, on a page whose own filter is
/// fixed (a principal, a resource, an address, a key). Links stay on `path`.
#[component]
pub fn ActivitySection(
    a: Activity,
    query: EventQuery,
    #[prop(into)] path: String,
    /// Headings of the top lists, in order.
    headings: &'static [&'static str],
    /// The page's query with its own filter added: what "show all" and the export take.
    selection: EventQuery,
) -> impl IntoView {
    let range_text = format!(
        "{} – {} UTC",
        fmt::time(a.range.from_ms),
        fmt::time(a.range.to_ms)
    );
    if a.kpis.events == 0 {
        let all = query.with_range(TimeRange::Preset(Preset::All)).href(&path);
        return view! {
            <EmptyState title="No events in this range">
                <p>{format!("Nothing between {range_text} matches. ")} <a href=all>"Show all time"</a></p>
            </EmptyState>
        }
        .into_any();
    }
    let first_href = query.cursor.map(|_| query.with_cursor(None).href(&path));
    let next_href = a
        .next_cursor
        .map(|c| query.with_cursor(Some(c)).href(&path));
    let total = a.kpis.events;
    let links = query.range_only(&a.range);
    view! {
        {a.counted_from_ms.map(|from_ms| view! {
            <CountedNotice from_ms=from_ms events=a.kpis.events range=a.range.clone() query=query.clone() path=path.clone()/>
        })}
        <KpiStrip now=a.kpis/>
        <TimelineChart buckets=a.buckets.clone() bucket_ms=a.bucket_ms range=a.range.clone() query=query.clone() path=path.clone() counted_from_ms=a.counted_from_ms markers=Vec::new() episodes=Vec::new()/>
        <div class="top-grid">
            {a.top
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, list)| {
                    let heading = headings.get(i).copied();
                    view! { <TopPanel list=list query=query.clone() path=path.clone() total=total heading=heading.unwrap_or("Top values") selection=selection.clone()/> }
                })
                .collect_view()}
        </div>
        <TableTools query=query.clone() path=path.clone() range=a.range.clone() sorted_from_ms=a.sorted_from_ms selection=selection/>
        <EventsTable rows=a.rows.clone() caption=format!("Events, {range_text}") query=query.clone() path=path.clone() links=links/>
        <Pager first_href=first_href next_href=next_href sort=query.sort/>
    }
    .into_any()
}
