//! Findings from matches, written by the importer's writer in the transaction that
//! stores the matched events: a finding exists exactly when its events do, and an event
//! stored once is matched once, however often it is imported.
//!
//! A match rule's finding is one per rule, grouping key and UTC-aligned window of the
//! rule's length. A threshold rule's matches are kept in `rule_hits`; after each batch the
//! matches of every key it touched are counted over a sliding window around the new ones,
//! and every match inside a window that reaches the threshold joins the finding of that
//! burst (an existing one of the same rule and key within a window's distance, or a new
//! one).
//!
//! A new finding is queued for each alert destination that takes it in the same
//! transaction (`app::db::alerts::ENQUEUE`), so it is alerted once, and surely.

use app::detect::{Hit, RuleSet};
use app::schema::ID_HASH_BITS;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A suppression in force when the import started.
#[derive(Debug, Clone)]
pub struct Suppression {
    pub rule: String,
    pub field: String,
    pub value: String,
}

/// The rules an import runs, with what the writer needs besides.
#[derive(Debug, Clone, Default)]
pub struct Detection {
    pub rules: Arc<RuleSet>,
    /// Each rule's stored version, by rule index.
    pub versions: Vec<i64>,
    pub suppressions: Vec<Suppression>,
    /// New findings are queued for the alert destinations (`rules run` over history
    /// makes findings without alerting).
    pub alerts: bool,
    /// The enabled anomaly rules (`crate::anomalies`), run over the summaries.
    pub anomalies: Vec<AnomalyRule>,
}

/// An enabled anomaly rule: its detector, with how its findings are filed.
#[derive(Debug, Clone)]
pub struct AnomalyRule {
    pub id: String,
    /// One of `app::detect::builtin::ANOMALY_DETECTORS`.
    pub detector: String,
    pub version: i64,
    pub severity: app::detect::Severity,
}

impl Detection {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Drops the hits a suppression in force covers: for the event of `principal` (its
    /// key), from `source_ip`, on the resources `arns` gives.
    pub fn unsuppressed<'r>(
        &self,
        hits: &mut Vec<Hit>,
        principal: &str,
        source_ip: Option<&str>,
        arns: impl Fn() -> Vec<&'r str>,
    ) {
        if self.suppressions.is_empty() || hits.is_empty() {
            return;
        }
        let arns = arns();
        hits.retain(|h| {
            let Some(rule) = self.rules.rules.get(h.rule as usize) else { return false };
            !self.suppressions.iter().any(|s| {
                s.rule == rule.def.id
                    && match s.field.as_str() {
                        "principal" => principal == s.value,
                        "source_ip" => source_ip == Some(s.value.as_str()),
                        "resource" => arns.iter().any(|r| *r == s.value),
                        _ => false,
                    }
            })
        });
    }
}

/// A newly stored event (its row id, which holds its time) with the rules it matched,
/// suppressions applied.
#[derive(Debug, Clone)]
pub struct Matched {
    pub hits: Vec<Hit>,
    pub event_id: i64,
}

fn time_of(event_id: i64) -> i64 {
    event_id >> ID_HASH_BITS
}

