//! Data the server functions return to the pages.

use crate::query::Field;
use serde::{Deserialize, Serialize};

/// A time range resolved to absolute UTC milliseconds, `[from_ms, to_ms)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedRange {
    pub from_ms: i64,
    pub to_ms: i64,
    /// The preset it came from (`24h`), if any.
    pub preset: Option<String>,
    /// How the page picked it, when no range was given.
    #[serde(default)]
    pub picked: Option<Picked>,
}

impl ResolvedRange {
    pub fn new(from_ms: i64, to_ms: i64) -> ResolvedRange {
        ResolvedRange {
            from_ms,
            to_ms,
            preset: None,
            picked: None,
        }
    }
}

/// How a page picked its range when none was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Picked {
    /// The last 24 hours.
    LastDay,
    /// Nothing happened in the last 24 hours: the 24 hours up to the newest event.
    LatestDay,
    /// The entity's own active period, first to last seen.
    ActivePeriod,
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
    /// While the full-text index is being filled in for events stored before it existed:
    /// the time before which request and response contents are not searchable yet.
    #[serde(default)]
    pub search_pending_before_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    pub id: i64,
    pub time_ms: i64,
    pub principal: String,
    pub principal_key: String,
    pub principal_kind: String,
    pub name: String,
    pub source: String,
    pub region: Option<String>,
    pub resource: Option<String>,
    pub resource_arn: Option<String>,
    pub source_ip: Option<String>,
    /// The event's error: its code, else its message or failure field (`None`: it
    /// succeeded).
    pub error: Option<String>,
    pub read_only: Option<bool>,
    /// Where a free-text search matched this event (only filled for searches).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<Match>,
}

/// A field of a record that a search matched, by JSON path, with the text around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    pub field: String,
    pub text: String,
}

/// Headline figures for a set of events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kpis {
    pub events: i64,
    pub errors: i64,
    /// Errors that are refusals (`AccessDenied*`, `*UnauthorizedOperation`).
    pub denied: i64,
    /// Events that are not read-only.
    pub writes: i64,
    /// Distinct principals.
    pub principals: i64,
}

/// One row of a top-N panel: `value` is what a filter on it matches, `label` what is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopRow {
    pub value: String,
    pub label: String,
    pub events: i64,
    pub errors: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopList {
    pub field: Field,
    pub rows: Vec<TopRow>,
    /// How many values the selection has (the rows are the top of them), and whether
    /// that is exact or a lower bound.
    pub distinct: i64,
    pub exact: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    pub range: ResolvedRange,
    /// The period the figures are compared with, if any (see `EventQuery::comparison`).
    pub compare: Option<ResolvedRange>,
    pub bucket_ms: i64,
    pub buckets: Vec<Bucket>,
    pub kpis: Kpis,
    /// The comparison period's figures, when both it and this one were counted in full.
    pub compare_kpis: Option<Kpis>,
    /// When the figures stop short of the start of the range: where they start.
    pub counted_from_ms: Option<i64>,
    pub top: Vec<TopList>,
    pub rows: Vec<EventRow>,
    /// Cursor of the next page.
    pub next_cursor: Option<i64>,
    /// A column order sorted only the events from here on.
    pub sorted_from_ms: Option<i64>,
    pub store: StoreInfo,
    /// Whether the reader may save the view as an investigation.
    pub can_save: bool,
    /// What the filters' values are called (a principal's key, a resource's ARN → its
    /// name), for the chips.
    pub names: Vec<(String, String)>,
    /// Findings that start in the range, for the chart.
    #[serde(default)]
    pub markers: Vec<crate::detections::FindingMarker>,
    /// Insights episodes overlapping the range, drawn as bands.
    pub episodes: Vec<crate::insights::Band>,
    /// The coverage gaps the range holds, or why they cannot be told.
    pub gaps: crate::pages::coverage::Gaps,
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
    /// The record's `errorCode` and `errorMessage`.
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// The event's error as Cairn files it: the code, else the message, else the
    /// failure field (`ConsoleLogin: Failure`); `None`: it succeeded.
    pub error: Option<String>,
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
    /// Enriched events: the chosen resource and principal tags and condition keys.
    #[serde(default)]
    pub event_context: Option<String>,
    /// For an aggregated event: its window and what it summarises.
    #[serde(default)]
    pub summary: Option<crate::aggregated::Summary>,
    pub raw_pretty: String,
    /// Open investigations the reader may pin it to (id, title); empty for viewers.
    pub pin_to: Vec<(i64, String)>,
    /// Events around this one from the same request, shared event or principal.
    pub related: Vec<RelatedEvent>,
    /// More related events than shown were found.
    pub related_capped: bool,
    /// Investigations it is pinned to (id, title).
    pub pinned_in: Vec<(i64, String)>,
    /// The reader may pin and unpin.
    pub can_pin: bool,
}

