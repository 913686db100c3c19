//! Rules over stored history: a back-test ("would have matched 37 events, 4 principals,
//! last 2 days ago") and findings made from what is already stored. Both read the
//! events of a range in time order on their own connection, decompress each record
//! (the prefilter first looks at the bytes), and evaluate the rules.

use super::record::{Detection, Matched};
use app::detect::{Hit, Known, RuleSet};
use app::schema::ID_HASH_BITS;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("the stored record of event {0} cannot be read: {1}")]
    Raw(i64, String),
}

/// An event a rule matched, with what findings and reports need.
#[derive(Debug, Clone)]
pub struct Found {
    pub event_id: i64,
    pub time_ms: i64,
    pub principal_id: i64,
    pub principal_key: String,
    pub account: String,
    pub region: Option<String>,
    /// The CloudTrail `eventID`.
    pub cloudtrail_id: Option<String>,
    pub hits: Vec<Hit>,
}

/// Reads the events of `[from_ms, to_ms)` in time order and hands each one some rule
/// matched to `on_found`. `progress` gets the events read and the time reached.
pub fn scan(
    conn: &Connection,
    rules: &RuleSet,
    from_ms: i64,
    to_ms: i64,
    mut on_found: impl FnMut(Found) -> Result<(), HistoryError>,
    mut progress: impl FnMut(u64, i64),
) -> Result<u64, HistoryError> {
    let mut unpack = app::db::events::Unpacker::default();
    // Principals and terms by id, read only for records some rule may match.
    let mut principals: HashMap<i64, String> = HashMap::new();
    let mut terms: HashMap<i64, String> = HashMap::new();
    let mut st = conn.prepare(
        "SELECT id, raw_dict, raw, principal_id, account_id, region_id, raw_block, raw_slot FROM events
         WHERE id >= ?1 AND id < ?2 ORDER BY id",
    )?;
    let mut principal_st = conn.prepare("SELECT key FROM principals WHERE id = ?1")?;
    let mut term_st = conn.prepare("SELECT value FROM terms WHERE id = ?1")?;
    let lo = from_ms.max(0).saturating_mul(1 << ID_HASH_BITS);
    let hi = to_ms.max(0).saturating_mul(1 << ID_HASH_BITS);
    let mut rows = st.query(params![lo, hi])?;
    let mut scanned = 0u64;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let at = app::db::events::At {
            dict: row.get(1)?,
            raw: row.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?,
            block: row.get(6)?,
            slot: row.get(7)?,
        };
        scanned += 1;
        if scanned % 100_000 == 0 {
            progress(scanned, id >> ID_HASH_BITS);
        }
        let bytes = crate::ingest::blocks::read(conn, &mut unpack, at)?
            .map_err(|e| HistoryError::Raw(id, e.to_string()))?;
        let candidates = rules.candidates(&bytes, None);
        if candidates.is_empty() {
            continue;
        }
        let Some(record) = rules.parse(&bytes, &candidates) else {
            continue;
        };
        let principal_id: i64 = row.get(3)?;
        let principal_key = match principals.get(&principal_id) {
            Some(k) => k.clone(),
            None => {
                let k: String = principal_st
                    .query_row([principal_id], |r| r.get(0))
                    .optional()?
                    .unwrap_or_default();
                principals.insert(principal_id, k.clone());
                k
            }
        };
        let mut term = |tid: Option<i64>| -> Result<Option<String>, rusqlite::Error> {
            let Some(tid) = tid else { return Ok(None) };
            if let Some(v) = terms.get(&tid) {
                return Ok(Some(v.clone()));
            }
            let v: Option<String> = term_st.query_row([tid], |r| r.get(0)).optional()?;
            if let Some(v) = &v {
                terms.insert(tid, v.clone());
            }
            Ok(v)
        };
        let account: String = term(row.get(4)?)?.unwrap_or_default();
        let region: Option<String> = term(row.get(5)?)?;
        let hits = rules.evaluate_parsed(
            &candidates,
            &record,
            &Known {
                principal: &principal_key,
                account: &account,
                region: region.as_deref(),
            },
        );
        if hits.is_empty() {
            continue;
        }
        on_found(Found {
            event_id: id,
            time_ms: id >> ID_HASH_BITS,
            principal_id,
            principal_key,
            account,
            region,
            cloudtrail_id: record.get("eventID").and_then(|v| v.as_str()).map(str::to_owned),
            hits,
        })?;
    }
    progress(scanned, to_ms);
    Ok(scanned)
}

/// What a rule would have matched over a range.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BackTest {
    pub rule: String,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Events that would be in a finding (for a threshold rule, only those in a burst
    /// that reached it).
    pub matches: u64,
    pub principals: u64,
    /// Findings it would have made.
    pub findings: u64,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
    /// The CloudTrail `eventID`s matched, oldest first.
    pub event_ids: Vec<String>,
    /// Events read.
    pub scanned: u64,
    pub seconds: f64,
    /// The stored ids of the events matched, oldest first.
    #[serde(skip)]
    pub ids: Vec<i64>,
}

pub fn open_read(db: &Path) -> Result<Connection, HistoryError> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    Ok(conn)
}

