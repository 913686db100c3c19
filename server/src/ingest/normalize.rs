//! Normalise stage: one CloudTrail record in, one [`Event`] out — the indexed columns,
//! the principal, the resources — or a reason why the record cannot be stored.

use super::record::{
    IssuedCredentialsResponse, Record, RequestParams, SessionIssuer, Text, UserIdentity,
};
use app::schema::TermKind;
use chrono::{NaiveDate, NaiveDateTime};
use sha2::{Digest, Sha256};

/// Most resources kept per event (hostile records can name thousands).
pub const MAX_RESOURCES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Stable identity key (an ARN where one exists).
    pub key: String,
    /// `IAMUser`, `AssumedRole`, `Role`, `Root`, `AWSService`, `FederatedUser`,
    /// `SAMLUser`, `WebIdentityUser`, `IdentityCenterUser`, `AWSAccount`, `Directory`,
    /// `Unknown`.
    pub kind: String,
    pub display: String,
    pub arn: Option<String>,
    pub account: Option<String>,
    /// Who the record says stands behind this identity (source identity, the Identity
    /// Center user, the web identity provider).
    pub origin: Option<String>,
    /// The role behind a session, the user behind a federated session.
    pub parent: Option<Box<Principal>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub arn: String,
    pub kind: String,
    pub name: String,
    pub account: Option<String>,
}

/// Temporary credentials issued by this event (AssumeRole and friends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCredential {
    pub access_key: String,
    pub session_arn: Option<String>,
    pub source_identity: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub time_ms: i64,
    pub account: String,
    /// Dedup key inside the account: the eventID (16 bytes when it is a UUID).
    pub event_key: Vec<u8>,
    pub region: Option<String>,
    pub source: String,
    pub name: String,
    pub event_type: Option<String>,
    pub category: Option<String>,
    pub read_only: Option<bool>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub access_key: Option<String>,
    pub principal: Principal,
    pub resources: Vec<Resource>,
    pub request_id: Option<String>,
    pub shared_event_id: Option<String>,
    pub issued: Option<IssuedCredential>,
    /// A failure recorded in a field of its own rather than as an error
    /// (`ConsoleLogin: Failure`), when the record has neither error code nor message.
    pub failure_field: Option<String>,
    /// For a console sign-in: how it went.
    pub sign_in: Option<SignIn>,
    /// For `CreateAccessKey`, `UpdateAccessKey` and `DeleteAccessKey`: the key it is about.
    pub key_change: Option<String>,
    /// `name`, `source` and `error_code` are exactly the record's own `eventName`,
    /// `eventSource` and `errorCode`, so the rules' index may be read from them.
    pub keys_exact: bool,
    /// `userIdentity.type`, `userIdentity.arn` and
    /// `userIdentity.sessionContext.ec2RoleDelivery`, for the rules' index.
    pub identity_type: Option<String>,
    pub identity_arn: Option<String>,
    pub role_delivery: Option<String>,
    /// For a successful S3 object read or listing: what it moved (the exfiltration
    /// rollups).
    pub s3_read: Option<S3Read>,
    /// For a successful call that shares data or grants access (a snapshot, an image, an
    /// RDS snapshot, a KMS grant, bucket replication, a bucket or key policy): the
    /// accounts it names as recipients, for the sharing-outside rule.
    pub shared_with: Vec<String>,
    /// For an AWS CloudTrail Insights record: its details.
    pub aws_insight: Option<crate::anomalies::insights::AwsInsight>,
}

/// One successful S3 data read, as the exfiltration rollups count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct S3Read {
    /// A listing (`ListObjects` and friends) rather than an object read.
    pub list: bool,
    /// `additionalEventData.bytesTransferredOut` (0 when absent or not a whole number).
    pub bytes: u64,
    /// Signed in the query string: a presigned URL
    /// (`additionalEventData.AuthenticationMethod` is `QueryString`).
    pub presigned: bool,
}

/// The S3 calls that hand object data out.
pub const S3_OBJECT_READS: &[&str] =
    &["GetObject", "CopyObject", "SelectObjectContent", "UploadPartCopy", "GetObjectTorrent", "RestoreObject"];
/// The S3 calls that list a bucket's objects (a sweep before a bulk read).
pub const S3_LISTS: &[&str] = &["ListObjects", "ListObjectsV2", "ListObjectVersions"];

/// How a console sign-in went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignIn {
    pub failed: bool,
    /// `additionalEventData.MFAUsed` is `Yes`.
    pub mfa: bool,
}

impl Event {
    /// The event's error as Cairn files it (the Error column, `error=` filters, the
    /// error counts): its `errorCode`; else its `errorMessage` (a failed console sign-in
    /// has only `Failed authentication`); else its failure field. `None`: it succeeded.
    pub fn error(&self) -> Option<(TermKind, &str)> {
        if let Some(code) = &self.error_code {
            return Some((TermKind::ErrorCode, code));
        }
        self.error_message
            .as_deref()
            .or(self.failure_field.as_deref())
            .map(|m| (TermKind::ErrorMessage, m))
    }

    pub fn failed(&self) -> bool {
        self.error().is_some()
    }

    /// The record's fields the rules are indexed by; `None` when the record holds them
    /// in a form the index cannot read, and every rule is tried.
    pub fn rule_keys(&self) -> Option<app::detect::RecordKeys<'_>> {
        self.keys_exact.then(|| app::detect::RecordKeys {
            event_name: Some(&self.name),
            event_source: Some(&self.source),
            error_code: self.error_code.as_deref(),
            identity_type: self.identity_type.as_deref(),
            identity_arn: self.identity_arn.as_deref(),
            user_agent: self.user_agent.as_deref(),
            role_delivery: self.role_delivery.as_deref(),
        })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("not a JSON object")]
    NotObject,
    #[error("no eventTime")]
    NoTime,
    #[error("unrecognised eventTime {0:?}")]
    BadTime(String),
    #[error("not a CloudTrail record (no eventSource, eventID, userIdentity or awsRegion)")]
    NotCloudTrail,
    #[error("LookupEvents element without a CloudTrailEvent string")]
    NoCloudTrailEvent,
}

/// Shortens hostile text for messages.
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn own(t: &Text<'_>) -> Option<String> {
    t.get().map(str::to_owned)
}

