//! Resources: what one is, and which events changed it.

use crate::model::ResourceCard;
use sqlx::SqlitePool;

/// A resource by ARN.
pub async fn card(pool: &SqlitePool, arn: &str) -> Result<Option<ResourceCard>, sqlx::Error> {
    let row: Option<(String, String, String, Option<String>)> =
        sqlx::query_as("SELECT arn, type, name, account FROM resources WHERE arn = ?1")
            .bind(arn)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(arn, kind, name, account)| ResourceCard {
        arn,
        kind,
        name,
        account,
    }))
}
