//! Insights episodes: a call rate or an error rate out of its usual range, as Cairn finds
//! them (`server/src/anomalies/insights.rs`) and as AWS CloudTrail Insights delivers
//! them. Both are findings whose detail is an [`Episode`]; the finding page shows its
//! figures and the timeline's chart draws it as a band.

use crate::detections::Severity;
use crate::query::{Access, EventQuery, Field, TimeRange};
use serde::{Deserialize, Serialize};

/// The call-rate type (write management calls per minute).
pub const CALL_RATE: &str = "ApiCallRateInsight";
/// The error-rate type (calls returning an error per minute).
pub const ERROR_RATE: &str = "ApiErrorRateInsight";

/// Rules whose findings are episodes.
pub const RULES: [&str; 3] = ["cairn-insight-call-rate", "cairn-insight-error-rate", "cairn-aws-insight"];

/// Calls a minute below which no minute is out of range, however quiet its baseline.
pub const FLOOR_PER_MINUTE: i64 = 10;
/// How many times the busiest minute of the baseline a minute must reach.
pub const FACTOR: i64 = 3;
/// Days of baseline.
pub const BASELINE_DAYS: i64 = 7;
/// Days of an account's history before its rates are judged.
pub const MIN_HISTORY_DAYS: i64 = 3;
/// Quiet minutes that may separate two out-of-range minutes of one episode.
pub const GAP_MINUTES: i64 = 5;

/// One value's share of an episode or of its baseline, as an average per minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub value: String,
    pub average: f64,
}

/// The top values of one attribute (`userIdentityArn`, `userAgent`, `errorCode`) in the
/// episode and in its baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    pub attribute: String,
    pub insight: Vec<Share>,
    pub baseline: Vec<Share>,
}

/// An episode: what a finding of an Insights rule holds in its detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    pub summary: String,
    /// Delivered by AWS CloudTrail Insights (true) or found by Cairn.
    pub by_aws: bool,
    /// [`CALL_RATE`] or [`ERROR_RATE`].
    pub insight_type: String,
    pub account: String,
    pub region: Option<String>,
    pub event_source: String,
    pub event_name: String,
    /// The first minute out of range.
    pub start_ms: i64,
    /// The end of the last minute out of range; `None` while AWS's End record is missing.
    pub end_ms: Option<i64>,
    /// Calls a minute over the baseline and over the episode.
    pub baseline_average: Option<f64>,
    pub insight_average: Option<f64>,
    /// Minutes.
    pub baseline_duration: Option<i64>,
    pub insight_duration: Option<i64>,
    /// The busiest minute of the baseline and of the episode (Cairn's only).
    pub baseline_peak: Option<i64>,
    pub insight_peak: Option<i64>,
    /// Calls in the episode (Cairn's only).
    pub calls: Option<i64>,
    pub attributions: Vec<Attribution>,
    /// AWS's `sharedEventID`, tying its Start and End records.
    pub shared_event_id: Option<String>,
}

impl Episode {
    pub fn is_error_rate(&self) -> bool {
        self.insight_type == ERROR_RATE
    }

    /// "call rate" or "error rate".
    pub fn kind(&self) -> &'static str {
        if self.is_error_rate() { "error rate" } else { "call rate" }
    }

    /// Who found it.
    pub fn by(&self) -> &'static str {
        if self.by_aws { "AWS CloudTrail Insights" } else { "Cairn" }
    }

    /// Where the episode ends on a chart: its end, or a minute after its start.
    pub fn end_or_start(&self) -> i64 {
        self.end_ms.unwrap_or(self.start_ms + 60_000).max(self.start_ms + 60_000)
    }

    /// The timeline of the episode's calls over its window: the account, Region, source
    /// and name, and writes (call rate) or errors (error rate).
    pub fn timeline_query(&self) -> EventQuery {
        let minute = 60_000;
        let from_ms = self.start_ms.div_euclid(minute) * minute;
        let to_ms = (self.end_or_start() + minute - 1).div_euclid(minute) * minute;
        let mut q = EventQuery::default()
            .with_range(TimeRange::Absolute { from_ms, to_ms })
            .with_filter(Field::Account, &self.account, false)
            .with_filter(Field::Source, &self.event_source, false)
            .with_filter(Field::Name, &self.event_name, false);
        if let Some(r) = &self.region {
            q = q.with_filter(Field::Region, r, false);
        }
        if self.is_error_rate() {
            q.with_filter(Field::Error, "*", false)
        } else {
            q.with_filter(Field::Category, "Management", false).with_access(Some(Access::Write))
        }
    }
}

