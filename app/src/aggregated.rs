//! Aggregated events: the 5-minute summaries a trail delivers of its data events when
//! aggregation is on (`eventCategory` `Aggregated`). Each summarises its window by one
//! primary dimension (`eventName` for API activity, `resourceARN` for resource access,
//! `userIdentity` for user actions) broken down by others, each a list of
//! `{name, value}` statistics. Read here for the event page (the whole summary), the
//! resource page (what each window says about one resource) and the import (the
//! resources a summary names).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// At most this many statistics are kept per dimension (summaries list their top ones).
pub const STATS_KEPT: usize = 100;

/// One dimension of a summary and its statistics, as the record gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimension {
    /// `eventName`, `resourceARN`, `userIdentity`, `sourceIPAddress`, `userAgent`, ...
    pub dimension: String,
    /// `Count`, ...
    pub aggregation: String,
    pub stats: Vec<(String, i64)>,
}

/// A summary: its window and its dimensions, the primary one first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub window_start: String,
    pub window_end: String,
    pub window_size: String,
    pub primary: Dimension,
    pub details: Vec<Dimension>,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn dimension(v: &Value) -> Option<Dimension> {
    let dimension = v.get("dimension").map(text).filter(|d| !d.is_empty())?;
    let stats = v
        .get("statistics")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|s| {
                    let name = s.get("name").map(text)?;
                    let value = s.get("value").and_then(Value::as_f64).map_or(0, |v| v.round() as i64);
                    Some((name, value))
                })
                .take(STATS_KEPT)
                .collect()
        })
        .unwrap_or_default();
    Some(Dimension {
        dimension,
        aggregation: v.get("aggregationType").map(text).unwrap_or_default(),
        stats,
    })
}

/// The summary of an aggregated event's record; `None` for any other record.
pub fn parse(record: &Value) -> Option<Summary> {
    if record.get("eventCategory").and_then(Value::as_str) != Some("Aggregated") {
        return None;
    }
    let window = record.get("timeWindow");
    let field = |k: &str| window.and_then(|w| w.get(k)).map(text).unwrap_or_default();
    let summary = record.get("summary")?;
    let primary = summary.get("primaryDimension").and_then(dimension)?;
    let details = summary
        .get("details")
        .and_then(Value::as_array)
        .map(|d| d.iter().filter_map(dimension).collect())
        .unwrap_or_default();
    Some(Summary {
        window_start: field("windowStart"),
        window_end: field("windowEnd"),
        window_size: field("windowSize"),
        primary,
        details,
    })
}

/// What one summary says about one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct About {
    /// Calls on the resource in the window.
    pub count: i64,
    /// The other dimensions, each with its statistics: `(dimension, stats)`.
    pub by: Vec<(String, Vec<(String, i64)>)>,
    /// Whether `by` is about this resource alone (it is the summary's only primary
    /// value, or the primary value names one caller or action), or about the whole
    /// window, across resources.
    pub only_this: bool,
}

impl Summary {
    fn dims(&self) -> impl Iterator<Item = &Dimension> {
        std::iter::once(&self.primary).chain(&self.details)
    }

    /// The ARNs the summary names (its `resourceARN` statistics).
    pub fn arns(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for d in self.dims().filter(|d| d.dimension == "resourceARN") {
            for (name, _) in &d.stats {
                if name.starts_with("arn:") && !out.contains(&name.as_str()) {
                    out.push(name);
                }
            }
        }
        out
    }

    /// What the summary says about `arn`, if it names it.
    pub fn about(&self, arn: &str) -> Option<About> {
        let value_in = |d: &Dimension| {
            d.stats
                .iter()
                .filter(|(n, _)| n == arn)
                .map(|(_, v)| *v)
                .reduce(|a, b| a + b)
        };
        if self.primary.dimension == "resourceARN" {
            // Resource access: the details break this resource's calls down, when it is
            // the only one summarised.
            let count = value_in(&self.primary)?;
            let only_this = self.primary.stats.len() == 1;
            let by = self
                .details
                .iter()
                .map(|d| (d.dimension.clone(), d.stats.clone()))
                .collect();
            return Some(About { count, by, only_this });
        }
        // API activity or user actions: the resource is one of the details; the primary
        // value says which action or caller it was.
        let count = self
            .details
            .iter()
            .filter(|d| d.dimension == "resourceARN")
            .find_map(value_in)?;
        let mut by = vec![(self.primary.dimension.clone(), self.primary.stats.clone())];
        by.extend(
            self.details
                .iter()
                .filter(|d| d.dimension != "resourceARN")
                .map(|d| (d.dimension.clone(), d.stats.clone())),
        );
        Some(About {
            count,
            by,
            only_this: self.primary.stats.len() == 1 && self.details.len() == 1,
        })
    }
}

/// The resource type an ARN names, for the resources a summary lists.
pub fn resource_type(arn: &str) -> &'static str {
    let mut parts = arn.splitn(6, ':');
    let service = parts.nth(2).unwrap_or("");
    let rest = parts.nth(2).unwrap_or("");
    match service {
        "s3" if rest.contains('/') => crate::schema::S3_OBJECT,
        "s3" => "AWS::S3::Bucket",
        "lambda" => "AWS::Lambda::Function",
        "dynamodb" => "AWS::DynamoDB::Table",
        "sns" => "AWS::SNS::Topic",
        "sqs" => "AWS::SQS::Queue",
        "kms" => "AWS::KMS::Key",
        "secretsmanager" => "AWS::SecretsManager::Secret",
        _ => "unknown",
    }
}

