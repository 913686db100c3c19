//! `/investigations` and `/investigations/{id}`: saved views with notes, pinned events
//! and their history, shared by link.

use crate::components::{empty_state::EmptyState, error_panel::ErrorPanel};
use crate::fmt;
use crate::model::{InvestigationSummary, InvestigationView};
use crate::pages::not_found::NotFound;
use crate::pages::timeline::TimelineBody;
use crate::query::EventQuery;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[server]
pub async fn list_investigations(
    status: String,
) -> Result<Vec<InvestigationSummary>, ServerFnError> {
    use crate::db;
    crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = db::pool()?;
    let status = if status == "closed" { "closed" } else { "open" };
    db::investigations::list(&pool, status)
        .await
        .map_err(db::opaque)
}

/// An investigation, showing its saved view, or `view` (a canonical query string) when
/// the reader has changed it on the page.
#[server]
pub async fn get_investigation(
    id: i64,
    view: String,
) -> Result<Option<InvestigationView>, ServerFnError> {
    use crate::db;
    let user = crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = db::pool()?;
    let Some(investigation) = db::investigations::get(&pool, id)
        .await
        .map_err(db::opaque)?
    else {
        return Ok(None);
    };
    let varied = !view.is_empty() && view != investigation.query;
    let query = EventQuery::parse(if varied { &view } else { &investigation.query });
    let timeline =
        crate::pages::timeline::timeline(&pool, &query, chrono::Utc::now().timestamp_millis())
            .await
            .map_err(db::opaque)?;
    Ok(Some(InvestigationView {
        investigation,
        timeline,
        can_edit: user.can(crate::auth::Role::Analyst),
        view: varied.then_some(view),
    }))
}

