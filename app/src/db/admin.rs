//! Users and the audit log, for the admin pages and `cairn user list`.

use crate::model::{AuditEntry, UserEntry};
use sqlx::SqlitePool;

pub async fn users(pool: &SqlitePool) -> Result<Vec<UserEntry>, sqlx::Error> {
    let rows = sqlx::query_as::<_, (String, String, i64, Option<i64>)>(
        "SELECT name, role, created_at, last_login_at FROM users ORDER BY name COLLATE NOCASE",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, role, created_at, last_login_at)| UserEntry {
            name,
            role,
            created_at,
            last_login_at,
        })
        .collect())
}

/// Audit entries newest first, `limit` of them, older than the id `before` when given.
pub async fn audit(
    pool: &SqlitePool,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let rows = sqlx::query_as::<
        _,
        (
            i64,
            i64,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        ),
    >(
        "SELECT id, at, actor, action, target, detail, client FROM audit_log
         WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
    )
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, at, actor, action, target, detail, client)| AuditEntry {
                id,
                at,
                actor,
                action,
                target,
                detail,
                client,
            },
        )
        .collect())
}
