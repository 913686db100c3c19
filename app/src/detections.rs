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
    /// 0 informational … 4 critical.
    pub fn rank(self) -> i64 {
        self as i64
    }
    pub fn of_rank(rank: i64) -> Severity {
        Severity::ALL.into_iter().find(|s| s.rank() == rank).unwrap_or(Severity::Informational)
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
    /// For an anomaly: what made it fire, with its figures.
    pub summary: Option<String>,
    /// For an Insights episode (Cairn's or AWS's): its figures.
    pub insight: Option<crate::insights::Episode>,
}

/// The history lines of a status and assignee change (of a finding or an incident): the
/// status moved, assigned or unassigned. Empty when nothing changed.
pub fn state_changes(old: (&str, Option<&str>), new: (&str, Option<&str>)) -> Vec<String> {
    let mut changes = Vec::new();
    if old.0 != new.0 {
        changes.push(format!("status: {} → {}", old.0, new.0));
    }
    if old.1 != new.1 {
        changes.push(match new.1 {
            Some(a) => format!("assigned to {a}"),
            None => "unassigned".to_string(),
        });
    }
    changes
}

/// One line of a finding's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLine {
    pub at_ms: i64,
    pub actor: String,
    pub change: String,
    pub note: Option<String>,
}

/// What a rule says about itself, as its page and the findings it made show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleInfo {
    pub id: String,
    pub title: String,
    pub description: String,
    /// `pattern` or `sigma`.
    pub language: String,
    pub body: String,
    pub severity: Severity,
    pub tags: Vec<String>,
    /// "20 matches in 5 minutes", "10 distinct awsRegion in 1 hour"; `None`: each match.
    pub threshold: Option<String>,
    pub group_by: Vec<String>,
    pub window_secs: i64,
    pub author: Option<String>,
    pub references: Vec<String>,
    pub license: Option<String>,
    pub enabled: bool,
    /// `builtin`, `sigma` or `user`.
    pub origin: String,
    pub version: i64,
    pub updated_ms: i64,
    pub updated_by: String,
}

/// A row of `/rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRow {
    pub id: String,
    pub title: String,
    pub language: String,
    pub severity: Severity,
    pub enabled: bool,
    pub origin: String,
    pub tags: Vec<String>,
    pub open: i64,
    pub findings: i64,
    pub last_ms: Option<i64>,
}

/// A rule's page: the rule, its history, its suppressions and its latest findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleView {
    /// `None` on the page of a new rule.
    pub rule: Option<RuleInfo>,
    pub versions: Vec<VersionLine>,
    pub suppressions: Vec<SuppressionLine>,
    pub findings: Vec<Finding>,
    pub can_edit: bool,
    /// The back-test asked for in the address.
    pub back_test: Option<Result<BackTestResult, String>>,
    /// What the edit form starts from: the draft in the address, else the stored rule.
    pub draft: Option<RuleDraft>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionLine {
    pub version: i64,
    pub at_ms: i64,
    pub actor: String,
    pub change: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressionLine {
    pub id: i64,
    /// `principal`, `source_ip` or `resource`.
    pub field: String,
    pub value: String,
    pub reason: String,
    pub expires_ms: Option<i64>,
    pub created_ms: i64,
    pub created_by: String,
}

/// What a rule would have matched over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackTestResult {
    pub from_ms: i64,
    pub to_ms: i64,
    pub matches: u64,
    pub principals: u64,
    pub findings: u64,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
    /// Events read.
    pub scanned: u64,
    pub millis: u64,
    /// When it ran (for "last 2 days ago").
    pub now_ms: i64,
    /// The first matched events.
    pub events: Vec<crate::model::EventRow>,
}

/// A finding's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingView {
    pub finding: Finding,
    pub rule: Option<RuleInfo>,
    /// The first events (the finding holds `finding.events`).
    pub events: Vec<crate::model::EventRow>,
    pub history: Vec<HistoryLine>,
    /// The timeline's query showing the finding's events.
    pub timeline_query: String,
    pub can_edit: bool,
    /// Where the finding was sent and how that went.
    pub alerts: Vec<crate::alerts::FindingAlert>,
}

