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
    let mut tx = pool.begin_with(crate::db::BEGIN_WRITE).await?;
    let version = save_in(&mut tx, def, enabled, origin, source, actor, change, now_ms).await?;
    tx.commit().await?;
    Ok(version)
}

/// [`save`] inside a transaction of the caller's (with its audit line, say).
#[allow(clippy::too_many_arguments)]
pub async fn save_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    def: &RuleDef,
    enabled: bool,
    origin: &str,
    source: Option<&str>,
    actor: &str,
    change: &str,
    now_ms: i64,
) -> Result<i64, RulesError> {
    let json = serde_json::to_string(def).map_err(|e| RulesError::Corrupt(def.id.clone(), e.to_string()))?;
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
    .fetch_one(&mut **tx)
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
    .execute(&mut **tx)
    .await?;
    Ok(version)
}

/// A rule read inside a change's transaction.
pub async fn get_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    id: &str,
) -> Result<Option<StoredRule>, RulesError> {
    let row: Option<RuleDb> = sqlx::query_as(&format!("{SELECT} WHERE id = ?1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(StoredRule::try_from).transpose()
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

impl StoredRule {
    /// The rule as pages show it.
    pub fn info(&self) -> crate::detections::RuleInfo {
        use crate::detections::window_words;
        let d = &self.def;
        crate::detections::RuleInfo {
            id: d.id.clone(),
            title: d.title.clone(),
            description: d.description.clone(),
            language: d.language.as_str().into(),
            body: d.body.clone(),
            severity: d.severity,
            tags: d.tags.clone(),
            threshold: d.threshold.as_ref().map(|t| match &t.distinct {
                Some(f) => format!("{} distinct values of {f} within {}", t.count, window_words(t.window_secs)),
                None => format!("{} matches within {}", t.count, window_words(t.window_secs)),
            }),
            group_by: d.group_by.clone(),
            window_secs: d.window_secs,
            author: d.author.clone(),
            references: d.references.clone(),
            license: d.license.clone(),
            enabled: self.enabled,
            origin: self.origin.clone(),
            version: self.version,
            updated_ms: self.updated_ms,
            updated_by: self.updated_by.clone(),
        }
    }

    /// The rule as its edit form starts.
    pub fn draft(&self) -> crate::detections::RuleDraft {
        let t = self.def.threshold.as_ref().map(|t| (t.count, t.distinct.clone(), t.window_secs));
        crate::detections::RuleDraft::of(&self.info(), t)
    }
}

/// Adds a suppression; returns its id.
pub async fn add_suppression(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    s: &Suppression,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO suppressions (rule_id, field, value, reason, expires_ms, created_ms, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
    )
    .bind(&s.rule_id)
    .bind(&s.field)
    .bind(&s.value)
    .bind(&s.reason)
    .bind(s.expires_ms)
    .bind(s.created_ms)
    .bind(&s.created_by)
    .fetch_one(&mut **tx)
    .await
}

/// Removes a suppression of a rule; returns it when there was one.
pub async fn remove_suppression(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    rule: &str,
    id: i64,
) -> Result<Option<Suppression>, sqlx::Error> {
    sqlx::query_as(
        "DELETE FROM suppressions WHERE id = ?1 AND rule_id = ?2
         RETURNING id, rule_id, field, value, reason, expires_ms, created_ms, created_by",
    )
    .bind(id)
    .bind(rule)
    .fetch_optional(&mut **tx)
    .await
}
