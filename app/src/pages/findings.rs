//! `/findings`, `/findings/{id}` and `/compliance`: what the rules found, worked through
//! by the team; and the panels and flags that show findings where people already look
//! (principal and resource pages, an event's page).

use crate::components::{empty_state::EmptyState, error_panel::ErrorPanel, events_table::EventsTable};
use crate::detections::{
    ControlRow, EventMatch, Finding, FindingView, FindingsList, FindingsQuery, RuleInfo, Severity, Status,
};
use crate::fmt;
use crate::pages::not_found::NotFound;
use crate::query::EventQuery;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

/// Most findings a list shows.
pub const LIST_LIMIT: i64 = 500;
/// Most events a finding's page lists.
pub const PAGE_EVENTS: i64 = 200;

#[server]
pub async fn list_findings(query: String) -> Result<FindingsList, ServerFnError> {
    use crate::db;
    crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = db::pool()?;
    let q = FindingsQuery::parse(&query);
    let (from_ms, to_ms) = q.range_ms();
    let range_problem = (q.from.is_some() && from_ms.is_none()) || (q.to.is_some() && to_ms.is_none());
    let mut findings = db::findings::list(
        &pool,
        &db::findings::FindingFilter {
            from_ms,
            to_ms,
            rules: q.rule.clone().into_iter().collect(),
            statuses: q.statuses(),
            severities: q.severity.into_iter().collect(),
            principal: q.principal.clone(),
            resource: q.resource.clone(),
            limit: LIST_LIMIT + 1,
        },
    )
    .await
    .map_err(db::opaque)?;
    let more = findings.len() as i64 > LIST_LIMIT;
    findings.truncate(LIST_LIMIT as usize);
    let rules = db::rules::list(&pool)
        .await
        .map_err(db::opaque_rules)?
        .into_iter()
        .map(|r| (r.def.id, r.def.title))
        .collect();
    Ok(FindingsList { findings, rules, more, range_problem })
}

/// The pre-filtered timeline of a finding: its time span, the key it groups by, and the
/// names of its events.
#[cfg(feature = "ssr")]
fn timeline_query(f: &Finding, rule: Option<&crate::db::rules::StoredRule>, names: &[String]) -> EventQuery {
    use crate::query::{Field, TimeRange};
    const MIN: i64 = 60_000;
    let from_ms = f.first_ms - f.first_ms.rem_euclid(MIN);
    let to_ms = f.last_ms - f.last_ms.rem_euclid(MIN) + MIN;
    let mut q = EventQuery::default().with_range(TimeRange::Absolute { from_ms, to_ms });
    let group_by = rule.map(|r| r.def.group_by.clone()).unwrap_or_else(|| vec!["principal".into()]);
    let parts: Vec<&str> = f.group.splitn(group_by.len().max(1), ", ").collect();
    for (field, value) in group_by.iter().zip(parts) {
        let field = match field.as_str() {
            "principal" => {
                if let Some(k) = &f.principal_key {
                    q = q.with_filter(Field::Principal, k, false);
                }
                continue;
            }
            "source_ip" => Field::SourceIp,
            "access_key" => Field::AccessKey,
            "account" => Field::Account,
            "region" => Field::Region,
            _ => continue,
        };
        if !value.is_empty() {
            q = q.with_filter(field, value, false);
        }
    }
    for n in names.iter().take(20) {
        q = q.with_filter(Field::Name, n, false);
    }
    q
}

#[server]
pub async fn get_finding(id: i64) -> Result<Option<FindingView>, ServerFnError> {
    use crate::db;
    let user = crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = db::pool()?;
    let Some(finding) = db::findings::get(&pool, id).await.map_err(db::opaque)? else {
        return Ok(None);
    };
    let stored = db::rules::get(&pool, &finding.rule)
        .await
        .map_err(db::opaque_rules)?;
    let ids = db::findings::event_ids(&pool, id, PAGE_EVENTS).await.map_err(db::opaque)?;
    let mut events = db::events::rows_by_ids(&pool, &ids).await.map_err(db::opaque)?;
    events.sort_by_key(|e| e.id);
    let mut names: Vec<String> = events.iter().map(|e| e.name.clone()).collect();
    names.sort();
    names.dedup();
    let query = timeline_query(&finding, stored.as_ref(), &names);
    let history = db::findings::history(&pool, id).await.map_err(db::opaque)?;
    let alerts = db::alerts::for_finding(&pool, id).await.map_err(db::opaque)?;
    Ok(Some(FindingView {
        alerts,
        rule: stored.as_ref().map(|s| s.info()),
        finding,
        events,
        history,
        timeline_query: query.to_query(),
        can_edit: user.can(crate::auth::Role::Analyst),
    }))
}