#[component]
pub fn InvestigationsPage() -> impl IntoView {
    let params = use_query_map();
    let status = Memo::new(move |_| {
        if params.read().get("status").as_deref() == Some("closed") {
            "closed".to_string()
        } else {
            "open".to_string()
        }
    });
    let data = Resource::new(move || status.get(), list_investigations);
    view! {
        <Title text="Investigations"/>
        <h1 class="page__title">"Investigations"</h1>
        <nav class="subnav" aria-label="Status">
            <a href="/investigations" aria-current=move || (status.get() == "open").then_some("page")>"Open"</a>
            <a href="/investigations?status=closed" aria-current=move || (status.get() == "closed").then_some("page")>"Closed"</a>
        </nav>
        <Transition fallback=|| view! { <p class="loading">"Loading investigations…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(list) if list.is_empty() => view! {
                        <EmptyState title="No investigations here">
                            <p>"Narrow the timeline to what matters, then use “Save as investigation” above its figures. Analysts and admins can save."</p>
                        </EmptyState>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap">
                            <table class="data-table" data-testid="investigations">
                                <caption class="visually-hidden">"Investigations, most recently changed first"</caption>
                                <thead><tr>
                                    <th scope="col">"Title"</th><th scope="col">"Opened by"</th>
                                    <th scope="col">"Pinned events"</th><th scope="col">"Last change (UTC)"</th>
                                </tr></thead>
                                <tbody>
                                    {list.into_iter().map(|i| view! {
                                        <tr>
                                            <td class="cell-wrap"><a href=format!("/investigations/{}", i.id)>{i.title.clone()}</a></td>
                                            <td>{i.created_by.clone()} <span class="muted">" · " {fmt::time(i.created_at)}</span></td>
                                            <td class="num">{fmt::count(i.pinned)}</td>
                                            <td>{fmt::time(i.updated_at)} <span class="muted">" by " {i.updated_by.clone()}</span></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
pub fn InvestigationPage() -> impl IntoView {
    let params = use_params_map();
    let qmap = use_query_map();
    let id = Memo::new(move |_| params.read().get("id").and_then(|s| s.parse::<i64>().ok()));
    // The view as changed on this page (sorting, filtering), if it was.
    let view = Memo::new(move |_| {
        let p = qmap.read();
        EventQuery::from_params(|k| p.get_all(k).unwrap_or_default()).to_query()
    });
    let data = Resource::new(
        move || (id.get(), view.get()),
        |(id, view)| async move {
            match id {
                Some(id) => get_investigation(id, view).await,
                None => Ok(None),
            }
        },
    );
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading investigation…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(v)) => view! { <InvestigationBody v=v/> }.into_any(),
                    Ok(None) => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn InvestigationBody(v: InvestigationView) -> impl IntoView {
    let inv = v.investigation.clone();
    let s = inv.summary.clone();
    let id = s.id;
    let qmap = use_query_map();
    let problem = qmap.read_untracked().get("problem");
    let saved = qmap.read_untracked().get("saved").is_some();
    let saved_query = EventQuery::parse(&inv.query);
    let query = v
        .view
        .as_deref()
        .map(EventQuery::parse)
        .unwrap_or_else(|| saved_query.clone());
    let open_href = query.href("/");
    let here = format!("/investigations/{id}");
    let varied = v.view.clone().map(|view| {
        let can_edit = v.can_edit;
        view! {
            <div class="notice" role="status" data-testid="view-varied">
                "You are looking at a change of the saved view. "
                <a href=here.clone()>"Back to the saved view"</a>
                {can_edit.then(|| view! {
                    <form method="post" action=format!("/investigations/{id}/view") class="inline-form">
                        <input type="hidden" name="query" value=view/>
                        <button type="submit" class="button">"Save this as the investigation’s view"</button>
                    </form>
                })}
            </div>
        }
    });
    let closed = s.status == "closed";
    let back = format!("/investigations/{id}");
    let edit = v.can_edit.then(|| {
        let s = s.clone();
        let notes = inv.notes.clone();
        view! {
            <details class="card" data-testid="edit-investigation">
                <summary>"Edit"</summary>
                <form method="post" action=format!("/investigations/{id}/edit") class="save-view__form">
                    <label>"Title" <input type="text" name="title" required maxlength="200" value=s.title.clone()/></label>
                    <label>"Notes" <textarea name="notes" rows="6" maxlength="20000" prop:value=notes.clone()>{notes.clone()}</textarea></label>
                    <label>"Status "
                        <select name="status">
                            <option value="open" selected=!closed>"Open"</option>
                            <option value="closed" selected=closed>"Closed"</option>
                        </select>
                    </label>
                    <button type="submit">"Save changes"</button>
                </form>
            </details>
        }
    });
    let can_edit = v.can_edit;
    let pinned = inv.pinned.clone();
    view! {
        <Title text=fmt::title(&format!("{} (investigation)", s.title))/>
        <p class="breadcrumbs"><a href="/investigations">"Investigations"</a> " / " {id.to_string()}</p>
        <h1 class="page__title" data-testid="investigation-title">{fmt::clip(&s.title, 200)}</h1>
        <p class="event__meta">
            {if closed {
                view! { <span class="badge badge--ok">"✓ Closed"</span> }.into_any()
            } else {
                view! { <span class="badge badge--error">"● Open"</span> }.into_any()
            }}
            " opened by " {s.created_by.clone()} " on " <time datetime=fmt::iso(s.created_at)>{fmt::time(s.created_at)}</time>
            " · last change by " {s.updated_by.clone()} " on " <time datetime=fmt::iso(s.updated_at)>{fmt::time(s.updated_at)}</time>
        </p>
        {problem.map(|e| view! { <p class="error-panel" role="alert">{e}</p> })}
        {saved.then(|| view! { <p class="notice" role="status">"Saved."</p> })}
        <section class="card" aria-labelledby="inv-notes">
            <h2 id="inv-notes">"Notes"</h2>
            {if inv.notes.is_empty() {
                view! { <p class="muted">"No notes yet."</p> }.into_any()
            } else {
                view! { <p class="notes" data-testid="notes">{inv.notes.clone()}</p> }.into_any()
            }}
        </section>
        {edit}
        <section class="card" aria-labelledby="inv-pinned" data-testid="pinned">
            <h2 id="inv-pinned">"Pinned events"</h2>
            {if pinned.is_empty() {
                view! { <p class="muted">"None yet: open an event and pin it here."</p> }.into_any()
            } else {
                view! {
                    <table class="plain-table">
                        <caption class="visually-hidden">"Pinned events, in time order"</caption>
                        <thead><tr>
                            <th scope="col">"Time (UTC)"</th><th scope="col">"Event"</th><th scope="col">"Principal"</th>
                            <th scope="col">"Source IP"</th><th scope="col">"Error"</th>
                            {can_edit.then(|| view! { <th scope="col"><span class="visually-hidden">"Unpin"</span></th> })}
                        </tr></thead>
                        <tbody>
                            {pinned.into_iter().map(|r| {
                                let back = back.clone();
                                view! {
                                    <tr>
                                        <td><a href=format!("/events/{}", r.id)><time datetime=fmt::iso(r.time_ms)>{fmt::time(r.time_ms)}</time></a></td>
                                        <td class="cell-clip">{r.name.clone()}</td>
                                        <td class="cell-clip"><a href=format!("{}?range=all", fmt::principal_href(&r.principal_key))>{r.principal.clone()}</a></td>
                                        <td class="cell-clip">{r.source_ip.clone()}</td>
                                        <td class="cell-clip">{r.error.clone()}</td>
                                        {can_edit.then(|| view! {
                                            <td>
                                                <form method="post" action="/investigations/unpin">
                                                    <input type="hidden" name="investigation" value=id.to_string()/>
                                                    <input type="hidden" name="event" value=r.id.to_string()/>
                                                    <input type="hidden" name="back" value=back/>
                                                    <button type="submit" class="button">"Unpin"</button>
                                                </form>
                                            </td>
                                        })}
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
        <section aria-labelledby="inv-view" class="investigation__view">
            <h2 id="inv-view">"The saved view " <a class="quiet-link" href=open_href.clone() data-testid="open-view">"(open in the timeline)"</a></h2>
            {varied}
            <TimelineBody t=v.timeline.clone() query=query.clone() path=format!("/investigations/{id}")/>
        </section>
        <section class="card" aria-labelledby="inv-history">
            <h2 id="inv-history">"History"</h2>
            <ol class="history" data-testid="history">
                {inv.history.iter().map(|h| view! {
                    <li>
                        <time datetime=fmt::iso(h.at)>{fmt::time(h.at)}</time> " · " {h.actor.clone()} " " {h.action.clone()}
                        {h.detail.clone().map(|d| view! { <span class="muted">": " {fmt::clip(&d, 300)}</span> })}
                    </li>
                }).collect_view()}
            </ol>
        </section>
    }
}