/// Parses one record. `fallback_account` comes from the file's key layout and is used
/// only when the record names no account at all.
pub fn normalize(raw: &[u8], fallback_account: Option<&str>) -> Result<Event, RecordError> {
    let first = raw.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(if first.is_none() {
            RecordError::Json("empty".into())
        } else {
            RecordError::NotObject
        });
    }
    let rec: Record<'_> =
        serde_json::from_slice(raw).map_err(|e| RecordError::Json(e.to_string()))?;
    // An aggregated event is timed by the start of the window it summarises.
    let window_start = rec.time_window.0.as_ref().and_then(|w| w.window_start.get());
    let time_text = rec.event_time.get().or(window_start).ok_or(RecordError::NoTime)?;
    let time_ms =
        parse_event_time(time_text).ok_or_else(|| RecordError::BadTime(clip(time_text, 64)))?;

    let insight = rec.insight_details.0.as_ref();
    let source = rec
        .event_source
        .get()
        .or_else(|| insight.and_then(|i| i.event_source.get()))
        .map(str::to_owned);
    let aggregated = rec.event_category.get() == Some("Aggregated");
    let name = rec
        .event_name
        .get()
        .or_else(|| insight.and_then(|i| i.event_name.get()))
        .map(str::to_owned)
        .or_else(|| {
            // A summary is named after what it summarises by: `Aggregated by eventName`.
            aggregated.then(|| {
                let by = rec
                    .summary
                    .0
                    .as_ref()
                    .and_then(|s| s.primary_dimension.0.as_ref())
                    .and_then(|d| d.dimension.get())
                    .map(|d| clip(d, 64))
                    .unwrap_or_else(|| "summary".into());
                format!("Aggregated by {by}")
            })
        });
    // An object with a name and a time is not enough (rule-test indexes look like that):
    // a record also carries at least one of the fields every CloudTrail writer sets.
    let looks_like_cloudtrail = rec.event_source.get().is_some()
        || rec.event_version.get().is_some()
        || rec.event_id.get().is_some()
        || rec.event_id_aggregated.get().is_some()
        || rec.aws_region.get().is_some()
        || rec.recipient_account_id.get().is_some()
        || rec.user_identity.0.is_some();
    if (source.is_none() && name.is_none()) || !looks_like_cloudtrail {
        return Err(RecordError::NotCloudTrail);
    }
    let source = source.unwrap_or_else(|| "(none)".into());
    let name = name.unwrap_or_else(|| "(none)".into());

    let ui = rec.user_identity.0.as_ref();
    let account = rec
        .recipient_account_id
        .get()
        .or_else(|| rec.account_id.get())
        .or_else(|| ui.and_then(|u| u.account_id.get()))
        .or(fallback_account)
        .unwrap_or("unknown")
        .to_owned();
    let event_key = match rec.event_id.get().or_else(|| rec.event_id_aggregated.get()) {
        Some(id) => match uuid::Uuid::try_parse(id) {
            Ok(u) => u.as_bytes().to_vec(),
            Err(_) => id.as_bytes().to_vec(),
        },
        // No eventID: the record's own content is its identity, so the same record
        // imported twice is still stored once.
        None => {
            let mut k = vec![b'#'];
            k.extend_from_slice(&Sha256::digest(raw)[..16]);
            k
        }
    };
    let event_type = own(&rec.event_type);
    let region = own(&rec.aws_region);
    let principal = resolve_principal(ui, &source, event_type.as_deref());
    let read_only = match rec.read_only.get() {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    let mut resources = extract_resources(&rec, &source, region.as_deref(), &account);
    if aggregated {
        // A summary names the resources it counts in its `resourceARN` statistics.
        if let Some(s) = serde_json::from_slice::<serde_json::Value>(raw)
            .ok()
            .as_ref()
            .and_then(app::aggregated::parse)
        {
            for arn in s.arns() {
                let kind = app::aggregated::resource_type(arn);
                push_resource(&mut resources, arn.to_owned(), kind, resource_name(arn), None);
            }
        }
    }
    let issued = issued_credential(&rec, &name);
    let error_code = own(&rec.error_code);
    // The rules' index reads the fields of `Event::rule_keys`: only when each is the
    // record's own as it holds it (text, a boolean or a whole number, or nothing).
    let plain = |t: &Text<'_>| !t.odd() && t.0.as_deref() != Some("");
    let session = ui.map(|u| &u.session_context);
    let keys_exact = rec.event_name.get().is_some()
        && rec.event_source.get().is_some()
        && plain(&rec.error_code)
        && plain(&rec.user_agent)
        && ui.is_some_and(|u| plain(&u.kind) && plain(&u.arn))
        && session.is_some_and(|s| !s.odd() && s.0.as_ref().is_none_or(|c| plain(&c.ec2_role_delivery)));
    let role_delivery = session.and_then(|s| s.0.as_ref()).and_then(|c| own(&c.ec2_role_delivery));
    let error_message = own(&rec.error_message);
    let failure_field = if error_code.is_none() && error_message.is_none() {
        failure_field(&rec, &name)
    } else {
        None
    };
    let key_change = key_change(&rec, &name);
    let sign_in = (name == "ConsoleLogin").then(|| SignIn {
        failed: error_code.is_some() || error_message.is_some() || failure_field.is_some(),
        mfa: mfa_used(&rec),
    });
    let s3 = s3_read(&rec, &source, &name);
    let shared_with = if rec.error_code.get().is_none() && rec.error_message.get().is_none() {
        shared_with(&rec, &name)
    } else {
        Vec::new()
    };
    Ok(Event {
        time_ms,
        event_key,
        region,
        source,
        name,
        event_type,
        category: own(&rec.event_category),
        read_only,
        error_code,
        error_message,
        source_ip: own(&rec.source_ip_address),
        user_agent: own(&rec.user_agent),
        access_key: ui.and_then(|u| own(&u.access_key_id)),
        principal,
        resources,
        request_id: own(&rec.request_id),
        shared_event_id: own(&rec.shared_event_id),
        issued,
        failure_field,
        sign_in,
        key_change,
        account,
        keys_exact,
        identity_type: ui.and_then(|u| own(&u.kind)),
        identity_arn: ui.and_then(|u| own(&u.arn)),
        role_delivery,
        s3_read: s3,
        shared_with,
        aws_insight: if rec.insight_details.0.is_some() {
            crate::anomalies::insights::AwsInsight::parse(raw)
        } else {
            None
        },
    })
}

