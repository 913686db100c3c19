//! The one query model behind every event view: time range, filters (each included or
//! excluded, repeatable), free text, sort and cursor, and its URL codec.
//!
//! Parsing is total: a value that cannot be read takes its default and never fails the
//! page. Serialising is canonical: fixed key order, values sorted and deduplicated,
//! defaults left out, percent-encoded. The URL keys are the documented deep-link
//! parameters (see README):
//!
//! | key | meaning |
//! |---|---|
//! | `from`, `to` | ISO 8601 date or date-time, UTC; a bare `to` date includes that day |
//! | `range` | `1h`, `24h`, `7d`, `30d`, `90d`, `all`; without a range the page picks (see [`TimeRange::Auto`]) |
//! | `account`, `region`, `source`, `event`, `principal`, `access_key`, `resource`, `ip`, `user_agent`, `error`, `type`, `category` | include; repeat for "any of" |
//! | `not_<key>` | exclude; `error=*` is "any error", `not_error=*` "no error" |
//! | `access` | `read` or `write` |
//! | `q` | free text |
//! | `sort` | `oldest` (newest first by default), or a column (`principal`, `event`, `source`, `region`, `resource`, `ip`, `error`), `-` before it for descending |
//! | `rows` | rows a page: `50` (default), `200`, `1000` |
//! | `compare` | what the figures are compared with: the previous period (default), `week` (the same time a week before), `none`; or `compare_from` and `compare_to` |
//! | `cursor` | the page after this event id (time order), or the rows skipped (column order) |
//! | `at` | (read only) jump to a time: becomes the cursor that starts the page there |

use crate::model::{Picked, ResolvedRange, StoreInfo};
use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Preset {
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    All,
}

impl Preset {
    pub const ALL: [Preset; 6] = [
        Preset::Hour,
        Preset::Day,
        Preset::Week,
        Preset::Month,
        Preset::Quarter,
        Preset::All,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Preset::Hour => "1h",
            Preset::Day => "24h",
            Preset::Week => "7d",
            Preset::Month => "30d",
            Preset::Quarter => "90d",
            Preset::All => "all",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Preset::Hour => "Last hour",
            Preset::Day => "Last 24 hours",
            Preset::Week => "Last 7 days",
            Preset::Month => "Last 30 days",
            Preset::Quarter => "Last 90 days",
            Preset::All => "All time",
        }
    }

    pub fn parse(s: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.key() == s)
    }

    fn millis(self) -> Option<i64> {
        Some(match self {
            Preset::Hour => 3_600_000,
            Preset::Day => 86_400_000,
            Preset::Week => 7 * 86_400_000,
            Preset::Month => 30 * 86_400_000,
            Preset::Quarter => 90 * 86_400_000,
            Preset::All => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TimeRange {
    /// None given: the page picks. The timeline shows the last 24 hours, or when they
    /// hold no event the 24 hours up to the newest one; a principal's, resource's,
    /// address's or key's page shows its own active period, first to last seen.
    #[default]
    Auto,
    Preset(Preset),
    /// `[from_ms, to_ms)`, minute-aligned; `to_ms == i64::MAX` means "until now".
    Absolute {
        from_ms: i64,
        to_ms: i64,
    },
}

/// What a filter looks at. The order here is the order of keys in a canonical URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Field {
    Account,
    Region,
    Source,
    Name,
    Principal,
    AccessKey,
    Resource,
    SourceIp,
    UserAgent,
    Error,
    EventType,
    Category,
}

impl Field {
    pub const ALL: [Field; 12] = [
        Field::Account,
        Field::Region,
        Field::Source,
        Field::Name,
        Field::Principal,
        Field::AccessKey,
        Field::Resource,
        Field::SourceIp,
        Field::UserAgent,
        Field::Error,
        Field::EventType,
        Field::Category,
    ];

    /// The URL key.
    pub fn key(self) -> &'static str {
        match self {
            Field::Account => "account",
            Field::Region => "region",
            Field::Source => "source",
            Field::Name => "event",
            Field::Principal => "principal",
            Field::AccessKey => "access_key",
            Field::Resource => "resource",
            Field::SourceIp => "ip",
            Field::UserAgent => "user_agent",
            Field::Error => "error",
            Field::EventType => "type",
            Field::Category => "category",
        }
    }

    /// The URL key of the exclusion.
    pub fn not_key(self) -> &'static str {
        match self {
            Field::Account => "not_account",
            Field::Region => "not_region",
            Field::Source => "not_source",
            Field::Name => "not_event",
            Field::Principal => "not_principal",
            Field::AccessKey => "not_access_key",
            Field::Resource => "not_resource",
            Field::SourceIp => "not_ip",
            Field::UserAgent => "not_user_agent",
            Field::Error => "not_error",
            Field::EventType => "not_type",
            Field::Category => "not_category",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Field::Account => "Account",
            Field::Region => "Region",
            Field::Source => "Event source",
            Field::Name => "Event name",
            Field::Principal => "Principal",
            Field::AccessKey => "Access key",
            Field::Resource => "Resource",
            Field::SourceIp => "Source IP",
            Field::UserAgent => "User agent",
            Field::Error => "Error",
            Field::EventType => "Event type",
            Field::Category => "Category",
        }
    }

    pub fn parse_key(key: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.key() == key)
    }
}

