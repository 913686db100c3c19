//! The prices admins set (`prices`): every read and write.

use sqlx::{SqliteConnection, SqlitePool};

/// Every price set: `(name, region, usd, changed_at, changed_by)`.
pub async fn all(
    pool: &SqlitePool,
) -> Result<Vec<(String, String, f64, i64, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT name, region, usd, changed_at, changed_by FROM prices ORDER BY region, name")
        .fetch_all(pool)
        .await
}

/// The price set for `name` in `region` ('' every Region), if any.
pub async fn get(
    conn: &mut SqliteConnection,
    name: &str,
    region: &str,
) -> Result<Option<f64>, sqlx::Error> {
    sqlx::query_scalar("SELECT usd FROM prices WHERE name = ?1 AND region = ?2")
        .bind(name)
        .bind(region)
        .fetch_optional(conn)
        .await
}

/// Sets a price.
pub async fn set(
    conn: &mut SqliteConnection,
    name: &str,
    region: &str,
    usd: f64,
    at: i64,
    by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO prices (name, region, usd, changed_at, changed_by) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (name, region) DO UPDATE SET usd = excluded.usd,
             changed_at = excluded.changed_at, changed_by = excluded.changed_by",
    )
    .bind(name)
    .bind(region)
    .bind(usd)
    .bind(at)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

/// Back to the list price: the row goes.
pub async fn reset(conn: &mut SqliteConnection, name: &str, region: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM prices WHERE name = ?1 AND region = ?2")
        .bind(name)
        .bind(region)
        .execute(conn)
        .await?
        .rows_affected()
        > 0)
}
