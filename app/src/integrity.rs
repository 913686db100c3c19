//! Integrity of the delivered logs: what each trail's hourly digest files vouch for,
//! per trail and day, with the exact keys of what failed. The checks themselves run on
//! the server (`server::trails::verify`); this is what the pages and the command line
//! show of them.

use serde::{Deserialize, Serialize};

/// What can fail, as `integrity_problems.kind` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A listed log file whose content is not what the digest hashed.
    Modified,
    /// A listed log file that is no longer in the bucket.
    Missing,
    /// A log file delivered in an hour a valid digest covers that no digest lists.
    Extra,
    /// A digest the chain names is gone from the bucket.
    DigestMissing,
    /// A digest that cannot be read, was moved, or whose signature does not verify.
    DigestInvalid,
    /// A digest whose predecessor is not the one it names (hash or signature differ).
    Chain,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 6] = [
        ProblemKind::Modified,
        ProblemKind::Missing,
        ProblemKind::Extra,
        ProblemKind::DigestMissing,
        ProblemKind::DigestInvalid,
        ProblemKind::Chain,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Modified => "modified",
            ProblemKind::Missing => "missing",
            ProblemKind::Extra => "extra",
            ProblemKind::DigestMissing => "digest_missing",
            ProblemKind::DigestInvalid => "digest_invalid",
            ProblemKind::Chain => "chain",
        }
    }

    pub fn parse(s: &str) -> Option<ProblemKind> {
        ProblemKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// How a person reads it.
    pub fn label(self) -> &'static str {
        match self {
            ProblemKind::Modified => "log file modified",
            ProblemKind::Missing => "log file deleted",
            ProblemKind::Extra => "log file no digest lists",
            ProblemKind::DigestMissing => "digest file deleted",
            ProblemKind::DigestInvalid => "digest file invalid",
            ProblemKind::Chain => "digest chain broken",
        }
    }
}

/// One trail's checks on one day (UTC, by the digest's end time).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Day {
    pub trail: String,
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Digest files read, and those whose signature verified.
    pub digests: i64,
    pub digests_valid: i64,
    /// Log files the valid digests list, and how they fared.
    pub files: i64,
    pub verified: i64,
    pub modified: i64,
    pub missing: i64,
    /// Problems found by kind, for this day (extra files, missing digests and chain
    /// breaks come from the problem list).
    pub extra: i64,
    pub digests_missing: i64,
    pub digests_invalid: i64,
    pub chain: i64,
}

impl Day {
    /// Whether anything failed this day.
    pub fn failed(&self) -> bool {
        self.modified + self.missing + self.extra + self.digests_missing + self.digests_invalid + self.chain > 0
    }
}

/// One failure, with the exact key it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub trail: String,
    pub kind: ProblemKind,
    /// `s3://bucket/key` of the file concerned.
    pub location: String,
    /// The hour it belongs to (the digest's end, or the log file's delivery time).
    pub at_ms: i64,
    /// The digest that showed it, when one did.
    pub digest: Option<String>,
    pub detail: String,
}

/// A trail's integrity over a range: its days, its problems (newest first, at most
/// [`PROBLEMS_SHOWN`]) and how many problems there are in all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub days: Vec<Day>,
    pub problems: Vec<Problem>,
    pub problems_total: i64,
    /// The newest digest read for the trail, ever.
    pub newest_digest_ms: Option<i64>,
}

/// Problems a report lists in full.
pub const PROBLEMS_SHOWN: i64 = 200;

/// Failures of one trail in all, by kind (for its finding).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub by_kind: Vec<(ProblemKind, i64)>,
    pub first_ms: i64,
    pub last_ms: i64,
}

impl Totals {
    pub fn count(&self) -> i64 {
        self.by_kind.iter().map(|(_, n)| n).sum()
    }

