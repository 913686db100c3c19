//! Principals: who they are, the credentials chain behind a session, their sessions.

use super::events::{DetailError, record};
use crate::model::{ChainStep, ConsoleSignIns, PrincipalCard, PrincipalRow};
use sqlx::{FromRow, SqlitePool};

#[derive(FromRow)]
struct CardDb {
    id: i64,
    key: String,
    kind: String,
    display_name: String,
    arn: Option<String>,
    account: Option<String>,
    origin: Option<String>,
    parent_key: Option<String>,
    parent_display: Option<String>,
    first_seen: Option<i64>,
    last_seen: Option<i64>,
    events: i64,
}

/// A principal by its key (or ARN), with its row id.
pub async fn card(
    pool: &SqlitePool,
    key: &str,
) -> Result<Option<(i64, PrincipalCard)>, DetailError> {
    let row: Option<CardDb> = sqlx::query_as(
        "SELECT p.id, p.key, p.kind, p.display_name, p.arn, p.account, p.origin,
                pp.key AS parent_key, pp.display_name AS parent_display,
                -- A role is active through its sessions.
                (SELECT min(first_seen) FROM principals c WHERE c.id = p.id OR c.parent_id = p.id)
                    AS first_seen,
                (SELECT max(last_seen) FROM principals c WHERE c.id = p.id OR c.parent_id = p.id)
                    AS last_seen,
                p.events
         FROM principals p LEFT JOIN principals pp ON pp.id = p.parent_id
         WHERE p.key = ?1 OR p.id = (SELECT id FROM principals WHERE arn = ?1 LIMIT 1)
         ORDER BY p.key = ?1 DESC LIMIT 1",
    )
    .bind(key)
    .fetch_optional(pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    // Console sign-ins by it (or its sessions), and MFA on the newest successful one.
    let (logins, failed, mfa, last_ok): (i64, i64, i64, Option<i64>) = sqlx::query_as(
        "SELECT coalesce(sum(logins), 0), coalesce(sum(failed), 0), coalesce(sum(mfa), 0),
                max(last_ok_event_id)
         FROM principal_console
         WHERE principal_id IN (SELECT ?1 UNION SELECT id FROM principals WHERE parent_id = ?1)",
    )
    .bind(r.id)
    .fetch_one(pool)
    .await?;
    let last_ok_mfa = match last_ok {
        Some(id) => record(pool, id).await?.and_then(|v| {
            v.pointer("/additionalEventData/MFAUsed")
                .and_then(|m| m.as_str())
                .map(|m| m.eq_ignore_ascii_case("yes"))
        }),
        None => None,
    };
    Ok(Some((
        r.id,
        PrincipalCard {
            key: r.key,
            kind: r.kind,
            display: r.display_name,
            arn: r.arn,
            account: r.account,
            origin: r.origin,
            parent: r.parent_key.zip(r.parent_display),
            first_seen_ms: r.first_seen,
            last_seen_ms: r.last_seen,
            events: r.events,
            console: ConsoleSignIns {
                succeeded: logins - failed,
                with_mfa: mfa,
                failed,
                last_ok_mfa,
            },
        },
    )))
}

#[derive(FromRow)]
struct StepDb {
    event_id: i64,
    event_time: i64,
    event_name: String,
    source_ip: Option<String>,
    principal_id: i64,
    principal_key: String,
    principal: String,
    kind: String,
}

/// Most steps followed back (a loop of role chaining ends here too).
const CHAIN_MAX: usize = 10;

/// The way back from a session to whoever started it: the call that issued the session's
/// credentials, then the call that issued the caller's, and so on, as far as the store
/// holds the issuing events.
pub async fn chain(pool: &SqlitePool, principal_id: i64) -> Result<Vec<ChainStep>, sqlx::Error> {
    let mut out: Vec<ChainStep> = Vec::new();
    let mut seen = vec![principal_id];
    let mut current = principal_id;
    while out.len() < CHAIN_MAX {
        // The newest credentials this principal used that the store saw being issued.
        let step: Option<StepDb> = sqlx::query_as(
            "SELECT ic.event_id, e.event_time, n.value AS event_name, ip.value AS source_ip,
                    p.id AS principal_id, p.key AS principal_key, p.display_name AS principal,
                    p.kind
             FROM issued_credentials ic
             JOIN events e ON e.id = ic.event_id
             JOIN terms n ON n.id = e.name_id
             LEFT JOIN terms ip ON ip.id = e.source_ip_id
             JOIN principals p ON p.id = ic.principal_id
             WHERE ic.access_key IN (
                 SELECT ak.value FROM (
                     SELECT DISTINCT access_key_id FROM (
                         SELECT access_key_id FROM events WHERE principal_id = ?1
                         ORDER BY id DESC LIMIT 5000)
                 ) x JOIN terms ak ON ak.id = x.access_key_id)
             ORDER BY ic.event_id DESC LIMIT 1",
        )
        .bind(current)
        .fetch_optional(pool)
        .await?;
        let Some(s) = step else { break };
        let next = s.principal_id;
        out.push(ChainStep {
            principal_key: s.principal_key,
            principal: s.principal,
            kind: s.kind,
            event_id: s.event_id,
            event_name: s.event_name,
            time_ms: s.event_time,
            source_ip: s.source_ip,
        });
        if seen.contains(&next) {
            break;
        }
        seen.push(next);
        current = next;
    }
    Ok(out)
}

/// Sessions of a role (principals whose parent it is), most recently active first.
pub async fn sessions(
    pool: &SqlitePool,
    principal_id: i64,
    limit: i64,
) -> Result<Vec<PrincipalRow>, sqlx::Error> {
    let rows: Vec<(String, String, String, Option<i64>, Option<i64>, i64)> = sqlx::query_as(
        "SELECT key, display_name, kind, first_seen, last_seen, events FROM principals
         WHERE parent_id = ?1 ORDER BY last_seen DESC LIMIT ?2",
    )
    .bind(principal_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(key, display, kind, first, last, events)| PrincipalRow {
            key,
            display,
            kind,
            first_seen_ms: first,
            last_seen_ms: last,
            events,
        })
        .collect())
}
