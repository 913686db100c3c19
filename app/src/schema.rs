//! Facts about the event store shared by the writer (server) and the readers (pages).

/// Kinds of interned strings in the `terms` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TermKind {
    Account = 0,
    Region = 1,
    Source = 2,
    Name = 3,
    EventType = 4,
    Category = 5,
    ErrorCode = 6,
    ErrorMessage = 7,
    SourceIp = 8,
    UserAgent = 9,
    AccessKey = 10,
}

impl TermKind {
    pub const COUNT: usize = 11;
}

/// Dimensions of the hourly summary (`rollup_hour.dim`), one per top-N panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Dim {
    Principal = 0,
    Name = 1,
    Source = 2,
    Resource = 3,
    SourceIp = 4,
    /// The event's error: its code, else its message, else its failure field (the
    /// `error_code_id` column holds the term of whichever it is).
    ErrorCode = 5,
    Region = 6,
    Account = 7,
    UserAgent = 8,
    AccessKey = 9,
}

impl Dim {
    pub const ALL: [Dim; 10] = [
        Dim::Principal,
        Dim::Name,
        Dim::Source,
        Dim::Resource,
        Dim::SourceIp,
        Dim::ErrorCode,
        Dim::Region,
        Dim::Account,
        Dim::UserAgent,
        Dim::AccessKey,
    ];

    pub fn from_u8(v: u8) -> Option<Dim> {
        Dim::ALL.into_iter().find(|d| *d as u8 == v)
    }

    /// The filter a value of this dimension adds.
    pub fn field(self) -> crate::query::Field {
        use crate::query::Field;
        match self {
            Dim::Principal => Field::Principal,
            Dim::Name => Field::Name,
            Dim::Source => Field::Source,
            Dim::Resource => Field::Resource,
            Dim::SourceIp => Field::SourceIp,
            Dim::ErrorCode => Field::Error,
            Dim::Region => Field::Region,
            Dim::Account => Field::Account,
            Dim::UserAgent => Field::UserAgent,
            Dim::AccessKey => Field::AccessKey,
        }
    }

    /// The dimension whose values a filter field takes, if it has one.
    pub fn of_field(field: crate::query::Field) -> Option<Dim> {
        Dim::ALL.into_iter().find(|d| d.field() == field)
    }
}

/// Bits of `counts_minute.flags` and `rollup_hour.flags`.
pub mod flags {
    /// Not read-only.
    pub const WRITE: i64 = 1;
    /// Failed: has an error code, an error message or a failure field (a failed
    /// console sign-in has only `errorMessage` and `responseElements.ConsoleLogin`).
    pub const ERROR: i64 = 2;
    /// The error code is a refusal (see [`super::is_denied`]).
    pub const DENIED: i64 = 4;

    pub fn of(read_only: Option<bool>, failed: bool, error_code: Option<&str>) -> i64 {
        let mut f = 0;
        if read_only == Some(false) {
            f |= WRITE;
        }
        if failed {
            f |= ERROR;
        }
        if error_code.is_some_and(super::is_denied) {
            f |= DENIED | ERROR;
        }
        f
    }
}

/// Summaries per entity (`entity_minute`, `entity_day`): what `kind` means, and the
/// dimension single S3 objects are kept under there (apart from other resources).
pub mod entity {
    pub const PRINCIPAL: u8 = 0;
    pub const RESOURCE: u8 = 1;
    pub const OBJECT_DIM: u8 = 10;
}

/// What `cost_drivers` counts: the billed kind of each stored event, per month.
pub mod billed {
    pub const MANAGEMENT: u8 = 0;
    pub const DATA: u8 = 1;
    pub const NETWORK: u8 = 2;
    /// Added when the record names no `eventCategory` and its kind was inferred, so a
    /// link into the timeline does not filter on a category the record lacks.
    pub const INFERRED: u8 = 4;

    /// The kind from the `eventCategory` the bill uses (`Management`, `Data`,
    /// `NetworkActivity`); `None` for what is not billed per event (Insights, summaries).
    pub fn kind(category: &str, inferred: bool) -> Option<u8> {
        let k = match category {
            "Management" => MANAGEMENT,
            "Data" => DATA,
            "NetworkActivity" => NETWORK,
            _ => return None,
        };
        Some(if inferred { k | INFERRED } else { k })
    }

