//! The alert tables (`alert_destinations`, `alert_outbox`, `alert_deliveries`). The
//! outbox is written by the importer's writer in the transaction that makes a finding
//! (`ENQUEUE`, run by `server/src/detections/record.rs`); the dispatcher
//! (`server/src/alerts`) claims, sends and settles its rows.

use crate::alerts::{DeliveryLine, DestinationRow, FindingAlert, OutboxLine};
use crate::detections::Severity;
use sqlx::{FromRow, Sqlite, SqlitePool, Transaction};

/// Queues a new finding for every enabled destination that takes it. Parameters: the
/// finding's id, its rule's id, its severity's rank, now (ms).
pub const ENQUEUE: &str = "INSERT OR IGNORE INTO alert_outbox (finding_id, destination_id, next_ms, created_ms)
     SELECT ?1, d.id, ?4, ?4 FROM alert_destinations d
     WHERE d.enabled = 1 AND ?3 >= d.min_rank
       AND (d.rules IS NULL OR EXISTS (SELECT 1 FROM json_each(d.rules) WHERE json_each.value = ?2))";

/// A destination as it is added.
#[derive(Debug, Clone)]
pub struct NewDestination {
    pub name: String,
    pub kind: String,
    pub shown: String,
    pub arn: Option<String>,
    pub sealed_url: Option<Vec<u8>>,
    pub sealed_token: Option<Vec<u8>>,
    pub endpoint_url: Option<String>,
    pub min_severity: Severity,
    pub rules: Option<Vec<String>>,
}

/// What the dispatcher needs of a destination, secrets still sealed.
#[derive(Debug, Clone, FromRow)]
pub struct Sealed {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub arn: Option<String>,
    pub sealed_url: Option<Vec<u8>>,
    pub sealed_token: Option<Vec<u8>>,
    pub endpoint_url: Option<String>,
}

#[derive(FromRow)]
struct RowDb {
    id: i64,
    name: String,
    kind: String,
    shown: String,
    has_token: bool,
    endpoint_url: Option<String>,
    min_rank: i64,
    rules: Option<String>,
    enabled: bool,
    created_ms: i64,
    created_by: String,
    pending: i64,
    sent: i64,
    failed: i64,
    last_at_ms: Option<i64>,
    last_ok: Option<bool>,
}

impl From<RowDb> for DestinationRow {
    fn from(r: RowDb) -> Self {
        DestinationRow {
            id: r.id,
            name: r.name,
            kind: r.kind,
            shown: r.shown,
            has_token: r.has_token,
            endpoint_url: r.endpoint_url,
            min_severity: Severity::of_rank(r.min_rank),
            rules: r.rules.and_then(|j| serde_json::from_str(&j).ok()),
            enabled: r.enabled,
            created_ms: r.created_ms,
            created_by: r.created_by,
            pending: r.pending,
            sent: r.sent,
            failed: r.failed,
            last_at_ms: r.last_at_ms,
            last_ok: r.last_ok,
        }
    }
}

const SELECT: &str = "SELECT d.id, d.name, d.kind, d.shown, d.sealed_token IS NOT NULL AS has_token,
        d.endpoint_url, d.min_rank, d.rules, d.enabled, d.created_ms, d.created_by,
        (SELECT count(*) FROM alert_outbox o WHERE o.destination_id = d.id AND o.state IN ('pending', 'sending')) AS pending,
        (SELECT count(*) FROM alert_outbox o WHERE o.destination_id = d.id AND o.state = 'sent') AS sent,
        (SELECT count(*) FROM alert_outbox o WHERE o.destination_id = d.id AND o.state = 'failed') AS failed,
        (SELECT max(l.at_ms) FROM alert_deliveries l WHERE l.destination_id = d.id) AS last_at_ms,
        (SELECT l.ok FROM alert_deliveries l WHERE l.destination_id = d.id ORDER BY l.at_ms DESC, l.id DESC LIMIT 1) AS last_ok
     FROM alert_destinations d";

pub async fn list(pool: &SqlitePool) -> Result<Vec<DestinationRow>, sqlx::Error> {
    let rows: Vec<RowDb> = sqlx::query_as(&format!("{SELECT} ORDER BY d.name"))
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(DestinationRow::from).collect())
}

