//! `/events/{id}`: one event, laid out for reading, and its whole record.

use crate::components::{error_panel::ErrorPanel, events_table::EventsTable, json_view::JsonView};
use crate::fmt;
use crate::model::EventDetail;
use crate::pages::not_found::NotFound;
use crate::query::{EventQuery, Field, Preset, TimeRange};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[server]
pub async fn get_event(id: i64) -> Result<Option<EventDetail>, ServerFnError> {
    use crate::db::{self, events};
    crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = db::pool()?;
    let mut d = events::detail(&pool, id).await.map_err(|e| {
        tracing::error!(error = %e, id, "cannot load event");
        ServerFnError::new("the event cannot be loaded; see the server log")
    })?;
    if let Some(d) = &mut d
        && crate::auth::may(crate::auth::Role::Analyst)
    {
        d.pin_to = db::investigations::open_titles(&pool)
            .await
            .map_err(db::opaque)?;
    }
    Ok(d)
}

#[component]
pub fn EventPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").and_then(|s| s.parse::<i64>().ok()));
    let data = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_event(id).await,
                None => Ok(None),
            }
        },
    );
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading event…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(e)) => view! { <EventView e=e/> }.into_any(),
                    Ok(None) => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// One `<dt>`/`<dd>` pair of a field list, left out when there is no value.
pub fn field(label: &'static str, value: Option<String>) -> impl IntoView {
    value.map(|v| {
        view! {
            <dt>{label}</dt>
            <dd class="field__value">{v}</dd>
        }
    })
}

/// A value that opens the timeline filtered on it (all time).
fn linked(label: &'static str, value: Option<String>, field: Field) -> impl IntoView {
    value.map(|v| {
        let href = EventQuery::default()
            .with_range(TimeRange::Preset(Preset::All))
            .with_filter(field, &v, false)
            .href("/");
        view! {
            <dt>{label}</dt>
            <dd class="field__value"><a href=href title=format!("All events with this {}", label.to_lowercase())>{v}</a></dd>
        }
    })
}

