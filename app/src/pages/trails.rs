//! `/trails` and `/trails/{ARN}`: every trail of every source once, what it records in
//! sentences, what it delivered and costs, and what is wrong with it, with the fix.

use crate::components::error_panel::ErrorPanel;
use crate::fmt;
use crate::pages::not_found::NotFound;
use crate::pages::principal::key_from_path;
use crate::trails::{Finding, Overview, Trail};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// Every trail and every finding.
#[server]
pub async fn get_trails() -> Result<Overview, ServerFnError> {
    crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = crate::db::pool()?;
    crate::trails::overview(&pool, chrono::Utc::now().timestamp_millis())
        .await
        .map_err(|e| crate::error::WebError::internal("cannot read the trails", e).into())
}

/// A trail's changes: the inventory's, field by field, and its own events.
#[server]
pub async fn get_trail_history(arn: String) -> Result<crate::trails::History, ServerFnError> {
    crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = crate::db::pool()?;
    crate::trails::history(&pool, &arn, chrono::Utc::now().timestamp_millis())
        .await
        .map_err(crate::db::opaque)
}

/// What a trail's digest files showed over the query's range (all time when none).
#[server]
pub async fn get_integrity(arn: String, query: String) -> Result<IntegrityView, ServerFnError> {
    use crate::query::{EventQuery, Preset, TimeRange};
    crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = crate::db::pool()?;
    let query = EventQuery::parse(&query);
    let query = match query.range {
        TimeRange::Auto => query.with_range(TimeRange::Preset(Preset::All)),
        _ => query,
    };
    let store = crate::db::events::store_info(&pool).await.map_err(crate::db::opaque)?;
    let range = query.resolve(chrono::Utc::now().timestamp_millis(), &store);
    // "All time" is the events' span; digests and problems may reach past it.
    let (from, to) = match query.range {
        TimeRange::Preset(Preset::All) => (i64::MIN, i64::MAX),
        _ => (range.from_ms, range.to_ms),
    };
    let report = crate::integrity::report(&pool, &arn, from, to)
        .await
        .map_err(crate::db::opaque)?;
    Ok(IntegrityView {
        report,
        from_ms: range.from_ms,
        to_ms: range.to_ms,
        all: from == i64::MIN,
    })
}

/// A trail's integrity report and the range it covers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IntegrityView {
    pub report: crate::integrity::Report,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Over all time.
    pub all: bool,
}

/// The trail page of an ARN.
pub fn trail_href(arn: &str) -> String {
    format!(
        "/trails/{}",
        percent_encoding::utf8_percent_encode(arn, fmt::PATH_TAIL)
    )
}

fn yes_no(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "on",
        Some(false) => "off",
        None => "—",
    }
}

fn or_none(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "none".into())
}

use crate::fmt::usd;

fn badge(severity: crate::trails::Severity) -> &'static str {
    use crate::trails::Severity::*;
    match severity {
        Critical | High => "badge badge--error",
        Medium => "badge badge--warn",
        Low => "badge badge--info",
    }
}

/// The page's data, loaded once for both routes.
fn overview() -> Resource<Result<Overview, ServerFnError>> {
    Resource::new(|| (), |_| get_trails())
}

