//! What Cost Explorer says AWS billed for CloudTrail (`billed_costs`, `billing_checks`):
//! every read and write.

use sqlx::{SqliteConnection, SqlitePool};

/// Replaces what one source's Cost Explorer said of `month`: `(usage_type, usd)`.
pub async fn write_month(
    conn: &mut SqliteConnection,
    source_id: i64,
    month: &str,
    rows: &[(String, f64)],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM billed_costs WHERE source_id = ?1 AND month = ?2")
        .bind(source_id)
        .bind(month)
        .execute(&mut *conn)
        .await?;
    for (usage_type, usd) in rows {
        sqlx::query(
            "INSERT INTO billed_costs (source_id, month, usage_type, usd) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO UPDATE SET usd = usd + excluded.usd",
        )
        .bind(source_id)
        .bind(month)
        .bind(usage_type)
        .bind(usd)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Records that a source's Cost Explorer was asked, and its refusal if any.
pub async fn write_check(
    conn: &mut SqliteConnection,
    source_id: i64,
    at: i64,
    account: Option<&str>,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO billing_checks (source_id, at, account, error) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (source_id) DO UPDATE SET at = excluded.at, account = excluded.account,
             error = excluded.error",
    )
    .bind(source_id)
    .bind(at)
    .bind(account)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// What each source's Cost Explorer billed in `month`, for the first source of each
/// account (two sources of one account see the same bill): `(source, usage_type, usd)`.
pub async fn of_month(
    pool: &SqlitePool,
    month: &str,
) -> Result<Vec<(String, String, f64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.name, b.usage_type, b.usd FROM billed_costs b
         JOIN sources s ON s.id = b.source_id
         JOIN billing_checks c ON c.source_id = b.source_id
         WHERE b.month = ?1 AND b.source_id = (
             SELECT min(c2.source_id) FROM billing_checks c2
             WHERE c2.account IS c.account AND (c.account IS NOT NULL OR c2.source_id = c.source_id))
         ORDER BY s.name, b.usage_type",
    )
    .bind(month)
    .fetch_all(pool)
    .await
}

/// Every source's last ask: `(source, at, error)`.
pub async fn checks(pool: &SqlitePool) -> Result<Vec<(String, i64, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.name, c.at, c.error FROM billing_checks c JOIN sources s ON s.id = c.source_id
         ORDER BY s.name",
    )
    .fetch_all(pool)
    .await
}
