//! Integrity of the delivered logs: the digest chain of every trail that delivers to a
//! source's bucket, checked as the files arrive (a feed of every sync pass) and from the
//! shell (`cairn verify`).
//!
//! For each new digest file (hourly, per account, Region and trail):
//! - its signature: RSA with SHA-256 over `digestEndTime \n bucket/key \n
//!   hex(SHA-256 of the digest's content) \n previousDigestSignature (or "null")`, with
//!   the public key `cloudtrail:ListPublicKeys` gives for its fingerprint;
//! - that it sits where it says it was delivered;
//! - each log file it lists against the SHA-256 of its uncompressed content, as the import
//!   took it (the bucket is read only for files not imported, or imported before these
//!   hashes were kept): modified, deleted;
//! - the chain: the digest it names as previous is still there, with the hash and the
//!   signature it recorded;
//! - then, per account and Region, the log files delivered in an hour a valid digest
//!   covers that no digest lists.
//!
//! One transaction per digest: a pass stopped half-way starts again at the first digest it
//! had not recorded.

use crate::ingest::source::LogKind;
use crate::sync::bucket::{Bucket, Folder};
use crate::sync::sources::Source;
use crate::sync::{Options, PassReport, Problem, SyncError, aws};
use app::db::integrity::{self as db, DigestRow, NewProblem};
use app::integrity::{DigestName, ProblemKind, log_file_time};
use aws_sdk_cloudtrail::primitives::DateTime;
use chrono::NaiveDate;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::io::Read;

/// The largest digest or log file read whole (uncompressed); a digest lists one entry
/// per log file of an hour, a log file is a few MB.
const MAX_CONTENT: u64 = 512 << 20;

/// A delivered file is listed by the digest of the hour it arrived in; one whose
/// minute reaches past the last digest's end may be in the next one.
const MINUTE_MS: i64 = 60_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DigestFile {
    digest_start_time: String,
    digest_end_time: String,
    digest_s3_bucket: String,
    digest_s3_object: String,
    digest_public_key_fingerprint: String,
    #[serde(default)]
    digest_signature_algorithm: Option<String>,
    #[serde(default)]
    previous_digest_s3_bucket: Option<String>,
    #[serde(default)]
    previous_digest_s3_object: Option<String>,
    #[serde(default)]
    previous_digest_hash_value: Option<String>,
    /// Present and `null` on the first digest of a chain.
    previous_digest_signature: Option<String>,
    #[serde(default)]
    log_files: Vec<LogFileEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogFileEntry {
    s3_bucket: String,
    s3_object: String,
    hash_value: String,
}

/// Why a digest file does not vouch for anything.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("cannot be read: {0}")]
    Unreadable(String),
    #[error("is not a digest file: {0}")]
    Format(String),
    #[error("has been moved: it says it was delivered to s3://{0}/{1}")]
    Moved(String, String),
    #[error("carries no signature (x-amz-meta-signature)")]
    Unsigned,
    #[error("is signed with {0}, not SHA256withRSA")]
    Algorithm(String),
    #[error("names a public key CloudTrail does not list for {region}: fingerprint {fingerprint}")]
    NoKey { region: String, fingerprint: String },
    #[error("has a signature that does not verify: it was altered, or not signed by CloudTrail")]
    Signature,
}

/// The signing string of a digest, as CloudTrail builds it.
pub fn signing_string(
    end_time: &str,
    bucket: &str,
    key: &str,
    content_sha256: &str,
    previous_signature: Option<&str>,
) -> String {
    format!(
        "{end_time}\n{bucket}/{key}\n{content_sha256}\n{}",
        previous_signature.unwrap_or("null")
    )
}

/// Whether `signature_hex` is a valid RSA PKCS#1 v1.5 SHA-256 signature of `message`
/// under `public_key_der` (a PKCS#1 `RSAPublicKey`, as `ListPublicKeys` returns it).
pub fn signature_verifies(public_key_der: &[u8], message: &[u8], signature_hex: &str) -> bool {
    let Ok(signature) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        public_key_der,
    )
    .verify(message, &signature)
    .is_ok()
}