    /// "1 log file modified, 2 log files deleted".
    pub fn sentence(&self) -> String {
        self.by_kind
            .iter()
            .map(|(k, n)| {
                let label = k.label();
                if *n == 1 {
                    format!("1 {label}")
                } else {
                    // "log file modified" → "log files modified".
                    let plural = label.replacen("file ", "files ", 1);
                    let plural = if plural == label { format!("{label}s") } else { plural };
                    format!("{n} {plural}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The parts of a digest file's key: `…/<account>_CloudTrail-Digest_<region>_<trail>_
/// <home-region>_<YYYYMMDDTHHmmssZ>[_backfill].json.gz`. Trail names may hold `_`;
/// Regions never do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestName {
    pub account: String,
    pub region: String,
    pub trail: String,
    pub home_region: String,
    /// The digest's end, from the name.
    pub end_ms: i64,
    pub backfill: bool,
}

impl DigestName {
    pub fn parse(key: &str) -> Option<DigestName> {
        let file = key.rsplit('/').next()?;
        let stem = file.strip_suffix(".json.gz").or_else(|| file.strip_suffix(".json"))?;
        let (stem, backfill) = match stem.strip_suffix("_backfill") {
            Some(s) => (s, true),
            None => (stem, false),
        };
        let (account, rest) = stem.split_once("_CloudTrail-Digest_")?;
        let (rest, stamp) = rest.rsplit_once('_')?;
        let end = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").ok()?;
        let (region, rest) = rest.split_once('_')?;
        let (trail, home_region) = rest.rsplit_once('_')?;
        if account.is_empty() || region.is_empty() || trail.is_empty() || home_region.is_empty() {
            return None;
        }
        Some(DigestName {
            account: account.to_owned(),
            region: region.to_owned(),
            trail: trail.to_owned(),
            home_region: home_region.to_owned(),
            end_ms: end.and_utc().timestamp_millis(),
            backfill,
        })
    }
}

/// The delivery time in a log file's name (`…_<YYYYMMDDTHHmmZ>_<16 chars>.json.gz`).
pub fn log_file_time(key: &str) -> Option<i64> {
    let file = key.rsplit('/').next()?;
    let mut parts = file.rsplitn(3, '_');
    let _suffix = parts.next()?;
    let stamp = parts.next()?;
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%MZ")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

/// Reads a trail's days and problems over `from..to` (ms).
#[cfg(feature = "ssr")]
pub async fn report(
    pool: &sqlx::SqlitePool,
    trail: &str,
    from: i64,
    to: i64,
) -> Result<Report, sqlx::Error> {
    crate::db::integrity::report(pool, trail, from, to).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_names_are_read_with_underscores_in_trail_names() {
        let d = DigestName::parse("p/AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_my_trail_us-east-1_20150817T150131Z.json.gz").unwrap();
        assert_eq!(d.account, "111122223333");
        assert_eq!(d.region, "us-east-2");
        assert_eq!(d.trail, "my_trail");
        assert_eq!(d.home_region, "us-east-1");
        assert_eq!(d.end_ms, 1_439_823_691_000);
        assert!(!d.backfill);
        let b = DigestName::parse("AWSLogs/1/CloudTrail-Digest/eu-west-1/2015/08/17/1_CloudTrail-Digest_eu-west-1_t_eu-west-1_20150817T150131Z_backfill.json.gz").unwrap();
        assert!(b.backfill);
        assert_eq!(b.trail, "t");
        for bad in [
            "x.json.gz",
            "1_CloudTrail-Digest_eu-west-1_t_eu-west-1_2015.json.gz",
            "1_CloudTrail-Digest_eu-west-1_20150817T150131Z.json.gz",
            "1_CloudTrail_eu-west-1_20150817T1501Z_abc.json.gz",
        ] {
            assert_eq!(DigestName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn log_file_times_come_from_the_name() {
        assert_eq!(
            log_file_time("AWSLogs/1/CloudTrail/us-east-1/2015/08/17/1_CloudTrail_us-east-1_20150817T1445Z_9nYN7gp2eWAJHIfT.json.gz"),
            Some(1_439_822_700_000)
        );
        assert_eq!(log_file_time("a/b/notes.json.gz"), None);
    }

    #[test]
    fn totals_read_as_a_sentence() {
        let t = Totals {
            by_kind: vec![(ProblemKind::Modified, 1), (ProblemKind::Missing, 2), (ProblemKind::DigestInvalid, 3)],
            first_ms: 0,
            last_ms: 0,
        };
        assert_eq!(t.count(), 6);
        assert_eq!(t.sentence(), "1 log file modified, 2 log files deleted, 3 digest files invalid");
    }
}
