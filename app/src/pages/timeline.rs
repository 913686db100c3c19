//! `/`: the activity timeline.

use crate::components::{
    empty_state::EmptyState, error_panel::ErrorPanel, events_table::EventsTable, pager::Pager,
    time_range::TimeRangeBar, timeline_chart::TimelineChart,
};
use crate::fmt;
use crate::model::Timeline;
use crate::query::{Preset, TimeRange, TimelineQuery};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[server]
pub async fn get_timeline(query: TimelineQuery) -> Result<Timeline, ServerFnError> {
    use crate::db::{self, events};
    crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = db::pool()?;
    let store = events::store_info(&pool).await.map_err(db::opaque)?;
    let range = query.resolve(chrono::Utc::now().timestamp_millis(), &store);
    let bucket_ms = crate::query::bucket_for(range.to_ms - range.from_ms);
    let (total_events, total_errors) = events::totals(&pool, &range).await.map_err(db::opaque)?;
    let buckets = events::histogram(&pool, &range, bucket_ms)
        .await
        .map_err(db::opaque)?;
    let (rows, next_before) = events::list(&pool, &range, query.before)
        .await
        .map_err(db::opaque)?;
    Ok(Timeline {
        range,
        bucket_ms,
        buckets,
        total_events,
        total_errors,
        rows,
        next_before,
        store,
    })
}

#[component]
pub fn TimelinePage() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        let p = params.read();
        TimelineQuery::from_params(|k| p.get(k))
    });
    let data = Resource::new(move || query.get(), get_timeline);
    view! {
        <Title text="Timeline"/>
        <h1 class="page__title">"Activity timeline"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading events…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(t) => view! { <TimelineBody t=t query=query.get_untracked()/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn TimelineBody(t: Timeline, query: TimelineQuery) -> impl IntoView {
    if t.store.events == 0 {
        return view! {
            <EmptyState title="No events yet">
                <p>"Cairn has no CloudTrail events to show. Bring some in from a shell:"</p>
                <pre class="empty-state__cmd">
                    "cairn import ./AWSLogs/          # trail log files (.json or .json.gz), folders too\n"
                    "cairn import lookup-events.json  # saved LookupEvents output\n"
                    "cairn demo                       # realistic generated events to explore"
                </pre>
                <p>"Then reload this page."</p>
            </EmptyState>
        }
        .into_any();
    }
    let error_rate = if t.total_events > 0 {
        t.total_errors as f64 * 100.0 / t.total_events as f64
    } else {
        0.0
    };
    let range_text = format!(
        "{} – {} UTC",
        fmt::time(t.range.from_ms),
        fmt::time(t.range.to_ms)
    );
    let newest_href = query.before.map(|_| query.with_before(None).href("/"));
    let older_href = t.next_before.map(|b| query.with_before(Some(b)).href("/"));
    let caption = match query.before {
        None => format!("Newest events, {range_text}"),
        Some(_) => format!("Older events, {range_text}"),
    };
    let all_href = query.with_range(TimeRange::Preset(Preset::All)).href("/");
    let body = if t.total_events == 0 {
        let span = match (t.store.oldest_ms, t.store.newest_ms) {
            (Some(o), Some(n)) => format!(" from {} to {} UTC", fmt::time(o), fmt::time(n)),
            _ => String::new(),
        };
        let text = format!(
            "Nothing happened between {range_text}. The store holds {} events{span}. ",
            fmt::count(t.store.events)
        );
        view! {
            <EmptyState title="No events in this range">
                <p>
                    {text}
                    <a href=all_href>"Show all time"</a>
                </p>
            </EmptyState>
        }
        .into_any()
    } else {
        view! {
            <TimelineChart buckets=t.buckets.clone() bucket_ms=t.bucket_ms range=t.range.clone() query=query.clone()/>
            <EventsTable rows=t.rows.clone() caption=caption/>
            <Pager newest_href=newest_href older_href=older_href/>
        }
        .into_any()
    };
    view! {
        <TimeRangeBar query=query.clone() resolved=t.range.clone()/>
        <section class="kpis" aria-label="Totals">
            <div class="kpi">
                <span class="kpi__label">"Events"</span>
                <span class="kpi__value" data-testid="kpi-events">{fmt::count(t.total_events)}</span>
            </div>
            <div class="kpi">
                <span class="kpi__label">"Errors"</span>
                <span class="kpi__value" data-testid="kpi-errors">{fmt::count(t.total_errors)}</span>
            </div>
            <div class="kpi">
                <span class="kpi__label">"Error rate"</span>
                <span class="kpi__value">{format!("{error_rate:.1} %")}</span>
            </div>
            <div class="kpi">
                <span class="kpi__label">"Range (UTC)"</span>
                <span class="kpi__value kpi__value--small">{range_text.clone()}</span>
            </div>
        </section>
        {body}
    }
    .into_any()
}
