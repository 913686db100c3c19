//! "Check access": what each feed of a source can reach, one line per IAM action, with
//! the action and resource to allow when one is refused.

use super::SyncError;
use super::bucket::Bucket;
use crate::sync::aws;
use crate::sync::sources::Source;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckLine {
    pub feed: &'static str,
    /// The IAM action tried.
    pub action: &'static str,
    pub ok: bool,
    /// A refused optional call does not fail the check: something else stands in.
    pub optional: bool,
    pub detail: String,
}

/// `1 account`, `2 accounts`.
pub fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn refused(feed: &'static str, action: &'static str, resource: &str, e: &SyncError) -> CheckLine {
    CheckLine {
        feed,
        action,
        ok: false,
        optional: false,
        detail: format!("{e} (allow {action} on {resource})"),
    }
}

/// How hard checks retry: a person waits on the answer, so two tries, not a pass's eight.
pub fn tuning() -> aws::Tuning {
    aws::Tuning {
        max_attempts: 2,
        initial_backoff: std::time::Duration::from_millis(200),
        max_backoff: std::time::Duration::from_secs(1),
    }
}

/// Tries each feed's calls in turn; a refused call stops that feed's checks.
pub async fn check(source: &Source, tuning: &aws::Tuning) -> Vec<CheckLine> {
    let mut out = Vec::new();
    if let Some(name) = &source.row.bucket {
        check_bucket(source, name, tuning, &mut out).await;
    }
    if let Some(url) = &source.row.queue_url {
        check_queue(source, url, tuning, &mut out).await;
    }
    if source.row.lookup_events {
        check_lookup(source, tuning, &mut out).await;
    }
    if source.row.regions.is_empty() {
        out.push(match super::lookup::enabled_regions(source, tuning).await {
            Ok(r) => CheckLine {
                feed: "regions",
                action: "account:ListRegions",
                ok: true,
                optional: true,
                detail: format!("{} enabled", plural(r.len(), "Region")),
            },
            Err(e) => CheckLine {
                feed: "regions",
                action: "account:ListRegions",
                ok: false,
                optional: true,
                detail: format!(
                    "{e} (optional: without it, the {} Regions every account has and those the \
                     bucket delivered from are read; allow account:ListRegions on *)",
                    super::lookup::DEFAULT_REGIONS.len()
                ),
            },
        });
    }
    check_inventory(source, tuning, &mut out).await;
    if source.row.bucket.is_some() {
        check_public_keys(source, tuning, &mut out).await;
    }
    out.push(match crate::trails::billing::ask(source, tuning).await {
        Ok(answer) => CheckLine {
            feed: "costs",
            action: crate::trails::billing::ACTION,
            ok: true,
            optional: true,
            detail: format!(
                "{} of CloudTrail charges",
                plural(answer.months.values().filter(|m| !m.is_empty()).count(), "month")
            ),
        },
        Err(e) => CheckLine {
            feed: "costs",
            action: crate::trails::billing::ACTION,
            ok: false,
            optional: true,
            detail: format!(
                "{e} (optional: without it the costs screen shows the estimate alone; allow {} on *)",
                crate::trails::billing::ACTION
            ),
        },
    });
    out
}

/// The trails of the first Region read (the inventory needs DescribeTrails, then
/// GetTrailStatus, GetEventSelectors, GetInsightSelectors and ListTags on each).
async fn check_inventory(source: &Source, tuning: &aws::Tuning, out: &mut Vec<CheckLine>) {
    let (region, ct) = cloudtrail(source, tuning).await;
    let got = ct
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await;
    out.push(match got {
        Ok(t) => CheckLine {
            feed: "trails",
            action: "cloudtrail:DescribeTrails",
            ok: true,
            optional: false,
            detail: format!("{region}: {}", plural(t.trail_list().len(), "trail")),
        },
        Err(e) => refused(
            "trails",
            "cloudtrail:DescribeTrails",
            "*",
            &SyncError::aws("cloudtrail:DescribeTrails", region, aws::describe(&e)),
        ),
    });
}

