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
//! | `range` | `1h`, `24h` (default), `7d`, `30d`, `90d`, `all` |
//! | `account`, `region`, `source`, `event`, `principal`, `access_key`, `resource`, `ip`, `user_agent`, `error`, `type`, `category` | include; repeat for "any of" |
//! | `not_<key>` | exclude; `error=*` is "any error", `not_error=*` "no error" |
//! | `access` | `read` or `write` |
//! | `q` | free text |
//! | `sort` | `oldest` (newest first by default) |
//! | `cursor` | keyset cursor of the next page |

use crate::model::{ResolvedRange, StoreInfo};
use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Preset {
    Hour,
    #[default]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeRange {
    Preset(Preset),
    /// `[from_ms, to_ms)`, minute-aligned; `to_ms == i64::MAX` means "until now".
    Absolute {
        from_ms: i64,
        to_ms: i64,
    },
}

impl Default for TimeRange {
    fn default() -> Self {
        TimeRange::Preset(Preset::default())
    }
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
    /// How a chip reads: `Event name is ConsoleLogin`, `Error is any`.
    pub fn describe(&self) -> String {
        let verb = if self.exclude { "is not" } else { "is" };
        let value = if self.field == Field::Error && self.value == ANY {
            "any error"
        } else {
            &self.value
        };
        format!("{} {verb} {value}", self.field.label())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Access {
    Read,
    Write,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Sort {
    #[default]
    Newest,
    Oldest,
}

/// Longest value kept from a URL (longer ones are dropped), and most filters kept.
pub const MAX_VALUE: usize = 2048;
pub const MAX_FILTERS: usize = 64;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventQuery {
    pub range: TimeRange,
    /// Sorted and deduplicated (see [`EventQuery::normalise`]).
    pub filters: Vec<Filter>,
    pub access: Option<Access>,
    pub q: Option<String>,
    pub sort: Sort,
    /// Keyset cursor: the id after which (in sort order) the page starts.
    pub cursor: Option<i64>,
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
        let first = |k: &str| get_all(k).into_iter().next();
        let absolute = match (
            first("from").and_then(|f| parse_instant(&f, false)),
            first("to").and_then(|t| parse_instant(&t, true)),
        ) {
            (Some(from_ms), Some(to_ms)) if from_ms < to_ms => {
                Some(TimeRange::Absolute { from_ms, to_ms })
            }
            (Some(from_ms), None) if first("to").is_none() => Some(TimeRange::Absolute {
                from_ms,
                to_ms: i64::MAX,
            }),
            _ => None,
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
        let sort = match first("sort").as_deref() {
            Some("oldest") => Sort::Oldest,
            _ => Sort::Newest,
        };
        let cursor = first("cursor")
            .and_then(|b| b.trim().parse::<i64>().ok())
            .filter(|b| *b > 0);
        let mut q = EventQuery {
            range,
            filters,
            access,
            q: first("q").and_then(|v| clean(&v)),
            sort,
            cursor,
        };
        q.normalise();
        q
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
            TimeRange::Preset(p) if p == Preset::default() => {}
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
        if self.sort == Sort::Oldest {
            s.append_pair("sort", "oldest");
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
            ..self.first_page()
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

    /// Absolute bounds for this range at `now_ms`, given what the store holds.
    pub fn resolve(&self, now_ms: i64, store: &StoreInfo) -> ResolvedRange {
        let end_of_now = now_ms - now_ms.rem_euclid(MINUTE) + MINUTE;
        match self.range {
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
                }
            }
            TimeRange::Preset(p) => {
                let span = p.millis().unwrap_or(86_400_000);
                ResolvedRange {
                    from_ms: end_of_now - span,
                    to_ms: end_of_now,
                    preset: Some(p.key().into()),
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
            },
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
        assert_eq!(q("cursor=-5&range=24h"), EventQuery::default());
        assert_eq!(q("from=2021-99-01&to=2021-08-03"), EventQuery::default());
        assert_eq!(
            q("from=2021-08-05&to=2021-08-03").range,
            TimeRange::default()
        );
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
