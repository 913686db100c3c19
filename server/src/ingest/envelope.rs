//! Records that went through another tool first. Logstash and Beats, Elastic's AWS
//! integration (ECS documents, `_search` responses and scroll dumps from Elasticsearch or
//! OpenSearch) and Splunk exports all carry the CloudTrail record inside an envelope of
//! their own. Each is recognised by its keys, never by the file's name, and turned back
//! into the CloudTrail record, which is what Cairn stores and shows.
//!
//! A record that starts the way CloudTrail writes one (`{"eventVersion"`) is taken as it
//! is without a second look: delivered files cost nothing more.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;

/// How a record was wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A CloudTrail record as CloudTrail writes it.
    CloudTrail,
    /// Logstash or Beats: the record's fields at the top, `eventTime` moved to
    /// `@timestamp`, fields of Logstash's own added; or the record as the event's
    /// `message`.
    Logstash,
    /// An Elastic document: the record in `event.original`, or rebuilt from
    /// `aws.cloudtrail.*` and the ECS fields.
    Ecs,
    /// A Splunk export: the record in `_raw`.
    Splunk,
}

/// Records read, per shape (`"shapes"` in `cairn import --json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Shapes {
    pub cloudtrail: u64,
    pub logstash: u64,
    pub ecs: u64,
    pub splunk: u64,
}

impl Shapes {
    pub fn count(&mut self, shape: Shape) {
        *match shape {
            Shape::CloudTrail => &mut self.cloudtrail,
            Shape::Logstash => &mut self.logstash,
            Shape::Ecs => &mut self.ecs,
            Shape::Splunk => &mut self.splunk,
        } += 1;
    }

    pub fn add(&mut self, other: &Shapes) {
        self.cloudtrail += other.cloudtrail;
        self.logstash += other.logstash;
        self.ecs += other.ecs;
        self.splunk += other.splunk;
    }
}

/// A CloudTrail record taken out of its envelope.
#[derive(Debug)]
pub struct Found<'a> {
    pub shape: Shape,
    pub record: Cow<'a, [u8]>,
    /// Fields of the record the envelope did not keep (an ECS document rebuilt from its
    /// fields), for the import to say per record.
    pub missing: Vec<&'static str>,
}

/// A record whose envelope was recognised but holds no usable CloudTrail record.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub shape: Shape,
    pub reason: String,
}

/// What one document held: one record, or each hit of a search response.
pub enum Unwrapped<'a> {
    One(Result<Found<'a>, Refused>),
    Many(Vec<Result<Found<'a>, Refused>>),
}

/// Fields Logstash, Beats and their outputs add beside a record's own fields. None is a
/// top-level field of a CloudTrail record.
const ADDED: &[&str] = &[
    "tags",
    "host",
    "type",
    "path",
    "log",
    "input",
    "agent",
    "ecs",
    "fields",
    "beat",
    "prospector",
    "offset",
    "source",
    "message",
    "event",
    "cloud",
    "data_stream",
];

/// The fields of a CloudTrail record that only it has at its top level: with
/// `@timestamp` beside them, a record Logstash passed on.
const RECORD_FIELDS: &[&str] = &["eventVersion", "eventSource", "eventName", "userIdentity"];

/// Takes the CloudTrail record out of `doc`, one top-level JSON value.
pub fn unwrap(doc: &[u8]) -> Unwrapped<'_> {
    if starts_like_a_record(doc) {
        return Unwrapped::One(Ok(plain(doc)));
    }
    let Ok(top) = serde_json::from_slice::<HashMap<String, &RawValue>>(doc) else {
        // Not an object, or not JSON: the record's own checks say why.
        return Unwrapped::One(Ok(plain(doc)));
    };
    document(doc, &top, 0)
}

/// Largest document rebuilt field by field (Logstash's, Elastic's without the original):
/// those are parsed whole, at several times their size in memory.
const REBUILT_BYTES: usize = 4 << 20;

#[derive(Deserialize)]
struct Hits<'a> {
    #[serde(borrow)]
    hits: Vec<Hit<'a>>,
}

#[derive(Deserialize)]
struct Hit<'a> {
    #[serde(borrow, rename = "_source")]
    source: Option<&'a RawValue>,
}

/// Every record of several parts, in order.
fn many<'a>(parts: impl Iterator<Item = Unwrapped<'a>>) -> Unwrapped<'a> {
    let mut out = Vec::new();
    for part in parts {
        match part {
            Unwrapped::One(r) => out.push(r),
            Unwrapped::Many(rs) => out.extend(rs),
        }
    }
    Unwrapped::Many(out)
}