/// CloudTrail's public keys, which the integrity checks of digest files need (with
/// s3:GetObject on the digest folders, which the bucket check covers).
async fn check_public_keys(source: &Source, tuning: &aws::Tuning, out: &mut Vec<CheckLine>) {
    let (region, ct) = cloudtrail(source, tuning).await;
    out.push(match ct.list_public_keys().send().await {
        Ok(k) => CheckLine {
            feed: "integrity",
            action: "cloudtrail:ListPublicKeys",
            ok: true,
            optional: true,
            detail: format!("{region}: {}", plural(k.public_key_list().len(), "public key")),
        },
        Err(e) => CheckLine {
            feed: "integrity",
            action: "cloudtrail:ListPublicKeys",
            ok: false,
            optional: true,
            detail: format!(
                "{} (optional: without it the signatures of digest files cannot be checked, and the integrity checks say so; allow cloudtrail:ListPublicKeys on *)",
                SyncError::aws("cloudtrail:ListPublicKeys", region, aws::describe(&e))
            ),
        },
    });
}

/// A CloudTrail client in the first Region the source reads (the home Region if all).
async fn cloudtrail<'a>(
    source: &'a Source,
    tuning: &aws::Tuning,
) -> (&'a str, aws_sdk_cloudtrail::Client) {
    let region = source
        .row
        .regions
        .first()
        .map_or(aws::HOME_REGION, String::as_str);
    let client = aws_sdk_cloudtrail::Client::new(&aws::config(source, region, tuning).await);
    (region, client)
}

/// One LookupEvents call of one event, in the first Region read.
async fn check_lookup(source: &Source, tuning: &aws::Tuning, out: &mut Vec<CheckLine>) {
    let (region, ct) = cloudtrail(source, tuning).await;
    let got = ct.lookup_events().max_results(1).send().await;
    out.push(match got {
        Ok(page) => CheckLine {
            feed: "lookup",
            action: "cloudtrail:LookupEvents",
            ok: true,
            optional: false,
            detail: match page.events().first().and_then(|e| e.event_time()) {
                Some(t) => format!("{region}: newest event {t}"),
                None => format!("{region}: no events in the last 90 days"),
            },
        },
        Err(e) => refused(
            "lookup",
            "cloudtrail:LookupEvents",
            "*",
            &SyncError::aws("cloudtrail:LookupEvents", region, aws::describe(&e)),
        ),
    });
}

/// The queue's attributes, and a look at one message that leaves it on the queue
/// (visibility timeout 0). Deleting cannot be tried without losing a message.
async fn check_queue(source: &Source, url: &str, tuning: &aws::Tuning, out: &mut Vec<CheckLine>) {
    use aws_sdk_sqs::types::QueueAttributeName;
    let feed = "queue";
    let region = super::queue::queue_region(url)
        .or_else(|| source.row.regions.first().cloned())
        .unwrap_or_else(|| aws::HOME_REGION.to_owned());
    let sqs = aws::sqs(&aws::config(source, &region, tuning).await);
    let arn = super::queue::queue_arn(url, &region);
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await;
    match attrs {
        Ok(a) => {
            let waiting = a
                .attributes()
                .and_then(|m| m.get(&QueueAttributeName::ApproximateNumberOfMessages))
                .cloned()
                .unwrap_or_else(|| "?".into());
            out.push(CheckLine {
                feed,
                action: "sqs:GetQueueAttributes",
                ok: true,
                optional: false,
                detail: format!("{waiting} messages waiting"),
            });
        }
        Err(e) => {
            let e = SyncError::aws("sqs:GetQueueAttributes", url, aws::describe(&e));
            out.push(refused(feed, "sqs:GetQueueAttributes", &arn, &e));
            return;
        }
    }
    let peek = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(1)
        .visibility_timeout(0)
        .wait_time_seconds(0)
        .send()
        .await;
    out.push(match peek {
        Ok(_) => CheckLine {
            feed,
            action: "sqs:ReceiveMessage",
            ok: true,
            optional: false,
            detail: "messages can be read (sqs:DeleteMessage is needed too)".into(),
        },
        Err(e) => refused(
            feed,
            "sqs:ReceiveMessage",
            &arn,
            &SyncError::aws("sqs:ReceiveMessage", url, aws::describe(&e)),
        ),
    });
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
        optional: false,
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
        optional: false,
        detail: format!(
            "{} under s3://{name}/{}: {}, {}",
            plural(folders.len(), "log folder"),
            bucket.base,
            plural(accounts.len(), "account"),
            plural(regions.len(), "Region")
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
                optional: false,
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
        optional: false,
        detail: "no delivered file to read yet".into(),
    });
}
