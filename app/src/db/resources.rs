//! Resources: what one is, and which events changed it.

use crate::model::ResourceCard;
use sqlx::SqlitePool;

/// A resource by ARN, with when events first and last named it.
pub async fn card(pool: &SqlitePool, arn: &str) -> Result<Option<ResourceCard>, sqlx::Error> {
    let row: Option<(String, String, String, Option<String>, Option<i64>, Option<i64>)> =
        sqlx::query_as(
            "SELECT r.arn, r.type, r.name, r.account,
                    (SELECT min(event_id) FROM event_resources WHERE resource_id = r.id),
                    (SELECT max(event_id) FROM event_resources WHERE resource_id = r.id)
             FROM resources r WHERE r.arn = ?1",
        )
        .bind(arn)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|(arn, kind, name, account, first, last)| ResourceCard {
        arn,
        kind,
        name,
        account,
        first_seen_ms: first.map(crate::schema::id_time),
        last_seen_ms: last.map(crate::schema::id_time),
    }))
}

/// Whether a data event on the resource (an S3 bucket's ARN; reads or writes only, when
/// `read_only` says) is stored in `[from_ms, to_ms)`.
pub async fn data_events_between(
    pool: &SqlitePool,
    arn: &str,
    from_ms: i64,
    to_ms: i64,
    read_only: Option<bool>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM resources r
                        JOIN event_resources er ON er.resource_id = r.id
                        JOIN events e ON e.id = er.event_id
                        WHERE r.arn = ?1 AND er.event_id >= ?2 AND er.event_id < ?3
                          AND e.category_id = (SELECT id FROM terms WHERE kind = ?4 AND value = 'Data')
                          AND (?5 IS NULL OR e.read_only = ?5))",
    )
    .bind(arn)
    .bind(crate::schema::first_id_at(from_ms))
    .bind(crate::schema::first_id_at(to_ms))
    .bind(crate::schema::TermKind::Category as u8)
    .bind(read_only)
    .fetch_one(pool)
    .await
}
