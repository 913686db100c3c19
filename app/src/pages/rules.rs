//! `/rules` and `/rules/{id}`: the detection rules, each with its definition, a back-test
//! over stored history (the draft being edited travels in the address), its suppressions,
//! its versions and its latest findings. Changes are form posts handled by the server
//! (`server/src/detections/web.rs`).

use crate::components::{empty_state::EmptyState, error_panel::ErrorPanel, events_table::EventsTable};
use crate::detections::{BackTestResult, RuleDraft, RuleRow, RuleView, Severity};
use crate::fmt;
use crate::pages::findings::{FindingsTable, RuleAbout, SeverityBadge};
use crate::query::EventQuery;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

/// Back-tests read at most this span of history.
pub const BACK_TEST_MAX_DAYS: i64 = 400;

#[server]
pub async fn list_rules() -> Result<(Vec<RuleRow>, bool), ServerFnError> {
    use crate::db;
    let user = crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = db::pool()?;
    let rules = db::rules::list(&pool)
        .await
        .map_err(db::opaque_rules)?;
    let counts = db::findings::per_rule(&pool).await.map_err(db::opaque)?;
    let rows = rules
        .into_iter()
        .map(|r| {
            let (open, findings, last) = counts.get(&r.def.id).copied().unwrap_or((0, 0, 0));
            RuleRow {
                language: r.def.language.as_str().into(),
                severity: r.def.severity,
                enabled: r.enabled,
                origin: r.origin.clone(),
                tags: r.def.tags.clone(),
                open,
                findings,
                last_ms: (findings > 0).then_some(last),
                id: r.def.id,
                title: r.def.title,
            }
        })
        .collect();
    Ok((rows, user.can(crate::auth::Role::Analyst)))
}