/// The long-term access key a key call is about: the one `CreateAccessKey` made (in its
/// response), or the one `UpdateAccessKey` / `DeleteAccessKey` changed (in its request).
fn key_change(rec: &Record<'_>, name: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Response<'a> {
        #[serde(borrow, default)]
        access_key: super::record::Obj<KeyId<'a>>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct KeyId<'a> {
        #[serde(borrow, default)]
        access_key_id: Text<'a>,
    }
    let raw = match name {
        "CreateAccessKey" => {
            let r: Response<'_> = serde_json::from_str(rec.response_elements?.get()).ok()?;
            return r.access_key.0?.access_key_id.get().map(|k| clip(k, 128));
        }
        "UpdateAccessKey" | "DeleteAccessKey" => rec.request_parameters?,
        _ => return None,
    };
    let k: KeyId<'_> = serde_json::from_str(raw.get()).ok()?;
    k.access_key_id.get().map(|k| clip(k, 128))
}

/// Sign-in events record a failure in a field named after themselves, with no error
/// code and sometimes no message either: `responseElements.ConsoleLogin: "Failure"`
/// (also `CheckMfa`, `SwitchRole`, `PasswordUpdated`, `ExternalIdPDirectoryLogin`, …),
/// and IAM Identity Center in `serviceEventDetails` (`CredentialVerification: "Failure"`).
/// Returns the field as it reads: `ConsoleLogin: Failure`.
fn failure_field(rec: &Record<'_>, name: &str) -> Option<String> {
    let parts = [
        (rec.response_elements, false),
        (rec.service_event_details, true),
    ];
    for (raw, any_key) in parts {
        let Some(raw) = raw.filter(|r| r.get().contains("\"Failure\"")) else {
            continue;
        };
        let Ok(map) = serde_json::from_str::<std::collections::BTreeMap<String, serde_json::Value>>(
            raw.get(),
        ) else {
            continue;
        };
        let hit = map
            .iter()
            .find(|(k, v)| v.as_str() == Some("Failure") && (any_key || k.as_str() == name));
        if let Some((k, _)) = hit {
            return Some(format!("{}: Failure", clip(k, 64)));
        }
    }
    None
}

/// What a successful S3 data read moved; `None` for anything else.
fn s3_read(rec: &Record<'_>, source: &str, name: &str) -> Option<S3Read> {
    if source != "s3.amazonaws.com" || rec.error_code.get().is_some() || rec.error_message.get().is_some() {
        return None;
    }
    let list = if S3_OBJECT_READS.contains(&name) {
        false
    } else if S3_LISTS.contains(&name) {
        true
    } else {
        return None;
    };
    #[derive(serde::Deserialize)]
    struct Extra<'a> {
        #[serde(borrow, default, rename = "bytesTransferredOut")]
        bytes_out: Text<'a>,
        #[serde(borrow, default, rename = "AuthenticationMethod")]
        method: Text<'a>,
    }
    let extra = rec
        .additional_event_data
        .filter(|raw| raw.get().starts_with('{'))
        .and_then(|raw| serde_json::from_str::<Extra<'_>>(raw.get()).ok());
    let (bytes, presigned) = match &extra {
        Some(x) => (
            x.bytes_out.get().and_then(|b| b.parse::<u64>().ok()).unwrap_or(0),
            x.method.get() == Some("QueryString"),
        ),
        None => (0, false),
    };
    Some(S3Read { list, bytes, presigned })
}

/// The calls that share data or grant access to other accounts.
pub const SHARING_CALLS: &[&str] = &[
    "ModifySnapshotAttribute",
    "ModifyImageAttribute",
    "ModifyDBSnapshotAttribute",
    "ModifyDBClusterSnapshotAttribute",
    "CreateGrant",
    "PutBucketReplication",
    "PutBucketPolicy",
    "PutKeyPolicy",
];

/// Most recipient accounts kept per call (a hostile record can name thousands).
const MAX_SHARED: usize = 32;

/// The accounts a sharing call names as recipients (see [`SHARING_CALLS`]), each once.
fn shared_with(rec: &Record<'_>, name: &str) -> Vec<String> {
    if !SHARING_CALLS.contains(&name) {
        return Vec::new();
    }
    let Some(p) = rec
        .request_parameters
        .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match name {
        "ModifySnapshotAttribute" | "ModifyImageAttribute" => {
            // `createVolumePermission.add.items[].userId`, `launchPermission.add.items[].userId`.
            for perm in ["createVolumePermission", "launchPermission"] {
                if let Some(items) = p.get(perm).and_then(|x| x.get("add")).and_then(|x| x.get("items")) {
                    for it in items.as_array().into_iter().flatten() {
                        accounts_in(it.get("userId"), &mut out);
                    }
                }
            }
        }
        "ModifyDBSnapshotAttribute" | "ModifyDBClusterSnapshotAttribute" => {
            if p.get("attributeName").and_then(|a| a.as_str()) == Some("restore") {
                accounts_in(p.get("valuesToAdd"), &mut out);
            }
        }
        "CreateGrant" => accounts_in(p.get("granteePrincipal"), &mut out),
        "PutBucketReplication" => {
            let config = p.get("ReplicationConfiguration").or_else(|| p.get("replicationConfiguration"));
            let rules = config.and_then(|c| c.get("Rule").or_else(|| c.get("rule")));
            let rules: Vec<&serde_json::Value> = match rules {
                Some(serde_json::Value::Array(a)) => a.iter().collect(),
                Some(r) => vec![r],
                None => vec![],
            };
            for r in rules {
                let dest = r.get("Destination").or_else(|| r.get("destination"));
                accounts_in(dest.and_then(|d| d.get("Account").or_else(|| d.get("account"))), &mut out);
                // A destination bucket's ARN names no account; its owner is the
                // `Account` field above when it is someone else's.
            }
        }
        _ => {
            // A policy: `bucketPolicy` (an object) or `policy` (the JSON as text).
            let policy = p.get("bucketPolicy").or_else(|| p.get("policy"));
            let policy = match policy {
                Some(serde_json::Value::String(s)) => serde_json::from_str(s).ok(),
                Some(v) => Some(v.clone()),
                None => None,
            };
            if let Some(policy) = policy {
                let statements = match policy.get("Statement") {
                    Some(serde_json::Value::Array(a)) => a.clone(),
                    Some(s) => vec![s.clone()],
                    None => vec![],
                };
                for s in statements {
                    if s.get("Effect").and_then(|e| e.as_str()) != Some("Allow") {
                        continue;
                    }
                    accounts_in(s.get("Principal").and_then(|pr| pr.get("AWS")), &mut out);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out.truncate(MAX_SHARED);
    out
}

/// The accounts a value names: a 12-digit account id, or an ARN's account; in a string
/// or a list of them.
fn accounts_in(v: Option<&serde_json::Value>, out: &mut Vec<String>) {
    let one = |s: &str, out: &mut Vec<String>| {
        let s = s.trim();
        let acct = if s.starts_with("arn:") { s.split(':').nth(4).unwrap_or("") } else { s };
        if acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit()) && out.len() < 4 * MAX_SHARED {
            out.push(acct.to_owned());
        }
    };
    match v {
        Some(serde_json::Value::String(s)) => one(s, out),
        Some(serde_json::Value::Array(a)) => {
            for x in a {
                if let Some(s) = x.as_str() {
                    one(s, out);
                } else if let Some(items) = x.get("items") {
                    accounts_in(Some(items), out);
                }
            }
        }
        Some(serde_json::Value::Object(o)) => {
            // `valuesToAdd: {"AttributeValue": [...]}` and other wrappers.
            for x in o.values() {
                if x.is_string() || x.is_array() {
                    accounts_in(Some(x), out);
                }
            }
        }
        _ => {}
    }
}

/// `additionalEventData.MFAUsed` is `Yes` (a console sign-in with MFA).
fn mfa_used(rec: &Record<'_>) -> bool {
    #[derive(serde::Deserialize)]
    struct Extra<'a> {
        #[serde(borrow, default, rename = "MFAUsed")]
        mfa_used: Text<'a>,
    }
    rec.additional_event_data
        .and_then(|raw| serde_json::from_str::<Extra<'_>>(raw.get()).ok())
        .and_then(|x| x.mfa_used.get().map(|m| m.eq_ignore_ascii_case("yes")))
        .unwrap_or(false)
}

/// Extracts the record from one `LookupEvents` response element.
pub fn lookup_element_record(raw: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, RecordError> {
    let el: super::record::LookupElement<'_> =
        serde_json::from_slice(raw).map_err(|e| RecordError::Json(e.to_string()))?;
    match el.cloudtrail_event.0 {
        Some(std::borrow::Cow::Borrowed(s)) => Ok(std::borrow::Cow::Borrowed(s.as_bytes())),
        Some(std::borrow::Cow::Owned(s)) => Ok(std::borrow::Cow::Owned(s.into_bytes())),
        // The AWS CLI documentation shows the record inlined in some examples.
        None => {
            let v: serde_json::Value =
                serde_json::from_slice(raw).map_err(|e| RecordError::Json(e.to_string()))?;
            if v.get("eventTime").is_some() {
                Ok(std::borrow::Cow::Borrowed(raw))
            } else {
                Err(RecordError::NoCloudTrailEvent)
            }
        }
    }
}

/// Parses the `eventTime` formats seen in real data into UTC epoch milliseconds:
/// `2023-07-10T12:00:00Z` (what CloudTrail writes), with or without `T`/`Z`, with a
/// fraction of up to nine digits, and with a numeric UTC offset.
pub fn parse_event_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    // Fast path: exactly what CloudTrail writes.
    if b.len() == 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[19] == b'Z' {
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let mut v = 0u32;
            for &c in &b[r] {
                if !c.is_ascii_digit() {
                    return None;
                }
                v = v * 10 + u32::from(c - b'0');
            }
            Some(v)
        };
        if b[13] == b':' && b[16] == b':' {
            let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
            let dt = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
            return valid_ms(dt.and_utc().timestamp_millis());
        }
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return valid_ms(dt.timestamp_millis());
    }
    let trimmed = s.strip_suffix('Z').unwrap_or(s);
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(trimmed, fmt) {
            return valid_ms(dt.and_utc().timestamp_millis());
        }
    }
    None
}

/// Times Cairn can place on its time axis: 1970 to 2109.
fn valid_ms(ms: i64) -> Option<i64> {
    (0..(1i64 << 42)).contains(&ms).then_some(ms)
}

fn arn_account(arn: &str) -> Option<String> {
    arn.split(':')
        .nth(4)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
}

fn tail(arn: &str) -> &str {
    arn.rsplit([':', '/']).next().unwrap_or(arn)
}

/// Who acted, from the record's `userIdentity`: read by its type, then given who the
/// record says stands behind it.
fn resolve_principal(
    ui: Option<&UserIdentity<'_>>,
    source: &str,
    event_type: Option<&str>,
) -> Principal {
    let Some(ui) = ui else {
        return without_identity(source, event_type);
    };
    let who = Identity::of(ui);
    let kind = ui.kind.get().unwrap_or("");
    let mut p = match kind {
        "Root" => root(&who),
        "IAMUser" => iam_user(&who),
        "AssumedRole" | "FederatedUser" | "Role" => session(&who, kind),
        "AWSService" => service(ui.invoked_by.get().unwrap_or(source)),
        "AWSAccount" => aws_account(&who),
        "SAMLUser" | "WebIdentityUser" => federated_user(&who, kind),
        "IdentityCenterUser" => identity_center_user(&who),
        "Directory" => directory_user(&who),
        "" if ui.invoked_by.get().is_some() => service(ui.invoked_by.get().unwrap_or(source)),
        "" if event_type == Some("AwsServiceEvent") => service(source),
        _ => unrecognised(&who),
    };
    if p.origin.is_none() {
        p.origin = stated_origin(ui);
    }
    p
}

/// A `userIdentity` with what every type of it is read with: its ARN and its account.
struct Identity<'u> {
    ui: &'u UserIdentity<'u>,
    arn: Option<&'u str>,
    /// `accountId`, else the account in the ARN.
    account: Option<String>,
}

impl<'u> Identity<'u> {
    fn of(ui: &'u UserIdentity<'u>) -> Identity<'u> {
        let arn = ui.arn.get();
        let account = ui
            .account_id
            .get()
            .map(str::to_owned)
            .or_else(|| arn.and_then(arn_account));
        Identity { ui, arn, account }
    }

    /// The account as keys and names show it: `unknown` when the record gives none.
    fn acct(&self) -> &str {
        self.account.as_deref().unwrap_or("unknown")
    }
}

