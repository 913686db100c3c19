//! Sources: the AWS accounts or organization trail buckets Cairn syncs from, and what
//! each reads (the trail bucket, an SQS queue of file notifications, the LookupEvents
//! bootstrap). Credentials come from the standard AWS chain; only a profile name and a
//! role to assume are kept, and the external ID is sealed (see [`crate::sync::secrets`]).
//! Every change takes the audit line that records it and writes it in its transaction.

use crate::sync::secrets::{SecretBox, SecretError};
use app::db::audit::{self, AuditLine};
use serde::Serialize;
use sqlx::SqlitePool;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Invalid(String),
    #[error("a source named {0:?} exists already")]
    Duplicate(String),
    #[error("no source named {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// What a person asks for when adding or editing a source.
#[derive(Debug, Clone, Default)]
pub struct SourceSpec {
    pub name: String,
    pub bucket: Option<String>,
    pub prefix: String,
    pub org_id: Option<String>,
    pub queue_url: Option<String>,
    pub lookup_events: bool,
    pub regions: Vec<String>,
    pub profile: Option<String>,
    pub role_arn: Option<String>,
    /// In clear only on its way in.
    pub external_id: Option<String>,
    pub session_name: Option<String>,
    pub endpoint_url: Option<String>,
    pub backfill_days: i64,
}

/// A stored source as shown: the external ID only as whether there is one.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SourceRow {
    pub id: i64,
    pub name: String,
    pub bucket: Option<String>,
    pub prefix: String,
    pub org_id: Option<String>,
    pub queue_url: Option<String>,
    pub lookup_events: bool,
    #[sqlx(json)]
    pub regions: Vec<String>,
    pub profile: Option<String>,
    pub role_arn: Option<String>,
    pub has_external_id: bool,
    pub session_name: Option<String>,
    pub endpoint_url: Option<String>,
    pub backfill_days: i64,
    pub paused: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A source ready to sync: its row and the opened external ID.
#[derive(Debug, Clone)]
pub struct Source {
    pub row: SourceRow,
    pub external_id: Option<String>,
}

const COLUMNS: &str =
    "id, name, bucket, prefix, org_id, queue_url, lookup_events, regions, profile,
     role_arn, external_id IS NOT NULL AS has_external_id, session_name, endpoint_url,
     backfill_days, paused, created_at, updated_at";

fn chars_ok(s: &str, min: usize, max: usize, ok: impl Fn(char) -> bool) -> bool {
    let n = s.chars().count();
    n >= min && n <= max && s.chars().all(ok)
}

fn http_url(what: &str, s: &str) -> Result<(), SourceError> {
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(SourceError::Invalid(format!(
            "{what} must be an http or https URL, not {s:?}"
        ))),
    }
}

/// Whether `s` has the shape of a Region name (`eu-west-1`).
pub fn is_region(s: &str) -> bool {
    chars_ok(s, 4, 32, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
    }) && s.contains('-')
}

impl SourceSpec {
    /// Checks every field and puts it in its canonical form (prefix without slashes at
    /// either end, Regions sorted and unique).
    pub fn validate(mut self) -> Result<SourceSpec, SourceError> {
        let bad = |m: String| Err(SourceError::Invalid(m));
        if !chars_ok(&self.name, 1, 64, |c| {
            c.is_ascii_alphanumeric() || "._-".contains(c)
        }) {
            return bad(format!(
                "a source name is 1 to 64 letters, digits, '.', '_' or '-', not {:?}",
                self.name
            ));
        }
        if self.bucket.is_none() && self.queue_url.is_none() && !self.lookup_events {
            return bad("a source needs a feed: --bucket, --queue-url or --lookup-events".into());
        }
        if let Some(b) = &self.bucket {
            if !chars_ok(b, 3, 63, |c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-'
            }) {
                return bad(format!("{b:?} is not an S3 bucket name"));
            }
        }
        self.prefix = self.prefix.trim_matches('/').to_owned();
        if self.prefix.len() > 512 || self.prefix.chars().any(char::is_control) {
            return bad("the key prefix is at most 512 printable characters".into());
        }
        if !self.prefix.is_empty() && self.bucket.is_none() {
            return bad("--prefix needs --bucket".into());
        }
        if let Some(o) = &self.org_id {
            let rest = o.strip_prefix("o-").unwrap_or("");
            if !chars_ok(rest, 10, 32, |c| {
                c.is_ascii_lowercase() || c.is_ascii_digit()
            }) {
                return bad(format!("{o:?} is not an organization ID (o-…)"));
            }
            if self.bucket.is_none() {
                return bad("--org-id needs --bucket".into());
            }
        }
        if let Some(q) = &self.queue_url {
            http_url("the queue URL", q)?;
        }
        for r in &mut self.regions {
            *r = r.trim().to_ascii_lowercase();
            if !is_region(r) {
                return bad(format!("{r:?} is not an AWS Region"));
            }
        }
        self.regions.sort();
        self.regions.dedup();
        if let Some(a) = &self.role_arn {
            if !(a.starts_with("arn:aws") && a.contains(":iam::") && a.contains(":role/"))
                || a.len() > 2048
            {
                return bad(format!(
                    "{a:?} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
                ));
            }
        }
        if let Some(x) = &self.external_id {
            if !chars_ok(x, 2, 1224, |c| {
                c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c)
            }) {
                return bad("an external ID is 2 to 1224 letters, digits or +=,.@:/-_".into());
            }
            if self.role_arn.is_none() {
                return bad("--external-id needs --role-arn".into());
            }
        }
        if let Some(s) = &self.session_name {
            if !chars_ok(s, 2, 64, |c| {
                c.is_ascii_alphanumeric() || "+=,.@-_".contains(c)
            }) {
                return bad("a session name is 2 to 64 letters, digits or +=,.@-_".into());
            }
        }
        if let Some(p) = &self.profile {
            if !chars_ok(p, 1, 128, |c| !c.is_control() && !c.is_whitespace()) {
                return bad(format!("{p:?} is not a profile name"));
            }
        }
        if let Some(e) = &self.endpoint_url {
            http_url("the endpoint URL", e)?;
        }
        if !(1..=3650).contains(&self.backfill_days) {
            return bad("the backfill period is 1 to 3650 days".into());
        }
        Ok(self)
    }
}

