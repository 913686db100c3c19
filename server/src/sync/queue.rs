//! The SQS feed: file notifications, read until the queue is empty. A message is
//! deleted only once every file it names is committed (or known, or gone from the
//! bucket); one naming a file that could not be fetched comes back after its visibility
//! timeout and is tried again.
//!
//! Accepted: CloudTrail's notification (`{"s3Bucket", "s3ObjectKey": [...]}`) with or
//! without the SNS envelope, S3 event notifications (keys form-URL-encoded) directly or
//! through SNS, EventBridge "Object Created" events, and S3's test event.

use super::bucket::Bucket;
use super::{PassReport, Problem, SyncError};
use crate::ingest::{
    self,
    source::{FileJob, LogKind, parse_layout},
};
use crate::sync::aws;
use crate::sync::sources::Source;
use serde_json::Value;
use sqlx::SqlitePool;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A delivered file a message names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notice {
    pub bucket: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Files(Vec<Notice>),
    /// S3's test event, or an event about no new object.
    Nothing,
    /// Not a notification Cairn reads: why.
    Unknown(String),
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut v = v;
    for p in path {
        v = v.get(p)?;
    }
    v.as_str().map(str::to_owned)
}

/// Reads a message body.
pub fn parse(body: &str) -> Message {
    let Ok(mut v) = serde_json::from_str::<Value>(body) else {
        return Message::Unknown("not JSON".into());
    };
    if v.get("Type").and_then(Value::as_str) == Some("Notification") {
        match v
            .get("Message")
            .and_then(Value::as_str)
            .map(serde_json::from_str::<Value>)
        {
            Some(Ok(inner)) => v = inner,
            _ => return Message::Unknown("an SNS notification whose Message is not JSON".into()),
        }
    }
    if let Some(bucket) = v.get("s3Bucket").and_then(Value::as_str) {
        let keys: Vec<&str> = match v.get("s3ObjectKey") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(k)) => vec![k.as_str()],
            _ => return Message::Unknown("a CloudTrail notification without s3ObjectKey".into()),
        };
        return Message::Files(
            keys.into_iter()
                .map(|k| Notice {
                    bucket: bucket.to_owned(),
                    key: k.to_owned(),
                })
                .collect(),
        );
    }
    if let Some(records) = v.get("Records").and_then(Value::as_array) {
        let mut out = Vec::new();
        for r in records {
            let created = text(r, &["eventName"]).is_some_and(|n| n.starts_with("ObjectCreated"));
            if let (true, Some(bucket), Some(key)) = (
                created,
                text(r, &["s3", "bucket", "name"]),
                text(r, &["s3", "object", "key"]),
            ) {
                out.push(Notice {
                    bucket,
                    key: decode_key(&key),
                });
            }
        }
        return if out.is_empty() {
            Message::Nothing
        } else {
            Message::Files(out)
        };
    }
    if text(&v, &["Event"]).as_deref() == Some("s3:TestEvent") {
        return Message::Nothing;
    }
    if text(&v, &["source"]).as_deref() == Some("aws.s3") {
        if text(&v, &["detail-type"]).as_deref() != Some("Object Created") {
            return Message::Nothing;
        }
        if let (Some(bucket), Some(key)) = (
            text(&v, &["detail", "bucket", "name"]),
            text(&v, &["detail", "object", "key"]),
        ) {
            return Message::Files(vec![Notice { bucket, key }]);
        }
    }
    Message::Unknown("not a file notification".into())
}

/// An S3 event key is form-URL-encoded: `+` is a space, then percent escapes.
pub fn decode_key(key: &str) -> String {
    url::form_urlencoded::parse(key.as_bytes())
        .next()
        .map(|(k, v)| {
            if v.is_empty() {
                k.into_owned()
            } else {
                format!("{k}={v}")
            }
        })
        .unwrap_or_default()
}

/// The queue's ARN, for naming it in a policy: `https://…/<account>/<name>`.
pub fn queue_arn(url: &str, region: &str) -> String {
    let segments: Vec<String> = url::Url::parse(url)
        .ok()
        .and_then(|u| Some(u.path_segments()?.map(str::to_owned).collect()))
        .unwrap_or_default();
    match segments.as_slice() {
        [account, name] => format!("arn:aws:sqs:{region}:{account}:{name}"),
        _ => url.to_owned(),
    }
}

