//! Queries over `events`: totals and histogram from the per-minute counts, keyset pages
//! by time-ordered id, one event in full.

use crate::model::{
    Bucket, EventDetail, EventRow, IssuedBy, PrincipalInfo, ResolvedRange, ResourceInfo, StoreInfo,
};
use crate::schema::first_id_at;
use sqlx::{FromRow, SqlitePool};

pub const PAGE_SIZE: i64 = 50;

/// Totals over the whole store.
pub async fn store_info(pool: &SqlitePool) -> Result<StoreInfo, sqlx::Error> {
    let (events, oldest, newest): (Option<i64>, Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT sum(events), min(minute), max(minute) FROM counts_minute")
            .fetch_one(pool)
            .await?;
    Ok(StoreInfo {
        events: events.unwrap_or(0),
        oldest_ms: oldest.map(|m| m * 60_000),
        newest_ms: newest.map(|m| m * 60_000 + 59_999),
    })
}

/// Events and errors in the range (minute-aligned).
pub async fn totals(pool: &SqlitePool, r: &ResolvedRange) -> Result<(i64, i64), sqlx::Error> {
    let (e, x): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT sum(events), sum(errors) FROM counts_minute WHERE minute >= ?1 AND minute < ?2",
    )
    .bind(r.from_ms.div_euclid(60_000))
    .bind(r.to_ms.div_euclid(60_000))
    .fetch_one(pool)
    .await?;
    Ok((e.unwrap_or(0), x.unwrap_or(0)))
}

/// Event and error counts per bucket of `bucket_ms`, every bucket of the range present.
pub async fn histogram(
    pool: &SqlitePool,
    r: &ResolvedRange,
    bucket_ms: i64,
) -> Result<Vec<Bucket>, sqlx::Error> {
    let first = r.from_ms.div_euclid(bucket_ms) * bucket_ms;
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT (minute * 60000 - ?3) / ?4 AS b, sum(events), sum(errors) FROM counts_minute
         WHERE minute >= ?1 AND minute < ?2 GROUP BY b ORDER BY b",
    )
    .bind(r.from_ms.div_euclid(60_000))
    .bind(r.to_ms.div_euclid(60_000))
    .bind(first)
    .bind(bucket_ms)
    .fetch_all(pool)
    .await?;
    let n = ((r.to_ms - first) + bucket_ms - 1) / bucket_ms;
    let mut out: Vec<Bucket> = (0..n.max(0))
        .map(|i| Bucket {
            start_ms: first + i * bucket_ms,
            events: 0,
            errors: 0,
        })
        .collect();
    for (b, e, x) in rows {
        if let Some(slot) = usize::try_from(b).ok().and_then(|i| out.get_mut(i)) {
            slot.events = e;
            slot.errors = x;
        }
    }
    Ok(out)
}

#[derive(FromRow)]
struct RowDb {
    id: i64,
    event_time: i64,
    principal: String,
    principal_kind: String,
    name: String,
    source: String,
    region: Option<String>,
    resource: Option<String>,
    source_ip: Option<String>,
    error_code: Option<String>,
}

/// One page of events in the range, newest first, below the `before` cursor. Returns
/// the rows and the cursor of the next page.
pub async fn list(
    pool: &SqlitePool,
    r: &ResolvedRange,
    before: Option<i64>,
) -> Result<(Vec<EventRow>, Option<i64>), sqlx::Error> {
    let upper = first_id_at(r.to_ms).min(before.unwrap_or(i64::MAX));
    let rows: Vec<RowDb> = sqlx::query_as(
        "SELECT e.id, e.event_time, p.display_name AS principal, p.kind AS principal_kind,
                n.value AS name, s.value AS source, rg.value AS region, res.name AS resource,
                ip.value AS source_ip, ec.value AS error_code
         FROM events e
         JOIN principals p ON p.id = e.principal_id
         JOIN terms n ON n.id = e.name_id
         JOIN terms s ON s.id = e.source_id
         LEFT JOIN terms rg ON rg.id = e.region_id
         LEFT JOIN terms ip ON ip.id = e.source_ip_id
         LEFT JOIN terms ec ON ec.id = e.error_code_id
         LEFT JOIN resources res ON res.id = json_extract(e.resource_ids, '$[0]')
         WHERE e.id >= ?1 AND e.id < ?2
         ORDER BY e.id DESC
         LIMIT ?3",
    )
    .bind(first_id_at(r.from_ms))
    .bind(upper)
    .bind(PAGE_SIZE + 1)
    .fetch_all(pool)
    .await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    let rows: Vec<EventRow> = rows
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(|r| EventRow {
            id: r.id,
            time_ms: r.event_time,
            principal: r.principal,
            principal_kind: r.principal_kind,
            name: r.name,
            source: r.source,
            region: r.region,
            resource: r.resource,
            source_ip: r.source_ip,
            error_code: r.error_code,
        })
        .collect();
    let next = if more {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok((rows, next))
}

#[derive(FromRow)]
struct DetailDb {
    id: i64,
    event_time: i64,
    account: String,
    region: Option<String>,
    source: String,
    name: String,
    event_type: Option<String>,
    category: Option<String>,
    read_only: Option<bool>,
    error_code: Option<String>,
    error_message: Option<String>,
    source_ip: Option<String>,
    user_agent: Option<String>,
    access_key: Option<String>,
    request_id: Option<String>,
    shared_event_id: Option<String>,
    resource_ids: Option<String>,
    raw_dict: i64,
    raw: Vec<u8>,
    p_display: String,
    p_kind: String,
    p_key: String,
    p_arn: Option<String>,
    p_account: Option<String>,
    p_origin: Option<String>,
    p_parent: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DetailError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("the stored record of event {0} cannot be read: {1}")]
    Raw(i64, String),
}

