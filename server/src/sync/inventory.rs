//! The trail inventory: every trail each Region of a source sees (shadow trails of
//! multi-Region and organization trails included), with its logging status, event
//! selectors, Insights selectors and tags, kept as snapshots with history.
//!
//! A snapshot's `config` is what a person sets or breaks: the trail's settings,
//! whether it logs, its selectors, tags and delivery errors. A new row is written only
//! when that changes (or the trail disappears), so a stopped trail or a narrowed selector
//! shows as a change; `status` (latest delivery times) and `seen_at` are updated in place.

use super::{Options, PassReport, Problem, SyncError};
use crate::sync::aws;
use crate::sync::sources::Source;
use app::db::trails;
use aws_sdk_cloudtrail::Client;
use aws_sdk_cloudtrail::primitives::DateTime;
use serde_json::{Map, Value, json};
use sqlx::SqlitePool;
use std::collections::BTreeMap;

/// How often a source's trails are looked at (`cairn sync --once` always looks).
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Whether the inventory of `source` is due: never taken, or taken `every` ago.
pub async fn due(
    pool: &SqlitePool,
    source_id: i64,
    every: std::time::Duration,
) -> Result<bool, sqlx::Error> {
    let last = app::db::sources::last_started(pool, source_id, "inventory").await?;
    let now = chrono::Utc::now().timestamp_millis();
    Ok(last.is_none_or(|t| now - t >= every.as_millis() as i64))
}

/// One trail as seen from one Region.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub arn: String,
    pub home_region: Option<String>,
    pub config: Value,
    pub status: Value,
}

fn time(t: Option<&DateTime>) -> Value {
    t.and_then(|t| t.to_millis().ok())
        .map_or(Value::Null, Value::from)
}

fn text(s: Option<&str>) -> Value {
    s.filter(|s| !s.is_empty()).map_or(Value::Null, Value::from)
}

/// One pass: every Region's trails, each Region in its own transaction.
pub async fn pass(
    pool: &SqlitePool,
    source: &Source,
    opts: &Options,
) -> Result<PassReport, SyncError> {
    let mut report = PassReport::default();
    let regions = super::lookup::regions(pool, source, &opts.tuning).await?;
    let mut refused = 0;
    for region in &regions {
        let client = Client::new(&aws::config(source, region, &opts.tuning).await);
        match region_trails(&client, region, &regions, &mut report.problems).await {
            Ok(seen) => {
                report.folders += 1;
                report.found += seen.len() as u64;
                report.files += store(pool, source.row.id, region, &seen).await?;
            }
            Err(e) => {
                refused += 1;
                report.problems.push(Problem {
                    what: format!("cloudtrail:DescribeTrails in {region}"),
                    error: e,
                });
            }
        }
    }
    // What AWS billed for CloudTrail, beside the estimate (optional, never a failure).
    crate::trails::billing::refresh(pool, source, &opts.tuning).await?;
    if refused == regions.len() && refused > 0 {
        report.error = report
            .problems
            .pop()
            .map(|p| format!("{}: {}", p.what, p.error));
    }
    Ok(report)
}

/// The trails `region` sees, each read in full. A trail one of whose calls fails is left
/// out (and its last snapshot kept), so a refused call is never taken for a change.
///
/// A shadow of a trail whose home Region is also read is recorded from DescribeTrails
/// alone (it shows the trail covers this Region); its status, selectors and tags are
/// those of the home Region's snapshot.
async fn region_trails(
    client: &Client,
    region: &str,
    regions: &[String],
    problems: &mut Vec<Problem>,
) -> Result<Vec<Seen>, String> {
    let trails = client
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await
        .map_err(|e| aws::describe(&e))?;
    let mut out = Vec::new();
    for t in trails.trail_list() {
        let Some(arn) = t.trail_arn().map(str::to_owned) else {
            continue;
        };
        let shadow = t
            .home_region()
            .is_some_and(|h| h != region && regions.iter().any(|r| r == h));
        if shadow {
            out.push(Seen {
                arn,
                home_region: t.home_region().map(str::to_owned),
                config: json!({
                    "name": t.name(),
                    "home_region": t.home_region(),
                    "shadow": true,
                    "multi_region": t.is_multi_region_trail(),
                    "organization": t.is_organization_trail(),
                    "bucket": t.s3_bucket_name(),
                }),
                status: Value::Null,
            });
            continue;
        }
        match trail(client, region, t, &arn).await {
            Ok(seen) => out.push(seen),
            Err((call, e)) => problems.push(Problem {
                what: format!("{call} {arn} in {region}"),
                error: e,
            }),
        }
    }
    Ok(out)
}

