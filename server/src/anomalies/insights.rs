//! Insights-style episodes: per account, Region, event source and name, the write
//! management calls of each minute (call rate) and the management calls returning an
//! error (error rate), against the 7 days before.
//!
//! - The importer adds each batch's calls to `call_minute` and `call_day` (with the
//!   busiest minute of each day), in the transaction that stores the events.
//! - A minute is **out of range** when it holds more than [`FACTOR`] times the busiest
//!   minute of the 7 days before its day, and at least [`FLOOR_PER_MINUTE`]; an account
//!   is judged once Cairn holds [`MIN_HISTORY_DAYS`] of its events.
//! - An **episode** opens at the first minute out of range and closes at the last one
//!   followed by [`GAP_MINUTES`] minutes back in range; a later minute within that gap,
//!   judged in another batch, joins it. It carries what AWS's Insights events carry:
//!   the baseline and episode averages per minute, their durations, and the top 5
//!   principals, user agents and error codes of each. Its severity follows the size of
//!   the departure (`app::insights::severity`).
//! - AWS's own Insights records (`CloudTrail-Insight` files) are filed as episodes of
//!   their own rule, Start and End joined by `sharedEventID`, marked as AWS's.
//!
//! Only minutes the batch touched with at least the floor are judged, so most batches
//! judge nothing. A finding is never withdrawn by later data.

use crate::detections::record::{AnomalyRule, Head, file_events};
use crate::ingest::store::Contribution;
use app::detections::Severity;
use app::insights::{
    Attribution, BASELINE_DAYS, CALL_RATE, ERROR_RATE, Episode, FACTOR, FLOOR_PER_MINUTE, GAP_MINUTES,
    MIN_HISTORY_DAYS, Share, rate, severity,
};
use app::schema::{Dim, ID_HASH_BITS, flags};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

const MINUTE_MS: i64 = 60_000;
const DAY_MINUTES: i64 = 1_440;
/// Most events attached to one episode per judged run.
const MAX_MEMBERS: i64 = 20_000;
/// Most events read for the top values of an episode or of its baseline.
const ATTRIBUTION_SCAN: i64 = 100_000;
/// Longest text kept from an AWS record's attribution value.
const MAX_VALUE: usize = 512;

/// One rate's key: account, Region (0: none), event source and name, as term ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Series {
    pub account: i64,
    pub region: i64,
    pub source: i64,
    pub name: i64,
}

/// Which rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Calls = 0,
    Errors = 1,
}

impl Kind {
    fn detector(self) -> &'static str {
        match self {
            Kind::Calls => "call-rate",
            Kind::Errors => "error-rate",
        }
    }
    fn insight_type(self) -> &'static str {
        match self {
            Kind::Calls => CALL_RATE,
            Kind::Errors => ERROR_RATE,
        }
    }
}

/// A minute the batch brought to the floor or above: its series and its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hot {
    pub series: Series,
    pub minute: i64,
    pub calls: i64,
    pub errors: i64,
}

/// A batch's calls per minute, kept in memory and added to the tables at commit.
#[derive(Default)]
pub struct CallBatch {
    /// (series, minute) -> (write calls, failed calls)
    minutes: HashMap<(Series, i64), (i64, i64)>,
    /// What the last write brought to the floor, for judging.
    hot: Vec<Hot>,
}

impl CallBatch {
    pub fn clear(&mut self) {
        self.minutes.clear();
        self.hot.clear();
    }

    /// Counts one management call `n` times (-1 takes it back out).
    pub fn add(&mut self, c: &Contribution, n: i64) {
        let write = c.flags & flags::WRITE != 0;
        let failed = c.flags & flags::ERROR != 0;
        if !write && !failed {
            return;
        }
        let series = Series { account: c.account, region: c.region.unwrap_or(0), source: c.source, name: c.name };
        let e = self.minutes.entry((series, c.time_ms.div_euclid(MINUTE_MS))).or_default();
        e.0 += n * i64::from(write);
        e.1 += n * i64::from(failed);
    }

