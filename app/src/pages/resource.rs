//! `/resources/{arn}`: everything that happened to one resource.

use crate::components::save_view::EntityToolbar;
use crate::components::{
    activity::ActivitySection, error_panel::ErrorPanel, events_table::EventsTable,
    filter_bar::FilterChips, time_range::RangeNotice,
};
use crate::fmt;
use crate::model::ResourceView;
use crate::pages::not_found::NotFound;
use crate::pages::principal::key_from_path;
use crate::query::{Access, EventQuery, Field};
use crate::schema::Dim;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

/// Panels of the resource page.
pub const RESOURCE_DIMS: [Dim; 5] = [
    Dim::Principal,
    Dim::Name,
    Dim::SourceIp,
    Dim::Resource,
    Dim::ErrorCode,
];

#[server]
pub async fn get_resource(
    arn: String,
    query: String,
) -> Result<Option<ResourceView>, ServerFnError> {
    use crate::db;
    crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = db::pool()?;
    let now = chrono::Utc::now().timestamp_millis();
    let query = EventQuery::parse(&query);
    let cache_key = crate::cache::view_key(&arn, &query, now);
    let mut v = crate::cache::cached(cache_key, || async {
        resource_view(&pool, &arn, &query, now).await.map_err(db::opaque)
    })
    .await?;
    if let Some(v) = &mut v {
        v.can_save = crate::auth::may(crate::auth::Role::Analyst);
    }
    Ok(v)
}

/// The resource page's data at `now_ms`.
#[cfg(feature = "ssr")]
pub async fn resource_view(
    pool: &sqlx::SqlitePool,
    arn: &str,
    query: &EventQuery,
    now_ms: i64,
) -> Result<Option<ResourceView>, sqlx::Error> {
    use crate::db::{events, filter, resources};
    let Some(card) = resources::card(pool, arn).await? else {
        return Ok(None);
    };
    let store = events::store_info(pool).await?;
    let range = query.resolve_for(now_ms, &store, card.first_seen_ms.zip(card.last_seen_ms));
    let fixed = query
        .with_filter(Field::Resource, &card.arn, false)
        .with_cursor(query.cursor);
    let sel = filter::resolve(pool, &fixed).await?;
    let mut activity = events::activity(pool, &sel, &fixed, &range, &RESOURCE_DIMS).await?;
    // Related resources: the others named in the same events.
    for list in &mut activity.top {
        if list.field == Field::Resource {
            list.rows.retain(|r| r.value != card.arn);
        }
    }
    let writes = fixed.with_access(Some(Access::Write));
    let wsel = filter::resolve(pool, &writes).await?;
    let (changes, _) =
        events::list(pool, &wsel, &range, crate::query::Sort::Newest, None, 20).await?;
    let windows = windows(pool, &fixed, &range, &card.arn).await?;
    // Read here with the rest, not by resources of their own inside the page's Suspense.
    let findings = crate::pages::findings::latest_of(pool, None, Some(card.arn.clone())).await;
    let gaps = crate::pages::coverage::gaps_for(pool, &resource_scope(&card, query, &activity.range)).await;
    Ok(Some(ResourceView {
        card,
        changes,
        activity,
        can_save: false,
        windows,
        findings,
        gaps,
    }))
}

/// Windows of aggregated events the resource page shows.
pub const WINDOWS_SHOWN: i64 = 50;

/// What the aggregated events that name the resource say about it, newest first.
#[cfg(feature = "ssr")]
async fn windows(
    pool: &sqlx::SqlitePool,
    fixed: &EventQuery,
    range: &crate::model::ResolvedRange,
    arn: &str,
) -> Result<Vec<crate::aggregated::Window>, sqlx::Error> {
    use crate::db::{events, filter};
    let summaries = fixed.with_filter(Field::Category, "Aggregated", false);
    let sel = filter::resolve(pool, &summaries).await?;
    let (rows, _) =
        events::list(pool, &sel, range, crate::query::Sort::Newest, None, WINDOWS_SHOWN).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut out = Vec::new();
    for (id, record) in events::records(pool, &ids).await? {
        let record = match record {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(event = id, error = %e, "an aggregated event cannot be read");
                continue;
            }
        };
        let Some(s) = crate::aggregated::parse(&record) else {
            continue;
        };
        if let Some(about) = s.about(arn) {
            out.push(crate::aggregated::Window {
                event_id: id,
                template: crate::aggregated::template(&s.primary.dimension),
                window_start: s.window_start,
                window_end: s.window_end,
                about,
            });
        }
    }
    Ok(out)
}

#[component]
pub fn ResourcePage() -> impl IntoView {
    let params = use_params_map();
    let qmap = use_query_map();
    let arn = Memo::new(move |_| key_from_path(&params.read().get("arn").unwrap_or_default()));
    let query = Memo::new(move |_| {
        let p = qmap.read();
        EventQuery::from_params(|k| p.get_all(k).unwrap_or_default())
    });
    let data = Resource::new(
        move || (arn.get(), query.get().to_query()),
        |(a, q)| get_resource(a, q),
    );
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading resource…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(v)) => view! { <ResourceBody v=v query=query.get_untracked()/> }.into_any(),
                    Ok(None) => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// What the resource page warns of: its bucket's data events for an S3 bucket or object,