fn refused<'a>(shape: Shape, reason: impl Into<String>) -> Unwrapped<'a> {
    Unwrapped::One(Err(Refused {
        shape,
        reason: reason.into(),
    }))
}

fn hit(source: Option<&RawValue>) -> Unwrapped<'_> {
    let Some(source) = source else {
        return refused(
            Shape::Ecs,
            "a search hit without _source (the index keeps no copy of the document)",
        );
    };
    let bytes = source.get().as_bytes();
    match serde_json::from_slice::<HashMap<String, &RawValue>>(bytes) {
        Ok(top) => document(bytes, &top, 1),
        Err(_) => refused(Shape::Ecs, "a search hit whose _source is not an object"),
    }
}

/// Whether `doc` opens the way CloudTrail writes a record, and names no `@timestamp`
/// (Logstash keeps a record's order, `eventVersion` first, once it has taken `eventTime`
/// out).
fn starts_like_a_record(doc: &[u8]) -> bool {
    let rest = doc.trim_ascii_start();
    rest.first() == Some(&b'{')
        && rest[1..].trim_ascii_start().starts_with(b"\"eventVersion\"")
        && memchr::memmem::find(doc, b"\"@timestamp\"").is_none()
}

fn plain(doc: &[u8]) -> Found<'_> {
    Found {
        shape: Shape::CloudTrail,
        record: Cow::Borrowed(doc),
        missing: Vec::new(),
    }
}

/// One top-level object, `top` being its fields. The keys only envelopes have come
/// first: an export may carry fields it extracted from the record (`eventTime` among
/// them) beside the record itself.
fn document<'a>(doc: &'a [u8], top: &HashMap<String, &'a RawValue>, depth: u8) -> Unwrapped<'a> {
    fn object(v: &RawValue) -> Option<HashMap<String, &RawValue>> {
        serde_json::from_str(v.get()).ok()
    }
    if depth == 0 {
        // An Elasticsearch or OpenSearch `_search` response, and Splunk's `results`.
        if let Some(hits) = top.get("hits")
            && let Ok(hits) = serde_json::from_str::<Hits<'_>>(hits.get())
        {
            return many(hits.hits.into_iter().map(|h| hit(h.source)));
        }
        if let Some(results) = top.get("results")
            && let Ok(results) = serde_json::from_str::<Vec<HashMap<String, &RawValue>>>(results.get())
            && results.iter().all(|r| r.contains_key("_raw"))
        {
            return many(results.iter().filter_map(|r| r.get("_raw")).map(|raw| embedded(raw, Shape::Splunk, "_raw")));
        }
        // One hit of a scroll dump (one per line).
        if let Some(source) = top.get("_source") {
            return hit(Some(*source));
        }
        if top.contains_key("_index") {
            return hit(None);
        }
    }
    // Splunk: `_raw`, or `result._raw` in the REST export's form.
    if let Some(raw) = top.get("_raw") {
        return embedded(raw, Shape::Splunk, "_raw");
    }
    if let Some(result) = top.get("result")
        && let Some(result) = object(result)
        && let Some(raw) = result.get("_raw")
    {
        return embedded(raw, Shape::Splunk, "_raw");
    }
    // Elastic: the original record, when the document kept it.
    let logstash = top.contains_key("@version");
    let original = top
        .get("event.original")
        .copied()
        .or_else(|| top.get("event").and_then(|e| object(e)).and_then(|e| e.get("original").copied()));
    if let Some(original) = original {
        let shape = if logstash { Shape::Logstash } else { Shape::Ecs };
        return embedded(original, shape, "event.original");
    }
    // Logstash's split filter on a delivery file: one record under `Records`.
    if let Some(record) = top.get("Records")
        && record.get().starts_with('{')
    {
        return Unwrapped::One(Ok(Found {
            shape: Shape::Logstash,
            record: Cow::Borrowed(record.get().as_bytes()),
            missing: Vec::new(),
        }));
    }
    let timestamp = top.contains_key("@timestamp");
    if top.contains_key("eventTime") {
        // A record Logstash or Beats passed on with its time: their fields go.
        return Unwrapped::One(if timestamp { logstash_fields(doc) } else { Ok(plain(doc)) });
    }
    if let Some(aws) = top.get("aws")
        && object(aws).is_some_and(|a| a.contains_key("cloudtrail"))
    {
        return Unwrapped::One(ecs(doc));
    }
    if timestamp {
        if RECORD_FIELDS.iter().any(|f| top.contains_key(*f)) {
            return Unwrapped::One(logstash_fields(doc));
        }
        // Beats without JSON decoding: the record is the event's message.
        if let Some(message) = top.get("message") {
            return embedded(message, Shape::Logstash, "message");
        }
    }
    Unwrapped::One(Ok(plain(doc)))
}