pub async fn get(pool: &SqlitePool, id: i64) -> Result<Option<DestinationRow>, sqlx::Error> {
    let row: Option<RowDb> = sqlx::query_as(&format!("{SELECT} WHERE d.id = ?1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(DestinationRow::from))
}

/// A destination's id by its id or name.
pub async fn find(pool: &SqlitePool, id_or_name: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM alert_destinations WHERE name = ?1 OR CAST(id AS TEXT) = ?1 ORDER BY name = ?1 DESC LIMIT 1")
        .bind(id_or_name)
        .fetch_optional(pool)
        .await
}

pub async fn sealed(pool: &SqlitePool, id: i64) -> Result<Option<Sealed>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, kind, arn, sealed_url, sealed_token, endpoint_url FROM alert_destinations WHERE id = ?1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Adds a destination; `None` when the name is taken.
pub async fn insert(
    tx: &mut Transaction<'_, Sqlite>,
    d: &NewDestination,
    actor: &str,
    now_ms: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let rules = d.rules.as_ref().map(|r| serde_json::to_string(r).unwrap_or_else(|_| "[]".into()));
    sqlx::query_scalar(
        "INSERT INTO alert_destinations (name, kind, shown, arn, sealed_url, sealed_token, endpoint_url,
           min_rank, rules, enabled, created_ms, created_by, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10, ?11, ?10)
         ON CONFLICT (name) DO NOTHING RETURNING id",
    )
    .bind(&d.name)
    .bind(&d.kind)
    .bind(&d.shown)
    .bind(d.arn.as_deref())
    .bind(d.sealed_url.as_deref())
    .bind(d.sealed_token.as_deref())
    .bind(d.endpoint_url.as_deref())
    .bind(d.min_severity.rank())
    .bind(rules)
    .bind(now_ms)
    .bind(actor)
    .fetch_optional(&mut **tx)
    .await
}

/// Whether the destination exists.
pub async fn set_enabled(
    tx: &mut Transaction<'_, Sqlite>,
    id: i64,
    on: bool,
    now_ms: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query("UPDATE alert_destinations SET enabled = ?2, updated_ms = ?3 WHERE id = ?1")
        .bind(id)
        .bind(on)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Removes a destination with its outbox and delivery log; whether it existed.
pub async fn remove(tx: &mut Transaction<'_, Sqlite>, id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM alert_outbox WHERE destination_id = ?1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM alert_deliveries WHERE destination_id = ?1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let n = sqlx::query("DELETE FROM alert_destinations WHERE id = ?1")
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Given-up alerts of a destination made due again; how many.
pub async fn retry_failed(tx: &mut Transaction<'_, Sqlite>, id: i64, now_ms: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE alert_outbox SET state = 'pending', attempts = 0, next_ms = ?2 WHERE destination_id = ?1 AND state = 'failed'",
    )
    .bind(id)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

#[derive(FromRow)]
struct DeliveryDb {
    at_ms: i64,
    finding_id: Option<i64>,
    attempt: i64,
    ok: bool,
    answer: Option<String>,
    error: Option<String>,
    millis: i64,
}

/// A destination's latest attempts, newest first.
pub async fn deliveries(pool: &SqlitePool, id: i64, limit: i64) -> Result<Vec<DeliveryLine>, sqlx::Error> {
    let rows: Vec<DeliveryDb> = sqlx::query_as(
        "SELECT at_ms, finding_id, attempt, ok, answer, error, millis FROM alert_deliveries
         WHERE destination_id = ?1 ORDER BY at_ms DESC, id DESC LIMIT ?2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| DeliveryLine {
            at_ms: r.at_ms,
            finding_id: r.finding_id,
            attempt: r.attempt,
            ok: r.ok,
            answer: r.answer,
            error: r.error,
            millis: r.millis,
        })
        .collect())
}

/// A destination's alerts not (yet) sent, oldest first.
pub async fn waiting(pool: &SqlitePool, id: i64, limit: i64) -> Result<Vec<OutboxLine>, sqlx::Error> {
    let rows: Vec<(i64, String, i64, i64, Option<String>)> = sqlx::query_as(
        "SELECT finding_id, state, attempts, next_ms, last_error FROM alert_outbox
         WHERE destination_id = ?1 AND state != 'sent' ORDER BY created_ms, id LIMIT ?2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OutboxLine {
            finding_id: r.0,
            state: r.1,
            attempts: r.2,
            next_ms: r.3,
            last_error: r.4,
        })
        .collect())
}

/// A finding's alerts.
pub async fn for_finding(pool: &SqlitePool, finding: i64) -> Result<Vec<FindingAlert>, sqlx::Error> {
    let rows: Vec<(String, String, String, i64, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT d.name, d.kind, o.state, o.attempts, o.sent_ms, o.last_error FROM alert_outbox o
         JOIN alert_destinations d ON d.id = o.destination_id WHERE o.finding_id = ?1 ORDER BY d.name",
    )
    .bind(finding)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| FindingAlert {
            destination: r.0,
            kind: r.1,
            state: r.2,
            attempts: r.3,
            sent_ms: r.4,
            last_error: r.5,
        })
        .collect())
}

