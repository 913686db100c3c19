//! Sources: the AWS accounts or organization trail buckets Cairn syncs from, and what
//! each reads (the trail bucket, an SQS queue of file notifications, the LookupEvents
//! bootstrap). Credentials come from the standard AWS chain; only a profile name and a
//! role to assume are kept, and the external ID is sealed (see [`crate::sync::secrets`]).
//! Every change takes the audit line that records it and writes it in its transaction.
//! The rules on what a source may be are here; its SQL is in `app::db::sources`.

use crate::sync::secrets::{SecretBox, SecretError};
use app::db::audit::{self, AuditLine};
use app::db::ledger;
use app::db::sources as store;
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
    /// Days the events of the accounts it brings in are kept (`None`: the server's).
    pub retain_days: Option<i64>,
}

pub use app::db::sources::SourceRow;

/// A source ready to sync: its row and the opened external ID.
#[derive(Debug, Clone)]
pub struct Source {
    pub row: SourceRow,
    pub external_id: Option<String>,
}

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
        if self.retain_days.is_some_and(|d| !(1..=36500).contains(&d)) {
            return bad("events are kept 1 to 36500 days".into());
        }
        Ok(self)
    }
}

impl SourceSpec {
    /// What the source reads, for the audit log: `bucket B, queue Q, LookupEvents, role R`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(b) = &self.bucket {
            parts.push(format!("bucket {b}"));
        }
        if let Some(q) = &self.queue_url {
            parts.push(format!("queue {q}"));
        }
        if self.lookup_events {
            parts.push("LookupEvents".into());
        }
        if let Some(r) = &self.role_arn {
            parts.push(format!("role {r}"));
        }
        parts.join(", ")
    }

    /// The settings as written, with the external ID sealed.
    fn settings<'a>(&'a self, sealed: Option<&'a [u8]>) -> store::NewSettings<'a> {
        store::NewSettings {
            name: &self.name,
            bucket: self.bucket.as_deref(),
            prefix: &self.prefix,
            org_id: self.org_id.as_deref(),
            queue_url: self.queue_url.as_deref(),
            lookup_events: self.lookup_events,
            regions: &self.regions,
            profile: self.profile.as_deref(),
            role_arn: self.role_arn.as_deref(),
            external_id: sealed,
            session_name: self.session_name.as_deref(),
            endpoint_url: self.endpoint_url.as_deref(),
            backfill_days: self.backfill_days,
            retain_days: self.retain_days,
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A taken name is said as such.
fn named(e: sqlx::Error, name: &str) -> SourceError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            SourceError::Duplicate(name.to_owned())
        }
        e => e.into(),
    }
}

/// Adds a source, with its audit line; returns its id.
pub async fn add(
    pool: &SqlitePool,
    secrets: &SecretBox,
    spec: SourceSpec,
    line: &AuditLine<'_>,
) -> Result<i64, SourceError> {
    let spec = spec.validate()?;
    let sealed = spec.external_id.as_deref().map(|x| secrets.seal(x));
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let id = store::insert(&mut tx, &spec.settings(sealed.as_deref()), now_ms())
        .await
        .map_err(|e| named(e, &spec.name))?;
    audit::write_line(&mut tx, line).await?;
    tx.commit().await?;
    Ok(id)
}

/// Replaces the settings of the source `name` with `spec` (which may rename it), with its
/// audit line. The sealed external ID is kept when `spec` brings none, unless
/// `clear_external_id`.
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
    let sealed = spec.external_id.as_deref().map(|x| secrets.seal(x));
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let renamed = spec.name != name;
    // The LookupEvents checkpoints are named after the source.
    if renamed && ledger::has_lookup_rows(&mut tx, &spec.name).await? {
        return Err(SourceError::Invalid(format!(
            "LookupEvents checkpoints named {:?} exist already",
            spec.name
        )));
    }
    store::write_settings(
        &mut tx,
        old.id,
        &spec.settings(sealed.as_deref()),
        kept,
        now_ms(),
    )
    .await
    .map_err(|e| named(e, &spec.name))?;
    if renamed {
        ledger::rename_lookup(&mut tx, name, &spec.name).await?;
    }
    audit::write_line(&mut tx, line).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn list(pool: &SqlitePool) -> Result<Vec<SourceRow>, SourceError> {
    Ok(store::rows(pool).await?)
}

pub async fn get(pool: &SqlitePool, name: &str) -> Result<SourceRow, SourceError> {
    store::row(pool, name)
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
    let sealed = store::sealed_external_id(pool, row.id).await?;
    let external_id = sealed.map(|s| secrets.open(&s)).transpose()?;
    Ok(Source { row, external_id })
}

/// Removes a source, its sync history and its LookupEvents checkpoints (so a source
/// added again under the name bootstraps afresh), with its audit line. Its events stay.
pub async fn remove(
    pool: &SqlitePool,
    name: &str,
    line: &AuditLine<'_>,
) -> Result<(), SourceError> {
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    if store::delete(&mut tx, name).await? == 0 {
        return Err(SourceError::NotFound(name.to_owned()));
    }
    ledger::delete_lookup(&mut tx, name).await?;
    audit::write_line(&mut tx, line).await?;
    tx.commit().await?;
    Ok(())
}

/// Pauses or resumes a source, with its audit line.
pub async fn set_paused(
    pool: &SqlitePool,
    name: &str,
    paused: bool,
    line: &AuditLine<'_>,
) -> Result<(), SourceError> {
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    if store::write_paused(&mut tx, name, paused, now_ms()).await? == 0 {
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
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    store::insert_check(&mut tx, source_id, by, lines, now_ms()).await?;
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