/// SHA-256 of a file's content: uncompressed when it is gzip.
fn content_sha256(bytes: &[u8]) -> Result<(String, Vec<u8>), String> {
    let mut content = Vec::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(bytes)
            .take(MAX_CONTENT)
            .read_to_end(&mut content)
            .map_err(|e| format!("gzip: {e}"))?;
    } else {
        content.extend_from_slice(bytes);
    }
    Ok((hex::encode(Sha256::digest(&content)), content))
}

/// CloudTrail's public keys, by fingerprint, asked for once per home Region and range.
struct PublicKeys<'a> {
    source: &'a Source,
    tuning: &'a aws::Tuning,
    keys: HashMap<String, Vec<u8>>,
    asked: std::collections::HashSet<(String, i64)>,
}

impl<'a> PublicKeys<'a> {
    async fn get(
        &mut self,
        region: &str,
        fingerprint: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Option<Vec<u8>>, SyncError> {
        if let Some(k) = self.keys.get(fingerprint) {
            return Ok(Some(k.clone()));
        }
        // One call per Region and day is enough: keys rotate rarely.
        let day = start_ms.div_euclid(86_400_000);
        if self.asked.insert((region.to_owned(), day)) {
            let config = aws::config(self.source, region, self.tuning).await;
            let client = aws_sdk_cloudtrail::Client::new(&config);
            let mut token: Option<String> = None;
            loop {
                let out = client
                    .list_public_keys()
                    .start_time(DateTime::from_millis(day * 86_400_000))
                    .end_time(DateTime::from_millis(end_ms.max((day + 1) * 86_400_000)))
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        SyncError::aws("cloudtrail:ListPublicKeys", region, aws::describe(&e))
                    })?;
                for k in out.public_key_list() {
                    if let (Some(f), Some(v)) = (k.fingerprint(), k.value()) {
                        self.keys.insert(f.to_owned(), v.as_ref().to_vec());
                    }
                }
                token = out.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(self.keys.get(fingerprint).cloned())
    }
}

/// What reading an object gave.
enum Fetched {
    Found { bytes: Vec<u8>, metadata: HashMap<String, String> },
    Gone,
}

async fn fetch(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Fetched, SyncError> {
    let out = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => o,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(Fetched::Gone),
        Err(e) => return Err(SyncError::aws("s3:GetObject", key, aws::describe(&e))),
    };
    let metadata = out.metadata().cloned().unwrap_or_default();
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| SyncError::aws("s3:GetObject", key, format!("body: {e}")))?
        .into_bytes()
        .to_vec();
    Ok(Fetched::Found { bytes, metadata })
}

/// The trail a digest speaks for: the ARN the inventory knows for its name and home
/// Region (an organization trail's ARN names the management account), else the one
/// its name implies.
fn trail_arn(trails: &[app::trails::Trail], name: &DigestName) -> String {
    trails
        .iter()
        .find(|t| t.name == name.trail && t.home_region.as_deref() == Some(name.home_region.as_str()))
        .map(|t| t.arn.clone())
        .unwrap_or_else(|| {
            format!(
                "arn:aws:cloudtrail:{}:{}:trail/{}",
                name.home_region, name.account, name.trail
            )
        })
}

