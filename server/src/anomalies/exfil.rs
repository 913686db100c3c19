//! Exfiltration: an actor's S3 reads of one hour judged against its own history.
//!
//! - **First bulk read** of a bucket: at least [`FLOOR_OBJECTS`] objects or
//!   [`FLOOR_BYTES`] in the hour an actor first read it, once Cairn holds [`LEARN_HOURS`]
//!   of S3 reads (before that, every reader is new).
//! - **Over baseline**: more than [`FACTOR`] times the baseline and above the floor. The
//!   baseline is the busiest hour at the same hour of the week (±1 hour) over the
//!   previous 14 days once the actor has 14 days of history, else its busiest hour over
//!   the history it has (at least [`MIN_HISTORY_HOURS`]).
//! - **New network**: at least [`NETWORK_OBJECTS`] objects or [`NETWORK_BYTES`] from a
//!   network (`super::network_of`) the actor never read from, once it has
//!   [`MIN_HISTORY_HOURS`] of history and has read from another network before.
//! - **Presigned burst**: at least [`FLOOR_PRESIGNED`] presigned-URL reads in the hour,
//!   more than [`FACTOR`] times its busiest hour of them over the previous 14 days.
//!
//! A finding runs from the first hour that fired to the last: an hour that fires right
//! after one of the same rule and key joins its finding, whose figures are then those of
//! the whole episode.
//!
//! Late data: an hour is judged again whenever events land in it, with the history held
//! at that moment. A finding is never withdrawn by later data; history backfilled after
//! an hour was judged raises the baselines of the hours judged from then on.

use super::{HOUR_MS, Sums};
use crate::detections::record::{AnomalyRule, Head, file_events};
use app::schema::{ID_HASH_BITS, TermKind};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{BTreeMap, BTreeSet};

pub const FIRST_BUCKET: u8 = 0;
pub const FIRST_NETWORK: u8 = 1;

pub use app::schema::exfil::{FACTOR, FLOOR_BYTES, FLOOR_OBJECTS};
pub const NETWORK_OBJECTS: i64 = 10;
pub const NETWORK_BYTES: i64 = 100_000_000;
pub const FLOOR_PRESIGNED: i64 = 100;
/// Hours of S3 reads Cairn holds before it calls a read a first.
pub const LEARN_HOURS: i64 = 7 * 24;
/// Hours of an actor's own history before its baseline is trusted.
pub const MIN_HISTORY_HOURS: i64 = 3 * 24;
const BASELINE_HOURS: i64 = 14 * 24;
const WEEK_HOURS: i64 = 7 * 24;
/// Most events attached to one finding per judged hour.
const MAX_MEMBERS: i64 = 20_000;

/// What an actor's history says it usually reads in an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Baseline {
    pub objects: i64,
    pub bytes: i64,
    /// Same hour of the week (true) or busiest hour of the history held (false).
    pub weekly: bool,
    /// The busiest day of the 14 (for the sentence).
    pub day_objects: i64,
    pub day_bytes: i64,
    pub presigned: i64,
}

/// The baseline of `hour` from the actor's hourly sums over the previous 14 days
/// (`history`: hour -> sums), given the first hour it read anything; `None` when it has
/// less than [`MIN_HISTORY_HOURS`] of history.
pub fn baseline(hour: i64, actor_first: i64, history: &BTreeMap<i64, Sums>) -> Option<Baseline> {
    if hour - actor_first < MIN_HISTORY_HOURS {
        return None;
    }
    let weekly = hour - actor_first >= BASELINE_HOURS;
    let in_window = |h: i64| h >= hour - BASELINE_HOURS && h < hour;
    let same_hour_of_week = |h: i64| {
        let back = hour - h;
        [WEEK_HOURS, 2 * WEEK_HOURS].iter().any(|w| (back - w).abs() <= 1)
    };
    let mut b = Baseline { objects: 0, bytes: 0, weekly, day_objects: 0, day_bytes: 0, presigned: 0 };
    let mut days: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for (&h, s) in history.range(hour - BASELINE_HOURS..hour) {
        if !in_window(h) {
            continue;
        }
        if !weekly || same_hour_of_week(h) {
            b.objects = b.objects.max(s.objects);
            b.bytes = b.bytes.max(s.bytes);
        }
        b.presigned = b.presigned.max(s.presigned);
        let d = days.entry(h.div_euclid(24)).or_default();
        d.0 += s.objects;
        d.1 += s.bytes;
    }
    for (o, by) in days.values() {
        b.day_objects = b.day_objects.max(*o);
        b.day_bytes = b.day_bytes.max(*by);
    }
    Some(b)
}