/// The Region in a queue URL (`https://sqs.<region>.amazonaws.com/…`), if it says.
pub fn queue_region(url: &str) -> Option<String> {
    let host = url::Url::parse(url).ok()?.host_str()?.to_owned();
    let mut parts = host.split('.');
    match (parts.next(), parts.next()) {
        (Some("sqs"), Some(r)) if r.contains('-') => Some(r.to_owned()),
        (Some(r), Some("queue")) if r.contains('-') => Some(r.to_owned()),
        _ => None,
    }
}

/// Messages read in one pass at most; the rest wait for the next.
const PASS_MESSAGES: usize = 2000;
/// Seconds a received message stays invisible to others while its files are imported.
const VISIBILITY_SECONDS: i32 = 600;

struct Received {
    receipt: String,
    notices: Vec<Notice>,
}

pub async fn pass(
    pool: &SqlitePool,
    source: &Source,
    opts: &super::Options,
) -> Result<PassReport, SyncError> {
    let Some(url) = source.row.queue_url.clone() else {
        return Err(SyncError::Config("the source has no queue".into()));
    };
    let region = queue_region(&url)
        .or_else(|| source.row.regions.first().cloned())
        .unwrap_or_else(|| aws::HOME_REGION.to_owned());
    let sqs = aws::sqs(&aws::config(source, &region, &opts.tuning).await);
    let mut report = PassReport::default();
    let mut received = Vec::new();
    let mut to_delete: Vec<String> = Vec::new();
    while received.len() + to_delete.len() < PASS_MESSAGES {
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(opts.queue_wait_seconds)
            .visibility_timeout(VISIBILITY_SECONDS)
            .send()
            .await
            .map_err(|e| SyncError::aws("sqs:ReceiveMessage", &url, aws::describe(&e)))?;
        let messages = out.messages();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            report.messages += 1;
            let Some(receipt) = m.receipt_handle().map(str::to_owned) else {
                continue;
            };
            match parse(m.body().unwrap_or("")) {
                Message::Files(notices) => received.push(Received { receipt, notices }),
                Message::Nothing => to_delete.push(receipt),
                Message::Unknown(why) => {
                    let body: String = m.body().unwrap_or("").chars().take(300).collect();
                    report.problems.push(Problem {
                        what: format!("message {}", m.message_id().unwrap_or("?")),
                        error: format!("{why}; deleted: {body}"),
                    });
                    to_delete.push(receipt);
                }
            }
        }
    }
    // The files named, looked up in their buckets.
    let mut buckets: HashMap<String, Option<Bucket>> = HashMap::new();
    let mut jobs: HashMap<String, Vec<FileJob>> = HashMap::new();
    let mut failed: HashSet<Notice> = HashSet::new();
    let mut seen: HashSet<Notice> = HashSet::new();
    for n in received.iter().flat_map(|r| r.notices.iter()) {
        if !seen.insert(n.clone()) {
            continue;
        }
        let layout = parse_layout(&n.key);
        if layout.kind == LogKind::Digest
            || !(n.key.ends_with(".json.gz") || n.key.ends_with(".json"))
        {
            continue;
        }
        if !buckets.contains_key(&n.bucket) {
            let b = match Bucket::named(source, n.bucket.clone(), &opts.tuning).await {
                Ok(b) => Some(b),
                Err(e) => {
                    report.problems.push(Problem {
                        what: format!("s3://{}", n.bucket),
                        error: e.to_string(),
                    });
                    None
                }
            };
            buckets.insert(n.bucket.clone(), b);
        }
        let Some(Some(bucket)) = buckets.get(&n.bucket) else {
            failed.insert(n.clone());
            continue;
        };
        match bucket.job(pool, &n.key).await {
            Ok(Some(job)) => jobs.entry(n.bucket.clone()).or_default().push(job),
            Ok(None) => {}
            Err(e) => {
                report.problems.push(Problem {
                    what: format!("s3://{}/{}", n.bucket, n.key),
                    error: e.to_string(),
                });
                if !matches!(&e, SyncError::Aws { message, .. } if message.starts_with("NotFound") || message.starts_with("NoSuchKey"))
                {
                    failed.insert(n.clone());
                }
            }
        }
    }
    report.found = jobs.values().map(Vec::len).sum::<usize>() as u64;
    for (name, list) in jobs {
        let Some(Some(bucket)) = buckets.get(&name) else {
            continue;
        };
        let summary = ingest::run(
            pool,
            Arc::new(bucket.objects()),
            list,
            ingest::Options {
                threads: opts.threads,
                progress: opts.progress,
            },
        )
        .await?;
        report.files += summary.files;
        report.files_rejected += summary.files_rejected.len() as u64;
        report.events_new += summary.events_new;
        report.events_duplicate += summary.events_duplicate;
        report.records_rejected += summary.records_rejected;
        for key in &summary.files_unreachable {
            failed.insert(Notice {
                bucket: name.clone(),
                key: key.clone(),
            });
        }
        for f in summary.files_rejected {
            report.problems.push(Problem {
                what: format!("s3://{name}/{}", f.path),
                error: f.error,
            });
        }
    }
    // Messages whose files are all in (or known, or gone) are done with.
    for r in received {
        if r.notices.iter().any(|n| failed.contains(n)) {
            report.messages_kept += 1;
        } else {
            to_delete.push(r.receipt);
        }
    }
    for receipt in to_delete {
        sqs.delete_message()
            .queue_url(&url)
            .receipt_handle(&receipt)
            .send()
            .await
            .map_err(|e| SyncError::aws("sqs:DeleteMessage", &url, aws::describe(&e)))?;
    }
    Ok(report)
}

