//! The rule tables (`rules`, `rule_versions`, `suppressions`): every read and write.
//! A rule is stored whole as its `RuleDef` JSON; every change adds a version with the
//! definition, who made it and when.

use crate::detect::{RuleDef, builtin};
use sqlx::{FromRow, SqlitePool};

/// A stored rule with its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRule {
    pub def: RuleDef,
    pub version: i64,
    pub enabled: bool,
    pub origin: String,
    pub source: Option<String>,
    pub updated_ms: i64,
    pub updated_by: String,
}

#[derive(FromRow)]
struct RuleDb {
    id: String,
    version: i64,
    def: String,
    enabled: bool,
    origin: String,
    source: Option<String>,
    updated_ms: i64,
    updated_by: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("rule {0}: the stored definition cannot be read: {1}")]
    Corrupt(String, String),
}

impl TryFrom<RuleDb> for StoredRule {
    type Error = RulesError;
    fn try_from(r: RuleDb) -> Result<Self, RulesError> {
        let def: RuleDef =
            serde_json::from_str(&r.def).map_err(|e| RulesError::Corrupt(r.id.clone(), e.to_string()))?;
        Ok(StoredRule {
            def,
            version: r.version,
            enabled: r.enabled,
            origin: r.origin,
            source: r.source,
            updated_ms: r.updated_ms,
            updated_by: r.updated_by,
        })
    }
}

const SELECT: &str = "SELECT id, version, def, enabled, origin, source, updated_ms, updated_by FROM rules";

/// Every rule, by id.
pub async fn list(pool: &SqlitePool) -> Result<Vec<StoredRule>, RulesError> {
    let rows: Vec<RuleDb> = sqlx::query_as(&format!("{SELECT} ORDER BY id")).fetch_all(pool).await?;
    rows.into_iter().map(StoredRule::try_from).collect()
}

pub async fn get(pool: &SqlitePool, id: &str) -> Result<Option<StoredRule>, RulesError> {
    let row: Option<RuleDb> = sqlx::query_as(&format!("{SELECT} WHERE id = ?1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(StoredRule::try_from).transpose()
}

/// The enabled rules.
pub async fn enabled(pool: &SqlitePool) -> Result<Vec<StoredRule>, RulesError> {
    let rows: Vec<RuleDb> = sqlx::query_as(&format!("{SELECT} WHERE enabled = 1 ORDER BY id"))
        .fetch_all(pool)
        .await?;
    rows.into_iter().map(StoredRule::try_from).collect()
}

/// Writes a rule (new or changed) and its version row in one transaction; returns the
/// new version. `change` says what happened (`created`, `edited`, `enabled`, …).
#[allow(clippy::too_many_arguments)]
pub async fn save(
    pool: &SqlitePool,
    def: &RuleDef,
    enabled: bool,
    origin: &str,
    source: Option<&str>,
    actor: &str,
    change: &str,
    now_ms: i64,
) -> Result<i64, RulesError> {
    let json = serde_json::to_string(def).map_err(|e| RulesError::Corrupt(def.id.clone(), e.to_string()))?;
    let mut tx = pool.begin().await?;
    let version: i64 = sqlx::query_scalar(
        "INSERT INTO rules (id, version, def, enabled, origin, source, updated_ms, updated_by)
         VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET version = version + 1, def = excluded.def,
           enabled = excluded.enabled, source = coalesce(excluded.source, source),
           updated_ms = excluded.updated_ms, updated_by = excluded.updated_by
         RETURNING version",
    )
    .bind(&def.id)
    .bind(&json)
    .bind(enabled)
    .bind(origin)
    .bind(source)
    .bind(now_ms)
    .bind(actor)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO rule_versions (rule_id, version, at_ms, actor, change, def, enabled)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .bind(&def.id)
    .bind(version)
    .bind(now_ms)
    .bind(actor)
    .bind(change)
    .bind(&json)
    .bind(enabled)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(version)
}

/// One version of a rule's history.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Version {
    pub version: i64,
    pub at_ms: i64,
    pub actor: String,
    pub change: String,
    pub enabled: bool,
}

/// A rule's history, newest first.
pub async fn versions(pool: &SqlitePool, id: &str) -> Result<Vec<Version>, sqlx::Error> {
    sqlx::query_as(
        "SELECT version, at_ms, actor, change, enabled FROM rule_versions WHERE rule_id = ?1
         ORDER BY version DESC",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}

/// Adds the built-in rules a database does not have yet (enabled), and brings those no
/// person has changed up to this version's definition.
pub async fn ensure_builtins(pool: &SqlitePool, now_ms: i64) -> Result<(), RulesError> {
    let stored: std::collections::HashMap<String, StoredRule> =
        list(pool).await?.into_iter().map(|r| (r.def.id.clone(), r)).collect();
    for def in builtin::all() {
        match stored.get(&def.id) {
            None => {
                save(pool, &def, true, "builtin", None, "cairn", "created", now_ms).await?;
            }
            Some(stored) if stored.updated_by == "cairn" && stored.def != def => {
                save(pool, &def, stored.enabled, "builtin", None, "cairn", "updated with Cairn", now_ms).await?;
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// A suppression in force.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Suppression {
    pub id: i64,
    pub rule_id: String,
    pub field: String,
    pub value: String,
    pub reason: String,
    pub expires_ms: Option<i64>,
    pub created_ms: i64,
    pub created_by: String,
}

/// The suppressions of every rule (or one) that have not expired at `now_ms`.
pub async fn suppressions(
    pool: &SqlitePool,
    rule: Option<&str>,
    now_ms: i64,
) -> Result<Vec<Suppression>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, rule_id, field, value, reason, expires_ms, created_ms, created_by FROM suppressions
         WHERE (?1 IS NULL OR rule_id = ?1) AND (expires_ms IS NULL OR expires_ms > ?2)
         ORDER BY rule_id, created_ms",
    )
    .bind(rule)
    .bind(now_ms)
    .fetch_all(pool)
    .await
}