/// Related events an event page shows at most.
pub const RELATED_SHOWN: i64 = 30;

/// An event near another, and why it is shown with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelatedEvent {
    pub why: String,
    pub row: EventRow,
}

/// A dashboard user as the admin page lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEntry {
    pub name: String,
    pub role: String,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    /// Signs in through the identity provider, which decides the role at each sign-in.
    pub single_sign_on: bool,
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

/// Who a principal is, as the principal page's card shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalCard {
    pub key: String,
    pub kind: String,
    pub display: String,
    pub arn: Option<String>,
    pub account: Option<String>,
    pub origin: Option<String>,
    /// The role behind a session: (key, display name).
    pub parent: Option<(String, String)>,
    pub first_seen_ms: Option<i64>,
    pub last_seen_ms: Option<i64>,
    pub events: i64,
    pub console: ConsoleSignIns,
}

/// A principal's console sign-ins (its sessions' included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSignIns {
    pub succeeded: i64,
    /// Successful ones that used MFA.
    pub with_mfa: i64,
    pub failed: i64,
    /// Whether the newest successful one used MFA, when there is one.
    pub last_ok_mfa: Option<bool>,
}

/// One step back along the credentials behind a session: `principal` called
/// `event_name` (event `event_id`) and got the credentials the step before used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStep {
    pub principal_key: String,
    pub principal: String,
    pub kind: String,
    pub event_id: i64,
    pub event_name: String,
    pub time_ms: i64,
    pub source_ip: Option<String>,
}

/// A session of a role, or any principal in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalRow {
    pub key: String,
    pub display: String,
    pub kind: String,
    pub first_seen_ms: Option<i64>,
    pub last_seen_ms: Option<i64>,
    pub events: i64,
}

/// A selection of events with its figures: what the principal and resource pages show
/// under their cards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub range: ResolvedRange,
    pub bucket_ms: i64,
    pub buckets: Vec<Bucket>,
    pub kpis: Kpis,
    /// When the figures stop short of the start of the range: where they start.
    pub counted_from_ms: Option<i64>,
    pub top: Vec<TopList>,
    pub rows: Vec<EventRow>,
    pub next_cursor: Option<i64>,
    /// A column order sorted only the events from here on.
    pub sorted_from_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalView {
    pub card: PrincipalCard,
    pub chain: Vec<ChainStep>,
    pub sessions: Vec<PrincipalRow>,
    pub activity: Activity,
    /// The signed-in user may save this view as an investigation.
    #[serde(default)]
    pub can_save: bool,
    /// Its latest findings, or why they cannot be read.
    pub findings: Result<Vec<crate::detections::Finding>, String>,
    /// The coverage gaps its range holds (in its account), or why they cannot be told.
    pub gaps: crate::pages::coverage::Gaps,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceCard {
    pub arn: String,
    pub kind: String,
    pub name: String,
    pub account: Option<String>,
    pub first_seen_ms: Option<i64>,
    pub last_seen_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceView {
    pub card: ResourceCard,
    /// Write events that touched it, newest first (in the range).
    pub changes: Vec<EventRow>,
    pub activity: Activity,
    /// The signed-in user may save this view as an investigation.
    #[serde(default)]
    pub can_save: bool,
    /// Aggregated events that name it: what each 5-minute window says about it, newest
    /// first (in the range).
    #[serde(default)]
    pub windows: Vec<crate::aggregated::Window>,
    /// Its latest findings, or why they cannot be read.
    pub findings: Result<Vec<crate::detections::Finding>, String>,
    /// The coverage gaps its range holds, or why they cannot be told.
    pub gaps: crate::pages::coverage::Gaps,
}

/// An investigation as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvestigationSummary {
    pub id: i64,
    pub title: String,
    pub status: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_by: String,
    pub updated_at: i64,
    pub pinned: i64,
}

/// One change to an investigation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Investigation {
    pub summary: InvestigationSummary,
    pub notes: String,
    /// The saved view's canonical query string.
    pub query: String,
    pub pinned: Vec<EventRow>,
    pub history: Vec<HistoryEntry>,
}

/// An investigation and the view it saved, as its page shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvestigationView {
    pub investigation: Investigation,
    pub timeline: Timeline,
    /// Whether the reader may edit it.
    pub can_edit: bool,
    /// The view shown when the reader changed the saved one on the page.
    pub view: Option<String>,
}