/// The value of `error` that means "any error" (`not_error=*`: "no error").
pub const ANY: &str = "*";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Filter {
    pub field: Field,
    pub exclude: bool,
    pub value: String,
}

impl Filter {
    /// How a chip reads: `Event name is ConsoleLogin`, `Error is any error`.
    pub fn describe(&self) -> String {
        self.describe_as(None)
    }

    /// The same, with the value shown by a name (a principal's rather than its key).
    pub fn describe_as(&self, name: Option<&str>) -> String {
        let verb = match (self.field, self.exclude) {
            (Field::UserAgent, false) => "contains",
            (Field::UserAgent, true) => "does not contain",
            (_, false) => "is",
            (_, true) => "is not",
        };
        let value = if self.field == Field::Error && self.value == ANY {
            "any error"
        } else {
            name.unwrap_or(&self.value)
        };
        format!("{} {verb} {value}", self.field.label())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Access {
    Read,
    Write,
}

/// The order of the events list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Sort {
    #[default]
    Newest,
    Oldest,
    /// By a column's value (descending when `true`), newest first among equals.
    Column(Column, bool),
}

/// A column of the events table other than the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Column {
    Principal,
    Event,
    Source,
    Region,
    Resource,
    SourceIp,
    Error,
}

impl Column {
    pub const ALL: [Column; 7] = [
        Column::Principal,
        Column::Event,
        Column::Source,
        Column::Region,
        Column::Resource,
        Column::SourceIp,
        Column::Error,
    ];

    /// The `sort` value.
    pub fn key(self) -> &'static str {
        match self {
            Column::Principal => "principal",
            Column::Event => "event",
            Column::Source => "source",
            Column::Region => "region",
            Column::Resource => "resource",
            Column::SourceIp => "ip",
            Column::Error => "error",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Column::Principal => "Principal",
            Column::Event => "Event",
            Column::Source => "Source",
            Column::Region => "Region",
            Column::Resource => "Resource",
            Column::SourceIp => "Source IP",
            Column::Error => "Error",
        }
    }
}

impl Sort {
    /// The `sort` value, `None` for the default.
    pub fn key(self) -> Option<String> {
        match self {
            Sort::Newest => None,
            Sort::Oldest => Some("oldest".into()),
            Sort::Column(c, false) => Some(c.key().into()),
            Sort::Column(c, true) => Some(format!("-{}", c.key())),
        }
    }

    pub fn parse(s: &str) -> Option<Sort> {
        match s {
            "oldest" | "time" => return Some(Sort::Oldest),
            "newest" | "-time" => return Some(Sort::Newest),
            _ => {}
        }
        let (desc, key) = match s.strip_prefix('-') {
            Some(k) => (true, k),
            None => (false, s),
        };
        Column::ALL
            .into_iter()
            .find(|c| c.key() == key)
            .map(|c| Sort::Column(c, desc))
    }

    /// Whether the list runs in time order (keyset pages by event id).
    pub fn by_time(self) -> bool {
        matches!(self, Sort::Newest | Sort::Oldest)
    }
}

/// Rows a page of events may hold.
pub const PAGE_SIZES: [i64; 3] = [50, 200, 1000];
pub const DEFAULT_PAGE_SIZE: i64 = 50;

/// What the figures are compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Compare {
    /// The period just before, as long as the range (none for "all time").
    #[default]
    Previous,
    /// The same span a week earlier.
    Week,
    /// No comparison.
    Off,
    /// A chosen range, `[from_ms, to_ms)`.
    Range { from_ms: i64, to_ms: i64 },
}

/// A time range that could not be read, kept as typed so the form can show it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeProblem {
    pub from: String,
    pub to: String,
    /// What is wrong, in a sentence.
    pub reason: String,
}

/// Longest typed `from`/`to` kept to show again.
const MAX_TYPED: usize = 64;

/// Longest value kept from a URL (longer ones are dropped), and most filters kept.
pub const MAX_VALUE: usize = 2048;
pub const MAX_FILTERS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventQuery {
    pub range: TimeRange,
    /// Sorted and deduplicated (see [`EventQuery::normalise`]).
    pub filters: Vec<Filter>,
    pub access: Option<Access>,
    pub q: Option<String>,
    pub sort: Sort,
    /// Rows a page (one of [`PAGE_SIZES`]).
    pub rows: i64,
    pub compare: Compare,
    /// Keyset cursor: the id after which (in time order) the page starts; for a column
    /// order, the rows skipped.
    pub cursor: Option<i64>,
    /// The `from`/`to` given, when they could not be read (never in a canonical URL).
    pub range_problem: Option<RangeProblem>,
}

