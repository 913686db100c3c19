//! The finding tables (`findings`, `finding_events`, `finding_history`) as pages and the
//! command line read and change them. Findings are made by the importer's writer, in the
//! transaction that stores their events (`server/src/detections/record.rs`).

use crate::detections::{ControlRow, Finding, HistoryLine, Severity, Status};
use sqlx::{FromRow, Sqlite, SqlitePool, Transaction};
use std::collections::HashMap;

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
    summary: Option<String>,
    episode: Option<String>,
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
            summary: r.summary,
            insight: r.episode.as_deref().and_then(|d| serde_json::from_str(d).ok()),
        }
    }
}

const SELECT: &str = "SELECT f.id, f.rule_id, json_extract(r.def, '$.title') AS rule_title,
        json_extract(r.def, '$.author') AS rule_author, f.severity, f.status, f.assignee, f.group_key,
        p.display_name AS principal, p.key AS principal_key, f.account, f.region, f.first_ms, f.last_ms,
        f.events, f.created_ms, f.updated_ms, json_extract(f.detail, '$.summary') AS summary,
        CASE WHEN json_extract(f.detail, '$.insight_type') IS NOT NULL THEN f.detail END AS episode
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
    /// Only this principal's (by key).
    pub principal: Option<String>,
    /// Only findings with an event on this resource (by ARN).
    pub resource: Option<String>,
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
           AND (?7 IS NULL OR f.principal_id = (SELECT id FROM principals WHERE key = ?7))
           AND (?8 IS NULL OR EXISTS (SELECT 1 FROM finding_events fe
                 JOIN event_resources er ON er.event_id = fe.event_id
                   AND er.resource_id = (SELECT id FROM resources WHERE arn = ?8)
                 WHERE fe.finding_id = f.id))
         ORDER BY f.last_ms DESC, f.id DESC LIMIT ?6"
    ))
    .bind(f.from_ms)
    .bind(f.to_ms)
    .bind(json_list(&f.rules))
    .bind(json_list(&statuses))
    .bind(json_list(&severities))
    .bind(if f.limit > 0 { f.limit } else { 1000 })
    .bind(f.principal.as_deref())
    .bind(f.resource.as_deref())
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

/// A finding's history, oldest first.
pub async fn history(pool: &SqlitePool, finding: i64) -> Result<Vec<HistoryLine>, sqlx::Error> {
    let rows: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT at_ms, actor, change, note FROM finding_history WHERE finding_id = ?1 ORDER BY at_ms, id",
    )
    .bind(finding)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at_ms, actor, change, note)| HistoryLine { at_ms, actor, change, note })
        .collect())
}

/// A finding's status and assignee, read inside a change's transaction.
pub async fn read_state(
    tx: &mut Transaction<'_, Sqlite>,
    id: i64,
) -> Result<Option<(Status, Option<String>)>, sqlx::Error> {
    let row: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT status, assignee FROM findings WHERE id = ?1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.map(|(s, a)| (Status::parse(&s).unwrap_or(Status::Open), a)))
}

pub async fn write_state(
    tx: &mut Transaction<'_, Sqlite>,
    id: i64,
    status: Status,
    assignee: Option<&str>,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE findings SET status = ?2, assignee = ?3, updated_ms = ?4 WHERE id = ?1")
        .bind(id)
        .bind(status.as_str())
        .bind(assignee)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn write_history(
    tx: &mut Transaction<'_, Sqlite>,
    id: i64,
    now_ms: i64,
    actor: &str,
    change: &str,
    note: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO finding_history (finding_id, at_ms, actor, change, note) VALUES (?1, ?2, ?3, ?4, ?5)")
        .bind(id)
        .bind(now_ms)
        .bind(actor)
        .bind(change)
        .bind(note)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Per rule: open findings, all findings and the latest event in one.
pub async fn per_rule(pool: &SqlitePool) -> Result<HashMap<String, (i64, i64, i64)>, sqlx::Error> {
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT rule_id, sum(status = 'open'), count(*), max(last_ms) FROM findings GROUP BY rule_id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(r, o, n, l)| (r, (o, n, l))).collect())
}

/// The finding of `rule` and grouping key that holds an event, with its status.
pub async fn holding(
    pool: &SqlitePool,
    rule: &str,
    group_key: &str,
    event_id: i64,
) -> Result<Option<(i64, Status)>, sqlx::Error> {
    let row: Option<(i64, String)> = sqlx::query_as(
        "SELECT f.id, f.status FROM findings f
         JOIN finding_events fe ON fe.finding_id = f.id AND fe.event_id = ?3
         WHERE f.rule_id = ?1 AND f.group_key = ?2",
    )
    .bind(rule)
    .bind(group_key)
    .bind(event_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, s)| (id, Status::parse(&s).unwrap_or(Status::Open))))
}