/// A record kept as a JSON string inside the envelope (`_raw`, `event.original`,
/// `message`): one record, or a whole delivery file (`{"Records":[…]}`, as Beats reads a
/// trail's files without splitting them), each of whose records is one.
fn embedded<'a>(value: &RawValue, shape: Shape, field: &str) -> Unwrapped<'a> {
    let Ok(text) = serde_json::from_str::<String>(value.get()) else {
        return refused(shape, format!("{field} is not a string"));
    };
    if let Ok(top) = serde_json::from_str::<HashMap<String, &RawValue>>(&text)
        && let Some(records) = top.get("Records")
        && let Ok(records) = serde_json::from_str::<Vec<&RawValue>>(records.get())
    {
        return Unwrapped::Many(
            records
                .into_iter()
                .map(|r| {
                    Ok(Found {
                        shape,
                        record: Cow::Owned(r.get().as_bytes().to_vec()),
                        missing: Vec::new(),
                    })
                })
                .collect(),
        );
    }
    Unwrapped::One(record_text(text.into_bytes(), shape, field))
}

/// The `_raw` column of a row of Splunk's CSV export.
pub fn raw_column<'a>(bytes: &[u8]) -> Result<Found<'a>, Refused> {
    record_text(bytes.to_vec(), Shape::Splunk, "_raw")
}

/// Checks that `bytes`, the text of the envelope's `field`, is one JSON object.
fn record_text<'a>(bytes: Vec<u8>, shape: Shape, field: &str) -> Result<Found<'a>, Refused> {
    match serde_json::from_slice::<HashMap<String, &RawValue>>(&bytes) {
        Ok(_) => Ok(Found {
            shape,
            record: Cow::Owned(bytes),
            missing: Vec::new(),
        }),
        Err(e) => Err(Refused {
            shape,
            reason: format!("{field} is not a JSON record: {e}"),
        }),
    }
}

fn too_large(doc: &[u8], shape: Shape) -> Result<(), Refused> {
    if doc.len() > REBUILT_BYTES {
        return Err(Refused {
            shape,
            reason: format!(
                "a document of {} bytes to rebuild field by field: larger than the {} MiB allowed",
                doc.len(),
                REBUILT_BYTES >> 20
            ),
        });
    }
    Ok(())
}

/// `@timestamp` (RFC 3339, milliseconds) as CloudTrail writes `eventTime`: whole seconds
/// unless the instant has a fraction. What cannot be read is kept as it is, for the
/// record's own checks to judge.
fn cloudtrail_time(ts: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(ts) {
        Ok(t) => {
            let t = t.with_timezone(&chrono::Utc);
            if t.timestamp_subsec_nanos() == 0 {
                t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            } else {
                t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
            }
        }
        Err(_) => ts.to_owned(),
    }
}

/// A record Logstash passed on: its own fields at the top, `eventTime` as `@timestamp`,
/// Logstash's fields beside them. Logstash's CloudTrail codec also wraps a plain
/// `requestParameters.disableApiTermination` in `{"value": …}`; `RunInstances` is the
/// call that sends it plain, and gets it back.
fn logstash_fields<'a>(doc: &[u8]) -> Result<Found<'a>, Refused> {
    too_large(doc, Shape::Logstash)?;
    let top: Map<String, Value> = serde_json::from_slice(doc).map_err(|e| Refused {
        shape: Shape::Logstash,
        reason: format!("not a JSON object: {e}"),
    })?;
    let time = match top.get("@timestamp") {
        // The record kept its own time: that one stays.
        _ if top.contains_key("eventTime") => Value::Null,
        Some(Value::String(s)) => Value::String(cloudtrail_time(s)),
        _ => {
            return Err(Refused {
                shape: Shape::Logstash,
                reason: "@timestamp is not a time: the event's time is lost".into(),
            });
        }
    };
    let anchor = if top.contains_key("userIdentity") {
        Some("userIdentity")
    } else if top.contains_key("eventVersion") {
        Some("eventVersion")
    } else {
        None
    };
    let mut out = Map::new();
    let mut time = (!time.is_null()).then_some(time);
    if anchor.is_none()
        && let Some(t) = time.take()
    {
        out.insert("eventTime".into(), t);
    }
    let run_instances = top.get("eventName").and_then(Value::as_str) == Some("RunInstances");
    for (k, mut v) in top {
        if k.starts_with('@') || ADDED.contains(&k.as_str()) {
            continue;
        }
        if run_instances && k == "requestParameters" {
            unwrap_value(&mut v);
        }
        let after = anchor == Some(k.as_str());
        out.insert(k, v);
        if after && let Some(t) = time.take() {
            out.insert("eventTime".into(), t);
        }
    }
    Ok(Found {
        shape: Shape::Logstash,
        record: Cow::Owned(serde_json::to_vec(&out).map_err(|e| Refused {
            shape: Shape::Logstash,
            reason: e.to_string(),
        })?),
        missing: Vec::new(),
    })
}