/// One feed's pass: every digest folder of the source's bucket from its checkpoint.
pub async fn pass(
    pool: &SqlitePool,
    source: &Source,
    opts: &Options,
) -> Result<PassReport, SyncError> {
    let mut report = PassReport::default();
    let bucket = Bucket::open(source, &opts.tuning).await?;
    let folders = bucket.folders_of(source, &[LogKind::Digest]).await?;
    report.folders = folders.len() as u64;
    let trails = app::trails::fold(app::db::trails::latest_everywhere(pool).await?);
    let backfill_from = crate::sync::bucket::backfill_from(source);
    let mut keys = PublicKeys {
        source,
        tuning: &opts.tuning,
        keys: HashMap::new(),
        asked: Default::default(),
    };
    for folder in &folders {
        let mut check = Check {
            pool,
            bucket: &bucket,
            trails: &trails,
            keys: &mut keys,
            report: &mut report,
        };
        let checked = check.folder(folder, backfill_from).await;
        if let Err(e) = checked {
            report.problems.push(Problem {
                what: folder.prefix.clone(),
                error: e.to_string(),
            });
        }
    }
    Ok(report)
}

struct Check<'a, 'k> {
    pool: &'a SqlitePool,
    bucket: &'a Bucket,
    trails: &'a [app::trails::Trail],
    keys: &'a mut PublicKeys<'k>,
    report: &'a mut PassReport,
}

impl Check<'_, '_> {
    /// The new digests of one folder, then the files no digest lists.
    async fn folder(&mut self, folder: &Folder, backfill_from: NaiveDate) -> Result<(), SyncError> {
        let origin = &self.bucket.ledger;
        let end = format!("{}{}", folder.prefix, char::MAX);
        let newest = db::newest_key(self.pool, origin, &folder.prefix, &end).await?;
        let start_after = folder.listing_start(newest.as_deref(), backfill_from);
        let checked = db::checked_keys(self.pool, origin, &start_after, &end).await?;
        let mut new = Vec::new();
        for o in self.bucket.list_after(folder, &start_after).await? {
            let Some(key) = o.key() else { continue };
            if checked.contains(key) {
                continue;
            }
            match DigestName::parse(key) {
                Some(name) => new.push((name, key.to_owned())),
                None => tracing::debug!(key, "not a digest file name; left alone"),
            }
        }
        if new.is_empty() {
            return Ok(());
        }
        self.report.found += new.len() as u64;
        // Oldest first per trail: a digest's predecessor is checked before it.
        new.sort_by(|(a, ka), (b, kb)| {
            (&a.trail, &a.home_region, a.end_ms, ka).cmp(&(&b.trail, &b.home_region, b.end_ms, kb))
        });
        let earliest = new.iter().map(|(n, _)| n.end_ms).min().unwrap_or(0);
        for (name, key) in &new {
            self.digest(name, key).await?;
            self.report.files += 1;
        }
        self.unlisted(folder, earliest - 2 * 3_600_000).await
    }

    /// Checks one digest file and records what it found.
    async fn digest(&mut self, name: &DigestName, key: &str) -> Result<(), SyncError> {
        let origin = self.bucket.ledger.clone();
        let arn = trail_arn(self.trails, name);
        let mut row = DigestRow {
            origin: origin.clone(),
            key: key.to_owned(),
            trail_arn: arn.clone(),
            account: name.account.clone(),
            region: name.region.clone(),
            start_ms: name.end_ms - 3_600_000,
            end_ms: name.end_ms,
            state: "invalid",
            ..DigestRow::default()
        };
        let mut problems = Vec::new();
        let mut listed = Vec::new();
        let (bytes, metadata) = match fetch(&self.bucket.client, &self.bucket.name, key).await? {
            Fetched::Found { bytes, metadata } => (bytes, metadata),
            // Deleted since it was listed: the next digest's chain will say so.
            Fetched::Gone => return Ok(()),
        };
        let checked = self.read_digest(name, key, &bytes, &metadata, &mut row).await?;
        match checked {
            Err(why) => {
                let detail = format!("this digest {why}");
                row.reason = Some(why.to_string());
                problems.push(NewProblem {
                    kind: ProblemKind::DigestInvalid,
                    key: key.to_owned(),
                    trail_arn: arn.clone(),
                    at_ms: row.end_ms,
                    digest_key: None,
                    detail,
                });
            }
            Ok(digest) => {
                row.state = "valid";
                self.log_files(&digest, &arn, &mut row, &mut listed, &mut problems).await?;
                self.chain(&digest, key, &arn, &mut problems).await?;
            }
        }
        let now = chrono::Utc::now().timestamp_millis();
        db::write(self.pool, &row, &listed, &problems, now).await?;
        if !problems.is_empty() {
            tracing::warn!(digest = key, trail = %arn, problems = problems.len(), "log file integrity check failed");
        }
        Ok(())
    }

