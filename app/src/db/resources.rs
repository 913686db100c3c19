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