impl Default for EventQuery {
    fn default() -> Self {
        EventQuery {
            range: TimeRange::Auto,
            filters: Vec::new(),
            access: None,
            q: None,
            sort: Sort::Newest,
            rows: DEFAULT_PAGE_SIZE,
            compare: Compare::Previous,
            cursor: None,
            range_problem: None,
        }
    }
}

const MINUTE: i64 = 60_000;

/// Parses `2021-07-28` (start of day), `2021-07-28T10:00[:00][.sss][Z]` or with a space.
/// `end` makes a bare date mean the end of that day (so `to=2021-08-03` includes it).
pub fn parse_instant(s: &str, end: bool) -> Option<i64> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let d = if end { d.succ_opt()? } else { d };
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            let ms = t.and_utc().timestamp_millis();
            // `from` rounds down to its minute, `to` up, so the instant is inside.
            let down = ms - ms.rem_euclid(MINUTE);
            return Some(if end && down != ms {
                down + MINUTE
            } else {
                down
            });
        }
    }
    None
}

/// Characters escaped in a query value: everything but what reads well and means nothing
/// special there (so ARNs, IPs and times stay legible: `principal=arn:aws:iam::1:user/a`).
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'\'')
    .add(b'+')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

#[derive(Default)]
struct QueryWriter(String);

impl QueryWriter {
    fn append_pair(&mut self, key: &str, value: &str) {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        self.0.push_str(key);
        self.0.push('=');
        for part in percent_encoding::utf8_percent_encode(value, QUERY_VALUE) {
            // Spaces as `+`, the form encoding browsers use for GET forms.
            self.0.push_str(&part.replace("%20", "+"));
        }
    }
}

fn clean(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty() && v.len() <= MAX_VALUE).then(|| v.to_owned())
}

impl EventQuery {
    /// Reads the query from URL parameters (`get_all(key)` gives every value of a key);
    /// anything unreadable takes its default.
    pub fn from_params(get_all: impl Fn(&str) -> Vec<String>) -> EventQuery {
        let first = |k: &str| {
            get_all(k)
                .into_iter()
                .next()
                .filter(|v| !v.trim().is_empty())
        };
        let (from_raw, to_raw) = (first("from"), first("to"));
        let mut range_problem = None;
        let absolute = match (&from_raw, &to_raw) {
            (None, None) => None,
            (from, to) => {
                let from_ms = from.as_deref().map(|f| parse_instant(f, false));
                let to_ms = to.as_deref().map(|t| parse_instant(t, true));
                let parsed: Result<Option<TimeRange>, String> = match (from_ms, to_ms) {
                    (Some(Some(f)), Some(Some(t))) if f < t => Ok(Some(TimeRange::Absolute {
                        from_ms: f,
                        to_ms: t,
                    })),
                    (Some(Some(f)), None) => Ok(Some(TimeRange::Absolute {
                        from_ms: f,
                        to_ms: i64::MAX,
                    })),
                    (Some(None), _) => Err(format!(
                        "“From” ({}) is not a date or time: write it as 2021-07-28 or 2021-07-28 10:00 (UTC, 24-hour).",
                        crate::fmt::clip(from.as_deref().unwrap_or(""), 40)
                    )),
                    (_, Some(None)) => Err(format!(
                        "“To” ({}) is not a date or time: write it as 2021-07-28 or 2021-07-28 10:00 (UTC, 24-hour).",
                        crate::fmt::clip(to.as_deref().unwrap_or(""), 40)
                    )),
                    (None, Some(Some(_))) => Err("A range needs a “From” time as well as a “To”.".to_string()),
                    (Some(Some(_)), Some(Some(_))) => {
                        Err("“From” is after “To”: the range is reversed.".to_string())
                    }
                    (None, None) => Ok(None),
                };
                match parsed {
                    Ok(r) => r,
                    Err(reason) => {
                        range_problem = Some(RangeProblem {
                            from: crate::fmt::clip(from.as_deref().unwrap_or(""), MAX_TYPED),
                            to: crate::fmt::clip(to.as_deref().unwrap_or(""), MAX_TYPED),
                            reason,
                        });
                        None
                    }
                }
            }
        };
        let range = absolute
            .or_else(|| {
                first("range")
                    .and_then(|r| Preset::parse(&r))
                    .map(TimeRange::Preset)
            })
            .unwrap_or_default();
        let mut filters = Vec::new();
        for field in Field::ALL {
            for (key, exclude) in [(field.key(), false), (field.not_key(), true)] {
                for v in get_all(key) {
                    if let Some(value) = clean(&v) {
                        filters.push(Filter {
                            field,
                            exclude,
                            value,
                        });
                    }
                }
            }
        }
        let access = match first("access").as_deref() {
            Some("read") => Some(Access::Read),
            Some("write") => Some(Access::Write),
            _ => None,
        };
        let sort = first("sort")
            .and_then(|s| Sort::parse(s.trim()))
            .unwrap_or_default();
        let rows = first("rows")
            .and_then(|r| r.trim().parse::<i64>().ok())
            .filter(|r| PAGE_SIZES.contains(r))
            .unwrap_or(DEFAULT_PAGE_SIZE);
        let compare = match (
            first("compare_from").and_then(|f| parse_instant(&f, false)),
            first("compare_to").and_then(|t| parse_instant(&t, true)),
        ) {
            (Some(from_ms), Some(to_ms)) if from_ms < to_ms => Compare::Range { from_ms, to_ms },
            _ => match first("compare").as_deref().map(str::trim) {
                Some("week") => Compare::Week,
                Some("none") => Compare::Off,
                _ => Compare::Previous,
            },
        };
        // `at` jumps to a time: the cursor that starts a time-ordered page there.
        let at = first("at")
            .and_then(|a| parse_instant(&a, false))
            .filter(|_| sort.by_time());
        let cursor = match at {
            Some(t) => Some(match sort {
                // Events at or before that minute.
                Sort::Newest => crate::schema::first_id_at(t + MINUTE),
                // Events from that minute on.
                _ => crate::schema::first_id_at(t) - 1,
            }),
            None => first("cursor")
                .and_then(|b| b.trim().parse::<i64>().ok())
                .filter(|b| *b > 0),
        };
        let mut q = EventQuery {
            range,
            filters,
            access,
            q: first("q").and_then(|v| clean(&v)),
            sort,
            rows,
            compare,
            cursor,
            range_problem,
        };
        q.normalise();
        q
    }