/// One window's summary of a resource, for its page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The aggregated event, for its page.
    pub event_id: i64,
    pub window_start: String,
    pub window_end: String,
    /// `API activity` (by `eventName`), `resource access`, `user actions`.
    pub template: String,
    pub about: About,
}

/// The template a primary dimension stands for.
pub fn template(primary: &str) -> String {
    match primary {
        "eventName" => "API activity".into(),
        "resourceARN" => "Resource access".into(),
        "userIdentity" => "User actions".into(),
        other => format!("By {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api_activity() -> Value {
        json!({"eventVersion": "1.0", "accountId": "111122223333", "eventId": "62759c1a-6248-48e1-a6b3-d5fb7e6c4bc0",
            "eventCategory": "Aggregated", "eventType": "AwsAggregatedEvent", "awsRegion": "us-west-2",
            "eventSource": "s3.amazonaws.com",
            "timeWindow": {"windowStart": "2025-11-17T19:20:00Z", "windowEnd": "2025-11-17T19:25:00Z", "windowSize": "PT5M"},
            "summary": {
                "primaryDimension": {"dimension": "eventName", "statistics": [{"name": "PutObject", "value": 1000}], "aggregationType": "Count"},
                "details": [{"dimension": "resourceARN", "statistics": [
                    {"name": "arn:aws:s3:::bucket-1", "value": 800}, {"name": "arn:aws:s3:::bucket-2", "value": 150},
                    {"name": "arn:aws:s3:::bucket-3", "value": 50}], "aggregationType": "Count"}]}})
    }

    fn resource_access() -> Value {
        json!({"eventVersion": "1.0", "accountId": "111122223333", "eventId": "2ed87efa-45c1-412d-bc38-7e0879faa6df",
            "eventCategory": "Aggregated", "eventType": "AwsAggregatedEvent", "awsRegion": "us-west-2",
            "eventSource": "s3.amazonaws.com",
            "timeWindow": {"windowStart": "2025-11-17T19:20:00Z", "windowEnd": "2025-11-17T19:25:00Z", "windowSize": "PT5M"},
            "summary": {
                "primaryDimension": {"dimension": "resourceARN", "statistics": [{"name": "arn:aws:s3:::bucket-1", "value": 800}], "aggregationType": "Count"},
                "details": [
                    {"dimension": "eventName", "statistics": [{"name": "PutObject", "value": 800}], "aggregationType": "Count"},
                    {"dimension": "userIdentity", "statistics": [{"name": "arn:aws:iam::111122223333:role/Writer", "value": 800}], "aggregationType": "Count"}]}})
    }

    #[test]
    fn the_documented_summaries_read_as_windows_of_a_resource() {
        let s = parse(&api_activity()).expect("a summary");
        assert_eq!(s.window_start, "2025-11-17T19:20:00Z");
        assert_eq!(s.window_size, "PT5M");
        assert_eq!(s.arns(), ["arn:aws:s3:::bucket-1", "arn:aws:s3:::bucket-2", "arn:aws:s3:::bucket-3"]);
        let a = s.about("arn:aws:s3:::bucket-2").expect("named");
        assert_eq!(a.count, 150);
        assert_eq!(a.by, vec![("eventName".to_owned(), vec![("PutObject".to_owned(), 1000)])]);
        assert!(a.only_this, "one action, one breakdown: the 150 were PutObject");
        assert!(s.about("arn:aws:s3:::other").is_none());

        let r = parse(&resource_access()).expect("a summary");
        let a = r.about("arn:aws:s3:::bucket-1").expect("named");
        assert_eq!(a.count, 800);
        assert!(a.only_this);
        assert_eq!(a.by[1].0, "userIdentity");
        assert_eq!(template(&r.primary.dimension), "Resource access");
    }

    #[test]
    fn other_records_and_broken_summaries_are_not_summaries() {
        assert!(parse(&json!({"eventCategory": "Data", "summary": {}})).is_none());
        assert!(parse(&json!({"eventCategory": "Aggregated"})).is_none());
        assert!(parse(&json!({"eventCategory": "Aggregated", "summary": {"primaryDimension": {"statistics": []}}})).is_none());
        // Hostile values stay text; a missing value counts nothing.
        let s = parse(&json!({"eventCategory": "Aggregated", "summary": {"primaryDimension": {"dimension": "resourceARN",
            "statistics": [{"name": "<script>", "value": "x"}, {"name": 7}]}}})).expect("a summary");
        assert_eq!(s.primary.stats, vec![("<script>".to_owned(), 0), ("7".to_owned(), 0)]);
        assert!(s.arns().is_empty());
    }

    #[test]
    fn arns_name_their_types() {
        assert_eq!(resource_type("arn:aws:s3:::b"), "AWS::S3::Bucket");
        assert_eq!(resource_type("arn:aws:s3:::b/k/e/y"), "AWS::S3::Object");
        assert_eq!(resource_type("arn:aws:lambda:us-east-1:1:function:f"), "AWS::Lambda::Function");
        assert_eq!(resource_type("arn:aws:dynamodb:us-east-1:1:table/t"), "AWS::DynamoDB::Table");
        assert_eq!(resource_type("nonsense"), "unknown");
    }
}
