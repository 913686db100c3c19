//! `/`: the activity timeline: any selection of events, its figures and its rows.

use crate::components::{
    empty_state::EmptyState,
    error_panel::ErrorPanel,
    events_table::EventsTable,
    filter_bar::{FilterBar, FilterChips},
    kpis::{CompareLine, CountedNotice, KpiStrip},
    pager::Pager,
    table_tools::TableTools,
    time_range::{RangeNotice, TimeRangeBar},
    timeline_chart::TimelineChart,
    top_list::TopPanel,
};
use crate::fmt;
use crate::model::Timeline;
use crate::query::{EventQuery, Preset, Sort, TimeRange};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Most findings marked on the chart (the worst first).
pub const MARKERS: i64 = 100;

/// Everything the timeline shows for a query (its canonical query string).
#[server]
pub async fn get_timeline(query: String) -> Result<Timeline, ServerFnError> {
    use crate::db;
    crate::auth::require(crate::auth::Role::Viewer)?;
    let query = EventQuery::parse(&query);
    let pool = db::pool()?;
    let now = chrono::Utc::now().timestamp_millis();
    // Ranges resolve to whole minutes: a view asked again within the minute, with
    // nothing committed since, is the same view.
    let key = crate::cache::view_key("", &query, now);
    let mut t = crate::cache::cached(key, || async {
        timeline(&pool, &query, now).await.map_err(db::opaque)
    })
    .await?;
    t.can_save = crate::auth::may(crate::auth::Role::Analyst);
    Ok(t)
}

/// The timeline's data at `now_ms`.
#[cfg(feature = "ssr")]
pub async fn timeline(
    pool: &sqlx::SqlitePool,
    query: &EventQuery,
    now_ms: i64,
) -> Result<Timeline, sqlx::Error> {
    use crate::db::{events, filter};
    let store = events::store_info(pool).await?;
    let range = query.resolve(now_ms, &store);
    let compare = query.comparison(&range);
    let bucket_ms = crate::query::bucket_for(range.to_ms - range.from_ms);
    let sel = filter::resolve(pool, query).await?;
    // The figures, the comparison's and the rows are read side by side.
    let now = events::facets(
        pool,
        &sel,
        &range,
        Some(bucket_ms),
        (events::TOP_N as i64, &events::TIMELINE_DIMS),
        false,
    );
    let before = async {
        match &compare {
            Some(c) => events::facets(pool, &sel, c, None, (0, &[]), false)
                .await
                .map(Some),
            None => Ok(None),
        }
    };
    let (((now, page), before), names) = futures::try_join!(
        futures::future::try_join(
            events::figures_and_page(pool, &sel, query, &range, now),
            before
        ),
        filter::value_names(pool, query)
    )?;
    // A change is only shown between two complete counts.
    let before = before.filter(|b| now.counted_from_ms.is_none() && b.counted_from_ms.is_none());
    let top = events::label_top(pool, &now, &events::TIMELINE_DIMS, events::TOP_N).await?;
    let markers = crate::db::findings::markers(pool, range.from_ms, range.to_ms, MARKERS).await?;
    let episodes = crate::db::findings::episodes(pool, range.from_ms, range.to_ms, MARKERS).await?;
    // Read here with the rest, not by a resource of its own inside the page's Suspense.
    let gaps = crate::pages::coverage::gaps_for(
        pool,
        &crate::pages::coverage::GapScope::of_query(query, range.from_ms, range.to_ms),
    )
    .await;
    Ok(Timeline {
        range,
        compare,
        bucket_ms,
        buckets: now.buckets,
        kpis: now.kpis,
        compare_kpis: before.map(|b| b.kpis),
        counted_from_ms: now.counted_from_ms,
        top,
        rows: page.rows,
        next_cursor: page.next_cursor,
        sorted_from_ms: page.sorted_from_ms,
        store,
        can_save: false,
        names,
        markers,
        episodes,
        gaps,
    })
}