    /// Whether `key` is a parameter of the query model (a page may take others).
    pub fn is_key(key: &str) -> bool {
        const OWN: [&str; 13] = [
            "from", "to", "range", "access", "q", "sort", "rows", "compare", "compare_from",
            "compare_to", "cursor", "at", "",
        ];
        OWN.contains(&key) || Field::ALL.iter().any(|f| f.key() == key || f.not_key() == key)
    }

    /// The canonical form of a query string as typed or submitted by a form (empty
    /// fields, repeats, `at`), when it differs and says nothing the canonical form
    /// would lose: `None` when it is canonical already, carries a parameter the model
    /// does not know, or a range that could not be read (kept to be shown again).
    pub fn canonical_of(raw: &str) -> Option<String> {
        let raw = raw.trim_start_matches('?');
        let known = form_urlencoded::parse(raw.as_bytes()).all(|(k, _)| EventQuery::is_key(&k));
        if !known {
            return None;
        }
        let q = EventQuery::parse(raw);
        if q.range_problem.is_some() {
            return None;
        }
        let canonical = q.to_query();
        (canonical != raw).then_some(canonical)
    }

    /// Parses a query string (with or without the leading `?`).
    pub fn parse(query: &str) -> EventQuery {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            map.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        EventQuery::from_params(|k| map.get(k).cloned().unwrap_or_default())
    }

    /// Filters in canonical order, without repeats, at most [`MAX_FILTERS`].
    fn normalise(&mut self) {
        self.filters.sort();
        self.filters.dedup();
        self.filters.truncate(MAX_FILTERS);
    }

    /// The canonical query string (without `?`), defaults left out.
    pub fn to_query(&self) -> String {
        let mut s = QueryWriter::default();
        match self.range {
            TimeRange::Auto => {}
            TimeRange::Preset(p) => {
                s.append_pair("range", p.key());
            }
            TimeRange::Absolute { from_ms, to_ms } => {
                s.append_pair("from", &crate::fmt::minute(from_ms));
                if to_ms != i64::MAX {
                    s.append_pair("to", &crate::fmt::minute(to_ms));
                }
            }
        }
        for f in &self.filters {
            let key = if f.exclude {
                f.field.not_key()
            } else {
                f.field.key()
            };
            s.append_pair(key, &f.value);
        }
        match self.access {
            Some(Access::Read) => {
                s.append_pair("access", "read");
            }
            Some(Access::Write) => {
                s.append_pair("access", "write");
            }
            None => {}
        }
        if let Some(q) = &self.q {
            s.append_pair("q", q);
        }
        if let Some(k) = self.sort.key() {
            s.append_pair("sort", &k);
        }
        if self.rows != DEFAULT_PAGE_SIZE {
            s.append_pair("rows", &self.rows.to_string());
        }
        match self.compare {
            Compare::Previous => {}
            Compare::Week => s.append_pair("compare", "week"),
            Compare::Off => s.append_pair("compare", "none"),
            Compare::Range { from_ms, to_ms } => {
                s.append_pair("compare_from", &crate::fmt::minute(from_ms));
                s.append_pair("compare_to", &crate::fmt::minute(to_ms));
            }
        }
        if let Some(c) = self.cursor {
            s.append_pair("cursor", &c.to_string());
        }
        s.0
    }

