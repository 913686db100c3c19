//! `/admin/alerts` and `/admin/alerts/{id}`: where new findings are sent (webhooks,
//! Slack, SNS, EventBridge), what each receives, its delivery log and the alerts it still
//! owes. The forms post to `/admin/alert-actions/{action}`, which redirects back saying
//! what happened. Webhook URLs and tokens are write-only: only a URL's origin is shown.

use crate::alerts::{AlertsView, DestinationRow, DestinationView, KINDS, kind_label};
use crate::components::admin_nav::{admin_nav, feedback};
use crate::components::error_panel::ErrorPanel;
use crate::detections::Severity;
use crate::fmt;
use crate::pages::not_found::NotFound;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// Most delivery attempts and waiting alerts a destination's page lists.
pub const LOG_LIMIT: i64 = 100;

#[server]
pub async fn get_alerts() -> Result<AlertsView, ServerFnError> {
    crate::auth::require(crate::auth::Role::Admin)?;
    let pool = crate::db::pool()?;
    let destinations = crate::db::alerts::list(&pool).await.map_err(crate::db::opaque)?;
    Ok(AlertsView {
        destinations,
        now_ms: chrono::Utc::now().timestamp_millis(),
    })
}

#[server]
pub async fn get_destination(id: i64) -> Result<Option<DestinationView>, ServerFnError> {
    crate::auth::require(crate::auth::Role::Admin)?;
    let pool = crate::db::pool()?;
    let Some(row) = crate::db::alerts::get(&pool, id).await.map_err(crate::db::opaque)? else {
        return Ok(None);
    };
    let deliveries = crate::db::alerts::deliveries(&pool, id, LOG_LIMIT).await.map_err(crate::db::opaque)?;
    let waiting = crate::db::alerts::waiting(&pool, id, LOG_LIMIT).await.map_err(crate::db::opaque)?;
    Ok(Some(DestinationView {
        row,
        deliveries,
        waiting,
    }))
}

fn done_message(code: &str) -> Option<&'static str> {
    match code {
        "added" => Some("Destination added. New findings it takes are sent to it; send a test to check it."),
        "tested" => Some("The test alert was delivered."),
        "enabled" => Some("Enabled: alerts waiting for it are sent now."),
        "disabled" => Some("Disabled: new alerts for it wait until it is enabled again."),
        "retried" => Some("The alerts it gave up on are due again."),
        "removed" => Some("Destination removed, with its outbox and delivery log."),
        _ => None,
    }
}

fn receives(r: &DestinationRow) -> String {
    let sev = match r.min_severity {
        Severity::Informational => "every severity".to_string(),
        Severity::Critical => "critical".to_string(),
        s => format!("{} and worse", s.as_str()),
    };
    match &r.rules {
        None => format!("{sev}, every rule"),
        Some(rules) => format!("{sev}, rules {}", rules.join(", ")),
    }
}

fn last_delivery(r: &DestinationRow, now: i64) -> String {
    match (r.last_at_ms, r.last_ok) {
        (Some(t), Some(ok)) => {
            let when = if now - t < 60_000 { "just now".to_string() } else { fmt::time(t) };
            format!("{} {when}", if ok { "delivered" } else { "failed" })
        }
        _ => "never".into(),
    }
}

#[component]
pub fn AlertsPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_alerts());
    view! {
        <Title text="Alerts"/>
        <h1 class="page__title">"Alerts"</h1>
        {admin_nav("/admin/alerts")}
        {feedback(done_message)}
        <p class="muted">"Each new finding is sent once to every enabled destination that takes its rule and severity, and tried again with growing waits (for about six hours) until it is delivered."</p>
        <Suspense fallback=|| view! { <p class="loading">"Loading the destinations…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) if v.destinations.is_empty() => view! {
                        <p class="muted" data-testid="no-destinations">"No destinations yet: add a webhook, Slack, an SNS topic or an EventBridge bus below."</p>
                    }.into_any(),
                    Ok(v) => view! { <DestinationsTable view=v/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
        <section class="card">
            <h2>"Add a destination"</h2>
            <DestinationForm/>
        </section>
    }
}

