//! One event in full: its indexed fields, principal, resources and who issued its key,
//! the events related to it, and its original record, decompressed from the store.

use super::list::{ROW_COLUMNS, ROW_JOINS, RowDb, rows_by_ids};
use crate::model::{EventDetail, IssuedBy, PrincipalInfo, ResourceInfo};
use super::raw::{At, RawReader, Stored};
use crate::schema::first_id_at;
use sqlx::{FromRow, QueryBuilder, Sqlite, SqlitePool};

/// How far around an event related ones are looked for.
const RELATED_WINDOW_MS: i64 = 10 * 60_000;

/// Events within minutes of `id` from the same request, the same shared event (copies
/// delivered to other accounts) or the same principal — those of the same request or
/// shared event first, then the nearest in time, at most [`crate::model::RELATED_SHOWN`] — with the
/// event itself, in time order; and whether more were left out.
pub async fn related(
    pool: &SqlitePool,
    id: i64,
) -> Result<(Vec<crate::model::RelatedEvent>, bool), sqlx::Error> {
    let t = crate::schema::id_time(id);
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(ROW_COLUMNS);
    qb.push(
        ", CASE WHEN e.request_id = me.request_id THEN 'same request'
                WHEN e.shared_event_id = me.shared_event_id THEN 'same shared event'
                ELSE 'same principal' END AS why
         FROM events me, events e",
    );
    qb.push(ROW_JOINS);
    qb.push(" WHERE me.id = ");
    qb.push_bind(id);
    qb.push(" AND e.id >= ");
    qb.push_bind(first_id_at(t - RELATED_WINDOW_MS));
    qb.push(" AND e.id < ");
    qb.push_bind(first_id_at(t + RELATED_WINDOW_MS));
    qb.push(
        " AND e.id <> me.id AND (e.request_id = me.request_id
              OR e.shared_event_id = me.shared_event_id OR e.principal_id = me.principal_id)
         ORDER BY (coalesce(e.request_id = me.request_id, 0)
                   OR coalesce(e.shared_event_id = me.shared_event_id, 0)) DESC,
                  abs(e.event_time - me.event_time), e.id
         LIMIT ",
    );
    qb.push_bind(crate::model::RELATED_SHOWN + 1);
    #[derive(FromRow)]
    struct Rel {
        #[sqlx(flatten)]
        row: RowDb,
        why: String,
    }
    let mut rows: Vec<Rel> = qb.build_query_as().fetch_all(pool).await?;
    let capped = rows.len() as i64 > crate::model::RELATED_SHOWN;
    rows.truncate(crate::model::RELATED_SHOWN as usize);
    let mut out: Vec<crate::model::RelatedEvent> = rows
        .into_iter()
        .map(|r| crate::model::RelatedEvent {
            why: r.why,
            row: r.row.into_row(),
        })
        .collect();
    // The event itself, in its place among them.
    out.extend(
        rows_by_ids(pool, &[id])
            .await?
            .into_iter()
            .map(|row| crate::model::RelatedEvent {
                why: "this event".into(),
                row,
            }),
    );
    out.sort_by_key(|r| r.row.id);
    Ok((out, capped))
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
    error: Option<String>,
    source_ip: Option<String>,
    user_agent: Option<String>,
    access_key: Option<String>,
    request_id: Option<String>,
    shared_event_id: Option<String>,
    resource_ids: Option<String>,
    raw_dict: i64,
    raw: Vec<u8>,
    raw_block: Option<i64>,
    raw_slot: Option<i64>,
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

/// A top-level string field of a record.
fn text_field(record: &serde_json::Value, key: &str) -> Option<String> {
    record
        .get(key)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
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
                ec.value AS error, ip.value AS source_ip,
                ua.value AS user_agent, ak.value AS access_key, e.request_id, e.shared_event_id,
                e.resource_ids, e.raw_dict, e.raw, e.raw_block, e.raw_slot,
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
         LEFT JOIN terms ip ON ip.id = e.source_ip_id
         LEFT JOIN terms ua ON ua.id = e.user_agent_id
         LEFT JOIN terms ak ON ak.id = e.access_key_id
         WHERE e.id = ?1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let at = At { dict: r.raw_dict, raw: &r.raw, block: r.raw_block, slot: r.raw_slot };
    let raw = RawReader::default()
        .read(pool, r.id, at)
        .await?;
    let (related, related_capped) = related(pool, r.id).await?;
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
        error_code: text_field(&value, "errorCode"),
        error_message: text_field(&value, "errorMessage"),
        error: r.error,
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
        event_context: pretty(value.get("eventContext")),
        summary: crate::aggregated::parse(&value),
        raw_pretty: serde_json::to_string_pretty(&value).unwrap_or_default(),
        pin_to: Vec::new(),
        pinned_in: Vec::new(),
        can_pin: false,
        related,
        related_capped,
    }))
}

/// An event's stored record: its dictionary and its compressed bytes.
async fn raw_row(pool: &SqlitePool, id: i64) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query_as("SELECT raw_dict, raw, raw_block, raw_slot FROM events WHERE id = ?1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The original record of an event, parsed.
pub async fn record(pool: &SqlitePool, id: i64) -> Result<Option<serde_json::Value>, DetailError> {
    let Some(stored) = raw_row(pool, id).await? else {
        return Ok(None);
    };
    let bytes = RawReader::default().read(pool, id, stored.at()).await?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| DetailError::Raw(id, e.to_string()))
}

/// The original records of several events, parsed, reading each dictionary once; an
/// event that is gone is left out, one whose record cannot be read carries the error.
pub async fn records(
    pool: &SqlitePool,
    ids: &[i64],
) -> Result<Vec<(i64, Result<serde_json::Value, DetailError>)>, sqlx::Error> {
    let mut reader = RawReader::default();
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        let Some(stored) = raw_row(pool, id).await? else {
            continue;
        };
        let parsed = match reader.read(pool, id, stored.at()).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| DetailError::Raw(id, e.to_string())),
            Err(DetailError::Db(e)) => return Err(e),
            Err(e) => Err(e),
        };
        out.push((id, parsed));
    }
    Ok(out)
}