/// The latest findings of a principal (by key) or a resource (by ARN), read with its
/// page's data; what cannot be read is said in the panel.
#[cfg(feature = "ssr")]
pub async fn latest_of(
    pool: &sqlx::SqlitePool,
    principal: Option<String>,
    resource: Option<String>,
) -> Result<Vec<Finding>, String> {
    if principal.is_none() && resource.is_none() {
        return Ok(Vec::new());
    }
    crate::db::findings::list(
        pool,
        &crate::db::findings::FindingFilter { principal, resource, limit: 10, ..Default::default() },
    )
    .await
    .map_err(|e| crate::error::WebError::internal("cannot read the findings", e).to_string())
}

/// The rules an event matches now, and the findings holding it. The rules run again on
/// the stored record: there is no index from events to findings (it would double the
/// cost of a rule that matches most events), and the grouping key finds the finding.
#[server]
pub async fn event_matches(id: i64) -> Result<Vec<EventMatch>, ServerFnError> {
    use crate::db;
    use crate::detect::{Known, RuleSet};
    crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = db::pool()?;
    let Some((principal, account, region)) = db::findings::event_context(&pool, id).await.map_err(db::opaque)? else {
        return Ok(Vec::new());
    };
    let record = match db::events::record(&pool, id).await {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => return Err(crate::error::WebError::internal("event record failed", e).into()),
    };
    let stored = db::rules::enabled(&pool)
        .await
        .map_err(db::opaque_rules)?;
    let (set, _) = RuleSet::new(stored.into_iter().map(|s| s.def).collect());
    let bytes = serde_json::to_vec(&record).unwrap_or_default();
    let hits = set.evaluate(
        &bytes,
        None,
        &Known { principal: &principal, account: &account, region: region.as_deref() },
    );
    let mut out = Vec::with_capacity(hits.len());
    for h in hits {
        let Some(rule) = set.rules.get(h.rule as usize) else { continue };
        let held = db::findings::holding(&pool, &rule.def.id, &h.group, id).await.map_err(db::opaque)?;
        out.push(EventMatch {
            rule: rule.def.id.clone(),
            title: rule.def.title.clone(),
            severity: rule.def.severity,
            finding: held.map(|h| h.0),
            status: held.map(|h| h.1),
        });
    }
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.rule.cmp(&b.rule)));
    Ok(out)
}

/// The CIS monitoring controls over `from`/`to` (default: the last 30 days).
#[server]
pub async fn compliance(query: String) -> Result<(i64, i64, Vec<ControlRow>), ServerFnError> {
    use crate::db;
    crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = db::pool()?;
    let q = FindingsQuery::parse(&query);
    let (from, to) = q.range_ms();
    let now = chrono::Utc::now().timestamp_millis();
    let to_ms = to.unwrap_or(now);
    let from_ms = from.unwrap_or(to_ms - 30 * 86_400_000);
    let rows = db::findings::controls(&pool, from_ms, to_ms).await.map_err(db::opaque)?;
    Ok((from_ms, to_ms, rows))
}

#[component]
pub fn SeverityBadge(severity: Severity) -> impl IntoView {
    let class = format!("sev sev--{}", severity.as_str());
    let label = match severity {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
        Severity::Informational => "Info",
    };
    view! { <span class=class>{label}</span> }
}

#[component]
pub fn StatusBadge(status: Status) -> impl IntoView {
    let class = match status {
        Status::Open => "badge badge--error",
        Status::Acknowledged => "badge badge--warn",
        Status::Resolved => "badge badge--ok",
        Status::FalsePositive => "badge",
    };
    view! { <span class=class>{status.label()}</span> }
}