impl Bucket {
    /// The file at `key` to import, unless the ledger has it with the same size and
    /// time.
    pub async fn job(&self, pool: &SqlitePool, key: &str) -> Result<Option<FileJob>, SyncError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .map_err(|e| SyncError::aws("s3:GetObject", key, aws::describe(&e)))?;
        let size = head.content_length().unwrap_or(0).max(0);
        let modified_ms = head
            .last_modified()
            .and_then(|t| t.to_millis().ok())
            .unwrap_or(0);
        let known = app::db::ledger::file(pool, &self.ledger, key).await?;
        if known == Some((size, Some(modified_ms))) {
            return Ok(None);
        }
        Ok(Some(super::bucket::file_job(key, size, modified_ms)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_in_every_shape() {
        let key = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/01/f.json.gz";
        let files = |b: &str, k: &str| {
            Message::Files(vec![Notice {
                bucket: b.into(),
                key: k.into(),
            }])
        };
        let raw = serde_json::json!({"s3Bucket": "trail", "s3ObjectKey": [key]}).to_string();
        assert_eq!(parse(&raw), files("trail", key));
        let sns = serde_json::json!({"Type": "Notification", "MessageId": "m", "Message": raw})
            .to_string();
        assert_eq!(parse(&sns), files("trail", key));
        let s3 = serde_json::json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "trail"}, "object": {"key": "AWSLogs%2F1111+22%2B33/f.json.gz"}}}]})
        .to_string();
        assert_eq!(parse(&s3), files("trail", "AWSLogs/1111 22+33/f.json.gz"));
        let s3_sns = serde_json::json!({"Type": "Notification", "Message": s3}).to_string();
        assert_eq!(
            parse(&s3_sns),
            files("trail", "AWSLogs/1111 22+33/f.json.gz")
        );
        let removed = serde_json::json!({"Records": [{"eventName": "ObjectRemoved:Delete",
            "s3": {"bucket": {"name": "trail"}, "object": {"key": "k"}}}]})
        .to_string();
        assert_eq!(parse(&removed), Message::Nothing);
        let eb = serde_json::json!({"source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": "trail"}, "object": {"key": key}}})
        .to_string();
        assert_eq!(parse(&eb), files("trail", key));
        assert_eq!(
            parse(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#),
            Message::Nothing
        );
        assert!(matches!(parse("<html>"), Message::Unknown(_)));
        assert!(matches!(parse(r#"{"hello": 1}"#), Message::Unknown(_)));
        assert!(matches!(
            parse(r#"{"Type": "Notification", "Message": "x"}"#),
            Message::Unknown(_)
        ));
    }

    #[test]
    fn queue_urls_name_their_region() {
        assert_eq!(
            queue_region("https://sqs.eu-west-1.amazonaws.com/1/q").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            queue_region("https://eu-west-1.queue.amazonaws.com/1/q").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(queue_region("http://127.0.0.1:5000/1/q"), None);
        assert_eq!(
            queue_arn(
                "https://sqs.eu-west-1.amazonaws.com/111122223333/ct",
                "eu-west-1"
            ),
            "arn:aws:sqs:eu-west-1:111122223333:ct"
        );
    }
}
