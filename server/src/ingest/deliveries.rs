//! What each delivered file held, by day and kind (`delivery_days`): the counts the costs
//! and trails screens read. Every parsed record counts, a duplicate of an event already
//! stored too (another trail's copy is billed again); a file that fails counts nothing.
//! A file read again first takes back the counts it added before (kept in its ledger
//! row), so nothing is counted twice.

use super::normalize::Event;
use app::schema::S3_OBJECT;
use app::trails::prefix_of;
use rusqlite::{Connection, OptionalExtension, params};
use rustc_hash::FxHashMap as HashMap;

/// The kind of a `file` row: the files delivered, and their bytes.
pub const FILE: &str = "file";

const DAY_MS: i64 = 86_400_000;

/// One file's count key: event day, account and Region terms, kind, read/write, type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub day: i64,
    pub account: i64,
    pub region: Option<i64>,
    pub kind: &'static str,
    pub read_only: i8,
    pub resource_type: Option<String>,
}

/// What the bill calls the event: its `eventCategory`; for records older than that field,
/// S3 object-level calls and Lambda invocations are data events and the rest management.
pub fn kind_of(e: &Event) -> &'static str {
    match e.category.as_deref() {
        Some("Management") => "Management",
        Some("Data") => "Data",
        Some("NetworkActivity") => "NetworkActivity",
        Some("Insight") => "Insight",
        Some("Aggregated") => "Aggregated",
        Some(_) => "Other",
        None if e.event_type.as_deref() == Some("AwsCloudTrailInsight") => "Insight",
        None if e.resources.iter().any(|r| r.kind == S3_OBJECT)
            || (e.source == "s3.amazonaws.com"
                && (e.name.contains("Object") || e.name.contains("Multipart")))
            || (e.source == "lambda.amazonaws.com" && e.name == "Invoke") =>
        {
            "Data"
        }
        None => "Management",
    }
}

/// The resource type a data event is billed and selected under: S3 object-level calls
/// are `AWS::S3::Object` even when they name only the bucket; otherwise the first
/// resource that is not a bucket.
pub fn resource_type_of(e: &Event) -> Option<String> {
    if e.source == "s3.amazonaws.com" {
        return Some(S3_OBJECT.to_owned());
    }
    e.resources
        .iter()
        .find(|r| r.kind != "AWS::S3::Bucket")
        .or(e.resources.first())
        .map(|r| r.kind.clone())
}

/// The counts of one file, kept while its events are written.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Events and their bytes as delivered.
    pub rows: HashMap<Key, (i64, i64)>,
    /// The first event's day, for the file's own row when its folder has no date.
    pub first_day: Option<i64>,
}

impl Counts {
    pub fn add(&mut self, e: &Event, bytes: usize, account: i64, region: Option<i64>) {
        let kind = kind_of(e);
        let day = e.time_ms.div_euclid(DAY_MS);
        self.first_day.get_or_insert(day);
        let key = Key {
            day,
            account,
            region,
            kind,
            read_only: match e.read_only {
                Some(true) => 1,
                Some(false) => 0,
                None => -1,
            },
            resource_type: if kind == "Data" {
                resource_type_of(e)
            } else {
                None
            },
        };
        let row = self.rows.entry(key).or_default();
        row.0 += 1;
        row.1 += bytes as i64;
    }

    pub fn clear(&mut self) {
        self.rows.clear();
        self.first_day = None;
    }
}

/// A `YYYY/MM/DD` delivery folder as a day number.
fn folder_day(date: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y/%m/%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis().div_euclid(DAY_MS))
}

/// One `delivery_days` row as kept in the ledger: `[day, prefix, account, region, kind,
/// read_only, resource_type, events, bytes]`.
type Row = (i64, String, String, String, String, i64, String, i64, i64);