/// Who acted in a record without `userIdentity`: CloudTrail for an Insight, the
/// service for a service event, else no one known.
fn without_identity(source: &str, event_type: Option<&str>) -> Principal {
    match event_type {
        Some("AwsCloudTrailInsight") => service("cloudtrail.amazonaws.com"),
        Some("AwsServiceEvent") => service(source),
        _ => unknown("no userIdentity".into(), None),
    }
}

/// An AWS service acting for itself, keyed by its name.
fn service(name: &str) -> Principal {
    Principal {
        key: format!("service:{name}"),
        kind: "AWSService".into(),
        display: name.to_owned(),
        arn: None,
        account: None,
        origin: None,
        parent: None,
    }
}

/// The account's root user, keyed by its ARN (made from the account when absent).
fn root(who: &Identity<'_>) -> Principal {
    let acct = who.acct();
    let arn = who
        .arn
        .map(str::to_owned)
        .unwrap_or_else(|| format!("arn:aws:iam::{acct}:root"));
    Principal {
        display: format!("root ({acct})"),
        key: arn.clone(),
        kind: "Root".into(),
        arn: Some(arn),
        account: who.account.clone(),
        origin: None,
        parent: None,
    }
}

/// An IAM user, named by `userName` or the end of its ARN, keyed by its ARN (made from
/// the account and name when absent).
fn iam_user(who: &Identity<'_>) -> Principal {
    let name = who
        .ui
        .user_name
        .get()
        .or(who.arn.map(tail))
        .unwrap_or("unknown");
    let arn = who
        .arn
        .map(str::to_owned)
        .unwrap_or_else(|| format!("arn:aws:iam::{}:user/{name}", who.acct()));
    Principal {
        display: name.to_owned(),
        key: arn.clone(),
        kind: "IAMUser".into(),
        arn: Some(arn),
        account: who.account.clone(),
        origin: None,
        parent: None,
    }
}

/// A role session, a federated user or a role: keyed by its ARN (else by its principal
/// id), with the role or user that issued it as its parent.
fn session(who: &Identity<'_>, kind: &str) -> Principal {
    let ui = who.ui;
    let parent = ui
        .session_context
        .0
        .as_ref()
        .and_then(|s| s.session_issuer.0.as_ref())
        .and_then(session_issuer);
    let key = match who.arn {
        Some(a) => a.to_owned(),
        None => format!(
            "{}:{}",
            kind.to_ascii_lowercase(),
            ui.principal_id.get().unwrap_or("unknown")
        ),
    };
    Principal {
        display: session_display(who, &key),
        key,
        kind: kind.to_owned(),
        arn: who.arn.map(str::to_owned),
        account: who.account.clone(),
        origin: None,
        parent,
    }
}

/// The role, user or root that issued a session, when the record gives its ARN.
fn session_issuer(i: &SessionIssuer<'_>) -> Option<Box<Principal>> {
    let iarn = i.arn.get()?;
    let ikind = match i.kind.get() {
        Some("IAMUser") => "IAMUser",
        Some("Root") => "Root",
        _ => "Role",
    };
    Some(Box::new(Principal {
        key: iarn.to_owned(),
        kind: ikind.into(),
        display: i.user_name.get().unwrap_or_else(|| tail(iarn)).to_owned(),
        arn: Some(iarn.to_owned()),
        account: i
            .account_id
            .get()
            .map(str::to_owned)
            .or_else(|| arn_account(iarn)),
        origin: None,
        parent: None,
    }))
}

/// How a session reads: `Role/session` from an assumed-role ARN, the user of a
/// federated-user ARN, else its user name, its principal id or its key.
fn session_display(who: &Identity<'_>, key: &str) -> String {
    let arn = who.arn;
    match arn.and_then(|a| a.split_once(":assumed-role/")) {
        Some((_, rest)) => rest.to_owned(),
        None => arn
            .and_then(|a| a.split_once(":federated-user/").map(|(_, r)| r.to_owned()))
            .or_else(|| who.ui.user_name.get().map(str::to_owned))
            .or_else(|| who.ui.principal_id.get().map(str::to_owned))
            .unwrap_or_else(|| key.to_owned()),
    }
}

/// Another account acting (through the service `invokedBy` names, if any), keyed by
/// the account and its principal id.
fn aws_account(who: &Identity<'_>) -> Principal {
    let acct = who.acct();
    Principal {
        key: format!("account:{acct}:{}", who.ui.principal_id.get().unwrap_or("")),
        kind: "AWSAccount".into(),
        display: match who.ui.invoked_by.get() {
            Some(w) => format!("account {acct} via {w}"),
            None => format!("account {acct}"),
        },
        arn: None,
        account: who.account.clone(),
        origin: None,
        parent: None,
    }
}

/// A SAML or web identity user, keyed by its identity provider and user, which is also
/// its origin.
fn federated_user(who: &Identity<'_>, kind: &str) -> Principal {
    let ui = who.ui;
    let idp = ui.identity_provider.get().unwrap_or("unknown");
    let user = ui
        .user_name
        .get()
        .or(ui.principal_id.get())
        .unwrap_or("unknown");
    Principal {
        key: format!("{}:{idp}:{user}", kind.to_ascii_lowercase()),
        kind: kind.to_owned(),
        display: user.to_owned(),
        arn: None,
        account: who.account.clone(),
        origin: Some(format!("identity provider {idp}")),
        parent: None,
    }
}

/// An IAM Identity Center user, keyed by its identity store and user id.
fn identity_center_user(who: &Identity<'_>) -> Principal {
    let ui = who.ui;
    let obo = ui.on_behalf_of.0.as_ref();
    let store = obo
        .and_then(|o| o.identity_store_arn.get())
        .unwrap_or("unknown");
    let user = obo
        .and_then(|o| o.user_id.get())
        .or(ui.user_name.get())
        .or(ui.principal_id.get())
        .unwrap_or("unknown");
    Principal {
        key: format!("identitycenter:{store}:{user}"),
        kind: "IdentityCenterUser".into(),
        display: ui.user_name.get().unwrap_or(user).to_owned(),
        arn: None,
        account: who.account.clone(),
        origin: Some(format!("Identity Center user {user}")),
        parent: None,
    }
}

/// A Directory Service user, keyed by the account and user.
fn directory_user(who: &Identity<'_>) -> Principal {
    let user = who
        .ui
        .user_name
        .get()
        .or(who.ui.principal_id.get())
        .unwrap_or("unknown");
    Principal {
        key: format!("directory:{}:{user}", who.acct()),
        kind: "Directory".into(),
        display: user.to_owned(),
        arn: None,
        account: who.account.clone(),
        origin: None,
        parent: None,
    }
}

/// An identity of a type Cairn does not know: an `Unknown` named by its ARN, user
/// name or principal id, else by its account.
fn unrecognised(who: &Identity<'_>) -> Principal {
    let name = who
        .arn
        .or(who.ui.user_name.get())
        .or(who.ui.principal_id.get())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("account {}", who.acct()));
    unknown(name, who.account.clone())
}

/// Who the record says stands behind an identity: its source identity, else its
/// Identity Center user, else its web identity provider.
fn stated_origin(ui: &UserIdentity<'_>) -> Option<String> {
    let sc = ui.session_context.0.as_ref();
    if let Some(si) = sc.and_then(|s| s.source_identity.get()) {
        return Some(format!("source identity {si}"));
    }
    if let Some(o) = ui.on_behalf_of.0.as_ref().and_then(|o| o.user_id.get()) {
        return Some(format!("Identity Center user {o}"));
    }
    sc.and_then(|s| s.web_id_federation_data.0.as_ref())
        .and_then(|w| w.federated_provider.get())
        .map(|fp| format!("web identity provider {fp}"))
}