/// its own data events for a Lambda function or DynamoDB table; else management events in
/// its account (and its Region, where the ARN names one).
fn resource_scope(
    c: &crate::model::ResourceCard,
    query: &EventQuery,
    range: &crate::model::ResolvedRange,
) -> crate::pages::coverage::GapScope {
    use crate::coverage::What;
    let base = crate::pages::coverage::GapScope::of_query(query, range.from_ms, range.to_ms);
    match What::of_resource(&c.arn) {
        Some(w) => crate::pages::coverage::GapScope {
            kinds: vec![w.key()],
            ..base
        },
        None => {
            let region = c.arn.split(':').nth(3).filter(|r| !r.is_empty()).map(str::to_owned);
            crate::pages::coverage::GapScope {
                accounts: c.account.clone().into_iter().collect(),
                regions: region.into_iter().collect(),
                kinds: vec![What::Management.key()],
                ..base
            }
        }
    }
}

#[component]
fn ResourceBody(v: ResourceView, query: EventQuery) -> impl IntoView {
    let c = v.card.clone();
    let path = fmt::resource_href(&c.arn);
    let range = v.activity.range.clone();
    let selection = query
        .settled(&range)
        .with_filter(Field::Resource, &c.arn, false);
    let timeline_href = selection.href("/");
    let links = query.range_only(&range);
    let changes = v.changes.clone();
    let changes_view = if changes.is_empty() {
        view! { <p class="muted">"No write events touched it in this range."</p> }.into_any()
    } else {
        view! {
            <EventsTable rows=changes caption="Changes: write events, newest first" query=query.with_access(Some(Access::Write)) path=path.clone() links=links sortable=false/>
        }
        .into_any()
    };
    view! {
        <Title text=fmt::title(&format!("{} (resource)", c.name))/>
        <p class="breadcrumbs"><a href="/">"Timeline"</a> " / resource"</p>
        <h1 class="page__title" title=c.arn.clone()>{fmt::clip(&c.name, 160)}</h1>
        <section class="card" aria-labelledby="rs-what" data-testid="resource-card">
            <h2 id="rs-what">"Resource"</h2>
            <dl class="fields">
                <dt>"Type"</dt><dd class="field__value">{c.kind.clone()}</dd>
                <dt>"ARN"</dt><dd class="field__value">{c.arn.clone()}</dd>
                {c.account.clone().map(|a| view! { <dt>"Account"</dt><dd class="field__value">{a}</dd> })}
                {c.first_seen_ms.map(|t| view! { <dt>"First seen (UTC)"</dt><dd class="field__value">{fmt::time(t)}</dd> })}
                {c.last_seen_ms.map(|t| view! { <dt>"Last seen (UTC)"</dt><dd class="field__value">{fmt::time(t)}</dd> })}
            </dl>
            <p><a href=timeline_href>"Open in the timeline"</a></p>
        </section>
        <crate::pages::findings::FindingsPanel findings=v.findings.clone() resource=c.arn.clone()/>
        <EntityToolbar query=query.clone() range=range.clone() path=path.clone()
            field=Field::Resource value=c.arn.clone() can_save=v.can_save/>
        <RangeNotice query=query.clone() resolved=range.clone() path=path.clone()/>
        <crate::pages::coverage::CoverageNotice scope=resource_scope(&c, &query, &range) gaps=v.gaps.clone()/>
        <FilterChips query=query.clone() path=path.clone()/>
        <section class="card" aria-labelledby="rs-changes" data-testid="changes">
            <h2 id="rs-changes">"Changes"</h2>
            {changes_view}
        </section>
        <ActivitySection a=v.activity.clone() query=query.clone() path=path.clone() selection=selection
            headings=&["Principals involved", "Actions", "Source IPs", "Related resources", "Errors and denials"]/>
        {(!v.windows.is_empty()).then(|| view! { <Windows windows=v.windows.clone()/> })}
    }
}

/// The 5-minute summaries (aggregated events) that name the resource: per window, the
/// calls on it and what the summary says of who and what.
#[component]
fn Windows(windows: Vec<crate::aggregated::Window>) -> impl IntoView {
    let n = windows.len();
    view! {
        <section class="card" aria-labelledby="rs-windows" data-testid="resource-windows">
            <h2 id="rs-windows">"5-minute summaries (aggregated events)"</h2>
            <p class="muted">{format!(
                "{} from the trail's aggregation of data events, newest first{}. Each counts calls in its window; the events themselves are in the timeline when the trail also records them.",
                if n == 1 { "One window".to_owned() } else { format!("{n} windows") },
                if n as i64 >= WINDOWS_SHOWN { format!(" (the latest {WINDOWS_SHOWN})") } else { String::new() })}</p>
            <div class="table-wrap" tabindex="0" role="region" aria-label="5-minute summaries">
                <table class="data-table wide-table">
                    <thead><tr>
                        <th scope="col">"Window (UTC)"</th><th scope="col">"Summary"</th>
                        <th scope="col">"Calls on it"</th><th scope="col">"Who and what"</th>
                    </tr></thead>
                    <tbody>
                        {windows.into_iter().map(|w| {
                            let scope = if w.about.only_this { "" } else { " (the whole window)" };
                            view! {
                                <tr data-testid="resource-window">
                                    <td class="nowrap"><a href=format!("/events/{}", w.event_id)>{format!("{} – {}", w.window_start, w.window_end.get(11..).unwrap_or(&w.window_end))}</a></td>
                                    <td>{w.template.clone()}</td>
                                    <td class="num">{fmt::count(w.about.count)}</td>
                                    <td class="cell-wrap">
                                        {w.about.by.into_iter().map(|(dim, stats)| {
                                            let list = stats.iter().take(5).map(|(name, v)| format!("{} ({})", fmt::clip(name, 200), fmt::count(*v))).collect::<Vec<_>>().join(", ");
                                            let more = if stats.len() > 5 { format!(" and {} more", stats.len() - 5) } else { String::new() };
                                            view! { <div>{format!("{dim}{scope}: {list}{more}")}</div> }
                                        }).collect_view()}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