#[component]
pub fn TrailsPage() -> impl IntoView {
    let data = overview();
    view! {
        <Title text="Trails"/>
        <h1 class="page__title">"Trails"</h1>
        <p><a href="/coverage" data-testid="coverage-link">"Coverage: when each account and Region was recorded"</a></p>
        <Transition fallback=|| view! { <p class="loading">"Loading trails…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) => view! { <TrailsBody o=o/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn TrailsBody(o: Overview) -> impl IntoView {
    if o.trails.is_empty() {
        return view! {
            <section class="card empty-state" data-testid="no-trails">
                <h2>"No trails known yet"</h2>
                <p class="empty-state__body">
                    "The trails are read hourly from each AWS source's Regions (cloudtrail:DescribeTrails, GetTrailStatus, GetEventSelectors, GetInsightSelectors). Add a source under Admin → Sources, or run "
                    <code>"cairn sync --once"</code>"."
                </p>
            </section>
        }
        .into_any();
    }
    let now = o.now_ms;
    let live = o.trails.iter().filter(|t| !t.gone).count();
    let logging = o.trails.iter().filter(|t| !t.gone && t.logging == Some(true)).count();
    let cost: f64 = o.trails.iter().map(|t| t.usd_month).sum();
    let worst = o.findings.iter().filter(|f| f.severity <= crate::trails::Severity::High).count();
    let month = o.month.clone();
    let fixable = o.trails.clone();
    view! {
        <div class="kpis">
            <div class="kpi"><span class="kpi__label">"Trails"</span><span class="kpi__value">{live}</span></div>
            <div class="kpi"><span class="kpi__label">"Logging"</span><span class="kpi__value">{logging}</span></div>
            <div class="kpi"><span class="kpi__label">"Critical and high findings"</span><span class="kpi__value" data-testid="trail-findings-high">{worst}</span></div>
            <div class="kpi"><span class="kpi__label">{format!("Cost {month} to date")}</span>
                <span class="kpi__value"><a href=format!("/costs?month={month}")>{usd(cost)}</a></span></div>
        </div>
        <section class="card" aria-labelledby="trails-list">
            <h2 id="trails-list">"Every trail"</h2>
            <div class="table-wrap" tabindex="0" role="region" aria-label="Trails table">
                <table class="data-table wide-table wide-table--trails" data-testid="trails">
                    <thead><tr>
                        <th scope="col">"Trail"</th><th scope="col">"Account"</th><th scope="col">"Home Region"</th>
                        <th scope="col">"Records"</th><th scope="col">"Logging"</th><th scope="col">"Latest delivery"</th>
                        <th scope="col">"Bucket"</th><th scope="col">"Validation"</th><th scope="col">"KMS"</th>
                        <th scope="col">"CloudWatch Logs"</th><th scope="col">"SNS"</th><th scope="col">"Insights"</th>
                        <th scope="col">"Events 24 h"</th><th scope="col">"Events 30 d"</th><th scope="col">"Cost this month"</th>
                        <th scope="col">"Findings"</th>
                    </tr></thead>
                    <tbody>
                        {o.trails.into_iter().map(|t| view! { <TrailRow t=t now=now/> }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        <FindingsList findings=with_fixes(o.findings, &fixable) heading="Findings across all trails, worst first"/>
    }
    .into_any()
}

#[component]
fn TrailRow(t: Trail, now: i64) -> impl IntoView {
    let href = trail_href(&t.arn);
    let regions = if t.organization {
        format!("organization, {}", t.regions.join(", "))
    } else {
        t.regions.join(", ")
    };
    let delivery = t.latest_delivery.map_or_else(
        || "never".to_owned(),
        |d| format!("{} ago", fmt::age(now - d)),
    );
    let errors = [&t.delivery_error, &t.digest_error, &t.notification_error, &t.cloudwatch_error]
        .into_iter()
        .flatten()
        .count();
    let n = t.findings.len();
    view! {
        <tr data-testid="trail-row">
            <td class="nowrap"><a href=href>{fmt::clip(&t.name, 80)}</a>
                {t.gone.then(|| view! { " " <span class="badge badge--warn">"gone"</span> })}</td>
            <td class="nowrap">{t.account.clone()}</td>
            <td class="nowrap">{t.home_region.clone().unwrap_or_default()}</td>
            <td class="cell-wrap">{regions}</td>
            <td>{match t.logging {
                Some(true) => view! { <span class="badge badge--ok">"on"</span> }.into_any(),
                Some(false) => view! { <span class="badge badge--error">"stopped"</span> }.into_any(),
                None => view! { <span class="muted">"—"</span> }.into_any(),
            }}</td>
            <td class="nowrap">{delivery}
                {(errors > 0).then(|| view! { " " <span class="badge badge--error">{format!("{errors} error{}", if errors == 1 { "" } else { "s" })}</span> })}</td>
            <td class="cell-wrap">{t.location().unwrap_or_default()}</td>
            <td>{yes_no(t.log_file_validation)}</td>
            <td>{if t.kms_key.is_some() { "yes" } else { "no" }}</td>
            <td>{if t.cloudwatch_log_group.is_some() { "yes" } else { "no" }}</td>
            <td>{if t.sns_topic.is_some() { "yes" } else { "no" }}</td>
            <td class="cell-wrap">{if t.insights.is_empty() { "off".to_owned() } else { t.insights.join("; ") }}</td>
            <td class="nowrap">{fmt::count(t.events_24h)}</td>
            <td class="nowrap">{fmt::count(t.events_30d)}</td>
            <td class="nowrap">{usd(t.usd_month)}</td>
            <td>{if n == 0 { "none".to_owned() } else { n.to_string() }}</td>
        </tr>
    }
}

/// Each finding with the link that previews its fix, where Cairn can make it.
fn with_fixes(findings: Vec<Finding>, trails: &[Trail]) -> Vec<(Finding, Option<String>)> {
    findings
        .into_iter()
        .map(|f| {
            let fix = f.trail.as_ref().and_then(|a| trails.iter().find(|t| &t.arn == a)).and_then(|t| {
                crate::trail_change::fix_query(&f, t).map(|q| format!("{}?{q}#change-trail", trail_href(&t.arn)))
            });
            (f, fix)
        })
        .collect()
}

/// Findings, each with why it matters and the fix.
#[component]
fn FindingsList(findings: Vec<(Finding, Option<String>)>, heading: &'static str) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="findings-heading" data-testid="findings">
            <h2 id="findings-heading">{heading}</h2>
            {if findings.is_empty() {
                view! { <p class="muted">"Nothing found."</p> }.into_any()
            } else {
                view! {
                    <ul class="finding-list">
                        {findings.into_iter().map(|(f, fix)| {
                            let trail = f.trail.clone();
                            view! {
                                <li class="finding" data-testid="finding" data-code=f.code.clone()>
                                    <p class="finding__title">
                                        <span class=badge(f.severity)>{f.severity.as_str()}</span>" "
                                        <strong>{f.title.clone()}</strong>
                                        {trail.map(|a| view! { " " <a href=trail_href(&a)>"trail"</a> })}
                                    </p>
                                    <p>{f.why.clone()}</p>
                                    <details class="finding__fix">
                                        <summary>"How to fix"</summary>
                                        <p>"Console: "{f.console.clone()}</p>
                                        <p>"AWS CLI:"</p>
                                        <pre class="json-view__code">{f.cli.clone()}</pre>
                                    </details>
                                    {fix.map(|href| view! { <p><a href=href data-testid="fix-preview">"Preview this fix in Cairn"</a></p> })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

#[component]
pub fn TrailPage() -> impl IntoView {
    let params = use_params_map();
    let arn = Memo::new(move |_| key_from_path(&params.read().get("arn").unwrap_or_default()));
    let data = overview();
    let history = Resource::new(move || arn.get(), get_trail_history);
    let query = leptos_router::hooks::use_query_map();
    let range = Memo::new(move |_| {
        let q = query.read();
        crate::query::EventQuery::from_params(|k| q.get_all(k).unwrap_or_default()).to_query()
    });
    let integrity = Resource::new(move || (arn.get(), range.get()), |(a, q)| get_integrity(a, q));
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading trail…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) => {
                        let arn = arn.get_untracked();
                        let now = o.now_ms;
                        let month = o.month.clone();
                        match o.trails.into_iter().find(|t| t.arn == arn) {
                            Some(t) => view! { <TrailBody t=t now=now month=month/> }.into_any(),
                            None => view! { <NotFound/> }.into_any(),
                        }
                    }
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
        <Transition fallback=|| view! { <p class="loading">"Loading the integrity checks…"</p> }>
            {move || Suspend::new(async move {
                match integrity.await {
                    Ok(v) => view! { <IntegritySection v=v arn=arn.get_untracked()/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
        <crate::pages::trail_change::TrailChange arn=arn/>
        <Transition fallback=|| view! { <p class="loading">"Loading the trail's history…"</p> }>
            {move || Suspend::new(async move {
                match history.await {
                    Ok(h) => view! { <HistorySection h=h/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// What the digest files vouch for, day by day, and every failure with its exact key.
#[component]
fn IntegritySection(v: IntegrityView, arn: String) -> impl IntoView {
    let r = v.report;
    let action = trail_href(&arn);
    let range_text = if v.all {
        "all time".to_owned()
    } else {
        format!("{} to {} UTC", fmt::minute_text(v.from_ms), fmt::minute_text(v.to_ms))
    };
    let form = view! {
        <form method="get" action=action class="inline-form" data-testid="integrity-range">
            <label>"From (UTC) " <input type="text" name="from" value=(!v.all).then(|| fmt::minute_text(v.from_ms)) class="code-input" placeholder="2024-05-01 00:00"/></label>
            " "
            <label>"To (UTC) " <input type="text" name="to" value=(!v.all).then(|| fmt::minute_text(v.to_ms)) class="code-input" placeholder="now"/></label>
            " "
            <button type="submit">"Show"</button>
        </form>
    };
    let summary = if r.days.is_empty() {
        view! {
            <p class="empty" data-testid="integrity-empty">{format!(
                "No digest file of this trail was read over {range_text}. Digest files are checked as a source syncs its bucket, when the trail has log file validation on (they arrive hourly)."
            )}</p>
        }.into_any()
    } else {
        let failed = r.days.iter().filter(|d| d.failed()).count();
        let verdict = if failed == 0 {
            view! { <p class="notice notice--ok" data-testid="integrity-verdict">{format!(
                "Every digest over {range_text} verified: the log files they list are as CloudTrail delivered them."
            )}</p> }.into_any()
        } else {
            view! { <p class="notice notice--error" data-testid="integrity-verdict">{format!(
                "{} of {} days over {range_text} fail: {} problem{} in all, listed below with their keys.",
                failed, r.days.len(), r.problems_total, if r.problems_total == 1 { "" } else { "s" }
            )}</p> }.into_any()
        };
        view! {
            {verdict}
            <div class="table-wrap" tabindex="0" role="region" aria-label="Integrity checks per day">
            <table class="plain-table wide-table wide-table--auto" data-testid="integrity-days">
                <caption class="visually-hidden">"Integrity checks per day (UTC, by the digest's end)"</caption>
                <thead><tr>
                    <th scope="col">"Day"</th>
                    <th scope="col">"Digests valid"</th>
                    <th scope="col">"Files verified"</th>
                    <th scope="col">"Modified"</th>
                    <th scope="col">"Deleted"</th>
                    <th scope="col">"Listed by no digest"</th>
                    <th scope="col">"Digests deleted"</th>
                    <th scope="col">"Digests invalid"</th>
                    <th scope="col">"Chain broken"</th>
                </tr></thead>
                <tbody>
                    {r.days.iter().map(|d| {
                        let bad = |n: i64| if n > 0 { "cell-bad" } else { "" };
                        view! {
                            <tr data-testid="integrity-day" class=if d.failed() { "row-bad" } else { "" }>
                                <th scope="row">{d.day.clone()}</th>
                                <td>{format!("{} of {}", d.digests_valid, d.digests)}</td>
                                <td>{format!("{} of {}", d.verified, d.files)}</td>
                                <td class=bad(d.modified)>{d.modified}</td>
                                <td class=bad(d.missing)>{d.missing}</td>
                                <td class=bad(d.extra)>{d.extra}</td>
                                <td class=bad(d.digests_missing)>{d.digests_missing}</td>
                                <td class=bad(d.digests_invalid)>{d.digests_invalid}</td>
                                <td class=bad(d.chain)>{d.chain}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            </div>
        }.into_any()
    };
    let shown = r.problems.len() as i64;
    let problems = (!r.problems.is_empty()).then(|| view! {
        <h3>"What failed"</h3>
        {(r.problems_total > shown).then(|| view! {
            <p class="muted">{format!("The newest {shown} of {} problems; narrow the range to see the others.", r.problems_total)}</p>
        })}
        <ul class="finding-list">
            {r.problems.into_iter().map(|p| view! {
                <li class="finding" data-testid="integrity-problem" data-kind=p.kind.as_str()>
                    <p class="finding__title">
                        <span class="badge badge--error">{p.kind.label()}</span>" "
                        <code class="cell-wrap">{p.location.clone()}</code>
                    </p>
                    <p>{format!("{} UTC: {}", fmt::time(p.at_ms), p.detail)}</p>
                    {p.digest.map(|d| view! { <p class="muted">"Digest: "<code class="cell-wrap">{d}</code></p> })}
                </li>
            }).collect_view()}
        </ul>
    });
    view! {
        <section class="card" aria-labelledby="trail-integrity" data-testid="trail-integrity">
            <h2 id="trail-integrity">"Integrity of the delivered logs"</h2>
            <p class="muted">
                "Each hourly digest file is checked with CloudTrail's public key (its RSA signature), "
                "each log file it lists against the SHA-256 it records, and each digest against the one "
                "before it. Log files delivered in an hour a digest covers that no digest lists are "
                "reported too. "
                {r.newest_digest_ms.map(|t| format!("Newest digest read: {} UTC.", fmt::time(t)))}
            </p>
            {form}
            {summary}
            {problems}
        </section>
    }
}

/// The inventory's changes, field by field, and the trail's own write events.
#[component]
fn HistorySection(h: crate::trails::History) -> impl IntoView {
    use crate::components::events_table::EventsTable;
    use crate::query::EventQuery;
    let events = h.events.clone();
    view! {
        <section class="card" aria-labelledby="trail-history" data-testid="trail-history">
            <h2 id="trail-history">"History"</h2>
            {if h.changes.is_empty() {
                view! { <p class="muted">"The inventory has seen no change of this trail since it first read it."</p> }.into_any()
            } else {
                view! {
                    <ul class="finding-list">
                        {h.changes.into_iter().map(|c| {
                            let when = format!("Seen {} UTC{}", fmt::time(c.seen_at),
                                c.previous_seen_at.map(|p| format!(" (unchanged at {} UTC)", fmt::time(p))).unwrap_or_default());
                            view! {
                                <li class="finding" data-testid="trail-change">
                                    <p class="finding__title"><strong>{when}</strong>" "
                                        {if c.gone { Some(view! { <span class="badge badge--warn">"gone"</span> }) } else { None }}
                                        {if c.explained {
                                            view! { <span class="muted">"made by an event below"</span> }.into_any()
                                        } else {
                                            view! { <span class="badge badge--warn">"no matching event in the store"</span> }.into_any()
                                        }}
                                    </p>
                                    {(!c.fields.is_empty()).then(|| view! {
                                        <table class="plain-table">
                                            <thead><tr><th scope="col">"Field"</th><th scope="col">"Before"</th><th scope="col">"After"</th></tr></thead>
                                            <tbody>
                                                {c.fields.into_iter().map(|(f, b, a)| view! {
                                                    <tr><td>{f}</td><td class="cell-wrap"><code>{fmt::clip(&b, 400)}</code></td><td class="cell-wrap"><code>{fmt::clip(&a, 400)}</code></td></tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <h3>"Its own events"</h3>
            {if events.is_empty() {
                view! { <p class="muted">"No event in the store changed this trail (CreateTrail, UpdateTrail, PutEventSelectors, StartLogging, StopLogging, …)."</p> }.into_any()
            } else {
                view! {
                    <EventsTable rows=events caption="Calls that changed the trail, newest first" query=EventQuery::default()
                        path="/" links=EventQuery::default() sortable=false/>
                    <p><a href=h.events_href.clone()>"All of them in the timeline"</a></p>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn TrailBody(t: Trail, now: i64, month: String) -> impl IntoView {
    let delivery = t.latest_delivery.map_or_else(
        || "never".to_owned(),
        |d| format!("{} UTC ({} ago)", fmt::time(d), fmt::age(now - d)),
    );
    let digest = t.latest_digest.map_or_else(|| "never".to_owned(), |d| format!("{} UTC", fmt::time(d)));
    let errors: Vec<(&'static str, String)> = [
        ("Delivery", &t.delivery_error),
        ("Digest", &t.digest_error),
        ("Notification", &t.notification_error),
        ("CloudWatch Logs", &t.cloudwatch_error),
    ]
    .into_iter()
    .filter_map(|(k, e)| e.clone().map(|e| (k, e)))
    .collect();
    let timeline = format!(
        "/?range=30d&account={}",
        percent_encoding::utf8_percent_encode(&t.account, percent_encoding::NON_ALPHANUMERIC)
    );
    view! {
        <Title text=fmt::title(&format!("{} (trail)", t.name))/>
        <p class="breadcrumbs"><a href="/trails">"Trails"</a>" / trail"</p>
        <h1 class="page__title">{fmt::clip(&t.name, 120)}</h1>
        {t.gone.then(|| view! { <p class="notice notice--error">"This trail is gone: the inventory no longer finds it in any Region."</p> })}
        <section class="card" aria-labelledby="trail-settings" data-testid="trail-settings">
            <h2 id="trail-settings">"Settings"</h2>
            <dl class="fields">
                <dt>"ARN"</dt><dd class="field__value">{t.arn.clone()}</dd>
                <dt>"Account"</dt><dd class="field__value">{t.account.clone()}</dd>
                <dt>"Home Region"</dt><dd class="field__value">{t.home_region.clone().unwrap_or_default()}</dd>
                <dt>"Records Regions"</dt><dd class="field__value">{t.regions.join(", ")}
                    {if t.multi_region { " (multi-Region)" } else { " (single Region)" }}
                    {if t.organization { ", every account of the organization" } else { "" }}</dd>
                <dt>"Logging"</dt><dd class="field__value" data-testid="trail-logging">{match t.logging { Some(true) => "on", Some(false) => "stopped", None => "not read" }}</dd>
                <dt>"Latest delivery"</dt><dd class="field__value">{delivery}</dd>
                <dt>"Latest digest"</dt><dd class="field__value">{digest}</dd>
                <dt>"Delivers to"</dt><dd class="field__value">{t.location().unwrap_or_default()}</dd>
                <dt>"Log file validation"</dt><dd class="field__value">{yes_no(t.log_file_validation)}</dd>
                <dt>"Global service events"</dt><dd class="field__value">{yes_no(t.global_service_events)}</dd>
                <dt>"KMS key"</dt><dd class="field__value">{or_none(&t.kms_key)}</dd>
                <dt>"CloudWatch Logs"</dt><dd class="field__value">{or_none(&t.cloudwatch_log_group)}</dd>
                <dt>"SNS topic"</dt><dd class="field__value">{or_none(&t.sns_topic)}</dd>
                <dt>"Insights"</dt><dd class="field__value">{if t.insights.is_empty() { "off".to_owned() } else { t.insights.join("; ") }}</dd>
                <dt>"Seen by sources"</dt><dd class="field__value">{t.sources.join(", ")}</dd>
                <dt>"Inventory"</dt><dd class="field__value">{format!("last change seen {} UTC, {} change{} seen, last looked {} UTC",
                    fmt::time(t.changed_at), t.changes, if t.changes == 1 { "" } else { "s" }, fmt::time(t.seen_at))}</dd>
            </dl>
            {(!errors.is_empty()).then(|| view! {
                <ul class="check-list">
                    {errors.into_iter().map(|(k, e)| view! { <li class="check-list__refused">{k}" error: "{e}</li> }).collect_view()}
                </ul>
            })}
        </section>
        <section class="card" aria-labelledby="trail-selectors" data-testid="trail-selectors">
            <h2 id="trail-selectors">"What it records"</h2>
            <ul>
                {t.sentences.iter().map(|s| view! { <li data-testid="selector-sentence">{s.clone()}</li> }).collect_view()}
            </ul>
            <details>
                <summary>"Settings as read (JSON)"</summary>
                <pre class="json-view__code" data-testid="trail-json">{t.config_json.clone()}</pre>
            </details>
        </section>
        <section class="card" aria-labelledby="trail-volume">
            <h2 id="trail-volume">"What it delivered"</h2>
            <dl class="fields">
                <dt>"Events, last 24 hours"</dt><dd class="field__value" data-testid="trail-24h">{fmt::count(t.events_24h)}</dd>
                <dt>"Events, last 30 days"</dt><dd class="field__value" data-testid="trail-30d">{fmt::count(t.events_30d)}</dd>
                <dt>{format!("Cost {month} to date")}</dt><dd class="field__value" data-testid="trail-cost">
                    <a href=format!("/costs?month={month}")>{usd(t.usd_month)}</a></dd>
            </dl>
            <p><a href=timeline>"The account's last 30 days in the timeline"</a></p>
        </section>
        <FindingsList findings=with_fixes(t.findings.clone(), std::slice::from_ref(&t)) heading="Findings"/>
    }
}