fn decompress(dict: Option<&[u8]>, raw: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    match dict {
        Some(d) => {
            let mut dec =
                zstd::stream::read::Decoder::with_dictionary(std::io::BufReader::new(raw), d)?;
            dec.read_to_end(&mut out)?;
        }
        None => {
            out = zstd::stream::decode_all(raw)?;
        }
    }
    Ok(out)
}

fn pretty(v: Option<&serde_json::Value>) -> Option<String> {
    v.filter(|v| !v.is_null())
        .and_then(|v| serde_json::to_string_pretty(v).ok())
}

/// One event in full, with its original record. `None` when there is no such event.
pub async fn detail(pool: &SqlitePool, id: i64) -> Result<Option<EventDetail>, DetailError> {
    let row: Option<DetailDb> = sqlx::query_as(
        "SELECT e.id, e.event_time, a.value AS account, rg.value AS region, s.value AS source,
                n.value AS name, et.value AS event_type, c.value AS category, e.read_only,
                ec.value AS error_code, em.value AS error_message, ip.value AS source_ip,
                ua.value AS user_agent, ak.value AS access_key, e.request_id, e.shared_event_id,
                e.resource_ids, e.raw_dict, e.raw,
                p.display_name AS p_display, p.kind AS p_kind, p.key AS p_key, p.arn AS p_arn,
                p.account AS p_account, p.origin AS p_origin, pp.display_name AS p_parent
         FROM events e
         JOIN principals p ON p.id = e.principal_id
         LEFT JOIN principals pp ON pp.id = p.parent_id
         JOIN terms a ON a.id = e.account_id
         JOIN terms s ON s.id = e.source_id
         JOIN terms n ON n.id = e.name_id
         LEFT JOIN terms rg ON rg.id = e.region_id
         LEFT JOIN terms et ON et.id = e.type_id
         LEFT JOIN terms c ON c.id = e.category_id
         LEFT JOIN terms ec ON ec.id = e.error_code_id
         LEFT JOIN terms em ON em.id = e.error_message_id
         LEFT JOIN terms ip ON ip.id = e.source_ip_id
         LEFT JOIN terms ua ON ua.id = e.user_agent_id
         LEFT JOIN terms ak ON ak.id = e.access_key_id
         WHERE e.id = ?1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let dict: Option<Vec<u8>> = if r.raw_dict == 0 {
        None
    } else {
        sqlx::query_scalar("SELECT data FROM raw_dictionaries WHERE id = ?1")
            .bind(r.raw_dict)
            .fetch_optional(pool)
            .await?
    };
    let raw =
        decompress(dict.as_deref(), &r.raw).map_err(|e| DetailError::Raw(r.id, e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|e| DetailError::Raw(r.id, e.to_string()))?;
    let resources: Vec<ResourceInfo> = match &r.resource_ids {
        Some(ids) => sqlx::query_as::<_, (String, String, String)>(
            "SELECT arn, type, name FROM resources WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(ids)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|(arn, kind, name)| ResourceInfo { arn, kind, name })
        .collect(),
        None => Vec::new(),
    };
    let issued_by = match &r.access_key {
        Some(key) => sqlx::query_as::<_, (i64, String, String)>(
            "SELECT ic.event_id, p.display_name, n.value FROM issued_credentials ic
             JOIN principals p ON p.id = ic.principal_id
             JOIN events e ON e.id = ic.event_id
             JOIN terms n ON n.id = e.name_id
             WHERE ic.access_key = ?1",
        )
        .bind(key)
        .fetch_optional(pool)
        .await?
        .map(|(event_id, principal, event_name)| IssuedBy {
            event_id,
            principal,
            event_name,
        }),
        None => None,
    };
    Ok(Some(EventDetail {
        id: r.id,
        time_ms: r.event_time,
        event_id: value
            .get("eventID")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        account: r.account,
        region: r.region,
        source: r.source,
        name: r.name,
        event_type: r.event_type,
        category: r.category,
        read_only: r.read_only,
        error_code: r.error_code,
        error_message: r.error_message,
        source_ip: r.source_ip,
        user_agent: r.user_agent,
        access_key: r.access_key,
        request_id: r.request_id,
        shared_event_id: r.shared_event_id,
        principal: PrincipalInfo {
            display: r.p_display,
            kind: r.p_kind,
            key: r.p_key,
            arn: r.p_arn,
            account: r.p_account,
            origin: r.p_origin,
            parent: r.p_parent,
        },
        issued_by,
        resources,
        request_parameters: pretty(value.get("requestParameters")),
        response_elements: pretty(value.get("responseElements")),
        additional_event_data: pretty(value.get("additionalEventData")),
        raw_pretty: serde_json::to_string_pretty(&value).unwrap_or_default(),
    }))
}