fn unknown(who: String, account: Option<String>) -> Principal {
    Principal {
        key: format!("unknown:{who}"),
        kind: "Unknown".into(),
        display: who,
        arn: None,
        account,
        origin: None,
        parent: None,
    }
}

fn push_resource(
    out: &mut Vec<Resource>,
    arn: String,
    kind: &str,
    name: &str,
    account: Option<&str>,
) {
    if out.len() >= MAX_RESOURCES || out.iter().any(|r| r.arn == arn) {
        return;
    }
    out.push(Resource {
        account: account.map(str::to_owned).or_else(|| arn_account(&arn)),
        arn,
        kind: kind.to_owned(),
        name: name.to_owned(),
    });
}

/// What a call touched: the resources the record lists, then those its request
/// parameters name, service by service. The order matters: past [`MAX_RESOURCES`],
/// the later ones are left out.
fn extract_resources(
    rec: &Record<'_>,
    source: &str,
    region: Option<&str>,
    account: &str,
) -> Vec<Resource> {
    let mut out = Vec::new();
    listed_resources(&mut out, rec);
    let Some(params) = rec.request_parameters else {
        return out;
    };
    let Ok(p) = serde_json::from_str::<RequestParams<'_>>(params.get()) else {
        return out;
    };
    let at = Place {
        service: source.strip_suffix(".amazonaws.com").unwrap_or(source),
        region: region.unwrap_or(""),
        account,
    };
    s3_resources(&mut out, &p);
    ec2_resources(&mut out, &p, &at);
    iam_resources(&mut out, &p, &at);
    lambda_function(&mut out, &p, &at);
    kms_key(&mut out, &p, &at);
    cloudtrail_trail(&mut out, &p, &at);
    rds_snapshot(&mut out, &p, &at);
    secret(&mut out, &p, &at);
    out
}

/// Where a call ran, for the ARNs made from the bare names and ids in its parameters.
struct Place<'a> {
    /// The service's short name: `s3`, `iam`, `lambda`, ...
    service: &'a str,
    region: &'a str,
    account: &'a str,
}

/// The resources the record lists itself (`resources[].ARN`), with their type and
/// account.
fn listed_resources(out: &mut Vec<Resource>, rec: &Record<'_>) {
    let Some(list) = rec.resources.0.as_ref() else {
        return;
    };
    for r in list.iter().filter_map(|r| r.0.as_ref()) {
        if let Some(arn) = r.arn.get() {
            let kind = r.kind.get().unwrap_or("unknown");
            push_resource(
                out,
                arn.to_owned(),
                kind,
                resource_name(arn),
                r.account_id.get(),
            );
        }
    }
}

/// The bucket a call names, and its object when it names a key too (any service).
fn s3_resources(out: &mut Vec<Resource>, p: &RequestParams<'_>) {
    let Some(bucket) = p.bucket_name.get() else {
        return;
    };
    push_resource(
        out,
        format!("arn:aws:s3:::{bucket}"),
        "AWS::S3::Bucket",
        bucket,
        None,
    );
    if let Some(key) = p.key.get() {
        push_resource(
            out,
            format!("arn:aws:s3:::{bucket}/{key}"),
            "AWS::S3::Object",
            key,
            None,
        );
    }
}

/// EC2 instances (one, or a set), security groups, snapshots and images named by id
/// (any service).
fn ec2_resources(out: &mut Vec<Resource>, p: &RequestParams<'_>, at: &Place<'_>) {
    let Place {
        region, account, ..
    } = *at;
    let ec2 = |kind: &str, id: &str| format!("arn:aws:ec2:{region}:{account}:{kind}/{id}");
    let instances = p.instance_id.get().into_iter().chain(
        p.instances_set
            .0
            .iter()
            .flat_map(|set| set.items.iter().filter_map(|i| i.instance_id.get())),
    );
    for id in instances {
        push_resource(
            out,
            ec2("instance", id),
            "AWS::EC2::Instance",
            id,
            Some(account),
        );
    }
    if let Some(id) = p.group_id.get() {
        push_resource(
            out,
            ec2("security-group", id),
            "AWS::EC2::SecurityGroup",
            id,
            Some(account),
        );
    }
    // Snapshots and images are named without their owner's account in their ARNs.
    if let Some(id) = p.snapshot_id.get() {
        push_resource(
            out,
            format!("arn:aws:ec2:{region}::snapshot/{id}"),
            "AWS::EC2::Snapshot",
            id,
            Some(account),
        );
    }
    if let Some(id) = p.image_id.get() {
        push_resource(
            out,
            format!("arn:aws:ec2:{region}::image/{id}"),
            "AWS::EC2::Image",
            id,
            Some(account),
        );
    }
}

/// The role, user and policy an IAM call names, and a role any call passes by ARN.
fn iam_resources(out: &mut Vec<Resource>, p: &RequestParams<'_>, at: &Place<'_>) {
    let account = at.account;
    if at.service == "iam" {
        if let Some(n) = p.role_name.get() {
            push_resource(
                out,
                format!("arn:aws:iam::{account}:role/{n}"),
                "AWS::IAM::Role",
                n,
                Some(account),
            );
        }
        if let Some(n) = p.user_name.get() {
            push_resource(
                out,
                format!("arn:aws:iam::{account}:user/{n}"),
                "AWS::IAM::User",
                n,
                Some(account),
            );
        }
        if let Some(a) = p.policy_arn.get() {
            push_resource(
                out,
                a.to_owned(),
                "AWS::IAM::Policy",
                resource_name(a),
                None,
            );
        }
    }
    if let Some(a) = p.role_arn.get() {
        push_resource(out, a.to_owned(), "AWS::IAM::Role", resource_name(a), None);
    }
}

/// The function a Lambda call names, by name or by ARN.
fn lambda_function(out: &mut Vec<Resource>, p: &RequestParams<'_>, at: &Place<'_>) {
    let Some(f) = p.function_name.get().filter(|_| at.service == "lambda") else {
        return;
    };
    let arn = if f.starts_with("arn:") {
        f.to_owned()
    } else {
        format!("arn:aws:lambda:{}:{}:function:{f}", at.region, at.account)
    };
    let name = resource_name(&arn).to_owned();
    push_resource(out, arn, "AWS::Lambda::Function", &name, Some(at.account));
}

/// The key a KMS call names, by ARN, alias or key id.
fn kms_key(out: &mut Vec<Resource>, p: &RequestParams<'_>, at: &Place<'_>) {
    let Some(k) = p.key_id.get().filter(|_| at.service == "kms") else {
        return;
    };
    let Place {
        region, account, ..
    } = *at;
    let arn = if k.starts_with("arn:") {
        k.to_owned()
    } else if k.starts_with("alias/") {
        format!("arn:aws:kms:{region}:{account}:{k}")
    } else {
        format!("arn:aws:kms:{region}:{account}:key/{k}")
    };
    push_resource(out, arn, "AWS::KMS::Key", k, Some(account));
}

/// The trail a CloudTrail call names (`name`, else `trailName`), by name or ARN.
fn cloudtrail_trail(out: &mut Vec<Resource>, p: &RequestParams<'_>, at: &Place<'_>) {
    let Some(n) = p
        .name
        .get()
        .or(p.trail_name.get())
        .filter(|_| at.service == "cloudtrail")
    else {
        return;
    };
    let arn = if n.starts_with("arn:") {
        n.to_owned()
    } else {
        format!("arn:aws:cloudtrail:{}:{}:trail/{n}", at.region, at.account)
    };
    let name = resource_name(&arn).to_owned();
    push_resource(out, arn, "AWS::CloudTrail::Trail", &name, Some(at.account));
}

/// The database snapshot an RDS call names.
fn rds_snapshot(out: &mut Vec<Resource>, p: &RequestParams<'_>, at: &Place<'_>) {
    let Some(n) = p
        .db_snapshot_identifier
        .get()
        .filter(|_| at.service == "rds")
    else {
        return;
    };
    push_resource(
        out,
        format!("arn:aws:rds:{}:{}:snapshot:{n}", at.region, at.account),
        "AWS::RDS::DBSnapshot",
        n,
        Some(at.account),
    );
}