/// Adds a source; returns its id.
pub async fn add(
    pool: &SqlitePool,
    secrets: &SecretBox,
    spec: SourceSpec,
    line: &AuditLine<'_>,
) -> Result<i64, SourceError> {
    let spec = spec.validate()?;
    let now = chrono::Utc::now().timestamp_millis();
    let sealed = spec.external_id.as_deref().map(|x| secrets.seal(x));
    let regions = serde_json::to_string(&spec.regions).unwrap_or_else(|_| "[]".into());
    let mut tx = pool.begin().await?;
    let r = sqlx::query_scalar(
        "INSERT INTO sources (name, bucket, prefix, org_id, queue_url, lookup_events, regions,
             profile, role_arn, external_id, session_name, endpoint_url, backfill_days,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)
         RETURNING id",
    )
    .bind(&spec.name)
    .bind(&spec.bucket)
    .bind(&spec.prefix)
    .bind(&spec.org_id)
    .bind(&spec.queue_url)
    .bind(spec.lookup_events)
    .bind(regions)
    .bind(&spec.profile)
    .bind(&spec.role_arn)
    .bind(sealed)
    .bind(&spec.session_name)
    .bind(&spec.endpoint_url)
    .bind(spec.backfill_days)
    .bind(now)
    .fetch_one(&mut *tx)
    .await;
    let id = match r {
        Ok(id) => id,
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(SourceError::Duplicate(spec.name));
        }
        Err(e) => return Err(e.into()),
    };
    audit::write_line(&mut tx, line).await?;
    tx.commit().await?;
    Ok(id)
}

/// Replaces the settings of the source `name` with `spec` (which may rename it). The
/// sealed external ID is kept when `spec` brings none, unless `clear_external_id`.
pub async fn update(
    pool: &SqlitePool,
    secrets: &SecretBox,
    name: &str,
    spec: SourceSpec,
    clear_external_id: bool,
    line: &AuditLine<'_>,
) -> Result<(), SourceError> {
    let old = get(pool, name).await?;
    let kept = spec.external_id.is_none() && old.has_external_id && !clear_external_id;
    let spec = spec.validate()?;
    if kept && spec.role_arn.is_none() {
        return Err(SourceError::Invalid(
            "the stored external ID needs a role ARN: give one, or clear the external ID".into(),
        ));
    }
    if spec.name != name {
        // The LookupEvents checkpoints are named after the source.
        let moved: i64 = sqlx::query_scalar("SELECT count(*) FROM ingest_files WHERE source = ?1")
            .bind(format!("lookup://{}", spec.name))
            .fetch_one(pool)
            .await?;
        if moved > 0 {
            return Err(SourceError::Invalid(format!(
                "LookupEvents checkpoints named {:?} exist already",
                spec.name
            )));
        }
    }
    let now = chrono::Utc::now().timestamp_millis();
    let regions = serde_json::to_string(&spec.regions).unwrap_or_else(|_| "[]".into());
    let sealed = spec.external_id.as_deref().map(|x| secrets.seal(x));
    let mut tx = pool.begin().await?;
    let r = sqlx::query(
        "UPDATE sources SET name = ?2, bucket = ?3, prefix = ?4, org_id = ?5, queue_url = ?6,
             lookup_events = ?7, regions = ?8, profile = ?9, role_arn = ?10,
             external_id = CASE WHEN ?11 THEN external_id ELSE ?12 END, session_name = ?13,
             endpoint_url = ?14, backfill_days = ?15, updated_at = ?16
         WHERE id = ?1",
    )
    .bind(old.id)
    .bind(&spec.name)
    .bind(&spec.bucket)
    .bind(&spec.prefix)
    .bind(&spec.org_id)
    .bind(&spec.queue_url)
    .bind(spec.lookup_events)
    .bind(regions)
    .bind(&spec.profile)
    .bind(&spec.role_arn)
    .bind(kept)
    .bind(sealed)
    .bind(&spec.session_name)
    .bind(&spec.endpoint_url)
    .bind(spec.backfill_days)
    .bind(now)
    .execute(&mut *tx)
    .await;
    match r {
        Ok(_) => {}
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(SourceError::Duplicate(spec.name));
        }
        Err(e) => return Err(e.into()),
    }
    if spec.name != name {
        sqlx::query("UPDATE ingest_files SET source = ?2 WHERE source = ?1")
            .bind(format!("lookup://{name}"))
            .bind(format!("lookup://{}", spec.name))
            .execute(&mut *tx)
            .await?;
    }
    audit::write_line(&mut tx, line).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn list(pool: &SqlitePool) -> Result<Vec<SourceRow>, SourceError> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM sources ORDER BY name"))
            .fetch_all(pool)
            .await?,
    )
}

