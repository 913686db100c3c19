//! What the trails delivered (`delivery_days`), as the costs and trails screens read it.
//! Written only by the import (`server::ingest::deliveries`), in the transaction of the
//! files it counts.

use sqlx::SqlitePool;

/// One row: what one origin and key prefix delivered on one day for one account, Region,
/// kind and read/write.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DayRow {
    pub day: i64,
    pub origin: String,
    pub prefix: String,
    pub account: String,
    pub region: String,
    pub kind: String,
    pub read_only: i64,
    pub resource_type: String,
    pub events: i64,
    pub bytes: i64,
}

/// The rows of days `from..to` (days since 1970-01-01 UTC).
pub async fn days(pool: &SqlitePool, from: i64, to: i64) -> Result<Vec<DayRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT day, origin, prefix, account, region, kind, read_only, resource_type, events, bytes
         FROM delivery_days WHERE day >= ?1 AND day < ?2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// The months that hold deliveries, newest first (`YYYY-MM`).
pub async fn months(pool: &SqlitePool) -> Result<Vec<String>, sqlx::Error> {
    // Days are few per month; walk the distinct days through the primary key.
    let days: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT day FROM delivery_days ORDER BY day DESC")
        .fetch_all(pool)
        .await?;
    let mut out: Vec<String> = Vec::new();
    for d in days {
        let m = chrono::DateTime::from_timestamp_millis(d * 86_400_000)
            .map(|t| t.format("%Y-%m").to_string())
            .unwrap_or_default();
        if out.last() != Some(&m) {
            out.push(m);
        }
    }
    Ok(out)
}

/// Records delivered since `since_ms` (by the files' delivery time) per bucket and key
/// prefix (what comes before `AWSLogs/`, as `trails::prefix_of` reads it): only files
/// from a bucket can be a trail's. Summed in the database, so the answer is a few rows
/// however many files arrived.
pub async fn delivered_since(
    pool: &SqlitePool,
    since_ms: i64,
) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT source,
                CASE WHEN instr(path, 'AWSLogs/') > 0
                     THEN rtrim(substr(path, 1, instr(path, 'AWSLogs/') - 1), '/')
                     ELSE '' END AS prefix,
                sum(records)
         FROM ingest_files
         WHERE modified >= ?1 AND status = 'imported' AND source LIKE 's3://%'
         GROUP BY 1, 2",
    )
    .bind(since_ms)
    .fetch_all(pool)
    .await
}

/// Every account and Region files were delivered for.
pub async fn account_regions(pool: &SqlitePool) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT DISTINCT account, region FROM delivery_days ORDER BY 1, 2")
        .fetch_all(pool)
        .await
}
