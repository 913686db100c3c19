//! `POST /admin/trail-actions/apply`: an admin's change of a trail, sent after its
//! preview (`app::trail_change`): start or stop logging, event selectors, Insights
//! selectors. The proposal is checked again, stopping needs the trail's name typed, the
//! request is written to the audit log (with before and after) before CloudTrail is
//! called, a refusal is written too and names the missing permission, and the source's
//! inventory is taken again at once so that the trail's history shows the change.

use crate::access::{Admin, Signed};
use crate::sync::sources::{self, SourceError};
use crate::sync::web::SourcesState;
use crate::sync::{self, aws};
use app::db::audit::AuditLine;
use app::error::WebError;
use app::selectors::{Field, ReadWrite, Selectors};
use app::trail_change::{Proposal, insights_json, insights_of};
use app::trails::Trail;
use aws_sdk_cloudtrail::Client;
use aws_sdk_cloudtrail::types::{
    AdvancedEventSelector, AdvancedFieldSelector, DataResource, EventSelector, InsightSelector,
    InsightType, ReadWriteType, SourceEventCategory,
};
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Default, Deserialize)]
pub struct ApplyForm {
    #[serde(default)]
    trail: String,
    #[serde(default)]
    change: String,
    #[serde(default)]
    payload: String,
    /// The trail's name, typed, to stop its logging.
    #[serde(default)]
    confirm: String,
    /// When the inventory last saw the trail change, as the preview showed it.
    #[serde(default)]
    seen: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("{0}")]
    Invalid(String),
    #[error("AWS refused: {0}")]
    Refused(String),
}

fn strings(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

fn field(f: &Field) -> Result<AdvancedFieldSelector, ChangeError> {
    AdvancedFieldSelector::builder()
        .field(&f.field)
        .set_equals(strings(&f.equals))
        .set_starts_with(strings(&f.starts_with))
        .set_ends_with(strings(&f.ends_with))
        .set_not_equals(strings(&f.not_equals))
        .set_not_starts_with(strings(&f.not_starts_with))
        .set_not_ends_with(strings(&f.not_ends_with))
        .build()
        .map_err(|e| ChangeError::Invalid(e.to_string()))
}

/// CloudTrail's answer in a line; access refusals name the permission needed.
fn refusal<E, R>(e: &aws_sdk_cloudtrail::error::SdkError<E, R>, permission: &str, arn: &str) -> ChangeError
where
    E: aws_sdk_cloudtrail::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_cloudtrail::error::ProvideErrorMetadata;
    let said = aws::describe(e);
    let denied = e.code().is_some_and(|c| {
        c.contains("AccessDenied") || c.contains("Unauthorized") || c == "NotOrganizationMasterAccountException"
    });
    ChangeError::Refused(if denied {
        format!("the source's credentials need {permission} on {arn} ({said})")
    } else {
        format!("{permission}: {said}")
    })
}