    /// A link to `path` with this query.
    pub fn href(&self, path: &str) -> String {
        let q = self.to_query();
        if q.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{q}")
        }
    }

    /// The same view from its first page.
    fn first_page(&self) -> EventQuery {
        EventQuery {
            cursor: None,
            ..self.clone()
        }
    }

    pub fn with_range(&self, range: TimeRange) -> EventQuery {
        EventQuery {
            range,
            range_problem: None,
            ..self.first_page()
        }
    }

    pub fn with_rows(&self, rows: i64) -> EventQuery {
        EventQuery {
            rows,
            ..self.first_page()
        }
    }

    pub fn with_compare(&self, compare: Compare) -> EventQuery {
        EventQuery {
            compare,
            ..self.clone()
        }
    }

    pub fn with_cursor(&self, cursor: Option<i64>) -> EventQuery {
        EventQuery {
            cursor,
            ..self.clone()
        }
    }

    pub fn with_sort(&self, sort: Sort) -> EventQuery {
        EventQuery {
            sort,
            ..self.first_page()
        }
    }

    pub fn with_access(&self, access: Option<Access>) -> EventQuery {
        EventQuery {
            access,
            ..self.first_page()
        }
    }

    pub fn with_text(&self, q: Option<String>) -> EventQuery {
        EventQuery {
            q: q.and_then(|v| clean(&v)),
            ..self.first_page()
        }
    }

    /// Adds a filter; an opposite filter on the same value is replaced.
    pub fn with_filter(&self, field: Field, value: &str, exclude: bool) -> EventQuery {
        let mut q = self.first_page();
        q.filters
            .retain(|f| !(f.field == field && f.value == value));
        if let Some(value) = clean(value) {
            q.filters.push(Filter {
                field,
                exclude,
                value,
            });
        }
        q.normalise();
        q
    }

    pub fn without_filter(&self, filter: &Filter) -> EventQuery {
        let mut q = self.first_page();
        q.filters.retain(|f| f != filter);
        q
    }

    /// The values of one field that are included / excluded.
    pub fn values(&self, field: Field, exclude: bool) -> impl Iterator<Item = &str> {
        self.filters
            .iter()
            .filter(move |f| f.field == field && f.exclude == exclude)
            .map(|f| f.value.as_str())
    }

    /// Whether anything narrows the events beyond the time range.
    pub fn is_filtered(&self) -> bool {
        !self.filters.is_empty() || self.access.is_some() || self.q.is_some()
    }

    /// The same view with a relative range pinned to the absolute one it means now, for
    /// sharing: the link shows the same events tomorrow.
    pub fn pinned(&self, resolved: &ResolvedRange) -> EventQuery {
        EventQuery {
            range: TimeRange::Absolute {
                from_ms: resolved.from_ms,
                to_ms: resolved.to_ms,
            },
            ..self.clone()
        }
    }

    /// Absolute bounds for this range at `now_ms`, given what the store holds. With no
    /// range given: the last 24 hours, or the 24 hours up to the newest event when the
    /// last 24 hours hold none.
    pub fn resolve(&self, now_ms: i64, store: &StoreInfo) -> ResolvedRange {
        let end_of_now = now_ms - now_ms.rem_euclid(MINUTE) + MINUTE;
        match self.range {
            TimeRange::Auto => {
                let day = 86_400_000;
                match store.newest_ms {
                    Some(n) if n < end_of_now - day => {
                        let to_ms = n - n.rem_euclid(MINUTE) + MINUTE;
                        ResolvedRange {
                            from_ms: to_ms - day,
                            to_ms,
                            preset: None,
                            picked: Some(Picked::LatestDay),
                        }
                    }
                    _ => ResolvedRange {
                        from_ms: end_of_now - day,
                        to_ms: end_of_now,
                        preset: Some(Preset::Day.key().into()),
                        picked: Some(Picked::LastDay),
                    },
                }
            }
            TimeRange::Preset(Preset::All) => {
                let from_ms = store
                    .oldest_ms
                    .map(|o| o - o.rem_euclid(MINUTE))
                    .unwrap_or(end_of_now - 86_400_000);
                let to_ms = store
                    .newest_ms
                    .map(|n| n - n.rem_euclid(MINUTE) + MINUTE)
                    .unwrap_or(end_of_now)
                    .max(from_ms + MINUTE);
                ResolvedRange {
                    from_ms,
                    to_ms,
                    preset: Some(Preset::All.key().into()),
                    picked: None,
                }
            }
            TimeRange::Preset(p) => {
                let span = p.millis().unwrap_or(86_400_000);
                ResolvedRange {
                    from_ms: end_of_now - span,
                    to_ms: end_of_now,
                    preset: Some(p.key().into()),
                    picked: None,
                }
            }
            TimeRange::Absolute { from_ms, to_ms } => ResolvedRange {
                from_ms,
                to_ms: if to_ms == i64::MAX {
                    end_of_now.max(from_ms + MINUTE)
                } else {
                    to_ms
                },
                preset: None,
                picked: None,
            },
        }
    }

    /// Like [`EventQuery::resolve`], but with no range given, an entity's own active
    /// period (first to last seen, whole minutes) when it has one.
    pub fn resolve_for(
        &self,
        now_ms: i64,
        store: &StoreInfo,
        active: Option<(i64, i64)>,
    ) -> ResolvedRange {
        match (self.range, active) {
            (TimeRange::Auto, Some((first, last))) => {
                let from_ms = first - first.rem_euclid(MINUTE);
                ResolvedRange {
                    from_ms,
                    to_ms: (last - last.rem_euclid(MINUTE) + MINUTE).max(from_ms + MINUTE),
                    preset: None,
                    picked: Some(Picked::ActivePeriod),
                }
            }
            _ => self.resolve(now_ms, store),
        }
    }

    /// Only this view's time range, to carry into links to other pages: a preset or a
    /// range as it is, the page's own pick as the absolute range it resolved to.
    pub fn range_only(&self, resolved: &ResolvedRange) -> EventQuery {
        EventQuery::default().with_range(self.settled(resolved).range)
    }

    /// The same view with the page's own pick of range (no range given) made the
    /// absolute range it resolved to, so that it means the same on another page.
    pub fn settled(&self, resolved: &ResolvedRange) -> EventQuery {
        match self.range {
            TimeRange::Auto => self.pinned(resolved),
            _ => self.clone(),
        }
    }

    /// The period the figures are compared with, if any: the one before (none for all
    /// time), the same span a week earlier, or the chosen one.
    pub fn comparison(&self, r: &ResolvedRange) -> Option<ResolvedRange> {
        let span = r.to_ms - r.from_ms;
        let week = 7 * 86_400_000;
        match self.compare {
            Compare::Previous if self.range == TimeRange::Preset(Preset::All) => None,
            Compare::Previous => Some(ResolvedRange::new(r.from_ms - span, r.from_ms)),
            Compare::Week => Some(ResolvedRange::new(r.from_ms - week, r.to_ms - week)),
            Compare::Off => None,
            Compare::Range { from_ms, to_ms } => Some(ResolvedRange::new(from_ms, to_ms)),
        }
    }
}