/// Whether an hour's reads are far above the baseline.
pub fn over_baseline(cur: &Sums, b: &Baseline) -> bool {
    cur.objects > FLOOR_OBJECTS.max(FACTOR * b.objects) && cur.objects >= FLOOR_OBJECTS
        || cur.bytes > FLOOR_BYTES.max(FACTOR * b.bytes)
}

/// Whether an hour's reads of a bucket are a bulk read.
pub fn bulk(s: &Sums) -> bool {
    s.objects >= FLOOR_OBJECTS || s.bytes >= FLOOR_BYTES
}

/// Judges every (actor, hour) a batch touched with the enabled anomaly rules. Returns
/// how many findings were new.
pub fn judge(
    conn: &Connection,
    rules: &[AnomalyRule],
    touched: &BTreeSet<(i64, i64)>,
    alerts: bool,
    now_ms: i64,
) -> rusqlite::Result<u64> {
    let rule = |detector: &str| rules.iter().find(|r| r.detector == detector);
    let (first_bulk, over, network, presigned) = (
        rule("s3-first-bulk-read"),
        rule("s3-over-baseline"),
        rule("s3-new-network"),
        rule("s3-presigned-burst"),
    );
    if touched.is_empty() || [first_bulk, over, network, presigned].iter().all(Option::is_none) {
        return Ok(0);
    }
    // Reads begin here for Cairn: nothing is a first before it has learnt a while.
    let learnt_from: Option<i64> = conn
        .prepare_cached("SELECT hour FROM s3_reads ORDER BY hour LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    let Some(learnt_from) = learnt_from else { return Ok(0) };
    let mut created = 0;
    for &(actor, hour) in touched {
        let j = Judge { conn, actor, hour, alerts, now_ms };
        let rows = j.rows()?;
        let cur = rows.iter().fold(Sums::default(), |mut acc, r| {
            add(&mut acc, &r.sums);
            acc
        });
        // Most hours of most readers are far below every floor: they are not judged.
        let may_be_bulk = cur.objects >= FLOOR_OBJECTS || cur.bytes >= FLOOR_BYTES;
        let may_be_presigned = cur.presigned >= FLOOR_PRESIGNED;
        let may_be_network = cur.objects >= NETWORK_OBJECTS || cur.bytes >= NETWORK_BYTES;
        if !(may_be_bulk || may_be_presigned || may_be_network) {
            continue;
        }
        let actor_first: Option<i64> = conn
            .prepare_cached("SELECT min(first_hour) FROM s3_firsts WHERE actor = ?1 AND kind = ?2")?
            .query_row(params![actor, FIRST_BUCKET], |r| r.get(0))?;
        let actor_first = actor_first.unwrap_or(hour);
        let learnt = hour - learnt_from >= LEARN_HOURS;
        if let (Some(r), true, true) = (first_bulk, learnt, may_be_bulk) {
            let mut buckets: BTreeMap<i64, Sums> = BTreeMap::new();
            for row in rows.iter().filter(|r| r.bucket != 0) {
                add(buckets.entry(row.bucket).or_default(), &row.sums);
            }
            for (bucket, s) in buckets {
                if bulk(&s) && j.first_hour(FIRST_BUCKET, &bucket.to_string())? == Some(hour) {
                    created += j.file(r, Scope::Bucket(bucket), |_| None)?;
                }
            }
        }
        let needs_history = (over.is_some() && may_be_bulk) || (presigned.is_some() && may_be_presigned);
        let history = if needs_history { j.history()? } else { BTreeMap::new() };
        let base = baseline(hour, actor_first, &history);
        if let (Some(r), Some(b), true) = (over, base, may_be_bulk) {
            if over_baseline(&cur, &b) {
                created += j.file(r, Scope::Actor, |_| Some(b))?;
            }
        }
        if let (Some(r), true) = (presigned, may_be_presigned) {
            let most = history.range(hour - BASELINE_HOURS..hour).map(|(_, s)| s.presigned).max().unwrap_or(0);
            if cur.presigned >= FLOOR_PRESIGNED && cur.presigned > FACTOR * most {
                created += j.file(r, Scope::Presigned, |_| base)?;
            }
        }
        if let (Some(r), true, true) = (network, hour - actor_first >= MIN_HISTORY_HOURS, may_be_network) {
            let mut nets: BTreeMap<String, (Sums, Vec<i64>)> = BTreeMap::new();
            for row in rows.iter().filter(|r| r.source_ip != 0) {
                let Some(net) = j.address(row.source_ip)?.as_deref().and_then(super::network_of) else {
                    continue;
                };
                let e = nets.entry(net).or_default();
                add(&mut e.0, &row.sums);
                e.1.push(row.source_ip);
            }
            for (net, (s, ips)) in nets {
                let big = s.objects >= NETWORK_OBJECTS || s.bytes >= NETWORK_BYTES;
                if big && j.first_hour(FIRST_NETWORK, &net)? == Some(hour) && j.known_networks_before()? > 0 {
                    created += j.file(r, Scope::Network(net, ips), |_| None)?;
                }
            }
        }
    }
    Ok(created)
}

fn add(to: &mut Sums, s: &Sums) {
    to.objects += s.objects;
    to.lists += s.lists;
    to.bytes += s.bytes;
    to.presigned += s.presigned;
}

/// One row of `s3_reads` for the judged actor and hour.
struct Row {
    bucket: i64,
    source_ip: i64,
    sums: Sums,
}

/// What a finding is about: all the actor's reads, one bucket's, one network's, or
/// the presigned ones.
enum Scope {
    Actor,
    Bucket(i64),
    Network(String, Vec<i64>),
    Presigned,
}

struct Judge<'c> {
    conn: &'c Connection,
    actor: i64,
    hour: i64,
    alerts: bool,
    now_ms: i64,
}