/// The file's rows with the account and Region terms resolved.
fn rows(
    conn: &Connection,
    path: &str,
    date: Option<&str>,
    size: u64,
    counts: &Counts,
    account: Option<&str>,
    region: Option<&str>,
) -> rusqlite::Result<Vec<Row>> {
    let prefix = prefix_of(path).to_owned();
    let mut term = conn.prepare_cached("SELECT value FROM terms WHERE id = ?1")?;
    let mut names: HashMap<i64, String> = HashMap::default();
    let mut name = |id: Option<i64>| -> rusqlite::Result<String> {
        let Some(id) = id else {
            return Ok(String::new());
        };
        if let Some(n) = names.get(&id) {
            return Ok(n.clone());
        }
        let n: String = term
            .query_row(params![id], |r| r.get(0))
            .optional()?
            .unwrap_or_default();
        names.insert(id, n.clone());
        Ok(n)
    };
    let mut out = Vec::with_capacity(counts.rows.len() + 1);
    for (k, (n, bytes)) in &counts.rows {
        out.push((
            k.day,
            prefix.clone(),
            name(Some(k.account))?,
            name(k.region)?,
            k.kind.to_owned(),
            k.read_only as i64,
            k.resource_type.clone().unwrap_or_default(),
            *n,
            *bytes,
        ));
    }
    if let Some(day) = date.and_then(folder_day).or(counts.first_day) {
        out.push((
            day,
            prefix,
            account.unwrap_or_default().to_owned(),
            region.unwrap_or_default().to_owned(),
            FILE.to_owned(),
            -1,
            String::new(),
            1,
            size as i64,
        ));
    }
    out.sort();
    Ok(out)
}

fn apply(conn: &Connection, origin: &str, rows: &[Row], sign: i64) -> rusqlite::Result<()> {
    let mut up = conn.prepare_cached(
        "INSERT INTO delivery_days (day, origin, prefix, account, region, kind, read_only,
             resource_type, events, bytes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT DO UPDATE SET events = events + excluded.events,
             bytes = bytes + excluded.bytes",
    )?;
    for (day, prefix, account, region, kind, ro, rt, events, bytes) in rows {
        up.execute(params![
            day,
            origin,
            prefix,
            account,
            region,
            kind,
            ro,
            rt,
            sign * events,
            sign * bytes
        ])?;
    }
    if sign < 0 {
        conn.prepare_cached("DELETE FROM delivery_days WHERE events <= 0 AND bytes <= 0")?
            .execute([])?;
    }
    Ok(())
}

/// What one file being written to the ledger adds.
pub struct FileDeliveries<'a> {
    pub origin: &'a str,
    pub path: &'a str,
    pub date: Option<&'a str>,
    pub size: u64,
    pub account: Option<&'a str>,
    pub region: Option<&'a str>,
    pub counts: &'a Counts,
    /// Whether the file went in (a failed file adds nothing, and takes back nothing).
    pub imported: bool,
}

/// Takes back what an earlier reading of the file added, adds this reading's counts, and
/// returns them as the ledger keeps them. Call before the file's ledger row is written.
pub fn record(conn: &Connection, f: &FileDeliveries<'_>) -> rusqlite::Result<Option<String>> {
    let old: Option<String> = conn
        .prepare_cached("SELECT deliveries FROM ingest_files WHERE source = ?1 AND path = ?2")?
        .query_row(params![f.origin, f.path], |r| r.get(0))
        .optional()?
        .flatten();
    if !f.imported {
        // The ledger keeps what the last good reading counted; nothing changes.
        return Ok(old);
    }
    if let Some(old) = old.as_deref().and_then(|s| serde_json::from_str::<Vec<Row>>(s).ok()) {
        apply(conn, f.origin, &old, -1)?;
    }
    let new = rows(
        conn, f.path, f.date, f.size, f.counts, f.account, f.region,
    )?;
    apply(conn, f.origin, &new, 1)?;
    Ok(Some(serde_json::to_string(&new).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_date_is_a_day() {
        assert_eq!(folder_day("2024/01/02"), Some(19_724));
        assert_eq!(folder_day("2024/13/02"), None);
    }
}