/// A rule's page (`id` empty: a new rule). With `test` in `query`, back-tests the draft
/// in `query` (or the stored rule) over its `from`/`to`.
#[server]
pub async fn get_rule(id: String, query: String) -> Result<Option<RuleView>, ServerFnError> {
    use crate::db;
    let user = crate::auth::require(crate::auth::Role::Viewer)?;
    let can_edit = user.can(crate::auth::Role::Analyst);
    let pool = db::pool()?;
    let stored = if id.is_empty() { None } else { db::rules::get(&pool, &id).await.map_err(db::opaque_rules)? };
    if !id.is_empty() && stored.is_none() {
        return Ok(None);
    }
    let now = chrono::Utc::now().timestamp_millis();
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let param = |k: &str| params.iter().find(|(key, v)| key == k && !v.trim().is_empty()).map(|(_, v)| v.clone());
    let draft = RuleDraft::from_query(&query);
    let back_test = if param("test").is_some() && can_edit {
        let def = match &draft {
            Some(d) => d.to_def(),
            None => stored.as_ref().map(|s| s.def.clone()).ok_or_else(|| "write the rule first".to_string()),
        };
        Some(match def {
            Err(e) => Err(e),
            Ok(def) => {
                let store = db::events::store_info(&pool).await.map_err(db::opaque)?;
                let newest = store.newest_ms.unwrap_or(now);
                let to_ms = param("to").and_then(|t| crate::query::parse_instant(&t, true)).unwrap_or(newest + 60_000);
                let from_ms = param("from")
                    .and_then(|t| crate::query::parse_instant(&t, false))
                    .unwrap_or(to_ms - 30 * 86_400_000);
                if from_ms >= to_ms {
                    Err("the range ends before it starts".to_string())
                } else if to_ms - from_ms > BACK_TEST_MAX_DAYS * 86_400_000 {
                    Err(format!("a back-test reads at most {BACK_TEST_MAX_DAYS} days; `cairn rules test` reads any range"))
                } else {
                    match use_context::<crate::detections::BackTester>() {
                        Some(t) => (t.0)(def, from_ms, to_ms).await,
                        None => Err("back-tests are not available on this server".into()),
                    }
                }
            }
        })
    } else {
        None
    };
    let (versions, suppressions, findings) = match &stored {
        Some(s) => {
            let versions = db::rules::versions(&pool, &s.def.id).await.map_err(db::opaque)?;
            let suppressions = db::rules::suppressions(&pool, Some(&s.def.id), now).await.map_err(db::opaque)?;
            let findings = db::findings::list(
                &pool,
                &db::findings::FindingFilter { rules: vec![s.def.id.clone()], limit: 10, ..Default::default() },
            )
            .await
            .map_err(db::opaque)?;
            (
                versions
                    .into_iter()
                    .map(|v| crate::detections::VersionLine {
                        version: v.version,
                        at_ms: v.at_ms,
                        actor: v.actor,
                        change: v.change,
                        enabled: v.enabled,
                    })
                    .collect(),
                suppressions
                    .into_iter()
                    .map(|s| crate::detections::SuppressionLine {
                        id: s.id,
                        field: s.field,
                        value: s.value,
                        reason: s.reason,
                        expires_ms: s.expires_ms,
                        created_ms: s.created_ms,
                        created_by: s.created_by,
                    })
                    .collect(),
                findings,
            )
        }
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    Ok(Some(RuleView {
        draft: draft.or_else(|| stored.as_ref().map(|s| s.draft())),
        rule: stored.as_ref().map(|s| s.info()),
        versions,
        suppressions,
        findings,
        can_edit,
        back_test,
    }))
}

const ORIGINS: [(&str, &str); 4] = [("", "All"), ("builtin", "Built in"), ("sigma", "Sigma"), ("user", "Your own")];

#[component]
pub fn RulesPage() -> impl IntoView {
    let qmap = use_query_map();
    let origin = Memo::new(move |_| qmap.read().get("origin").unwrap_or_default());
    let data = Resource::new(|| (), |_| list_rules());
    view! {
        <Title text="Rules"/>
        <h1 class="page__title">"Rules"</h1>
        <p class="muted">"Every enabled rule runs on each event as it is stored, from every source. "
            <a href="/findings">"Findings"</a> " · " <a href="/compliance">"CIS monitoring controls"</a></p>
        <nav class="subnav" aria-label="Origin">
            {move || ORIGINS.iter().map(|(value, label)| {
                let href = if value.is_empty() { "/rules".to_string() } else { format!("/rules?origin={value}") };
                let current = origin.get() == *value;
                view! { <a href=href aria-current=current.then_some("page")>{*label}</a> }
            }).collect_view()}
        </nav>
        <Transition fallback=|| view! { <p class="loading">"Loading rules…"</p> }>
            {move || Suspend::new(async move {
                let origin = origin.get_untracked();
                match data.await {
                    Ok((rows, can_edit)) => {
                        let rows: Vec<RuleRow> = rows.into_iter().filter(|r| origin.is_empty() || r.origin == origin).collect();
                        let enabled = rows.iter().filter(|r| r.enabled).count();
                        view! {
                            {can_edit.then(|| view! { <p><a class="button" href="/rules/new" data-testid="new-rule">"New rule"</a></p> })}
                            <p class="muted" data-testid="rules-count">{format!("{} rules, {enabled} enabled.", rows.len())}</p>
                            {if rows.is_empty() {
                                view! { <EmptyState title="No rules here"><p>"Import Sigma rules with " <code>"cairn rules import PATH"</code> "."</p></EmptyState> }.into_any()
                            } else {
                                view! { <RulesTable rows=rows/> }.into_any()
                            }}
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn RulesTable(rows: Vec<RuleRow>) -> impl IntoView {
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label="Rules">
            <table class="data-table" data-testid="rules">
                <caption class="visually-hidden">"Rules, by id"</caption>
                <thead><tr>
                    <th scope="col">"Rule"</th><th scope="col">"Severity"</th><th scope="col">"State"</th>
                    <th scope="col">"Kind"</th><th scope="col" class="num">"Open"</th>
                    <th scope="col" class="num">"Findings"</th><th scope="col">"Last finding (UTC)"</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|r| {
                        let findings_href = rule_findings_href(&r.id);
                        view! {
                            <tr>
                                <td class="cell-wrap">
                                    <a href=fmt::rule_href(&r.id)>{fmt::clip(&r.title, 200)}</a>
                                    <br/><code class="muted">{r.id.clone()}</code>
                                </td>
                                <td><SeverityBadge severity=r.severity/></td>
                                <td>{if r.enabled {
                                    view! { <span class="badge badge--ok">"Enabled"</span> }.into_any()
                                } else {
                                    view! { <span class="badge">"Disabled"</span> }.into_any()
                                }}</td>
                                <td class="nowrap">{origin_label(&r.origin)} " · " {language_label(&r.language)}</td>
                                <td class="num">{fmt::count(r.open)}</td>
                                <td class="num"><a href=findings_href>{fmt::count(r.findings)}</a></td>
                                <td class="nowrap">{r.last_ms.map(fmt::time).unwrap_or_else(|| "—".into())}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

fn rule_findings_href(rule: &str) -> String {
    crate::detections::FindingsQuery { status: Some("any".into()), rule: Some(rule.into()), ..Default::default() }.href()
}

fn origin_label(origin: &str) -> &'static str {
    match origin {
        "builtin" => "built in",
        "sigma" => "Sigma import",
        _ => "your own",
    }
}

fn language_label(language: &str) -> &'static str {
    match language {
        "sigma" => "Sigma",
        "anomaly" => "anomaly detector",
        _ => "filter pattern",
    }
}

#[component]
pub fn RulePage() -> impl IntoView {
    let params = use_params_map();
    let qmap = use_query_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let query = Memo::new(move |_| {
        let m = qmap.read();
        let mut s = form_urlencoded::Serializer::new(String::new());
        for k in crate::detections::DRAFT_KEYS.iter().chain(["test", "from", "to"].iter()) {
            if let Some(v) = m.get(k) {
                s.append_pair(k, &v);
            }
        }
        s.finish()
    });
    let data = Resource::new(
        move || (id.get(), query.get()),
        |(id, query)| async move {
            let id = if id == "new" { String::new() } else { id };
            get_rule(id, query).await
        },
    );
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading rule…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(v)) => view! { <RuleBody v=v/> }.into_any(),
                    Ok(None) => view! { <crate::pages::not_found::NotFound/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn RuleBody(v: RuleView) -> impl IntoView {
    let qmap = use_query_map();
    let (problem, saved, from, to) = {
        let m = qmap.read_untracked();
        (m.get("problem"), m.get("saved").is_some(), m.get("from").unwrap_or_default(), m.get("to").unwrap_or_default())
    };
    let new = v.rule.is_none();
    let id = v.rule.as_ref().map(|r| r.id.clone()).unwrap_or_default();
    let here = if new { "/rules/new".to_string() } else { fmt::rule_href(&id) };
    let title = v.rule.as_ref().map(|r| r.title.clone()).unwrap_or_else(|| "New rule".into());
    let header = v.rule.clone().map(|r| {
        let enabled = r.enabled;
        let toggle = v.can_edit.then(|| {
            let id = r.id.clone();
            view! {
                <form method="post" action=format!("{}/enable", fmt::rule_href(&id)) class="inline-form" data-testid="rule-toggle">
                    <input type="hidden" name="on" value=if enabled { "0" } else { "1" }/>
                    <button type="submit" class="button">{if enabled { "Disable" } else { "Enable" }}</button>
                </form>
            }
        });
        view! {
            <div class="button-row">
                <p class="event__meta">
                    <SeverityBadge severity=r.severity/> " "
                    {if enabled {
                        view! { <span class="badge badge--ok" data-testid="rule-state">"Enabled"</span> }.into_any()
                    } else {
                        view! { <span class="badge" data-testid="rule-state">"Disabled"</span> }.into_any()
                    }}
                    " · " <code>{r.id.clone()}</code> " · " {origin_label(&r.origin)} " · " {language_label(&r.language)}
                    " · version " {r.version.to_string()} " by " {r.updated_by.clone()} " on " {fmt::time(r.updated_ms)}
                </p>
                {toggle}
            </div>
            <section class="card" aria-labelledby="rule-about">
                <h2 id="rule-about">"What it finds"</h2>
                <RuleAbout rule=r.clone()/>
                <pre class="rule-body" data-testid="rule-body">{r.body.clone()}</pre>
            </section>
        }
    });
    // An anomaly detector judges summaries: it has no body to edit or back-test.
    let anomaly = v.rule.as_ref().is_some_and(|r| r.language == "anomaly");
    let back_test = v.back_test.clone().filter(|_| !anomaly).map(|bt| view! { <BackTestCard result=bt/> });
    let edit = (v.can_edit && !anomaly).then(|| {
        let d = v.draft.clone().unwrap_or_else(|| RuleDraft {
            language: "pattern".into(),
            severity: "medium".into(),
            group_by: "principal".into(),
            window: "1d".into(),
            ..Default::default()
        });
        let open = new || v.back_test.is_some();
        let enabled = v.rule.as_ref().is_some_and(|r| r.enabled);
        view! { <RuleForm d=d new=new enabled=enabled here=here.clone() from=from.clone() to=to.clone() open=open/> }
    });
    let suppressions = (!new).then(|| {
        let id = id.clone();
        let can_edit = v.can_edit;
        let list = v.suppressions.clone();
        view! {
            <section class="card" aria-labelledby="rule-suppressions" data-testid="suppressions">
                <h2 id="rule-suppressions">"Suppressions"</h2>
                <p class="muted">"Matches for these principals, source addresses or resources make no finding until the suppression expires."</p>
                {if list.is_empty() {
                    view! { <p class="muted">"None."</p> }.into_any()
                } else {
                    let id = id.clone();
                    view! {
                        <ul class="history">
                            {list.into_iter().map(|s| {
                                let id = id.clone();
                                view! {
                                    <li>
                                        "Not for " {field_label(&s.field)} " " <code>{s.value.clone()}</code>
                                        " — " {s.reason.clone()}
                                        <span class="muted">" (" {s.created_by.clone()} ", " {fmt::time(s.created_ms)}
                                            {s.expires_ms.map(|e| format!("; until {}", fmt::time(e)))} ")"</span>
                                        {can_edit.then(|| view! {
                                            <form method="post" action=format!("{}/unsuppress", fmt::rule_href(&id)) class="inline-form">
                                                <input type="hidden" name="suppression" value=s.id.to_string()/>
                                                <button type="submit" class="button">"Remove"</button>
                                            </form>
                                        })}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
                {can_edit.then(|| view! {
                    <form method="post" action=format!("{}/suppress", fmt::rule_href(&id)) class="stack-form" data-testid="suppress-form">
                        <fieldset>
                            <legend>"Add a suppression"</legend>
                            <label>"Not for this "
                                <select name="field">
                                    <option value="principal">"principal (its key)"</option>
                                    <option value="source_ip">"source IP"</option>
                                    <option value="resource">"resource (its ARN)"</option>
                                </select>
                            </label>
                            <label>"Value " <input type="text" name="value" required maxlength="2048"/></label>
                            <label>"Reason " <input type="text" name="reason" required maxlength="500"/></label>
                            <label>"Until (UTC, empty: no end) " <input type="date" name="expires"/></label>
                        </fieldset>
                        <button type="submit" class="button">"Suppress"</button>
                    </form>
                })}
            </section>
        }
    });
    let findings = (!new).then(|| {
        let list = v.findings.clone();
        let all = rule_findings_href(&id);
        view! {
            <section aria-labelledby="rule-findings">
                <h2 id="rule-findings">"Latest findings"</h2>
                {if list.is_empty() {
                    view! { <p class="muted">"None yet."</p> }.into_any()
                } else {
                    view! { <FindingsTable findings=list caption="The rule’s latest findings"/> <p><a href=all>"All its findings"</a></p> }.into_any()
                }}
            </section>
        }
    });
    let versions = (!new).then(|| view! {
        <section class="card" aria-labelledby="rule-versions">
            <h2 id="rule-versions">"Versions"</h2>
            <ol class="history" data-testid="rule-versions">
                {v.versions.iter().map(|x| view! {
                    <li>"Version " {x.version.to_string()} " · " <time datetime=fmt::iso(x.at_ms)>{fmt::time(x.at_ms)}</time>
                        " · " {x.actor.clone()} " " {x.change.clone()}
                        {if x.enabled { " (enabled)" } else { " (disabled)" }}</li>
                }).collect_view()}
            </ol>
        </section>
    });
    view! {
        <Title text=fmt::title(&format!("{title} (rule)"))/>
        <p class="breadcrumbs"><a href="/rules">"Rules"</a> " / " {if new { "new".to_string() } else { id.clone() }}</p>
        <h1 class="page__title" data-testid="rule-title">{fmt::clip(&title, 200)}</h1>
        {problem.map(|e| view! { <p class="error-panel" role="alert" data-testid="rule-problem">{e}</p> })}
        {saved.then(|| view! { <p class="notice" role="status">"Saved."</p> })}
        {header.map(|v| v.into_any())}
        {back_test.map(|v| v.into_any())}
        {edit.map(|v| v.into_any())}
        {suppressions.map(|v| v.into_any())}
        {findings.map(|v| v.into_any())}
        {versions.map(|v| v.into_any())}
    }
}

/// How long ago, in the largest whole unit: `3 days`, `5 hours`, `12 minutes`.
fn ago(ms: i64) -> String {
    let (n, unit) = match ms / 60_000 {
        m if m >= 2 * 1440 => (m / 1440, "day"),
        m if m >= 120 => (m / 60, "hour"),
        m => (m.max(1), "minute"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn field_label(field: &str) -> &'static str {
    match field {
        "principal" => "principal",
        "source_ip" => "source IP",
        _ => "resource",
    }
}

#[component]
fn BackTestCard(result: Result<BackTestResult, String>) -> impl IntoView {
    match result {
        Err(e) => view! {
            <section class="notice notice--error" role="alert" data-testid="back-test">
                <strong>"The back-test did not run: "</strong> {e}
            </section>
        }
        .into_any(),
        Ok(r) => {
            let now = r.now_ms;
            let sentence = if r.matches == 0 {
                "It would have matched nothing in this range.".to_string()
            } else {
                format!(
                    "It would have matched {} event{}, {} principal{}, last {} ago, making {} finding{}.",
                    fmt::count(r.matches as i64),
                    if r.matches == 1 { "" } else { "s" },
                    fmt::count(r.principals as i64),
                    if r.principals == 1 { "" } else { "s" },
                    r.last_ms.map(|l| ago((now - l).max(0))).unwrap_or_default(),
                    fmt::count(r.findings as i64),
                    if r.findings == 1 { "" } else { "s" },
                )
            };
            let caption = format!("The first {} matched events", r.events.len());
            let has_events = !r.events.is_empty();
            view! {
                <section class="card" aria-labelledby="back-test" data-testid="back-test">
                    <h2 id="back-test">"Back-test"</h2>
                    <p data-testid="back-test-sentence"><strong>{sentence}</strong></p>
                    <p class="muted">{format!(
                        "{} events read from {} to {} UTC in {:.1} s.",
                        fmt::count(r.scanned as i64), fmt::time(r.from_ms), fmt::time(r.to_ms), r.millis as f64 / 1000.0
                    )}</p>
                    {has_events.then(|| view! {
                        <EventsTable rows=r.events caption=caption query=EventQuery::default() path="/" sortable=false/>
                    })}
                </section>
            }
            .into_any()
        }
    }
}

#[component]
fn RuleForm(d: RuleDraft, new: bool, enabled: bool, here: String, from: String, to: String, open: bool) -> impl IntoView {
    let sev = Severity::parse(&d.severity).unwrap_or(Severity::Medium);
    let sigma = d.language == "sigma";
    view! {
        <details class="card" open=open data-testid="rule-edit">
            <summary>{if new { "Write the rule" } else { "Edit, back-test" }}</summary>
            <form method="post" action="/rule-actions/save" class="stack-form" data-testid="rule-form">
                <input type="hidden" name="mode" value=if new { "create" } else { "edit" }/>
                <fieldset>
                    <legend>"The rule"</legend>
                    {if new {
                        view! { <label>"Id (lower-case letters, digits, . _ -)" <input type="text" name="id" required maxlength="64" pattern="[a-z0-9][a-z0-9._\\-]*" value=d.id.clone()/></label> }.into_any()
                    } else {
                        view! { <input type="hidden" name="id" value=d.id.clone()/> }.into_any()
                    }}
                    <label>"Title " <input type="text" name="title" required maxlength="200" value=d.title.clone()/></label>
                    <label>"Language "
                        <select name="language">
                            <option value="pattern" selected=!sigma>"CloudWatch Logs filter pattern"</option>
                            <option value="sigma" selected=sigma>"Sigma (YAML)"</option>
                        </select>
                    </label>
                    <label>"Severity "
                        <select name="severity">
                            {Severity::ALL.into_iter().map(|s| view! { <option value=s.as_str() selected=s == sev>{s.as_str()}</option> }).collect_view()}
                        </select>
                    </label>
                </fieldset>
                <label>"Body " <textarea name="body" rows="8" required class="code-input" spellcheck="false" prop:value=d.body.clone()>{d.body.clone()}</textarea></label>
                <label>"Why it matters " <textarea name="description" rows="3" maxlength="5000" prop:value=d.description.clone()>{d.description.clone()}</textarea></label>
                <fieldset>
                    <legend>"Findings"</legend>
                    <label>"Tags (MITRE ATT&CK ids…) " <input type="text" name="tags" maxlength="1000" value=d.tags.clone()/></label>
                    <label>"One finding per (principal, account, region, source_ip, access_key or a record path) " <input type="text" name="group_by" maxlength="300" value=d.group_by.clone()/></label>
                    <label>"Threshold: matches needed (empty: every match) " <input type="number" name="threshold" min="1" value=d.threshold.clone()/></label>
                    <label>"Threshold: count distinct values of " <input type="text" name="distinct" maxlength="200" value=d.distinct.clone()/></label>
                    <label>"Window (5m, 1h, 1d) " <input type="text" name="window" maxlength="20" value=d.window.clone()/></label>
                </fieldset>
                <fieldset>
                    <legend>"Back-test over stored events"</legend>
                    <input type="hidden" name="test" value="1"/>
                    <label>"From (UTC; empty: 30 days before the newest event) " <input type="date" name="from" value=from/></label>
                    <label>"To (UTC) " <input type="date" name="to" value=to/></label>
                </fieldset>
                <div class="button-row">
                    <button type="submit" class="button" formmethod="get" formaction=here data-testid="back-test-button">"Back-test"</button>
                    <label class="check"><input type="checkbox" name="enable" value="1" checked=enabled/> " Enabled"</label>
                    <button type="submit" class="button" data-testid="save-rule">"Save"</button>
                </div>
            </form>
        </details>
    }
}
