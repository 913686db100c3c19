//! `/principals/{key}`: who someone is, where their session came from, what they did.

use crate::components::save_view::EntityToolbar;
use crate::components::{
    activity::ActivitySection, error_panel::ErrorPanel, filter_bar::FilterChips,
    time_range::RangeNotice,
};
use crate::fmt;
use crate::model::PrincipalView;
use crate::pages::event::field;
use crate::pages::not_found::NotFound;
use crate::query::{EventQuery, Field};
use crate::schema::Dim;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

/// Panels of the principal page.
pub const PRINCIPAL_DIMS: [Dim; 6] = [
    Dim::Name,
    Dim::Resource,
    Dim::SourceIp,
    Dim::UserAgent,
    Dim::ErrorCode,
    Dim::AccessKey,
];

#[server]
pub async fn get_principal(
    key: String,
    query: String,
) -> Result<Option<PrincipalView>, ServerFnError> {
    use crate::db;
    crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = db::pool()?;
    let now = chrono::Utc::now().timestamp_millis();
    let query = EventQuery::parse(&query);
    let cache_key = crate::cache::view_key(&key, &query, now);
    let mut v = crate::cache::cached(cache_key, || async {
        principal_view(&pool, &key, &query, now)
            .await
            .map_err(|e| crate::error::WebError::internal("cannot load principal", e))
    })
    .await?;
    if let Some(v) = &mut v {
        v.can_save = crate::auth::may(crate::auth::Role::Analyst);
    }
    Ok(v)
}

/// The principal page's data at `now_ms`.
#[cfg(feature = "ssr")]
pub async fn principal_view(
    pool: &sqlx::SqlitePool,
    key: &str,
    query: &EventQuery,
    now_ms: i64,
) -> Result<Option<PrincipalView>, crate::db::events::DetailError> {
    use crate::db::{events, filter, principals};
    let Some((id, card)) = principals::card(pool, key).await? else {
        return Ok(None);
    };
    let chain = principals::chain(pool, id).await?;
    let sessions = principals::sessions(pool, id, 50).await?;
    let store = events::store_info(pool).await?;
    let range = query.resolve_for(now_ms, &store, card.first_seen_ms.zip(card.last_seen_ms));
    let fixed = query
        .with_filter(Field::Principal, &card.key, false)
        .with_cursor(query.cursor);
    let sel = filter::resolve(pool, &fixed).await?;
    let activity = events::activity(pool, &sel, &fixed, &range, &PRINCIPAL_DIMS).await?;
    // Read here with the rest, not by resources of their own inside the page's Suspense.
    let findings = crate::pages::findings::latest_of(pool, Some(card.key.clone()), None).await;
    let gaps = crate::pages::coverage::gaps_for(pool, &gap_scope(&card, query, &activity.range)).await;
    Ok(Some(PrincipalView {
        card,
        chain,
        sessions,
        activity,
        can_save: false,
        findings,
        gaps,
    }))
}

/// What the principal page warns of: gaps in its account in the range.
fn gap_scope(
    c: &crate::model::PrincipalCard,
    query: &EventQuery,
    range: &crate::model::ResolvedRange,
) -> crate::pages::coverage::GapScope {
    crate::pages::coverage::GapScope {
        accounts: c.account.clone().into_iter().collect(),
        ..crate::pages::coverage::GapScope::of_query(query, range.from_ms, range.to_ms)
    }
}

/// A key or ARN taken from the rest of a path (`/principals/…`, `/resources/…`).
pub fn key_from_path(p: &str) -> String {
    p.trim_start_matches('/').to_string()
}

#[component]
pub fn PrincipalPage() -> impl IntoView {
    let params = use_params_map();
    let qmap = use_query_map();
    let key = Memo::new(move |_| key_from_path(&params.read().get("key").unwrap_or_default()));
    let query = Memo::new(move |_| {
        let p = qmap.read();
        EventQuery::from_params(|k| p.get_all(k).unwrap_or_default())
    });
    let data = Resource::new(
        move || (key.get(), query.get().to_query()),
        |(k, q)| get_principal(k, q),
    );
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading principal…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(v)) => view! { <PrincipalBody v=v query=query.get_untracked()/> }.into_any(),
                    Ok(None) => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Console sign-ins, successful (with and without MFA) and failed apart; the failed
/// ones link to themselves in the timeline.
fn console_sign_ins(c: &crate::model::PrincipalCard) -> impl IntoView + use<> {
    let s = c.console;
    if s.succeeded + s.failed == 0 {
        return view! { "none seen" }.into_any();
    }
    let without = s.succeeded - s.with_mfa;
    let ok = format!(
        "{} successful ({} with MFA, {} without)",
        fmt::count(s.succeeded),
        fmt::count(s.with_mfa),
        fmt::count(without)
    );
    let failed_href = EventQuery::default()
        .with_range(crate::query::TimeRange::Preset(crate::query::Preset::All))
        .with_filter(Field::Principal, &c.key, false)
        .with_filter(Field::Name, "ConsoleLogin", false)
        .with_filter(Field::Error, crate::query::ANY, false)
        .href("/");
    let failed = (s.failed > 0).then(|| {
        view! {
            "; " <a href=failed_href class="text-error">{format!("{} failed", fmt::count(s.failed))}</a>
        }
    });
    let latest = match s.last_ok_mfa {
        Some(true) => "; the latest successful one used MFA",
        Some(false) => "; the latest successful one did NOT use MFA",
        None => "",
    };
    view! { {ok} {failed} {latest} }.into_any()
}