/// A rule an event matched, and the finding that holds it (none when the match made no
/// finding: below a threshold, suppressed, or the rule was not run when it was stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMatch {
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    pub finding: Option<i64>,
    pub status: Option<Status>,
}

/// One CIS monitoring control over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlRow {
    pub rule: String,
    pub title: String,
    pub enabled: bool,
    pub findings: i64,
    pub open: i64,
    pub events: i64,
    pub last_ms: Option<i64>,
}

/// Open findings, attached to each page request for the top bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenFindings(pub i64);

/// The findings list's view, as it is in the address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingsQuery {
    /// `open`, `acknowledged`, `resolved`, `false_positive`, `any`; none: open and
    /// acknowledged.
    pub status: Option<String>,
    pub severity: Option<Severity>,
    pub rule: Option<String>,
    /// A principal's key.
    pub principal: Option<String>,
    /// A resource's ARN.
    pub resource: Option<String>,
    /// Dates or times as typed (`2026-12-01`, `2026-12-01T10:00`).
    pub from: Option<String>,
    pub to: Option<String>,
}

impl FindingsQuery {
    pub fn parse(query: &str) -> FindingsQuery {
        let mut q = FindingsQuery::default();
        for (k, v) in form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            let v = v.trim().to_string();
            if v.is_empty() {
                continue;
            }
            match k.as_ref() {
                "status" if v == "any" || Status::parse(&v).is_some() => q.status = Some(v),
                "severity" => q.severity = Severity::parse(&v),
                "rule" => q.rule = Some(v),
                "principal" => q.principal = Some(v),
                "resource" => q.resource = Some(v),
                "from" => q.from = Some(v),
                "to" => q.to = Some(v),
                _ => {}
            }
        }
        q
    }

    pub fn to_query(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        let pairs = [
            ("status", self.status.clone()),
            ("severity", self.severity.map(|s| s.as_str().to_string())),
            ("rule", self.rule.clone()),
            ("principal", self.principal.clone()),
            ("resource", self.resource.clone()),
            ("from", self.from.clone()),
            ("to", self.to.clone()),
        ];
        for (k, v) in pairs {
            if let Some(v) = v {
                s.append_pair(k, &v);
            }
        }
        s.finish()
    }

    pub fn href(&self) -> String {
        let q = self.to_query();
        if q.is_empty() { "/findings".into() } else { format!("/findings?{q}") }
    }

    /// The statuses listed.
    pub fn statuses(&self) -> Vec<Status> {
        match self.status.as_deref() {
            None => vec![Status::Open, Status::Acknowledged],
            Some("any") => Vec::new(),
            Some(s) => Status::parse(s).into_iter().collect(),
        }
    }

    /// The range in ms, when given and readable.
    pub fn range_ms(&self) -> (Option<i64>, Option<i64>) {
        (
            self.from.as_deref().and_then(|s| crate::query::parse_instant(s, false)),
            self.to.as_deref().and_then(|s| crate::query::parse_instant(s, true)),
        )
    }
}

