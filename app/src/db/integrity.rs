//! The integrity checks' tables (`digests`, `digest_listed`, `integrity_problems`) and
//! the uncompressed hashes the ledger keeps for them. Written by the server's verifier,
//! one transaction per digest file.

use crate::integrity::{Day, Problem, ProblemKind, Report, Totals};
use sqlx::SqlitePool;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A digest file as checked.
#[derive(Debug, Clone, Default)]
pub struct DigestRow {
    pub origin: String,
    pub key: String,
    pub trail_arn: String,
    pub account: String,
    pub region: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// `valid` or `invalid`.
    pub state: &'static str,
    pub reason: Option<String>,
    pub sha256: Option<String>,
    pub signature: Option<String>,
    pub previous_key: Option<String>,
    pub files: i64,
    pub verified: i64,
    pub modified: i64,
    pub missing: i64,
}

/// A failure to record.
#[derive(Debug, Clone)]
pub struct NewProblem {
    pub kind: ProblemKind,
    pub key: String,
    pub trail_arn: String,
    pub at_ms: i64,
    pub digest_key: Option<String>,
    pub detail: String,
}

/// The digest keys of `origin` already checked between `lo` and `hi`.
pub async fn checked_keys(
    pool: &SqlitePool,
    origin: &str,
    lo: &str,
    hi: &str,
) -> Result<HashSet<String>, sqlx::Error> {
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT key FROM digests WHERE origin = ?1 AND key >= ?2 AND key < ?3")
            .bind(origin)
            .bind(lo)
            .bind(hi)
            .fetch_all(pool)
            .await?;
    Ok(keys.into_iter().collect())
}

/// The newest digest key of `origin` checked between `lo` and `hi` (a folder's checkpoint).
pub async fn newest_key(
    pool: &SqlitePool,
    origin: &str,
    lo: &str,
    hi: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT max(key) FROM digests WHERE origin = ?1 AND key >= ?2 AND key < ?3")
        .bind(origin)
        .bind(lo)
        .bind(hi)
        .fetch_one(pool)
        .await
}

/// A checked digest's state, content hash and signature (what its successor chains to).
pub async fn chain_link(
    pool: &SqlitePool,
    origin: &str,
    key: &str,
) -> Result<Option<(String, Option<String>, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT state, sha256, signature FROM digests WHERE origin = ?1 AND key = ?2")
        .bind(origin)
        .bind(key)
        .fetch_optional(pool)
        .await
}

/// The uncompressed hash the ledger holds for a file: `None` when the file was never
/// imported, `Some(None)` when it was imported before such hashes were kept (or failed).
pub async fn content_hash(
    pool: &SqlitePool,
    origin: &str,
    key: &str,
) -> Result<Option<Option<String>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CASE WHEN status = 'imported' THEN content_sha256 END
         FROM ingest_files WHERE source = ?1 AND path = ?2",
    )
    .bind(origin)
    .bind(key)
    .fetch_optional(pool)
    .await
}

/// Records a checked digest, the files it lists and what failed, in one transaction.
/// A file it lists is no longer "extra".
pub async fn write(
    pool: &SqlitePool,
    d: &DigestRow,
    listed: &[String],
    problems: &[NewProblem],
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin_with(crate::db::BEGIN_WRITE).await?;
    sqlx::query(
        "INSERT INTO digests (origin, key, trail_arn, account, region, start_ms, end_ms, state,
            reason, sha256, signature, previous_key, files, verified, modified, missing, checked_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT (origin, key) DO UPDATE SET trail_arn = excluded.trail_arn,
            start_ms = excluded.start_ms, end_ms = excluded.end_ms, state = excluded.state,
            reason = excluded.reason, sha256 = excluded.sha256, signature = excluded.signature,
            previous_key = excluded.previous_key, files = excluded.files,
            verified = excluded.verified, modified = excluded.modified,
            missing = excluded.missing, checked_at = excluded.checked_at",
    )
    .bind(&d.origin)
    .bind(&d.key)
    .bind(&d.trail_arn)
    .bind(&d.account)
    .bind(&d.region)
    .bind(d.start_ms)
    .bind(d.end_ms)
    .bind(d.state)
    .bind(&d.reason)
    .bind(&d.sha256)
    .bind(&d.signature)
    .bind(&d.previous_key)
    .bind(d.files)
    .bind(d.verified)
    .bind(d.modified)
    .bind(d.missing)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    for key in listed {
        sqlx::query("INSERT OR IGNORE INTO digest_listed (origin, key, digest_key) VALUES (?1, ?2, ?3)")
            .bind(&d.origin)
            .bind(key)
            .bind(&d.key)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM integrity_problems WHERE origin = ?1 AND kind = 'extra' AND key = ?2")
            .bind(&d.origin)
            .bind(key)
            .execute(&mut *tx)
            .await?;
    }
    insert_problems(&mut tx, &d.origin, problems, now_ms).await?;
    tx.commit().await
}