// The figures hold no NaN (they are read from counts, or from AWS's JSON, which has
// none), so equality is total: views compare the pages' data by it.
impl Eq for Share {}
impl Eq for Attribution {}
impl Eq for Episode {}
impl Eq for Band {}

/// How far an episode left its baseline: the ratio of the averages (a baseline below 0.2
/// a minute counts as 0.2, so the floor of 10 a minute alone is medium), high from 100
/// times, medium from 10.
pub fn severity(insight_average: f64, baseline_average: f64) -> Severity {
    let ratio = insight_average / baseline_average.max(0.2);
    if ratio >= 100.0 {
        Severity::High
    } else if ratio >= 10.0 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

/// A rate per minute as a person reads it: "664", "34.3", "0.60", "under 0.01", "0".
pub fn rate(x: f64) -> String {
    if !x.is_finite() || x <= 0.0 {
        "0".into()
    } else if x >= 100.0 {
        crate::fmt::count(x.round() as i64)
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else if x >= 0.01 {
        format!("{x:.2}")
    } else {
        "under 0.01".into()
    }
}

/// An episode drawn on the timeline's chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Band {
    pub finding: i64,
    pub severity: Severity,
    pub episode: Episode,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn episode(kind: &str) -> Episode {
        Episode {
            summary: String::new(),
            by_aws: false,
            insight_type: kind.into(),
            account: "111122223333".into(),
            region: Some("us-east-1".into()),
            event_source: "ec2.amazonaws.com".into(),
            event_name: "RunInstances".into(),
            start_ms: 1_704_067_230_000,
            end_ms: Some(1_704_067_800_000),
            baseline_average: Some(0.02),
            insight_average: Some(40.0),
            baseline_duration: Some(10_080),
            insight_duration: Some(10),
            baseline_peak: Some(2),
            insight_peak: Some(44),
            calls: Some(400),
            attributions: Vec::new(),
            shared_event_id: None,
        }
    }

    #[test]
    fn an_episode_opens_the_timeline_of_its_calls_over_whole_minutes() {
        let href = episode(CALL_RATE).timeline_query().href("/");
        for part in ["from=2024-01-01T00:00", "to=2024-01-01T00:10", "event=RunInstances", "source=ec2.amazonaws.com",
            "account=111122223333", "region=us-east-1", "access=write", "category=Management"] {
            assert!(href.contains(part), "{part} in {href}");
        }
        let href = episode(ERROR_RATE).timeline_query().href("/");
        assert!(href.contains("error=*") || href.contains("error=%2A"), "{href}");
        assert!(!href.contains("access=write"), "{href}");
    }

    #[test]
    fn severity_follows_the_size_of_the_departure() {
        assert_eq!(severity(40.0, 0.02), Severity::High);
        assert_eq!(severity(12.0, 0.5), Severity::Medium);
        assert_eq!(severity(664.0, 85.4), Severity::Low);
        assert_eq!(severity(0.6, 0.000_088), Severity::Low);
    }

    #[test]
    fn rates_read_at_a_glance() {
        assert_eq!(rate(664.0), "664");
        assert_eq!(rate(1234.4), "1,234");
        assert_eq!(rate(34.27), "34.3");
        assert_eq!(rate(0.6), "0.60");
        assert_eq!(rate(0.000_088), "under 0.01");
        assert_eq!(rate(0.0), "0");
        assert_eq!(rate(f64::NAN), "0");
    }
}