/// Seconds in words: `5 minutes`, `1 hour`, `1 day`, `90 seconds`.
pub fn window_words(secs: i64) -> String {
    let (n, unit) = if secs % 86_400 == 0 {
        (secs / 86_400, "day")
    } else if secs % 3_600 == 0 {
        (secs / 3_600, "hour")
    } else if secs % 60 == 0 {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// A rule as a person writes it in a form (or on the command line): every field as text.
/// On a rule's page the draft travels in the address, so a back-test of it can be shared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuleDraft {
    pub id: String,
    pub title: String,
    pub description: String,
    /// `pattern` or `sigma`.
    pub language: String,
    pub body: String,
    pub severity: String,
    /// Separated by commas or spaces.
    pub tags: String,
    /// Matches needed within `window`; empty: each match counts.
    pub threshold: String,
    /// With a threshold: count distinct values of this field instead.
    pub distinct: String,
    /// `300s`, `5m`, `1h`, `1d`.
    pub window: String,
    /// Comma-separated.
    pub group_by: String,
}

pub const DRAFT_KEYS: [&str; 11] = [
    "id", "title", "description", "language", "body", "severity", "tags", "threshold", "distinct", "window", "group_by",
];

impl RuleDraft {
    /// The draft in a query string, if it holds one (`body` is given).
    pub fn from_query(query: &str) -> Option<RuleDraft> {
        let mut d = RuleDraft::default();
        let mut any = false;
        for (k, v) in form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            let v = v.into_owned();
            let slot = match k.as_ref() {
                "id" => &mut d.id,
                "title" => &mut d.title,
                "description" => &mut d.description,
                "language" => &mut d.language,
                "body" => {
                    any = true;
                    &mut d.body
                }
                "severity" => &mut d.severity,
                "tags" => &mut d.tags,
                "threshold" => &mut d.threshold,
                "distinct" => &mut d.distinct,
                "window" => &mut d.window,
                "group_by" => &mut d.group_by,
                _ => continue,
            };
            *slot = v;
        }
        any.then_some(d)
    }

    /// The draft as a query string (the keys of [`DRAFT_KEYS`]).
    pub fn to_query(&self) -> String {
        let d = self;
        let values = [
            &d.id, &d.title, &d.description, &d.language, &d.body, &d.severity, &d.tags, &d.threshold, &d.distinct,
            &d.window, &d.group_by,
        ];
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in DRAFT_KEYS.iter().zip(values) {
            s.append_pair(k, v);
        }
        s.finish()
    }

    /// The form of a stored rule.
    pub fn of(r: &RuleInfo, threshold: Option<(u32, Option<String>, i64)>) -> RuleDraft {
        let (count, distinct, window) = match threshold {
            Some((c, d, w)) => (c.to_string(), d.unwrap_or_default(), duration_words(w)),
            None => (String::new(), String::new(), duration_words(r.window_secs)),
        };
        RuleDraft {
            id: r.id.clone(),
            title: r.title.clone(),
            description: r.description.clone(),
            language: r.language.clone(),
            body: r.body.clone(),
            severity: r.severity.as_str().into(),
            tags: r.tags.join(", "),
            threshold: count,
            distinct,
            window,
            group_by: r.group_by.join(", "),
        }
    }

    /// The tags as a list.
    pub fn tag_list(&self) -> Vec<String> {
        self.tags
            .split(|c: char| c == ',' || c.is_whitespace())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// `300s`, `5m`, `1h`, `1d` (or bare seconds) as seconds.
pub fn duration_secs(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let bad = || format!("{s:?} is not a duration (300s, 5m, 1h, 1d)");
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n.parse().map_err(|_| bad())?;
    let mult = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

/// Seconds as the shortest of `1d`, `2h`, `5m`, `90s`.
pub fn duration_words(secs: i64) -> String {
    if secs > 0 && secs % 86_400 == 0 {
        format!("{}d", secs / 86_400)
    } else if secs > 0 && secs % 3_600 == 0 {
        format!("{}h", secs / 3_600)
    } else if secs > 0 && secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// `/findings`: the findings of a view, with what its filter form offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingsList {
    pub findings: Vec<Finding>,
    /// Every rule (id, title), for the rule filter.
    pub rules: Vec<(String, String)>,
    /// More findings match than are listed.
    pub more: bool,
    /// `from` or `to` could not be read.
    pub range_problem: bool,
}

/// Runs a back-test for a page: the server hands it to the pages (it reads the store on
/// a connection of its own, off the async threads).
#[cfg(feature = "ssr")]
#[derive(Clone)]
pub struct BackTester(
    pub std::sync::Arc<
        dyn Fn(
                crate::detect::RuleDef,
                i64,
                i64,
            ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<BackTestResult, String>> + Send>>
            + Send
            + Sync,
    >,
);

/// A finding drawn on the timeline's chart, at its first event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingMarker {
    pub id: i64,
    pub time_ms: i64,
    pub severity: Severity,
    pub title: String,
}