async fn insert_problems(
    conn: &mut sqlx::SqliteConnection,
    origin: &str,
    problems: &[NewProblem],
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    for p in problems {
        sqlx::query(
            "INSERT INTO integrity_problems (origin, kind, key, trail_arn, at_ms, digest_key, detail, found_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (origin, kind, key) DO UPDATE SET trail_arn = excluded.trail_arn,
                at_ms = excluded.at_ms, digest_key = excluded.digest_key, detail = excluded.detail",
        )
        .bind(origin)
        .bind(p.kind.as_str())
        .bind(&p.key)
        .bind(&p.trail_arn)
        .bind(p.at_ms)
        .bind(&p.digest_key)
        .bind(&p.detail)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Records problems found outside a digest's own check (files no digest lists).
pub async fn add_problems(
    pool: &SqlitePool,
    origin: &str,
    problems: &[NewProblem],
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    insert_problems(&mut conn, origin, problems, now_ms).await
}

/// Files the ledger holds from `origin` between keys `lo` and `hi` that no digest lists.
pub async fn unlisted(
    pool: &SqlitePool,
    origin: &str,
    lo: &str,
    hi: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT f.path FROM ingest_files f
         WHERE f.source = ?1 AND f.path >= ?2 AND f.path < ?3
           AND NOT EXISTS (SELECT 1 FROM digest_listed l WHERE l.origin = ?1 AND l.key = f.path)
         ORDER BY f.path",
    )
    .bind(origin)
    .bind(lo)
    .bind(hi)
    .fetch_all(pool)
    .await
}

/// Valid digests' hours of `origin` for one account and Region folder, from `from_ms`:
/// the windows in which every delivered log file should be listed.
pub async fn valid_windows(
    pool: &SqlitePool,
    origin: &str,
    account: &str,
    region: &str,
    from_ms: i64,
) -> Result<Vec<(i64, i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT start_ms, end_ms, trail_arn FROM digests
         WHERE origin = ?1 AND account = ?2 AND region = ?3 AND state = 'valid' AND end_ms >= ?4
         ORDER BY start_ms",
    )
    .bind(origin)
    .bind(account)
    .bind(region)
    .bind(from_ms)
    .fetch_all(pool)
    .await
}