    /// Reads and authenticates a digest; fills in what the row keeps of it.
    async fn read_digest(
        &mut self,
        name: &DigestName,
        key: &str,
        bytes: &[u8],
        metadata: &HashMap<String, String>,
        row: &mut DigestRow,
    ) -> Result<Result<DigestFile, DigestError>, SyncError> {
        let (sha, content) = match content_sha256(bytes) {
            Ok(x) => x,
            Err(e) => return Ok(Err(DigestError::Unreadable(e))),
        };
        row.sha256 = Some(sha.clone());
        row.signature = metadata.get("signature").cloned();
        let digest: DigestFile = match serde_json::from_slice(&content) {
            Ok(d) => d,
            Err(e) => return Ok(Err(DigestError::Format(e.to_string()))),
        };
        let parse = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp_millis())
                .map_err(|e| DigestError::Format(format!("time {s:?}: {e}")))
        };
        match (parse(&digest.digest_start_time), parse(&digest.digest_end_time)) {
            (Ok(s), Ok(e)) => {
                row.start_ms = s;
                row.end_ms = e;
            }
            (Err(e), _) | (_, Err(e)) => return Ok(Err(e)),
        }
        row.previous_key = digest.previous_digest_s3_object.clone();
        if digest.digest_s3_bucket != self.bucket.name || digest.digest_s3_object != key {
            return Ok(Err(DigestError::Moved(
                digest.digest_s3_bucket.clone(),
                digest.digest_s3_object.clone(),
            )));
        }
        let Some(signature) = metadata.get("signature") else {
            return Ok(Err(DigestError::Unsigned));
        };
        let algorithm = metadata
            .get("signature-algorithm")
            .or(digest.digest_signature_algorithm.as_ref());
        if let Some(a) = algorithm.filter(|a| a.as_str() != "SHA256withRSA") {
            return Ok(Err(DigestError::Algorithm(a.clone())));
        }
        let Some(public_key) = self
            .keys
            .get(
                &name.home_region,
                &digest.digest_public_key_fingerprint,
                row.start_ms,
                row.end_ms,
            )
            .await?
        else {
            return Ok(Err(DigestError::NoKey {
                region: name.home_region.clone(),
                fingerprint: digest.digest_public_key_fingerprint.clone(),
            }));
        };
        let message = signing_string(
            &digest.digest_end_time,
            &digest.digest_s3_bucket,
            &digest.digest_s3_object,
            &sha,
            digest.previous_digest_signature.as_deref(),
        );
        if !signature_verifies(&public_key, message.as_bytes(), signature) {
            return Ok(Err(DigestError::Signature));
        }
        Ok(Ok(digest))
    }

    /// Each log file a valid digest lists, against the hash it records.
    async fn log_files(
        &mut self,
        digest: &DigestFile,
        arn: &str,
        row: &mut DigestRow,
        listed: &mut Vec<String>,
        problems: &mut Vec<NewProblem>,
    ) -> Result<(), SyncError> {
        for f in &digest.log_files {
            row.files += 1;
            let at_ms = log_file_time(&f.s3_object).unwrap_or(row.end_ms);
            let expected = f.hash_value.to_ascii_lowercase();
            let ours = if f.s3_bucket == self.bucket.name {
                listed.push(f.s3_object.clone());
                db::content_hash(self.pool, &self.bucket.ledger, &f.s3_object)
                    .await?
                    .flatten()
            } else {
                None
            };
            let actual = match ours {
                Some(h) => Some(h),
                None => match fetch(&self.bucket.client, &f.s3_bucket, &f.s3_object).await? {
                    Fetched::Gone => None,
                    Fetched::Found { bytes, .. } => match content_sha256(&bytes) {
                        Ok((h, _)) => Some(h),
                        Err(e) => Some(format!("unreadable ({e})")),
                    },
                },
            };
            match actual {
                Some(h) if h == expected => row.verified += 1,
                Some(h) => {
                    row.modified += 1;
                    problems.push(NewProblem {
                        kind: ProblemKind::Modified,
                        key: f.s3_object.clone(),
                        trail_arn: arn.to_owned(),
                        at_ms,
                        digest_key: Some(digest.digest_s3_object.clone()),
                        detail: format!(
                            "its content's SHA-256 is {h}; the digest recorded {expected} when CloudTrail delivered it"
                        ),
                    });
                }
                None => {
                    row.missing += 1;
                    problems.push(NewProblem {
                        kind: ProblemKind::Missing,
                        key: f.s3_object.clone(),
                        trail_arn: arn.to_owned(),
                        at_ms,
                        digest_key: Some(digest.digest_s3_object.clone()),
                        detail: format!(
                            "listed by the digest, gone from s3://{} and never imported",
                            f.s3_bucket
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The digest this one names as previous: still there, as it was.
    async fn chain(
        &mut self,
        digest: &DigestFile,
        key: &str,
        arn: &str,
        problems: &mut Vec<NewProblem>,
    ) -> Result<(), SyncError> {
        let (Some(prev_key), Some(prev_signature)) = (
            digest.previous_digest_s3_object.as_deref(),
            digest.previous_digest_signature.as_deref(),
        ) else {
            // The first digest of a chain (validation or logging was off before it).
            return Ok(());
        };
        let prev_bucket = digest
            .previous_digest_s3_bucket
            .as_deref()
            .unwrap_or(&self.bucket.name);
        let prev_at = DigestName::parse(prev_key).map_or(0, |n| n.end_ms);
        let expected_hash = digest
            .previous_digest_hash_value
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase();
        let link = if prev_bucket == self.bucket.name {
            db::chain_link(self.pool, &self.bucket.ledger, prev_key).await?
        } else {
            None
        };
        let (hash, signature) = match link {
            Some((_, hash, signature)) => (hash, signature),
            None => match fetch(&self.bucket.client, prev_bucket, prev_key).await? {
                Fetched::Gone => {
                    problems.push(NewProblem {
                        kind: ProblemKind::DigestMissing,
                        key: prev_key.to_owned(),
                        trail_arn: arn.to_owned(),
                        at_ms: prev_at,
                        digest_key: Some(key.to_owned()),
                        detail: format!(
                            "the next digest names it as its predecessor; it is gone from s3://{prev_bucket}, and so is the proof of the log files it listed"
                        ),
                    });
                    return Ok(());
                }
                Fetched::Found { bytes, metadata } => (
                    content_sha256(&bytes).ok().map(|(h, _)| h),
                    metadata.get("signature").cloned(),
                ),
            },
        };
        let mut broken = Vec::new();
        if hash.as_deref() != Some(expected_hash.as_str()) {
            broken.push(format!(
                "its content's SHA-256 is {}, the next digest recorded {expected_hash}",
                hash.as_deref().unwrap_or("unknown")
            ));
        }
        if signature.as_deref().map(str::trim) != Some(prev_signature.trim()) {
            broken.push("its signature is not the one the next digest recorded".to_owned());
        }
        if !broken.is_empty() {
            problems.push(NewProblem {
                kind: ProblemKind::Chain,
                key: prev_key.to_owned(),
                trail_arn: arn.to_owned(),
                at_ms: prev_at,
                digest_key: Some(key.to_owned()),
                detail: format!("the digest was replaced after the next one chained to it: {}", broken.join("; ")),
            });
        }
        Ok(())
    }

    /// Log files of the folder's account and Region delivered in an hour a valid digest
    /// covers that no digest lists. Skipped where a trail without validation delivers to
    /// the same place: its files are listed by no digest, and a file's name does not say
    /// which trail delivered it.
    async fn unlisted(&mut self, folder: &Folder, from_ms: i64) -> Result<(), SyncError> {
        let Some((root, _)) = folder.prefix.split_once("/CloudTrail-Digest/") else {
            return Ok(());
        };
        let base_prefix = self
            .bucket
            .base
            .strip_suffix("AWSLogs/")
            .unwrap_or("")
            .trim_end_matches('/');
        let unvalidated = self.trails.iter().any(|t| {
            !t.gone
                && t.log_file_validation != Some(true)
                && t.delivers_to() == Some((self.bucket.ledger.clone(), base_prefix.to_owned()))
        });
        if unvalidated {
            return Ok(());
        }
        let origin = &self.bucket.ledger;
        let windows =
            db::valid_windows(self.pool, origin, &folder.account, &folder.region, from_ms).await?;
        let Some(first) = windows.first().map(|w| w.0) else {
            return Ok(());
        };
        let logs = format!("{root}/CloudTrail/{}/", folder.region);
        let day = chrono::DateTime::from_timestamp_millis(first - 86_400_000)
            .map(|t| t.format("%Y/%m/%d").to_string())
            .unwrap_or_default();
        let lo = format!("{logs}{day}");
        let hi = format!("{logs}{}", char::MAX);
        let mut problems = Vec::new();
        for path in db::unlisted(self.pool, origin, &lo, &hi).await? {
            let Some(t) = log_file_time(&path) else { continue };
            let Some((start, end, arn)) = windows
                .iter()
                .find(|(s, e, _)| *s <= t && t + MINUTE_MS <= *e)
            else {
                continue;
            };
            problems.push(NewProblem {
                kind: ProblemKind::Extra,
                key: path.clone(),
                trail_arn: arn.clone(),
                at_ms: t,
                digest_key: None,
                detail: format!(
                    "delivered at {} UTC, in the hour {}–{} UTC a valid digest covers, yet no digest lists it: it was not written by CloudTrail, or a digest that listed it is gone",
                    app::fmt::time(t),
                    app::fmt::time(*start),
                    app::fmt::time(*end)
                ),
            });
        }
        if !problems.is_empty() {
            tracing::warn!(folder = %logs, files = problems.len(), "log files no digest lists");
            db::add_problems(self.pool, origin, &problems, chrono::Utc::now().timestamp_millis()).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_string_is_the_one_cloudtrail_signs() {
        assert_eq!(
            signing_string("2015-08-17T15:01:31Z", "b", "AWSLogs/1/x.json.gz", "ab", None),
            "2015-08-17T15:01:31Z\nb/AWSLogs/1/x.json.gz\nab\nnull"
        );
        assert_eq!(
            signing_string("t", "b", "k", "ab", Some("5088")),
            "t\nb/k\nab\n5088"
        );
    }

    #[test]
    fn a_signature_that_is_not_hex_or_not_rsa_does_not_verify() {
        assert!(!signature_verifies(b"not a key", b"m", "zz"));
        assert!(!signature_verifies(b"not a key", b"m", "abcd"));
    }

    #[test]
    fn content_hashes_are_of_the_uncompressed_bytes() {
        use std::io::Write;
        let body = br#"{"Records":[]}"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(body).unwrap();
        let gz = gz.finish().unwrap();
        let want = hex::encode(Sha256::digest(body));
        assert_eq!(content_sha256(&gz).unwrap().0, want);
        assert_eq!(content_sha256(body).unwrap().0, want);
        assert!(content_sha256(&gz[..gz.len() / 2]).is_err());
    }
}