impl Judge<'_> {
    fn rows(&self) -> rusqlite::Result<Vec<Row>> {
        self.conn
            .prepare_cached(
                "SELECT bucket, source_ip, objects, lists, bytes, presigned FROM s3_reads
                 WHERE hour = ?1 AND actor = ?2",
            )?
            .query_map(params![self.hour, self.actor], |r| {
                Ok(Row {
                    bucket: r.get(0)?,
                    source_ip: r.get(1)?,
                    sums: Sums { objects: r.get(2)?, lists: r.get(3)?, bytes: r.get(4)?, presigned: r.get(5)? },
                })
            })?
            .collect()
    }

    /// The actor's hourly sums over the 14 days before the hour.
    fn history(&self) -> rusqlite::Result<BTreeMap<i64, Sums>> {
        self.sums_by_hour(self.hour - BASELINE_HOURS, self.hour, None)
    }

    /// The actor's hourly sums over `[from, to)`, of one bucket or all.
    fn sums_by_hour(&self, from: i64, to: i64, bucket: Option<i64>) -> rusqlite::Result<BTreeMap<i64, Sums>> {
        self.conn
            .prepare_cached(
                "SELECT hour, sum(objects), sum(lists), sum(bytes), sum(presigned) FROM s3_reads
                 WHERE actor = ?1 AND hour >= ?2 AND hour < ?3 AND (?4 IS NULL OR bucket = ?4)
                 GROUP BY hour",
            )?
            .query_map(params![self.actor, from, to, bucket], |r| {
                Ok((
                    r.get(0)?,
                    Sums { objects: r.get(1)?, lists: r.get(2)?, bytes: r.get(3)?, presigned: r.get(4)? },
                ))
            })?
            .collect()
    }

    fn first_hour(&self, kind: u8, value: &str) -> rusqlite::Result<Option<i64>> {
        self.conn
            .prepare_cached("SELECT first_hour FROM s3_firsts WHERE actor = ?1 AND kind = ?2 AND value = ?3")?
            .query_row(params![self.actor, kind, value], |r| r.get(0))
            .optional()
    }

    fn known_networks_before(&self) -> rusqlite::Result<i64> {
        self.conn
            .prepare_cached(
                "SELECT count(*) FROM s3_firsts WHERE actor = ?1 AND kind = ?2 AND first_hour < ?3",
            )?
            .query_row(params![self.actor, FIRST_NETWORK, self.hour], |r| r.get(0))
    }

    fn address(&self, id: i64) -> rusqlite::Result<Option<String>> {
        Ok(Some(self.text("SELECT value FROM terms WHERE id = ?1", id)?).filter(|a| !a.is_empty()))
    }

    fn text(&self, sql: &str, id: i64) -> rusqlite::Result<String> {
        Ok(self.conn.prepare_cached(sql)?.query_row(params![id], |r| r.get(0)).optional()?.unwrap_or_default())
    }

    /// The actor's successful S3 reads in `[from_hour, to_hour]` within `scope`, by row
    /// id (at most [`MAX_MEMBERS`]). A presigned burst holds the hour's object reads:
    /// which of them were presigned only the records say.
    fn members(&self, scope: &Scope, from_hour: i64, to_hour: i64) -> rusqlite::Result<Vec<i64>> {
        let (bucket, ips, presigned_only) = match scope {
            Scope::Actor => (None, None, false),
            Scope::Bucket(b) => (Some(*b), None, false),
            Scope::Network(_, ips) => (None, Some(serde_json::to_string(ips).unwrap_or_default()), false),
            Scope::Presigned => (None, None, true),
        };
        let names = serde_json::to_string(
            &crate::ingest::normalize::S3_OBJECT_READS
                .iter()
                .chain(crate::ingest::normalize::S3_LISTS)
                .filter(|n| !presigned_only || !crate::ingest::normalize::S3_LISTS.contains(n))
                .collect::<Vec<_>>(),
        )
        .unwrap_or_default();
        let ids: Vec<i64> = self
            .conn
            .prepare_cached(
                "SELECT e.id FROM terms n JOIN events e ON e.name_id = n.id
                 WHERE n.kind = ?1 AND n.value IN (SELECT value FROM json_each(?2))
                   AND e.id >= ?3 AND e.id < ?4
                   AND (e.principal_id = ?5 OR e.issuer_id = ?5)
                   AND e.error_code_id IS NULL AND e.error_message_id IS NULL
                   AND (?6 IS NULL OR ?6 IN (SELECT value FROM json_each(e.resource_ids)))
                   AND (?7 IS NULL OR e.source_ip_id IN (SELECT value FROM json_each(?7)))
                 ORDER BY e.id LIMIT ?8",
            )?
            .query_map(
                params![
                    TermKind::Name as i64,
                    names,
                    (from_hour * HOUR_MS) << ID_HASH_BITS,
                    ((to_hour + 1) * HOUR_MS) << ID_HASH_BITS,
                    self.actor,
                    bucket,
                    ips,
                    MAX_MEMBERS
                ],
                |r| r.get(0),
            )?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// Files the hour's finding of `rule` for `scope`, joining the finding of the hour
    /// before when there is one.
    fn file(&self, rule: &AnomalyRule, scope: Scope, base: impl Fn(&Scope) -> Option<Baseline>) -> rusqlite::Result<u64> {
        let actor_key = self.text("SELECT key FROM principals WHERE id = ?1", self.actor)?;
        let (group, subject) = match &scope {
            Scope::Actor | Scope::Presigned => (actor_key.clone(), None),
            Scope::Bucket(b) => {
                let arn = self.text("SELECT arn FROM resources WHERE id = ?1", *b)?;
                (format!("{actor_key} {arn}"), Some(arn))
            }
            Scope::Network(net, _) => (format!("{actor_key} {net}"), Some(net.clone())),
        };
        let hour_start = self.hour * HOUR_MS;
        // The episode this hour continues: a finding of the rule and key that reaches
        // into the hour before.
        let start: i64 = self
            .conn
            .prepare_cached(
                "SELECT window_start FROM findings WHERE rule_id = ?1 AND group_key = ?2
                   AND window_start <= ?3 AND last_ms >= ?4 ORDER BY window_start DESC LIMIT 1",
            )?
            .query_row(params![rule.id, group, hour_start, hour_start - HOUR_MS], |r| r.get(0))
            .optional()?
            .unwrap_or(hour_start);
        let from_hour = start.div_euclid(HOUR_MS);
        let members = self.members(&scope, self.hour, self.hour)?;
        if members.is_empty() {
            return Ok(0);
        }
        let bucket = match scope {
            Scope::Bucket(b) => Some(b),
            _ => None,
        };
        let episode = self.sums_by_hour(from_hour, self.hour + 1, bucket)?;
        let total = episode.values().fold(Sums::default(), |mut acc, s| {
            add(&mut acc, s);
            acc
        });
        let (first_ms, last_ms): (Option<i64>, Option<i64>) = self
            .conn
            .prepare_cached(
                "SELECT min(e.event_time), max(e.event_time) FROM finding_events f JOIN events e ON e.id = f.event_id
                 JOIN findings x ON x.id = f.finding_id
                 WHERE x.rule_id = ?1 AND x.group_key = ?2 AND x.window_start = ?3",
            )?
            .query_row(params![rule.id, group, start], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let lo = first_ms.unwrap_or(i64::MAX).min(members.first().map_or(i64::MAX, |m| m >> ID_HASH_BITS));
        let hi = last_ms.unwrap_or(i64::MIN).max(members.last().map_or(i64::MIN, |m| m >> ID_HASH_BITS));
        let b = base(&scope);
        let detail = Detail {
            summary: sentence(&rule.detector, &total, subject.as_deref(), hi - lo, b.as_ref()),
            objects: total.objects,
            bytes: total.bytes,
            lists: total.lists,
            presigned: total.presigned,
            subject,
            baseline_objects: b.map(|b| b.objects),
            baseline_bytes: b.map(|b| b.bytes),
            baseline_day_objects: b.map(|b| b.day_objects),
            baseline_day_bytes: b.map(|b| b.day_bytes),
            baseline_weekly: b.map(|b| b.weekly),
        };
        let detail = serde_json::to_string(&detail).unwrap_or_default();
        let head = Head {
            rule_id: &rule.id,
            version: rule.version,
            severity: rule.severity,
            group: &group,
            start,
            principal: Some(self.actor),
            detail: Some(&detail),
            alerts: self.alerts,
        };
        // The upsert replaces the detail, new events or not: the figures follow the episode.
        Ok(u64::from(file_events(self.conn, &head, &members, self.now_ms)?))
    }
}

/// What made an anomaly finding fire (stored as `findings.detail`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Detail {
    pub summary: String,
    pub objects: i64,
    pub bytes: i64,
    pub lists: i64,
    pub presigned: i64,
    /// The bucket's ARN or the network, for findings about one.
    pub subject: Option<String>,
    pub baseline_objects: Option<i64>,
    pub baseline_bytes: Option<i64>,
    pub baseline_day_objects: Option<i64>,
    pub baseline_day_bytes: Option<i64>,
    pub baseline_weekly: Option<bool>,
}