/// Sends `proposal` to CloudTrail in the trail's home Region, with credentials of the
/// trail's own account. Logging is started and stopped by the trail's name, unique in
/// its account and Region (the call takes a name or an ARN; the name is what every
/// implementation of it takes).
async fn send(client: &Client, t: &Trail, proposal: &Proposal) -> Result<(), ChangeError> {
    let arn = t.arn.as_str();
    let permission = proposal.permission();
    match proposal {
        Proposal::Logging(true) => client
            .start_logging()
            .name(&t.name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| refusal(&e, permission, arn)),
        Proposal::Logging(false) => client
            .stop_logging()
            .name(&t.name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| refusal(&e, permission, arn)),
        Proposal::Selectors(Selectors::Advanced(list)) => {
            let mut out = Vec::new();
            for a in list {
                let fields = a.fields.iter().map(field).collect::<Result<Vec<_>, _>>()?;
                out.push(
                    AdvancedEventSelector::builder()
                        .set_name(a.name.clone())
                        .set_field_selectors(Some(fields))
                        .build()
                        .map_err(|e| ChangeError::Invalid(e.to_string()))?,
                );
            }
            client
                .put_event_selectors()
                .trail_name(arn)
                .set_advanced_event_selectors(Some(out))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| refusal(&e, permission, arn))
        }
        Proposal::Selectors(Selectors::Basic(list)) => {
            let out: Vec<EventSelector> = list
                .iter()
                .map(|b| {
                    EventSelector::builder()
                        .read_write_type(match b.read_write {
                            ReadWrite::All => ReadWriteType::All,
                            ReadWrite::ReadOnly => ReadWriteType::ReadOnly,
                            ReadWrite::WriteOnly => ReadWriteType::WriteOnly,
                        })
                        .include_management_events(b.management)
                        .set_exclude_management_event_sources(strings(&b.exclude_sources))
                        .set_data_resources(Some(
                            b.data
                                .iter()
                                .map(|(t, v)| DataResource::builder().r#type(t).set_values(Some(v.clone())).build())
                                .collect(),
                        ))
                        .build()
                })
                .collect();
            client
                .put_event_selectors()
                .trail_name(arn)
                .set_event_selectors(Some(out))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| refusal(&e, permission, arn))
        }
        Proposal::Insights(list) => {
            let out: Vec<InsightSelector> = list
                .iter()
                .map(|(t, c)| {
                    InsightSelector::builder()
                        .insight_type(InsightType::from(t.as_str()))
                        .set_event_categories(
                            (!c.is_empty()).then(|| c.iter().map(|c| SourceEventCategory::from(c.as_str())).collect()),
                        )
                        .build()
                })
                .collect();
            client
                .put_insight_selectors()
                .trail_name(arn)
                .set_insight_selectors(Some(out))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| refusal(&e, permission, arn))
        }
    }
}

/// What the trail is now, in the terms of the change (the audit line's "before").
fn before_of(t: &Trail, proposal: &Proposal) -> String {
    let config: Value = serde_json::from_str(&t.config_json).unwrap_or(Value::Null);
    match proposal {
        Proposal::Logging(_) => match t.logging {
            Some(true) => "on".into(),
            Some(false) => "off".into(),
            None => "unknown".into(),
        },
        Proposal::Selectors(_) => Selectors::of_config(&config).to_aws().to_string(),
        Proposal::Insights(_) => insights_json(&insights_of(&config)).to_string(),
    }
}

fn trail_page(arn: &str) -> String {
    app::pages::trails::trail_href(arn)
}