pub async fn get(pool: &SqlitePool, name: &str) -> Result<SourceRow, SourceError> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM sources WHERE name = ?1"))
        .bind(name)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| SourceError::NotFound(name.to_owned()))
}

/// A source with its external ID opened, to sync.
pub async fn load(
    pool: &SqlitePool,
    secrets: &SecretBox,
    name: &str,
) -> Result<Source, SourceError> {
    let row = get(pool, name).await?;
    let sealed: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT external_id FROM sources WHERE id = ?1")
            .bind(row.id)
            .fetch_one(pool)
            .await?;
    let external_id = sealed.map(|s| secrets.open(&s)).transpose()?;
    Ok(Source { row, external_id })
}

/// Removes a source with its sync history. Events it brought in stay.
/// Removes a source, its sync history and its LookupEvents checkpoints (so a source
/// added again under the name bootstraps afresh). Its events stay.
pub async fn remove(pool: &SqlitePool, name: &str, line: &AuditLine<'_>) -> Result<(), SourceError> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query("DELETE FROM sources WHERE name = ?1")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(SourceError::NotFound(name.to_owned()));
    }
    sqlx::query("DELETE FROM ingest_files WHERE source = ?1")
        .bind(format!("lookup://{name}"))
        .execute(&mut *tx)
        .await?;
    audit::write_line(&mut tx, line).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn set_paused(
    pool: &SqlitePool,
    name: &str,
    paused: bool,
    line: &AuditLine<'_>,
) -> Result<(), SourceError> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query("UPDATE sources SET paused = ?2, updated_at = ?3 WHERE name = ?1")
        .bind(name)
        .bind(paused)
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(SourceError::NotFound(name.to_owned()));
    }
    audit::write_line(&mut tx, line).await?;
    tx.commit().await?;
    Ok(())
}

/// Keeps the outcome of a reachability check (`lines`, as JSON) for the source's page,
/// with its audit line.
pub async fn record_check(
    pool: &SqlitePool,
    source_id: i64,
    by: &str,
    lines: &str,
    line: &AuditLine<'_>,
) -> Result<(), SourceError> {
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO source_checks (source_id, at, by_user, lines) VALUES (?1, ?2, ?3, ?4)")
        .bind(source_id)
        .bind(chrono::Utc::now().timestamp_millis())
        .bind(by)
        .bind(lines)
        .execute(&mut *tx)
        .await?;
    audit::write_line(&mut tx, line).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SourceSpec {
        SourceSpec {
            name: "prod".into(),
            bucket: Some("trail-bucket".into()),
            prefix: "/org/".into(),
            regions: vec!["eu-west-1".into(), "US-EAST-1".into(), "eu-west-1".into()],
            backfill_days: 90,
            ..SourceSpec::default()
        }
    }

    #[test]
    fn specs_are_checked_and_made_canonical() {
        let s = spec().validate().unwrap();
        assert_eq!(s.prefix, "org");
        assert_eq!(s.regions, ["eu-west-1", "us-east-1"]);
        let bad = [
            SourceSpec {
                name: "a b".into(),
                ..spec()
            },
            SourceSpec {
                bucket: None,
                ..spec()
            },
            SourceSpec {
                bucket: Some("Bad_Bucket".into()),
                ..spec()
            },
            SourceSpec {
                org_id: Some("org-1".into()),
                ..spec()
            },
            SourceSpec {
                queue_url: Some("javascript:alert(1)".into()),
                ..spec()
            },
            SourceSpec {
                regions: vec!["<script>".into()],
                ..spec()
            },
            SourceSpec {
                role_arn: Some("arn:aws:s3:::x".into()),
                ..spec()
            },
            SourceSpec {
                external_id: Some("x".repeat(8)),
                ..spec()
            },
            SourceSpec {
                endpoint_url: Some("ftp://x".into()),
                ..spec()
            },
            SourceSpec {
                backfill_days: 0,
                ..spec()
            },
        ];
        for b in bad {
            assert!(
                matches!(b.clone().validate(), Err(SourceError::Invalid(_))),
                "{b:?}"
            );
        }
        let queue_only = SourceSpec {
            bucket: None,
            prefix: String::new(),
            queue_url: Some("https://sqs.us-east-1.amazonaws.com/111111111111/ct".into()),
            ..spec()
        };
        assert!(queue_only.validate().is_ok());
    }
}