/// The CIS monitoring controls (`cis-4.*`) over a range: findings, open findings,
/// events and the latest event, per control.
pub async fn controls(pool: &SqlitePool, from_ms: i64, to_ms: i64) -> Result<Vec<ControlRow>, sqlx::Error> {
    let rows: Vec<(String, Option<String>, bool, i64, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT r.id, json_extract(r.def, '$.title'), r.enabled,
                count(f.id), coalesce(sum(f.status = 'open'), 0), coalesce(sum(f.events), 0), max(f.last_ms)
         FROM rules r LEFT JOIN findings f ON f.rule_id = r.id AND f.last_ms >= ?1 AND f.first_ms < ?2
         WHERE r.id LIKE 'cis-4.%' GROUP BY r.id",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(pool)
    .await?;
    let mut out: Vec<ControlRow> = rows
        .into_iter()
        .map(|(rule, title, enabled, findings, open, events, last_ms)| ControlRow {
            title: title.unwrap_or_else(|| rule.clone()),
            rule,
            enabled,
            findings,
            open,
            events,
            last_ms,
        })
        .collect();
    // cis-4.2 before cis-4.10.
    out.sort_by_key(|c| c.rule.trim_start_matches("cis-4.").parse::<u32>().unwrap_or(u32::MAX));
    Ok(out)
}

/// An event's principal key, account and Region, as the rules saw them when it was
/// stored.
pub async fn event_context(
    pool: &SqlitePool,
    event_id: i64,
) -> Result<Option<(String, String, Option<String>)>, sqlx::Error> {
    let row: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT p.key, a.value, r.value FROM events e JOIN principals p ON p.id = e.principal_id
         LEFT JOIN terms a ON a.id = e.account_id LEFT JOIN terms r ON r.id = e.region_id
         WHERE e.id = ?1",
    )
    .bind(event_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(p, a, r)| (p, a.unwrap_or_default(), r)))
}

/// Findings whose first event is in `[from_ms, to_ms)`, worst first (at most `limit`),
/// for the timeline's chart; Insights episodes are drawn as bands instead.
pub async fn markers(
    pool: &SqlitePool,
    from_ms: i64,
    to_ms: i64,
    limit: i64,
) -> Result<Vec<crate::detections::FindingMarker>, sqlx::Error> {
    let rows: Vec<FindingDb> = sqlx::query_as(&format!(
        "{SELECT} WHERE f.first_ms >= ?1 AND f.first_ms < ?2 AND f.last_ms >= ?1
           AND f.rule_id NOT IN (?4, ?5, ?6)
         ORDER BY CASE f.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2
           WHEN 'low' THEN 3 ELSE 4 END, f.first_ms LIMIT ?3"
    ))
    .bind(from_ms)
    .bind(to_ms)
    .bind(limit)
    .bind(crate::insights::RULES[0])
    .bind(crate::insights::RULES[1])
    .bind(crate::insights::RULES[2])
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(Finding::from)
        .map(|f| crate::detections::FindingMarker {
            id: f.id,
            time_ms: f.first_ms,
            severity: f.severity,
            title: f.rule_title,
        })
        .collect())
}

/// Insights episodes (Cairn's and AWS's) that overlap `[from_ms, to_ms)`, worst first
/// (at most `limit`), for the timeline's chart.
pub async fn episodes(
    pool: &SqlitePool,
    from_ms: i64,
    to_ms: i64,
    limit: i64,
) -> Result<Vec<crate::insights::Band>, sqlx::Error> {
    let [a, b, c] = crate::insights::RULES;
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, severity, detail FROM findings
         WHERE rule_id IN (?1, ?2, ?3) AND detail IS NOT NULL
           AND json_extract(detail, '$.start_ms') < ?5
           AND coalesce(json_extract(detail, '$.end_ms'), json_extract(detail, '$.start_ms') + 60000) > ?4
         ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2
           WHEN 'low' THEN 3 ELSE 4 END, json_extract(detail, '$.start_ms') LIMIT ?6",
    )
    .bind(a)
    .bind(b)
    .bind(c)
    .bind(from_ms)
    .bind(to_ms)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, severity, detail)| {
            Some(crate::insights::Band {
                finding: id,
                severity: Severity::parse(&severity).unwrap_or(Severity::Medium),
                episode: serde_json::from_str(&detail).ok()?,
            })
        })
        .collect())
}
