//! One-time fixes of events stored by an earlier version, run when the database is
//! opened. Each is one transaction, recorded in `store_fixes` when done; a database
//! created after the fix was written is marked done by its migration.
//!
//! `key-changes`: the calls that create, change or delete a long-term access key are
//! kept by the key they are about (`access_key_changes`), read from their records.
//!
//! `failures`: an event without an error code can still have failed — a failed console
//! sign-in has only `errorMessage: "Failed authentication"`, some records only
//! `responseElements.ConsoleLogin: "Failure"` (see `Event::error`). Earlier versions
//! counted those as successes. The fix files their error, moves them to the failed side
//! of every summary, and recounts each principal's console sign-ins (failed apart,
//! successful ones with MFA apart), reading the original records where it must.

use super::normalize::{SignIn, normalize};
use super::store::{Contribution, Counts, SignIns, StoreError};
use app::schema::{S3_OBJECT, TermKind, flags};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// The fixes, by the name `store_fixes` records them under, in the order they run.
const FIXES: [(&str, fn(&Connection) -> Result<FixReport, StoreError>); 2] =
    [("failures", failures), ("key-changes", key_changes)];

/// Events whose outcome can sit in a failure field of their own (read from the
/// original record when they have no error code or message).
const SIGN_IN_NAMES: [&str; 13] = [
    "ConsoleLogin",
    "CheckMfa",
    "SwitchRole",
    "ExitRole",
    "RenewRole",
    "PasswordUpdated",
    "ExternalIdPDirectoryLogin",
    "CredentialVerification",
    "CredentialChallenge",
    "UserAuthentication",
    "Authenticate",
    "Federate",
    "GetSigninToken",
];

/// What the fixes changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FixReport {
    /// Events now filed as failed.
    pub failed: u64,
    /// Principals whose console sign-ins were recounted.
    pub principals: u64,
    /// Key calls recorded by the key they are about.
    pub key_changes: u64,
}

/// Applies every fix not yet applied to the database at `path`, each in a transaction
/// of its own with its `store_fixes` row.
pub fn apply(path: &Path) -> Result<FixReport, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(60))?;
    let mut total = FixReport::default();
    for (name, fix) in FIXES {
        let done: Option<i64> = conn
            .query_row("SELECT 1 FROM store_fixes WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        if done.is_some() {
            continue;
        }
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let report = match fix(&conn) {
            Ok(report) => report,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        conn.execute(
            "INSERT INTO store_fixes (name, applied_at) VALUES (?1, ?2)",
            params![name, chrono::Utc::now().timestamp_millis()],
        )?;
        conn.execute_batch("COMMIT")?;
        if report != FixReport::default() {
            tracing::info!(
                fix = name,
                failed = report.failed,
                principals = report.principals,
                key_changes = report.key_changes,
                "stored events updated"
            );
        }
        total.failed += report.failed;
        total.principals += report.principals;
        total.key_changes += report.key_changes;
    }
    raw_blocks(&conn)?;
    Ok(total)
}

/// `raw-blocks`: records stored one by one in their rows move into blocks, many
/// transactions long (the fix goes on where it stopped if interrupted), and is marked
/// done at the end.
fn raw_blocks(conn: &Connection) -> Result<(), StoreError> {
    let done: Option<i64> = conn
        .query_row("SELECT 1 FROM store_fixes WHERE name = 'raw-blocks'", [], |r| r.get(0))
        .optional()?;
    if done.is_some() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let moved = super::blocks::convert(conn)?;
    conn.execute(
        "INSERT INTO store_fixes (name, applied_at) VALUES ('raw-blocks', ?1)",
        [chrono::Utc::now().timestamp_millis()],
    )?;
    tracing::info!(
        records = moved.records,
        blocks = moved.blocks,
        unreadable = moved.unreadable,
        mib_before = moved.bytes_before / (1 << 20),
        mib_after = moved.bytes_after / (1 << 20),
        seconds = started.elapsed().as_secs_f64(),
        "original records moved into blocks; the space they leave is reused by later imports \
         (VACUUM gives it back to the file system)"
    );
    Ok(())
}