/// Writes the findings of a batch's matches. Returns how many findings were new.
pub fn record(conn: &Connection, det: &Detection, matched: Vec<Matched>, now_ms: i64) -> rusqlite::Result<u64> {
    if matched.is_empty() {
        return Ok(0);
    }
    // Match rules: (rule, key, window start) -> events.
    let mut windows: BTreeMap<(u32, &str, i64), Vec<i64>> = BTreeMap::new();
    // Threshold rules: (rule, key) -> the times the batch touched.
    let mut touched: BTreeMap<(u32, &str), (i64, i64)> = BTreeMap::new();
    for m in &matched {
        let time_ms = time_of(m.event_id);
        for h in &m.hits {
            let Some(rule) = det.rules.rules.get(h.rule as usize) else { continue };
            match &rule.def.threshold {
                None => {
                    let w = rule.def.window_secs.max(60) * 1000;
                    let start = time_ms - time_ms.rem_euclid(w);
                    windows.entry((h.rule, h.group.as_str(), start)).or_default().push(m.event_id);
                }
                Some(_) => {
                    conn.prepare_cached(
                        "INSERT OR IGNORE INTO rule_hits (rule_id, group_key, event_id, distinct_value)
                         VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![rule.def.id, h.group, m.event_id, h.distinct])?;
                    let e = touched.entry((h.rule, h.group.as_str())).or_insert((time_ms, time_ms));
                    e.0 = e.0.min(time_ms);
                    e.1 = e.1.max(time_ms);
                }
            }
        }
    }
    let mut created = 0;
    for ((rule, group, start), members) in windows {
        created += u64::from(add_to_finding(conn, det, rule, group, start, &members, now_ms)?);
    }
    for ((rule, group), (lo, hi)) in touched {
        created += thresholds(conn, det, rule, group, lo, hi, now_ms)?;
    }
    Ok(created)
}

/// Counts a threshold rule's matches for one key around `[lo, hi]` and files the
/// bursts that reach it.
fn thresholds(
    conn: &Connection,
    det: &Detection,
    rule: u32,
    group: &str,
    lo: i64,
    hi: i64,
    now_ms: i64,
) -> rusqlite::Result<u64> {
    let def = &det.rules.rules[rule as usize].def;
    let Some(t) = &def.threshold else { return Ok(0) };
    let w = t.window_secs * 1000;
    let mut st = conn.prepare_cached(
        "SELECT event_id, distinct_value FROM rule_hits
         WHERE rule_id = ?1 AND group_key = ?2 AND event_id >= ?3 AND event_id < ?4
         ORDER BY event_id",
    )?;
    let rows: Vec<(i64, Option<String>)> = st
        .query_map(
            params![def.id, group, (lo - w) << ID_HASH_BITS, (hi + w + 1) << ID_HASH_BITS],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    let times: Vec<i64> = rows.iter().map(|r| time_of(r.0)).collect();
    let distinct: Vec<Option<String>> = rows.iter().map(|r| r.1.clone()).collect();
    let qualifies = app::detect::qualifying(&times, t.distinct.is_some().then_some(&distinct[..]), t.count, w);
    // Bursts: qualifying matches no more than a window apart.
    let mut created = 0;
    let mut burst: Vec<i64> = Vec::new();
    let flush = |burst: &mut Vec<i64>, created: &mut u64| -> rusqlite::Result<()> {
        let (Some(&first), Some(&last)) = (burst.first(), burst.last()) else {
            return Ok(());
        };
        let (first, last) = (time_of(first), time_of(last));
        let existing: Option<i64> = conn
            .prepare_cached(
                "SELECT window_start FROM findings WHERE rule_id = ?1 AND group_key = ?2
                   AND first_ms <= ?3 AND last_ms >= ?4 ORDER BY first_ms LIMIT 1",
            )?
            .query_row(params![def.id, group, last + w, first - w], |r| r.get(0))
            .optional()?;
        let start = existing.unwrap_or(first);
        *created += u64::from(add_to_finding(conn, det, rule, group, start, burst, now_ms)?);
        burst.clear();
        Ok(())
    };
    for (k, row) in rows.iter().enumerate() {
        if !qualifies[k] {
            continue;
        }
        let t_ms = time_of(row.0);
        if burst.last().is_some_and(|&b| t_ms - time_of(b) > w) {
            flush(&mut burst, &mut created)?;
        }
        burst.push(row.0);
    }
    flush(&mut burst, &mut created)?;
    Ok(created)
}

/// Adds events (stored, by row id) to the finding of (rule, key, window start), making
/// it when needed; a new finding takes its principal, account and Region from its first
/// event. Returns whether the finding is new. A resolved finding that gains events opens
/// again.
fn add_to_finding(
    conn: &Connection,
    det: &Detection,
    rule: u32,
    group: &str,
    start: i64,
    members: &[i64],
    now_ms: i64,
) -> rusqlite::Result<bool> {
    let def = &det.rules.rules[rule as usize].def;
    let head = Head {
        rule_id: &def.id,
        version: det.versions.get(rule as usize).copied().unwrap_or(1),
        severity: def.severity,
        group,
        start,
        principal: None,
        detail: None,
        alerts: det.alerts,
    };
    file_events(conn, &head, members, now_ms)
}

/// What a finding is filed under, with what its first filing sets.
pub struct Head<'a> {
    pub rule_id: &'a str,
    pub version: i64,
    pub severity: app::detect::Severity,
    pub group: &'a str,
    pub start: i64,
    /// The finding's principal; `None`: its first event's.
    pub principal: Option<i64>,
    /// What made an anomaly fire (JSON), replacing what was there, with the severity.
    pub detail: Option<&'a str>,
    /// Queue a new finding for the alert destinations.
    pub alerts: bool,
}

