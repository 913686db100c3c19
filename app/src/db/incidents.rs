//! Incidents (`crate::incidents`): the findings they are made of, read and grouped; what
//! the actor touched; and the decisions kept under an incident's id (`incident_state`,
//! `incident_history`).

use crate::detections::Severity;
use crate::incidents::{self, Facts, HistoryLine, Incident, IncidentView, Status, Step, Touched, WINDOW_MS};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Most findings read to group (the most recent).
pub const MAX_FINDINGS: i64 = 5_000;
/// Most things listed as touched per kind.
const MAX_TOUCHED: i64 = 20;
const DAY_MS: i64 = 86_400_000;

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    first_ms: i64,
    last_ms: i64,
    principal_id: Option<i64>,
    kind: Option<String>,
    key: Option<String>,
    display_name: Option<String>,
    parent_id: Option<i64>,
    rule_id: String,
    title: Option<String>,
    tags: Option<String>,
    severity: String,
    events: i64,
    summary: Option<String>,
    account: Option<String>,
    region: Option<String>,
    created_ms: i64,
}

/// The person behind a finding: its principal, or the role of a machine-named session.
fn person(r: &Row) -> Option<i64> {
    let session = r.key.as_deref().map(|k| k.rsplit('/').next().unwrap_or(k));
    match (r.kind.as_deref(), session, r.parent_id) {
        (Some("AssumedRole"), Some(s), Some(role)) if crate::schema::machine_session(s) => Some(role),
        _ => r.principal_id,
    }
}

/// Whether a source address is an address (not `AWS Internal` or a service's name).
fn is_address(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

/// The findings that can be steps: not false positives, not AWS's Insights records, not
/// about an AWS service acting for the account.
async fn rows(pool: &SqlitePool, from_ms: Option<i64>, to_ms: Option<i64>) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as(
        "SELECT f.id, f.first_ms, f.last_ms, f.principal_id, p.kind, p.key, p.display_name, p.parent_id,
                f.rule_id, json_extract(r.def, '$.title') AS title, json_extract(r.def, '$.tags') AS tags,
                f.severity, f.events, json_extract(f.detail, '$.summary') AS summary, f.account, f.region, f.created_ms
         FROM findings f LEFT JOIN principals p ON p.id = f.principal_id LEFT JOIN rules r ON r.id = f.rule_id
         WHERE f.status <> 'false_positive' AND f.rule_id <> ?3 AND coalesce(p.kind, '') <> 'AWSService'
           AND (?1 IS NULL OR f.last_ms >= ?1) AND (?2 IS NULL OR f.first_ms < ?2)
         ORDER BY f.last_ms DESC LIMIT ?4",
    )
    .bind(from_ms.map(|f| f - WINDOW_MS))
    .bind(to_ms.map(|t| t + WINDOW_MS))
    .bind(crate::insights::RULES[2])
    .bind(MAX_FINDINGS)
    .fetch_all(pool)
    .await
}

/// Per finding: the long-term keys and the addresses of its events (term ids), with the
/// principal that used each address.
async fn links(pool: &SqlitePool, ids: &[i64]) -> Result<Vec<(i64, Option<String>, Option<i64>, Option<String>, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT fe.finding_id, k.value, e.source_ip_id, a.value, e.principal_id
         FROM finding_events fe JOIN events e ON e.id = fe.event_id
         LEFT JOIN terms k ON k.id = e.access_key_id LEFT JOIN terms a ON a.id = e.source_ip_id
         WHERE fe.finding_id IN (SELECT value FROM json_each(?1))
         GROUP BY 1, 2, 3, 4, 5",
    )
    .bind(serde_json::to_string(ids).unwrap_or_default())
    .fetch_all(pool)
    .await
}

