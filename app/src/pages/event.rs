//! `/events/{id}`: one event, laid out for reading, and its whole record.

use crate::components::{error_panel::ErrorPanel, events_table::EventsTable, json_view::JsonView};
use crate::fmt;
use crate::model::EventDetail;
use crate::pages::not_found::NotFound;
use crate::query::{EventQuery, Field, Preset, TimeRange};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[server]
pub async fn get_event(id: i64) -> Result<Option<EventDetail>, ServerFnError> {
    use crate::db::{self, events};
    crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = db::pool()?;
    let mut d = events::detail(&pool, id)
        .await
        .map_err(|e| crate::error::WebError::internal("cannot load event", e))?;
    if let Some(d) = &mut d {
        d.pinned_in = db::investigations::pinned_in(&pool, id)
            .await
            .map_err(db::opaque)?;
        if crate::auth::may(crate::auth::Role::Analyst) {
            d.can_pin = true;
            let pinned = d.pinned_in.clone();
            d.pin_to = db::investigations::open_titles(&pool)
                .await
                .map_err(db::opaque)?
                .into_iter()
                .filter(|(i, _)| !pinned.iter().any(|(p, _)| p == i))
                .collect();
        }
    }
    Ok(d)
}

/// The trails the inventory knows that record event `id`, each with its selector.
#[server]
pub async fn get_recorded_by(id: i64) -> Result<Vec<crate::trails::RecordedBy>, ServerFnError> {
    use crate::db::{self, events};
    crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = db::pool()?;
    let Some(record) = events::record(&pool, id)
        .await
        .map_err(|e| crate::error::WebError::internal("cannot load event", e))?
    else {
        return Ok(Vec::new());
    };
    crate::trails::recorded_by(&pool, &record, crate::schema::id_time(id))
        .await
        .map_err(db::opaque)
}