    /// Adds the batch to `call_minute` and `call_day`, and keeps the minutes now at the
    /// floor or above for [`CallBatch::take_hot`].
    pub fn write(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let mut minutes: Vec<_> = self.minutes.drain().filter(|(_, (c, e))| *c != 0 || *e != 0).collect();
        minutes.sort_unstable_by_key(|(k, _)| *k);
        let mut up = conn.prepare_cached(
            "INSERT INTO call_minute (account, region, source, name, minute, calls, errors)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (account, region, source, name, minute) DO UPDATE SET
               calls = calls + excluded.calls, errors = errors + excluded.errors
             RETURNING calls, errors",
        )?;
        let mut gone = conn.prepare_cached(
            "DELETE FROM call_minute WHERE account = ?1 AND region = ?2 AND source = ?3 AND name = ?4
               AND minute = ?5 AND calls <= 0 AND errors <= 0",
        )?;
        // (series, day) -> (calls, errors, busiest minute of calls, of errors)
        let mut days: BTreeMap<(Series, i64), (i64, i64, i64, i64)> = BTreeMap::new();
        for ((s, minute), (dc, de)) in minutes {
            let (calls, errors): (i64, i64) = up
                .query_row(params![s.account, s.region, s.source, s.name, minute, dc, de], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            if calls <= 0 && errors <= 0 {
                gone.execute(params![s.account, s.region, s.source, s.name, minute])?;
            }
            let d = days.entry((s, minute.div_euclid(DAY_MINUTES))).or_default();
            d.0 += dc;
            d.1 += de;
            d.2 = d.2.max(calls);
            d.3 = d.3.max(errors);
            if (dc > 0 && calls >= FLOOR_PER_MINUTE) || (de > 0 && errors >= FLOOR_PER_MINUTE) {
                self.hot.push(Hot { series: s, minute, calls, errors });
            }
        }
        let mut up = conn.prepare_cached(
            "INSERT INTO call_day (account, region, source, name, day, calls, errors, calls_peak, errors_peak)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (account, region, source, name, day) DO UPDATE SET
               calls = calls + excluded.calls, errors = errors + excluded.errors,
               calls_peak = max(calls_peak, excluded.calls_peak),
               errors_peak = max(errors_peak, excluded.errors_peak)",
        )?;
        for ((s, day), (c, e, cp, ep)) in days {
            up.execute(params![s.account, s.region, s.source, s.name, day, c, e, cp, ep])?;
        }
        Ok(())
    }

    /// The minutes the writes since the last call brought to the floor or above.
    pub fn take_hot(&mut self) -> Vec<Hot> {
        std::mem::take(&mut self.hot)
    }
}

/// What the 7 days before a day say of one rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Baseline {
    pub total: i64,
    /// The busiest minute.
    pub peak: i64,
    /// Minutes of history it covers.
    pub minutes: i64,
}

impl Baseline {
    pub fn average(&self) -> f64 {
        if self.minutes <= 0 { 0.0 } else { self.total as f64 / self.minutes as f64 }
    }
}

/// Whether a minute's count is out of its baseline's range.
pub fn out_of_range(count: i64, b: &Baseline) -> bool {
    count >= FLOOR_PER_MINUTE && count > FACTOR * b.peak
}

/// Runs of minutes out of range, joined across at most [`GAP_MINUTES`] quiet minutes:
/// (first, last) minute of each.
pub fn runs(minutes: &[i64]) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for &m in minutes {
        match out.last_mut() {
            Some((_, last)) if m - *last <= GAP_MINUTES + 1 => *last = (*last).max(m),
            _ => out.push((m, m)),
        }
    }
    out
}

