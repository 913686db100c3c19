//! `/ips/{address}` and `/access-keys/{id}`: who used an address or a key, when, with
//! what, and what they did; for a key, also the calls that issued, created, changed or
//! deleted it.

use crate::components::save_view::EntityToolbar;
use crate::components::{
    activity::ActivitySection, error_panel::ErrorPanel, events_table::EventsTable,
    filter_bar::FilterChips, time_range::RangeNotice,
};
use crate::fmt;
use crate::model::{Activity, EventRow};
use crate::pages::not_found::NotFound;
use crate::query::{EventQuery, Field};
use crate::schema::Dim;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

/// Panels of an address's page.
pub const ADDRESS_DIMS: [Dim; 6] = [
    Dim::Principal,
    Dim::AccessKey,
    Dim::UserAgent,
    Dim::Name,
    Dim::Resource,
    Dim::ErrorCode,
];
const ADDRESS_HEADINGS: &[&str] = &[
    "Who used it",
    "With which access keys",
    "User agents",
    "What they did",
    "Resources touched",
    "Errors and denials",
];

/// Panels of an access key's page.
pub const KEY_DIMS: [Dim; 6] = [
    Dim::Principal,
    Dim::SourceIp,
    Dim::UserAgent,
    Dim::Name,
    Dim::Resource,
    Dim::ErrorCode,
];
const KEY_HEADINGS: &[&str] = &[
    "Whose key (principals using it)",
    "From which addresses",
    "User agents",
    "What was done with it",
    "Resources touched",
    "Errors and denials",
];

/// An address or a key, as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldView {
    pub value: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub activity: Activity,
    /// For a key: the calls that issued, created, changed or deleted it.
    pub lifecycle: Vec<EventRow>,
    pub can_save: bool,
}

/// What an address is, in words: private, AWS-internal, a service name.
pub fn describe_address(a: &str) -> &'static str {
    match a.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) if v4.is_private() => "IPv4, private (RFC 1918)",
        Ok(std::net::IpAddr::V4(v4)) if v4.is_loopback() || v4.is_link_local() => "IPv4, local",
        Ok(std::net::IpAddr::V4(_)) => "IPv4, public",
        Ok(std::net::IpAddr::V6(_)) => "IPv6",
        Err(_) if a.ends_with(".amazonaws.com") || a.starts_with("AWS ") => {
            "an AWS service acting for the caller"
        }
        Err(_) => "not an address (as recorded)",
    }
}

/// What an access key is, from its prefix.
pub fn describe_key(k: &str) -> &'static str {
    match k.get(..4) {
        Some("AKIA") => "long-term key of an IAM user (or the root user)",
        Some("ASIA") => "temporary credentials (STS)",
        Some("ABIA") => "AWS STS service bearer token",
        Some("ACCA") => "context-specific credential",
        _ => "access key",
    }
}

/// An address's or a key's page data at `now_ms`; `None` when no event holds it.
#[cfg(feature = "ssr")]
pub async fn held_view(
    pool: &sqlx::SqlitePool,
    held: crate::db::terms::Held,
    value: &str,
    query: &EventQuery,
    now_ms: i64,
) -> Result<Option<HeldView>, crate::db::events::DetailError> {
    use crate::db::{events, filter, terms};
    let Some((first, last)) = terms::span(pool, held, value).await? else {
        return Ok(None);
    };
    let (field, dims): (Field, &[Dim]) = match held {
        terms::Held::SourceIp => (Field::SourceIp, &ADDRESS_DIMS),
        terms::Held::AccessKey => (Field::AccessKey, &KEY_DIMS),
    };
    let store = events::store_info(pool).await?;
    let range = query.resolve_for(now_ms, &store, Some((first, last)));
    let fixed = query
        .with_filter(field, value, false)
        .with_cursor(query.cursor);
    let sel = filter::resolve(pool, &fixed).await?;
    let activity = events::activity(pool, &sel, &fixed, &range, dims).await?;
    let lifecycle = match held {
        terms::Held::AccessKey => terms::key_lifecycle(pool, value, 50).await?,
        terms::Held::SourceIp => Vec::new(),
    };
    Ok(Some(HeldView {
        value: value.to_string(),
        first_seen_ms: first,
        last_seen_ms: last,
        activity,
        lifecycle,
        can_save: false,
    }))
}