#[component]
fn PrincipalBody(v: PrincipalView, query: EventQuery) -> impl IntoView {
    let c = v.card.clone();
    let path = fmt::principal_href(&c.key);
    let range = v.activity.range.clone();
    let selection = query
        .settled(&range)
        .with_filter(Field::Principal, &c.key, false);
    let timeline_href = selection.href("/");
    let console = console_sign_ins(&c);
    let parent = c.parent.clone().map(|(k, d)| {
        view! {
            <dt>"Role"</dt>
            <dd class="field__value"><a href=fmt::principal_href(&k)>{d}</a></dd>
        }
    });
    let chain = v.chain.clone();
    let chain_view = (!chain.is_empty() || c.origin.is_some()).then(|| {
        let origin = c.origin.clone();
        view! {
            <section class="card" aria-labelledby="pr-chain" data-testid="chain">
                <h2 id="pr-chain">"Where this session came from"</h2>
                <ol class="chain">
                    <li class="chain__step chain__step--self">{c.display.clone()} <span class="muted">" (" {c.kind.clone()} ")"</span></li>
                    {chain
                        .into_iter()
                        .map(|s| view! {
                            <li class="chain__step">
                                "credentials from "
                                <a href=format!("/events/{}", s.event_id)>{s.event_name.clone()}</a>
                                " at " <time datetime=fmt::iso(s.time_ms)>{fmt::time(s.time_ms)}</time>
                                " by "
                                <a href=fmt::principal_href(&s.principal_key)>{s.principal.clone()}</a>
                                <span class="muted">" (" {s.kind.clone()}
                                    {s.source_ip.clone().map(|ip| format!(", from {ip}"))} ")"</span>
                            </li>
                        })
                        .collect_view()}
                    {origin.map(|o| view! { <li class="chain__step chain__step--origin">"started by " {o}</li> })}
                </ol>
            </section>
        }
    });
    let sessions = v.sessions.clone();
    let sessions_view = (!sessions.is_empty()).then(|| view! {
        <section class="card" aria-labelledby="pr-sessions">
            <h2 id="pr-sessions">"Sessions"</h2>
            <table class="plain-table">
                <caption class="visually-hidden">"Sessions of this role, most recently active first"</caption>
                <thead><tr>
                    <th scope="col">"Session"</th><th scope="col">"First seen (UTC)"</th>
                    <th scope="col">"Last seen (UTC)"</th><th scope="col">"Events"</th>
                </tr></thead>
                <tbody>
                    {sessions.into_iter().map(|s| view! {
                        <tr>
                            <td class="cell-clip"><a href=fmt::principal_href(&s.key)>{s.display.clone()}</a></td>
                            <td>{s.first_seen_ms.map(fmt::time)}</td>
                            <td>{s.last_seen_ms.map(fmt::time)}</td>
                            <td class="num">{fmt::count(s.events)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    });
    view! {
        <Title text=fmt::title(&format!("{} (principal)", c.display))/>
        <p class="breadcrumbs"><a href="/">"Timeline"</a> " / principal"</p>
        <h1 class="page__title" title=c.key.clone()>{fmt::clip(&c.display, 160)}</h1>
        <div class="event__grid">
            <section class="card" aria-labelledby="pr-who" data-testid="identity">
                <h2 id="pr-who">"Identity"</h2>
                <dl class="fields">
                    {field("Type", Some(c.kind.clone()))}
                    {field("ARN", c.arn.clone())}
                    {field("Key", (c.arn.as_deref() != Some(c.key.as_str())).then(|| c.key.clone()))}
                    {field("Account", c.account.clone())}
                    {parent}
                    {field("Behind it", c.origin.clone())}
                    {field("First seen (UTC)", c.first_seen_ms.map(fmt::time))}
                    {field("Last seen (UTC)", c.last_seen_ms.map(fmt::time))}
                    {field("Events (all time)", Some(fmt::count(c.events)))}
                    <dt>"Console sign-ins"</dt>
                    <dd class="field__value" data-testid="console-sign-ins">{console}</dd>
                </dl>
                <p><a href=timeline_href>"Open in the timeline"</a></p>
            </section>
            {chain_view}
        </div>
        <crate::pages::findings::FindingsPanel findings=v.findings.clone() principal=c.key.clone()/>
        {sessions_view}
        <EntityToolbar query=query.clone() range=range.clone() path=path.clone()
            field=Field::Principal value=c.key.clone() can_save=v.can_save/>
        <RangeNotice query=query.clone() resolved=range.clone() path=path.clone()/>
        <crate::pages::coverage::CoverageNotice scope=gap_scope(&c, &query, &range) gaps=v.gaps.clone()/>
        <FilterChips query=query.clone() path=path.clone()/>
        <ActivitySection a=v.activity.clone() query=query.clone() path=path.clone() selection=selection
            headings=&["Top actions", "Resources touched", "Source IPs", "User agents", "Errors and denials", "Access keys used"]/>
    }
}