async fn trail(
    client: &Client,
    region: &str,
    t: &aws_sdk_cloudtrail::types::Trail,
    arn: &str,
) -> Result<Seen, (&'static str, String)> {
    let status = client
        .get_trail_status()
        .name(arn)
        .send()
        .await
        .map_err(|e| ("cloudtrail:GetTrailStatus", aws::describe(&e)))?;
    let selectors = client
        .get_event_selectors()
        .trail_name(arn)
        .send()
        .await
        .map_err(|e| ("cloudtrail:GetEventSelectors", aws::describe(&e)))?;
    let insights: Vec<Value> = match client.get_insight_selectors().trail_name(arn).send().await {
        Ok(i) => i
            .insight_selectors()
            .iter()
            .map(|s| {
                json!({
                    "type": s.insight_type().map(|t| t.as_str()),
                    "categories": s.event_categories().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
                })
            })
            .collect(),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_insight_not_enabled_exception()) => {
            Vec::new()
        }
        Err(e) => return Err(("cloudtrail:GetInsightSelectors", aws::describe(&e))),
    };
    let home = t.home_region().map(str::to_owned);
    // Tags are read where the trail lives; its shadows elsewhere show none.
    let tags = if home.as_deref() == Some(region) {
        let listed = client
            .list_tags()
            .resource_id_list(arn)
            .send()
            .await
            .map_err(|e| ("cloudtrail:ListTags", aws::describe(&e)))?;
        let mut tags = BTreeMap::new();
        for r in listed.resource_tag_list() {
            for tag in r.tags_list() {
                tags.insert(tag.key().to_owned(), tag.value().unwrap_or("").to_owned());
            }
        }
        Value::Object(
            tags.into_iter()
                .map(|(k, v)| (k, Value::from(v)))
                .collect::<Map<_, _>>(),
        )
    } else {
        Value::Null
    };
    // Aggregation of data events (GetEventConfiguration), read where the trail lives. The
    // call is newer than the others: where it is refused or unknown, the trail is read
    // without it rather than left out.
    let aggregation: Vec<Value> = if home.as_deref() == Some(region) {
        // Optional: one quick retry, not a pass's backoff, where it fails.
        let quick = aws_sdk_cloudtrail::config::Builder::default().retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(std::time::Duration::from_millis(100)),
        );
        match client
            .get_event_configuration()
            .trail_name(arn)
            .customize()
            .config_override(quick)
            .send()
            .await
        {
            Ok(c) => c
                .aggregation_configurations()
                .iter()
                .map(|a| {
                    json!({
                        "category": a.event_category().as_str(),
                        "templates": a.templates().iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                    })
                })
                .collect(),
            Err(e) => {
                tracing::debug!(trail = arn, error = %aws::describe(&e), "event configuration not read");
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let basic: Vec<Value> = selectors
        .event_selectors()
        .iter()
        .map(|s| {
            json!({
                "read_write": s.read_write_type().map(|r| r.as_str()),
                "management_events": s.include_management_events(),
                "exclude_management_sources": s.exclude_management_event_sources(),
                "data_resources": s.data_resources().iter().map(|d| json!({
                    "type": d.r#type(),
                    "values": d.values(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let advanced: Vec<Value> = selectors
        .advanced_event_selectors()
        .iter()
        .map(|s| {
            json!({
                "name": s.name(),
                "fields": s.field_selectors().iter().map(|f| {
                    let mut m = Map::new();
                    m.insert("field".into(), Value::from(f.field()));
                    for (k, v) in [
                        ("equals", f.equals()),
                        ("starts_with", f.starts_with()),
                        ("ends_with", f.ends_with()),
                        ("not_equals", f.not_equals()),
                        ("not_starts_with", f.not_starts_with()),
                        ("not_ends_with", f.not_ends_with()),
                    ] {
                        if !v.is_empty() {
                            m.insert(k.into(), json!(v));
                        }
                    }
                    Value::Object(m)
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let config = json!({
        "name": t.name(),
        "home_region": home,
        "bucket": t.s3_bucket_name(),
        "key_prefix": text(t.s3_key_prefix()),
        "sns_topic": text(t.sns_topic_arn()),
        "multi_region": t.is_multi_region_trail(),
        "organization": t.is_organization_trail(),
        "global_service_events": t.include_global_service_events(),
        "log_file_validation": t.log_file_validation_enabled(),
        "kms_key": text(t.kms_key_id()),
        "cloudwatch_log_group": text(t.cloud_watch_logs_log_group_arn()),
        "cloudwatch_role": text(t.cloud_watch_logs_role_arn()),
        "logging": status.is_logging(),
        "event_selectors": basic,
        "advanced_event_selectors": advanced,
        "insight_selectors": insights,
        "tags": tags,
        "delivery_error": text(status.latest_delivery_error()),
        "notification_error": text(status.latest_notification_error()),
        "digest_error": text(status.latest_digest_delivery_error()),
        "cloudwatch_error": text(status.latest_cloud_watch_logs_delivery_error()),
    });
    let mut config = config;
    if !aggregation.is_empty() {
        // Only when set, so trails without it keep the settings they had.
        config["aggregation"] = Value::Array(aggregation);
    }
    let status = json!({
        "latest_delivery": time(status.latest_delivery_time()),
        "latest_digest_delivery": time(status.latest_digest_delivery_time()),
        "latest_notification": time(status.latest_notification_time()),
        "latest_cloudwatch_delivery": time(status.latest_cloud_watch_logs_delivery_time()),
        "start_logging": time(status.start_logging_time()),
        "stop_logging": time(status.stop_logging_time()),
    });
    Ok(Seen {
        arn: arn.to_owned(),
        home_region: home,
        config,
        status,
    })
}

/// Stores what `region` showed; returns the snapshots written (changes and trails gone).
async fn store(
    pool: &SqlitePool,
    source_id: i64,
    region: &str,
    seen: &[Seen],
) -> Result<u64, sqlx::Error> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    // The latest snapshot of every trail this Region has shown.
    let latest = trails::latest_in_region(&mut tx, source_id, region).await?;
    let latest: BTreeMap<String, (i64, String, bool)> = latest
        .into_iter()
        .map(|(id, arn, config, gone)| (arn, (id, config, gone)))
        .collect();
    let mut written = 0;
    for s in seen {
        let config = s.config.to_string();
        let status = s.status.to_string();
        match latest.get(&s.arn) {
            Some((id, old, false)) if *old == config => {
                trails::write_seen(&mut tx, *id, now, &status).await?;
            }
            _ => {
                insert(&mut tx, source_id, region, s, &config, &status, false, now).await?;
                written += 1;
            }
        }
    }
    for (arn, (_, config, gone)) in &latest {
        if *gone || seen.iter().any(|s| &s.arn == arn) {
            continue;
        }
        let last: Value = serde_json::from_str(config).unwrap_or(Value::Null);
        let home = last
            .get("home_region")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let s = Seen {
            arn: arn.clone(),
            home_region: home,
            config: last,
            status: Value::Null,
        };
        insert(&mut tx, source_id, region, &s, config, "null", true, now).await?;
        written += 1;
    }
    tx.commit().await?;
    Ok(written)
}

#[allow(clippy::too_many_arguments)]
async fn insert(
    tx: &mut sqlx::SqliteConnection,
    source_id: i64,
    region: &str,
    s: &Seen,
    config: &str,
    status: &str,
    gone: bool,
    now: i64,
) -> Result<(), sqlx::Error> {
    let snapshot = trails::Snapshot {
        source_id,
        region,
        arn: &s.arn,
        home_region: s.home_region.as_deref(),
        config,
        status,
        gone,
        at: now,
    };
    trails::insert(tx, &snapshot).await
}
