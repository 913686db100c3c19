//! Alert destinations and deliveries as the pages and the command line see them.

use crate::detections::Severity;
use serde::{Deserialize, Serialize};

/// The kinds of destination.
pub const KINDS: [(&str, &str); 4] = [
    ("webhook", "Webhook (JSON)"),
    ("slack", "Slack-compatible webhook"),
    ("sns", "Amazon SNS topic"),
    ("eventbridge", "Amazon EventBridge bus"),
];

pub fn kind_label(kind: &str) -> &'static str {
    KINDS.iter().find(|k| k.0 == kind).map(|k| k.1).unwrap_or("unknown")
}

/// A destination with how its deliveries stand. Secrets are never part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    /// What may be shown of the target: a webhook URL's origin, a topic or bus ARN.
    pub shown: String,
    pub has_token: bool,
    pub endpoint_url: Option<String>,
    pub min_severity: Severity,
    /// None: every rule.
    pub rules: Option<Vec<String>>,
    pub enabled: bool,
    pub created_ms: i64,
    pub created_by: String,
    pub pending: i64,
    pub sent: i64,
    pub failed: i64,
    pub last_at_ms: Option<i64>,
    pub last_ok: Option<bool>,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryLine {
    pub at_ms: i64,
    /// None: a test.
    pub finding_id: Option<i64>,
    pub attempt: i64,
    pub ok: bool,
    pub answer: Option<String>,
    pub error: Option<String>,
    pub millis: i64,
}

/// An alert still owed or given up on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxLine {
    pub finding_id: i64,
    pub state: String,
    pub attempts: i64,
    pub next_ms: i64,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertsView {
    pub destinations: Vec<DestinationRow>,
    pub now_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationView {
    pub row: DestinationRow,
    pub deliveries: Vec<DeliveryLine>,
    pub waiting: Vec<OutboxLine>,
}

/// How a finding's alerts went, for its page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingAlert {
    pub destination: String,
    pub kind: String,
    pub state: String,
    pub attempts: i64,
    pub sent_ms: Option<i64>,
    pub last_error: Option<String>,
}