/// Judges the minutes a batch brought to the floor with the enabled Insights rules.
/// Returns how many findings were new.
pub fn judge(conn: &Connection, rules: &[AnomalyRule], hot: &[Hot], alerts: bool, now_ms: i64) -> rusqlite::Result<u64> {
    let rule = |k: Kind| rules.iter().find(|r| r.detector == k.detector());
    if hot.is_empty() || (rule(Kind::Calls).is_none() && rule(Kind::Errors).is_none()) {
        return Ok(0);
    }
    // (series, kind) -> minute -> count
    let mut todo: BTreeMap<(Series, Kind), BTreeMap<i64, i64>> = BTreeMap::new();
    for h in hot {
        for (kind, n) in [(Kind::Calls, h.calls), (Kind::Errors, h.errors)] {
            if n >= FLOOR_PER_MINUTE && rule(kind).is_some() {
                todo.entry((h.series, kind)).or_default().insert(h.minute, n);
            }
        }
    }
    let mut first_days: HashMap<i64, Option<i64>> = HashMap::new();
    let mut created = 0;
    for ((series, kind), minutes) in todo {
        let Some(r) = rule(kind) else { continue };
        let first_day = match first_days.get(&series.account) {
            Some(d) => *d,
            None => {
                let d: Option<i64> = conn
                    .prepare_cached("SELECT min(day) FROM rollup_day WHERE dim = ?1 AND value = ?2")?
                    .query_row(params![Dim::Account as i64, series.account], |r| r.get(0))?;
                first_days.insert(series.account, d);
                d
            }
        };
        let Some(first_day) = first_day else { continue };
        let mut bases: HashMap<i64, Baseline> = HashMap::new();
        let mut out = Vec::new();
        for (&m, &n) in &minutes {
            let day = m.div_euclid(DAY_MINUTES);
            if day - first_day < MIN_HISTORY_DAYS {
                continue;
            }
            let b = match bases.get(&day) {
                Some(b) => *b,
                None => {
                    let b = baseline(conn, series, kind, day, first_day)?;
                    bases.insert(day, b);
                    b
                }
            };
            if out_of_range(n, &b) {
                out.push(m);
            }
        }
        for run in runs(&out) {
            created += file(conn, r, series, kind, run, first_day, alerts, now_ms)?;
        }
    }
    Ok(created)
}

