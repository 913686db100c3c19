//! Data shared outside: a snapshot, image, RDS snapshot, KMS grant, bucket replication or
//! bucket or key policy that names an account Cairn holds no events of. "The
//! organization" is the set of accounts whose events Cairn holds: an account that never
//! appears as a recipient of a trail's events is outside it.

use crate::detections::record::{AnomalyRule, Head, file_events};
use app::schema::TermKind;
use rusqlite::{Connection, params};
use std::collections::HashSet;

const DAY_MS: i64 = 86_400_000;

/// A stored call that named recipient accounts.
#[derive(Debug, Clone)]
pub struct Share {
    pub event_id: i64,
    pub time_ms: i64,
    pub principal: i64,
    pub call: String,
    /// What was shared, by name, when the record says.
    pub what: Option<String>,
    pub accounts: Vec<String>,
}

/// Files a finding for each share naming an account outside the organization. Returns
/// how many findings were new.
pub fn judge(
    conn: &Connection,
    rules: &[AnomalyRule],
    shares: &[Share],
    alerts: bool,
    now_ms: i64,
) -> rusqlite::Result<u64> {
    let Some(rule) = rules.iter().find(|r| r.detector == "shared-outside") else { return Ok(0) };
    if shares.is_empty() {
        return Ok(0);
    }
    let known: HashSet<String> = conn
        .prepare_cached("SELECT value FROM terms WHERE kind = ?1")?
        .query_map(params![TermKind::Account as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut created = 0;
    for s in shares {
        let outside: Vec<&str> = s.accounts.iter().filter(|a| !known.contains(*a)).map(String::as_str).collect();
        if outside.is_empty() {
            continue;
        }
        let key: String = conn
            .prepare_cached("SELECT key FROM principals WHERE id = ?1")?
            .query_row(params![s.principal], |r| r.get(0))?;
        let what = s.what.as_deref().map(|w| format!(" {w}")).unwrap_or_default();
        let summary = format!(
            "{}{what} granted {} {}, outside the accounts Cairn holds events of",
            s.call,
            if outside.len() == 1 { "account" } else { "accounts" },
            outside.join(", ")
        );
        let detail = serde_json::json!({"summary": summary, "call": s.call, "subject": s.what, "accounts": outside})
            .to_string();
        let head = Head {
            rule_id: &rule.id,
            version: rule.version,
            severity: rule.severity,
            group: &key,
            start: s.time_ms - s.time_ms.rem_euclid(DAY_MS),
            principal: Some(s.principal),
            detail: Some(&detail),
            alerts,
        };
        created += u64::from(file_events(conn, &head, &[s.event_id], now_ms)?);
    }
    Ok(created)
}
