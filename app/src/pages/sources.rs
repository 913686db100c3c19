//! `/admin/sources` and `/admin/sources/{name}`: the AWS sources Cairn syncs from, how
//! each feed is doing, and forms to add, edit, check, pause, sync and remove them. The
//! forms post to `/admin/source-actions/{action}`, which redirects back saying what happened.

use crate::components::admin_nav::{admin_nav, feedback};
use crate::components::error_panel::ErrorPanel;
use crate::fmt;
use crate::model::{FeedStatus, SourceDetail, SourceList, SourceSettings, TrailSummary};
use crate::pages::not_found::NotFound;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[server]
pub async fn get_sources() -> Result<SourceList, ServerFnError> {
    crate::auth::require(crate::auth::Role::Admin)?;
    let pool = crate::db::pool()?;
    let sources = crate::db::sources::summaries(&pool)
        .await
        .map_err(crate::db::opaque)?;
    let store = crate::db::events::store_info(&pool)
        .await
        .map_err(crate::db::opaque)?;
    let last_retention = crate::db::retention::last_pass(&pool)
        .await
        .map_err(crate::db::opaque)?;
    let retain_days = use_context::<crate::db::retention::Policy>().and_then(|p| p.0);
    let source_periods = crate::db::sources::retention_periods(&pool)
        .await
        .map_err(crate::db::opaque)?;
    Ok(SourceList {
        now_ms: chrono::Utc::now().timestamp_millis(),
        sources,
        store,
        retain_days,
        source_periods,
        last_retention,
    })
}

#[server]
pub async fn get_source(name: String) -> Result<Option<SourceDetail>, ServerFnError> {
    crate::auth::require(crate::auth::Role::Admin)?;
    let pool = crate::db::pool()?;
    crate::db::sources::detail(&pool, &name)
        .await
        .map_err(crate::db::opaque)
}

/// "3 min ago", "2 h ago", "5 d ago".
fn ago(then: i64, now: i64) -> String {
    let d = (now - then).max(0);
    match d {
        d if d < 60_000 => "just now".into(),
        d if d < 3_600_000 => format!("{} min ago", d / 60_000),
        d if d < 2 * 86_400_000 => format!("{} h ago", d / 3_600_000),
        d => format!("{} d ago", d / 86_400_000),
    }
}

fn when(t: Option<i64>, now: i64) -> String {
    t.map(|t| format!("{} ({})", fmt::time(t), ago(t, now)))
        .unwrap_or_else(|| "never".into())
}

fn lag(newest: Option<i64>, now: i64) -> String {
    newest
        .map(|t| {
            let d = (now - t).max(0);
            if d < 3_600_000 {
                format!("{} min", d / 60_000)
            } else if d < 2 * 86_400_000 {
                format!("{} h", d / 3_600_000)
            } else {
                format!("{} d", d / 86_400_000)
            }
        })
        .unwrap_or_else(|| "—".into())
}

fn state_badge(state: &str) -> impl IntoView + use<> {
    let class = match state {
        "ok" => "badge badge--ok",
        "failed" => "badge badge--error",
        "partial" => "badge badge--warn",
        _ => "badge badge--info",
    };
    view! { <span class=class>{state.to_owned()}</span> }
}

fn done_message(code: &str) -> Option<&'static str> {
    match code {
        "added" => Some("Source added. Check its access, then sync it."),
        "saved" => Some("Settings saved; the next pass uses them."),
        "checked" => Some("Access checked: see below."),
        "paused" => Some("Paused: no passes run until it is resumed. Its events stay."),
        "resumed" => Some("Resumed: it syncs on the next pass."),
        "removed" => Some("Source removed. The events it brought in stay."),
        "syncing" => Some("A pass was started; its progress shows below. Reload to follow it."),
        _ => None,
    }
}

