//! The ingest ledger (`ingest_files`) as the import and the sync read it: the names its
//! feeds file their rows under, what is imported already, each bucket folder's
//! checkpoint, how far the LookupEvents bootstrap has come, and the checkpoints a
//! source's rename or removal carries along. The rows themselves are written by the
//! import (`server::ingest::store`), each in the transaction of the events it records.

use crate::model::RegionProgress;
use sqlx::{SqliteConnection, SqlitePool};
use std::collections::{BTreeMap, HashMap};

/// What the ledger says about the LookupEvents feed in one Region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The latest window asked for, `(start, end)` in ms.
    pub window: Option<(i64, i64)>,
    /// The oldest event time committed in that window.
    pub reached: Option<i64>,
    pub done: bool,
    /// Whether some window was read to its start (the bootstrap is over).
    pub bootstrapped: bool,
}

impl Progress {
    /// The share of the latest window read, 0 to 1.
    pub fn fraction(&self) -> f64 {
        match (self.window, self.reached, self.done) {
            (_, _, true) => 1.0,
            (Some((s, e)), Some(r), _) if e > s => {
                ((e - r) as f64 / (e - s) as f64).clamp(0.0, 1.0)
            }
            _ => 0.0,
        }
    }
}

/// Reads the ledger rows of one Region: `<region>/<start>-<end>/<oldest ms>`, and
/// `<region>/<start>-<end>/done` once a window is read to its start.
pub fn progress_of(paths: &[String]) -> Progress {
    let mut windows: BTreeMap<(i64, i64), (Option<i64>, bool)> = BTreeMap::new();
    for p in paths {
        let mut parts = p.split('/').skip(1);
        let (Some(w), Some(last)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some((s, e)) = w.split_once('-') else {
            continue;
        };
        let (Ok(s), Ok(e)) = (s.parse::<i64>(), e.parse::<i64>()) else {
            continue;
        };
        let entry = windows.entry((e, s)).or_default();
        if last == "done" {
            entry.1 = true;
        } else if let Ok(t) = last.parse::<i64>() {
            entry.0 = Some(entry.0.map_or(t, |r: i64| r.min(t)));
        }
    }
    let bootstrapped = windows.values().any(|(_, done)| *done);
    match windows.into_iter().next_back() {
        Some(((e, s), (reached, done))) => Progress {
            window: Some((s, e)),
            reached,
            done,
            bootstrapped,
        },
        None => Progress::default(),
    }
}

/// The ledger's name for the files of a trail bucket.
pub fn bucket_name(bucket: &str) -> String {
    format!("s3://{bucket}")
}

/// The ledger's name for the LookupEvents pages of `source`.
pub fn lookup_name(source: &str) -> String {
    format!("lookup://{source}")
}

/// The bootstrap's progress in each Region it has started.
pub async fn lookup_progress(
    pool: &SqlitePool,
    source: &str,
) -> Result<Vec<RegionProgress>, sqlx::Error> {
    let paths: Vec<String> =
        sqlx::query_scalar("SELECT path FROM ingest_files WHERE source = ?1 ORDER BY path")
            .bind(lookup_name(source))
            .fetch_all(pool)
            .await?;
    let mut by_region: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in paths {
        if let Some((region, _)) = p.split_once('/') {
            by_region.entry(region.to_owned()).or_default().push(p);
        }
    }
    Ok(by_region
        .into_iter()
        .map(|(region, paths)| {
            let p = progress_of(&paths);
            RegionProgress {
                region,
                reached_ms: p.reached,
                start_ms: p.window.map_or(0, |w| w.0),
                done: p.done || p.bootstrapped,
                fraction: if p.bootstrapped { 1.0 } else { p.fraction() },
            }
        })
        .collect())
}

/// The ledger rows of the LookupEvents pages of `source` in `region`.
pub async fn lookup_progress_in(
    pool: &SqlitePool,
    source: &str,
    region: &str,
) -> Result<Progress, sqlx::Error> {
    let paths: Vec<String> = sqlx::query_scalar(
        "SELECT path FROM ingest_files WHERE source = ?1 AND path > ?2 AND path < ?3",
    )
    .bind(lookup_name(source))
    .bind(format!("{region}/"))
    .bind(format!("{region}0"))
    .fetch_all(pool)
    .await?;
    Ok(progress_of(&paths))
}

/// The Regions whose files or pages `ledger` has recorded.
pub async fn regions_of(pool: &SqlitePool, ledger: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT region FROM ingest_files WHERE source = ?1 AND region IS NOT NULL",
    )
    .bind(ledger)
    .fetch_all(pool)
    .await
}

