//! The finding tables (`findings`, `finding_events`, `finding_history`) as pages and the
//! command line read and change them. Findings are made by the importer's writer, in the
//! transaction that stores their events (`server/src/detections/record.rs`).

use crate::detections::{Finding, Severity, Status};
use sqlx::{FromRow, SqlitePool};

#[derive(FromRow)]
struct FindingDb {
    id: i64,
    rule_id: String,
    rule_title: Option<String>,
    rule_author: Option<String>,
    severity: String,
    status: String,
    assignee: Option<String>,
    group_key: String,
    principal: Option<String>,
    principal_key: Option<String>,
    account: Option<String>,
    region: Option<String>,
    first_ms: i64,
    last_ms: i64,
    events: i64,
    created_ms: i64,
    updated_ms: i64,
}

impl From<FindingDb> for Finding {
    fn from(r: FindingDb) -> Self {
        Finding {
            id: r.id,
            rule_title: r.rule_title.unwrap_or_else(|| r.rule_id.clone()),
            rule: r.rule_id,
            rule_author: r.rule_author,
            severity: Severity::parse(&r.severity).unwrap_or(Severity::Medium),
            status: Status::parse(&r.status).unwrap_or(Status::Open),
            assignee: r.assignee,
            group: r.group_key.replace('\u{1f}', ", "),
            principal: r.principal,
            principal_key: r.principal_key,
            account: r.account,
            region: r.region,
            first_ms: r.first_ms,
            last_ms: r.last_ms,
            events: r.events,
            created_ms: r.created_ms,
            updated_ms: r.updated_ms,
        }
    }
}

const SELECT: &str = "SELECT f.id, f.rule_id, json_extract(r.def, '$.title') AS rule_title,
        json_extract(r.def, '$.author') AS rule_author, f.severity, f.status, f.assignee, f.group_key,
        p.display_name AS principal, p.key AS principal_key, f.account, f.region, f.first_ms, f.last_ms,
        f.events, f.created_ms, f.updated_ms
     FROM findings f LEFT JOIN rules r ON r.id = f.rule_id LEFT JOIN principals p ON p.id = f.principal_id";

/// Which findings a list shows.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    /// Findings with events at or after this time (ms).
    pub from_ms: Option<i64>,
    /// … and before this one.
    pub to_ms: Option<i64>,
    pub rules: Vec<String>,
    pub statuses: Vec<Status>,
    pub severities: Vec<Severity>,
    pub limit: i64,
}

fn json_list<T: serde::Serialize>(v: &[T]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// Findings whose events overlap the range, newest activity first.
pub async fn list(pool: &SqlitePool, f: &FindingFilter) -> Result<Vec<Finding>, sqlx::Error> {
    let statuses: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
    let severities: Vec<&str> = f.severities.iter().map(|s| s.as_str()).collect();
    let rows: Vec<FindingDb> = sqlx::query_as(&format!(
        "{SELECT}
         WHERE (?1 IS NULL OR f.last_ms >= ?1) AND (?2 IS NULL OR f.first_ms < ?2)
           AND (?3 = '[]' OR f.rule_id IN (SELECT value FROM json_each(?3)))
           AND (?4 = '[]' OR f.status IN (SELECT value FROM json_each(?4)))
           AND (?5 = '[]' OR f.severity IN (SELECT value FROM json_each(?5)))
         ORDER BY f.last_ms DESC, f.id DESC LIMIT ?6"
    ))
    .bind(f.from_ms)
    .bind(f.to_ms)
    .bind(json_list(&f.rules))
    .bind(json_list(&statuses))
    .bind(json_list(&severities))
    .bind(if f.limit > 0 { f.limit } else { 1000 })
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Finding::from).collect())
}

pub async fn get(pool: &SqlitePool, id: i64) -> Result<Option<Finding>, sqlx::Error> {
    let row: Option<FindingDb> = sqlx::query_as(&format!("{SELECT} WHERE f.id = ?1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Finding::from))
}

/// The stored ids of a finding's events, oldest first (at most `limit`).
pub async fn event_ids(pool: &SqlitePool, finding: i64, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT event_id FROM finding_events WHERE finding_id = ?1 ORDER BY event_id LIMIT ?2")
        .bind(finding)
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// The CloudTrail `eventID`s of a finding's events, oldest first, read from the records.
pub async fn cloudtrail_ids(pool: &SqlitePool, finding: i64, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    let ids = event_ids(pool, finding, limit).await?;
    let records = super::events::records(pool, &ids).await?;
    Ok(records
        .into_iter()
        .filter_map(|(_, r)| r.ok())
        .filter_map(|r| r.get("eventID").and_then(|v| v.as_str()).map(str::to_owned))
        .collect())
}

/// Open findings (not yet acknowledged), for the top bar.
pub async fn open_count(pool: &SqlitePool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM findings WHERE status = 'open'")
        .fetch_one(pool)
        .await
}
