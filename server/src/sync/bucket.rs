//! The trail bucket feed: find the account, log kind and Region folders under
//! `AWSLogs/` (the organization layout too), list each folder from its checkpoint and
//! import the new files through the ingest pipeline.
//!
//! The checkpoint of a folder is the newest key the ingest ledger holds for it, so it is
//! committed in the same transaction as the events of that file. Keys of one folder sort
//! by delivery date, but files delivered in the same minute sort by a random suffix, so
//! a late file can sort before keys already seen: each pass lists again from the day
//! before the checkpoint's and leaves out the keys the ledger already has.

use super::SyncError;
use crate::ingest::pipeline::Source as FileSource;
use crate::ingest::source::{FileJob, LogKind, is_account, parse_layout};
use crate::sync::aws;
use crate::sync::sources::Source;
use app::db::ledger;
use aws_sdk_s3::Client;
use chrono::{Datelike, NaiveDate};
use sqlx::SqlitePool;
use std::io::Read;
use std::path::PathBuf;

/// The kinds of log folder read. Digest folders hold no events.
const KINDS: [LogKind; 3] = [
    LogKind::CloudTrail,
    LogKind::Insight,
    LogKind::NetworkActivity,
];

/// One folder of delivered files: `…/AWSLogs/[o-…/]<account>/<kind>/<region>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub prefix: String,
    pub account: String,
    pub kind: LogKind,
    pub region: String,
}

/// The first day a first pass lists: the source's `backfill_days` before today.
pub fn backfill_from(source: &Source) -> NaiveDate {
    (chrono::Utc::now() - chrono::Duration::days(source.row.backfill_days.clamp(1, 3650)))
        .date_naive()
}

impl Folder {
    /// Where a pass lists the folder from: the day before its checkpoint's (keys of
    /// one day sort by a random suffix, so a late file can sort before keys already
    /// seen), or `backfill_from` on a first pass.
    pub fn listing_start(&self, checkpoint: Option<&str>, backfill_from: NaiveDate) -> String {
        let from = checkpoint
            .and_then(|k| parse_layout(k).date)
            .and_then(|d| NaiveDate::parse_from_str(&d, "%Y/%m/%d").ok())
            .and_then(|d| d.pred_opt())
            .unwrap_or(backfill_from);
        format!(
            "{}{:04}/{:02}/{:02}",
            self.prefix,
            from.year(),
            from.month(),
            from.day()
        )
    }
}

/// The bucket of one source, with a client for the Region it is in.
pub struct Bucket {
    pub client: Client,
    pub name: String,
    /// The ledger's name for files from it.
    pub ledger: String,
    /// `<prefix>/AWSLogs/` (or `AWSLogs/`).
    pub base: String,
}

impl Bucket {
    /// Finds where the source's bucket lives and makes a client there.
    pub async fn open(source: &Source, tuning: &aws::Tuning) -> Result<Bucket, SyncError> {
        let Some(name) = source.row.bucket.clone() else {
            return Err(SyncError::Config("the source has no bucket".into()));
        };
        Bucket::named(source, name, tuning).await
    }

    /// Any bucket, reached with the source's credentials (a notification may name one).
    pub async fn named(
        source: &Source,
        name: String,
        tuning: &aws::Tuning,
    ) -> Result<Bucket, SyncError> {
        let home = aws::config(source, aws::HOME_REGION, tuning).await;
        let client = aws::s3(&home, source);
        let located = client
            .get_bucket_location()
            .bucket(&name)
            .send()
            .await
            .map_err(|e| SyncError::aws("s3:GetBucketLocation", &name, aws::describe(&e)))?;
        let region = match located.location_constraint().map(|c| c.as_str()) {
            None | Some("") => aws::HOME_REGION.to_owned(),
            Some("EU") => "eu-west-1".to_owned(),
            Some(r) => r.to_owned(),
        };
        let client = if region == aws::HOME_REGION {
            client
        } else {
            aws::s3(&aws::config(source, &region, tuning).await, source)
        };
        let base = if source.row.prefix.is_empty() {
            "AWSLogs/".to_owned()
        } else {
            format!("{}/AWSLogs/", source.row.prefix)
        };
        Ok(Bucket {
            client,
            ledger: app::db::ledger::bucket_name(&name),
            name,
            base,
        })
    }

