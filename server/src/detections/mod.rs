//! Detections: the rules run on every event the importer stores (every feed goes through
//! it) and over history on demand, and the findings their matches make. The engine and
//! the built-in rules are in `app::detect`; the rules' and findings' SQL in
//! `app::db::rules` and `app::db::findings`; findings are written by `record`, inside
//! the importer's transaction.

pub mod cli;
pub mod history;
pub mod record;
pub mod web;

use app::db::rules::RulesError;
use app::detect::RuleSet;
use record::{Detection, Suppression};
use sqlx::SqlitePool;
use std::sync::Arc;

/// The enabled rules, compiled, with their suppressions in force. A stored rule that no
/// longer compiles is logged and left out.
pub async fn load(pool: &SqlitePool) -> Result<Detection, RulesError> {
    let now = chrono::Utc::now().timestamp_millis();
    let stored = app::db::rules::enabled(pool).await?;
    let versions: std::collections::HashMap<String, i64> =
        stored.iter().map(|s| (s.def.id.clone(), s.version)).collect();
    let anomalies = stored
        .iter()
        .filter(|s| s.def.language == app::detect::Language::Anomaly && s.def.compile().is_ok())
        .map(|s| record::AnomalyRule {
            id: s.def.id.clone(),
            detector: s.def.body.trim().to_owned(),
            version: s.version,
            severity: s.def.severity,
        })
        .collect();
    let (rules, broken) = RuleSet::new(stored.into_iter().map(|s| s.def).collect());
    for (id, error) in broken {
        tracing::warn!(rule = %id, %error, "an enabled rule does not compile and is not run");
    }
    let versions = rules
        .rules
        .iter()
        .map(|r| versions.get(&r.def.id).copied().unwrap_or(1))
        .collect();
    let suppressions = app::db::rules::suppressions(pool, None, now)
        .await?
        .into_iter()
        .map(|s| Suppression {
            rule: s.rule_id,
            field: s.field,
            value: s.value,
        })
        .collect();
    Ok(Detection {
        rules: Arc::new(rules),
        versions,
        suppressions,
        alerts: true,
        anomalies,
    })
}

#[cfg(test)]
mod proptests;
