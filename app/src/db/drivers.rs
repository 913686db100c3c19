//! What drives the bill (`cost_drivers`), as the costs page reads it. Written only by the
//! import (`server::ingest::store`), with the other summaries of each batch.

use crate::schema::{Dim, billed};
use sqlx::SqlitePool;

/// The stored events of one billed kind in one account and Region in a month (the kind
/// without its "inferred" mark).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Place {
    pub kind: i64,
    pub account_id: i64,
    pub region_id: i64,
    pub account: String,
    pub region: String,
    pub events: i64,
}

/// Per kind, account and Region, the month's stored events (every event has one name, so
/// the name rows count each event once).
pub async fn places(pool: &SqlitePool, month: i64) -> Result<Vec<Place>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.kind & 3 AS kind, d.account AS account_id, d.region AS region_id,
                a.value AS account, coalesce(r.value, '') AS region, sum(d.events) AS events
         FROM cost_drivers d
         JOIN terms a ON a.id = d.account
         LEFT JOIN terms r ON r.id = d.region
         WHERE d.month = ?1 AND d.dim = ?2
         GROUP BY 1, 2, 3",
    )
    .bind(month)
    .bind(Dim::Name as i64)
    .fetch_all(pool)
    .await
}

/// One driver: a principal, event name or resource and the events of one kind it caused
/// where they were charged, with their share of the charge.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub dim: Dim,
    pub kind: u8,
    /// Some of its events name no `eventCategory` (their kind was inferred).
    pub inferred: bool,
    /// The filter value (principal key, resource ARN, event name) and what is shown.
    pub value: String,
    pub label: String,
    pub events: i64,
    pub usd: f64,
}

/// The `top` drivers of each dimension in `month`, priced at `rates`: `(kind, account
/// id, Region id, dollars per stored event)`. Summed and ranked in the database, so the
/// page reads a few rows however many values the month has.
pub async fn top(
    pool: &SqlitePool,
    month: i64,
    rates: &[(i64, i64, i64, f64)],
    top: i64,
) -> Result<Vec<Row>, sqlx::Error> {
    let rates_json = serde_json::to_string(rates).unwrap_or_else(|_| "[]".into());
    let rows: Vec<(i64, i64, i64, i64, i64, f64)> = sqlx::query_as(
        "WITH rates AS MATERIALIZED (
             SELECT json_extract(value, '$[0]') AS kind, json_extract(value, '$[1]') AS account,
                    json_extract(value, '$[2]') AS region, json_extract(value, '$[3]') AS rate
             FROM json_each(?2)),
         per AS (
             SELECT d.dim, d.kind & 3 AS kind, d.value, max(d.kind & 4) AS inferred,
                    sum(d.events) AS events, sum(d.events * r.rate) AS usd
             FROM cost_drivers d
             JOIN rates r ON r.kind = d.kind & 3 AND r.account = d.account AND r.region = d.region
             WHERE d.month = ?1
             GROUP BY 1, 2, 3),
         ranked AS (
             SELECT *, row_number() OVER (PARTITION BY dim ORDER BY usd DESC, events DESC, value)
                    AS n
             FROM per WHERE usd > 0)
         SELECT dim, kind, value, inferred, events, usd FROM ranked WHERE n <= ?3
         ORDER BY dim, n",
    )
    .bind(month)
    .bind(&rates_json)
    .bind(top)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::new();
    for dim in [Dim::Principal, Dim::Name, Dim::Resource] {
        let of_dim: Vec<_> = rows.iter().filter(|r| r.0 == dim as i64).collect();
        let ids: Vec<i64> = of_dim.iter().map(|r| r.2).collect();
        let names = crate::db::events::labels(pool, dim, &ids).await?;
        for &&(_, kind, id, inferred, events, usd) in &of_dim {
            if let Some((value, label)) = names.get(&id) {
                out.push(Row {
                    dim,
                    kind: (kind as u8) & !billed::INFERRED,
                    inferred: inferred != 0,
                    value: value.clone(),
                    label: label.clone(),
                    events,
                    usd,
                });
            }
        }
    }
    Ok(out)
}
