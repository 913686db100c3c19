//! Reads of the exfiltration summaries (`s3_reads`, `s3_firsts`), written by the importer
//! (`server/src/anomalies`): S3 reads per hour, actor, bucket and source address.

use crate::pages::exfiltration::{By, ExfilRow, Slot};
use sqlx::SqlitePool;
use std::collections::HashMap;

const HOUR_MS: i64 = 3_600_000;
/// The baseline of a row: its busiest day over this many days before the range.
pub const BASELINE_DAYS: i64 = 14;

/// The first and last hour of S3 reads held.
pub async fn span(pool: &SqlitePool) -> Result<Option<(i64, i64)>, sqlx::Error> {
    let first: Option<i64> = sqlx::query_scalar("SELECT hour FROM s3_reads ORDER BY hour LIMIT 1")
        .fetch_optional(pool)
        .await?;
    let last: Option<i64> = sqlx::query_scalar("SELECT hour FROM s3_reads ORDER BY hour DESC LIMIT 1")
        .fetch_optional(pool)
        .await?;
    Ok(first.zip(last))
}

/// The column of `s3_reads` a view groups by.
fn column(by: By) -> &'static str {
    match by {
        By::Principal => "actor",
        By::Bucket => "bucket",
        By::Ip => "source_ip",
    }
}

/// The totals per slot over `[from_hour, to_hour)` and the top `limit` readers
/// (principals, buckets or addresses) by bytes, each with its slots, its busiest day in
/// the range and in the [`BASELINE_DAYS`] before. `slot_hours` divides 24 or is 24;
/// `from_hour` starts a slot (a UTC day for day slots).
pub async fn view(
    pool: &SqlitePool,
    by: By,
    from_hour: i64,
    to_hour: i64,
    slot_hours: i64,
    limit: i64,
) -> Result<(Vec<Slot>, Vec<ExfilRow>), sqlx::Error> {
    let col = column(by);
    let slot_hours = slot_hours.max(1);
    let base_from = from_hour - BASELINE_DAYS * 24;
    // One pass over the range and the 14 days before it, per key and hour-or-day. The
    // column name is one of three constants; every value is bound.
    let sql = format!(
        "SELECT {col}, (hour - ?1) / ?3, sum(objects), sum(bytes) FROM s3_reads
         WHERE hour >= ?1 AND hour < ?2 GROUP BY 1, 2"
    );
    let cells: Vec<(i64, i64, i64, i64)> = sqlx::query_as(&sql)
        .bind(base_from)
        .bind(to_hour)
        .bind(slot_hours)
        .fetch_all(pool)
        .await?;
    let slot_of = |cell: i64| base_from + cell * slot_hours;
    let mut totals: std::collections::BTreeMap<i64, Slot> = std::collections::BTreeMap::new();
    #[derive(Default)]
    struct Acc {
        objects: i64,
        bytes: i64,
        slots: Vec<Slot>,
        days_in: HashMap<i64, (i64, i64)>,
        days_before: HashMap<i64, (i64, i64)>,
    }
    let mut keys: HashMap<i64, Acc> = HashMap::new();
    for (k, cell, objects, bytes) in cells {
        let hour = slot_of(cell);
        let day = hour.div_euclid(24);
        let a = keys.entry(k).or_default();
        if hour >= from_hour {
            a.objects += objects;
            a.bytes += bytes;
            let start_ms = hour * HOUR_MS;
            a.slots.push(Slot { start_ms, objects, bytes });
            let t = totals.entry(start_ms).or_insert(Slot { start_ms, objects: 0, bytes: 0 });
            t.objects += objects;
            t.bytes += bytes;
            let d = a.days_in.entry(day).or_default();
            d.0 += objects;
            d.1 += bytes;
        } else {
            let d = a.days_before.entry(day).or_default();
            d.0 += objects;
            d.1 += bytes;
        }
    }
    let mut top: Vec<(i64, Acc)> = keys.into_iter().filter(|(_, a)| !a.slots.is_empty()).collect();
    top.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(b.1.objects.cmp(&a.1.objects)).then(a.0.cmp(&b.0)));
    top.truncate(limit.max(0) as usize);
    let ids: Vec<i64> = top.iter().map(|(k, _)| *k).collect();
    // The top keys' other figures over the range, with their names.
    let (label_sql, key_sql, account_sql) = match by {
        By::Principal => (
            "(SELECT display_name FROM principals WHERE id = t.k)",
            "(SELECT key FROM principals WHERE id = t.k)",
            "(SELECT account FROM principals WHERE id = t.k)",
        ),
        By::Bucket => (
            "(SELECT name FROM resources WHERE id = t.k)",
            "(SELECT arn FROM resources WHERE id = t.k)",
            "(SELECT account FROM resources WHERE id = t.k)",
        ),
        By::Ip => ("(SELECT value FROM terms WHERE id = t.k)", "(SELECT value FROM terms WHERE id = t.k)", "NULL"),
    };
    let sql = format!(
        "WITH t AS (
           SELECT {col} AS k, sum(lists) AS lists, sum(presigned) AS presigned,
                  count(DISTINCT actor) AS actors, count(DISTINCT bucket) AS buckets,
                  count(DISTINCT source_ip) AS ips
           FROM s3_reads WHERE hour >= ?1 AND hour < ?2 AND {col} IN (SELECT value FROM json_each(?3))
           GROUP BY {col})
         SELECT t.k, coalesce({key_sql}, ''), coalesce({label_sql}, ''), {account_sql}, t.lists, t.presigned,
                t.actors, t.buckets, t.ips
         FROM t"
    );
    #[allow(clippy::type_complexity)]
    let more: Vec<(i64, String, String, Option<String>, i64, i64, i64, i64, i64)> = sqlx::query_as(&sql)
        .bind(from_hour)
        .bind(to_hour)
        .bind(serde_json::to_string(&ids).unwrap_or_default())
        .fetch_all(pool)
        .await?;
    let more: HashMap<i64, _> = more.into_iter().map(|m| (m.0, m)).collect();
    let busiest = |days: &HashMap<i64, (i64, i64)>| {
        days.values().fold((0, 0), |(o, b), (o2, b2)| (o.max(*o2), b.max(*b2)))
    };
    let rows = top
        .into_iter()
        .map(|(k, mut a)| {
            let (key, label, account, lists, presigned, actors, buckets, ips) = match more.get(&k) {
                Some(m) => (m.1.clone(), m.2.clone(), m.3.clone(), m.4, m.5, m.6, m.7, m.8),
                None => (String::new(), String::new(), None, 0, 0, 0, 0, 0),
            };
            let (baseline_day_objects, baseline_day_bytes) = busiest(&a.days_before);
            let (peak_day_objects, peak_day_bytes) = busiest(&a.days_in);
            a.slots.sort_by_key(|s| s.start_ms);
            ExfilRow {
                id: k,
                key,
                label,
                account,
                objects: a.objects,
                bytes: a.bytes,
                lists,
                presigned,
                principals: actors,
                buckets,
                ips,
                baseline_day_objects,
                baseline_day_bytes,
                peak_day_objects,
                peak_day_bytes,
                slots: a.slots,
            }
        })
        .collect();
    Ok((totals.into_values().collect(), rows))
}