/// Whether the principals `users` made every event from address `ip` over `[from, to)`:
/// their events from it (the per-principal summaries) against all of its events (the
/// rollup), day by day.
async fn exclusive(pool: &SqlitePool, ip: i64, users: &BTreeSet<i64>, from_ms: i64, to_ms: i64) -> Result<bool, sqlx::Error> {
    let (d0, d1) = (from_ms.div_euclid(DAY_MS), to_ms.div_euclid(DAY_MS));
    let all: Option<i64> = sqlx::query_scalar(
        "SELECT sum(events) FROM rollup_day WHERE dim = ?1 AND day >= ?2 AND day <= ?3 AND value = ?4",
    )
    .bind(crate::schema::Dim::SourceIp as i64)
    .bind(d0)
    .bind(d1)
    .bind(ip)
    .fetch_one(pool)
    .await?;
    let theirs: Option<i64> = sqlx::query_scalar(
        "SELECT sum(events) FROM entity_day WHERE kind = ?1 AND entity IN (SELECT value FROM json_each(?2))
           AND dim = ?3 AND day >= ?4 AND day <= ?5 AND value = ?6",
    )
    .bind(crate::schema::entity::PRINCIPAL as i64)
    .bind(serde_json::to_string(users).unwrap_or_default())
    .bind(crate::schema::Dim::SourceIp as i64)
    .bind(d0)
    .bind(d1)
    .bind(ip)
    .fetch_one(pool)
    .await?;
    Ok(all.unwrap_or(0) > 0 && theirs.unwrap_or(0) >= all.unwrap_or(0))
}

/// What people decided about incidents: id -> (status, assignee, when).
async fn states(pool: &SqlitePool) -> Result<HashMap<i64, (Status, Option<String>, i64)>, sqlx::Error> {
    let rows: Vec<(i64, String, Option<String>, i64)> =
        sqlx::query_as("SELECT id, status, assignee, updated_ms FROM incident_state").fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(id, s, a, at)| (id, (Status::parse(&s).unwrap_or(Status::Open), a, at)))
        .collect())
}

