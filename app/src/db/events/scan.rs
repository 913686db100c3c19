//! One pass over a window's events with what event selectors look at: the cost preview
//! of a selector change evaluates the current and the proposed selectors on each.

use super::detail::DetailError;
use super::raw::{At, RawReader};
use crate::schema::{S3_OBJECT, TermKind, first_id_at};
use crate::selectors::Facts;
use futures::TryStreamExt;
use sqlx::SqlitePool;
use std::collections::{HashMap, HashSet};

/// Where an event happened and what it is billed as: its account, Region, category,
/// read/write and (data events) resource type, by name and by term id.
pub struct Place<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub category: &'a str,
    pub read_only: Option<bool>,
    pub resource_type: Option<&'a str>,
    /// `(account, Region, category)` term ids: a cheap key.
    pub ids: (i64, i64, i64),
}

const DAY_MS: i64 = 86_400_000;

/// The columns the selectors read, as term ids.
struct Columns {
    account: i64,
    region: Option<i64>,
    source: i64,
    name: i64,
    kind: Option<i64>,
    category: Option<i64>,
    read_only: Option<i64>,
    error: Option<i64>,
}

/// One event of a day's JSON array.
type Packed = (
    i64,
    Option<i64>,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<Vec<(String, String)>>,
);

type Row = (
    i64,
    i64,
    Option<i64>,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<Vec<u8>>,
    Option<i64>,
    Option<i64>,
);