/// What the store holds and how long it keeps it.
fn stored(list: &SourceList) -> impl IntoView + use<> {
    let now = list.now_ms;
    let store = &list.store;
    let mut policy = match list.retain_days {
        Some(d) => format!(
            "{d} days: older events are removed every hour, except those pinned to an investigation or in an open finding"
        ),
        None => "for ever (serve with --retain-days N to remove older events)".to_owned(),
    };
    if !list.source_periods.is_empty() {
        let own: Vec<String> = list
            .source_periods
            .iter()
            .map(|(name, d)| format!("{name}: {d} days"))
            .collect();
        policy.push_str(&format!(
            ". The accounts of these sources keep their own period: {}",
            own.join(", ")
        ));
    }
    let last = list.last_retention.as_ref().map(|p| match &p.error {
        Some(e) => format!("{}: failed: {e}", when(Some(p.finished_at), now)),
        None => format!(
            "{}: {} events older than {} days removed, {} kept (pinned or in an open finding), {} pages given back; the database is {}",
            when(Some(p.finished_at), now),
            fmt::count(p.removed),
            p.days,
            fmt::count(p.kept),
            fmt::count(p.pages_freed),
            fmt::bytes(p.file_bytes)
        ),
    });
    view! {
        <section class="card" data-testid="stored-events">
            <h2>"Stored events"</h2>
            <dl class="fields">
                <dt>"Events"</dt><dd data-testid="events-stored">{fmt::count(store.events)}</dd>
                <dt>"Oldest kept"</dt><dd data-testid="oldest-event">{when(store.oldest_ms, now)}</dd>
                <dt>"Newest"</dt><dd>{when(store.newest_ms, now)}</dd>
                <dt>"Kept for"</dt><dd data-testid="retention-policy">{policy}</dd>
                {last.map(|l| view! { <dt>"Last removal"</dt><dd data-testid="retention-last">{l}</dd> })}
            </dl>
        </section>
    }
}

#[component]
pub fn SourcesPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_sources());
    view! {
        <Title text="Sources"/>
        <h1 class="page__title">"Sources"</h1>
        {admin_nav("/admin/sources")}
        {feedback(done_message)}
        <Suspense fallback=|| view! { <p class="loading">"Loading sources…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(list) if list.sources.is_empty() => view! {
                        <p class="muted" data-testid="no-sources">
                            "No sources yet. Add the trail bucket, a notification queue or LookupEvents of an AWS account below."
                        </p>
                        {stored(&list)}
                    }.into_any(),
                    Ok(list) => view! { <SourcesTable list=list.clone()/> {stored(&list)} }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
        <section class="card">
            <h2>"Add a source"</h2>
            <SourceForm action="/admin/source-actions/add" settings=None/>
        </section>
    }
}