/// Histogram bucket width for a span: the smallest "nice" width giving at most 120 bars.
pub fn bucket_for(span_ms: i64) -> i64 {
    const NICE: [i64; 14] = [
        MINUTE,
        5 * MINUTE,
        15 * MINUTE,
        30 * MINUTE,
        60 * MINUTE,
        3 * 60 * MINUTE,
        6 * 60 * MINUTE,
        12 * 60 * MINUTE,
        24 * 60 * MINUTE,
        2 * 24 * 60 * MINUTE,
        7 * 24 * 60 * MINUTE,
        14 * 24 * 60 * MINUTE,
        30 * 24 * 60 * MINUTE,
        365 * 24 * 60 * MINUTE,
    ];
    NICE.into_iter()
        .find(|b| span_ms / b <= 120)
        .unwrap_or(NICE[NICE.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> EventQuery {
        EventQuery::parse(s)
    }

    #[test]
    fn round_trips_are_canonical() {
        for s in [
            "",
            "range=7d",
            "range=all&cursor=123",
            "from=2021-07-28T00:00&to=2021-08-04T00:00",
            "from=2021-07-28T10:05",
            "account=111122223333&event=ConsoleLogin&event=GetObject&not_principal=arn:aws:iam::1:role/X",
            "error=*&access=write&q=s3+bucket&sort=oldest",
            "range=24h&sort=-principal&rows=200&compare=week&cursor=100",
            "range=7d&sort=ip&rows=1000&compare=none",
            "from=2021-07-28T00:00&compare_from=2021-07-01T00:00&compare_to=2021-07-02T00:00",
            "not_error=*",
            "resource=my+bucket&ip=10.0.0.1&user_agent=%3Cscript%3E&type=AwsApiCall&category=Data",
        ] {
            assert_eq!(q(s).to_query(), s, "{s}");
            assert_eq!(q(&q(s).to_query()), q(s), "{s}");
        }
        // Dates are whole days, `to` inclusive.
        assert_eq!(
            q("from=2021-07-28&to=2021-08-03").to_query(),
            "from=2021-07-28T00:00&to=2021-08-04T00:00"
        );
        // Reserved characters in values survive the trip.
        let odd = q("").with_filter(Field::Resource, "a&b=c+d %/?#", false);
        assert_eq!(odd.to_query(), "resource=a%26b%3Dc%2Bd+%25/?%23");
        assert_eq!(q(&odd.to_query()), odd);
    }

    #[test]
    fn keys_come_out_in_one_order() {
        assert_eq!(
            q("q=x&event=B&event=A&event=B&region=eu-west-1&range=1h").to_query(),
            "range=1h&region=eu-west-1&event=A&event=B&q=x"
        );
        // Include before exclude for the same field, values sorted.
        assert_eq!(q("not_event=Z&event=Y").to_query(), "event=Y&not_event=Z");
    }

    #[test]
    fn bad_values_fall_back() {
        assert_eq!(q("range=bogus"), EventQuery::default());
        assert_eq!(q("cursor=-5"), EventQuery::default());
        assert_eq!(q("rows=7&compare=never&sort=-bogus"), EventQuery::default());
        // Empty form fields are no values at all.
        assert_eq!(q("from=&to=&sort=&rows=&q=&compare="), EventQuery::default());
        assert_eq!(q("cursor=abc").cursor, None);
        assert_eq!(q("sort=sideways").sort, Sort::Newest);
        assert_eq!(q("access=maybe").access, None);
        assert_eq!(q("event=&event=%20%20&bogus=1&q=").to_query(), "");
        let long = "x".repeat(MAX_VALUE + 1);
        assert!(q(&format!("event={long}")).filters.is_empty());
        // Undecodable percent escapes become replacement characters, not failures.
        assert_eq!(q("event=%FF").filters.len(), 1);
        let many: Vec<String> = (0..200).map(|i| format!("event=e{i}")).collect();
        assert_eq!(q(&many.join("&")).filters.len(), MAX_FILTERS);
    }

    #[test]
    fn unreadable_ranges_are_kept_and_said() {
        let bad = q("from=2021-99-01&to=2021-08-03&event=X");
        assert_eq!(bad.range, TimeRange::Auto);
        let p = bad.range_problem.clone().unwrap();
        assert_eq!((p.from.as_str(), p.to.as_str()), ("2021-99-01", "2021-08-03"));
        assert!(p.reason.contains("“From” (2021-99-01) is not a date"), "{}", p.reason);
        // The canonical link leaves the bad range out, keeps the rest.
        assert_eq!(bad.to_query(), "event=X");
        let reversed = q("from=2021-08-05&to=2021-08-03").range_problem.unwrap();
        assert!(reversed.reason.contains("reversed"), "{}", reversed.reason);
        assert!(q("to=2021-08-03").range_problem.is_some());
        assert!(q("from=2021-08-01&to=2021-08-03").range_problem.is_none());
    }

    #[test]
    fn jumping_to_a_time_is_a_cursor() {
        let t = parse_instant("2021-07-28T10:00", false).unwrap();
        let newest = q("at=2021-07-28T10:00&range=all");
        assert_eq!(newest.cursor, Some(crate::schema::first_id_at(t + MINUTE)));
        assert_eq!(
            newest.to_query(),
            format!("range=all&cursor={}", crate::schema::first_id_at(t + MINUTE))
        );
        let oldest = q("at=2021-07-28+10:00&sort=oldest");
        assert_eq!(oldest.cursor, Some(crate::schema::first_id_at(t) - 1));
        // Column orders page by rows, not time.
        assert_eq!(q("at=2021-07-28T10:00&sort=principal").cursor, None);
    }

    #[test]
    fn sorts_rows_and_comparisons() {
        assert_eq!(q("sort=-error").sort, Sort::Column(Column::Error, true));
        assert_eq!(q("sort=time").sort, Sort::Oldest);
        assert_eq!(q("rows=1000").rows, 1000);
        let r = ResolvedRange::new(10 * 86_400_000, 11 * 86_400_000);
        assert_eq!(
            q("").comparison(&r),
            Some(ResolvedRange::new(9 * 86_400_000, 10 * 86_400_000))
        );
        assert_eq!(
            q("compare=week").comparison(&r),
            Some(ResolvedRange::new(3 * 86_400_000, 4 * 86_400_000))
        );
        assert_eq!(q("compare=none").comparison(&r), None);
        assert_eq!(q("range=all").comparison(&r), None);
        assert_eq!(q("range=all&compare=week").comparison(&r).is_some(), true);
    }

    #[test]
    fn no_range_picks_one() {
        let day = 86_400_000;
        let now = 1_000 * day + 30_500;
        let recent = StoreInfo {
            events: 5,
            oldest_ms: Some(now - 5 * day),
            newest_ms: Some(now - 3_600_000),
            search_pending_before_ms: None,
        };
        let r = q("").resolve(now, &recent);
        assert_eq!(r.picked, Some(Picked::LastDay));
        assert_eq!(r.to_ms - r.from_ms, day);
        // Nothing in the last day: the day up to the newest event.
        let old = StoreInfo {
            newest_ms: Some(now - 400 * day + 61_000),
            ..recent.clone()
        };
        let r = q("").resolve(now, &old);
        assert_eq!(r.picked, Some(Picked::LatestDay));
        assert_eq!(r.to_ms, now - 400 * day + 60_000 - 30_500 + 60_000);
        assert_eq!(r.to_ms - r.from_ms, day);
        // An entity page: its own active period.
        let a = q("").resolve_for(now, &old, Some((125_000, 7_205_000)));
        assert_eq!((a.from_ms, a.to_ms), (120_000, 7_260_000));
        assert_eq!(a.picked, Some(Picked::ActivePeriod));
        // A given range wins.
        assert_eq!(q("range=1h").resolve_for(now, &old, Some((0, 1))).picked, None);
        // Links carry the range as shown.
        assert_eq!(
            q("event=X").range_only(&a).to_query(),
            "from=1970-01-01T00:02&to=1970-01-01T02:01"
        );
        assert_eq!(q("range=7d&event=X").range_only(&a).to_query(), "range=7d");
    }

    #[test]
    fn submitted_forms_become_canonical() {
        // What a GET form without JavaScript sends: every field, most of them empty.
        let form = "range=7d&q=&access=&principal=&event=ConsoleLogin&resource=&ip=&error=&account=";
        assert_eq!(EventQuery::canonical_of(form).as_deref(), Some("range=7d&event=ConsoleLogin"));
        assert_eq!(EventQuery::canonical_of("event=B&event=A&event=B").as_deref(), Some("event=A&event=B"));
        // Already canonical, or holding what would be lost: left alone.
        assert_eq!(EventQuery::canonical_of("range=7d&event=ConsoleLogin"), None);
        assert_eq!(EventQuery::canonical_of(""), None);
        assert_eq!(EventQuery::canonical_of("event=X&saved=1"), None);
        assert_eq!(EventQuery::canonical_of("from=yesterday&event=X"), None);
    }

    #[test]
    fn instants() {
        let day = parse_instant("2021-07-28", false).unwrap();
        assert_eq!(parse_instant("2021-07-28", true), Some(day + 86_400_000));
        assert_eq!(parse_instant("2021-07-28T00:00:00Z", false), Some(day));
        assert_eq!(parse_instant("2021-07-28T00:00:30.5Z", false), Some(day));
        assert_eq!(
            parse_instant("2021-07-28T00:00:30Z", true),
            Some(day + 60_000)
        );
        assert_eq!(parse_instant("2021-07-28 00:01", false), Some(day + 60_000));
        assert_eq!(parse_instant("yesterday", false), None);
    }

    #[test]
    fn filters_add_and_remove() {
        let base = q("range=7d&cursor=9");
        let a = base.with_filter(Field::Name, "ConsoleLogin", false);
        assert_eq!(a.to_query(), "range=7d&event=ConsoleLogin");
        // The opposite filter on the same value replaces it.
        let b = a.with_filter(Field::Name, "ConsoleLogin", true);
        assert_eq!(b.to_query(), "range=7d&not_event=ConsoleLogin");
        let f = b.filters[0].clone();
        assert_eq!(f.describe(), "Event name is not ConsoleLogin");
        assert_eq!(b.without_filter(&f).to_query(), "range=7d");
        assert!(!base.is_filtered());
        assert!(a.is_filtered());
    }

    #[test]
    fn sharing_pins_the_range() {
        let view = q("range=1h&event=X");
        let now = 1_000 * 86_400_000;
        let r = view.resolve(now, &StoreInfo::default());
        let shared = view.pinned(&r);
        assert_eq!(
            shared.to_query(),
            format!(
                "from={}&to={}&event=X",
                crate::fmt::minute(r.from_ms),
                crate::fmt::minute(r.to_ms)
            )
        );
        assert_eq!(
            q(&shared.to_query()).resolve(now + 86_400_000, &StoreInfo::default()),
            ResolvedRange { preset: None, ..r }
        );
    }

    #[test]
    fn resolve_presets() {
        let now = 1_000 * 86_400_000 + 30_500;
        let r = q("range=1h").resolve(now, &StoreInfo::default());
        assert_eq!(r.to_ms - r.from_ms, 3_600_000);
        assert_eq!(r.to_ms % 60_000, 0);
        assert!(r.to_ms > now);
        let store = StoreInfo {
            events: 5,
            oldest_ms: Some(90_000),
            newest_ms: Some(200_000),
            search_pending_before_ms: None,
        };
        let r = q("range=all").resolve(now, &store);
        assert_eq!((r.from_ms, r.to_ms), (60_000, 240_000));
    }

    #[test]
    fn buckets() {
        assert_eq!(bucket_for(3_600_000), 60_000);
        assert_eq!(bucket_for(86_400_000), 15 * 60_000);
        assert!(bucket_for(7 * 365 * 86_400_000) >= 30 * 86_400_000);
    }
}
