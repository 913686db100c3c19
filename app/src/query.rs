//! The timeline's URL state: time range and page cursor. Parsing is total (a bad value
//! falls back to its default); serialising is canonical (fixed key order, defaults left
//! out).

use crate::model::{ResolvedRange, StoreInfo};
use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

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
    /// `[from_ms, to_ms)`, minute-aligned.
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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineQuery {
    pub range: TimeRange,
    /// Keyset cursor: show events with an id below this.
    pub before: Option<i64>,
}

const MINUTE: i64 = 60_000;

/// Parses `2021-07-28` (start of day), `2021-07-28T10:00[:00][Z]` or with a space.
/// `end` makes a bare date mean the end of that day (so `to=2021-08-03` includes it).
pub fn parse_instant(s: &str, end: bool) -> Option<i64> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let d = if end { d.succ_opt()? } else { d };
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            let ms = t.and_utc().timestamp_millis();
            return Some(ms - ms.rem_euclid(MINUTE));
        }
    }
    None
}

impl TimelineQuery {
    /// Reads the query from URL parameters; anything unreadable takes its default.
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> TimelineQuery {
        let absolute = match (
            get("from").and_then(|f| parse_instant(&f, false)),
            get("to").and_then(|t| parse_instant(&t, true)),
        ) {
            (Some(from_ms), Some(to_ms)) if from_ms < to_ms => {
                Some(TimeRange::Absolute { from_ms, to_ms })
            }
            (Some(from_ms), None) if get("to").is_none() => Some(TimeRange::Absolute {
                from_ms,
                to_ms: i64::MAX,
            }),
            _ => None,
        };
        let range = absolute
            .or_else(|| {
                get("range")
                    .and_then(|r| Preset::parse(&r))
                    .map(TimeRange::Preset)
            })
            .unwrap_or_default();
        let before = get("before")
            .and_then(|b| b.parse::<i64>().ok())
            .filter(|b| *b > 0);
        TimelineQuery { range, before }
    }

    /// The canonical query string (without `?`), defaults left out.
    pub fn to_query(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        match self.range {
            TimeRange::Preset(p) if p == Preset::default() => {}
            TimeRange::Preset(p) => parts.push(format!("range={}", p.key())),
            TimeRange::Absolute { from_ms, to_ms } => {
                parts.push(format!("from={}", crate::fmt::minute(from_ms)));
                if to_ms != i64::MAX {
                    parts.push(format!("to={}", crate::fmt::minute(to_ms)));
                }
            }
        }
        if let Some(b) = self.before {
            parts.push(format!("before={b}"));
        }
        parts.join("&")
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

    pub fn with_range(&self, range: TimeRange) -> TimelineQuery {
        TimelineQuery {
            range,
            before: None,
        }
    }

    pub fn with_before(&self, before: Option<i64>) -> TimelineQuery {
        TimelineQuery {
            range: self.range,
            before,
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
    use std::collections::HashMap;

    fn q(s: &str) -> TimelineQuery {
        let map: HashMap<String, String> = s
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TimelineQuery::from_params(|k| map.get(k).cloned())
    }

    #[test]
    fn round_trips_are_canonical() {
        for s in [
            "",
            "range=7d",
            "range=all&before=123",
            "from=2021-07-28T00:00&to=2021-08-04T00:00",
            "from=2021-07-28T10:05",
        ] {
            assert_eq!(q(s).to_query(), s, "{s}");
        }
        // Dates are whole days, `to` inclusive.
        assert_eq!(
            q("from=2021-07-28&to=2021-08-03").to_query(),
            "from=2021-07-28T00:00&to=2021-08-04T00:00"
        );
    }

    #[test]
    fn bad_values_fall_back() {
        assert_eq!(q("range=bogus"), TimelineQuery::default());
        assert_eq!(q("before=-5&range=24h"), TimelineQuery::default());
        assert_eq!(q("from=2021-99-01&to=2021-08-03"), TimelineQuery::default());
        // from after to: ignored.
        assert_eq!(
            q("from=2021-08-05&to=2021-08-03").range,
            TimeRange::default()
        );
        assert_eq!(q("before=abc").before, None);
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