fn unwrap_value(params: &mut Value) {
    if let Some(p) = params.as_object_mut()
        && let Some(Value::Object(w)) = p.get("disableApiTermination")
        && w.len() == 1
        && let Some(inner) = w.get("value")
        && inner.is_boolean()
    {
        let inner = inner.clone();
        p.insert("disableApiTermination".into(), inner);
    }
}

/// An Elastic document without the original record: rebuilt from the fields the AWS
/// integration keeps (`aws.cloudtrail.*`, `user.*`, `source.*`, `user_agent.original`,
/// `cloud.*`, `event.*`, `@timestamp`). What it did not keep is named in `missing`.
fn ecs<'a>(doc: &[u8]) -> Result<Found<'a>, Refused> {
    let refuse = |reason: String| Refused {
        shape: Shape::Ecs,
        reason,
    };
    too_large(doc, Shape::Ecs)?;
    let v: Value =
        serde_json::from_slice(doc).map_err(|e| refuse(format!("not a JSON object: {e}")))?;
    let at = |p: &str| v.pointer(p).filter(|x| !x.is_null());
    let text = |p: &str| {
        at(p)
            .and_then(Value::as_str)
            .map(|s| Value::String(s.to_owned()))
    };
    let ct = |p: &str| format!("/aws/cloudtrail{p}");
    let mut absent = Vec::new();
    for (path, field) in [
        ("/@timestamp", "@timestamp"),
        ("/event/action", "event.action"),
        ("/event/provider", "event.provider"),
    ] {
        if text(path).is_none() {
            absent.push(field);
        }
    }
    if !absent.is_empty() {
        return Err(refuse(format!(
            "an Elastic document without event.original and without {}: the event cannot be rebuilt",
            absent.join(", ")
        )));
    }
    let mut missing = Vec::new();
    let mut r = Map::new();
    fn put(r: &mut Map<String, Value>, k: &str, val: Option<Value>) {
        if let Some(val) = val {
            r.insert(k.to_owned(), val);
        }
    }
    put(&mut r, "eventVersion", text(&ct("/event_version")));

    let kind = at(&ct("/user_identity/type"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut ui = Map::new();
    put(&mut ui, "type", text(&ct("/user_identity/type")));
    put(&mut ui, "principalId", text("/user/id"));
    put(&mut ui, "arn", text(&ct("/user_identity/arn")));
    // The account of the caller's ARN; `cloud.account.id` may be the collector's own
    // when it already held one.
    let arn_account = at(&ct("/user_identity/arn"))
        .and_then(Value::as_str)
        .and_then(|arn| arn.split(':').nth(4))
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        .map(|a| Value::String(a.to_owned()));
    put(&mut ui, "accountId", arn_account.or_else(|| text("/cloud/account/id")));
    put(
        &mut ui,
        "accessKeyId",
        text(&ct("/user_identity/access_key_id")),
    );
    if kind == "IAMUser" {
        put(&mut ui, "userName", text("/user/name"));
    }
    let mut attributes = Map::new();
    put(
        &mut attributes,
        "creationDate",
        text(&ct("/user_identity/session_context/creation_date"))
            .map(|t| Value::String(cloudtrail_time(t.as_str().unwrap_or_default()))),
    );
    put(
        &mut attributes,
        "mfaAuthenticated",
        at(&ct("/user_identity/session_context/mfa_authenticated")).map(|m| match m {
            Value::Bool(b) => Value::String(b.to_string()),
            other => other.clone(),
        }),
    );
    let mut issuer = Map::new();
    for (k, p) in [
        ("type", "type"),
        ("principalId", "principal_id"),
        ("arn", "arn"),
        ("accountId", "account_id"),
    ] {
        put(
            &mut issuer,
            k,
            text(&ct(&format!(
                "/user_identity/session_context/session_issuer/{p}"
            ))),
        );
    }
    if kind == "AssumedRole" && !issuer.is_empty() {
        put(&mut issuer, "userName", text("/user/name"));
    }
    let mut session = Map::new();
    if !attributes.is_empty() {
        session.insert("attributes".into(), Value::Object(attributes));
    }
    if !issuer.is_empty() {
        session.insert("sessionIssuer".into(), Value::Object(issuer));
    }
    if !session.is_empty() {
        ui.insert("sessionContext".into(), Value::Object(session));
    }
    put(&mut ui, "invokedBy", text(&ct("/user_identity/invoked_by")));
    if ui.is_empty() {
        missing.push("userIdentity");
    } else {
        r.insert("userIdentity".into(), Value::Object(ui));
    }

    put(
        &mut r,
        "eventTime",
        text("/@timestamp").map(|t| Value::String(cloudtrail_time(t.as_str().unwrap_or("")))),
    );
    put(&mut r, "eventSource", text("/event/provider"));
    put(&mut r, "eventName", text("/event/action"));
    put(&mut r, "awsRegion", text("/cloud/region"));
    put(
        &mut r,
        "sourceIPAddress",
        text("/source/address").or_else(|| text("/source/ip")),
    );
    put(&mut r, "userAgent", text("/user_agent/original"));
    put(&mut r, "errorCode", text(&ct("/error_code")));
    put(&mut r, "errorMessage", text(&ct("/error_message")));
    // Elastic keeps these as objects under `flattened` (and as Java-style text beside
    // them, which cannot be read back).
    for (field, flat, text_form) in [
        (
            "requestParameters",
            "/flattened/request_parameters",
            "/request_parameters",
        ),
        (
            "responseElements",
            "/flattened/response_elements",
            "/response_elements",
        ),
        (
            "additionalEventData",
            "/flattened/additional_eventdata",
            "/additional_eventdata",
        ),
        (
            "serviceEventDetails",
            "/flattened/service_event_details",
            "/service_event_details",
        ),
        (
            "insightDetails",
            "/flattened/insight_details",
            "/insight_details",
        ),
    ] {
        match at(&ct(flat)) {
            Some(o) => {
                r.insert(field.into(), o.clone());
            }
            None if at(&ct(text_form)).is_some() => missing.push(field),
            None => {}
        }
    }
    put(&mut r, "requestID", text(&ct("/request_id")));
    match text("/event/id") {
        Some(id) => {
            r.insert("eventID".into(), id);
        }
        None => missing.push("eventID"),
    }
    put(&mut r, "readOnly", at(&ct("/read_only")).map(boolean));
    if let Some(res) = at(&ct("/resources")) {
        let list = resources(res);
        if !list.is_empty() {
            r.insert("resources".into(), Value::Array(list));
        }
    }
    put(&mut r, "eventType", text(&ct("/event_type")));
    put(&mut r, "apiVersion", text(&ct("/api_version")));
    put(
        &mut r,
        "managementEvent",
        at(&ct("/management_event")).map(boolean),
    );
    match text(&ct("/recipient_account_id")) {
        Some(a) => {
            r.insert("recipientAccountId".into(), a);
        }
        None => missing.push("recipientAccountId"),
    }
    put(&mut r, "sharedEventID", text(&ct("/shared_event_id")));
    put(&mut r, "vpcEndpointId", text(&ct("/vpc_endpoint_id")));
    put(&mut r, "eventCategory", text(&ct("/event_category")));
    // TLS as ECS keeps it (`tls.version_protocol` "tls" and `tls.version` "1.2" for
    // "TLSv1.2"), or under `aws.cloudtrail.tls_details`.
    let mut tls = Map::new();
    let version = match (text("/tls/version_protocol"), text("/tls/version")) {
        (Some(Value::String(p)), Some(Value::String(v))) => Some(Value::String(format!(
            "{}v{v}",
            p.to_ascii_uppercase()
        ))),
        _ => text(&ct("/tls_details/tls_version")),
    };
    put(&mut tls, "tlsVersion", version);
    put(
        &mut tls,
        "cipherSuite",
        text("/tls/cipher").or_else(|| text(&ct("/tls_details/cipher_suite"))),
    );
    put(
        &mut tls,
        "clientProvidedHostHeader",
        text("/tls/client/server_name")
            .or_else(|| text(&ct("/tls_details/client_provided_host_header"))),
    );
    if !tls.is_empty() {
        r.insert("tlsDetails".into(), Value::Object(tls));
    }
    let record = serde_json::to_vec(&r).map_err(|e| refuse(e.to_string()))?;
    Ok(Found {
        shape: Shape::Ecs,
        record: Cow::Owned(record),
        missing,
    })
}

/// `true`/`false` as Elastic may keep them: booleans or their text.
fn boolean(v: &Value) -> Value {
    match v.as_str() {
        Some("true") => Value::Bool(true),
        Some("false") => Value::Bool(false),
        _ => v.clone(),
    }
}

/// `aws.cloudtrail.resources`: a list of `{arn, type, account_id}`, or one such object
/// (of values or of lists), back to CloudTrail's `[{ARN, type, accountId}]`.
fn resources(v: &Value) -> Vec<Value> {
    let one = |o: &Map<String, Value>, i: Option<usize>| -> Option<Value> {
        let pick = |k: &str| match (o.get(k), i) {
            (Some(Value::Array(a)), Some(i)) => a.get(i).cloned(),
            (Some(Value::Array(_)), None) => None,
            (Some(x), _) => Some(x.clone()),
            (None, _) => None,
        };
        let mut r = Map::new();
        for (to, from) in [
            ("ARN", "arn"),
            ("type", "type"),
            ("accountId", "account_id"),
        ] {
            if let Some(x) = pick(from).filter(|x| !x.is_null()) {
                r.insert(to.into(), x);
            }
        }
        (!r.is_empty()).then_some(Value::Object(r))
    };
    match v {
        Value::Array(items) => items
            .iter()
            .filter_map(|x| x.as_object().and_then(|o| one(o, None)))
            .collect(),
        Value::Object(o) => match o.get("arn") {
            Some(Value::Array(a)) => (0..a.len()).filter_map(|i| one(o, Some(i))).collect(),
            _ => one(o, None).into_iter().collect(),
        },
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(doc: &str) -> Result<Found<'_>, Refused> {
        match unwrap(doc.as_bytes()) {
            Unwrapped::One(r) => r,
            Unwrapped::Many(_) => panic!("one record expected"),
        }
    }

    fn json(b: &[u8]) -> Value {
        serde_json::from_slice(b).expect("JSON")
    }

    const RECORD: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a"},"eventTime":"2024-01-02T03:04:05Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"us-east-1","requestParameters":{"disableApiTermination":false},"eventID":"6a1f0a34-5bd4-4b7f-9a52-96d2e3a2f8b0","recipientAccountId":"111122223333"}"#;

    #[test]
    fn a_cloudtrail_record_is_taken_as_it_is() {
        let f = one(RECORD).expect("record");
        assert_eq!(f.shape, Shape::CloudTrail);
        assert!(matches!(f.record, Cow::Borrowed(_)));
        // With Logstash's fields, in the record's own order, it is looked at.
        let logstash = RECORD.replace("\"eventTime\":", "\"@timestamp\":");
        assert_eq!(one(&logstash).expect("record").shape, Shape::Logstash);
        // Keys in another order: looked at, and still the record, untouched.
        let other = r#"{"eventTime":"2024-01-02T03:04:05Z","eventName":"X","eventSource":"s"}"#;
        let f = one(other).expect("record");
        assert_eq!(
            (f.shape, f.record.as_ref()),
            (Shape::CloudTrail, other.as_bytes())
        );
    }

    #[test]
    fn logstash_gives_back_the_record() {
        let mut m: Map<String, Value> = serde_json::from_str(RECORD).expect("record");
        let time = m.shift_remove("eventTime").expect("time");
        m.insert(
            "@timestamp".into(),
            Value::String("2024-01-02T03:04:05.000Z".into()),
        );
        m.insert("@version".into(), Value::String("1".into()));
        m.insert("tags".into(), serde_json::json!(["cloudtrail"]));
        if let Some(Value::Object(p)) = m.get_mut("requestParameters") {
            p.insert(
                "disableApiTermination".into(),
                serde_json::json!({"value": false}),
            );
        }
        let doc = serde_json::to_string(&m).expect("json");
        let f = one(&doc).expect("record");
        assert_eq!(f.shape, Shape::Logstash);
        assert_eq!(json(&f.record), json(RECORD.as_bytes()));
        // In the same order as the record: eventTime after userIdentity.
        let back: Map<String, Value> = serde_json::from_slice(&f.record).expect("json");
        assert_eq!(back.keys().position(|k| k == "eventTime"), Some(2));
        assert_eq!(time, back["eventTime"]);
        // A fraction of a second is kept.
        let doc = doc.replace(".000Z", ".250Z");
        assert_eq!(
            json(&one(&doc).expect("record").record)["eventTime"],
            "2024-01-02T03:04:05.250Z"
        );
    }

    #[test]
    fn beats_message_splunk_raw_and_event_original() {
        let quoted = serde_json::to_string(RECORD).expect("json");
        for (doc, shape) in [
            (
                format!(r#"{{"@timestamp":"2024-01-02T03:04:05.000Z","message":{quoted}}}"#),
                Shape::Logstash,
            ),
            (
                format!(r#"{{"_time":"2024","_raw":{quoted},"host":"h"}}"#),
                Shape::Splunk,
            ),
            (
                format!(r#"{{"preview":false,"result":{{"_raw":{quoted}}}}}"#),
                Shape::Splunk,
            ),
            (
                format!(
                    r#"{{"@timestamp":"x","event":{{"original":{quoted},"action":"RunInstances"}}}}"#
                ),
                Shape::Ecs,
            ),
            (format!(r#"{{"event.original":{quoted}}}"#), Shape::Ecs),
            (
                format!(
                    r#"{{"_index":"ct","_id":"1","_source":{{"event":{{"original":{quoted}}}}}}}"#
                ),
                Shape::Ecs,
            ),
            (
                format!(r#"{{"_index":"ct","_source":{RECORD}}}"#),
                Shape::CloudTrail,
            ),
        ] {
            let f = one(&doc).expect(&doc);
            assert_eq!(f.shape, shape, "{doc}");
            assert_eq!(f.record.as_ref(), RECORD.as_bytes(), "{doc}");
        }
    }

    #[test]
    fn a_search_response_gives_each_hit() {
        let quoted = serde_json::to_string(RECORD).expect("json");
        let doc = format!(
            r#"{{"took":3,"hits":{{"total":{{"value":3}},"hits":[{{"_source":{RECORD}}},{{"_source":{{"event":{{"original":{quoted}}}}}}},{{"_id":"gone"}}]}}}}"#
        );
        let Unwrapped::Many(hits) = unwrap(doc.as_bytes()) else {
            panic!("hits expected")
        };
        assert_eq!(hits.len(), 3);
        assert_eq!(hits[0].as_ref().map(|f| f.shape), Ok(Shape::CloudTrail));
        assert_eq!(
            hits[1].as_ref().map(|f| f.record.as_ref()),
            Ok(RECORD.as_bytes())
        );
        assert!(
            hits[2]
                .as_ref()
                .is_err_and(|r| r.reason.contains("without _source"))
        );
    }

    #[test]
    fn envelopes_beside_extracted_fields_bundles_and_splits() {
        let quoted = serde_json::to_string(RECORD).expect("json");
        // Splunk's fields extracted from the record sit beside `_raw`: the record wins.
        let doc = format!(r#"{{"eventTime":"2024-01-02T03:04:05Z","eventName":"X","_raw":{quoted}}}"#);
        let f = one(&doc).expect("record");
        assert_eq!((f.shape, f.record.as_ref()), (Shape::Splunk, RECORD.as_bytes()));
        // Beats or Logstash decoded the record and kept its time: their fields go.
        let doc = RECORD.replacen('{', r#"{"@timestamp":"2030-01-01T00:00:00.000Z","@version":"1","agent":{"type":"filebeat"},"#, 1);
        let f = one(&doc).expect("record");
        assert_eq!(f.shape, Shape::Logstash);
        assert_eq!(json(&f.record), json(RECORD.as_bytes()));
        // Logstash's split filter puts the record under `Records`.
        let split = format!(r#"{{"@timestamp":"2024-01-02T03:04:05.000Z","@version":"1","Records":{RECORD}}}"#);
        let f = one(&split).expect("record");
        assert_eq!((f.shape, f.record.as_ref()), (Shape::Logstash, RECORD.as_bytes()));
        // A whole delivery file as one message, and Splunk's `results`: every record.
        let file = serde_json::to_string(&format!(r#"{{"Records":[{RECORD},{RECORD}]}}"#)).expect("json");
        for doc in [
            format!(r#"{{"@timestamp":"x","message":{file}}}"#),
            format!(r#"{{"results":[{{"_raw":{quoted}}},{{"_raw":{quoted}}}]}}"#),
        ] {
            let Unwrapped::Many(found) = unwrap(doc.as_bytes()) else { panic!("records expected: {doc}") };
            assert_eq!(found.len(), 2, "{doc}");
            assert!(found.iter().all(|f| f.as_ref().is_ok_and(|f| f.record.as_ref() == RECORD.as_bytes())), "{doc}");
        }
        // What would be rebuilt field by field has a size limit.
        let big = format!(r#"{{"@timestamp":"2024-01-02T03:04:05Z","eventName":"X","a":"{}"}}"#, "x".repeat(REBUILT_BYTES));
        assert!(one(&big).is_err_and(|r| r.reason.contains("larger than the 4 MiB")));
    }

    #[test]
    fn broken_envelopes_are_refused_with_reasons() {
        let r = one(r#"{"_raw":"{\"eventTime\": not json"}"#).expect_err("refused");
        assert_eq!(r.shape, Shape::Splunk);
        assert!(
            r.reason.starts_with("_raw is not a JSON record"),
            "{}",
            r.reason
        );
        let r = one(r#"{"_raw":42}"#).expect_err("refused");
        assert_eq!(r.reason, "_raw is not a string");
        let r = one(r#"{"@timestamp":"2024-01-02T03:04:05Z","aws":{"cloudtrail":{"event_version":"1.08"}},"event":{"provider":"s3.amazonaws.com"}}"#)
            .expect_err("refused");
        assert_eq!(r.shape, Shape::Ecs);
        assert!(
            r.reason
                .ends_with("without event.action: the event cannot be rebuilt"),
            "{}",
            r.reason
        );
        let r = one(r#"{"@timestamp":12,"eventName":"X"}"#).expect_err("refused");
        assert_eq!(r.shape, Shape::Logstash);
    }

    #[test]
    fn an_ecs_document_is_rebuilt_and_says_what_it_lacks() {
        let doc = r#"{"@timestamp":"2014-07-08T17:35:27.000Z",
            "aws":{"cloudtrail":{"event_version":"1.05","error_message":"Failed authentication",
              "flattened":{"response_elements":{"ConsoleLogin":"Failure"}},
              "request_parameters":"{a=b}",
              "response_elements":"{ConsoleLogin=Failure}",
              "resources":{"arn":["arn:aws:s3:::b","arn:aws:s3:::b/k"],"type":["AWS::S3::Bucket","AWS::S3::Object"]},
              "user_identity":{"arn":"arn:aws:sts::123456789012:assumed-role/R/S","type":"AssumedRole","access_key_id":"ASIAEXAMPLE",
                "session_context":{"mfa_authenticated":"false","creation_date":"2014-07-08T17:30:00.000Z","session_issuer":{"arn":"arn:aws:iam::123456789012:role/R","type":"Role","account_id":"123456789012"}}}}},
            "cloud":{"account":{"id":"999999999999"},"region":"us-east-2"},
            "event":{"action":"ConsoleLogin","provider":"signin.amazonaws.com","id":"11ea990b-4678-4bcd-8fbe-625EXAMPLE","outcome":"failure"},
            "source":{"address":"89.160.20.156","ip":"89.160.20.156"},
            "user":{"id":"AROAEXAMPLE:S","name":"R"},
            "user_agent":{"original":"Mozilla/5.0","name":"Firefox"},
            "tls":{"version_protocol":"tls","version":"1.2","cipher":"ECDHE-RSA-AES128-GCM-SHA256","client":{"server_name":"signin.aws.amazon.com"}}}"#;
        let f = one(doc).expect("rebuilt");
        assert_eq!(f.shape, Shape::Ecs);
        assert_eq!(f.missing, vec!["requestParameters", "recipientAccountId"]);
        let r = json(&f.record);
        assert_eq!(r["eventTime"], "2014-07-08T17:35:27Z");
        assert_eq!(r["eventName"], "ConsoleLogin");
        assert_eq!(r["eventSource"], "signin.amazonaws.com");
        assert_eq!(r["awsRegion"], "us-east-2");
        assert_eq!(r["sourceIPAddress"], "89.160.20.156");
        assert_eq!(r["userAgent"], "Mozilla/5.0");
        assert_eq!(r["eventID"], "11ea990b-4678-4bcd-8fbe-625EXAMPLE");
        assert_eq!(
            r["userIdentity"]["arn"],
            "arn:aws:sts::123456789012:assumed-role/R/S"
        );
        assert_eq!(
            r["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"],
            "R"
        );
        assert_eq!(r["userIdentity"].get("userName"), None);
        assert_eq!(r["responseElements"]["ConsoleLogin"], "Failure");
        assert_eq!(r["resources"][1]["ARN"], "arn:aws:s3:::b/k");
        assert_eq!(r["resources"][1]["type"], "AWS::S3::Object");
        // The caller's account comes from its ARN, not from the collector's cloud.
        assert_eq!(r["userIdentity"]["accountId"], "123456789012");
        assert_eq!(r["userIdentity"]["sessionContext"]["attributes"]["creationDate"], "2014-07-08T17:30:00Z");
        assert_eq!(r["tlsDetails"]["tlsVersion"], "TLSv1.2");
        assert_eq!(r["tlsDetails"]["cipherSuite"], "ECDHE-RSA-AES128-GCM-SHA256");
        assert_eq!(r["tlsDetails"]["clientProvidedHostHeader"], "signin.aws.amazon.com");
    }
}