#[component]
fn SourcesTable(list: SourceList) -> impl IntoView {
    let now = list.now_ms;
    view! {
        <div class="table-wrap">
            <table class="data-table" data-testid="sources-table">
                <thead>
                    <tr>
                        <th>"Source"</th><th>"Reads"</th><th>"Regions"</th><th>"State"</th>
                        <th>"Last success"</th><th>"Lag"</th><th class="num">"Events"</th>
                        <th class="num">"Problems (24 h)"</th>
                    </tr>
                </thead>
                <tbody>
                    {list.sources.into_iter().map(|s| {
                        let href = format!("/admin/sources/{}", s.name);
                        let state = if s.paused { "paused".to_owned() } else { s.state.clone().unwrap_or_else(|| "not synced yet".into()) };
                        let regions = if s.regions.is_empty() { "all".to_owned() } else { s.regions.join(", ") };
                        view! {
                            <tr>
                                <td><a href=href>{s.name.clone()}</a></td>
                                <td class="cell-wrap">{s.feeds.join(" · ")}</td>
                                <td class="cell-wrap">{regions}</td>
                                <td>{state_badge(&state)}</td>
                                <td>{when(s.last_success_at, now)}</td>
                                <td>{lag(s.newest_ms, now)}</td>
                                <td class="num">{fmt::count(s.events_total)}</td>
                                <td class="num">{fmt::count(s.problems_24h)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// The add or edit form. Secrets are write-only: the external ID is never shown.
#[component]
fn SourceForm(action: &'static str, settings: Option<SourceSettings>) -> impl IntoView {
    let s = settings.clone().unwrap_or(SourceSettings {
        id: 0,
        name: String::new(),
        bucket: None,
        prefix: String::new(),
        org_id: None,
        queue_url: None,
        lookup_events: false,
        regions: Vec::new(),
        profile: None,
        role_arn: None,
        has_external_id: false,
        session_name: None,
        endpoint_url: None,
        backfill_days: 90,
        retain_days: None,
        paused: false,
        created_at: 0,
        updated_at: 0,
    });
    let editing = settings.is_some();
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let submit = if editing {
        "Save settings"
    } else {
        "Add source"
    };
    view! {
        <form class="stack-form" method="post" action=action>
            {editing.then(|| view! { <input type="hidden" name="original" value=s.name.clone()/> })}
            <fieldset>
                <legend>"Source"</legend>
                <label>"Name " <input name="name" required maxlength="64" pattern="[A-Za-z0-9._\\-]+" value=s.name.clone() autocomplete="off"/></label>
            </fieldset>
            <fieldset>
                <legend>"What to read (at least one)"</legend>
                <label>"Trail bucket " <input name="bucket" value=v(&s.bucket) placeholder="my-trail-bucket" autocomplete="off"/></label>
                <label>"Key prefix " <input name="prefix" value=s.prefix.clone() placeholder="before AWSLogs/" autocomplete="off"/></label>
                <label>"Organization ID " <input name="org_id" value=v(&s.org_id) placeholder="o-… (organization trails)" autocomplete="off"/></label>
                <label>"SQS queue URL " <input name="queue_url" type="url" value=v(&s.queue_url) placeholder="https://sqs.…/ACCOUNT/QUEUE" autocomplete="off"/></label>
                <label class="check"><input type="checkbox" name="lookup_events" checked=s.lookup_events/>" LookupEvents: the last 90 days of management events"</label>
                <label>"Regions " <input name="regions" value=s.regions.join(",") placeholder="all Regions when empty" autocomplete="off"/></label>
                <label>"Backfill days " <input name="backfill_days" type="number" min="1" max="3650" value=s.backfill_days.to_string()/></label>
                <label>"Keep events (days) " <input name="retain_days" type="number" min="1" max="36500"
                    value=s.retain_days.map(|d| d.to_string()).unwrap_or_default() placeholder="as the server says (--retain-days)"/></label>
            </fieldset>
            <fieldset>
                <legend>"Credentials (the standard AWS chain)"</legend>
                <label>"Profile " <input name="profile" value=v(&s.profile) autocomplete="off"/></label>
                <label>"Role to assume " <input name="role_arn" value=v(&s.role_arn) placeholder="arn:aws:iam::ACCOUNT:role/NAME" autocomplete="off"/></label>
                <label>"External ID " <input name="external_id" type="password" autocomplete="new-password"
                    placeholder=if s.has_external_id { "set (leave empty to keep)" } else { "" }/></label>
                {s.has_external_id.then(|| view! { <label class="check"><input type="checkbox" name="clear_external_id"/>" Clear the external ID"</label> })}
                <label>"Session name " <input name="session_name" value=v(&s.session_name) placeholder="cairn" autocomplete="off"/></label>
                <label>"Endpoint URL " <input name="endpoint_url" type="url" value=v(&s.endpoint_url) placeholder="an S3-compatible store or emulator" autocomplete="off"/></label>
            </fieldset>
            <button type="submit" class="button button--primary">{submit}</button>
        </form>
    }
}

#[component]
pub fn SourcePage() -> impl IntoView {
    let params = use_params_map();
    let name = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    let data = Resource::new(move || name.get(), get_source);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the source…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(d)) => view! { <SourceView d/> }.into_any(),
                    Ok(None) => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// A button posting one action for the source.
fn action(
    name: &str,
    what: &'static str,
    label: &'static str,
    class: &'static str,
) -> impl IntoView + use<> {
    view! {
        <form method="post" action=format!("/admin/source-actions/{what}")>
            <input type="hidden" name="name" value=name.to_owned()/>
            <button type="submit" class=class>{label}</button>
        </form>
    }
}

#[component]
fn SourceView(d: SourceDetail) -> impl IntoView {
    let now = d.now_ms;
    let s = d.settings.clone();
    let name = s.name.clone();
    let feeds = s.feeds();
    let running = d.feeds.iter().any(|f| f.state == "running");
    view! {
        <Title text=format!("Source {}", fmt::clip(&name, 60))/>
        <h1 class="page__title">"Source " {name.clone()}</h1>
        {admin_nav("/admin/sources")}
        {feedback(done_message)}
        <p class="muted">
            {feeds.join(" · ")} " · Regions: "
            {if s.regions.is_empty() { "all".to_owned() } else { s.regions.join(", ") }}
            {if s.paused { " · paused".to_owned() } else { String::new() }}
        </p>
        <div class="row-actions">
            {(!s.paused && !running).then(|| action(&name, "sync", "Sync now", "button button--primary"))}
            {action(&name, "check", "Check access", "button")}
            {if s.paused { action(&name, "resume", "Resume", "button").into_any() } else { action(&name, "pause", "Pause", "button").into_any() }}
        </div>
        <section class="card">
            <h2>"Feeds"</h2>
            {if d.feeds.is_empty() {
                view! { <p class="muted">"Not synced yet: passes run every few minutes, or press Sync now."</p> }.into_any()
            } else {
                view! { <FeedsTable feeds=d.feeds.clone() now/> }.into_any()
            }}
            {(!d.lookup.is_empty()).then(|| view! {
                <h3>"LookupEvents bootstrap"</h3>
                <ul class="progress-list" data-testid="lookup-progress">
                    {d.lookup.iter().map(|r| {
                        let pct = (r.fraction * 100.0).round() as i64;
                        let text = if r.done {
                            "done".to_owned()
                        } else {
                            format!("{pct}% · back to {}", r.reached_ms.map(fmt::time).unwrap_or_else(|| "—".into()))
                        };
                        view! {
                            <li>
                                <span class="progress-list__label">{r.region.clone()}</span>
                                <progress max="100" value=pct.to_string()>{format!("{pct}%")}</progress>
                                <span>{text}</span>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
        </section>
        <section class="card" id="check">
            <h2>"Access"</h2>
            {match d.check.clone() {
                None => view! { <p class="muted">"Not checked yet. Check access tries each call the feeds make and names any IAM action missing."</p> }.into_any(),
                Some(c) => view! {
                    <p class="muted">"Checked " {when(Some(c.at), now)} {c.by.map(|b| format!(" by {b}")).unwrap_or_default()}</p>
                    <ul class="check-list" data-testid="check-lines">
                        {c.lines.into_iter().map(|l| {
                            let (class, mark, said) = match (l.ok, l.optional) {
                                (true, _) => ("check-list__ok", "✓ ", "allowed: "),
                                (false, true) => ("check-list__optional", "! ", "refused, optional: "),
                                (false, false) => ("check-list__refused", "✗ ", "refused: "),
                            };
                            view! {
                            <li class=class>
                                <span aria-hidden="true">{mark}</span>
                                <span class="visually-hidden">{said}</span>
                                <code>{l.action}</code>" (" {l.feed} ") " <span class="cell-wrap">{l.detail}</span>
                            </li>
                        }}).collect_view()}
                    </ul>
                }.into_any(),
            }}
            <p class="muted" data-testid="change-permissions">"Changes made from a trail's page also need, on that trail, "
                <code>"cloudtrail:StartLogging"</code>", "<code>"cloudtrail:StopLogging"</code>", "
                <code>"cloudtrail:PutEventSelectors"</code>" and "<code>"cloudtrail:PutInsightSelectors"</code>
                ". They are not tried here, since trying would change the trail; a refused change names the permission it lacked. Without them, Cairn only reads."</p>
        </section>
        <section class="card">
            <h2>"Recent problems"</h2>
            {if d.problems.is_empty() {
                view! { <p class="muted">"None."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="data-table" data-testid="problems-table">
                            <thead><tr><th>"Time (UTC)"</th><th>"Feed"</th><th>"What"</th><th>"Why"</th></tr></thead>
                            <tbody>
                                {d.problems.iter().map(|p| view! {
                                    <tr>
                                        <td class="nowrap">{fmt::time(p.at)}</td>
                                        <td>{p.feed.clone()}</td>
                                        <td class="cell-wrap">{p.what.clone()}</td>
                                        <td class="cell-wrap">{p.error.clone()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
        <section class="card">
            <h2>"Trails"</h2>
            {if d.trails.is_empty() {
                view! { <p class="muted">"No trails seen yet (the inventory is taken hourly)."</p> }.into_any()
            } else {
                view! { <TrailsTable trails=d.trails.clone() now/> }.into_any()
            }}
        </section>
        <section class="card">
            <h2>"Settings"</h2>
            <SourceForm action="/admin/source-actions/edit" settings=Some(s.clone())/>
        </section>
        <section class="card">
            <h2>"Remove"</h2>
            <p class="muted">"Removing a source ends its syncing and its history. The events it brought in stay."</p>
            {action(&name, "remove", "Remove source", "button button--danger")}
        </section>
    }
}

#[component]
fn FeedsTable(feeds: Vec<FeedStatus>, now: i64) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data-table" data-testid="feeds-table">
                <thead>
                    <tr>
                        <th>"Feed"</th><th>"State"</th><th>"Last pass"</th><th>"Last success"</th><th>"Lag"</th>
                        <th class="num">"Files last pass"</th><th class="num">"Events last pass"</th>
                        <th class="num">"Files in all"</th><th class="num">"Events in all"</th>
                    </tr>
                </thead>
                <tbody>
                    {feeds.into_iter().map(|f| {
                        let progress = f.running_files.map(|(done, found)| {
                            let pct = if found > 0 { (done * 100 / found).min(100) } else { 0 };
                            view! {
                                <div class="feed-progress">
                                    <progress max="100" value=pct.to_string()>{format!("{pct}%")}</progress>
                                    " " {fmt::count(done)} " of " {if found > 0 { fmt::count(found) } else { "?".into() }} " files"
                                </div>
                            }
                        });
                        view! {
                            <tr>
                                <td class="nowrap">{f.feed.clone()}</td>
                                <td>{state_badge(&f.state)}{progress}{f.error.clone().map(|e| view! { <div class="cell-wrap muted">{e}</div> })}</td>
                                <td>{when(Some(f.last_started_at), now)}</td>
                                <td>{when(f.last_success_at, now)}</td>
                                <td>{if f.feed == "inventory" || f.feed == "integrity" { "—".into() } else { lag(f.newest_ms, now) }}</td>
                                <td class="num">{fmt::count(f.files_last)}</td>
                                <td class="num">{fmt::count(f.events_last)}</td>
                                <td class="num">{fmt::count(f.files_total)}</td>
                                <td class="num">{fmt::count(f.events_total)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn TrailsTable(trails: Vec<TrailSummary>, now: i64) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data-table" data-testid="trails-table">
                <thead>
                    <tr><th>"Trail"</th><th>"Seen from"</th><th>"Logging"</th><th>"Logs"</th><th>"Latest delivery"</th><th>"Changed"</th></tr>
                </thead>
                <tbody>
                    {trails.into_iter().map(|t| {
                        let logging = match (t.gone, t.logging, t.shadow) {
                            (true, _, _) => state_badge("gone").into_any(),
                            (_, _, true) => view! { <span class="muted">{format!("shadow of {}", t.home_region.clone().unwrap_or_default())}</span> }.into_any(),
                            (_, Some(true), _) => view! { <span class="badge badge--ok">"logging"</span> }.into_any(),
                            (_, Some(false), _) => view! { <span class="badge badge--error">"stopped"</span> }.into_any(),
                            _ => view! { <span>"—"</span> }.into_any(),
                        };
                        let scope = [t.multi_region.then_some("multi-Region"), t.organization.then_some("organization")]
                            .into_iter().flatten().collect::<Vec<_>>().join(", ");
                        view! {
                            <tr>
                                <td class="cell-wrap" title=t.arn.clone()>{t.name.clone()}
                                    {(!scope.is_empty()).then(|| view! { <div class="muted">{scope}</div> })}</td>
                                <td>{t.region.clone()}</td>
                                <td>{logging}{t.delivery_error.clone().map(|e| view! { <div class="cell-wrap badge badge--error">{e}</div> })}</td>
                                <td class="cell-wrap">{t.selectors.clone()}</td>
                                <td>{when(t.latest_delivery, now)}</td>
                                <td>{when(Some(t.changed_at), now)}{(t.changes > 0).then(|| format!(" · {} change{}", t.changes, if t.changes == 1 { "" } else { "s" }))}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