/// `POST /admin/trail-actions/apply`.
pub async fn apply(
    State(state): State<SourcesState>,
    Signed {
        user: admin,
        client,
        ..
    }: Signed<Admin>,
    Form(f): Form<ApplyForm>,
) -> Result<Response, WebError> {
    let pool = &state.pool;
    let trails = app::trails::fold(
        app::db::trails::latest_everywhere(pool)
            .await
            .map_err(|e| WebError::internal("cannot read the trails", e))?,
    );
    let Some(trail) = trails.into_iter().find(|t| t.arn == f.trail && !t.gone) else {
        return Err(WebError::not_found("no such trail"));
    };
    // A refusal goes back to the same preview, with what was proposed still there.
    let back_to = |p: Option<&Proposal>| match p {
        Some(p) => format!("{}?{}#change-trail", trail_page(&trail.arn), p.query().to_query()),
        None => format!("{}#change-trail", trail_page(&trail.arn)),
    };
    let proposal = Proposal::from_form(&f.change, &f.payload)
        .map_err(|e| WebError::mistake(back_to(None), "error", e.0))?;
    let here = back_to(Some(&proposal));
    let mistake = |m: String| WebError::mistake(here.clone(), "error", m);
    if !trail.home_read {
        return Err(mistake("this trail's settings were never read, so it is not changed from here".into()));
    }
    // The settings previewed are still the settings: a change made meanwhile (by another
    // admin, or outside Cairn and seen by the inventory) asks for a new look.
    if f.seen.trim() != trail.changed_at.to_string() {
        return Err(mistake("the trail changed since this preview was made: look at the preview again".into()));
    }
    if proposal == Proposal::Logging(false) && f.confirm.trim() != trail.name {
        return Err(mistake(format!(
            "to stop logging, type the trail's name ({}) to confirm",
            app::fmt::clip(&trail.name, 80)
        )));
    }
    let Some(secrets) = &state.secrets else {
        return Err(WebError::Unavailable(
            "trails are changed with the source's credentials, which this server cannot open (no secret key)".into(),
        ));
    };
    let Some(home) = trail.home_region.clone() else {
        return Err(mistake("the trail's home Region is not known yet".into()));
    };
    let tuning = sync::check::tuning();
    // A source whose credentials are the trail's own account's: a member account of an
    // organization sees the organization's trail but cannot change it, and a name is
    // looked up in the caller's account.
    let owner = app::trails::account_of(&trail.arn);
    let mut source = None;
    let mut others = Vec::new();
    for name in &trail.sources {
        let s = match sources::load(pool, secrets, name).await {
            Ok(s) => s,
            Err(SourceError::NotFound(_)) => continue,
            Err(e) => return Err(WebError::internal("cannot open a source", e)),
        };
        let config = aws::config(&s, &home, &tuning).await;
        match aws_sdk_sts::Client::new(&config).get_caller_identity().send().await {
            Ok(who) if who.account() == Some(owner.as_str()) => {
                source = Some(s);
                break;
            }
            Ok(who) => others.push(format!("{name} is account {}", who.account().unwrap_or("unknown"))),
            Err(e) => others.push(format!("{name}: sts:GetCallerIdentity {}", aws::describe(&e))),
        }
    }
    let Some(source) = source else {
        return Err(mistake(format!(
            "no source with the credentials of account {owner}, which owns this trail, can change it ({})",
            if others.is_empty() { "no source sees it".to_owned() } else { others.join("; ") }
        )));
    };
    let before = before_of(&trail, &proposal);
    let after = proposal.payload();
    let detail = format!("{before} → {after}");
    let line = AuditLine::new(Some(&admin.name), proposal.action(), &client)
        .target(&trail.arn)
        .detail(&detail);
    // A change nobody can account for is not made.
    crate::access::users::note(pool, &line)
        .await
        .map_err(|e| WebError::internal("a trail change could not be recorded", e))?;
    let cloudtrail = Client::new(&aws::config(&source, &home, &tuning).await);
    if let Err(e) = send(&cloudtrail, &trail, &proposal).await {
        let reason = e.to_string();
        tracing::warn!(trail = %trail.arn, action = proposal.action(), error = %reason, "trail change refused");
        let line = AuditLine::new(Some(&admin.name), "trail.change_refused", &client)
            .target(&trail.arn)
            .detail(&reason);
        if let Err(e) = crate::access::users::note(pool, &line).await {
            tracing::error!(error = %e, "a refused trail change could not be recorded");
        }
        return Err(mistake(reason));
    }
    tracing::info!(trail = %trail.arn, action = proposal.action(), by = %admin.name, "trail changed");
    // The inventory, taken again now, shows the change in the trail's history.
    let inventory = match sync::Running::claim(source.row.id) {
        Some(_running) => match sync::inventory_now(pool, &source).await {
            Ok(r) if r.error.is_none() => "taken",
            Ok(r) => {
                tracing::warn!(source = %source.row.name, error = ?r.error, "inventory after a trail change failed");
                "failed"
            }
            Err(e) => {
                tracing::warn!(source = %source.row.name, error = %e, "inventory after a trail change failed");
                "failed"
            }
        },
        None => "running",
    };
    // Codes, not text: the page says what they mean (a link cannot make it say more).
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("done", proposal.action().trim_start_matches("trail."));
    q.append_pair("inventory", inventory);
    Ok(Redirect::to(&format!("{}?{}#change-trail", trail_page(&trail.arn), q.finish())).into_response())
}