/// The baseline of `day`: the 7 days before it, from the account's first day on.
fn baseline(conn: &Connection, s: Series, kind: Kind, day: i64, first_day: i64) -> rusqlite::Result<Baseline> {
    let from = (day - BASELINE_DAYS).max(first_day);
    let (total, peak): (Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT sum(CASE ?7 WHEN 0 THEN calls ELSE errors END),
                    max(CASE ?7 WHEN 0 THEN calls_peak ELSE errors_peak END)
             FROM call_day WHERE account = ?1 AND region = ?2 AND source = ?3 AND name = ?4
               AND day >= ?5 AND day < ?6",
        )?
        .query_row(params![s.account, s.region, s.source, s.name, from, day, kind as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(Baseline { total: total.unwrap_or(0), peak: peak.unwrap_or(0), minutes: (day - from).max(0) * DAY_MINUTES })
}

fn term(conn: &Connection, id: i64) -> rusqlite::Result<String> {
    Ok(conn
        .prepare_cached("SELECT value FROM terms WHERE id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?
        .unwrap_or_default())
}

/// Files (or extends) the episode of one run of minutes out of range.
#[allow(clippy::too_many_arguments)]
fn file(
    conn: &Connection,
    rule: &AnomalyRule,
    s: Series,
    kind: Kind,
    run: (i64, i64),
    first_day: i64,
    alerts: bool,
    now_ms: i64,
) -> rusqlite::Result<u64> {
    let account = term(conn, s.account)?;
    let region = if s.region == 0 { None } else { Some(term(conn, s.region)?) };
    let source = term(conn, s.source)?;
    let name = term(conn, s.name)?;
    let group = format!("{account} {} {source} {name}", region.as_deref().unwrap_or("-"));
    // The episode this run continues: one of the same rule and key that ends within the
    // gap before it.
    let run_start_ms = run.0 * MINUTE_MS;
    let existing: Option<(i64, String, Option<String>)> = conn
        .prepare_cached(
            "SELECT window_start, severity, detail FROM findings WHERE rule_id = ?1 AND group_key = ?2
               AND window_start <= ?3 + ?4
               AND coalesce(json_extract(detail, '$.end_ms'), last_ms) >= ?3 - ?4
             ORDER BY window_start DESC LIMIT 1",
        )?
        .query_row(params![rule.id, group, run_start_ms, (GAP_MINUTES + 1) * MINUTE_MS], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let before: Option<Episode> =
        existing.as_ref().and_then(|(_, _, d)| d.as_deref()).and_then(|d| serde_json::from_str(d).ok());
    let start_ms = existing.as_ref().map_or(run_start_ms, |(w, _, _)| (*w).min(run_start_ms));
    let end_ms = before.as_ref().and_then(|e| e.end_ms).unwrap_or(0).max((run.1 + 1) * MINUTE_MS);
    let (first_min, last_min) = (start_ms.div_euclid(MINUTE_MS), end_ms.div_euclid(MINUTE_MS) - 1);
    let duration = last_min - first_min + 1;
    let (total, peak): (Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT sum(CASE ?7 WHEN 0 THEN calls ELSE errors END), max(CASE ?7 WHEN 0 THEN calls ELSE errors END)
             FROM call_minute WHERE account = ?1 AND region = ?2 AND source = ?3 AND name = ?4
               AND minute >= ?5 AND minute <= ?6",
        )?
        .query_row(params![s.account, s.region, s.source, s.name, first_min, last_min, kind as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let (total, peak) = (total.unwrap_or(0), peak.unwrap_or(0));
    let base = baseline(conn, s, kind, first_min.div_euclid(DAY_MINUTES), first_day)?;
    let members: Vec<i64> = conn
        .prepare_cached(
            "SELECT e.id FROM events e INDEXED BY events_name
             WHERE e.name_id = ?1 AND e.id >= ?2 AND e.id < ?3 AND e.account_id = ?4
               AND coalesce(e.region_id, 0) = ?5 AND e.source_id = ?6
               AND CASE ?7 WHEN 0 THEN e.read_only = 0
                   ELSE e.error_code_id IS NOT NULL OR e.error_message_id IS NOT NULL END
             ORDER BY e.id LIMIT ?8",
        )?
        .query_map(
            params![
                s.name,
                (run.0 * MINUTE_MS) << ID_HASH_BITS,
                ((run.1 + 1) * MINUTE_MS) << ID_HASH_BITS,
                s.account,
                s.region,
                s.source,
                kind as i64,
                MAX_MEMBERS
            ],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?;
    if members.is_empty() {
        return Ok(0);
    }
    let base_from_min = first_min.div_euclid(DAY_MINUTES) * DAY_MINUTES - base.minutes;
    let base_to_min = first_min.div_euclid(DAY_MINUTES) * DAY_MINUTES;
    let mut attributions = Vec::new();
    for (attr, label) in [(0, "userIdentityArn"), (1, "userAgent"), (2, "errorCode")] {
        let insight = top(conn, s, kind, attr, (first_min, last_min + 1), duration)?;
        let baseline = top(conn, s, kind, attr, (base_from_min, base_to_min), base.minutes)?;
        attributions.push(Attribution { attribute: label.into(), insight, baseline });
    }
    let insight_average = total as f64 / duration.max(1) as f64;
    let mut episode = Episode {
        summary: String::new(),
        by_aws: false,
        insight_type: kind.insight_type().into(),
        account,
        region,
        event_source: source,
        event_name: name,
        start_ms,
        end_ms: Some(end_ms),
        baseline_average: Some(base.average()),
        insight_average: Some(insight_average),
        baseline_duration: Some(base.minutes),
        insight_duration: Some(duration),
        baseline_peak: Some(base.peak),
        insight_peak: Some(peak),
        calls: Some(total),
        attributions,
        shared_event_id: None,
    };
    episode.summary = sentence(&episode);
    let sev = severity(insight_average, base.average());
    store(conn, rule, &group, existing.as_ref(), start_ms, &episode, sev, &members, alerts, now_ms)
}

/// Files an episode's finding with its events. The finding keeps the key it was made
/// with (`existing`'s window start), even when late minutes move the episode's start
/// earlier, and its severity only rises.
#[allow(clippy::too_many_arguments)]
fn store(
    conn: &Connection,
    rule: &AnomalyRule,
    group: &str,
    existing: Option<&(i64, String, Option<String>)>,
    start_ms: i64,
    episode: &Episode,
    sev: Severity,
    members: &[i64],
    alerts: bool,
    now_ms: i64,
) -> rusqlite::Result<u64> {
    let sev = existing.and_then(|(_, s, _)| Severity::parse(s)).map_or(sev, |old| old.max(sev));
    let detail = serde_json::to_string(episode).unwrap_or_default();
    let head = Head {
        rule_id: &rule.id,
        version: rule.version,
        severity: sev,
        group,
        start: existing.map_or(start_ms, |(w, _, _)| *w),
        principal: None,
        detail: Some(&detail),
        alerts,
    };
    Ok(u64::from(file_events(conn, &head, members, now_ms)?))
}

/// The top 5 values of one attribute (0 principal, 1 user agent, 2 error code) among a
/// rate's calls in `[from, to)` minutes, as averages per minute over `minutes`.
fn top(conn: &Connection, s: Series, kind: Kind, attr: i64, (from, to): (i64, i64), minutes: i64) -> rusqlite::Result<Vec<Share>> {
    if to <= from || minutes <= 0 {
        return Ok(Vec::new());
    }
    conn.prepare_cached(
        "SELECT coalesce(v, 'null'), count(*) FROM (
           SELECT CASE ?8
                    WHEN 0 THEN (SELECT coalesce(p.arn, p.key) FROM principals p WHERE p.id = e.principal_id)
                    WHEN 1 THEN (SELECT t.value FROM terms t WHERE t.id = e.user_agent_id)
                    ELSE (SELECT t.value FROM terms t WHERE t.id = e.error_code_id) END AS v
           FROM events e INDEXED BY events_name
           WHERE e.name_id = ?1 AND e.id >= ?2 AND e.id < ?3 AND e.account_id = ?4
             AND coalesce(e.region_id, 0) = ?5 AND e.source_id = ?6
             AND CASE ?7 WHEN 0 THEN e.read_only = 0
                 ELSE e.error_code_id IS NOT NULL OR e.error_message_id IS NOT NULL END
           ORDER BY e.id DESC LIMIT ?9)
         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5",
    )?
    .query_map(
        params![
            s.name,
            (from * MINUTE_MS) << ID_HASH_BITS,
            (to * MINUTE_MS) << ID_HASH_BITS,
            s.account,
            s.region,
            s.source,
            kind as i64,
            attr,
            ATTRIBUTION_SCAN
        ],
        |r| {
            let n: i64 = r.get(1)?;
            Ok(Share { value: r.get(0)?, average: n as f64 / minutes as f64 })
        },
    )?
    .collect()
}

/// "RunInstances (ec2.amazonaws.com) in 111122223333 us-east-1: 412 write calls in 12
/// minutes, 34 a minute, against 0.02 a minute over the previous 7 days (at most 2 in a
/// minute)".
pub fn sentence(e: &Episode) -> String {
    use app::fmt::count;
    let place = match &e.region {
        Some(r) => format!("{} {r}", e.account),
        None => e.account.clone(),
    };
    let what = if e.is_error_rate() { "calls returning an error" } else { "write calls" };
    let minutes = e.insight_duration.unwrap_or(1);
    let span = if minutes <= 1 { "in one minute".to_owned() } else { format!("in {} minutes", count(minutes)) };
    let days = e.baseline_duration.unwrap_or(0) / DAY_MINUTES;
    let mut out = format!(
        "{} ({}) in {place}: {} {what} {span}, {} a minute, against {} a minute over the previous {} (at most {} in a minute)",
        e.event_name,
        e.event_source,
        count(e.calls.unwrap_or(0)),
        rate(e.insight_average.unwrap_or(0.0)),
        rate(e.baseline_average.unwrap_or(0.0)),
        if days == 1 { "day".to_owned() } else { format!("{days} days") },
        count(e.baseline_peak.unwrap_or(0)),
    );
    let lead = |attr: &str| {
        e.attributions
            .iter()
            .find(|a| a.attribute == attr)
            .and_then(|a| a.insight.first())
            .map(|s| s.value.clone())
            .filter(|v| v != "null")
    };
    if let Some(code) = lead("errorCode").filter(|_| e.is_error_rate()) {
        out.push_str(&format!("; mostly {code}"));
    }
    if let Some(who) = lead("userIdentityArn") {
        out.push_str(&format!("; mostly by {who}"));
    }
    out
}

/// What an AWS CloudTrail Insights record says.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsInsight {
    /// `Start` or `End`.
    pub state: String,
    pub insight_type: String,
    pub event_source: String,
    pub event_name: String,
    pub shared_event_id: Option<String>,
    pub baseline_average: Option<f64>,
    pub insight_average: Option<f64>,
    pub insight_duration: Option<i64>,
    pub baseline_duration: Option<i64>,
    pub attributions: Vec<Attribution>,
}

fn clip(v: &str) -> String {
    crate::ingest::normalize::clip(v, MAX_VALUE)
}

impl AwsInsight {
    /// Reads the `insightDetails` of a record; `None` when it has none that names a call.
    pub fn parse(raw: &[u8]) -> Option<AwsInsight> {
        let rec: Value = serde_json::from_slice(raw).ok()?;
        let d = rec.get("insightDetails")?;
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(clip);
        let ctx = d.get("insightContext");
        let stats = ctx.and_then(|c| c.get("statistics"));
        let avg = |k: &str| stats.and_then(|s| s.get(k)).and_then(|b| b.get("average")).and_then(Value::as_f64);
        let int = |k: &str| stats.and_then(|s| s.get(k)).and_then(Value::as_f64).map(|f| f.round() as i64);
        let shares = |v: Option<&Value>| -> Vec<Share> {
            v.and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .take(5)
                        .filter_map(|s| {
                            let value = match s.get("value")? {
                                Value::String(t) => clip(t),
                                other => clip(&other.to_string()),
                            };
                            Some(Share { value, average: s.get("average").and_then(Value::as_f64).unwrap_or(0.0) })
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let attributions = ctx
            .and_then(|c| c.get("attributions"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .take(8)
                    .filter_map(|x| {
                        Some(Attribution {
                            attribute: text(x, "attribute")?,
                            insight: shares(x.get("insight")),
                            baseline: shares(x.get("baseline")),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(AwsInsight {
            state: text(d, "state").unwrap_or_default(),
            insight_type: text(d, "insightType").unwrap_or_else(|| CALL_RATE.into()),
            event_source: text(d, "eventSource")?,
            event_name: text(d, "eventName")?,
            shared_event_id: text(&rec, "sharedEventID"),
            baseline_average: avg("baseline"),
            insight_average: avg("insight"),
            insight_duration: int("insightDuration"),
            baseline_duration: int("baselineDuration"),
            attributions,
        })
    }
}

/// A stored AWS Insights record.
#[derive(Debug, Clone)]
pub struct AwsRecord {
    pub event_id: i64,
    pub time_ms: i64,
    pub account: String,
    pub region: Option<String>,
    pub insight: AwsInsight,
}

/// Files AWS's Insights records as episodes: Start and End of one `sharedEventID` are
/// one finding, whose figures are the latest record's. Returns how many were new.
pub fn file_aws(conn: &Connection, rules: &[AnomalyRule], records: &[AwsRecord], alerts: bool, now_ms: i64) -> rusqlite::Result<u64> {
    let Some(rule) = rules.iter().find(|r| r.detector == "aws-insight") else { return Ok(0) };
    let mut created = 0;
    for rec in records {
        let i = &rec.insight;
        let group = i.shared_event_id.clone().unwrap_or_else(|| format!("event {}", rec.event_id));
        let existing: Option<(i64, String, Option<String>)> = conn
            .prepare_cached(
                "SELECT window_start, severity, detail FROM findings WHERE rule_id = ?1 AND group_key = ?2
                 ORDER BY window_start LIMIT 1",
            )?
            .query_row(params![rule.id, group], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let before: Option<Episode> =
            existing.as_ref().and_then(|(_, _, d)| d.as_deref()).and_then(|d| serde_json::from_str(d).ok());
        let end = i.state.eq_ignore_ascii_case("End");
        let own_start = if end {
            rec.time_ms - i.insight_duration.unwrap_or(0).max(0) * MINUTE_MS
        } else {
            rec.time_ms
        };
        let start_ms = before.as_ref().map_or(own_start, |b| b.start_ms.min(own_start));
        let end_ms = if end { Some(rec.time_ms) } else { before.as_ref().and_then(|b| b.end_ms) };
        // An End record's figures are the episode's final ones; a Start's fill what is missing.
        let pick = |mine: Option<f64>, theirs: Option<f64>| if end { mine.or(theirs) } else { theirs.or(mine) };
        let pick_i = |mine: Option<i64>, theirs: Option<i64>| if end { mine.or(theirs) } else { theirs.or(mine) };
        let b = before.as_ref();
        let attributions = match (i.attributions.is_empty(), b) {
            (false, Some(b)) if !end && !b.attributions.is_empty() => b.attributions.clone(),
            (false, _) => i.attributions.clone(),
            (true, Some(b)) => b.attributions.clone(),
            (true, None) => Vec::new(),
        };
        let mut episode = Episode {
            summary: String::new(),
            by_aws: true,
            insight_type: i.insight_type.clone(),
            account: rec.account.clone(),
            region: rec.region.clone(),
            event_source: i.event_source.clone(),
            event_name: i.event_name.clone(),
            start_ms,
            end_ms,
            baseline_average: pick(i.baseline_average, b.and_then(|b| b.baseline_average)),
            insight_average: pick(i.insight_average, b.and_then(|b| b.insight_average)),
            baseline_duration: pick_i(i.baseline_duration, b.and_then(|b| b.baseline_duration)),
            insight_duration: pick_i(i.insight_duration, b.and_then(|b| b.insight_duration)),
            baseline_peak: None,
            insight_peak: None,
            calls: None,
            attributions,
            shared_event_id: i.shared_event_id.clone(),
        };
        episode.summary = aws_sentence(&episode);
        let sev = match (episode.insight_average, episode.baseline_average) {
            (Some(i), Some(b)) => severity(i, b),
            _ => Severity::Low,
        };
        created += store(conn, rule, &group, existing.as_ref(), own_start, &episode, sev, &[rec.event_id], alerts, now_ms)?;
    }
    Ok(created)
}

/// "AWS CloudTrail Insights: CompleteLifecycleAction (autoscaling.amazonaws.com) call
/// rate at 0.60 a minute against 0.0001 a minute, for 5 minutes".
pub fn aws_sentence(e: &Episode) -> String {
    let mut out = format!("AWS CloudTrail Insights: {} ({}) {}", e.event_name, e.event_source, e.kind());
    if let Some(i) = e.insight_average {
        out.push_str(&format!(" at {} a minute", rate(i)));
    }
    if let Some(b) = e.baseline_average {
        out.push_str(&format!(" against {} a minute", rate(b)));
    }
    match (e.insight_duration, e.end_ms) {
        (Some(d), _) => out.push_str(&format!(", for {} minute{}", d, if d == 1 { "" } else { "s" })),
        (None, None) => out.push_str(", still open"),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_needs_the_floor_and_the_factor() {
        let quiet = Baseline { total: 10, peak: 2, minutes: 10_080 };
        assert!(!out_of_range(9, &quiet));
        assert!(out_of_range(10, &quiet));
        let busy = Baseline { total: 5_000, peak: 20, minutes: 10_080 };
        assert!(!out_of_range(60, &busy));
        assert!(out_of_range(61, &busy));
        assert!(out_of_range(10, &Baseline::default()));
    }

    #[test]
    fn runs_join_across_short_gaps_only() {
        assert_eq!(runs(&[10, 11, 12, 18, 30]), vec![(10, 18), (30, 30)]);
        assert_eq!(runs(&[]), Vec::<(i64, i64)>::new());
    }

    #[test]
    fn aws_records_are_read_with_their_statistics_and_attributions() {
        let raw = br#"{"eventVersion":"1.07","eventTime":"2020-07-21T20:56:00Z","awsRegion":"us-east-1",
          "eventID":"abcd","eventType":"AwsCloudTrailInsight","recipientAccountId":"838185438692",
          "sharedEventID":"7bb0","insightDetails":{"state":"Start","eventSource":"autoscaling.amazonaws.com",
          "eventName":"CompleteLifecycleAction","insightType":"ApiCallRateInsight","insightContext":{
          "statistics":{"baseline":{"average":8.82145e-05},"insight":{"average":0.6},"insightDuration":5,
          "baselineDuration":11336},"attributions":[{"attribute":"userAgent","insight":[{"value":"<script>x</script>",
          "average":0.6}],"baseline":[{"value":"codedeploy.amazonaws.com","average":8.82145e-05}]}]}},
          "eventCategory":"Insight"}"#;
        let i = AwsInsight::parse(raw).expect("an insight");
        assert_eq!(i.state, "Start");
        assert_eq!(i.event_name, "CompleteLifecycleAction");
        assert_eq!(i.shared_event_id.as_deref(), Some("7bb0"));
        assert_eq!(i.insight_duration, Some(5));
        assert_eq!(i.baseline_duration, Some(11_336));
        assert_eq!(i.insight_average, Some(0.6));
        assert_eq!(i.attributions.len(), 1);
        assert_eq!(i.attributions[0].insight[0].value, "<script>x</script>");
        assert!(AwsInsight::parse(br#"{"insightDetails":{"state":"Start"}}"#).is_none());
        assert!(AwsInsight::parse(b"{").is_none());
    }
}
