//! "Check access": what each feed of a source can reach, one line per IAM action, with
//! the action and resource to allow when one is refused.

use super::SyncError;
use super::bucket::Bucket;
use crate::aws;
use crate::sources::Source;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckLine {
    pub feed: &'static str,
    /// The IAM action tried.
    pub action: &'static str,
    pub ok: bool,
    pub detail: String,
}

fn refused(feed: &'static str, action: &'static str, resource: &str, e: &SyncError) -> CheckLine {
    CheckLine {
        feed,
        action,
        ok: false,
        detail: format!("{e} (allow {action} on {resource})"),
    }
}

/// Tries each feed's calls in turn; a refused call stops that feed's checks.
pub async fn check(source: &Source, tuning: &aws::Tuning) -> Vec<CheckLine> {
    let mut out = Vec::new();
    if let Some(name) = &source.row.bucket {
        check_bucket(source, name, tuning, &mut out).await;
    }
    out
}

async fn check_bucket(source: &Source, name: &str, tuning: &aws::Tuning, out: &mut Vec<CheckLine>) {
    let feed = "bucket";
    let arn = format!("arn:aws:s3:::{name}");
    let bucket = match Bucket::open(source, tuning).await {
        Ok(b) => b,
        Err(e) => {
            out.push(refused(feed, "s3:GetBucketLocation", &arn, &e));
            return;
        }
    };
    out.push(CheckLine {
        feed,
        action: "s3:GetBucketLocation",
        ok: true,
        detail: format!("s3://{name}"),
    });
    let folders = match bucket.folders(source).await {
        Ok(f) => f,
        Err(e) => {
            out.push(refused(feed, "s3:ListBucket", &arn, &e));
            return;
        }
    };
    let accounts: std::collections::BTreeSet<&str> =
        folders.iter().map(|f| f.account.as_str()).collect();
    let regions: std::collections::BTreeSet<&str> =
        folders.iter().map(|f| f.region.as_str()).collect();
    out.push(CheckLine {
        feed,
        action: "s3:ListBucket",
        ok: true,
        detail: format!(
            "{} log folders under s3://{name}/{}: {} accounts, {} Regions",
            folders.len(),
            bucket.base,
            accounts.len(),
            regions.len()
        ),
    });
    // One delivered file, read through.
    for folder in &folders {
        let listed = bucket
            .client
            .list_objects_v2()
            .bucket(name)
            .prefix(&folder.prefix)
            .max_keys(20)
            .send()
            .await;
        let Ok(listed) = listed else { continue };
        let Some(key) = listed
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .find(|k| k.ends_with(".json.gz") || k.ends_with(".json"))
        else {
            continue;
        };
        let got = bucket
            .client
            .get_object()
            .bucket(name)
            .key(key)
            .send()
            .await;
        out.push(match got {
            Ok(_) => CheckLine {
                feed,
                action: "s3:GetObject",
                ok: true,
                detail: key.to_owned(),
            },
            Err(e) => refused(
                feed,
                "s3:GetObject",
                &format!("{arn}/{}*", bucket.base),
                &SyncError::aws("s3:GetObject", key, aws::describe(&e)),
            ),
        });
        return;
    }
    out.push(CheckLine {
        feed,
        action: "s3:GetObject",
        ok: true,
        detail: "no delivered file to read yet".into(),
    });
}
