//! `/top/{field}`: every value of one field in a selection — the whole of a top list —
//! sortable and exportable.

use crate::components::{
    error_panel::ErrorPanel,
    events_table::MidClip,
    filter_bar::FilterChips,
    time_range::{RangeNotice, TimeRangeBar},
    top_list::{count_of, shown_label},
};
use crate::fmt;
use crate::model::{ResolvedRange, TopList};
use crate::pages::not_found::NotFound;
use crate::query::{EventQuery, Field};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

/// How the values are ordered (`by=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum By {
    Events,
    Errors,
    Value,
}

impl By {
    pub fn parse(s: Option<&str>) -> By {
        match s {
            Some("errors") => By::Errors,
            Some("value") => By::Value,
            _ => By::Events,
        }
    }

    pub fn key(self) -> Option<&'static str> {
        match self {
            By::Events => None,
            By::Errors => Some("errors"),
            By::Value => Some("value"),
        }
    }

    /// Orders rows: most events or errors first, or by value.
    pub fn sort(self, list: &mut TopList) {
        match self {
            By::Events => list
                .rows
                .sort_by(|a, b| b.events.cmp(&a.events).then(a.label.cmp(&b.label))),
            By::Errors => list
                .rows
                .sort_by(|a, b| b.errors.cmp(&a.errors).then(b.events.cmp(&a.events))),
            By::Value => list.rows.sort_by(|a, b| a.label.cmp(&b.label)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopAllView {
    pub list: TopList,
    pub range: ResolvedRange,
    pub events: i64,
    /// When the figures stop short of the start of the range: where they start.
    pub counted_from_ms: Option<i64>,
    pub names: Vec<(String, String)>,
}

/// The field a `/top/{field}` path names, if it has values to list.
pub fn field_of(key: &str) -> Option<Field> {
    Field::parse_key(key).filter(|f| crate::schema::Dim::of_field(*f).is_some())
}

/// Every value of `field` in the selection, ordered `by`.
#[cfg(feature = "ssr")]
pub async fn top_all_view(
    pool: &sqlx::SqlitePool,
    field: Field,
    query: &EventQuery,
    by: By,
    now_ms: i64,
) -> Result<Option<TopAllView>, sqlx::Error> {
    use crate::db::{events, filter};
    let Some(dim) = crate::schema::Dim::of_field(field) else {
        return Ok(None);
    };
    let store = events::store_info(pool).await?;
    let range = query.resolve(now_ms, &store);
    let sel = filter::resolve(pool, query).await?;
    // Single S3 objects are left out of an unfiltered resource list, as on the timeline.
    let objects = query.is_filtered();
    let (mut list, f) = events::top_all(pool, &sel, &range, dim, objects).await?;
    by.sort(&mut list);
    let names = filter::value_names(pool, query).await?;
    Ok(Some(TopAllView {
        list,
        range,
        events: f.kpis.events,
        counted_from_ms: f.counted_from_ms,
        names,
    }))
}

#[server]
pub async fn get_top_all(
    field: String,
    query: String,
    by: Option<String>,
) -> Result<Option<TopAllView>, ServerFnError> {
    use crate::db;
    crate::auth::require(crate::auth::Role::Viewer)?;
    let Some(field) = field_of(&field) else {
        return Ok(None);
    };
    let pool = db::pool()?;
    top_all_view(
        &pool,
        field,
        &EventQuery::parse(&query),
        By::parse(by.as_deref()),
        chrono::Utc::now().timestamp_millis(),
    )
    .await
    .map_err(db::opaque)
}

#[component]
pub fn TopAllPage() -> impl IntoView {
    let params = use_params_map();
    let qmap = use_query_map();
    let field = Memo::new(move |_| params.read().get("field").unwrap_or_default());
    let query = Memo::new(move |_| {
        let p = qmap.read();
        EventQuery::from_params(|k| p.get_all(k).unwrap_or_default())
    });
    let by = Memo::new(move |_| By::parse(qmap.read().get("by").as_deref()));
    let data = Resource::new(
        move || (field.get(), query.get().to_query(), by.get()),
        |(f, q, b)| get_top_all(f, q, b.key().map(str::to_string)),
    );
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading values…"</p> }>
            {move || Suspend::new(async move {
                match (data.await, field_of(&field.get_untracked())) {
                    (Ok(Some(v)), Some(f)) => view! { <TopAllBody v=v field=f query=query.get_untracked() by=by.get_untracked()/> }.into_any(),
                    (Ok(_), _) => view! { <NotFound/> }.into_any(),
                    (Err(e), _) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn TopAllBody(v: TopAllView, field: Field, query: EventQuery, by: By) -> impl IntoView {
    let path = format!("/top/{}", field.key());
    let with_by = |b: By, q: &EventQuery| {
        let href = q.href(&path);
        match b.key() {
            Some(k) if href.contains('?') => format!("{href}&by={k}"),
            Some(k) => format!("{href}?by={k}"),
            None => href,
        }
    };
    let total = v.events.max(1);
    let back = query.href("/");
    let export = {
        let q = query.settled(&v.range).to_query();
        let by = by.key().map(|k| format!("by={k}")).unwrap_or_default();
        let parts: Vec<&str> = [q.as_str(), by.as_str()].into_iter().filter(|s| !s.is_empty()).collect();
        format!("/export/top/{}.csv?{}", field.key(), parts.join("&"))
    };
    let counted = count_of(&v.list);
    let sorter = |b: By, label: &'static str| {
        let href = with_by(b, &query);
        let active = b == by;
        view! {
            <a class="chip chip--small" class:chip--active=active aria-current=active.then_some("true") href=href>{label}</a>
        }
    };
    let rows = v
        .list
        .rows
        .iter()
        .map(|r| {
            let include = query.with_filter(field, &r.value, false).href("/");
            let exclude = query.with_filter(field, &r.value, true).href(&path);
            let label = shown_label(field, &r.value, &r.label);
            view! {
                <tr>
                    <th scope="row" class="cell-clip top-all__value"><MidClip text=label.clone() href=include/></th>
                    <td class="num">{fmt::count(r.events)}</td>
                    <td class="num">{fmt::count(r.errors)}</td>
                    <td class="num muted">{format!("{:.1}%", r.events as f64 * 100.0 / total as f64)}</td>
                    <td class="top-list__actions"><a class="top-list__exclude" href=exclude aria-label=format!("Exclude {}", fmt::clip(&label, 80)) title="Exclude">"−"</a></td>
                </tr>
            }
        })
        .collect_view();
    let heading = format!("{}: every value", field.label());
    view! {
        <Title text=fmt::title(&heading)/>
        <p class="breadcrumbs"><a href=back>"Timeline"</a> " / all values"</p>
        <h1 class="page__title">{heading.clone()}</h1>
        <div class="toolbar">
            <TimeRangeBar query=query.clone() resolved=v.range.clone() path=path.clone()/>
        </div>
        <RangeNotice query=query.clone() resolved=v.range.clone() path=path.clone()/>
        <FilterChips query=query.clone() path=path.clone() names=v.names.clone()/>
        {v.counted_from_ms.map(|from| view! {
            <p class="notice" role="status">{format!("Many events match: these counts cover the newest {} of them, from {} UTC on.", fmt::count(v.events), fmt::time(from))}</p>
        })}
        <div class="table-tools">
            <span>
                <span class="muted">"Order: "</span>
                {sorter(By::Events, "most events")}
                {sorter(By::Errors, "most errors")}
                {sorter(By::Value, "by name")}
            </span>
            <span data-testid="top-all-count">{counted}</span>
            <a href=export download=format!("{}.csv", field.key()) data-testid="export-top">"Export CSV"</a>
        </div>
        <div class="table-wrap">
            <table class="data-table top-all" data-testid="top-all">
                <caption class="visually-hidden">{heading}</caption>
                <thead><tr>
                    <th scope="col">{field.label()}</th><th scope="col">"Events"</th><th scope="col">"Errors"</th>
                    <th scope="col">"Share"</th><th scope="col"><span class="visually-hidden">"Exclude"</span></th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}