    /// The `eventCategory` of a kind (inferred or not).
    pub fn category(kind: u8) -> &'static str {
        match kind & !INFERRED {
            MANAGEMENT => "Management",
            DATA => "Data",
            _ => "NetworkActivity",
        }
    }

    /// The first day of the month of `time_ms`, in days since 1970-01-01.
    pub fn month_of(time_ms: i64) -> i64 {
        use chrono::Datelike;
        let day = time_ms.div_euclid(86_400_000);
        match chrono::DateTime::from_timestamp_millis(time_ms) {
            Some(t) => day - i64::from(t.day0()),
            None => day,
        }
    }
}

/// The resource type left out of the resource rollup (one row per object would make it
/// as big as the events).
pub const S3_OBJECT: &str = "AWS::S3::Object";

/// The bulk-read limits of the exfiltration rules (`server/src/anomalies/exfil.rs`),
/// which the exfiltration page flags its rows by too.
pub mod exfil {
    /// Objects in an hour (or a day, on the page) that make a bulk read.
    pub const FLOOR_OBJECTS: i64 = 100;
    /// Bytes that make a bulk read.
    pub const FLOOR_BYTES: i64 = 1_000_000_000;
    /// How many times its baseline a reader must read to be above it.
    pub const FACTOR: i64 = 4;
}

/// Whether a session name is one a machine makes up: an EC2 instance id, a run of digits
/// (a timestamp), a UUID or other long hexadecimal run, or an SDK's default
/// (`botocore-session-1700000000`).
pub fn machine_session(name: &str) -> bool {
    if let Some(rest) = name.strip_prefix("i-") {
        if (8..=17).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return true;
        }
    }
    let mut digits = 0;
    let mut hex = 0;
    for b in name.bytes() {
        digits = if b.is_ascii_digit() { digits + 1 } else { 0 };
        hex = if b.is_ascii_hexdigit() { hex + 1 } else if b == b'-' { hex } else { 0 };
        if digits >= 8 || hex >= 16 {
            return true;
        }
    }
    false
}

/// Whether an access key is temporary (issued by STS for one session), as opposed to a
/// user's long-term key.
pub fn is_temporary_key(key: &str) -> bool {
    key.starts_with("ASIA")
}

/// How the error codes of a refusal start (see [`is_denied`]).
pub const DENIED_PREFIX: &str = "AccessDenied";
/// How the error codes of a refusal end (see [`is_denied`]).
pub const DENIED_SUFFIX: &str = "UnauthorizedOperation";

/// Whether an error code means the caller was not allowed (CIS CloudWatch control 4.1:
/// `AccessDenied*` or `*UnauthorizedOperation`).
pub fn is_denied(code: &str) -> bool {
    code.starts_with(DENIED_PREFIX) || code.ends_with(DENIED_SUFFIX)
}

/// Bits of an event id below the millisecond: ids are `event_time_ms << 21 | hash`, so
/// they sort by time and a time range is an id range.
pub const ID_HASH_BITS: u32 = 21;

/// The row id of an event at `time_ms` whose identity hashes to `hash`.
pub fn event_row_id(time_ms: i64, hash: u64) -> i64 {
    (time_ms << ID_HASH_BITS) | (hash & ((1u64 << ID_HASH_BITS) - 1)) as i64
}

/// The smallest id of an event at or after `time_ms`.
pub fn first_id_at(time_ms: i64) -> i64 {
    time_ms.clamp(0, (1i64 << 42) - 1) << ID_HASH_BITS
}

/// The time of an event id.
pub fn id_time(id: i64) -> i64 {
    id >> ID_HASH_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_by_time() {
        let a = event_row_id(1_000, u64::MAX);
        let b = event_row_id(1_001, 0);
        assert!(a < b);
        assert_eq!(id_time(a), 1_000);
        assert!(first_id_at(1_001) <= b && first_id_at(1_001) > a);
        assert!(event_row_id((1 << 42) - 1, u64::MAX) > 0);
    }

    #[test]
    fn a_billed_month_starts_on_its_first_day() {
        // 2026-12-04T07:00Z is in the month that began on 2026-12-01 (day 20788).
        assert_eq!(billed::month_of(1_796_367_600_000), 20_788);
        assert_eq!(billed::month_of(20_788 * 86_400_000), 20_788);
        assert_eq!(billed::month_of(20_788 * 86_400_000 - 1), 20_758);
        assert_eq!(billed::kind("Data", true), Some(billed::DATA | billed::INFERRED));
        assert_eq!(billed::category(billed::DATA | billed::INFERRED), "Data");
        assert_eq!(billed::kind("Insight", false), None);
    }
}