/// An alert the dispatcher has claimed.
#[derive(Debug, Clone, FromRow)]
pub struct Due {
    pub id: i64,
    pub finding_id: i64,
    pub destination_id: i64,
    pub attempts: i64,
}

/// Claims up to `limit` due alerts (pending and due, or cut off while sending) until
/// `lease_until`.
pub async fn claim(pool: &SqlitePool, now_ms: i64, lease_until: i64, limit: i64) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE alert_outbox SET state = 'sending', attempts = attempts + 1, next_ms = ?2
         WHERE id IN (SELECT o.id FROM alert_outbox o JOIN alert_destinations d ON d.id = o.destination_id
                      WHERE o.state IN ('pending', 'sending') AND o.next_ms <= ?1 AND d.enabled = 1
                      ORDER BY o.next_ms LIMIT ?3)
         RETURNING id, finding_id, destination_id, attempts",
    )
    .bind(now_ms)
    .bind(lease_until)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// What one attempt gave.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at_ms: i64,
    pub attempt: i64,
    pub ok: bool,
    pub answer: Option<String>,
    pub error: Option<String>,
    pub millis: i64,
}

/// Where a claimed alert goes after an attempt.
#[derive(Debug, Clone, Copy)]
pub enum Settle {
    Sent,
    RetryAt(i64),
    GiveUp,
}

/// Settles a claimed alert and logs the attempt, in one transaction.
pub async fn settle(pool: &SqlitePool, due: &Due, a: &Attempt, settle: Settle) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin_with(crate::db::BEGIN_WRITE).await?;
    let (state, next, sent) = match settle {
        Settle::Sent => ("sent", a.at_ms, Some(a.at_ms)),
        Settle::RetryAt(t) => ("pending", t, None),
        Settle::GiveUp => ("failed", a.at_ms, None),
    };
    sqlx::query("UPDATE alert_outbox SET state = ?2, next_ms = ?3, sent_ms = ?4, last_error = ?5 WHERE id = ?1")
        .bind(due.id)
        .bind(state)
        .bind(next)
        .bind(sent)
        .bind(a.error.as_deref())
        .execute(&mut *tx)
        .await?;
    log_in(&mut tx, due.destination_id, Some(due.finding_id), a).await?;
    tx.commit().await
}

/// Logs a test's attempt.
pub async fn log_test(pool: &SqlitePool, destination: i64, a: &Attempt) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin_with(crate::db::BEGIN_WRITE).await?;
    log_in(&mut tx, destination, None, a).await?;
    tx.commit().await
}

async fn log_in(
    tx: &mut Transaction<'_, Sqlite>,
    destination: i64,
    finding: Option<i64>,
    a: &Attempt,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO alert_deliveries (destination_id, finding_id, at_ms, attempt, ok, answer, error, millis)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(destination)
    .bind(finding)
    .bind(a.at_ms)
    .bind(a.attempt)
    .bind(a.ok)
    .bind(a.answer.as_deref())
    .bind(a.error.as_deref())
    .bind(a.millis)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Alerts owed: pending or being sent.
pub async fn owed(pool: &SqlitePool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM alert_outbox WHERE state IN ('pending', 'sending')")
        .fetch_one(pool)
        .await
}
