//! Data the server functions return to the pages.

use serde::{Deserialize, Serialize};

/// A time range resolved to absolute UTC milliseconds, `[from_ms, to_ms)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedRange {
    pub from_ms: i64,
    pub to_ms: i64,
    /// The preset it came from (`24h`), if any.
    pub preset: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub start_ms: i64,
    pub events: i64,
    pub errors: i64,
}

/// What the database holds overall.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreInfo {
    pub events: i64,
    pub oldest_ms: Option<i64>,
    pub newest_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    pub id: i64,
    pub time_ms: i64,
    pub principal: String,
    pub principal_kind: String,
    pub name: String,
    pub source: String,
    pub region: Option<String>,
    pub resource: Option<String>,
    pub source_ip: Option<String>,
    pub error_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    pub range: ResolvedRange,
    pub bucket_ms: i64,
    pub buckets: Vec<Bucket>,
    pub total_events: i64,
    pub total_errors: i64,
    pub rows: Vec<EventRow>,
    /// Cursor of the next (older) page.
    pub next_before: Option<i64>,
    pub store: StoreInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalInfo {
    pub display: String,
    pub kind: String,
    pub key: String,
    pub arn: Option<String>,
    pub account: Option<String>,
    pub origin: Option<String>,
    /// The role behind a session, or the user behind a federated session.
    pub parent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceInfo {
    pub arn: String,
    pub kind: String,
    pub name: String,
}

/// The call that issued the temporary credentials an event was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedBy {
    pub event_id: i64,
    pub principal: String,
    pub event_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDetail {
    pub id: i64,
    pub time_ms: i64,
    pub event_id: Option<String>,
    pub account: String,
    pub region: Option<String>,
    pub source: String,
    pub name: String,
    pub event_type: Option<String>,
    pub category: Option<String>,
    pub read_only: Option<bool>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub access_key: Option<String>,
    pub request_id: Option<String>,
    pub shared_event_id: Option<String>,
    pub principal: PrincipalInfo,
    pub issued_by: Option<IssuedBy>,
    pub resources: Vec<ResourceInfo>,
    /// Pretty-printed parts of the original record (plain text, never HTML).
    pub request_parameters: Option<String>,
    pub response_elements: Option<String>,
    pub additional_event_data: Option<String>,
    pub raw_pretty: String,
}

/// A dashboard user as the admin page lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEntry {
    pub name: String,
    pub role: String,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

/// One line of the dashboard's own audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub client: Option<String>,
}

/// A page of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_before: Option<i64>,
}
