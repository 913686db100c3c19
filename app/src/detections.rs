//! What the detection pages and the command line show: rules, findings and their
//! history, shared by the server and the browser.

use serde::{Deserialize, Serialize};

/// How serious a rule's findings are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Worst first.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Informational,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
    pub fn parse(s: &str) -> Option<Severity> {
        let s = s.trim().to_ascii_lowercase();
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Where a finding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Acknowledged,
    Resolved,
    FalsePositive,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Open, Status::Acknowledged, Status::Resolved, Status::FalsePositive];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
            Status::FalsePositive => "false_positive",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Status::Open => "Open",
            Status::Acknowledged => "Acknowledged",
            Status::Resolved => "Resolved",
            Status::FalsePositive => "False positive",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|v| v.as_str() == s.trim())
    }
}

/// A finding as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub id: i64,
    pub rule: String,
    pub rule_title: String,
    pub rule_author: Option<String>,
    pub severity: Severity,
    pub status: Status,
    pub assignee: Option<String>,
    /// The grouping key's values, joined by ", ".
    pub group: String,
    pub principal: Option<String>,
    pub principal_key: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub first_ms: i64,
    pub last_ms: i64,
    pub events: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}
