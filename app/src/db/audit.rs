//! The `audit_log` table: every change made through Cairn (and every sign-in), who made
//! it and from where. A change writes its line in its own transaction (`write_line` takes
//! the transaction), so a change whose line cannot be written does not happen.

use crate::model::AuditEntry;
use sqlx::{SqliteConnection, SqlitePool};

/// One line to write.
#[derive(Debug, Clone, Copy)]
pub struct AuditLine<'a> {
    /// Who did it (`None`: someone not signed in, such as a failed sign-in).
    pub actor: Option<&'a str>,
    /// What was done, as `area.verb` (`user.add`, `source.edit`, `login.failed`).
    pub action: &'a str,
    /// What it was done to.
    pub target: Option<&'a str>,
    /// What changed, in a few words.
    pub detail: Option<&'a str>,
    /// The client's address, or `shell` for the command line.
    pub client: Option<&'a str>,
}

impl<'a> AuditLine<'a> {
    /// `actor` did `action` from `client`; target and detail follow with the builders.
    pub fn new(actor: Option<&'a str>, action: &'a str, client: &'a str) -> AuditLine<'a> {
        AuditLine {
            actor,
            action,
            target: None,
            detail: None,
            client: Some(client),
        }
    }

    pub fn target(self, target: &'a str) -> AuditLine<'a> {
        AuditLine {
            target: Some(target),
            ..self
        }
    }

    pub fn detail(self, detail: &'a str) -> AuditLine<'a> {
        AuditLine {
            detail: (!detail.is_empty()).then_some(detail),
            ..self
        }
    }

    pub fn action(self, action: &'a str) -> AuditLine<'a> {
        AuditLine { action, ..self }
    }
}

/// Writes one line, inside the caller's transaction (or alone, on a plain connection).
pub async fn write_line(
    conn: &mut SqliteConnection,
    line: &AuditLine<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, target, detail, client) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(chrono::Utc::now().timestamp_millis())
    .bind(line.actor)
    .bind(line.action)
    .bind(line.target)
    .bind(line.detail)
    .bind(line.client)
    .execute(conn)
    .await?;
    Ok(())
}

/// Lines newest first, `limit` of them, older than the id `before` when given.
pub async fn read_lines(
    pool: &SqlitePool,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    type Row = (
        i64,
        i64,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows = sqlx::query_as::<_, Row>(
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
