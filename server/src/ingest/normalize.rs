//! Normalise stage: one CloudTrail record in, one [`Event`] out — the indexed columns,
//! the principal, the resources — or a reason why the record cannot be stored.

use super::record::{IssuedCredentialsResponse, Record, RequestParams, Text, UserIdentity};
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
}

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
    let time_text = rec.event_time.get().ok_or(RecordError::NoTime)?;
    let time_ms =
        parse_event_time(time_text).ok_or_else(|| RecordError::BadTime(clip(time_text, 64)))?;

    let insight = rec.insight_details.0.as_ref();
    let source = rec
        .event_source
        .get()
        .or_else(|| insight.and_then(|i| i.event_source.get()))
        .map(str::to_owned);
    let name = rec
        .event_name
        .get()
        .or_else(|| insight.and_then(|i| i.event_name.get()))
        .map(str::to_owned);
    // An object with a name and a time is not enough (rule-test indexes look like that):
    // a record also carries at least one of the fields every CloudTrail writer sets.
    let looks_like_cloudtrail = rec.event_source.get().is_some()
        || rec.event_version.get().is_some()
        || rec.event_id.get().is_some()
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
        .or_else(|| ui.and_then(|u| u.account_id.get()))
        .or(fallback_account)
        .unwrap_or("unknown")
        .to_owned();
    let event_key = match rec.event_id.get() {
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
    let resources = extract_resources(&rec, &source, region.as_deref(), &account);
    let issued = issued_credential(&rec, &name);
    let error_code = own(&rec.error_code);
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

fn resolve_principal(
    ui: Option<&UserIdentity<'_>>,
    source: &str,
    event_type: Option<&str>,
) -> Principal {
    let service = |name: &str| Principal {
        key: format!("service:{name}"),
        kind: "AWSService".into(),
        display: name.to_owned(),
        arn: None,
        account: None,
        origin: None,
        parent: None,
    };
    let Some(ui) = ui else {
        if event_type == Some("AwsCloudTrailInsight") {
            return service("cloudtrail.amazonaws.com");
        }
        if event_type == Some("AwsServiceEvent") {
            return service(source);
        }
        return unknown("no userIdentity".into(), None);
    };
    let arn = ui.arn.get();
    let account = ui
        .account_id
        .get()
        .map(str::to_owned)
        .or_else(|| arn.and_then(arn_account));
    let acct = account.as_deref().unwrap_or("unknown");
    let sc = ui.session_context.0.as_ref();
    let issuer = sc.and_then(|s| s.session_issuer.0.as_ref());
    let source_identity = sc.and_then(|s| s.source_identity.get());
    let kind = ui.kind.get().unwrap_or("");
    let mut p = match kind {
        "Root" => {
            let arn = arn
                .map(str::to_owned)
                .unwrap_or_else(|| format!("arn:aws:iam::{acct}:root"));
            Principal {
                display: format!("root ({acct})"),
                key: arn.clone(),
                kind: "Root".into(),
                arn: Some(arn),
                account: account.clone(),
                origin: None,
                parent: None,
            }
        }
        "IAMUser" => {
            let name = ui.user_name.get().or(arn.map(tail)).unwrap_or("unknown");
            let arn = arn
                .map(str::to_owned)
                .unwrap_or_else(|| format!("arn:aws:iam::{acct}:user/{name}"));
            Principal {
                display: name.to_owned(),
                key: arn.clone(),
                kind: "IAMUser".into(),
                arn: Some(arn),
                account: account.clone(),
                origin: None,
                parent: None,
            }
        }
        "AssumedRole" | "FederatedUser" | "Role" => {
            let parent = issuer.and_then(|i| {
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
            });
            let key = match arn {
                Some(a) => a.to_owned(),
                None => format!(
                    "{}:{}",
                    kind.to_ascii_lowercase(),
                    ui.principal_id.get().unwrap_or("unknown")
                ),
            };
            // "assumed-role/Role/session" -> "Role/session"
            let display = match arn.and_then(|a| a.split_once(":assumed-role/")) {
                Some((_, rest)) => rest.to_owned(),
                None => arn
                    .and_then(|a| a.split_once(":federated-user/").map(|(_, r)| r.to_owned()))
                    .or_else(|| ui.user_name.get().map(str::to_owned))
                    .or_else(|| ui.principal_id.get().map(str::to_owned))
                    .unwrap_or_else(|| key.clone()),
            };
            Principal {
                key,
                kind: if kind == "Role" {
                    "Role".into()
                } else {
                    kind.to_owned()
                },
                display,
                arn: arn.map(str::to_owned),
                account: account.clone(),
                origin: None,
                parent,
            }
        }
        "AWSService" => service(ui.invoked_by.get().unwrap_or(source)),
        "AWSAccount" => {
            let who = ui.invoked_by.get();
            Principal {
                key: format!("account:{acct}:{}", ui.principal_id.get().unwrap_or("")),
                kind: "AWSAccount".into(),
                display: match who {
                    Some(w) => format!("account {acct} via {w}"),
                    None => format!("account {acct}"),
                },
                arn: None,
                account: account.clone(),
                origin: None,
                parent: None,
            }
        }
        "SAMLUser" | "WebIdentityUser" => {
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
                account: account.clone(),
                origin: Some(format!("identity provider {idp}")),
                parent: None,
            }
        }
        "IdentityCenterUser" => {
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
                account: account.clone(),
                origin: Some(format!("Identity Center user {user}")),
                parent: None,
            }
        }
        "Directory" => {
            let user = ui
                .user_name
                .get()
                .or(ui.principal_id.get())
                .unwrap_or("unknown");
            Principal {
                key: format!("directory:{acct}:{user}"),
                kind: "Directory".into(),
                display: user.to_owned(),
                arn: None,
                account: account.clone(),
                origin: None,
                parent: None,
            }
        }
        "" if ui.invoked_by.get().is_some() => service(ui.invoked_by.get().unwrap_or(source)),
        "" if event_type == Some("AwsServiceEvent") => service(source),
        _ => {
            let who = arn
                .or(ui.user_name.get())
                .or(ui.principal_id.get())
                .map(str::to_owned)
                .unwrap_or_else(|| format!("account {acct}"));
            unknown(who, account.clone())
        }
    };
    // The person behind the session, where the record says so.
    if p.origin.is_none() {
        if let Some(si) = source_identity {
            p.origin = Some(format!("source identity {si}"));
        } else if let Some(o) = ui.on_behalf_of.0.as_ref().and_then(|o| o.user_id.get()) {
            p.origin = Some(format!("Identity Center user {o}"));
        } else if let Some(fp) = sc
            .and_then(|s| s.web_id_federation_data.0.as_ref())
            .and_then(|w| w.federated_provider.get())
        {
            p.origin = Some(format!("web identity provider {fp}"));
        }
    }
    p
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