/// Goes through every event from `from_ms` to `to_ms` in `accounts` (`None`: every
/// account) and `regions` but Insights events: `eval` judges the event's facts (what
/// event selectors look at), `each` is given where it happened and the judgement.
/// Returns how many events there were.
///
/// An event without resources is judged by its source, name, type, category, read/write
/// and error alone, so `eval` runs once per distinct combination of those (a few
/// thousand in a million events). With `with_record`, the facts only the stored record
/// holds (`userIdentity.arn`, `sessionCredentialFromConsole`, `vpcEndpointId`) are read
/// from it, at the cost of decompressing and judging every record.
pub async fn scan_selectable<V: Clone>(
    pool: &SqlitePool,
    accounts: Option<&[String]>,
    regions: &[String],
    (from_ms, to_ms): (i64, i64),
    with_record: bool,
    mut eval: impl FnMut(&Facts<'_>) -> V,
    mut each: impl FnMut(&Place<'_>, &V),
) -> Result<u64, DetailError> {
    let terms: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT id, kind, value FROM terms WHERE kind IN (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .bind(TermKind::Account as i64)
    .bind(TermKind::Region as i64)
    .bind(TermKind::Source as i64)
    .bind(TermKind::Name as i64)
    .bind(TermKind::EventType as i64)
    .bind(TermKind::Category as i64)
    .bind(TermKind::ErrorCode as i64)
    .fetch_all(pool)
    .await?;
    // An error column holding a message (not a code) is no `errorCode`: of the error
    // terms, only codes are loaded.
    let mut names: HashMap<i64, String> = HashMap::with_capacity(terms.len());
    let mut account_ids = Vec::new();
    let mut region_ids: HashSet<i64> = HashSet::new();
    let (mut data_category, mut insight_category) = (-1, -1);
    for (id, kind, value) in terms {
        if kind == TermKind::Account as i64 && accounts.is_some_and(|a| a.iter().any(|x| *x == value)) {
            account_ids.push(id);
        }
        if kind == TermKind::Region as i64 && regions.iter().any(|r| *r == value) {
            region_ids.insert(id);
        }
        if kind == TermKind::Category as i64 {
            match value.as_str() {
                "Data" => data_category = id,
                "Insight" => insight_category = id,
                _ => {}
            }
        }
        names.insert(id, value);
    }
    let accounts_json = accounts.map(|_| serde_json::to_string(&account_ids).unwrap_or_default());
    let term = |id: Option<i64>| id.and_then(|i| names.get(&i)).map(String::as_str);
    let mut memo: HashMap<(i64, i64, Option<i64>, Option<i64>, Option<i64>, Option<i64>), V> = HashMap::new();
    let mut n = 0u64;
    // One event: its columns, its resources (data events), its record (`with_record`).
    let mut judge = |c: &Columns, resources: &[(String, String)], record: Option<&serde_json::Value>| {
        if !c.region.is_some_and(|r| region_ids.contains(&r)) || c.category == Some(insight_category) {
            return;
        }
        n += 1;
        let category = term(c.category).unwrap_or("Management");
        let source = term(Some(c.source)).unwrap_or("");
        let read_only = c.read_only.map(|r| r != 0);
        let place = |resource_type| Place {
            account: term(Some(c.account)).unwrap_or(""),
            region: term(c.region).unwrap_or(""),
            category,
            read_only,
            resource_type,
            ids: (c.account, c.region.unwrap_or(0), c.category.unwrap_or(0)),
        };
        if c.category != Some(data_category) && record.is_none() && !with_record {
            let key = (c.source, c.name, c.kind, c.category, c.read_only, c.error);
            if let Some(v) = memo.get(&key) {
                each(&place(None), v);
                return;
            }
            let facts = Facts {
                category,
                source,
                name: term(Some(c.name)).unwrap_or(""),
                read_only,
                resources: Vec::new(),
                event_type: term(c.kind),
                error_code: term(c.error),
                ..Facts::default()
            };
            let v = eval(&facts);
            each(&place(None), &v);
            memo.insert(key, v);
            return;
        }
        let resource_type = if category != "Data" {
            None
        } else if source == "s3.amazonaws.com" {
            Some(S3_OBJECT)
        } else {
            resources
                .iter()
                .find(|(t, _)| t != "AWS::S3::Bucket")
                .or(resources.first())
                .map(|(t, _)| t.as_str())
        };
        let text = |k: &str| record.and_then(|r| r.get(k)).and_then(|v| v.as_str());
        let facts = Facts {
            category,
            source,
            name: term(Some(c.name)).unwrap_or(""),
            read_only,
            resources: resources.iter().map(|(t, a)| (t.as_str(), a.as_str())).collect(),
            event_type: term(c.kind),
            from_console: text("sessionCredentialFromConsole").map(|v| v == "true"),
            user_arn: record.and_then(|r| r.pointer("/userIdentity/arn")).and_then(|v| v.as_str()),
            error_code: term(c.error),
            vpc_endpoint_id: text("vpcEndpointId"),
        };
        let v = eval(&facts);
        each(&place(resource_type), &v);
    };
    if !with_record {
        // A day of events at a time, as one JSON array: rows one by one cost several
        // times what the query does.
        let mut at = from_ms;
        while at < to_ms {
            let end = (at + DAY_MS).min(to_ms);
            let text: Option<String> = sqlx::query_scalar(
                "SELECT json_group_array(json_array(e.account_id, e.region_id, e.source_id,
                        e.name_id, e.type_id, e.category_id, e.read_only, e.error_code_id,
                        CASE WHEN e.category_id = ?4 THEN json(
                            (SELECT json_group_array(json_array(r.type, r.arn))
                             FROM json_each(e.resource_ids) j JOIN resources r ON r.id = j.value))
                        END))
                 FROM events e
                 WHERE e.id >= ?1 AND e.id < ?2
                   AND (?3 IS NULL OR e.account_id IN (SELECT value FROM json_each(?3)))",
            )
            .bind(first_id_at(at))
            .bind(first_id_at(end))
            .bind(&accounts_json)
            .bind(data_category)
            .fetch_one(pool)
            .await?;
            let rows: Vec<Packed> = serde_json::from_str(text.as_deref().unwrap_or("[]"))
                .map_err(|e| DetailError::Raw(0, format!("the scan's rows: {e}")))?;
            for (account, region, source, name, kind, category, read_only, error, resources) in rows {
                let c = Columns { account, region, source, name, kind, category, read_only, error };
                judge(&c, resources.as_deref().unwrap_or_default(), None);
            }
            at = end;
        }
        return Ok(n);
    }
    let mut rows = sqlx::query_as::<_, Row>(
        "SELECT e.id, e.account_id, e.region_id, e.source_id, e.name_id, e.type_id,
                e.category_id, e.read_only, e.error_code_id,
                CASE WHEN e.category_id = ?4 THEN
                    (SELECT json_group_array(json_array(r.type, r.arn))
                     FROM json_each(e.resource_ids) j JOIN resources r ON r.id = j.value)
                END,
                e.raw_dict, e.raw, e.raw_block, e.raw_slot
         FROM events e
         WHERE e.id >= ?1 AND e.id < ?2
           AND (?3 IS NULL OR e.account_id IN (SELECT value FROM json_each(?3)))",
    )
    .bind(first_id_at(from_ms))
    .bind(first_id_at(to_ms))
    .bind(&accounts_json)
    .bind(data_category)
    .fetch(pool);
    let mut raw = RawReader::default();
    while let Some(row) = rows.try_next().await? {
        let (id, account, region, source, name, kind, category, read_only, error, resources, dict, bytes, block, slot) =
            row;
        // The reader may load a dictionary or a block on another connection of the pool.
        let record = match (dict, bytes) {
            (Some(dict), Some(bytes)) => match raw.read(pool, id, At { dict, raw: &bytes, block, slot }).await {
                Ok(text) => serde_json::from_slice::<serde_json::Value>(&text).ok(),
                // One unreadable record is judged on its columns; the rest go on.
                Err(e) => {
                    tracing::warn!(event = id, error = %e, "a stored record could not be read for a scan");
                    None
                }
            },
            _ => None,
        };
        let resources: Vec<(String, String)> = resources
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        let c = Columns { account, region, source, name, kind, category, read_only, error };
        judge(&c, &resources, Some(record.as_ref().unwrap_or(&serde_json::Value::Null)));
    }
    Ok(n)
}
