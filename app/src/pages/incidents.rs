//! `/incidents` and `/incidents/:id`: findings told as one story per attacker (see
//! `crate::incidents`), with the steps in time order, what the actor touched, and the
//! incident's status, assignee, notes, report and investigation.

use crate::components::{empty_state::EmptyState, error_panel::ErrorPanel};
use crate::fmt;
use crate::incidents::{Incident, IncidentView, Status, tactic_label, timeline_href, timeline_query};
use crate::pages::findings::SeverityBadge;
use crate::pages::not_found::NotFound;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

/// The incidents of a range and whether its dates could be read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IncidentsList {
    pub incidents: Vec<Incident>,
    pub range_problem: bool,
}

/// `from`/`to` as dates (or instants); `None` when absent, an error when unreadable.
#[cfg(feature = "ssr")]
fn range_of(from: Option<&str>, to: Option<&str>) -> (Option<i64>, Option<i64>, bool) {
    let read = |v: Option<&str>, end: bool| v.filter(|s| !s.trim().is_empty()).map(|s| crate::query::parse_instant(s, end));
    let (f, t) = (read(from, false), read(to, true));
    let bad = matches!(f, Some(None)) || matches!(t, Some(None));
    (f.flatten(), t.flatten(), bad)
}

#[server]
pub async fn list_incidents(from: Option<String>, to: Option<String>) -> Result<IncidentsList, ServerFnError> {
    use crate::db;
    crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = db::pool()?;
    let (from_ms, to_ms, range_problem) = range_of(from.as_deref(), to.as_deref());
    let (from_ms, to_ms) = if range_problem { (None, None) } else { (from_ms, to_ms) };
    let incidents = db::incidents::list(&pool, from_ms, to_ms).await.map_err(db::opaque)?;
    Ok(IncidentsList { incidents, range_problem })
}

#[server]
pub async fn get_incident(id: i64) -> Result<Option<IncidentView>, ServerFnError> {
    use crate::db;
    let user = crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = db::pool()?;
    let mut v = db::incidents::one(&pool, id).await.map_err(db::opaque)?;
    if let Some(v) = &mut v {
        v.can_edit = user.can(crate::auth::Role::Analyst);
    }
    Ok(v)
}

#[component]
pub fn IncidentStatusBadge(status: Status) -> impl IntoView {
    let class = match status {
        Status::Open => "badge badge--error",
        Status::Acknowledged => "badge badge--warn",
        Status::Closed => "badge badge--ok",
    };
    view! { <span class=class>{status.label()}</span> }
}

fn tactics_view(i: &Incident) -> impl IntoView + use<> {
    let tactics: Vec<String> = i.tactics().into_iter().map(|t| tactic_label(t).to_owned()).collect();
    view! {
        <ol class="tactics">
            {tactics.into_iter().map(|t| view! { <li class="chip">{t}</li> }).collect_view()}
        </ol>
    }
}