fn extract_resources(
    rec: &Record<'_>,
    source: &str,
    region: Option<&str>,
    account: &str,
) -> Vec<Resource> {
    let mut out = Vec::new();
    let region = region.unwrap_or("");
    if let Some(list) = rec.resources.0.as_ref() {
        for r in list.iter().filter_map(|r| r.0.as_ref()) {
            if let Some(arn) = r.arn.get() {
                let kind = r.kind.get().unwrap_or("unknown");
                push_resource(
                    &mut out,
                    arn.to_owned(),
                    kind,
                    resource_name(arn),
                    r.account_id.get(),
                );
            }
        }
    }
    let Some(params) = rec.request_parameters else {
        return out;
    };
    let Ok(p) = serde_json::from_str::<RequestParams<'_>>(params.get()) else {
        return out;
    };
    let svc = source.strip_suffix(".amazonaws.com").unwrap_or(source);
    if let Some(bucket) = p.bucket_name.get() {
        push_resource(
            &mut out,
            format!("arn:aws:s3:::{bucket}"),
            "AWS::S3::Bucket",
            bucket,
            None,
        );
        if let Some(key) = p.key.get() {
            push_resource(
                &mut out,
                format!("arn:aws:s3:::{bucket}/{key}"),
                "AWS::S3::Object",
                key,
                None,
            );
        }
    }
    let ec2 = |kind: &str, id: &str| format!("arn:aws:ec2:{region}:{account}:{kind}/{id}");
    if let Some(id) = p.instance_id.get() {
        push_resource(
            &mut out,
            ec2("instance", id),
            "AWS::EC2::Instance",
            id,
            Some(account),
        );
    }
    if let Some(set) = p.instances_set.0.as_ref() {
        for id in set.items.iter().filter_map(|i| i.instance_id.get()) {
            push_resource(
                &mut out,
                ec2("instance", id),
                "AWS::EC2::Instance",
                id,
                Some(account),
            );
        }
    }
    if let Some(id) = p.group_id.get() {
        push_resource(
            &mut out,
            ec2("security-group", id),
            "AWS::EC2::SecurityGroup",
            id,
            Some(account),
        );
    }
    if let Some(id) = p.snapshot_id.get() {
        push_resource(
            &mut out,
            format!("arn:aws:ec2:{region}::snapshot/{id}"),
            "AWS::EC2::Snapshot",
            id,
            Some(account),
        );
    }
    if let Some(id) = p.image_id.get() {
        push_resource(
            &mut out,
            format!("arn:aws:ec2:{region}::image/{id}"),
            "AWS::EC2::Image",
            id,
            Some(account),
        );
    }
    if svc == "iam" {
        if let Some(n) = p.role_name.get() {
            push_resource(
                &mut out,
                format!("arn:aws:iam::{account}:role/{n}"),
                "AWS::IAM::Role",
                n,
                Some(account),
            );
        }
        if let Some(n) = p.user_name.get() {
            push_resource(
                &mut out,
                format!("arn:aws:iam::{account}:user/{n}"),
                "AWS::IAM::User",
                n,
                Some(account),
            );
        }
        if let Some(a) = p.policy_arn.get() {
            push_resource(
                &mut out,
                a.to_owned(),
                "AWS::IAM::Policy",
                resource_name(a),
                None,
            );
        }
    }
    if let Some(a) = p.role_arn.get() {
        push_resource(
            &mut out,
            a.to_owned(),
            "AWS::IAM::Role",
            resource_name(a),
            None,
        );
    }
    if svc == "lambda" {
        if let Some(f) = p.function_name.get() {
            let arn = if f.starts_with("arn:") {
                f.to_owned()
            } else {
                format!("arn:aws:lambda:{region}:{account}:function:{f}")
            };
            let name = resource_name(&arn).to_owned();
            push_resource(&mut out, arn, "AWS::Lambda::Function", &name, Some(account));
        }
    }
    if svc == "kms" {
        if let Some(k) = p.key_id.get() {
            let arn = if k.starts_with("arn:") {
                k.to_owned()
            } else if k.starts_with("alias/") {
                format!("arn:aws:kms:{region}:{account}:{k}")
            } else {
                format!("arn:aws:kms:{region}:{account}:key/{k}")
            };
            push_resource(&mut out, arn, "AWS::KMS::Key", k, Some(account));
        }
    }
    if svc == "cloudtrail" {
        if let Some(n) = p.name.get().or(p.trail_name.get()) {
            let arn = if n.starts_with("arn:") {
                n.to_owned()
            } else {
                format!("arn:aws:cloudtrail:{region}:{account}:trail/{n}")
            };
            let name = resource_name(&arn).to_owned();
            push_resource(
                &mut out,
                arn,
                "AWS::CloudTrail::Trail",
                &name,
                Some(account),
            );
        }
    }
    if svc == "rds" {
        if let Some(n) = p.db_snapshot_identifier.get() {
            push_resource(
                &mut out,
                format!("arn:aws:rds:{region}:{account}:snapshot:{n}"),
                "AWS::RDS::DBSnapshot",
                n,
                Some(account),
            );
        }
    }
    if svc == "secretsmanager" {
        if let Some(s) = p.secret_id.get() {
            let arn = if s.starts_with("arn:") {
                s.to_owned()
            } else {
                format!("arn:aws:secretsmanager:{region}:{account}:secret:{s}")
            };
            push_resource(
                &mut out,
                arn,
                "AWS::SecretsManager::Secret",
                s,
                Some(account),
            );
        }
    }
    out
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
}
