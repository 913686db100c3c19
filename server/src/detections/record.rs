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
}

impl Detection {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn suppressed(&self, rule: &str, m: &Matched) -> bool {
        self.suppressions.iter().any(|s| {
            s.rule == rule
                && match s.field.as_str() {
                    "principal" => m.principal_key == s.value,
                    "source_ip" => m.source_ip.as_deref() == Some(s.value.as_str()),
                    "resource" => m.resources.iter().any(|r| *r == s.value),
                    _ => false,
                }
        })
    }
}

/// A newly stored event with the rules it matched.
#[derive(Debug, Clone)]
pub struct Matched {
    pub hits: Vec<Hit>,
    pub event_id: i64,
    pub time_ms: i64,
    pub principal_id: i64,
    pub principal_key: String,
    pub account: String,
    pub region: Option<String>,
    pub source_ip: Option<String>,
    pub resources: Vec<String>,
}

fn time_of(event_id: i64) -> i64 {
    event_id >> ID_HASH_BITS
}

struct Member {
    event_id: i64,
    time_ms: i64,
    principal_id: i64,
    account: String,
    region: Option<String>,
}

/// Writes the findings of a batch's matches. Returns how many findings were new.
pub fn record(conn: &Connection, det: &Detection, matched: Vec<Matched>, now_ms: i64) -> rusqlite::Result<u64> {
    if matched.is_empty() {
        return Ok(0);
    }
    // Match rules: (rule, key, window start) -> events.
    let mut windows: BTreeMap<(u32, String, i64), Vec<Member>> = BTreeMap::new();
    // Threshold rules: (rule, key) -> the times the batch touched.
    let mut touched: BTreeMap<(u32, String), (i64, i64)> = BTreeMap::new();
    for m in &matched {
        for h in &m.hits {
            let Some(rule) = det.rules.rules.get(h.rule as usize) else { continue };
            if det.suppressed(&rule.def.id, m) {
                continue;
            }
            match &rule.def.threshold {
                None => {
                    let w = rule.def.window_secs.max(60) * 1000;
                    let start = m.time_ms - m.time_ms.rem_euclid(w);
                    windows.entry((h.rule, h.group.clone(), start)).or_default().push(Member {
                        event_id: m.event_id,
                        time_ms: m.time_ms,
                        principal_id: m.principal_id,
                        account: m.account.clone(),
                        region: m.region.clone(),
                    });
                }
                Some(_) => {
                    conn.prepare_cached(
                        "INSERT OR IGNORE INTO rule_hits (rule_id, group_key, event_id, distinct_value)
                         VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![rule.def.id, h.group, m.event_id, h.distinct])?;
                    let e = touched.entry((h.rule, h.group.clone())).or_insert((m.time_ms, m.time_ms));
                    e.0 = e.0.min(m.time_ms);
                    e.1 = e.1.max(m.time_ms);
                }
            }
        }
    }
    let mut created = 0;
    for ((rule, group, start), members) in windows {
        created += u64::from(add_to_finding(conn, det, rule, &group, start, None, &members, now_ms)?);
    }
    for ((rule, group), (lo, hi)) in touched {
        created += thresholds(conn, det, rule, &group, lo, hi, now_ms)?;
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
        "SELECT h.event_id, h.distinct_value, e.principal_id, a.value, r.value
         FROM rule_hits h JOIN events e ON e.id = h.event_id
         LEFT JOIN terms a ON a.id = e.account_id LEFT JOIN terms r ON r.id = e.region_id
         WHERE h.rule_id = ?1 AND h.group_key = ?2 AND h.event_id >= ?3 AND h.event_id < ?4
         ORDER BY h.event_id",
    )?;
    let rows: Vec<(i64, Option<String>, i64, Option<String>, Option<String>)> = st
        .query_map(
            params![def.id, group, (lo - w) << ID_HASH_BITS, (hi + w + 1) << ID_HASH_BITS],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?
        .collect::<Result<_, _>>()?;
    let times: Vec<i64> = rows.iter().map(|r| time_of(r.0)).collect();
    let distinct: Vec<Option<String>> = rows.iter().map(|r| r.1.clone()).collect();
    let qualifies = app::detect::qualifying(&times, t.distinct.is_some().then_some(&distinct[..]), t.count, w);
    // Bursts: qualifying matches no more than a window apart.
    let mut created = 0;
    let mut burst: Vec<Member> = Vec::new();
    let flush = |burst: &mut Vec<Member>, created: &mut u64| -> rusqlite::Result<()> {
        if burst.is_empty() {
            return Ok(());
        }
        let first = burst[0].time_ms;
        let last = burst[burst.len() - 1].time_ms;
        let existing: Option<i64> = conn
            .prepare_cached(
                "SELECT window_start FROM findings WHERE rule_id = ?1 AND group_key = ?2
                   AND first_ms <= ?3 AND last_ms >= ?4 ORDER BY first_ms LIMIT 1",
            )?
            .query_row(params![def.id, group, last + w, first - w], |r| r.get(0))
            .optional()?;
        let start = existing.unwrap_or(first);
        *created += u64::from(add_to_finding(conn, det, rule, group, start, Some(()), burst, now_ms)?);
        burst.clear();
        Ok(())
    };
    for (k, row) in rows.iter().enumerate() {
        if !qualifies[k] {
            continue;
        }
        let t_ms = time_of(row.0);
        if burst.last().is_some_and(|b| t_ms - b.time_ms > w) {
            flush(&mut burst, &mut created)?;
        }
        burst.push(Member {
            event_id: row.0,
            time_ms: t_ms,
            principal_id: row.2,
            account: row.3.clone().unwrap_or_default(),
            region: row.4.clone(),
        });
    }
    flush(&mut burst, &mut created)?;
    Ok(created)
}

/// Adds events to the finding of (rule, key, window start), making it when needed.
/// Returns whether the finding is new. A resolved finding that gains events opens again.
#[allow(clippy::too_many_arguments)]
fn add_to_finding(
    conn: &Connection,
    det: &Detection,
    rule: u32,
    group: &str,
    start: i64,
    _threshold: Option<()>,
    members: &[Member],
    now_ms: i64,
) -> rusqlite::Result<bool> {
    let Some(first) = members.iter().min_by_key(|m| m.event_id) else {
        return Ok(false);
    };
    let def = &det.rules.rules[rule as usize].def;
    let version = det.versions.get(rule as usize).copied().unwrap_or(1);
    let (id, status, created): (i64, String, bool) = conn
        .prepare_cached(
            "INSERT INTO findings (rule_id, rule_version, group_key, window_start, severity, status,
               principal_id, account, region, first_ms, last_ms, events, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?8, ?9, ?9, 0, ?10, ?10)
             ON CONFLICT (rule_id, group_key, window_start) DO UPDATE SET rule_id = excluded.rule_id
             RETURNING id, status, created_ms = ?10 AND events = 0",
        )?
        .query_row(
            params![
                def.id,
                version,
                group,
                start,
                def.severity.as_str(),
                first.principal_id,
                first.account,
                first.region,
                first.time_ms,
                now_ms
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
    let mut added = 0i64;
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    {
        let mut ins = conn.prepare_cached("INSERT OR IGNORE INTO finding_events (finding_id, event_id) VALUES (?1, ?2)")?;
        for m in members {
            if ins.execute(params![id, m.event_id])? == 1 {
                added += 1;
                lo = lo.min(m.time_ms);
                hi = hi.max(m.time_ms);
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
        if det.alerts {
            conn.prepare_cached(app::db::alerts::ENQUEUE)?
                .execute(params![id, def.id, def.severity.rank(), now_ms])?;
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