#[component]
pub fn IncidentsPage() -> impl IntoView {
    let qmap = use_query_map();
    let args = Memo::new(move |_| {
        let m = qmap.read();
        (m.get("from"), m.get("to"))
    });
    let data = Resource::new(move || args.get(), |(from, to)| list_incidents(from, to));
    view! {
        <Title text="Incidents"/>
        <h1 class="page__title">"Incidents"</h1>
        <p class="muted">"Findings that share an actor within a day of the first one: the same person behind the sessions, \
            the same access key, or an address no one else used. Each finding is a step, labelled with its ATT&CK tactic. "
            <a href="/findings">"All findings"</a></p>
        <form method="get" action="/incidents" class="inline-form filter-form" data-testid="incidents-form">
            <label>"From " <input type="date" name="from" value=move || args.get().0.unwrap_or_default()/></label>
            <label>"To " <input type="date" name="to" value=move || args.get().1.unwrap_or_default()/></label>
            <button type="submit" class="button">"Show"</button>
        </form>
        <Transition fallback=|| view! { <p class="loading">"Loading incidents…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(list) => view! { <IncidentsBody list=list/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn IncidentsBody(list: IncidentsList) -> impl IntoView {
    let problem = list.range_problem.then(|| view! {
        <p class="notice notice--error" role="alert">"The dates could not be read: use YYYY-MM-DD. The range is not applied."</p>
    });
    if list.incidents.is_empty() {
        return view! {
            {problem}
            <EmptyState title="No incidents here">
                <p>"No two findings of this range share an actor. Single findings are on "
                   <a href="/findings">"the findings page"</a> "."</p>
            </EmptyState>
        }
        .into_any();
    }
    let count = list.incidents.len();
    view! {
        {problem}
        <p class="muted" data-testid="incidents-count">{format!("{count} incident{}, latest activity first.", if count == 1 { "" } else { "s" })}</p>
        <div class="table-wrap" tabindex="0" role="region" aria-label="Incidents">
            <table class="data-table incidents-table" data-testid="incidents">
                <caption class="visually-hidden">"Incidents, latest activity first"</caption>
                <thead><tr>
                    <th scope="col">"Severity"</th>
                    <th scope="col">"Actor"</th>
                    <th scope="col">"Steps"</th>
                    <th scope="col" class="narrow-hide">"First event (UTC)"</th>
                    <th scope="col">"Last event (UTC)"</th>
                    <th scope="col">"Status"</th>
                </tr></thead>
                <tbody>
                    {list.incidents.into_iter().map(|i| {
                        let tactics = tactics_view(&i);
                        view! {
                            <tr>
                                <td><SeverityBadge severity=i.severity/></td>
                                <td class="cell-wrap">
                                    <a href=format!("/incidents/{}", i.id)>{fmt::clip(&i.actor, 160)}</a>
                                    <span class="muted">" #" {i.id.to_string()}</span>
                                </td>
                                <td class="cell-wrap">{format!("{} findings", i.steps.len())} {tactics}</td>
                                <td class="nowrap narrow-hide"><time datetime=fmt::iso(i.first_ms)>{fmt::time(i.first_ms)}</time></td>
                                <td class="nowrap"><time datetime=fmt::iso(i.last_ms)>{fmt::time(i.last_ms)}</time></td>
                                <td>
                                    <IncidentStatusBadge status=i.status/>
                                    {i.assignee.clone().map(|a| view! { <span class="muted">" · " {a}</span> })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
pub fn IncidentPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").and_then(|s| s.parse::<i64>().ok()));
    let data = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_incident(id).await,
                None => Ok(None),
            }
        },
    );
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading incident…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(v)) => view! { <IncidentBody v=v/> }.into_any(),
                    Ok(None) => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn touched_kind(kind: &str) -> &'static str {
    match kind {
        "resource" => "Resource changed",
        "access_key" => "Access key created",
        "session" => "Role session opened",
        _ => "Other",
    }
}

#[component]
fn IncidentBody(v: IncidentView) -> impl IntoView {
    let i = v.incident.clone();
    let id = i.id;
    let qmap = use_query_map();
    let problem = qmap.read_untracked().get("problem");
    let saved = qmap.read_untracked().get("saved").is_some();
    let all_href = timeline_href(&i.principals, i.first_ms, i.last_ms);
    let title = format!("Incident #{id}: {}", i.actor);
    let n = i.steps.len();
    let steps = i
        .steps
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let between = i.steps.get(k + 1).filter(|next| next.first_ms > s.last_ms).map(|next| {
                let href = timeline_href(&i.principals, s.last_ms, next.first_ms);
                view! { <p class="step__between"><a href=href>"What they did before the next step"</a></p> }
            });
            let tactic = s.tactic.as_deref().map_or("Unlabelled", tactic_label);
            let ids = s.event_ids.clone();
            let shown = ids.len() as i64;
            let more = (shown < s.events).then(|| format!("the first {shown} of {}", fmt::count(s.events)));
            view! {
                <li class="step" data-testid="incident-step">
                    <p class="step__head">
                        <span class="chip step__tactic" data-testid="step-tactic">{tactic}</span> " "
                        <time datetime=fmt::iso(s.first_ms)>{fmt::time(s.first_ms)}</time> " UTC · "
                        <SeverityBadge severity=s.severity/> " "
                        <a href=format!("/findings/{}", s.finding)>{fmt::clip(&s.title, 200)}</a>
                        <span class="muted">{format!(" · {} event{}", fmt::count(s.events), if s.events == 1 { "" } else { "s" })}</span>
                    </p>
                    {s.summary.clone().map(|t| view! { <p class="finding-summary">{fmt::clip(&t, 400)}</p> })}
                    {(!ids.is_empty()).then(|| view! {
                        <details class="step__ids">
                            <summary>{match more.clone() { Some(m) => format!("eventIDs ({m})"), None => format!("eventIDs ({shown})") }}</summary>
                            <ul>{ids.into_iter().map(|e| view! { <li><code>{e}</code></li> }).collect_view()}</ul>
                        </details>
                    })}
                    {between}
                </li>
            }
        })
        .collect_view();
    let touched = v.touched.clone();
    let touched_view = if touched.is_empty() {
        view! { <p class="muted">"No resources changed, keys created or sessions opened by these principals during the incident."</p> }.into_any()
    } else {
        view! {
            <div class="table-wrap" tabindex="0" role="region" aria-label="What else the actor touched">
                <table class="data-table" data-testid="incident-touched">
                    <caption class="visually-hidden">"What else the actor touched, and what happened to it afterwards"</caption>
                    <thead><tr>
                        <th scope="col">"What"</th>
                        <th scope="col">"Which"</th>
                        <th scope="col" class="num">"By the actor"</th>
                        <th scope="col" class="num">"Afterwards"</th>
                        <th scope="col">"Used by"</th>
                    </tr></thead>
                    <tbody>
                        {touched.into_iter().map(|t| {
                            let which = match t.kind.as_str() {
                                "resource" => view! { <a href=fmt::resource_href(&t.value)>{fmt::clip(&t.value, 200)}</a> }.into_any(),
                                "session" => view! { <a href=fmt::principal_href(&t.value)>{fmt::clip(&t.value, 200)}</a> }.into_any(),
                                _ => view! { <code>{fmt::clip(&t.value, 200)}</code> }.into_any(),
                            };
                            let after = match t.kind.as_str() {
                                "resource" => format!("{} events by others", fmt::count(t.after_by_others)),
                                "access_key" => format!("used in {} event{}", fmt::count(t.after_by_others), if t.after_by_others == 1 { "" } else { "s" }),
                                _ => format!("{} events", fmt::count(t.after_by_others)),
                            };
                            view! {
                                <tr>
                                    <td>{touched_kind(&t.kind)}</td>
                                    <td class="cell-wrap">{which}</td>
                                    <td class="num">{fmt::count(t.by_actor)}</td>
                                    <td class="num">{after}</td>
                                    <td class="cell-wrap">{t.used_by.clone().map(|u| view! { <a href=fmt::principal_href(&u)>{fmt::clip(&u, 160)}</a> })}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }.into_any()
    };
    let edit = v.can_edit.then(|| {
        let assignee = i.assignee.clone().unwrap_or_default();
        let inv_title = fmt::clip(&title, 190);
        let inv_notes = format!(
            "Incident #{id}: {} steps from {} to {} UTC ({}).",
            n,
            fmt::time(i.first_ms),
            fmt::time(i.last_ms),
            i.tactics().into_iter().map(tactic_label).collect::<Vec<_>>().join(", ")
        );
        let tq = timeline_query(&i.principals, i.first_ms, i.last_ms).to_query();
        view! {
            <section class="card" aria-labelledby="incident-work">
                <h2 id="incident-work">"Work on it"</h2>
                <form method="post" action=format!("/incidents/{id}/update") class="stack-form narrow-form" data-testid="incident-form">
                    <label>"Status "
                        <select name="status">
                            {Status::ALL.into_iter().map(|s| view! {
                                <option value=s.as_str() selected=s == i.status>{s.label()}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <label>"Assignee " <input type="text" name="assignee" maxlength="100" value=assignee/></label>
                    <label>"Note " <textarea name="note" rows="3" maxlength="5000"></textarea></label>
                    <button type="submit" class="button">"Save"</button>
                </form>
                <form method="post" action="/investigations/new" class="inline-form card__actions" data-testid="incident-investigate">
                    <input type="hidden" name="title" value=inv_title/>
                    <input type="hidden" name="notes" value=inv_notes/>
                    <input type="hidden" name="query" value=tq/>
                    <input type="hidden" name="back" value=format!("/incidents/{id}")/>
                    <button type="submit" class="button">"Save as investigation"</button>
                </form>
            </section>
        }
    });
    let principals = i.principals.clone();
    view! {
        <Title text=fmt::title(&title)/>
        <p class="breadcrumbs"><a href="/incidents">"Incidents"</a> " / " {id.to_string()}</p>
        <h1 class="page__title" data-testid="incident-title">{fmt::clip(&title, 200)}</h1>
        <p class="event__meta">
            <SeverityBadge severity=i.severity/> " " <IncidentStatusBadge status=i.status/>
            {i.assignee.clone().map(|a| view! { <span>" assigned to " {a}</span> })}
        </p>
        {problem.map(|e| view! { <p class="error-panel" role="alert">{e}</p> })}
        {saved.then(|| view! { <p class="notice" role="status">"Saved."</p> })}
        <section class="card" aria-labelledby="incident-who">
            <h2 id="incident-who">"Who, where, when"</h2>
            <dl class="fields" data-testid="incident-facts">
                <dt>"Principals"</dt>
                <dd><ul class="plain-list">{principals.into_iter().map(|p| view! {
                    <li><a href=fmt::principal_href(&p)>{fmt::clip(&p, 200)}</a></li>
                }).collect_view()}</ul></dd>
                {(!i.links.is_empty()).then(|| view! { <dt>"Linked by"</dt><dd>{i.links.join("; ")}</dd> })}
                <dt>"Accounts"</dt><dd>{i.accounts.join(", ")}</dd>
                {(!i.regions.is_empty()).then(|| view! { <dt>"Regions"</dt><dd>{i.regions.join(", ")}</dd> })}
                <dt>"Events"</dt>
                <dd>"from " <time datetime=fmt::iso(i.first_ms)>{fmt::time(i.first_ms)}</time> " to "
                    <time datetime=fmt::iso(i.last_ms)>{fmt::time(i.last_ms)}</time> " UTC"</dd>
                <dt>"Tactics"</dt><dd>{tactics_view(&i)}</dd>
            </dl>
            <p class="card__actions button-row">
                <a class="button" href=all_href data-testid="incident-timeline">"All their events in the timeline"</a>
                <a class="button" href=format!("/incidents/{id}/report.md") download data-testid="incident-md">"Report (Markdown)"</a>
                <a class="button" href=format!("/incidents/{id}/report.json") download data-testid="incident-json">"Report (JSON)"</a>
            </p>
        </section>
        <section aria-labelledby="incident-steps">
            <h2 id="incident-steps">{format!("The steps ({n})")}</h2>
            <ol class="steps" data-testid="incident-steps">{steps}</ol>
        </section>
        <section class="card" aria-labelledby="incident-touched">
            <h2 id="incident-touched">"What else the actor touched"</h2>
            {touched_view}
        </section>
        {edit}
        <section class="card" aria-labelledby="incident-history">
            <h2 id="incident-history">"History"</h2>
            {if v.history.is_empty() {
                view! { <p class="muted">"Nothing decided yet."</p> }.into_any()
            } else {
                view! {
                    <ol class="history" data-testid="incident-history">
                        {v.history.iter().map(|h| view! {
                            <li>
                                <time datetime=fmt::iso(h.at_ms)>{fmt::time(h.at_ms)}</time> " · " {h.actor.clone()} " " {h.change.clone()}
                                {h.note.clone().map(|n| view! { <p class="notes">{n}</p> })}
                            </li>
                        }).collect_view()}
                    </ol>
                }.into_any()
            }}
        </section>
    }
}