    /// The folder names one level below `prefix` (without the trailing `/`).
    async fn dirs(&self, prefix: &str) -> Result<Vec<String>, SyncError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.name)
            .prefix(prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| SyncError::aws("s3:ListBucket", prefix, aws::describe(&e)))?;
            for p in page.common_prefixes() {
                if let Some(dir) = p.prefix().and_then(|d| d.strip_prefix(prefix)) {
                    out.push(dir.trim_end_matches('/').to_owned());
                }
            }
        }
        Ok(out)
    }

    /// Every folder of delivered files for `source` (its organization and Regions only,
    /// when it names them).
    pub async fn folders(&self, source: &Source) -> Result<Vec<Folder>, SyncError> {
        self.folders_of(source, &KINDS).await
    }

    /// Every folder of the given kinds (digest folders for the integrity checks).
    pub async fn folders_of(
        &self,
        source: &Source,
        kinds: &[LogKind],
    ) -> Result<Vec<Folder>, SyncError> {
        let mut accounts = Vec::new();
        for top in self.dirs(&self.base).await? {
            if top.starts_with("o-") {
                if source.row.org_id.as_ref().is_some_and(|o| *o != top) {
                    continue;
                }
                let org = format!("{}{top}/", self.base);
                for a in self.dirs(&org).await? {
                    if is_account(&a) {
                        accounts.push(format!("{org}{a}/"));
                    }
                }
            } else if is_account(&top) && source.row.org_id.is_none() {
                accounts.push(format!("{}{top}/", self.base));
            }
        }
        let mut out = Vec::new();
        for acct in accounts {
            let account = acct
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_owned();
            for kind_dir in self.dirs(&acct).await? {
                let Some(kind) = LogKind::from_dir(&kind_dir).filter(|k| kinds.contains(k)) else {
                    continue;
                };
                let kind_prefix = format!("{acct}{kind_dir}/");
                for region in self.dirs(&kind_prefix).await? {
                    if !source.row.regions.is_empty() && !source.row.regions.contains(&region) {
                        continue;
                    }
                    out.push(Folder {
                        prefix: format!("{kind_prefix}{region}/"),
                        account: account.clone(),
                        kind,
                        region,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The files of `folder` to import: listed from a day before its checkpoint (or from
    /// `backfill_from` on a first sync), less what the ledger has with the same size and
    /// time. Also returns the newest modification time seen.
    pub async fn new_files(
        &self,
        pool: &SqlitePool,
        folder: &Folder,
        backfill_from: NaiveDate,
    ) -> Result<(Vec<FileJob>, Option<i64>), SyncError> {
        let end = format!("{}{}", folder.prefix, char::MAX);
        let newest = ledger::newest_path(pool, &self.ledger, &folder.prefix, &end).await?;
        let start_after = folder.listing_start(newest.as_deref(), backfill_from);
        let known = ledger::files_between(pool, &self.ledger, &start_after, &end).await?;
        let mut jobs = Vec::new();
        let mut newest_ms = None;
        for o in self.list_after(folder, &start_after).await? {
            let Some(key) = o.key() else { continue };
            if !(key.ends_with(".json.gz") || key.ends_with(".json")) {
                continue;
            }
            let size = o.size().unwrap_or(0).max(0);
            let modified_ms = o
                .last_modified()
                .and_then(|t| t.to_millis().ok())
                .unwrap_or(0);
            newest_ms = newest_ms.max(Some(modified_ms));
            if known.get(key) == Some(&(size, Some(modified_ms))) {
                continue;
            }
            jobs.push(file_job(key, size, modified_ms));
        }
        Ok((jobs, newest_ms))
    }

    /// The objects of `folder` whose keys sort after `start_after`, every page of them.
    pub async fn list_after(
        &self,
        folder: &Folder,
        start_after: &str,
    ) -> Result<Vec<aws_sdk_s3::types::Object>, SyncError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.name)
            .prefix(&folder.prefix)
            .start_after(start_after)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|e| SyncError::aws("s3:ListBucket", &folder.prefix, aws::describe(&e)))?;
            out.extend(page.contents().iter().cloned());
        }
        Ok(out)
    }

    /// The bucket's objects as a source for the ingest pipeline.
    pub fn objects(&self) -> Objects {
        Objects {
            client: self.client.clone(),
            bucket: self.name.clone(),
            ledger: self.ledger.clone(),
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

/// The pipeline's job for the object at `key`.
pub fn file_job(key: &str, size: i64, modified_ms: i64) -> FileJob {
    FileJob {
        path: PathBuf::from(key),
        display: key.to_owned(),
        size: size.max(0) as u64,
        modified_ms,
        layout: parse_layout(key),
    }
}

/// Objects of a bucket, read for the pipeline's decoder threads. Each object is fetched
/// whole (a delivered file is a few MB of gzip at most) and decompressed as it is read,
/// so a slow database never stalls a download.
pub struct Objects {
    client: Client,
    bucket: String,
    ledger: String,
    runtime: tokio::runtime::Handle,
}

impl FileSource for Objects {
    fn name(&self) -> &str {
        &self.ledger
    }

    fn open(&self, job: &FileJob) -> std::io::Result<Box<dyn Read + Send + '_>> {
        let key = job.display.clone();
        let bytes = self.runtime.block_on(async {
            let out = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| {
                    std::io::Error::other(format!("s3:GetObject: {}", aws::describe(&e)))
                })?;
            out.body
                .collect()
                .await
                .map(|b| b.into_bytes())
                .map_err(|e| std::io::Error::other(format!("s3:GetObject body: {e}")))
        })?;
        Ok(Box::new(std::io::Cursor::new(bytes)))
    }
}