/// A sync source as the sources page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSummary {
    pub name: String,
    /// `s3://bucket/prefix`, the queue URL, `LookupEvents`.
    pub feeds: Vec<String>,
    pub regions: Vec<String>,
    pub paused: bool,
    /// The worst state of the latest pass of each feed (`running` first).
    pub state: Option<String>,
    pub last_pass_at: Option<i64>,
    pub last_success_at: Option<i64>,
    /// The newest delivery or event time any feed has seen.
    pub newest_ms: Option<i64>,
    pub events_total: i64,
    pub problems_24h: i64,
}

/// A source's settings, as its edit form shows them and the sync reads them (the
/// external ID only as whether there is one: it never leaves the server). The one row
/// type of the `sources` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct SourceSettings {
    pub id: i64,
    pub name: String,
    pub bucket: Option<String>,
    pub prefix: String,
    pub org_id: Option<String>,
    pub queue_url: Option<String>,
    pub lookup_events: bool,
    #[cfg_attr(feature = "ssr", sqlx(json))]
    pub regions: Vec<String>,
    pub profile: Option<String>,
    pub role_arn: Option<String>,
    pub has_external_id: bool,
    pub session_name: Option<String>,
    pub endpoint_url: Option<String>,
    pub backfill_days: i64,
    /// Days its accounts' events are kept (`None`: the server's `--retain-days`).
    pub retain_days: Option<i64>,
    pub paused: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl SourceSettings {
    /// What the source reads, as shown: `s3://bucket/prefix`, the queue, LookupEvents.
    pub fn feeds(&self) -> Vec<String> {
        let mut feeds = Vec::new();
        if let Some(b) = &self.bucket {
            if self.prefix.is_empty() {
                feeds.push(format!("s3://{b}"));
            } else {
                feeds.push(format!("s3://{b}/{}", self.prefix));
            }
        }
        if let Some(q) = &self.queue_url {
            feeds.push(q.clone());
        }
        if self.lookup_events {
            feeds.push("LookupEvents".into());
        }
        feeds
    }
}

/// How one feed of a source is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedStatus {
    pub feed: String,
    pub state: String,
    pub last_started_at: i64,
    pub last_finished_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub newest_ms: Option<i64>,
    pub found_last: i64,
    pub files_last: i64,
    pub events_last: i64,
    pub duplicates_last: i64,
    pub files_total: i64,
    pub events_total: i64,
    pub passes: i64,
    pub error: Option<String>,
    /// While a pass runs: files in so far of those it found.
    pub running_files: Option<(i64, i64)>,
}

/// How far the LookupEvents bootstrap of one Region has read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionProgress {
    pub region: String,
    /// Oldest event read back to (ms), and the window's start.
    pub reached_ms: Option<i64>,
    pub start_ms: i64,
    pub done: bool,
    pub fraction: f64,
}

/// Something that went wrong in a pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncProblem {
    pub at: i64,
    pub feed: String,
    pub what: String,
    pub error: String,
}

/// One line of a "check access" run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckLineView {
    pub feed: String,
    pub action: String,
    pub ok: bool,
    /// Refused, but something else stands in.
    #[serde(default)]
    pub optional: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRun {
    pub at: i64,
    pub by: Option<String>,
    pub lines: Vec<CheckLineView>,
}

/// A trail as the source's latest inventory shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailSummary {
    pub region: String,
    pub arn: String,
    pub name: String,
    pub home_region: Option<String>,
    pub shadow: bool,
    pub gone: bool,
    pub logging: Option<bool>,
    pub multi_region: bool,
    pub organization: bool,
    pub selectors: String,
    pub latest_delivery: Option<i64>,
    pub delivery_error: Option<String>,
    pub changed_at: i64,
    pub changes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceDetail {
    /// The server's clock when read, for "ago" and lag figures.
    pub now_ms: i64,
    pub settings: SourceSettings,
    pub feeds: Vec<FeedStatus>,
    pub lookup: Vec<RegionProgress>,
    pub problems: Vec<SyncProblem>,
    pub check: Option<CheckRun>,
    pub trails: Vec<TrailSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceList {
    pub now_ms: i64,
    pub sources: Vec<SourceSummary>,
    /// What is stored, and how long it is kept.
    pub store: StoreInfo,
    pub retain_days: Option<u32>,
    /// Sources with a retention period of their own: name, days.
    pub source_periods: Vec<(String, i64)>,
    pub last_retention: Option<RetentionPass>,
}

/// One pass of the retention: events older than `days` removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionPass {
    pub finished_at: i64,
    pub days: i64,
    pub cutoff_ms: i64,
    pub removed: i64,
    /// Past the cutoff but kept: pinned to an investigation, or in an open finding.
    pub kept: i64,
    pub unreadable: i64,
    pub pages_freed: i64,
    /// The database's size after the pass.
    pub file_bytes: i64,
    pub seconds: f64,
    pub error: Option<String>,
}