#[component]
fn EventView(e: EventDetail) -> impl IntoView {
    let title = format!("{} by {}", e.name, e.principal.display);
    let ro = e.read_only.map(|r| {
        if r {
            "read-only".to_string()
        } else {
            "write".to_string()
        }
    });
    let outcome = match &e.error_code {
        Some(code) => {
            view! { <span class="badge badge--error">"⚠ Failed: " {code.clone()}</span> }.into_any()
        }
        None => view! { <span class="badge badge--ok">"✓ Succeeded"</span> }.into_any(),
    };
    let issued = e.issued_by.clone().map(|i| {
        view! {
            <dt>"Credentials issued by"</dt>
            <dd class="field__value">
                {i.principal} " via " <a href=format!("/events/{}", i.event_id)>{i.event_name}</a>
            </dd>
        }
    });
    view! {
        <Title text=fmt::title(&title)/>
        <p class="breadcrumbs"><a href="/">"Timeline"</a> " / event"</p>
        <h1 class="page__title event__title" title=title.clone()>{fmt::clip(&title, 200)}</h1>
        <p class="event__meta">
            <time datetime=fmt::iso(e.time_ms)>{fmt::time(e.time_ms)} " UTC"</time>
            " · " {outcome}
        </p>
        <div class="event__grid">
            <section class="card" aria-labelledby="ev-what">
                <h2 id="ev-what">"What"</h2>
                <dl class="fields">
                    {linked("Event", Some(e.name.clone()), Field::Name)}
                    {linked("Service", Some(e.source.clone()), Field::Source)}
                    {field("Access", ro)}
                    {field("Type", e.event_type.clone())}
                    {field("Category", e.category.clone())}
                    {linked("Error code", e.error_code.clone(), Field::Error)}
                    {field("Error message", e.error_message.clone())}
                </dl>
            </section>
            <section class="card" aria-labelledby="ev-who">
                <h2 id="ev-who">"Who"</h2>
                <dl class="fields">
                    <dt>"Principal"</dt>
                    <dd class="field__value">
                        <a href=format!("{}?range=all", fmt::principal_href(&e.principal.key))>{e.principal.display.clone()}</a>
                    </dd>
                    {field("Identity type", Some(e.principal.kind.clone()))}
                    {field("ARN", e.principal.arn.clone())}
                    {field("Role / issuer", e.principal.parent.clone())}
                    {field("Behind it", e.principal.origin.clone())}
                    {field("Principal account", e.principal.account.clone())}
                    {linked("Access key", e.access_key.clone(), Field::AccessKey)}
                    {issued}
                </dl>
            </section>
            <section class="card" aria-labelledby="ev-where">
                <h2 id="ev-where">"Where"</h2>
                <dl class="fields">
                    {linked("Account", Some(e.account.clone()), Field::Account)}
                    {linked("Region", e.region.clone(), Field::Region)}
                    {linked("Source IP", e.source_ip.clone(), Field::SourceIp)}
                    {linked("User agent", e.user_agent.clone(), Field::UserAgent)}
                    {e.request_id.clone().map(|r| view! {
                        <dt>"Request ID"</dt>
                        <dd class="field__value"><a href="#related" title="Other events of this request">{r}</a></dd>
                    })}
                    {field("Event ID", e.event_id.clone())}
                    {field("Shared event ID", e.shared_event_id.clone())}
                </dl>
            </section>
        </div>
        {(!e.resources.is_empty()).then(|| view! {
            <section class="card" aria-labelledby="ev-res">
                <h2 id="ev-res">"Resources"</h2>
                <table class="resources-table">
                    <caption class="visually-hidden">"Resources named in this event"</caption>
                    <thead><tr><th scope="col">"Type"</th><th scope="col">"Name"</th><th scope="col">"ARN"</th></tr></thead>
                    <tbody>
                        {e.resources.iter().map(|r| view! {
                            <tr>
                                <td class="cell-wrap">{r.kind.clone()}</td>
                                <td class="cell-wrap"><a href=format!("{}?range=all", fmt::resource_href(&r.arn))>{r.name.clone()}</a></td>
                                <td class="cell-wrap">{r.arn.clone()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </section>
        })}
        {(!e.pin_to.is_empty()).then(|| {
            let back = format!("/events/{}", e.id);
            view! {
                <form class="inline-form card" method="post" action="/investigations/pin" data-testid="pin-form">
                    <input type="hidden" name="event" value=e.id.to_string()/>
                    <input type="hidden" name="back" value=back/>
                    <label>
                        "Pin this event to "
                        <select name="investigation">
                            {e.pin_to.iter().map(|(id, title)| view! { <option value=id.to_string()>{fmt::clip(title, 80)}</option> }).collect_view()}
                        </select>
                    </label>
                    <button type="submit">"Pin"</button>
                </form>
            }
        })}
        <section class="card" id="related" aria-labelledby="ev-related" data-testid="related">
            <h2 id="ev-related">"Related events"</h2>
            {if e.related.is_empty() {
                view! { <p class="muted">"Nothing from the same request, shared event or principal within ten minutes."</p> }.into_any()
            } else {
                let rows: Vec<crate::model::EventRow> = e.related.iter().map(|r| r.row.clone()).collect();
                let why: Vec<String> = e.related.iter().map(|r| r.why.clone()).collect();
                let counts = ["same request", "same shared event", "same principal"].map(|w| (w, why.iter().filter(|x| x.as_str() == w).count()));
                let summary = counts.iter().filter(|(_, n)| *n > 0).map(|(w, n)| format!("{n} {w}")).collect::<Vec<_>>().join(", ");
                view! {
                    <p class="muted">{format!("Within ten minutes: {summary}.")}</p>
                    <EventsTable rows=rows caption="Related events, in time order" query=EventQuery::default().with_range(TimeRange::Preset(Preset::All)) path="/"/>
                }.into_any()
            }}
        </section>
        {e.request_parameters.clone().map(|t| view! { <JsonView label="Request parameters" text=t/> })}
        {e.response_elements.clone().map(|t| view! { <JsonView label="Response elements" text=t/> })}
        {e.additional_event_data.clone().map(|t| view! { <JsonView label="Additional event data" text=t/> })}
        <details class="event__raw" open>
            <summary>"Whole record (JSON)"</summary>
            <JsonView label="Original record as delivered" text=e.raw_pretty.clone()/>
        </details>
    }
}