/// Records the key calls already stored by the key they are about.
fn key_changes(conn: &Connection) -> Result<FixReport, StoreError> {
    let mut records = Records::new(conn);
    let mut insert = conn.prepare(super::store::KEY_CHANGE)?;
    let mut n = 0;
    let mut st = conn.prepare(
        "SELECT e.id, e.raw_dict, e.raw, e.raw_block, e.raw_slot FROM events e INDEXED BY events_name
         WHERE e.name_id IN (SELECT id FROM terms WHERE kind = ?1
                             AND value IN ('CreateAccessKey', 'UpdateAccessKey', 'DeleteAccessKey'))",
    )?;
    let mut rows = st.query([TermKind::Name as u8])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let key = records
            .read(id, &r, 1)?
            .and_then(|record| normalize(&record, None).ok())
            .and_then(|e| e.key_change);
        if let Some(key) = key {
            n += insert.execute(params![key, id])? as u64;
        }
    }
    Ok(FixReport {
        key_changes: n,
        ..FixReport::default()
    })
}

/// Original records, with each dictionary and block loaded once.
struct Records<'c> {
    conn: &'c Connection,
    unpack: app::db::events::Unpacker,
}

impl<'c> Records<'c> {
    fn new(conn: &'c Connection) -> Self {
        Records { conn, unpack: Default::default() }
    }

    /// The record of event `id`, whose row `r` has `raw_dict, raw, raw_block, raw_slot`
    /// from column `first` on; `None` (logged) when it cannot be read.
    fn read(&mut self, id: i64, r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Option<Vec<u8>>> {
        let raw: &[u8] = r.get_ref(first + 1)?.as_blob().map_err(rusqlite::Error::from)?;
        let at = app::db::events::At {
            dict: r.get(first)?,
            raw,
            block: r.get(first + 2)?,
            slot: r.get(first + 3)?,
        };
        Ok(match super::blocks::read(self.conn, &mut self.unpack, at)? {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(event = id, error = %e, "stored record unreadable; left as it was");
                None
            }
        })
    }
}

/// The ids of the sign-in event names the store knows.
fn sign_in_name_ids(conn: &Connection) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut st = conn.prepare("SELECT id, value FROM terms WHERE kind = ?1 AND value = ?2")?;
    let mut out = Vec::new();
    for name in SIGN_IN_NAMES {
        if let Some(row) = st
            .query_row(params![TermKind::Name as u8, name], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?
        {
            out.push(row);
        }
    }
    Ok(out)
}