/// Which trail recorded the event, by which selector (`get_recorded_by`, loaded with the
/// page).
#[component]
fn RecordedBySection(recorded: Result<Vec<crate::trails::RecordedBy>, ServerFnError>) -> impl IntoView {
    let inner = match recorded {
        Ok(list) if list.is_empty() => view! {
            <p class="muted">"No trail the inventory knows records this event: it came from LookupEvents, an imported file, or a trail no source reads."</p>
        }.into_any(),
        Ok(list) => view! {
            <ul>
                {list.into_iter().map(|r| {
                    let when = if r.first {
                        format!("settings as first read, {} UTC: the event is older than the inventory", fmt::time(r.as_of))
                    } else {
                        format!("settings read {} UTC", fmt::time(r.as_of))
                    };
                    view! {
                        <li data-testid="recorded-by-trail">
                            <a href=crate::pages::trails::trail_href(&r.arn)>{r.name.clone()}</a>
                            {format!(", selector {}: {} ", r.selector, r.sentences.join("; "))}
                            <span class="muted">"("{when}")"</span>
                        </li>
                    }
                }).collect_view()}
            </ul>
        }.into_any(),
        Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
    };
    view! {
        <section class="card" aria-labelledby="ev-recorded" data-testid="recorded-by">
            <h2 id="ev-recorded">"Recorded by"</h2>
            {inner}
        </section>
    }
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
    // Every resource of the page is made here, outside its Suspense, and read in it (one
    // made inside is made again each time the Suspense looks over its children).
    let recorded = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_recorded_by(id).await,
                None => Ok(Vec::new()),
            }
        },
    );
    let matches = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => crate::pages::findings::event_matches(id).await,
                None => Ok(Vec::new()),
            }
        },
    );
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading event…"</p> }>
            {move || Suspend::new(async move {
                let (event, recorded, matches) = (data.await, recorded.await, matches.await);
                match event {
                    Ok(Some(e)) => view! { <EventView e=e recorded=recorded matches=matches/> }.into_any(),
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

/// A value that opens its own page (an address, an access key).
fn paged(label: &'static str, value: Option<String>, href: fn(&str) -> String) -> impl IntoView {
    value.map(|v| {
        let h = href(&v);
        view! {
            <dt>{label}</dt>
            <dd class="field__value"><a href=h>{v}</a></dd>
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

/// Which investigations the event is pinned to, with Unpin; the form that pins it to
/// another; and, after either, what was done.
#[component]
fn PinSection(e: EventDetail) -> impl IntoView {
    let qmap = use_query_map();
    let param = |k: &str| {
        qmap.read_untracked()
            .get(k)
            .and_then(|v| v.parse::<i64>().ok())
    };
    let title_of = |id: i64| {
        e.pinned_in
            .iter()
            .chain(e.pin_to.iter())
            .find(|(i, _)| *i == id)
            .map(|(_, t)| fmt::clip(t, 80))
            .unwrap_or_else(|| format!("investigation {id}"))
    };
    let done = match (param("pinned"), param("unpinned")) {
        (Some(id), _) => Some(format!("✓ Pinned to “{}”.", title_of(id))),
        (None, Some(id)) => Some(format!("Unpinned from “{}”.", title_of(id))),
        _ => None,
    };
    let back = format!("/events/{}", e.id);
    let event_id = e.id.to_string();
    let can_pin = e.can_pin;
    let pinned = e.pinned_in.clone();
    let pinned_view = (!pinned.is_empty()).then(|| {
        let back = back.clone();
        let event_id = event_id.clone();
        view! {
            <div data-testid="pinned-in">
                <span class="badge badge--info">"📌 pinned"</span> " to "
                <ul class="pinned-in">
                    {pinned.into_iter().map(|(id, title)| {
                        let back = back.clone();
                        let event_id = event_id.clone();
                        view! {
                            <li>
                                <a href=format!("/investigations/{id}")>{fmt::clip(&title, 80)}</a>
                                {can_pin.then(|| view! {
                                    <form method="post" action="/investigations/unpin" class="inline-form pinned-in__form">
                                        <input type="hidden" name="investigation" value=id.to_string()/>
                                        <input type="hidden" name="event" value=event_id/>
                                        <input type="hidden" name="back" value=back/>
                                        <button type="submit" class="button">"Unpin"</button>
                                    </form>
                                })}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </div>
        }
    });
    let pin_form = (!e.pin_to.is_empty()).then(|| {
        view! {
            <form class="inline-form" method="post" action="/investigations/pin" data-testid="pin-form">
                <input type="hidden" name="event" value=event_id.clone()/>
                <input type="hidden" name="back" value=back.clone()/>
                <label>
                    "Pin this event to "
                    <select name="investigation">
                        {e.pin_to.iter().map(|(id, title)| view! { <option value=id.to_string()>{fmt::clip(title, 80)}</option> }).collect_view()}
                    </select>
                </label>
                <button type="submit">"Pin"</button>
            </form>
        }
    });
    let any = done.is_some() || pinned_view.is_some() || pin_form.is_some();
    any.then(|| {
        view! {
            <section class="card pin-section" aria-label="Investigations">
                {done.map(|d| view! { <p class="notice" role="status" data-testid="pin-notice">{d}</p> })}
                {pinned_view}
                {pin_form}
            </section>
        }
    })
}

#[component]
fn EventView(
    e: EventDetail,
    recorded: Result<Vec<crate::trails::RecordedBy>, ServerFnError>,
    matches: Result<Vec<crate::detections::EventMatch>, ServerFnError>,
) -> impl IntoView {
    let title = format!("{} by {}", e.name, e.principal.display);
    let ro = e.read_only.map(|r| {
        if r {
            "read-only".to_string()
        } else {
            "write".to_string()
        }
    });
    let outcome = match &e.error {
        Some(error) => {
            view! { <span class="badge badge--error" data-testid="outcome">"⚠ Failed: " {error.clone()}</span> }.into_any()
        }
        None => view! { <span class="badge badge--ok" data-testid="outcome">"✓ Succeeded"</span> }.into_any(),
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
        <crate::pages::findings::EventFindings matches=matches/>
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
                    {if e.error_code.is_none() {
                        linked("Error message", e.error_message.clone(), Field::Error).into_any()
                    } else {
                        field("Error message", e.error_message.clone()).into_any()
                    }}
                    {(e.error_code.is_none() && e.error_message.is_none()).then(|| e.error.clone()).flatten().map(|f| view! {
                        <dt>"Failure"</dt>
                        <dd class="field__value">{f} <span class="muted">" (recorded in the response, with no error code)"</span></dd>
                    })}
                </dl>
            </section>
            <section class="card" aria-labelledby="ev-who">
                <h2 id="ev-who">"Who"</h2>
                <dl class="fields">
                    <dt>"Principal"</dt>
                    <dd class="field__value">
                        <a href=fmt::principal_href(&e.principal.key)>{e.principal.display.clone()}</a>
                    </dd>
                    {field("Identity type", Some(e.principal.kind.clone()))}
                    {field("ARN", e.principal.arn.clone())}
                    {field("Role / issuer", e.principal.parent.clone())}
                    {field("Behind it", e.principal.origin.clone())}
                    {field("Principal account", e.principal.account.clone())}
                    {paged("Access key", e.access_key.clone(), fmt::access_key_href)}
                    {issued}
                </dl>
            </section>
            <section class="card" aria-labelledby="ev-where">
                <h2 id="ev-where">"Where"</h2>
                <dl class="fields">
                    {linked("Account", Some(e.account.clone()), Field::Account)}
                    {linked("Region", e.region.clone(), Field::Region)}
                    {paged("Source IP", e.source_ip.clone(), fmt::ip_href)}
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
                                <td class="cell-wrap"><a href=fmt::resource_href(&r.arn)>{r.name.clone()}</a></td>
                                <td class="cell-wrap">{r.arn.clone()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </section>
        })}
        <RecordedBySection recorded=recorded/>
        <PinSection e=e.clone()/>
        <section class="card" id="related" aria-labelledby="ev-related" data-testid="related">
            <h2 id="ev-related">"Related events"</h2>
            {if e.related.len() <= 1 {
                view! { <p class="muted">"Nothing from the same request, shared event or principal within ten minutes."</p> }.into_any()
            } else {
                let rows: Vec<crate::model::EventRow> = e.related.iter().map(|r| r.row.clone()).collect();
                let why: Vec<String> = e.related.iter().map(|r| r.why.clone()).collect();
                let counts = ["same request", "same shared event", "same principal"].map(|w| (w, why.iter().filter(|x| x.as_str() == w).count()));
                let summary = counts.iter().filter(|(_, n)| *n > 0).map(|(w, n)| format!("{n} {w}")).collect::<Vec<_>>().join(", ");
                let said = if e.related_capped {
                    format!("Within ten minutes, the {} nearest: {summary}. There are more.", crate::model::RELATED_SHOWN)
                } else {
                    format!("Within ten minutes: {summary}.")
                };
                let window = EventQuery::default()
                    .with_range(TimeRange::Absolute {
                        from_ms: e.time_ms - e.time_ms.rem_euclid(60_000) - 10 * 60_000,
                        to_ms: e.time_ms - e.time_ms.rem_euclid(60_000) + 11 * 60_000,
                    })
                    .with_filter(Field::Principal, &e.principal.key, false)
                    .with_sort(crate::query::Sort::Oldest);
                let full = window.href("/");
                view! {
                    <p class="muted" data-testid="related-said">{said} " " <a href=full data-testid="related-all">"All of this principal’s events in those twenty minutes"</a></p>
                    <EventsTable rows=rows caption="Related events, in time order; this event marked" query=EventQuery::default() path="/"
                        links=EventQuery::default().with_range(window.range) sortable=false current=e.id/>
                }.into_any()
            }}
        </section>
        {e.request_parameters.clone().map(|t| view! { <JsonView label="Request parameters" text=t/> })}
        {e.response_elements.clone().map(|t| view! { <JsonView label="Response elements" text=t/> })}
        {e.additional_event_data.clone().map(|t| view! { <JsonView label="Additional event data" text=t/> })}
        {e.event_context.clone().map(|t| view! { <JsonView label="Event context: tags and condition keys" text=t/> })}
        {e.summary.clone().map(|s| view! { <SummarySection s=s/> })}
        <details class="event__raw" open>
            <summary>"Whole record (JSON)"</summary>
            <JsonView label="Original record as delivered" text=e.raw_pretty.clone()/>
        </details>
    }
}

/// An aggregated event's summary: its window, then each dimension's statistics, the
/// primary one first; resources link to their pages.
#[component]
fn SummarySection(s: crate::aggregated::Summary) -> impl IntoView {
    let template = crate::aggregated::template(&s.primary.dimension);
    let dims: Vec<(bool, crate::aggregated::Dimension)> = std::iter::once((true, s.primary.clone()))
        .chain(s.details.iter().cloned().map(|d| (false, d)))
        .collect();
    view! {
        <section class="card" aria-labelledby="ev-summary" data-testid="event-summary">
            <h2 id="ev-summary">"Summary of a 5-minute window (aggregated event)"</h2>
            <p data-testid="summary-window">{format!("{template}: {} to {} ({})", s.window_start, s.window_end,
                if s.window_size.is_empty() { "window size not given".to_owned() } else { s.window_size.clone() })}</p>
            {dims.into_iter().map(|(primary, d)| {
                let heading = format!("{}{}{}", d.dimension,
                    if primary { " (what it is summarised by)" } else { "" },
                    if d.aggregation.is_empty() { String::new() } else { format!(" · {}", d.aggregation) });
                view! {
                    <h3>{heading.clone()}</h3>
                    <div class="table-wrap" tabindex="0" role="region" aria-label=heading>
                        <table class="plain-table" data-testid="summary-dimension">
                            <thead><tr><th scope="col">"Value"</th><th scope="col">"Count"</th></tr></thead>
                            <tbody>
                                {d.stats.into_iter().map(|(name, value)| {
                                    let shown = if d.dimension == "resourceARN" && name.starts_with("arn:") {
                                        view! { <a href=fmt::resource_href(&name)>{fmt::clip(&name, 300)}</a> }.into_any()
                                    } else {
                                        view! { <span>{fmt::clip(&name, 300)}</span> }.into_any()
                                    };
                                    view! { <tr><td class="cell-wrap">{shown}</td><td class="num">{fmt::count(value)}</td></tr> }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
            }).collect_view()}
        </section>
    }
}