#[component]
pub fn TimelinePage() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        let p = params.read();
        EventQuery::from_params(|k| p.get_all(k).unwrap_or_default())
    });
    let data = Resource::new(move || query.get().to_query(), get_timeline);
    view! {
        <Title text="Timeline"/>
        <h1 class="page__title">"Activity timeline"</h1>
        <Transition fallback=|| view! { <p class="loading">"Loading events…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(t) => view! { <TimelineBody t=t query=query.get_untracked()/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Copies the pinned link of this view (a plain link without JavaScript). An island: the
/// browser runs it.
#[island]
pub fn ShareLink(href: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let h = href.clone();
    let on_click = move |ev: leptos::ev::MouseEvent| {
        #[cfg(feature = "hydrate")]
        {
            ev.prevent_default();
            if let Some(w) = web_sys::window() {
                let origin = w.location().origin().unwrap_or_default();
                let _ = w
                    .navigator()
                    .clipboard()
                    .write_text(&format!("{origin}{h}"));
                copied.set(true);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&ev, &h);
    };
    view! {
        <a class="button button--quiet" href=href on:click=on_click data-testid="share-link"
            title="A link to exactly this view, with the time range fixed">
            {move || if copied.get() { "✓ Link copied" } else { "Share link" }}
        </a>
    }
}

#[component]
pub fn TimelineBody(
    t: Timeline,
    query: EventQuery,
    /// Where the view's own links go (`/`; an investigation's page keeps them there).
    #[prop(into, default = "/".to_string())]
    path: String,
) -> impl IntoView {
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
    let path = path.as_str();
    let range_text = format!(
        "{} – {} UTC",
        fmt::time(t.range.from_ms),
        fmt::time(t.range.to_ms)
    );
    let first_href = query.cursor.map(|_| query.with_cursor(None).href(path));
    let next_href = t.next_cursor.map(|c| query.with_cursor(Some(c)).href(path));
    let order = match query.sort {
        Sort::Newest => "Newest events".to_string(),
        Sort::Oldest => "Oldest events".to_string(),
        Sort::Column(c, _) => format!("Events by {}", c.label().to_lowercase()),
    };
    let caption = match query.cursor {
        None => format!("{order}, {range_text}"),
        Some(_) => format!("{order}, {range_text} (continued)"),
    };
    let share_href = query.with_cursor(None).pinned(&t.range).href(path);
    let all_href = query.with_range(TimeRange::Preset(Preset::All)).href(path);
    let links = query.range_only(&t.range);
    let total = t.kpis.events;
    let body = if total == 0 {
        let span = match (t.store.oldest_ms, t.store.newest_ms) {
            (Some(o), Some(n)) => format!(" from {} to {} UTC", fmt::time(o), fmt::time(n)),
            _ => String::new(),
        };
        let text = if query.is_filtered() {
            format!("No event between {range_text} matches these filters. ")
        } else {
            format!(
                "Nothing happened between {range_text}. The store holds {} events{span}. ",
                fmt::count(t.store.events)
            )
        };
        view! {
            <EmptyState title="No events match">
                <p>
                    {text}
                    <a href=all_href>"Search all time"</a>
                </p>
            </EmptyState>
        }
        .into_any()
    } else {
        view! {
            <TimelineChart buckets=t.buckets.clone() bucket_ms=t.bucket_ms range=t.range.clone() query=query.clone() path=path counted_from_ms=t.counted_from_ms markers=t.markers.clone() episodes=t.episodes.clone()/>
            <div class="top-grid">
                {t.top
                    .iter()
                    .cloned()
                    .map(|list| view! { <TopPanel list=list query=query.clone() path=path total=total/> })
                    .collect_view()}
            </div>
            <TableTools query=query.clone() path=path range=t.range.clone() sorted_from_ms=t.sorted_from_ms/>
            <EventsTable rows=t.rows.clone() caption=caption query=query.clone() path=path links=links/>
            <Pager first_href=first_href next_href=next_href sort=query.sort/>
        }
        .into_any()
    };
    let search_note = query
        .q
        .as_ref()
        .and(t.store.search_pending_before_ms)
        .map(|before| {
            view! {
                <p class="notice" role="status">
                    "The search index is still being built: request and response contents of events before "
                    {fmt::time(before)}
                    " UTC are not searched yet. Names, principals, resources, IPs, user agents and errors are."
                </p>
            }
        });
    let save = t.can_save.then(|| {
        let q = query.with_cursor(None);
        let back = q.href(path);
        view! { <crate::components::save_view::SaveView query=q back=back/> }
    });
    view! {
        <div class="toolbar">
            <TimeRangeBar query=query.clone() resolved=t.range.clone() path=path/>
            <ShareLink href=share_href/>
        </div>
        <RangeNotice query=query.clone() resolved=t.range.clone() path=path/>
        <crate::pages::coverage::CoverageNotice scope=crate::pages::coverage::GapScope::of_query(&query, t.range.from_ms, t.range.to_ms) gaps=t.gaps.clone()/>
        {save}
        <FilterBar query=query.clone() action=path/>
        <FilterChips query=query.clone() path=path names=t.names.clone()/>
        {search_note}
        {t.counted_from_ms.map(|from_ms| view! {
            <CountedNotice from_ms=from_ms events=t.kpis.events range=t.range.clone() query=query.clone() path=path/>
        })}
        <KpiStrip now=t.kpis before=t.compare_kpis/>
        <CompareLine query=query.clone() path=path range=t.range.clone() compare=t.compare.clone()
            before=t.compare_kpis counted=t.counted_from_ms.is_some()/>
        {body}
    }
    .into_any()
}