/// Back-tests one compiled rule (the set holds exactly it) over `[from_ms, to_ms)`.
pub fn back_test(
    conn: &Connection,
    rules: &RuleSet,
    from_ms: i64,
    to_ms: i64,
    progress: impl FnMut(u64, i64),
) -> Result<BackTest, HistoryError> {
    let started = std::time::Instant::now();
    let Some(rule) = rules.rules.first() else {
        return Ok(BackTest::default());
    };
    let def = rule.def.clone();
    let mut found: Vec<Found> = Vec::new();
    let scanned = scan(conn, rules, from_ms, to_ms, |f| {
        found.push(f);
        Ok(())
    }, progress)?;
    // Group as findings would: per key, and per window (match rule) or burst (threshold).
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (k, f) in found.iter().enumerate() {
        groups.entry(f.hits[0].group.clone()).or_default().push(k);
    }
    let mut kept: Vec<usize> = Vec::new();
    let mut findings = 0u64;
    for members in groups.values() {
        match &def.threshold {
            None => {
                let w = def.window_secs.max(60) * 1000;
                let windows: HashSet<i64> =
                    members.iter().map(|&k| found[k].time_ms - found[k].time_ms.rem_euclid(w)).collect();
                findings += windows.len() as u64;
                kept.extend(members);
            }
            Some(t) => {
                let times: Vec<i64> = members.iter().map(|&k| found[k].time_ms).collect();
                let distinct: Vec<Option<String>> = members.iter().map(|&k| found[k].hits[0].distinct.clone()).collect();
                let q = app::detect::qualifying(&times, t.distinct.is_some().then_some(&distinct[..]), t.count, t.window_secs * 1000);
                let mut last: Option<i64> = None;
                for (i, &k) in members.iter().enumerate() {
                    if q[i] {
                        if last.is_none_or(|l| found[k].time_ms - l > t.window_secs * 1000) {
                            findings += 1;
                        }
                        last = Some(found[k].time_ms);
                        kept.push(k);
                    }
                }
            }
        }
    }
    kept.sort_unstable();
    let principals: HashSet<&str> = kept.iter().map(|&k| found[k].principal_key.as_str()).collect();
    Ok(BackTest {
        rule: def.id,
        from_ms,
        to_ms,
        matches: kept.len() as u64,
        principals: principals.len() as u64,
        findings,
        first_ms: kept.first().map(|&k| found[k].time_ms),
        last_ms: kept.last().map(|&k| found[k].time_ms),
        event_ids: kept.iter().filter_map(|&k| found[k].cloudtrail_id.clone()).collect(),
        scanned,
        seconds: started.elapsed().as_secs_f64(),
        ids: kept.iter().map(|&k| found[k].event_id).collect(),
    })
}

/// Makes the findings `detection`'s rules would have made over `[from_ms, to_ms)`, in
/// transactions of a few thousand matched events. Events already in a finding are not
/// added twice, so running it again changes nothing.
pub fn find_in_history(
    db: &Path,
    detection: &Detection,
    from_ms: i64,
    to_ms: i64,
    progress: impl FnMut(u64, i64),
) -> Result<(u64, u64), HistoryError> {
    let reader = open_read(db)?;
    let writer = Connection::open(db)?;
    writer.busy_timeout(Duration::from_secs(60))?;
    let mut pending: Vec<Matched> = Vec::new();
    let mut created = 0u64;
    let mut flush = |pending: &mut Vec<Matched>| -> Result<(), HistoryError> {
        if pending.is_empty() {
            return Ok(());
        }
        writer.execute_batch("BEGIN IMMEDIATE")?;
        let now = chrono::Utc::now().timestamp_millis();
        match super::record::record(&writer, detection, std::mem::take(pending), now) {
            Ok(n) => {
                writer.execute_batch("COMMIT")?;
                created += n;
                Ok(())
            }
            Err(e) => {
                let _ = writer.execute_batch("ROLLBACK");
                Err(e.into())
            }
        }
    };
    let scanned = scan(&reader, &detection.rules, from_ms, to_ms, |f| {
        let mut hits = f.hits;
        if !detection.suppressions.is_empty() {
            let (source_ip, resources) = context(&reader, f.event_id)?;
            detection.unsuppressed(&mut hits, &f.principal_key, source_ip.as_deref(), || {
                resources.iter().map(String::as_str).collect()
            });
        }
        if hits.is_empty() {
            return Ok(());
        }
        pending.push(Matched { hits, event_id: f.event_id });
        if pending.len() >= 5_000 {
            flush(&mut pending)?;
        }
        Ok(())
    }, progress)?;
    flush(&mut pending)?;
    Ok((scanned, created))
}

/// An event's source address and resource ARNs, for suppressions.
fn context(conn: &Connection, event_id: i64) -> Result<(Option<String>, Vec<String>), HistoryError> {
    let ip: Option<String> = conn
        .prepare_cached("SELECT t.value FROM events e JOIN terms t ON t.id = e.source_ip_id WHERE e.id = ?1")?
        .query_row([event_id], |r| r.get(0))
        .optional()?;
    let arns: Vec<String> = conn
        .prepare_cached(
            "SELECT r.arn FROM events e, json_each(e.resource_ids) j JOIN resources r ON r.id = j.value
             WHERE e.id = ?1",
        )?
        .query_map([event_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok((ip, arns))
}