/// Adds events (stored, by row id) to the finding `head` names, making it when needed
/// (its account and Region from its first event). Returns whether the finding is new. A
/// resolved finding that gains events opens again.
pub fn file_events(conn: &Connection, head: &Head<'_>, members: &[i64], now_ms: i64) -> rusqlite::Result<bool> {
    let Some(&first) = members.iter().min() else {
        return Ok(false);
    };
    let (id, status, created): (i64, String, bool) = conn
        .prepare_cached(
            "INSERT INTO findings (rule_id, rule_version, group_key, window_start, severity, status,
               principal_id, account, region, first_ms, last_ms, events, created_ms, updated_ms, detail)
             SELECT ?1, ?2, ?3, ?4, ?5, 'open', coalesce(?9, e.principal_id), coalesce(a.value, ''), r.value,
               ?7, ?7, 0, ?8, ?8, ?10
             FROM events e LEFT JOIN terms a ON a.id = e.account_id LEFT JOIN terms r ON r.id = e.region_id
             WHERE e.id = ?6
             ON CONFLICT (rule_id, group_key, window_start) DO UPDATE SET
               detail = coalesce(excluded.detail, findings.detail),
               severity = CASE WHEN excluded.detail IS NULL THEN findings.severity ELSE excluded.severity END
             RETURNING id, status, created_ms = ?8 AND events = 0",
        )?
        .query_row(
            params![
                head.rule_id,
                head.version,
                head.group,
                head.start,
                head.severity.as_str(),
                first,
                time_of(first),
                now_ms,
                head.principal,
                head.detail
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
    let mut added = 0i64;
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    {
        let mut ins = conn.prepare_cached("INSERT OR IGNORE INTO finding_events (finding_id, event_id) VALUES (?1, ?2)")?;
        for &m in members {
            if ins.execute(params![id, m])? == 1 {
                added += 1;
                lo = lo.min(time_of(m));
                hi = hi.max(time_of(m));
            }
        }
    }
    if added == 0 {
        return Ok(false);
    }
    conn.prepare_cached(
        "UPDATE findings SET events = events + ?2, first_ms = min(first_ms, ?3), last_ms = max(last_ms, ?4),
           updated_ms = ?5 WHERE id = ?1",
    )?
    .execute(params![id, added, lo, hi, now_ms])?;
    if created {
        conn.prepare_cached(
            "INSERT INTO finding_history (finding_id, at_ms, actor, change) VALUES (?1, ?2, 'cairn', 'opened')",
        )?
        .execute(params![id, now_ms])?;
        if head.alerts {
            conn.prepare_cached(app::db::alerts::ENQUEUE)?
                .execute(params![id, head.rule_id, head.severity.rank(), now_ms])?;
        }
    } else if status == "resolved" {
        conn.prepare_cached("UPDATE findings SET status = 'open' WHERE id = ?1")?
            .execute(params![id])?;
        conn.prepare_cached(
            "INSERT INTO finding_history (finding_id, at_ms, actor, change, note)
             VALUES (?1, ?2, 'cairn', 'reopened', ?3)",
        )?
        .execute(params![id, now_ms, format!("{added} new matching events")])?;
    }
    Ok(created)
}