/// "read 4,812 objects / 18.3 GB from prod-customer-data in 40 minutes; its busiest day
/// over 14 days was 212 objects / 0.4 GB".
pub fn sentence(detector: &str, s: &Sums, subject: Option<&str>, span_ms: i64, b: Option<&Baseline>) -> String {
    use app::fmt::{bytes, count};
    let minutes = (span_ms.max(0) + 59_999) / 60_000;
    let span = if minutes <= 1 { "within a minute".to_owned() } else { format!("in {} minutes", count(minutes)) };
    let what = format!("{} objects / {}", count(s.objects), bytes(s.bytes));
    let bucket_name = |arn: &str| arn.strip_prefix("arn:aws:s3:::").unwrap_or(arn).to_owned();
    match detector {
        "s3-first-bulk-read" => format!(
            "read {what} from {}, a bucket it had never read, {span}",
            subject.map(bucket_name).unwrap_or_else(|| "a bucket".into())
        ),
        "s3-new-network" => format!(
            "read {what} from {}, a network it had never read from, {span}",
            subject.unwrap_or("an address")
        ),
        "s3-presigned-burst" => format!("read {} objects through presigned URLs {span} ({} in all)", count(s.presigned), bytes(s.bytes)),
        _ => {
            let mut out = format!("read {what} {span}");
            if let Some(b) = b {
                let hour = if b.weekly { "at this hour of the week" } else { "in any hour" };
                out.push_str(&format!(
                    "; over the previous 14 days it read at most {} objects / {} {hour}, and {} objects / {} on its busiest day",
                    count(b.objects),
                    bytes(b.bytes),
                    count(b.day_objects),
                    bytes(b.day_bytes)
                ));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(items: &[(i64, i64)]) -> BTreeMap<i64, Sums> {
        items.iter().map(|&(h, o)| (h, Sums { objects: o, bytes: o * 1000, ..Sums::default() })).collect()
    }

    #[test]
    fn no_baseline_before_three_days() {
        let h = hist(&[(990, 10)]);
        assert_eq!(baseline(1000, 1000 - 71, &h), None);
        assert!(baseline(1000, 1000 - 72, &h).is_some());
    }

    #[test]
    fn the_busiest_hour_until_two_weeks_then_the_same_hour_of_the_week() {
        // Busy at hour 900, quiet otherwise.
        let h = hist(&[(900, 500), (1000 - 168, 20), (1000 - 336 + 1, 30), (999, 5)]);
        let young = baseline(1000, 1000 - 200, &h).expect("history");
        assert!(!young.weekly);
        assert_eq!(young.objects, 500);
        let old = baseline(1000, 1000 - 400, &h).expect("history");
        assert!(old.weekly);
        assert_eq!(old.objects, 30);
        assert_eq!(old.day_objects, 500);
    }

    #[test]
    fn the_floor_keeps_quiet_readers_quiet() {
        let b = Baseline { objects: 2, bytes: 2000, weekly: true, day_objects: 5, day_bytes: 5000, presigned: 0 };
        assert!(!over_baseline(&Sums { objects: 60, bytes: 60_000, ..Sums::default() }, &b));
        assert!(over_baseline(&Sums { objects: 150, bytes: 150_000, ..Sums::default() }, &b));
        // A few huge objects go over on bytes alone.
        assert!(over_baseline(&Sums { objects: 3, bytes: 5_000_000_000, ..Sums::default() }, &b));
        let busy = Baseline { objects: 400, ..b };
        assert!(!over_baseline(&Sums { objects: 1500, bytes: 0, ..Sums::default() }, &busy));
        assert!(over_baseline(&Sums { objects: 1601, bytes: 0, ..Sums::default() }, &busy));
    }

    #[test]
    fn sentences_give_the_numbers() {
        let s = Sums { objects: 4812, bytes: 18_300_000_000, ..Sums::default() };
        let b = Baseline { objects: 40, bytes: 80_000_000, weekly: false, day_objects: 212, day_bytes: 400_000_000, presigned: 0 };
        let text = sentence("s3-over-baseline", &s, None, 40 * 60_000, Some(&b));
        assert!(text.starts_with("read 4,812 objects / 18.3 GB in 40 minutes;"), "{text}");
        assert!(text.contains("212 objects / 400 MB on its busiest day"), "{text}");
        let text = sentence("s3-first-bulk-read", &s, Some("arn:aws:s3:::prod-customer-data"), 0, None);
        assert_eq!(text, "read 4,812 objects / 18.3 GB from prod-customer-data, a bucket it had never read, within a minute");
    }
}