fn failures(conn: &Connection) -> Result<FixReport, StoreError> {
    let mut records = Records::new(conn);
    // Event id -> the error term it is now filed under, and whether it moves between the
    // Insights rates' columns (`call_minute` counted errors by message from the start).
    let mut refile: Vec<(i64, i64, bool)> = Vec::new();
    // With a message but no code: the message is the error.
    {
        let mut st = conn.prepare(
            "SELECT id, error_message_id FROM events
             WHERE error_code_id IS NULL AND error_message_id IS NOT NULL",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, false)))?;
        for row in rows {
            refile.push(row?);
        }
    }
    // Neither: sign-in events whose record holds a failure field.
    let names = sign_in_name_ids(conn)?;
    let mut intern = conn.prepare(
        "INSERT INTO terms (kind, value) VALUES (?1, ?2)
         ON CONFLICT (kind, value) DO UPDATE SET value = excluded.value RETURNING id",
    )?;
    for (name_id, _) in &names {
        let mut st = conn.prepare(
            "SELECT id, raw_dict, raw, raw_block, raw_slot FROM events INDEXED BY events_name
             WHERE name_id = ?1 AND error_code_id IS NULL AND error_message_id IS NULL",
        )?;
        let mut rows = st.query([name_id])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let Some(record) = records.read(id, r, 1)? else {
                continue;
            };
            let Ok(event) = normalize(&record, None) else {
                continue;
            };
            if let Some((kind, text)) = event.error() {
                let term: i64 = intern.query_row(params![kind as u8, text], |r| r.get(0))?;
                refile.push((id, term, super::store::is_call(&event)));
            }
        }
    }
    let report_failed = refile.len() as u64;
    // Each refiled event leaves the succeeded side of every summary for the failed one.
    let mut counts = Counts::default();
    let mut object_of: HashMap<i64, bool> = HashMap::new();
    {
        let mut row_st = conn.prepare(
            "SELECT e.event_time, e.read_only, e.principal_id, e.name_id, e.source_id,
                    e.account_id, e.region_id, e.source_ip_id, e.user_agent_id, e.access_key_id,
                    e.resource_ids, k.value
             FROM events e LEFT JOIN terms k ON k.id = e.access_key_id WHERE e.id = ?1",
        )?;
        let mut type_st = conn.prepare("SELECT type FROM resources WHERE id = ?1")?;
        let mut update = conn.prepare("UPDATE events SET error_code_id = ?2 WHERE id = ?1")?;
        for &(id, term, call) in &refile {
            let (mut before, ids_json): (Contribution, Option<String>) =
                row_st.query_row([id], |r| {
                    let read_only: Option<bool> = r.get(1)?;
                    Ok((
                        Contribution {
                            time_ms: r.get(0)?,
                            flags: flags::of(read_only, false, None),
                            principal: r.get(2)?,
                            name: r.get(3)?,
                            source: r.get(4)?,
                            account: r.get(5)?,
                            region: r.get(6)?,
                            source_ip: r.get(7)?,
                            error: None,
                            user_agent: r.get(8)?,
                            access_key: r.get(9)?,
                            temporary_key: r
                                .get::<_, Option<String>>(11)?
                                .is_some_and(|k| app::schema::is_temporary_key(&k)),
                            resources: Vec::new(),
                            // The billed kind is unchanged by a new outcome.
                            cost: None,
                            call,
                        },
                        r.get(10)?,
                    ))
                })?;
            let ids: Vec<i64> = ids_json
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok())
                .unwrap_or_default();
            for rid in ids {
                let object = match object_of.get(&rid) {
                    Some(o) => *o,
                    None => {
                        let kind: Option<String> =
                            type_st.query_row([rid], |r| r.get(0)).optional()?;
                        let o = kind.as_deref() == Some(S3_OBJECT);
                        object_of.insert(rid, o);
                        o
                    }
                };
                before.resources.push((rid, object));
            }
            let after = Contribution {
                flags: before.flags | flags::ERROR,
                error: Some(term),
                ..before.clone()
            };
            counts.add(&before, -1);
            counts.add(&after, 1);
            update.execute(params![id, term])?;
        }
    }
    counts.write(conn)?;
    // Console sign-ins, recounted from the records.
    let mut per_principal: HashMap<i64, SignIns> = HashMap::new();
    if let Some((console, _)) = names.iter().find(|(_, n)| n == "ConsoleLogin") {
        let mut st = conn.prepare(
            "SELECT id, principal_id, raw_dict, raw, raw_block, raw_slot FROM events INDEXED BY events_name
             WHERE name_id = ?1",
        )?;
        let mut rows = st.query([console])?;
        while let Some(r) = rows.next()? {
            let (id, principal): (i64, i64) = (r.get(0)?, r.get(1)?);
            let sign_in = records
                .read(id, r, 2)?
                .and_then(|record| normalize(&record, None).ok())
                .and_then(|e| e.sign_in)
                .unwrap_or(SignIn {
                    failed: false,
                    mfa: false,
                });
            per_principal.entry(principal).or_default().add(sign_in, id);
        }
    }
    conn.execute("DELETE FROM principal_console", [])?;
    for (principal, s) in &per_principal {
        s.write(conn, *principal)?;
    }
    Ok(FixReport {
        failed: report_failed,
        principals: per_principal.len() as u64,
        key_changes: 0,
    })
}