/// An address's (`field` is `ip`) or an access key's (`access_key`) page.
#[server]
pub async fn get_held(
    field: String,
    value: String,
    query: String,
) -> Result<Option<HeldView>, ServerFnError> {
    use crate::db;
    crate::auth::require(crate::auth::Role::Viewer)?;
    let held = match Field::parse_key(&field) {
        Some(Field::SourceIp) => db::terms::Held::SourceIp,
        Some(Field::AccessKey) => db::terms::Held::AccessKey,
        _ => return Ok(None),
    };
    let pool = db::pool()?;
    let mut v = held_view(
        &pool,
        held,
        &value,
        &EventQuery::parse(&query),
        chrono::Utc::now().timestamp_millis(),
    )
    .await
    .map_err(|e| crate::error::WebError::internal("cannot load an address or key page", e))?;
    if let Some(v) = &mut v {
        v.can_save = crate::auth::may(crate::auth::Role::Analyst);
    }
    Ok(v)
}

/// `/ips/{addr}`.
#[component]
pub fn AddressPage() -> impl IntoView {
    view! { <HeldPage field=Field::SourceIp param="addr"/> }
}

/// `/access-keys/{key}`.
#[component]
pub fn AccessKeyPage() -> impl IntoView {
    view! { <HeldPage field=Field::AccessKey param="key"/> }
}

/// The page of the value in the path parameter `param`.
#[component]
fn HeldPage(field: Field, param: &'static str) -> impl IntoView {
    let params = use_params_map();
    let qmap = use_query_map();
    let value = Memo::new(move |_| params.read().get(param).unwrap_or_default());
    let query = Memo::new(move |_| {
        let p = qmap.read();
        EventQuery::from_params(|k| p.get_all(k).unwrap_or_default())
    });
    let data = Resource::new(
        move || (value.get(), query.get().to_query()),
        move |(v, q)| get_held(field.key().to_string(), v, q),
    );
    let loading = if field == Field::AccessKey {
        "Loading access key…"
    } else {
        "Loading address…"
    };
    view! {
        <Transition fallback=move || view! { <p class="loading">{loading}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(v)) => view! { <HeldBody v=v query=query.get_untracked() field=field/> }.into_any(),
                    Ok(None) => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn HeldBody(v: HeldView, query: EventQuery, field: Field) -> impl IntoView {
    let is_key = field == Field::AccessKey;
    let (path, what, kind, headings) = if is_key {
        (
            fmt::access_key_href(&v.value),
            "access key",
            describe_key(&v.value),
            KEY_HEADINGS,
        )
    } else {
        (
            fmt::ip_href(&v.value),
            "source address",
            describe_address(&v.value),
            ADDRESS_HEADINGS,
        )
    };
    let range = v.activity.range.clone();
    let selection = query.settled(&range).with_filter(field, &v.value, false);
    let timeline_href = selection.href("/");
    let lifecycle = v.lifecycle.clone();
    let lifecycle_view = is_key.then(|| {
        view! {
            <section class="card" aria-labelledby="held-life" data-testid="key-lifecycle">
                <h2 id="held-life">"Issued, created, changed or deleted"</h2>
                {if lifecycle.is_empty() {
                    view! { <p class="muted">"No event in the store issued, created, changed or deleted this key."</p> }.into_any()
                } else {
                    view! {
                        <EventsTable rows=lifecycle caption="The key's own history, oldest first" query=EventQuery::default()
                            path="/" links=EventQuery::default() sortable=false/>
                    }.into_any()
                }}
            </section>
        }
    });
    view! {
        <Title text=fmt::title(&format!("{} ({what})", v.value))/>
        <p class="breadcrumbs"><a href="/">"Timeline"</a> {format!(" / {what}")}</p>
        <h1 class="page__title">{fmt::clip(&v.value, 160)}</h1>
        <section class="card" aria-labelledby="held-card" data-testid="held-card">
            <h2 id="held-card">{if is_key { "Access key" } else { "Source address" }}</h2>
            <dl class="fields">
                <dt>"What it is"</dt><dd class="field__value">{kind}</dd>
                <dt>"First seen (UTC)"</dt><dd class="field__value">{fmt::time(v.first_seen_ms)}</dd>
                <dt>"Last seen (UTC)"</dt><dd class="field__value">{fmt::time(v.last_seen_ms)}</dd>
            </dl>
            <p><a href=timeline_href>"Open in the timeline"</a></p>
        </section>
        {lifecycle_view}
        <EntityToolbar query=query.clone() range=range.clone() path=path.clone()
            field=field value=v.value.clone() can_save=v.can_save/>
        <RangeNotice query=query.clone() resolved=range.clone() path=path.clone()/>
        <FilterChips query=query.clone() path=path.clone()/>
        <ActivitySection a=v.activity.clone() query=query.clone() path=path.clone() selection=selection headings=headings/>
    }
}