fn day_of(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// A trail's days and problems over `from..to` (digests by their end, problems by their
/// hour), newest day first.
pub async fn report(
    pool: &SqlitePool,
    trail: &str,
    from: i64,
    to: i64,
) -> Result<Report, sqlx::Error> {
    type DigestAgg = (i64, bool, i64, i64, i64, i64);
    let rows: Vec<DigestAgg> = sqlx::query_as(
        "SELECT end_ms, state = 'valid', files, verified, modified, missing FROM digests
         WHERE trail_arn = ?1 AND end_ms >= ?2 AND end_ms < ?3",
    )
    .bind(trail)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let mut days: BTreeMap<String, Day> = BTreeMap::new();
    for (end, valid, files, verified, modified, missing) in rows {
        let day = day_of(end);
        let d = days.entry(day.clone()).or_insert_with(|| Day {
            trail: trail.to_owned(),
            day,
            ..Day::default()
        });
        d.digests += 1;
        if valid {
            d.digests_valid += 1;
            d.files += files;
            d.verified += verified;
            d.modified += modified;
            d.missing += missing;
        }
    }
    type ProblemRow = (String, String, String, i64, Option<String>, String);
    let problems: Vec<ProblemRow> = sqlx::query_as(
        "SELECT origin, kind, key, at_ms, digest_key, detail FROM integrity_problems
         WHERE trail_arn = ?1 AND at_ms >= ?2 AND at_ms < ?3
         ORDER BY at_ms DESC, kind, key",
    )
    .bind(trail)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let mut listed = Vec::new();
    for (origin, kind, key, at_ms, digest_key, detail) in &problems {
        let Some(kind) = ProblemKind::parse(kind) else { continue };
        let day = day_of(*at_ms);
        let d = days.entry(day.clone()).or_insert_with(|| Day {
            trail: trail.to_owned(),
            day,
            ..Day::default()
        });
        match kind {
            ProblemKind::Extra => d.extra += 1,
            ProblemKind::DigestMissing => d.digests_missing += 1,
            ProblemKind::DigestInvalid => d.digests_invalid += 1,
            ProblemKind::Chain => d.chain += 1,
            // Counted from the digests themselves.
            ProblemKind::Modified | ProblemKind::Missing => {}
        }
        if (listed.len() as i64) < crate::integrity::PROBLEMS_SHOWN {
            listed.push(Problem {
                trail: trail.to_owned(),
                kind,
                location: format!("{origin}/{key}"),
                at_ms: *at_ms,
                digest: digest_key.as_ref().map(|k| format!("{origin}/{k}")),
                detail: detail.clone(),
            });
        }
    }
    let newest_digest_ms: Option<i64> =
        sqlx::query_scalar("SELECT max(end_ms) FROM digests WHERE trail_arn = ?1")
            .bind(trail)
            .fetch_one(pool)
            .await?;
    Ok(Report {
        days: days.into_values().rev().collect(),
        problems_total: problems.len() as i64,
        problems: listed,
        newest_digest_ms,
    })
}

/// Every trail's failures in all, by kind.
pub async fn totals(pool: &SqlitePool) -> Result<HashMap<String, Totals>, sqlx::Error> {
    let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT trail_arn, kind, count(*), min(at_ms), max(at_ms) FROM integrity_problems
         GROUP BY trail_arn, kind ORDER BY trail_arn, kind",
    )
    .fetch_all(pool)
    .await?;
    let mut out: HashMap<String, Totals> = HashMap::new();
    for (trail, kind, n, first, last) in rows {
        let Some(kind) = ProblemKind::parse(&kind) else { continue };
        let t = out.entry(trail).or_insert_with(|| Totals {
            first_ms: first,
            last_ms: last,
            ..Totals::default()
        });
        t.by_kind.push((kind, n));
        t.first_ms = t.first_ms.min(first);
        t.last_ms = t.last_ms.max(last);
    }
    for t in out.values_mut() {
        t.by_kind.sort();
    }
    Ok(out)
}

/// Per trail, the end of the newest digest read from the bucket (valid or not).
pub async fn newest_digests(pool: &SqlitePool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT trail_arn, max(end_ms) FROM digests GROUP BY trail_arn")
        .fetch_all(pool)
        .await
}

/// Per bucket and key prefix of a source, when its integrity checks last finished a pass
/// without failing: digests delivered before then were listed.
pub async fn last_passes(pool: &SqlitePool) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.bucket, s.prefix, max(r.finished_at) FROM sync_runs r JOIN sources s ON s.id = r.source_id
         WHERE r.feed = 'integrity' AND r.state IN ('ok', 'partial') AND r.finished_at IS NOT NULL
           AND s.bucket IS NOT NULL
         GROUP BY s.bucket, s.prefix",
    )
    .fetch_all(pool)
    .await
}

/// The trails with digests read, for the command line.
pub async fn trails_checked(pool: &SqlitePool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT DISTINCT trail_arn FROM digests ORDER BY 1")
        .fetch_all(pool)
        .await
}