/// Incidents whose findings overlap `[from_ms, to_ms)`, the latest activity first.
pub async fn list(pool: &SqlitePool, from_ms: Option<i64>, to_ms: Option<i64>) -> Result<Vec<Incident>, sqlx::Error> {
    let rows = rows(pool, from_ms, to_ms).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut keys: HashMap<i64, BTreeSet<String>> = HashMap::new();
    let mut ips: HashMap<i64, (String, BTreeSet<i64>)> = HashMap::new();
    let mut ip_of: HashMap<i64, BTreeSet<i64>> = HashMap::new();
    for (finding, key, ip, address, principal) in links(pool, &ids).await? {
        if let Some(k) = key.filter(|k| !crate::schema::is_temporary_key(k) && !k.is_empty()) {
            keys.entry(finding).or_default().insert(k);
        }
        if let (Some(ip), Some(a)) = (ip, address.filter(|a| is_address(a))) {
            ips.entry(ip).or_insert_with(|| (a, BTreeSet::new())).1.insert(principal);
            ip_of.entry(finding).or_default().insert(ip);
        }
    }
    // An address links different people only when no one else used it over their days.
    let by_id: HashMap<i64, &Row> = rows.iter().map(|r| (r.id, r)).collect();
    let mut exclusive_ips: HashSet<i64> = HashSet::new();
    for (ip, (_, users)) in &ips {
        let findings: Vec<&Row> =
            ip_of.iter().filter(|(_, set)| set.contains(ip)).filter_map(|(f, _)| by_id.get(f).copied()).collect();
        let people: BTreeSet<Option<i64>> = findings.iter().map(|r| person(r)).collect();
        if people.len() < 2 {
            continue;
        }
        let from = findings.iter().map(|r| r.first_ms).min().unwrap_or(0) - WINDOW_MS;
        let to = findings.iter().map(|r| r.last_ms).max().unwrap_or(0) + WINDOW_MS;
        if exclusive(pool, *ip, users, from, to).await? {
            exclusive_ips.insert(*ip);
        }
    }
    // Long-term keys are linked by their text.
    let mut key_ids: HashMap<String, i64> = HashMap::new();
    let facts: Vec<Facts> = rows
        .iter()
        .map(|r| {
            Facts {
                id: r.id,
                first_ms: r.first_ms,
                last_ms: r.last_ms,
                actor: person(r),
                keys: keys
                    .get(&r.id)
                    .map(|ks| {
                        ks.iter()
                            .map(|k| {
                                let next = key_ids.len() as i64;
                                *key_ids.entry(k.clone()).or_insert(next)
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                exclusive_ips: ip_of
                    .get(&r.id)
                    .map(|s| s.iter().copied().filter(|ip| exclusive_ips.contains(ip)).collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    let states = states(pool).await?;
    let mut out: Vec<Incident> = incidents::group(&facts)
        .into_iter()
        .map(|g| {
            let members: Vec<&Row> = g.iter().filter_map(|id| by_id.get(id).copied()).collect();
            build(&members, &keys, &ip_of, &ips, &exclusive_ips, &states)
        })
        .filter(|i| from_ms.is_none_or(|f| i.last_ms >= f) && to_ms.is_none_or(|t| i.first_ms < t))
        .collect();
    out.sort_by(|a, b| b.last_ms.cmp(&a.last_ms).then(b.id.cmp(&a.id)));
    Ok(out)
}

fn build(
    members: &[&Row],
    keys: &HashMap<i64, BTreeSet<String>>,
    ip_of: &HashMap<i64, BTreeSet<i64>>,
    ips: &HashMap<i64, (String, BTreeSet<i64>)>,
    exclusive_ips: &HashSet<i64>,
    states: &HashMap<i64, (Status, Option<String>, i64)>,
) -> Incident {
    let id = members.iter().map(|r| r.id).min().unwrap_or(0);
    // The actor: the person most of its findings are about.
    let mut count: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in members {
        if let Some(k) = &r.key {
            *count.entry((k.clone(), r.display_name.clone().unwrap_or_else(|| k.clone()))).or_default() += 1;
        }
    }
    let top = count.iter().max_by_key(|(_, n)| **n).map(|(k, _)| k.clone());
    let principals: Vec<String> = count.keys().map(|(k, _)| k.clone()).collect();
    // What joined different principals: a key or an exclusive address in the findings
    // of two or more of them.
    let mut by: BTreeMap<String, BTreeSet<Option<&String>>> = BTreeMap::new();
    for r in members {
        for k in keys.get(&r.id).into_iter().flatten() {
            by.entry(format!("access key {k}")).or_default().insert(r.key.as_ref());
        }
        for ip in ip_of.get(&r.id).into_iter().flatten().filter(|ip| exclusive_ips.contains(ip)) {
            if let Some((a, _)) = ips.get(ip) {
                by.entry(format!("address {a}")).or_default().insert(r.key.as_ref());
            }
        }
    }
    let links: Vec<String> = by.into_iter().filter(|(_, who)| who.len() > 1).map(|(l, _)| l).collect();
    let mut steps: Vec<Step> = members
        .iter()
        .map(|r| {
            let tags: Vec<String> = r.tags.as_deref().and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
            Step {
                finding: r.id,
                rule: r.rule_id.clone(),
                title: r.title.clone().unwrap_or_else(|| r.rule_id.clone()),
                tactic: incidents::tactic_of(&tags).map(str::to_owned),
                severity: Severity::parse(&r.severity).unwrap_or(Severity::Medium),
                first_ms: r.first_ms,
                last_ms: r.last_ms,
                events: r.events,
                summary: r.summary.clone(),
                principal: r.key.clone(),
                event_ids: Vec::new(),
            }
        })
        .collect();
    steps.sort_by_key(|s| (s.first_ms, s.finding));
    let set = |f: &dyn Fn(&Row) -> Option<String>| -> Vec<String> {
        members.iter().filter_map(|r| f(r)).filter(|v| !v.is_empty()).collect::<BTreeSet<_>>().into_iter().collect()
    };
    let (status, assignee) = match states.get(&id) {
        // A finding made after it was closed opens it again.
        Some((Status::Closed, a, at)) if members.iter().any(|r| r.created_ms > *at) => (Status::Open, a.clone()),
        Some((s, a, _)) => (*s, a.clone()),
        None => (Status::Open, None),
    };
    Incident {
        id,
        actor: top.as_ref().map(|(_, d)| d.clone()).unwrap_or_else(|| "unknown".into()),
        actor_key: top.map(|(k, _)| k),
        principals,
        links,
        first_ms: members.iter().map(|r| r.first_ms).min().unwrap_or(0),
        last_ms: members.iter().map(|r| r.last_ms).max().unwrap_or(0),
        severity: steps.iter().map(|s| s.severity).max().unwrap_or(Severity::Low),
        status,
        assignee,
        accounts: set(&|r| r.account.clone()),
        regions: set(&|r| r.region.clone()),
        steps,
    }
}

/// One incident (by id: its oldest finding's) with its steps' eventIDs, what the actor
/// touched and its history; `None` when no incident has that id.
pub async fn one(pool: &SqlitePool, id: i64) -> Result<Option<IncidentView>, sqlx::Error> {
    let Some(mut incident) = list(pool, None, None).await?.into_iter().find(|i| i.id == id) else {
        return Ok(None);
    };
    for s in &mut incident.steps {
        s.event_ids = super::findings::cloudtrail_ids(pool, s.finding, incidents::STEP_EVENT_IDS).await?;
    }
    let touched = touched(pool, &incident).await?;
    let history = history(pool, id).await?;
    Ok(Some(IncidentView { incident, touched, history, can_edit: false }))
}

/// What the incident's principals changed between its first and last event, and what
/// happened to each afterwards: resources (and events on them by others since), access
/// keys they created (and who used them since), sessions they opened (and what those did).
pub async fn touched(pool: &SqlitePool, i: &Incident) -> Result<Vec<Touched>, sqlx::Error> {
    use crate::schema::ID_HASH_BITS;
    let principals = serde_json::to_string(&i.principals).unwrap_or_default();
    let (lo, hi) = (i.first_ms << ID_HASH_BITS, (i.last_ms + 1) << ID_HASH_BITS);
    let mut out = Vec::new();
    let resources: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT r.id, r.arn, count(*) FROM principals p
         JOIN events e INDEXED BY events_principal ON e.principal_id = p.id AND e.id >= ?2 AND e.id < ?3
         JOIN json_each(e.resource_ids) j JOIN resources r ON r.id = j.value
         WHERE p.key IN (SELECT value FROM json_each(?1)) AND e.read_only = 0 AND r.type <> ?4
         GROUP BY r.id ORDER BY 3 DESC, r.arn LIMIT ?5",
    )
    .bind(&principals)
    .bind(lo)
    .bind(hi)
    .bind(crate::schema::S3_OBJECT)
    .bind(MAX_TOUCHED)
    .fetch_all(pool)
    .await?;
    for (rid, arn, n) in resources {
        let (after, last): (i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), max(e.event_time) FROM event_resources er JOIN events e ON e.id = er.event_id
             JOIN principals p ON p.id = e.principal_id
             WHERE er.resource_id = ?1 AND er.event_id >= ?2 AND p.key NOT IN (SELECT value FROM json_each(?3))",
        )
        .bind(rid)
        .bind(hi)
        .bind(&principals)
        .fetch_one(pool)
        .await?;
        out.push(Touched { kind: "resource".into(), value: arn, by_actor: n, after_by_others: after, used_by: None, last_ms: last });
    }
    // Keys created: the key calls of the incident's principals that made a key.
    let keys: Vec<(String, i64)> = sqlx::query_as(
        "SELECT k.access_key, min(e.id) FROM principals p
         JOIN events e INDEXED BY events_principal ON e.principal_id = p.id AND e.id >= ?2 AND e.id < ?3
         JOIN access_key_changes k ON k.event_id = e.id
         JOIN terms n ON n.id = e.name_id AND n.value = 'CreateAccessKey'
         WHERE p.key IN (SELECT value FROM json_each(?1))
         GROUP BY 1 ORDER BY 2 LIMIT ?4",
    )
    .bind(&principals)
    .bind(lo)
    .bind(hi)
    .bind(MAX_TOUCHED)
    .fetch_all(pool)
    .await?;
    for (key, made) in keys {
        let hour = (made >> ID_HASH_BITS).div_euclid(3_600_000);
        let (uses, first_hour, last_hour): (Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT sum(h.events), min(h.hour), max(h.hour) FROM terms t
             JOIN rollup_hour h ON h.dim = ?2 AND h.value = t.id AND h.hour >= ?3
             WHERE t.kind = ?4 AND t.value = ?1",
        )
        .bind(&key)
        .bind(crate::schema::Dim::AccessKey as i64)
        .bind(hour)
        .bind(crate::schema::TermKind::AccessKey as i64)
        .fetch_one(pool)
        .await?;
        // Who used it first: looked for in the first hour it was used.
        let used_by: Option<String> = match first_hour {
            Some(h) => sqlx::query_scalar(
                "SELECT p.key FROM terms t JOIN events e ON e.access_key_id = t.id
                   AND e.id >= ?2 AND e.id < ?3
                 JOIN principals p ON p.id = e.principal_id
                 WHERE t.kind = ?4 AND t.value = ?1 ORDER BY e.id LIMIT 1",
            )
            .bind(&key)
            .bind((h * 3_600_000) << ID_HASH_BITS)
            .bind(((h + 1) * 3_600_000) << ID_HASH_BITS)
            .bind(crate::schema::TermKind::AccessKey as i64)
            .fetch_optional(pool)
            .await?,
            None => None,
        };
        out.push(Touched {
            kind: "access_key".into(),
            value: key,
            by_actor: 1,
            after_by_others: uses.unwrap_or(0),
            used_by,
            last_ms: last_hour.map(|h| (h + 1) * 3_600_000),
        });
    }
    // Sessions opened: credentials issued to the incident's principals.
    let sessions: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT c.session_arn, coalesce(s.events, 0), s.last_seen FROM principals p
         JOIN issued_credentials c ON c.principal_id = p.id AND c.event_id >= ?2 AND c.event_id < ?3
         LEFT JOIN principals s ON s.key = c.session_arn
         WHERE p.key IN (SELECT value FROM json_each(?1)) AND c.session_arn IS NOT NULL
         GROUP BY 1 ORDER BY 2 DESC LIMIT ?4",
    )
    .bind(&principals)
    .bind(lo)
    .bind(hi)
    .bind(MAX_TOUCHED)
    .fetch_all(pool)
    .await?;
    for (arn, events, last) in sessions {
        out.push(Touched { kind: "session".into(), value: arn, by_actor: 1, after_by_others: events, used_by: None, last_ms: last });
    }
    Ok(out)
}

pub async fn history(pool: &SqlitePool, id: i64) -> Result<Vec<HistoryLine>, sqlx::Error> {
    let rows: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT at_ms, actor, change, note FROM incident_history WHERE incident_id = ?1 ORDER BY at_ms, id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(at_ms, actor, change, note)| HistoryLine { at_ms, actor, change, note }).collect())
}

/// An incident's status and assignee as kept, read inside a change's transaction.
pub async fn read_state(tx: &mut Transaction<'_, Sqlite>, id: i64) -> Result<Option<(Status, Option<String>)>, sqlx::Error> {
    let row: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT status, assignee FROM incident_state WHERE id = ?1").bind(id).fetch_optional(&mut **tx).await?;
    Ok(row.map(|(s, a)| (Status::parse(&s).unwrap_or(Status::Open), a)))
}

pub async fn write_state(
    tx: &mut Transaction<'_, Sqlite>,
    id: i64,
    status: Status,
    assignee: Option<&str>,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO incident_state (id, status, assignee, updated_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, assignee = excluded.assignee,
           updated_ms = excluded.updated_ms",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(assignee)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn write_history(
    tx: &mut Transaction<'_, Sqlite>,
    id: i64,
    now_ms: i64,
    actor: &str,
    change: &str,
    note: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO incident_history (incident_id, at_ms, actor, change, note) VALUES (?1, ?2, ?3, ?4, ?5)")
        .bind(id)
        .bind(now_ms)
        .bind(actor)
        .bind(change)
        .bind(note)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