/// Findings as a table (the list page and the panels).
#[component]
pub fn FindingsTable(findings: Vec<Finding>, #[prop(into)] caption: String) -> impl IntoView {
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label=caption.clone()>
            <table class="data-table findings-table" data-testid="findings">
                <caption class="visually-hidden">{caption.clone()}</caption>
                <thead><tr>
                    <th scope="col">"Severity"</th>
                    <th scope="col">"Finding"</th>
                    <th scope="col">"Who"</th>
                    <th scope="col" class="narrow-hide">"Account · Region"</th>
                    <th scope="col">"Last event (UTC)"</th>
                    <th scope="col" class="num narrow-hide">"Events"</th>
                    <th scope="col">"Status"</th>
                </tr></thead>
                <tbody>
                    {findings.into_iter().map(|f| {
                        let who = f.principal.clone().unwrap_or_else(|| f.group.clone());
                        let who_view = match f.principal_key.clone() {
                            Some(k) => view! { <a href=fmt::principal_href(&k)>{fmt::clip(&who, 120)}</a> }.into_any(),
                            None => view! { <span>{fmt::clip(&who, 120)}</span> }.into_any(),
                        };
                        let place = [f.account.clone(), f.region.clone()].into_iter().flatten().collect::<Vec<_>>().join(" · ");
                        view! {
                            <tr>
                                <td><SeverityBadge severity=f.severity/></td>
                                <td class="cell-wrap">
                                    <a href=format!("/findings/{}", f.id)>{fmt::clip(&f.rule_title, 200)}</a>
                                    <span class="muted">" #" {f.id.to_string()}</span>
                                    {f.summary.clone().map(|s| view! { <span class="finding-summary">{fmt::clip(&s, 300)}</span> })}
                                </td>
                                <td class="cell-wrap">{who_view}</td>
                                <td class="cell-wrap narrow-hide">{place}</td>
                                <td class="nowrap"><time datetime=fmt::iso(f.last_ms)>{fmt::time(f.last_ms)}</time></td>
                                <td class="num narrow-hide">{fmt::count(f.events)}</td>
                                <td>
                                    <StatusBadge status=f.status/>
                                    {f.assignee.clone().map(|a| view! { <span class="muted">" · " {a}</span> })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

const STATUS_TABS: [(&str, &str); 6] = [
    ("", "Needing attention"),
    ("open", "Open"),
    ("acknowledged", "Acknowledged"),
    ("resolved", "Resolved"),
    ("false_positive", "False positives"),
    ("any", "All"),
];

#[component]
pub fn FindingsPage() -> impl IntoView {
    let qmap = use_query_map();
    let query = Memo::new(move |_| {
        let m = qmap.read();
        let mut s = form_urlencoded::Serializer::new(String::new());
        for k in ["status", "severity", "rule", "principal", "resource", "from", "to"] {
            if let Some(v) = m.get(k) {
                s.append_pair(k, &v);
            }
        }
        FindingsQuery::parse(&s.finish())
    });
    let data = Resource::new(move || query.get().to_query(), list_findings);
    view! {
        <Title text="Findings"/>
        <h1 class="page__title">"Findings"</h1>
        <p class="muted">"What the enabled rules found as events were stored. "
            <a href="/rules">"Rules"</a> " · " <a href="/compliance">"CIS monitoring controls"</a></p>
        <nav class="subnav" aria-label="Status">
            {move || {
                let q = query.get();
                STATUS_TABS.iter().map(|(value, label)| {
                    let mut tab = q.clone();
                    tab.status = (!value.is_empty()).then(|| value.to_string());
                    let current = q.status.as_deref().unwrap_or("") == *value;
                    view! { <a href=tab.href() aria-current=current.then_some("page")>{*label}</a> }
                }).collect_view()
            }}
        </nav>
        <Transition fallback=|| view! { <p class="loading">"Loading findings…"</p> }>
            {move || Suspend::new(async move {
                let q = query.get_untracked();
                match data.await {
                    Ok(list) => view! { <FindingsBody list=list q=q/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn FindingsBody(list: FindingsList, q: FindingsQuery) -> impl IntoView {
    let rule_options = list.rules.clone();
    let chosen_rule = q.rule.clone().unwrap_or_default();
    let chosen_sev = q.severity;
    let scope = [
        q.principal.clone().map(|p| {
            let mut without = q.clone();
            without.principal = None;
            (format!("Principal is {p}"), without.href())
        }),
        q.resource.clone().map(|r| {
            let mut without = q.clone();
            without.resource = None;
            (format!("Resource is {r}"), without.href())
        }),
    ];
    let count = list.findings.len();
    let more = list.more;
    view! {
        <form method="get" action="/findings" class="inline-form filter-form" data-testid="findings-form">
            {q.status.clone().map(|s| view! { <input type="hidden" name="status" value=s/> })}
            {q.principal.clone().map(|s| view! { <input type="hidden" name="principal" value=s/> })}
            {q.resource.clone().map(|s| view! { <input type="hidden" name="resource" value=s/> })}
            <label>"Severity "
                <select name="severity">
                    <option value="" selected=chosen_sev.is_none()>"Any"</option>
                    {Severity::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=chosen_sev == Some(s)>{s.as_str()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Rule "
                <select name="rule" class="select-clip">
                    <option value="" selected=chosen_rule.is_empty()>"Any"</option>
                    {rule_options.into_iter().map(|(id, title)| {
                        let selected = id == chosen_rule;
                        view! { <option value=id.clone() selected=selected>{fmt::clip(&title, 70)}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label>"From " <input type="date" name="from" value=q.from.clone().unwrap_or_default()/></label>
            <label>"To " <input type="date" name="to" value=q.to.clone().unwrap_or_default()/></label>
            <button type="submit" class="button">"Show"</button>
        </form>
        {list.range_problem.then(|| view! {
            <p class="notice notice--error" role="alert">"The dates could not be read: use YYYY-MM-DD. The range is not applied."</p>
        })}
        <ul class="chips" data-testid="findings-scope">
            {scope.into_iter().flatten().map(|(label, href)| {
                let remove = format!("Remove filter: {label}");
                view! {
                    <li class="chip chip--filter"><span class="chip__text">{fmt::clip(&label, 160)}</span>
                        <a class="chip__remove" href=href aria-label=remove>"×"</a></li>
                }
            }).collect_view()}
        </ul>
        {if list.findings.is_empty() {
            view! {
                <EmptyState title="No findings here">
                    <p>"Nothing the enabled rules found matches this view. Rules run on every event as it is stored; "
                       <a href="/rules">"the rules page"</a> " lists them and back-tests new ones over stored history."</p>
                </EmptyState>
            }.into_any()
        } else {
            view! {
                <p class="muted" data-testid="findings-count">
                    {if more { format!("The {count} with the latest events; narrow the view to see the rest.") }
                     else { format!("{count} finding{}, latest events first.", if count == 1 { "" } else { "s" }) }}
                </p>
                <FindingsTable findings=list.findings caption="Findings, latest events first"/>
            }.into_any()
        }}
    }
}

#[component]
pub fn FindingPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").and_then(|s| s.parse::<i64>().ok()));
    let data = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_finding(id).await,
                None => Ok(None),
            }
        },
    );
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading finding…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(v)) => view! { <FindingBody v=v/> }.into_any(),
                    Ok(None) => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// A reference as a link when it is a web address, as text otherwise.
fn reference(r: String) -> impl IntoView {
    if r.starts_with("https://") || r.starts_with("http://") {
        view! { <a href=r.clone() rel="noreferrer noopener" target="_blank">{fmt::clip(&r, 200)}</a> }.into_any()
    } else {
        view! { <span>{fmt::clip(&r, 200)}</span> }.into_any()
    }
}

/// What a rule says about itself: description, tags, author, references, licence.
#[component]
pub fn RuleAbout(rule: RuleInfo) -> impl IntoView {
    let tags = rule.tags.clone();
    let refs = rule.references.clone();
    view! {
        {(!rule.description.is_empty()).then(|| view! { <p class="notes">{rule.description.clone()}</p> })}
        <dl class="fields">
            {(!tags.is_empty()).then(|| view! {
                <dt>"Tags"</dt>
                <dd><ul class="tag-list">{tags.into_iter().map(|t| view! { <li><code>{t}</code></li> }).collect_view()}</ul></dd>
            })}
            <dt>"Finds"</dt>
            {if rule.language == "anomaly" {
                view! { <dd>{format!("episodes, one finding per episode of each {}", rule.group_by.join(" + "))}</dd> }.into_any()
            } else {
                view! {
                    <dd>{rule.threshold.clone().unwrap_or_else(|| "each match".into())}
                        ", one finding per " {rule.group_by.join(" + ")}
                        {rule.threshold.is_none().then(|| format!(" and {}", crate::detections::window_words(rule.window_secs)))}</dd>
                }.into_any()
            }}
            {rule.author.clone().map(|a| view! { <dt>"Author"</dt><dd>{a}</dd> })}
            {rule.license.clone().map(|l| view! { <dt>"Licence"</dt><dd>{l}</dd> })}
            {(!refs.is_empty()).then(|| view! {
                <dt>"References"</dt>
                <dd><ul class="ref-list">{refs.into_iter().map(|r| view! { <li>{reference(r)}</li> }).collect_view()}</ul></dd>
            })}
        </dl>
    }
}

#[component]
fn FindingBody(v: FindingView) -> impl IntoView {
    let f = v.finding.clone();
    let id = f.id;
    let qmap = use_query_map();
    let problem = qmap.read_untracked().get("problem");
    let saved = qmap.read_untracked().get("saved").is_some();
    let query = EventQuery::parse(&v.timeline_query);
    let timeline_href = query.href("/");
    let who = f.principal.clone().unwrap_or_else(|| f.group.clone());
    let title = format!("{} (finding #{id})", f.rule_title);
    let shown = v.events.len() as i64;
    let caption = if shown < f.events {
        format!("The first {shown} of the finding’s {} events", fmt::count(f.events))
    } else {
        format!("The finding’s {} event{}", fmt::count(f.events), if f.events == 1 { "" } else { "s" })
    };
    let edit = v.can_edit.then(|| {
        let status = f.status;
        let assignee = f.assignee.clone().unwrap_or_default();
        let inv_title = fmt::clip(&format!("Finding #{id}: {} — {who}", f.rule_title), 200);
        let inv_notes = format!("From finding #{id} ({}), {} events.", f.rule, f.events);
        let tq = v.timeline_query.clone();
        view! {
            <section class="card" aria-labelledby="finding-work">
                <h2 id="finding-work">"Work on it"</h2>
                <form method="post" action=format!("/findings/{id}/update") class="stack-form narrow-form" data-testid="finding-form">
                    <label>"Status "
                        <select name="status">
                            {Status::ALL.into_iter().map(|s| view! {
                                <option value=s.as_str() selected=s == status>{s.label()}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <label>"Assignee " <input type="text" name="assignee" maxlength="100" value=assignee/></label>
                    <label>"Note " <textarea name="note" rows="3" maxlength="5000"></textarea></label>
                    <button type="submit" class="button">"Save"</button>
                </form>
                <form method="post" action="/investigations/new" class="inline-form card__actions" data-testid="finding-investigate">
                    <input type="hidden" name="title" value=inv_title/>
                    <input type="hidden" name="notes" value=inv_notes/>
                    <input type="hidden" name="query" value=tq/>
                    <input type="hidden" name="back" value=format!("/findings/{id}")/>
                    <button type="submit" class="button">"Save as investigation"</button>
                </form>
            </section>
        }
    });
    let rule = v.rule.clone();
    view! {
        <Title text=fmt::title(&title)/>
        <p class="breadcrumbs"><a href="/findings">"Findings"</a> " / " {id.to_string()}</p>
        <h1 class="page__title" data-testid="finding-title">{fmt::clip(&f.rule_title, 200)}</h1>
        <p class="event__meta">
            <SeverityBadge severity=f.severity/> " " <StatusBadge status=f.status/>
            {f.assignee.clone().map(|a| view! { <span>" assigned to " {a}</span> })}
            " · rule " <a href=fmt::rule_href(&f.rule)><code>{f.rule.clone()}</code></a>
            {f.rule_author.clone().map(|a| view! { <span class="muted">" by " {a}</span> })}
        </p>
        {problem.map(|e| view! { <p class="error-panel" role="alert">{e}</p> })}
        {saved.then(|| view! { <p class="notice" role="status">"Saved."</p> })}
        <section class="card" aria-labelledby="finding-what">
            <h2 id="finding-what">"What happened"</h2>
            {f.summary.clone().map(|s| view! { <p class="finding-detail" data-testid="finding-summary"><strong>{s}</strong></p> })}
            <dl class="fields" data-testid="finding-facts">
                <dt>"Who"</dt>
                <dd>{match f.principal_key.clone() {
                    Some(k) => view! { <a href=fmt::principal_href(&k)>{who.clone()}</a> }.into_any(),
                    None => view! { <span>{who.clone()}</span> }.into_any(),
                }}</dd>
                <dt>"Grouped by"</dt><dd>{f.group.clone()}</dd>
                {f.account.clone().map(|a| view! { <dt>"Account"</dt><dd>{a}</dd> })}
                {f.region.clone().map(|r| view! { <dt>"Region"</dt><dd>{r}</dd> })}
                <dt>"Events"</dt>
                <dd>{fmt::count(f.events)} " from "
                    <time datetime=fmt::iso(f.first_ms)>{fmt::time(f.first_ms)}</time> " to "
                    <time datetime=fmt::iso(f.last_ms)>{fmt::time(f.last_ms)}</time> " UTC"</dd>
                <dt>"Found"</dt><dd><time datetime=fmt::iso(f.created_ms)>{fmt::time(f.created_ms)}</time></dd>
            </dl>
            <p class="card__actions"><a class="button" href=timeline_href data-testid="finding-timeline">"Open in the timeline"</a></p>
        </section>
        {f.insight.clone().map(|e| view! { <crate::components::episode::EpisodeFigures episode=e/> })}
        {rule.map(|r| view! {
            <section class="card" aria-labelledby="finding-rule">
                <h2 id="finding-rule">"Why it matters"</h2>
                <RuleAbout rule=r/>
            </section>
        }.into_any())}
        {edit.map(|e| e.into_any())}
        {view! {
            <section aria-labelledby="finding-events">
                <h2 id="finding-events">"Events"</h2>
                <EventsTable rows=v.events.clone() caption=caption query=query.clone() path="/" sortable=false/>
            </section>
        }.into_any()}
        <section class="card" aria-labelledby="finding-history">
            <h2 id="finding-history">"History"</h2>
            <ol class="history" data-testid="finding-history">
                {v.history.iter().map(|h| view! {
                    <li>
                        <time datetime=fmt::iso(h.at_ms)>{fmt::time(h.at_ms)}</time> " · " {h.actor.clone()} " " {h.change.clone()}
                        {h.note.clone().map(|n| view! { <p class="notes">{n}</p> })}
                    </li>
                }).collect_view()}
            </ol>
        </section>
        <crate::pages::alerts::FindingAlerts alerts=v.alerts.clone()/>
    }
}

/// A principal's or a resource's latest findings, on its page (`latest_of`).
#[component]
pub fn FindingsPanel(
    findings: Result<Vec<Finding>, String>,
    #[prop(optional)] principal: Option<String>,
    #[prop(optional)] resource: Option<String>,
) -> impl IntoView {
    let all = FindingsQuery {
        status: Some("any".into()),
        principal,
        resource,
        ..Default::default()
    }
    .href();
    match findings {
        Ok(list) if list.is_empty() => ().into_any(),
        Ok(list) => {
            let open = list.iter().filter(|f| f.status == Status::Open).count();
            view! {
                <section class="card findings-panel" aria-labelledby="findings-panel" data-testid="findings-panel">
                    <h2 id="findings-panel">"Findings "
                        {(open > 0).then(|| view! { <span class="badge badge--error">{open.to_string()} " open"</span> })}
                    </h2>
                    <FindingsTable findings=list caption="Latest findings"/>
                    <p><a href=all>"All its findings"</a></p>
                </section>
            }.into_any()
        }
        Err(e) => view! { <ErrorPanel message=e/> }.into_any(),
    }
}

/// On an event's page: the rules it matches and the findings that hold it
/// (`event_matches`, loaded with the page).
#[component]
pub fn EventFindings(matches: Result<Vec<EventMatch>, ServerFnError>) -> impl IntoView {
    match matches {
        Ok(list) if list.is_empty() => ().into_any(),
        Ok(list) => view! {
            <section class="notice notice--warn event-findings" aria-labelledby="event-findings" data-testid="event-findings">
                <h2 id="event-findings">"Rules this event matches"</h2>
                <ul>
                    {list.into_iter().map(|m| view! {
                        <li>
                            <SeverityBadge severity=m.severity/> " "
                            <a href=fmt::rule_href(&m.rule)>{m.title.clone()}</a>
                            {match (m.finding, m.status) {
                                (Some(f), Some(s)) => view! {
                                    <span>" — in " <a href=format!("/findings/{f}")>"finding #" {f.to_string()}</a> " (" {s.label()} ")"</span>
                                }.into_any(),
                                _ => view! { <span class="muted">" — no finding: below the rule’s threshold, suppressed, or the rule was not enabled when the event was stored"</span> }.into_any(),
                            }}
                        </li>
                    }).collect_view()}
                </ul>
            </section>
        }.into_any(),
        Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
    }
}

#[component]
pub fn CompliancePage() -> impl IntoView {
    let qmap = use_query_map();
    let query = Memo::new(move |_| {
        let m = qmap.read();
        FindingsQuery { from: m.get("from"), to: m.get("to"), ..Default::default() }
    });
    let data = Resource::new(move || query.get().to_query(), compliance);
    view! {
        <Title text="CIS monitoring controls"/>
        <p class="breadcrumbs"><a href="/findings">"Findings"</a> " / CIS controls"</p>
        <h1 class="page__title">"CIS monitoring controls"</h1>
        <p class="muted">"The CIS AWS Foundations Benchmark’s monitoring controls 4.1–4.15, each the exact CloudWatch Logs filter pattern the benchmark gives, run on every stored event. A control with matches in the range has findings to look at."</p>
        <form method="get" action="/compliance" class="inline-form" data-testid="compliance-range">
            <label>"From " <input type="date" name="from" value=move || query.get().from.unwrap_or_default()/></label>
            <label>"To " <input type="date" name="to" value=move || query.get().to.unwrap_or_default()/></label>
            <button type="submit" class="button">"Show"</button>
        </form>
        <Transition fallback=|| view! { <p class="loading">"Loading controls…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok((from_ms, to_ms, rows)) => {
                        let day = |ms: i64| fmt::iso(ms).chars().take(10).collect::<String>();
                        let (from_day, to_day) = (day(from_ms), day(to_ms - 1));
                        view! {
                            <p data-testid="compliance-span">"From " {fmt::time(from_ms)} " to " {fmt::time(to_ms)} " UTC."</p>
                            <div class="table-wrap" tabindex="0" role="region" aria-label="CIS controls">
                                <table class="data-table controls-table" data-testid="controls">
                                    <caption class="visually-hidden">"CIS monitoring controls and their findings in the range"</caption>
                                    <thead><tr>
                                        <th scope="col">"Control"</th><th scope="col">"State"</th>
                                        <th scope="col" class="num">"Findings"</th><th scope="col" class="num">"Open"</th>
                                        <th scope="col" class="num narrow-hide">"Events"</th><th scope="col" class="narrow-hide">"Last (UTC)"</th>
                                    </tr></thead>
                                    <tbody>
                                        {rows.into_iter().map(|c| {
                                            let href = FindingsQuery {
                                                status: Some("any".into()),
                                                rule: Some(c.rule.clone()),
                                                from: Some(from_day.clone()),
                                                to: Some(to_day.clone()),
                                                ..Default::default()
                                            }.href();
                                            view! {
                                                <tr>
                                                    <th scope="row" class="cell-wrap"><a href=fmt::rule_href(&c.rule)>{c.title.clone()}</a></th>
                                                    <td>{if !c.enabled {
                                                        view! { <span class="badge">"Disabled"</span> }.into_any()
                                                    } else if c.findings > 0 {
                                                        view! { <span class="badge badge--warn">"Matches"</span> }.into_any()
                                                    } else {
                                                        view! { <span class="badge badge--ok">"No matches"</span> }.into_any()
                                                    }}</td>
                                                    <td class="num"><a href=href>{fmt::count(c.findings)}</a></td>
                                                    <td class="num">{fmt::count(c.open)}</td>
                                                    <td class="num narrow-hide">{fmt::count(c.events)}</td>
                                                    <td class="nowrap narrow-hide">{c.last_ms.map(fmt::time).unwrap_or_else(|| "—".into())}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}