/// Files (or pages) `ledger` has committed since `since`.
pub async fn files_since(pool: &SqlitePool, ledger: &str, since: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM ingest_files WHERE source = ?1 AND imported_at >= ?2")
        .bind(ledger)
        .bind(since)
        .fetch_one(pool)
        .await
}

/// What the ledger knows of one file: `(size, modified ms)`.
pub type FileMark = (i64, Option<i64>);

/// The files `ledger` imported, by path: what an import skips when unchanged.
pub async fn imported_files(
    pool: &SqlitePool,
    ledger: &str,
) -> Result<HashMap<String, FileMark>, sqlx::Error> {
    let rows = sqlx::query_as::<_, (String, i64, Option<i64>)>(
        "SELECT path, size, modified FROM ingest_files WHERE source = ?1 AND status = 'imported'",
    )
    .bind(ledger)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(p, s, m)| (p, (s, m))).collect())
}

/// The files `ledger` recorded with paths strictly between `after` and `before`.
pub async fn files_between(
    pool: &SqlitePool,
    ledger: &str,
    after: &str,
    before: &str,
) -> Result<HashMap<String, FileMark>, sqlx::Error> {
    let rows = sqlx::query_as::<_, (String, i64, Option<i64>)>(
        "SELECT path, size, modified FROM ingest_files WHERE source = ?1 AND path > ?2 AND path < ?3",
    )
    .bind(ledger)
    .bind(after)
    .bind(before)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(p, s, m)| (p, (s, m))).collect())
}

/// The newest path `ledger` recorded between `after` and `before` (a bucket folder's
/// checkpoint: its keys sort by time).
pub async fn newest_path(
    pool: &SqlitePool,
    ledger: &str,
    after: &str,
    before: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT max(path) FROM ingest_files WHERE source = ?1 AND path > ?2 AND path < ?3",
    )
    .bind(ledger)
    .bind(after)
    .bind(before)
    .fetch_one(pool)
    .await
}

/// What the ledger knows of the file at `path`.
pub async fn file(
    pool: &SqlitePool,
    ledger: &str,
    path: &str,
) -> Result<Option<FileMark>, sqlx::Error> {
    sqlx::query_as("SELECT size, modified FROM ingest_files WHERE source = ?1 AND path = ?2")
        .bind(ledger)
        .bind(path)
        .fetch_optional(pool)
        .await
}

/// Whether LookupEvents checkpoints are filed under `source` already.
pub async fn has_lookup_rows(
    conn: &mut SqliteConnection,
    source: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ingest_files WHERE source = ?1)")
        .bind(lookup_name(source))
        .fetch_one(conn)
        .await
}

/// Moves the LookupEvents checkpoints of a renamed source to its new name.
pub async fn rename_lookup(
    conn: &mut SqliteConnection,
    from: &str,
    to: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE ingest_files SET source = ?2 WHERE source = ?1")
        .bind(lookup_name(from))
        .bind(lookup_name(to))
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets the LookupEvents checkpoints of a removed source, so one added again under
/// the name bootstraps afresh.
pub async fn delete_lookup(conn: &mut SqliteConnection, source: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM ingest_files WHERE source = ?1")
        .bind(lookup_name(source))
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_read_from_the_ledger_rows() {
        assert_eq!(progress_of(&[]), Progress::default());
        let rows = [
            "us-east-1/100-900/700".to_owned(),
            "us-east-1/100-900/500".to_owned(),
            "us-east-1/100-900/done".to_owned(),
            "us-east-1/880-2000/1500".to_owned(),
            "us-east-1/880-2000/1200".to_owned(),
            "us-east-1/bad/row".to_owned(),
        ];
        let p = progress_of(&rows);
        assert_eq!(p.window, Some((880, 2000)));
        assert_eq!(p.reached, Some(1200));
        assert!(!p.done && p.bootstrapped);
        assert!((p.fraction() - 800.0 / 1120.0).abs() < 1e-9);
    }
}