/// The secret a Secrets Manager call names, by name or ARN.
fn secret(out: &mut Vec<Resource>, p: &RequestParams<'_>, at: &Place<'_>) {
    let Some(s) = p.secret_id.get().filter(|_| at.service == "secretsmanager") else {
        return;
    };
    let arn = if s.starts_with("arn:") {
        s.to_owned()
    } else {
        format!(
            "arn:aws:secretsmanager:{}:{}:secret:{s}",
            at.region, at.account
        )
    };
    push_resource(out, arn, "AWS::SecretsManager::Secret", s, Some(at.account));
}

/// The last path or colon segment of an ARN, for display.
fn resource_name(arn: &str) -> &str {
    match arn.strip_prefix("arn:aws:s3:::") {
        Some(rest) => rest.split_once('/').map(|(_, k)| k).unwrap_or(rest),
        None => tail(arn),
    }
}

fn issued_credential(rec: &Record<'_>, name: &str) -> Option<IssuedCredential> {
    if !matches!(
        name,
        "AssumeRole"
            | "AssumeRoleWithSAML"
            | "AssumeRoleWithWebIdentity"
            | "GetFederationToken"
            | "GetSessionToken"
            | "AssumeRoot"
    ) {
        return None;
    }
    let resp: IssuedCredentialsResponse<'_> =
        serde_json::from_str(rec.response_elements?.get()).ok()?;
    let access_key = resp.credentials.0.as_ref()?.access_key_id.get()?.to_owned();
    Some(IssuedCredential {
        access_key,
        session_arn: resp
            .assumed_role_user
            .0
            .as_ref()
            .and_then(|a| a.arn.get())
            .map(str::to_owned),
        source_identity: resp.source_identity.get().map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formats() {
        assert_eq!(parse_event_time("1970-01-01T00:00:01Z"), Some(1000));
        let base = parse_event_time("2021-04-27T17:15:20Z").unwrap();
        assert_eq!(parse_event_time("2021-04-27 17:15:20"), Some(base));
        assert_eq!(
            parse_event_time("2021-04-27 17:15:20.000000000"),
            Some(base)
        );
        assert_eq!(
            parse_event_time("2021-04-27 17:15:20.250"),
            Some(base + 250)
        );
        assert_eq!(parse_event_time("2021-04-27 17:15:20Z"), Some(base));
        assert_eq!(parse_event_time("2021-04-27T19:15:20+02:00"), Some(base));
        assert_eq!(parse_event_time("redacted"), None);
        assert_eq!(parse_event_time("..."), None);
        assert_eq!(parse_event_time("2021-13-27T17:15:20Z"), None);
        assert_eq!(parse_event_time("1960-01-01T00:00:00Z"), None);
    }

    fn rec(ui: &str) -> Event {
        let raw = format!(
            r#"{{"eventTime":"2024-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","recipientAccountId":"111122223333","eventID":"6a1f0a34-5bd4-4b7f-9a52-96d2e3a2f8b0","userIdentity":{ui},"requestParameters":{{"bucketName":"b","key":"k/1.txt"}}}}"#
        );
        normalize(raw.as_bytes(), None).unwrap()
    }

    #[test]
    fn identity_types() {
        let e = rec(
            r#"{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","userName":"alice","accountId":"111122223333"}"#,
        );
        assert_eq!(
            (e.principal.kind.as_str(), e.principal.display.as_str()),
            ("IAMUser", "alice")
        );
        assert_eq!(e.principal.key, "arn:aws:iam::111122223333:user/alice");

        let e = rec(
            r#"{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Admin/bob","accessKeyId":"ASIAX","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/Admin","userName":"Admin"},"sourceIdentity":"bob@example.com"}}"#,
        );
        assert_eq!(e.principal.kind, "AssumedRole");
        assert_eq!(e.principal.display, "Admin/bob");
        assert_eq!(
            e.principal.origin.as_deref(),
            Some("source identity bob@example.com")
        );
        let parent = e.principal.parent.as_ref().unwrap();
        assert_eq!(
            (parent.kind.as_str(), parent.key.as_str()),
            ("Role", "arn:aws:iam::111122223333:role/Admin")
        );
        assert_eq!(e.access_key.as_deref(), Some("ASIAX"));

        let e = rec(r#"{"type":"Root","accountId":"111122223333"}"#);
        assert_eq!(
            (e.principal.kind.as_str(), e.principal.key.as_str()),
            ("Root", "arn:aws:iam::111122223333:root")
        );

        let e = rec(r#"{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}"#);
        assert_eq!(
            (e.principal.kind.as_str(), e.principal.key.as_str()),
            ("AWSService", "service:ec2.amazonaws.com")
        );

        let e = rec(
            r#"{"type":"FederatedUser","arn":"arn:aws:sts::111122223333:federated-user/carol","sessionContext":{"sessionIssuer":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/dave","userName":"dave"}}}"#,
        );
        assert_eq!(
            (e.principal.kind.as_str(), e.principal.display.as_str()),
            ("FederatedUser", "carol")
        );
        assert_eq!(e.principal.parent.as_ref().unwrap().kind, "IAMUser");

        let e = rec(
            r#"{"type":"SAMLUser","userName":"erin@corp","identityProvider":"arn:aws:iam::111122223333:saml-provider/Okta"}"#,
        );
        assert_eq!(
            e.principal.key,
            "samluser:arn:aws:iam::111122223333:saml-provider/Okta:erin@corp"
        );

        let e = rec(
            r#"{"type":"WebIdentityUser","userName":"frank","identityProvider":"accounts.google.com"}"#,
        );
        assert_eq!(e.principal.kind, "WebIdentityUser");

        let e = rec(
            r#"{"type":"IdentityCenterUser","accountId":"111122223333","onBehalfOf":{"userId":"u-1","identityStoreArn":"arn:aws:identitystore::111122223333:identitystore/d-1"}}"#,
        );
        assert_eq!(e.principal.kind, "IdentityCenterUser");
        assert_eq!(
            e.principal.origin.as_deref(),
            Some("Identity Center user u-1")
        );

        let e = rec(r#"{"type":"AWSAccount","accountId":"999988887777","principalId":"AIDAX"}"#);
        assert_eq!(e.principal.kind, "AWSAccount");

        let e = rec(r#"{"accountId":"111122223333","invokedBy":"secretsmanager.amazonaws.com"}"#);
        assert_eq!(e.principal.kind, "AWSService");

        let e = rec(r#"{"type":"Unknown","principalId":"x"}"#);
        assert_eq!(e.principal.kind, "Unknown");

        // A hostile identity of the wrong shape does not lose the event.
        let e = rec(r#""<script>alert(1)</script>""#);
        assert_eq!(e.principal.kind, "Unknown");
    }

    #[test]
    fn resources_from_request_parameters() {
        let e = rec(r#"{"type":"Root","accountId":"111122223333"}"#);
        let arns: Vec<_> = e.resources.iter().map(|r| r.arn.as_str()).collect();
        assert_eq!(arns, vec!["arn:aws:s3:::b", "arn:aws:s3:::b/k/1.txt"]);
        assert_eq!(e.resources[1].name, "k/1.txt");
    }

    #[test]
    fn rejects_with_reasons() {
        assert_eq!(normalize(b"[1]", None).unwrap_err(), RecordError::NotObject);
        assert_eq!(
            normalize(br#"{"eventName":"X"}"#, None).unwrap_err(),
            RecordError::NoTime
        );
        assert!(matches!(
            normalize(br#"{"eventName":"X","eventTime":"redacted"}"#, None),
            Err(RecordError::BadTime(_))
        ));
        assert_eq!(
            normalize(br#"{"eventTime":"2024-01-01T00:00:00Z"}"#, None).unwrap_err(),
            RecordError::NotCloudTrail
        );
        // A rule-test index line: a name and a time, nothing else of a record.
        assert_eq!(
            normalize(
                br#"{"rule_id":"R","eventName":"X","eventTime":"2024-01-01T00:00:00Z"}"#,
                None
            )
            .unwrap_err(),
            RecordError::NotCloudTrail
        );
        assert!(matches!(
            normalize(br#"{"eventTime":"#, None),
            Err(RecordError::Json(_))
        ));
    }

    /// An aggregated event, as the CloudTrail user guide lists its fields.
    const AGGREGATED: &str = r#"{"eventVersion":"1.0","accountId":"111122223333","eventId":"5d3c1a2b-7e44-4c1d-9f0a-2b6c8d9e0f11","eventCategory":"Aggregated","eventType":"AwsAggregatedEvent","awsRegion":"us-east-1","eventSource":"s3.amazonaws.com","timeWindow":{"windowStart":"2025-11-20T10:05:00Z","windowEnd":"2025-11-20T10:10:00Z","windowSize":"PT5M"},"summary":{"primaryDimension":{"dimension":"eventName","statistics":[{"name":"GetObject","value":4812}],"aggregationType":"Count"},"details":[{"dimension":"resourceARN","statistics":[{"name":"arn:aws:s3:::prod-data","value":4800},{"name":"arn:aws:s3:::logs/2025/a.gz","value":12}],"aggregationType":"Count"}]}}"#;

    #[test]
    fn aggregated_events_are_kept_timed_by_their_window() {
        let e = normalize(AGGREGATED.as_bytes(), None).unwrap();
        assert_eq!(e.time_ms, parse_event_time("2025-11-20T10:05:00Z").unwrap());
        assert_eq!(e.account, "111122223333");
        assert_eq!(e.category.as_deref(), Some("Aggregated"));
        assert_eq!(e.event_type.as_deref(), Some("AwsAggregatedEvent"));
        assert_eq!(e.name, "Aggregated by eventName");
        assert_eq!(e.source, "s3.amazonaws.com");
        assert_eq!(
            e.event_key,
            uuid::Uuid::parse_str("5d3c1a2b-7e44-4c1d-9f0a-2b6c8d9e0f11").unwrap().as_bytes().to_vec()
        );
        // The resources it counts are its resources, so their pages show the summary.
        assert_eq!(
            e.resources.iter().map(|r| (r.kind.as_str(), r.name.as_str())).collect::<Vec<_>>(),
            [("AWS::S3::Bucket", "prod-data"), ("AWS::S3::Object", "2025/a.gz")]
        );
        // Without a window, it is still refused for want of a time.
        let no_window = AGGREGATED.replace("\"timeWindow\"", "\"window\"");
        assert_eq!(normalize(no_window.as_bytes(), None).unwrap_err(), RecordError::NoTime);
    }

    #[test]
    fn records_without_event_id_get_a_content_key() {
        let a = normalize(
            br#"{"eventTime":"2024-01-01T00:00:00Z","eventSource":"s","eventName":"X"}"#,
            None,
        )
        .unwrap();
        let b = normalize(
            br#"{"eventTime":"2024-01-01T00:00:00Z","eventSource":"s","eventName":"X"}"#,
            None,
        )
        .unwrap();
        let c = normalize(
            br#"{"eventTime":"2024-01-01T00:00:00Z","eventSource":"s","eventName":"Y"}"#,
            None,
        )
        .unwrap();
        assert_eq!(a.event_key, b.event_key);
        assert_ne!(a.event_key, c.event_key);
        assert_eq!(a.account, "unknown");
    }

    #[test]
    fn assume_role_issues_a_credential() {
        let raw = br#"{"eventTime":"2024-01-01T00:00:00Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","responseElements":{"credentials":{"accessKeyId":"ASIAEXAMPLE"},"assumedRoleUser":{"arn":"arn:aws:sts::1:assumed-role/R/s"}}}"#;
        let e = normalize(raw, None).unwrap();
        let c = e.issued.unwrap();
        assert_eq!(c.access_key, "ASIAEXAMPLE");
        assert_eq!(
            c.session_arn.as_deref(),
            Some("arn:aws:sts::1:assumed-role/R/s")
        );
    }

    fn signin(extra: &str) -> Event {
        let raw = format!(
            r#"{{"eventTime":"2024-01-01T00:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::1:user/a"}}{extra}}}"#
        );
        normalize(raw.as_bytes(), None).unwrap()
    }

    #[test]
    fn failed_sign_ins_are_failures() {
        // What CloudTrail writes for a wrong password: a message, no code.
        let e = signin(
            r#","errorMessage":"Failed authentication","responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"MFAUsed":"No"}"#,
        );
        assert_eq!(
            e.error(),
            Some((TermKind::ErrorMessage, "Failed authentication"))
        );
        assert_eq!(e.sign_in, Some(SignIn { failed: true, mfa: false }));
        // Only the failure field.
        let e = signin(r#","responseElements":{"ConsoleLogin":"Failure"}"#);
        assert_eq!(e.error(), Some((TermKind::ErrorMessage, "ConsoleLogin: Failure")));
        assert!(e.sign_in.unwrap().failed);
        // A success with MFA.
        let e = signin(
            r#","responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"Yes"}"#,
        );
        assert_eq!(e.error(), None);
        assert_eq!(e.sign_in, Some(SignIn { failed: false, mfa: true }));
        // An error code wins over the message.
        let e = signin(r#","errorCode":"AccessDenied","errorMessage":"no""#);
        assert_eq!(e.error(), Some((TermKind::ErrorCode, "AccessDenied")));
        // A "Failure" under another key of another event is not a failure.
        let raw = br#"{"eventTime":"2024-01-01T00:00:00Z","eventSource":"x.amazonaws.com","eventName":"Describe","responseElements":{"status":"Failure"}}"#;
        let e = normalize(raw, None).unwrap();
        assert_eq!(e.error(), None);
        assert_eq!(e.sign_in, None);
        // Identity Center reports it under serviceEventDetails.
        let raw = br#"{"eventTime":"2024-01-01T00:00:00Z","eventSource":"signin.amazonaws.com","eventName":"CredentialVerification","serviceEventDetails":{"CredentialVerification":"Failure","CredentialType":"PASSWORD"}}"#;
        let e = normalize(raw, None).unwrap();
        assert_eq!(
            e.error(),
            Some((TermKind::ErrorMessage, "CredentialVerification: Failure"))
        );
    }

    fn identity(json: &str) -> UserIdentity<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn without_an_identity_it_is_the_service_or_no_one() {
        let s3 = "s3.amazonaws.com";
        let key = |event_type| without_identity(s3, Some(event_type)).key;
        assert_eq!(
            key("AwsCloudTrailInsight"),
            "service:cloudtrail.amazonaws.com"
        );
        assert_eq!(key("AwsServiceEvent"), "service:s3.amazonaws.com");
        assert_eq!(key("AwsApiCall"), "unknown:no userIdentity");
        assert_eq!(without_identity(s3, None).kind, "Unknown");
    }

    #[test]
    fn a_session_reads_as_role_and_session_else_as_what_names_it() {
        let show = |json: &str| session_display(&Identity::of(&identity(json)), "the-key");
        let role = r#"{"arn":"arn:aws:sts::1:assumed-role/Admin/bob","userName":"u"}"#;
        assert_eq!(show(role), "Admin/bob");
        let user = r#"{"arn":"arn:aws:sts::1:federated-user/carol","userName":"u"}"#;
        assert_eq!(show(user), "carol");
        assert_eq!(
            show(r#"{"arn":"arn:aws:iam::1:role/R","userName":"u"}"#),
            "u"
        );
        assert_eq!(show(r#"{"principalId":"AROAX:s"}"#), "AROAX:s");
        assert_eq!(show("{}"), "the-key");
        // Without an ARN it is keyed by type and principal id; its issuer is its parent,
        // in the account of the issuer's ARN.
        let ui = identity(
            r#"{"principalId":"AROAX:s","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::222233334444:role/R"}}}"#,
        );
        let p = session(&Identity::of(&ui), "AssumedRole");
        assert_eq!(p.key, "assumedrole:AROAX:s");
        let parent = p.parent.unwrap();
        assert_eq!(
            (parent.kind.as_str(), parent.display.as_str()),
            ("Role", "R")
        );
        assert_eq!(parent.account.as_deref(), Some("222233334444"));
    }

    #[test]
    fn the_stated_origin_is_the_source_identity_first() {
        let origin = |json: &str| stated_origin(&identity(json));
        let web = r#""webIdFederationData":{"federatedProvider":"idp"}"#;
        let all = format!(
            r#"{{"sessionContext":{{"sourceIdentity":"si",{web}}},"onBehalfOf":{{"userId":"u-1"}}}}"#
        );
        assert_eq!(origin(&all).as_deref(), Some("source identity si"));
        let no_source =
            format!(r#"{{"sessionContext":{{{web}}},"onBehalfOf":{{"userId":"u-1"}}}}"#);
        assert_eq!(
            origin(&no_source).as_deref(),
            Some("Identity Center user u-1")
        );
        let only_web = format!(r#"{{"sessionContext":{{{web}}}}}"#);
        assert_eq!(
            origin(&only_web).as_deref(),
            Some("web identity provider idp")
        );
        assert_eq!(origin("{}"), None);
        // A type with an origin of its own keeps it.
        let ui = identity(
            r#"{"type":"SAMLUser","userName":"erin","identityProvider":"okta","sessionContext":{"sourceIdentity":"si"}}"#,
        );
        let p = resolve_principal(Some(&ui), "sts.amazonaws.com", None);
        assert_eq!(p.origin.as_deref(), Some("identity provider okta"));
    }

    fn resources(source: &str, rec: &str) -> Vec<(String, String)> {
        let rec: Record<'_> = serde_json::from_str(rec).unwrap();
        extract_resources(&rec, source, Some("eu-west-1"), "111122223333")
            .into_iter()
            .map(|r| (r.arn, r.kind))
            .collect()
    }

    #[test]
    fn listed_resources_come_first_and_the_list_is_capped() {
        let listed: Vec<String> = (0..MAX_RESOURCES + 8)
            .map(|i| format!(r#"{{"ARN":"arn:aws:s3:::b{i}","type":"AWS::S3::Bucket"}}"#))
            .collect();
        let rec = format!(
            r#"{{"resources":[{}],"requestParameters":{{"bucketName":"named"}}}}"#,
            listed.join(",")
        );
        let out = resources("s3.amazonaws.com", &rec);
        assert_eq!(out.len(), MAX_RESOURCES);
        assert_eq!(out[0].0, "arn:aws:s3:::b0");
        assert!(out.iter().all(|(arn, _)| arn != "arn:aws:s3:::named"));
    }

    #[test]
    fn parameters_name_resources_of_their_own_service() {
        let params =
            |source: &str, p: &str| resources(source, &format!(r#"{{"requestParameters":{p}}}"#));
        let pair = |arn: &str, kind: &str| (arn.to_owned(), kind.to_owned());
        let key = r#"{"keyId":"alias/app"}"#;
        assert_eq!(
            params("kms.amazonaws.com", key),
            vec![pair(
                "arn:aws:kms:eu-west-1:111122223333:alias/app",
                "AWS::KMS::Key"
            )]
        );
        assert_eq!(params("s3.amazonaws.com", key), vec![]);
        // A role passed by ARN counts in any call; a role by name only in IAM's.
        let role = r#"{"roleName":"R","roleArn":"arn:aws:iam::111122223333:role/Other"}"#;
        assert_eq!(params("iam.amazonaws.com", role).len(), 2);
        assert_eq!(
            params("ec2.amazonaws.com", role),
            vec![pair(
                "arn:aws:iam::111122223333:role/Other",
                "AWS::IAM::Role"
            )]
        );
        // Instances once each, the single one first; snapshots without an account.
        let ec2 = r#"{"snapshotId":"snap-1","instanceId":"i-0","instancesSet":{"items":[{"instanceId":"i-1"},{"instanceId":"i-0"}]}}"#;
        assert_eq!(
            params("ec2.amazonaws.com", ec2),
            vec![
                pair(
                    "arn:aws:ec2:eu-west-1:111122223333:instance/i-0",
                    "AWS::EC2::Instance"
                ),
                pair(
                    "arn:aws:ec2:eu-west-1:111122223333:instance/i-1",
                    "AWS::EC2::Instance"
                ),
                pair(
                    "arn:aws:ec2:eu-west-1::snapshot/snap-1",
                    "AWS::EC2::Snapshot"
                ),
            ]
        );
    }

    fn call(source: &str, name: &str, extra: &str) -> Event {
        let raw = format!(
            r#"{{"eventTime":"2024-01-01T00:00:00Z","eventSource":"{source}","eventName":"{name}","recipientAccountId":"111122223333","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a"}}{extra}}}"#
        );
        normalize(raw.as_bytes(), None).unwrap()
    }

    #[test]
    fn s3_reads_carry_their_bytes_and_how_they_were_signed() {
        let e = call("s3.amazonaws.com", "GetObject", r#","additionalEventData":{"bytesTransferredOut":52428800,"AuthenticationMethod":"QueryString"}"#);
        assert_eq!(e.s3_read, Some(S3Read { list: false, bytes: 52_428_800, presigned: true }));
        let e = call("s3.amazonaws.com", "ListObjectsV2", r#","additionalEventData":{"bytesTransferredOut":"1200"}"#);
        assert_eq!(e.s3_read, Some(S3Read { list: true, bytes: 1200, presigned: false }));
        // Hostile or odd shapes read as no bytes; failures and other calls are not reads.
        let e = call("s3.amazonaws.com", "GetObject", r#","additionalEventData":[{"bytesTransferredOut":5}]"#);
        assert_eq!(e.s3_read, Some(S3Read::default()));
        let e = call("s3.amazonaws.com", "GetObject", r#","additionalEventData":{"bytesTransferredOut":-5.5}"#);
        assert_eq!(e.s3_read, Some(S3Read::default()));
        assert_eq!(call("s3.amazonaws.com", "GetObject", r#","errorCode":"AccessDenied""#).s3_read, None);
        assert_eq!(call("s3.amazonaws.com", "PutObject", "").s3_read, None);
        assert_eq!(call("ec2.amazonaws.com", "GetObject", "").s3_read, None);
    }

    #[test]
    fn sharing_calls_name_their_recipients() {
        let shared = |source: &str, name: &str, params: &str| {
            call(source, name, &format!(r#","requestParameters":{params}"#)).shared_with
        };
        assert_eq!(
            shared("ec2.amazonaws.com", "ModifySnapshotAttribute",
                r#"{"snapshotId":"snap-1","createVolumePermission":{"add":{"items":[{"userId":"999988887777"},{"group":"all"}]},"remove":{"items":[{"userId":"444455556666"}]}}}"#),
            vec!["999988887777"]
        );
        assert_eq!(
            shared("ec2.amazonaws.com", "ModifyImageAttribute",
                r#"{"imageId":"ami-1","launchPermission":{"add":{"items":[{"userId":"999988887777"}]}}}"#),
            vec!["999988887777"]
        );
        assert_eq!(
            shared("rds.amazonaws.com", "ModifyDBSnapshotAttribute",
                r#"{"dBSnapshotIdentifier":"db-1","attributeName":"restore","valuesToAdd":["999988887777","all"]}"#),
            vec!["999988887777"]
        );
        assert_eq!(
            shared("kms.amazonaws.com", "CreateGrant",
                r#"{"keyId":"k","granteePrincipal":"arn:aws:iam::999988887777:role/x","operations":["Decrypt"]}"#),
            vec!["999988887777"]
        );
        assert_eq!(
            shared("s3.amazonaws.com", "PutBucketReplication",
                r#"{"bucketName":"b","ReplicationConfiguration":{"Rule":{"Destination":{"Bucket":"arn:aws:s3:::theirs","Account":"999988887777"}}}}"#),
            vec!["999988887777"]
        );
        assert_eq!(
            shared("s3.amazonaws.com", "PutBucketPolicy",
                r#"{"bucketName":"b","bucketPolicy":{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::999988887777:root","111122223333"]},"Action":"s3:GetObject"},{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::444455556666:root"}}]}}"#),
            vec!["111122223333", "999988887777"]
        );
        assert_eq!(
            shared("kms.amazonaws.com", "PutKeyPolicy",
                r#"{"keyId":"k","policy":"{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"999988887777\"}}}"}"#),
            vec!["999988887777"]
        );
        // Refused, or hostile shapes: nothing.
        let e = call("ec2.amazonaws.com", "ModifySnapshotAttribute",
            r#","errorCode":"UnauthorizedOperation","requestParameters":{"createVolumePermission":{"add":{"items":[{"userId":"999988887777"}]}}}"#);
        assert!(e.shared_with.is_empty());
        assert!(shared("kms.amazonaws.com", "CreateGrant", r#"{"granteePrincipal":{"x":["12345678901x"]}}"#).is_empty());
        assert!(shared("s3.amazonaws.com", "PutBucketPolicy", r#"{"bucketPolicy":"not json"}"#).is_empty());
    }
}