#[component]
fn DestinationsTable(view: AlertsView) -> impl IntoView {
    let now = view.now_ms;
    view! {
        <div class="table-wrap">
            <table class="data-table" data-testid="destinations-table">
                <thead>
                    <tr>
                        <th>"Destination"</th><th>"Kind"</th><th class="narrow-hide">"Target"</th><th>"Receives"</th>
                        <th>"State"</th><th class="num">"Sent"</th><th class="num">"Waiting"</th>
                        <th class="num">"Failed"</th><th class="narrow-hide">"Last delivery"</th>
                    </tr>
                </thead>
                <tbody>
                    {view.destinations.into_iter().map(|r| {
                        let href = format!("/admin/alerts/{}", r.id);
                        let state = if r.enabled { view! { <span class="badge badge--ok">"enabled"</span> } } else { view! { <span class="badge badge--info">"disabled"</span> } };
                        view! {
                            <tr>
                                <td><a href=href>{r.name.clone()}</a></td>
                                <td>{kind_label(&r.kind)}</td>
                                <td class="cell-wrap narrow-hide"><code>{r.shown.clone()}</code></td>
                                <td class="cell-wrap">{receives(&r)}</td>
                                <td>{state}</td>
                                <td class="num">{fmt::count(r.sent)}</td>
                                <td class="num">{fmt::count(r.pending)}</td>
                                <td class="num">{fmt::count(r.failed)}</td>
                                <td class="narrow-hide">{last_delivery(&r, now)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn DestinationForm() -> impl IntoView {
    view! {
        <form class="stack-form" method="post" action="/admin/alert-actions/add" data-testid="destination-form">
            <fieldset>
                <legend>"Destination"</legend>
                <label>"Name " <input name="name" required maxlength="64" pattern="[A-Za-z0-9._ \\-]+" autocomplete="off"/></label>
                <label>"Kind "
                    <select name="kind">
                        {KINDS.iter().map(|(k, label)| view! { <option value=*k>{*label}</option> }).collect_view()}
                    </select>
                </label>
            </fieldset>
            <fieldset>
                <legend>"Webhook or Slack"</legend>
                <label>"Webhook URL " <input name="url" type="password" autocomplete="off" placeholder="https://hooks.example.com/… (kept sealed, never shown again)"/></label>
                <label>"Bearer token " <input name="token" type="password" autocomplete="new-password" placeholder="optional, webhooks only"/></label>
            </fieldset>
            <fieldset>
                <legend>"SNS or EventBridge (the standard AWS credential chain)"</legend>
                <label>"Topic or bus ARN " <input name="arn" autocomplete="off" placeholder="arn:aws:sns:REGION:ACCOUNT:TOPIC or arn:aws:events:REGION:ACCOUNT:event-bus/NAME"/></label>
                <label>"Endpoint URL " <input name="endpoint_url" type="url" autocomplete="off" placeholder="optional: a VPC endpoint"/></label>
            </fieldset>
            <fieldset>
                <legend>"What it receives"</legend>
                <label>"Least severity "
                    <select name="min_severity">
                        {Severity::ALL.into_iter().map(|s| view! { <option value=s.as_str() selected={s == Severity::High}>{s.as_str()}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Only these rules " <input name="rules" autocomplete="off" placeholder="rule ids, comma-separated; empty: every rule"/></label>
            </fieldset>
            <button type="submit" class="button button--primary">"Add destination"</button>
        </form>
    }
}

/// A button posting one action for the destination.
fn action(id: i64, what: &'static str, label: &'static str, class: &'static str) -> impl IntoView + use<> {
    view! {
        <form method="post" action=format!("/admin/alert-actions/{what}")>
            <input type="hidden" name="destination" value=id.to_string()/>
            <button type="submit" class=class>{label}</button>
        </form>
    }
}

#[component]
pub fn DestinationPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").and_then(|i| i.parse::<i64>().ok()));
    let data = Resource::new(move || id.get(), |id| async move {
        match id {
            Some(id) => get_destination(id).await,
            None => Ok(None),
        }
    });
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the destination…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(d)) => view! { <DestinationDetail d/> }.into_any(),
                    Ok(None) => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn DestinationDetail(d: DestinationView) -> impl IntoView {
    let r = d.row.clone();
    let id = r.id;
    let secret_note = match r.kind.as_str() {
        "webhook" | "slack" => Some(if r.has_token {
            "The URL and bearer token are sealed: only the URL's origin is shown."
        } else {
            "The URL is sealed: only its origin is shown."
        }),
        _ => None,
    };
    view! {
        <Title text=format!("Alerts: {}", fmt::clip(&r.name, 60))/>
        <h1 class="page__title">"Alerts: " {r.name.clone()}</h1>
        {admin_nav("/admin/alerts")}
        {feedback(done_message)}
        <dl class="fields" data-testid="destination-facts">
            <dt>"Kind"</dt><dd>{kind_label(&r.kind)}</dd>
            <dt>"Target"</dt><dd class="cell-wrap"><code>{r.shown.clone()}</code></dd>
            {r.endpoint_url.clone().map(|e| view! { <dt>"Endpoint"</dt><dd class="cell-wrap"><code>{e}</code></dd> })}
            <dt>"Receives"</dt><dd>{receives(&r)}</dd>
            <dt>"State"</dt><dd>{if r.enabled { "enabled" } else { "disabled" }}</dd>
            <dt>"Alerts"</dt><dd>{format!("{} sent · {} waiting · {} given up", fmt::count(r.sent), fmt::count(r.pending), fmt::count(r.failed))}</dd>
            <dt>"Added"</dt><dd>{format!("{} by {}", fmt::time(r.created_ms), r.created_by)}</dd>
        </dl>
        {secret_note.map(|n| view! { <p class="muted">{n}</p> })}
        <div class="row-actions">
            {action(id, "test", "Send a test alert", "button button--primary")}
            {if r.enabled { action(id, "disable", "Disable", "button").into_any() } else { action(id, "enable", "Enable", "button").into_any() }}
            {(r.failed > 0).then(|| action(id, "retry", "Retry given-up alerts", "button"))}
        </div>
        <section class="card">
            <h2>"Waiting"</h2>
            {if d.waiting.is_empty() {
                view! { <p class="muted" data-testid="nothing-waiting">"Nothing waiting: every alert for it was delivered."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="data-table" data-testid="waiting-table">
                            <thead><tr><th>"Finding"</th><th>"State"</th><th class="num">"Attempts"</th><th>"Next attempt (UTC)"</th><th>"Last error"</th></tr></thead>
                            <tbody>
                                {d.waiting.iter().map(|w| {
                                    let state = match w.state.as_str() {
                                        "failed" => "given up",
                                        "sending" => "sending",
                                        _ => "waiting",
                                    };
                                    view! {
                                        <tr>
                                            <td><a href=format!("/findings/{}", w.finding_id)>{format!("#{}", w.finding_id)}</a></td>
                                            <td>{state}</td>
                                            <td class="num">{w.attempts}</td>
                                            <td class="nowrap">{if w.state == "failed" { "—".to_string() } else { fmt::time(w.next_ms) }}</td>
                                            <td class="cell-wrap">{w.last_error.clone().unwrap_or_default()}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
        <section class="card">
            <h2>"Delivery log"</h2>
            {if d.deliveries.is_empty() {
                view! { <p class="muted" data-testid="no-deliveries">"No attempts yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="data-table" data-testid="deliveries-table">
                            <thead><tr><th>"Time (UTC)"</th><th>"Alert"</th><th class="num">"Attempt"</th><th>"Result"</th><th class="num narrow-hide">"ms"</th><th>"Answer"</th></tr></thead>
                            <tbody>
                                {d.deliveries.iter().map(|l| {
                                    let what = match l.finding_id {
                                        Some(f) => view! { <a href=format!("/findings/{f}")>{format!("finding #{f}")}</a> }.into_any(),
                                        None => view! { <span>"test"</span> }.into_any(),
                                    };
                                    let result = if l.ok {
                                        view! { <span class="badge badge--ok">"delivered"</span> }
                                    } else {
                                        view! { <span class="badge badge--error">"failed"</span> }
                                    };
                                    view! {
                                        <tr>
                                            <td class="nowrap">{fmt::time(l.at_ms)}</td>
                                            <td>{what}</td>
                                            <td class="num">{l.attempt}</td>
                                            <td>{result}</td>
                                            <td class="num narrow-hide">{l.millis}</td>
                                            <td class="cell-wrap">{l.answer.clone().or(l.error.clone()).unwrap_or_default()}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
            {(d.deliveries.len() as i64 >= LOG_LIMIT).then(|| view! { <p class="muted">{format!("The latest {LOG_LIMIT} attempts; `cairn alerts log` lists more.")}</p> })}
        </section>
        <section class="card">
            <h2>"Remove"</h2>
            <p class="muted">"Removing a destination drops its waiting alerts and its delivery log. Findings stay."</p>
            {action(id, "remove", "Remove destination", "button button--danger")}
        </section>
    }
}

/// A finding's alerts, for its page.
#[component]
pub fn FindingAlerts(alerts: Vec<crate::alerts::FindingAlert>) -> impl IntoView {
    (!alerts.is_empty()).then(|| view! {
        <section class="card" data-testid="finding-alerts">
            <h2>"Alerts"</h2>
            <ul class="alert-list">
                {alerts.into_iter().map(|a| {
                    let state = match (a.state.as_str(), a.sent_ms) {
                        ("sent", Some(t)) => format!("sent {}", fmt::time(t)),
                        ("failed", _) => format!("given up after {} attempts", a.attempts),
                        (_, _) if a.attempts > 0 => format!("waiting, {} attempts so far", a.attempts),
                        _ => "waiting".to_string(),
                    };
                    view! {
                        <li>
                            <strong>{a.destination}</strong>" (" {kind_label(&a.kind)} "): " {state}
                            {a.last_error.filter(|_| a.state != "sent").map(|e| view! { <span class="muted">" — " {e}</span> })}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    })
}
