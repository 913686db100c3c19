//! The "Change this trail" part of a trail page (admins): start or stop logging, event
//! selectors (a form for the common cases and a JSON editor), Insights; every change
//! previewed first with its cost, from the URL (`?change=…`), then confirmed by a POST
//! to `/admin/trail-actions/apply`.

use crate::components::error_panel::ErrorPanel;
use crate::fmt::{self, usd};
use crate::pages::trails::trail_href;
use crate::trail_change::{ChangeQuery, Preview};
use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_query_map};

/// What the change part of a trail page shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChangeView {
    pub can_edit: bool,
    pub name: String,
    pub logging: Option<bool>,
    /// The selector form, filled from the URL or from what the trail records.
    pub form: ChangeQuery,
    /// Whether the form says what the trail records (else the JSON editor does).
    pub form_fits: bool,
    /// The preview of what the URL proposes: the figures, or why it cannot be sent.
    pub preview: Option<Result<Preview, String>>,
}

/// The change part of the trail page of `arn`, for `query` (the page's query string).
#[server]
pub async fn get_trail_change(arn: String, query: String) -> Result<Option<ChangeView>, ServerFnError> {
    use crate::selectors::Selectors;
    use crate::trail_change::insights_of;
    let user = crate::auth::require(crate::auth::Role::Viewer)?;
    let can_edit = user.can(crate::auth::Role::Admin);
    let pool = crate::db::pool()?;
    let trails = crate::trails::fold(
        crate::db::trails::latest_everywhere(&pool)
            .await
            .map_err(crate::db::opaque)?,
    );
    let Some(trail) = trails.iter().find(|t| t.arn == arn && !t.gone) else {
        return Ok(None);
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
        .into_owned()
        .collect();
    let q = ChangeQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let config: serde_json::Value = serde_json::from_str(&trail.config_json).unwrap_or_default();
    let current = Selectors::of_config(&config);
    let (mut form, form_fits) = ChangeQuery::prefill(&current, &insights_of(&config));
    if q.change == "selectors" && q.mode != "json" {
        // The admin's own input stays in the form, right or wrong.
        form = ChangeQuery {
            json: form.json,
            call_rate: form.call_rate,
            error_rate: form.error_rate,
            insights_data: form.insights_data,
            ..q.clone()
        };
    } else if q.change == "selectors" {
        form.json = q.json.clone();
        form.mode = "json".into();
    } else if q.change == "insights" {
        form.call_rate = q.call_rate;
        form.error_rate = q.error_rate;
        form.insights_data = q.insights_data;
    }
    let preview = if !can_edit {
        None
    } else if !trail.home_read && !q.change.is_empty() {
        Some(Err("this trail's settings were never read (its home Region is outside every source's Regions, or reading it failed): what it records now is not known, so it is not changed from here".to_owned()))
    } else {
        match q.proposal() {
            Ok(None) => None,
            Err(e) => Some(Err(e.0)),
            Ok(Some(p)) => {
                let now = chrono::Utc::now().timestamp_millis();
                match crate::trail_change::preview(&pool, &trails, trail, &p, now).await {
                    Ok(v) => {
                        tracing::info!(trail = %trail.arn, change = v.change, scanned = v.scanned, took_ms = v.took_ms, "trail change previewed");
                        Some(Ok(v))
                    }
                    Err(e) => return Err(crate::error::WebError::internal("cannot preview the change", e).into()),
                }
            }
        }
    };
    Ok(Some(ChangeView {
        can_edit,
        name: trail.name.clone(),
        logging: trail.logging,
        form,
        form_fits,
        preview,
    }))
}

/// What `done=` and `inventory=` say after a change.
fn done_message(done: &str, inventory: Option<&str>) -> Option<String> {
    let what = match done {
        "start_logging" => "Logging started",
        "stop_logging" => "Logging stopped",
        "event_selectors" => "The event selectors were replaced",
        "insight_selectors" => "The Insights selectors were set",
        _ => return None,
    };
    let then = match inventory {
        Some("taken") => "; the inventory was taken again and the history below shows the change.",
        Some("running") => "; a pass of the source is running, and the next inventory will show the change.",
        _ => "; the inventory could not be taken again (see the source's page), so the history shows the change at the next pass.",
    };
    Some(format!("{what}{then}"))
}

/// The change part of the trail page of `arn`.
#[component]
pub fn TrailChange(arn: Memo<String>) -> impl IntoView {
    let location = use_location();
    let q = use_query_map();
    let search = Memo::new(move |_| location.search.get());
    let data = Resource::new(move || (arn.get(), search.get()), |(a, s)| get_trail_change(a, s));
    let done = move || {
        let q = q.read();
        q.get("done").and_then(|d| done_message(&d, q.get("inventory").as_deref()))
    };
    let error = move || q.read().get("error");
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(v)) if v.can_edit => view! { <ChangeSection v=v arn=arn.get_untracked() done=done() error=error()/> }.into_any(),
                    Ok(Some(_)) if !search.get_untracked().contains("change=") => ().into_any(),
                    Ok(Some(_)) => view! {
                        <section class="card" id="change-trail"><p class="muted">"Trails are changed by admins; this link shows its preview to them."</p></section>
                    }.into_any(),
                    Ok(None) => ().into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ChangeSection(v: ChangeView, arn: String, done: Option<String>, error: Option<String>) -> impl IntoView {
    let here = trail_href(&arn);
    let action = format!("{here}#change-trail");
    let f = v.form.clone();
    let logging_on = v.logging != Some(false);
    let checked = |a: &str, b: &str| a == b || (b == "all" && a.is_empty());
    view! {
        <section class="card" id="change-trail" aria-labelledby="change-trail-h" data-testid="change-trail">
            <h2 id="change-trail-h">"Change this trail"</h2>
            {done.map(|d| view! { <p class="notice" role="status" data-testid="change-done">{d}</p> })}
            {error.map(|e| view! { <p class="notice notice--error" role="alert" data-testid="change-error">{e}</p> })}
            {v.preview.map(|p| match p {
                Ok(p) => view! { <PreviewView p=p arn=arn.clone()/> }.into_any(),
                Err(e) => view! {
                    <p class="notice notice--error" role="alert" data-testid="change-invalid">"This change cannot be sent: "{e}</p>
                }.into_any(),
            })}
            <p class="muted">"Every change is previewed first, with what it costs, then asks to be confirmed. It is made with the credentials of the source that reads the trail, written to the audit log, and followed by a new inventory."</p>
            <h3>"Logging"</h3>
            <form method="get" action=action.clone() class="inline-form" data-testid="logging-form">
                <input type="hidden" name="change" value="logging"/>
                <input type="hidden" name="logging" value=if logging_on { "off" } else { "on" }/>
                <span>{if logging_on { "Logging is on." } else { "Logging is stopped." }}</span>
                <button type="submit" class=if logging_on { "button button--danger" } else { "button button--primary" }>
                    {if logging_on { "Preview stopping logging" } else { "Preview starting logging" }}</button>
            </form>
            <h3>"Event selectors"</h3>
            {(!v.form_fits).then(|| view! { <p class="muted">"What this trail records goes beyond the form: the JSON editor below holds it."</p> })}
            <form method="get" action=action.clone() class="stack-form" data-testid="selectors-form">
                <input type="hidden" name="change" value="selectors"/>
                <input type="hidden" name="mode" value="form"/>
                <fieldset>
                    <legend>"Management events"</legend>
                    {[("all", "Read and write"), ("read", "Read only"), ("write", "Write only"), ("none", "None")].into_iter().map(|(val, label)| view! {
                        <label class="check"><input type="radio" name="management" value=val checked=checked(&f.management, val)/>{label}</label>
                    }).collect_view()}
                    <label class="check"><input type="checkbox" name="exclude_kms" checked=f.exclude_kms/>"Leave out AWS KMS events"</label>
                    <label class="check"><input type="checkbox" name="exclude_rds" checked=f.exclude_rds/>"Leave out Amazon RDS Data API events"</label>
                </fieldset>
                <fieldset>
                    <legend>"Data events"</legend>
                    <label>"S3 buckets: one per line, as bucket or bucket/prefix, or * for every bucket"
                        <textarea name="s3" rows="3" spellcheck="false">{f.s3.clone()}</textarea></label>
                    <label>"Lambda functions: one ARN per line, or * for every function"
                        <textarea name="lambda" rows="2" spellcheck="false">{f.lambda.clone()}</textarea></label>
                    <label>"DynamoDB tables: one ARN per line, or * for every table"
                        <textarea name="dynamodb" rows="2" spellcheck="false">{f.dynamodb.clone()}</textarea></label>
                    {[("all", "Reads and writes"), ("read", "Reads only"), ("write", "Writes only")].into_iter().map(|(val, label)| view! {
                        <label class="check"><input type="radio" name="data_rw" value=val checked=checked(&f.data_rw, val)/>{label}</label>
                    }).collect_view()}
                </fieldset>
                <button type="submit" class="button button--primary">"Preview these selectors"</button>
            </form>
            <details class="change-json" open=!v.form_fits || f.mode == "json">
                <summary>"JSON editor (advanced or basic selectors, as the AWS CLI takes them)"</summary>
                <form method="get" action=action.clone() class="stack-form" data-testid="selectors-json-form">
                    <input type="hidden" name="change" value="selectors"/>
                    <input type="hidden" name="mode" value="json"/>
                    <label>"Selectors"
                        <textarea name="json" rows="12" spellcheck="false" class="code-input">{f.json.clone()}</textarea></label>
                    <button type="submit" class="button button--primary">"Preview this JSON"</button>
                </form>
            </details>
            <h3>"Insights"</h3>
            <form method="get" action=action class="stack-form" data-testid="insights-form">
                <input type="hidden" name="change" value="insights"/>
                <fieldset>
                    <legend>"Insights types"</legend>
                    <label class="check"><input type="checkbox" name="call_rate" checked=f.call_rate/>"API call rate (write management events)"</label>
                    <label class="check"><input type="checkbox" name="error_rate" checked=f.error_rate/>"API error rate (every call)"</label>
                    <label class="check"><input type="checkbox" name="insights_data" checked=f.insights_data/>"On data events as well"</label>
                </fieldset>
                <button type="submit" class="button button--primary">"Preview these Insights"</button>
            </form>
        </section>
    }
}

fn count_delta(before: u64, after: u64) -> String {
    match after.cmp(&before) {
        std::cmp::Ordering::Equal => "no change".into(),
        std::cmp::Ordering::Greater => format!("+{}", fmt::count((after - before) as i64)),
        std::cmp::Ordering::Less => format!("−{}", fmt::count((before - after) as i64)),
    }
}

fn delta(before: f64, after: f64) -> String {
    let d = after - before;
    if d.abs() < 0.005 {
        "no change".into()
    } else if d > 0.0 {
        format!("+{}", usd(d))
    } else {
        format!("−{}", usd(-d))
    }
}

#[component]
fn PreviewView(p: Preview, arn: String) -> impl IntoView {
    // Each kind, Region and type of charge, before and after.
    let mut rows: std::collections::BTreeMap<(String, String, String), (u64, f64, u64, f64)> = Default::default();
    for (l, after) in p.lines_before.iter().map(|l| (l, false)).chain(p.lines_after.iter().map(|l| (l, true))) {
        let label = match (&l.detail, &l.resource_type) {
            (Some(d), _) => format!("{} ({d})", l.kind.label()),
            (None, Some(t)) => format!("{} ({t})", l.kind.label()),
            _ => l.kind.label().to_owned(),
        };
        let e = rows.entry((label, l.region.clone(), l.account.clone())).or_default();
        if after {
            e.2 += l.events;
            e.3 += l.usd;
        } else {
            e.0 += l.events;
            e.1 += l.usd;
        }
    }
    let window = format!("{} to {} UTC", fmt::time(p.from_ms), fmt::time(p.to_ms));
    view! {
        <div class="change-preview" data-testid="change-preview">
            <h3>{format!("Preview: {}", p.title)}</h3>
            <div class="change-compare">
                <div><h4>"Now"</h4><ul>{p.before.iter().map(|s| view! { <li>{s.clone()}</li> }).collect_view()}</ul></div>
                <div><h4>"After"</h4><ul data-testid="preview-after">{p.after.iter().map(|s| view! { <li>{s.clone()}</li> }).collect_view()}</ul></div>
            </div>
            <div class="table-wrap" tabindex="0" role="region" aria-label="Cost before and after">
                <table class="data-table preview-costs" data-testid="preview-costs">
                    <thead><tr><th scope="col">"Per 30 days"</th><th scope="col" class="nowrap">"Now"</th><th scope="col" class="nowrap">"After"</th><th scope="col" class="nowrap">"Change"</th></tr></thead>
                    <tbody>
                        <tr><th scope="row">"Events this trail records"</th><td class="nowrap">{fmt::count(p.before_events as i64)}</td><td class="nowrap">{fmt::count(p.after_events as i64)}</td>
                            <td class="nowrap">{count_delta(p.before_events, p.after_events)}</td></tr>
                        <tr><th scope="row">"This trail's CloudTrail charges"</th><td class="nowrap" data-testid="preview-before-usd">{usd(p.trail_before_usd)}</td>
                            <td class="nowrap" data-testid="preview-after-usd">{usd(p.trail_after_usd)}</td><td class="nowrap">{delta(p.trail_before_usd, p.trail_after_usd)}</td></tr>
                        <tr><th scope="row">"Every trail together"</th><td class="nowrap">{usd(p.all_before_usd)}</td><td class="nowrap">{usd(p.all_after_usd)}</td>
                            <td class="nowrap" data-testid="preview-all-delta">{delta(p.all_before_usd, p.all_after_usd)}</td></tr>
                    </tbody>
                </table>
            </div>
            {(!rows.is_empty()).then(|| view! {
                <details>
                    <summary>"Each charge, before and after"</summary>
                    <div class="table-wrap" tabindex="0" role="region" aria-label="Each charge">
                        <table class="data-table">
                            <thead><tr><th scope="col">"Charge"</th><th scope="col">"Account"</th><th scope="col">"Region"</th><th scope="col">"Events now"</th><th scope="col">"Now"</th><th scope="col">"Events after"</th><th scope="col">"After"</th></tr></thead>
                            <tbody>
                                {rows.into_iter().map(|((label, region, account), (e0, u0, e1, u1))| view! {
                                    <tr><td>{label}</td><td class="nowrap">{account}</td><td class="nowrap">{region}</td><td class="nowrap">{fmt::count(e0 as i64)}</td><td class="nowrap">{usd(u0)}</td><td class="nowrap">{fmt::count(e1 as i64)}</td><td class="nowrap">{usd(u1)}</td></tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                </details>
            })}
            <p class="muted" data-testid="preview-basis">{format!(
                "Evaluated on the {} stored events of the trail's accounts and Regions from {window}, in {} ms. The trail delivered {} events in that time.",
                fmt::count(p.scanned as i64), p.took_ms, fmt::count(p.delivered as i64))}</p>
            {(!p.unseen.is_empty()).then(|| view! {
                <div class="notice notice--warn" role="note" data-testid="preview-unseen">
                    <p>"No stored event matches these selectors, so the estimate cannot include what they would record: no trail Cairn reads recorded those events."</p>
                    <ul>{p.unseen.iter().map(|s| view! { <li>{s.clone()}</li> }).collect_view()}</ul>
                </div>
            })}
            {p.notes.iter().map(|n| view! { <p class="muted">{n.clone()}</p> }).collect_view()}
            <details open=p.change == "selectors">
                <summary>"What will be sent to CloudTrail"</summary>
                <pre class="json-view__code" data-testid="preview-payload">{p.payload_shown.clone()}</pre>
            </details>
            <form method="post" action="/admin/trail-actions/apply" class="stack-form" data-testid="apply-form">
                <input type="hidden" name="trail" value=arn.clone()/>
                <input type="hidden" name="change" value=p.change.clone()/>
                <input type="hidden" name="payload" value=p.payload.clone()/>
                <input type="hidden" name="seen" value=p.changed_at.to_string()/>
                {p.confirm_name.clone().map(|n| view! {
                    <label>{format!("Type the trail's name ({n}) to stop its logging: nothing is recorded while it is stopped")}
                        <input name="confirm" required autocomplete="off" spellcheck="false"/></label>
                })}
                <div class="inline-form">
                    <button type="submit" class=if p.confirm_name.is_some() { "button button--danger" } else { "button button--primary" }>
                        {format!("Apply: {}", p.title)}</button>
                    <a href=format!("{}#change-trail", trail_href(&arn))>"Cancel"</a>
                </div>
            </form>
        </div>
    }
}
