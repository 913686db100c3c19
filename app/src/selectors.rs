//! Event selectors, basic and advanced, as a trail's inventory keeps them, and whether a
//! trail with them records a given event (and by which selector). The evaluator behind
//! the cost preview of a selector change and the event page's "recorded by" line.
//!
//! Semantics, as CloudTrail documents them:
//! - Basic selectors (up to 5) are ORed. Each records management events (unless
//!   `IncludeManagementEvents` is false) of its read/write type, except the event sources
//!   it excludes, and data events on the resources it lists: S3 objects by ARN prefix
//!   (`arn:aws:s3` for every bucket), other types by exact ARN or their service's
//!   all-resources value (`arn:aws:lambda`, `arn:aws:dynamodb`).
//! - Advanced selectors are ORed; the field selectors of one are ANDed; within a field
//!   selector every operator given must hold: one of `Equals`, one of `StartsWith`, one
//!   of `EndsWith`, none of `NotEquals`, `NotStartsWith`, `NotEndsWith`. The
//!   `resources.type` and `resources.ARN` conditions must hold for one same resource.
//!   A trail with advanced selectors ignores basic ones.

use serde_json::Value;

/// What a trail records, as its inventory snapshot holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selectors {
    Basic(Vec<Basic>),
    Advanced(Vec<Advanced>),
}

/// Which events a basic selector reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadWrite {
    All,
    ReadOnly,
    WriteOnly,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Basic {
    pub read_write: ReadWrite,
    pub management: bool,
    pub exclude_sources: Vec<String>,
    /// `(resource type, values)`.
    pub data: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advanced {
    pub name: Option<String>,
    pub fields: Vec<Field>,
}

/// One field selector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Field {
    pub field: String,
    pub equals: Vec<String>,
    pub starts_with: Vec<String>,
    pub ends_with: Vec<String>,
    pub not_equals: Vec<String>,
    pub not_starts_with: Vec<String>,
    pub not_ends_with: Vec<String>,
}

/// The facts of an event a selector can look at.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    /// `Management`, `Data`, `NetworkActivity`, `Insight`, ...
    pub category: &'a str,
    pub source: &'a str,
    pub name: &'a str,
    pub read_only: Option<bool>,
    /// `(type, ARN)` of each resource.
    pub resources: Vec<(&'a str, &'a str)>,
    pub event_type: Option<&'a str>,
    pub from_console: Option<bool>,
    pub user_arn: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub vpc_endpoint_id: Option<&'a str>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl Selectors {
    /// From a snapshot's `config`: advanced selectors when it has any, else basic ones.
    /// A trail with neither records management events, read and write (CloudTrail's
    /// default).
    pub fn of_config(config: &Value) -> Selectors {
        let advanced: Vec<Advanced> = config["advanced_event_selectors"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|s| Advanced {
                        name: s["name"].as_str().map(str::to_owned),
                        fields: s["fields"]
                            .as_array()
                            .map(|fs| {
                                fs.iter()
                                    .map(|f| Field {
                                        field: f["field"].as_str().unwrap_or("").to_owned(),
                                        equals: strings(&f["equals"]),
                                        starts_with: strings(&f["starts_with"]),
                                        ends_with: strings(&f["ends_with"]),
                                        not_equals: strings(&f["not_equals"]),
                                        not_starts_with: strings(&f["not_starts_with"]),
                                        not_ends_with: strings(&f["not_ends_with"]),
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !advanced.is_empty() {
            return Selectors::Advanced(advanced);
        }
        let basic: Vec<Basic> = config["event_selectors"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|s| Basic {
                        read_write: match s["read_write"].as_str() {
                            Some("ReadOnly") => ReadWrite::ReadOnly,
                            Some("WriteOnly") => ReadWrite::WriteOnly,
                            _ => ReadWrite::All,
                        },
                        management: s["management_events"].as_bool().unwrap_or(true),
                        exclude_sources: strings(&s["exclude_management_sources"]),
                        data: s["data_resources"]
                            .as_array()
                            .map(|ds| {
                                ds.iter()
                                    .map(|d| {
                                        (
                                            d["type"].as_str().unwrap_or("").to_owned(),
                                            strings(&d["values"]),
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        if basic.is_empty() {
            return Selectors::Basic(vec![Basic {
                read_write: ReadWrite::All,
                management: true,
                exclude_sources: Vec::new(),
                data: Vec::new(),
            }]);
        }
        Selectors::Basic(basic)
    }

    /// From the `requestParameters` of a `PutEventSelectors` event (camelCase, as the
    /// API received them), read leniently: what CloudTrail accepted is taken as it is,
    /// including data resources with no values (which record nothing). `None` when the
    /// event carries neither list.
    pub fn of_request(params: &Value) -> Option<Selectors> {
        let camel = |o: &Value, k: &str| o.get(k).cloned().unwrap_or(Value::Null);
        if let Some(list) = params.get("advancedEventSelectors").and_then(Value::as_array).filter(|l| !l.is_empty()) {
            let advanced: Vec<Value> = list
                .iter()
                .map(|s| {
                    let fields: Vec<Value> = s["fieldSelectors"]
                        .as_array()
                        .map(|fs| {
                            fs.iter()
                                .map(|f| {
                                    serde_json::json!({
                                        "field": camel(f, "field"),
                                        "equals": camel(f, "equals"),
                                        "starts_with": camel(f, "startsWith"),
                                        "ends_with": camel(f, "endsWith"),
                                        "not_equals": camel(f, "notEquals"),
                                        "not_starts_with": camel(f, "notStartsWith"),
                                        "not_ends_with": camel(f, "notEndsWith"),
                                    })
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    serde_json::json!({"name": camel(s, "name"), "fields": fields})
                })
                .collect();
            return Some(Selectors::of_config(&serde_json::json!({"advanced_event_selectors": advanced})));
        }
        let list = params.get("eventSelectors")?.as_array()?;
        let basic: Vec<Value> = list
            .iter()
            .map(|s| {
                serde_json::json!({
                    "read_write": camel(s, "readWriteType"),
                    "management_events": camel(s, "includeManagementEvents"),
                    "exclude_management_sources": camel(s, "excludeManagementEventSources"),
                    "data_resources": camel(s, "dataResources"),
                })
            })
            .collect();
        if basic.is_empty() {
            // An empty list records nothing at all.
            return Some(Selectors::Basic(Vec::new()));
        }
        Some(Selectors::of_config(&serde_json::json!({"event_selectors": basic})))
    }

    /// The index of the first selector that records the event, if any does.
    pub fn records(&self, e: &Facts<'_>) -> Option<usize> {
        match self {
            Selectors::Basic(list) => list.iter().position(|s| s.records(e)),
            Selectors::Advanced(list) => list.iter().position(|s| s.records(e)),
        }
    }
}

impl ReadWrite {
    fn admits(self, read_only: Option<bool>) -> bool {
        match self {
            ReadWrite::All => true,
            ReadWrite::ReadOnly => read_only == Some(true),
            ReadWrite::WriteOnly => read_only == Some(false),
        }
    }
}

/// Whether a data resource value of `kind` covers the resource `arn`.
fn covers(kind: &str, value: &str, arn: &str) -> bool {
    if kind == "AWS::S3::Object" {
        return arn.starts_with(value);
    }
    // `arn:aws:lambda`, `arn:aws:dynamodb`: every resource of the service.
    let every = value.split(':').count() == 3;
    if every {
        return arn.starts_with(&format!("{value}:"));
    }
    arn == value
}

impl Basic {
    fn records(&self, e: &Facts<'_>) -> bool {
        if !self.read_write.admits(e.read_only) {
            return false;
        }
        match e.category {
            "Management" => self.management && !self.exclude_sources.iter().any(|s| s == e.source),
            "Data" => self.data.iter().any(|(kind, values)| {
                e.resources
                    .iter()
                    .any(|(t, arn)| t == kind && values.iter().any(|v| covers(kind, v, arn)))
            }),
            _ => false,
        }
    }
}

impl Field {
    fn holds(&self, value: Option<&str>) -> bool {
        let v = value.unwrap_or("");
        (self.equals.is_empty() || self.equals.iter().any(|x| x == v))
            && (self.starts_with.is_empty()
                || self.starts_with.iter().any(|x| v.starts_with(x.as_str())))
            && (self.ends_with.is_empty() || self.ends_with.iter().any(|x| v.ends_with(x.as_str())))
            && !self.not_equals.iter().any(|x| x == v)
            && !self
                .not_starts_with
                .iter()
                .any(|x| v.starts_with(x.as_str()))
            && !self.not_ends_with.iter().any(|x| v.ends_with(x.as_str()))
    }

    fn is_resource(&self) -> bool {
        self.field == "resources.type" || self.field == "resources.ARN"
    }
}

fn flag(b: Option<bool>) -> Option<&'static str> {
    b.map(|b| if b { "true" } else { "false" })
}

impl Advanced {
    fn records(&self, e: &Facts<'_>) -> bool {
        let plain = self.fields.iter().filter(|f| !f.is_resource()).all(|f| {
            let value = match f.field.as_str() {
                "eventCategory" => Some(e.category),
                "eventSource" => Some(e.source),
                "eventName" => Some(e.name),
                "readOnly" => flag(e.read_only),
                "eventType" => e.event_type,
                "sessionCredentialFromConsole" => flag(e.from_console),
                "userIdentity.arn" => e.user_arn,
                "errorCode" => e.error_code,
                "vpcEndpointId" => e.vpc_endpoint_id,
                // A field this evaluator does not know: it cannot say the event is
                // recorded.
                _ => return false,
            };
            f.holds(value)
        });
        if !plain {
            return false;
        }
        let on_resources: Vec<&Field> = self.fields.iter().filter(|f| f.is_resource()).collect();
        on_resources.is_empty()
            || e.resources.iter().any(|(t, arn)| {
                on_resources
                    .iter()
                    .all(|f| f.holds(Some(if f.field == "resources.type" { t } else { arn })))
            })
    }
}

/// A service's name as people say it, from its event source.
fn service_name(source: &str) -> String {
    match source {
        "kms.amazonaws.com" => "AWS KMS".into(),
        "rdsdata.amazonaws.com" => "Amazon RDS Data API".into(),
        "s3.amazonaws.com" => "S3".into(),
        "lambda.amazonaws.com" => "Lambda".into(),
        "dynamodb.amazonaws.com" => "DynamoDB".into(),
        "ec2.amazonaws.com" => "EC2".into(),
        "cloudtrail.amazonaws.com" => "CloudTrail".into(),
        other => other
            .strip_suffix(".amazonaws.com")
            .unwrap_or(other)
            .to_owned(),
    }
}

/// A resource type's service and what its resources are called: `("S3", "buckets")`.
fn type_name(kind: &str) -> (String, String) {
    match kind {
        "AWS::S3::Object" => ("S3".into(), "buckets".into()),
        "AWS::Lambda::Function" => ("Lambda".into(), "functions".into()),
        "AWS::DynamoDB::Table" => ("DynamoDB".into(), "tables".into()),
        other => {
            let mut parts = other.split("::").skip(1);
            let service = parts.next().unwrap_or(other).to_owned();
            let what = parts
                .next()
                .map_or("resources".to_owned(), |r| format!("{r}s"));
            (service, what)
        }
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

impl ReadWrite {
    fn phrase(self) -> &'static str {
        match self {
            ReadWrite::All => "read and write",
            ReadWrite::ReadOnly => "read only",
            ReadWrite::WriteOnly => "write only",
        }
    }
}

impl Selectors {
    /// What each selector records, in a sentence: "All management events, read and
    /// write, except AWS KMS", "S3 data events: GetObject and PutObject on
    /// arn:aws:s3:::prod-data/ only", "Network activity: VPC endpoints for S3, denied
    /// calls only".
    pub fn sentences(&self) -> Vec<String> {
        match self {
            Selectors::Basic(list) => list.iter().flat_map(Basic::sentences).collect(),
            Selectors::Advanced(list) => list.iter().map(Advanced::sentence).collect(),
        }
    }
}

impl Basic {
    fn sentences(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.management {
            let mut s = format!("All management events, {}", self.read_write.phrase());
            if !self.exclude_sources.is_empty() {
                let names: Vec<String> = self
                    .exclude_sources
                    .iter()
                    .map(|x| service_name(x))
                    .collect();
                s.push_str(&format!(", except {}", and_list(&names)));
            }
            out.push(s);
        }
        for (kind, values) in &self.data {
            let (service, what) = type_name(kind);
            let every = values
                .iter()
                .any(|v| v.split(':').count() == 3 || v == "arn:aws:s3:::");
            let on = if every {
                format!(": all {what}")
            } else {
                format!(" on {} only", and_list(values))
            };
            let rw = match self.read_write {
                ReadWrite::All => String::new(),
                rw => format!(", {}", rw.phrase()),
            };
            out.push(format!("{service} data events{on}{rw}"));
        }
        if out.is_empty() {
            out.push("Nothing".into());
        }
        out
    }
}

impl Advanced {
    fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.field == name)
    }

    fn sentence(&self) -> String {
        let category = self
            .field("eventCategory")
            .and_then(|f| f.equals.first())
            .map_or("", String::as_str);
        let types: Vec<&str> = self
            .field("resources.type")
            .map(|f| f.equals.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let sources = self.field("eventSource");
        let mut head = match category {
            "Management" => "Management events".to_owned(),
            "Data" => match types.as_slice() {
                [one] => format!("{} data events", type_name(one).0),
                _ => "Data events".to_owned(),
            },
            "NetworkActivity" => "Network activity".to_owned(),
            "" => "Events".to_owned(),
            other => format!("{other} events"),
        };
        let mut parts: Vec<String> = Vec::new();
        // What the selector narrows, in the order people read it.
        let names = self.field("eventName");
        let arns = self.field("resources.ARN");
        let mut what = String::new();
        if let Some(n) = names.filter(|n| !n.equals.is_empty()) {
            what.push_str(&and_list(&n.equals));
        }
        if let Some(a) = arns {
            let on: Vec<String> = a.equals.iter().chain(&a.starts_with).cloned().collect();
            if !on.is_empty() {
                if what.is_empty() {
                    what.push_str("all");
                }
                what.push_str(&format!(" on {} only", and_list(&on)));
            }
            if !a.not_starts_with.is_empty() || !a.not_equals.is_empty() {
                let off: Vec<String> = a
                    .not_equals
                    .iter()
                    .chain(&a.not_starts_with)
                    .cloned()
                    .collect();
                what.push_str(&format!(" except on {}", and_list(&off)));
            }
        }
        if category == "NetworkActivity"
            && let Some(s) = sources.filter(|s| !s.equals.is_empty())
        {
            let names: Vec<String> = s.equals.iter().map(|x| service_name(x)).collect();
            parts.push(format!("VPC endpoints for {}", and_list(&names)));
        }
        if !what.is_empty() {
            parts.push(what.trim().to_owned());
        }
        match self
            .field("readOnly")
            .and_then(|f| f.equals.first())
            .map(String::as_str)
        {
            Some("true") => parts.push("read only".into()),
            Some("false") => parts.push("write only".into()),
            _ if category == "Management" => parts.push("read and write".into()),
            _ => {}
        }
        if let Some(s) = sources.filter(|s| !s.not_equals.is_empty()) {
            let names: Vec<String> = s.not_equals.iter().map(|x| service_name(x)).collect();
            parts.push(format!("except {}", and_list(&names)));
        }
        if let Some(n) = names.filter(|n| !n.not_equals.is_empty()) {
            parts.push(format!("except {}", and_list(&n.not_equals)));
        }
        if let Some(e) = self.field("errorCode")
            && e.equals == ["VpceAccessDenied"]
        {
            parts.push("denied calls only".into());
        }
        // Every condition the words above leave out is said as it is: a sentence never
        // reads wider than the selector.
        let mut rest = Vec::new();
        for f in &self.fields {
            for (op, values) in OPERATORS.iter().zip(f.operators()) {
                if values.is_empty() || said(&f.field, op, values, category) {
                    continue;
                }
                let verb = match *op {
                    "Equals" => "is",
                    "StartsWith" => "starts with",
                    "EndsWith" => "ends with",
                    "NotEquals" => "is not",
                    "NotStartsWith" => "does not start with",
                    _ => "does not end with",
                };
                rest.push(format!("{} {verb} {}", f.field, values.join(" or ")));
            }
        }
        if !rest.is_empty() {
            parts.push(format!("only where {}", rest.join(" and ")));
        }
        if category == "Management" && !parts.is_empty() {
            head = format!("All {}", head.to_lowercase());
            return format!("{head}, {}", parts.join(", "));
        }
        if parts.is_empty() {
            return head;
        }
        format!("{head}: {}", parts.join(", "))
    }
}

/// Whether the sentence of a selector of `category` says the condition `field op values`.
fn said(field: &str, op: &str, values: &[String], category: &str) -> bool {
    match (field, op) {
        ("eventCategory", "Equals") => values.len() == 1,
        ("resources.type", "Equals") => category == "Data" && values.len() == 1,
        ("eventName", "Equals" | "NotEquals") => true,
        ("resources.ARN", "Equals" | "StartsWith" | "NotEquals" | "NotStartsWith") => true,
        ("eventSource", "Equals") => category == "NetworkActivity",
        ("eventSource", "NotEquals") => true,
        ("readOnly", "Equals") => values.len() == 1 && matches!(values[0].as_str(), "true" | "false"),
        ("errorCode", "Equals") => values == ["VpceAccessDenied"],
        _ => false,
    }
}

impl<'a> Facts<'a> {
    /// The facts of a CloudTrail record as delivered.
    pub fn of_record(r: &'a Value) -> Facts<'a> {
        let text = |k: &str| r.get(k).and_then(Value::as_str);
        let category = text("eventCategory").unwrap_or(
            if r.get("managementEvent").and_then(Value::as_bool) == Some(false) {
                "Data"
            } else {
                "Management"
            },
        );
        Facts {
            category,
            source: text("eventSource").unwrap_or(""),
            name: text("eventName").unwrap_or(""),
            read_only: match r.get("readOnly") {
                Some(Value::Bool(b)) => Some(*b),
                Some(Value::String(s)) => Some(s == "true"),
                _ => None,
            },
            resources: r
                .get("resources")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(|x| Some((x.get("type")?.as_str()?, x.get("ARN")?.as_str()?)))
                        .collect()
                })
                .unwrap_or_default(),
            event_type: text("eventType"),
            from_console: text("sessionCredentialFromConsole").map(|v| v == "true"),
            user_arn: r.pointer("/userIdentity/arn").and_then(Value::as_str),
            error_code: text("errorCode"),
            vpc_endpoint_id: text("vpcEndpointId"),
        }
    }
}

/// The fields an advanced selector may name (CloudTrail's list).
pub const FIELDS: [&str; 11] = [
    "eventCategory",
    "eventSource",
    "eventName",
    "readOnly",
    "eventType",
    "sessionCredentialFromConsole",
    "userIdentity.arn",
    "errorCode",
    "vpcEndpointId",
    "resources.type",
    "resources.ARN",
];

/// The fields whose value is only in the stored record (not in the event's columns).
pub const RECORD_FIELDS: [&str; 3] = ["sessionCredentialFromConsole", "userIdentity.arn", "vpcEndpointId"];

const OPERATORS: [&str; 6] = [
    "Equals",
    "StartsWith",
    "EndsWith",
    "NotEquals",
    "NotStartsWith",
    "NotEndsWith",
];

/// Why proposed selectors cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(s: impl Into<String>) -> Invalid {
    Invalid(s.into())
}

/// A JSON list of strings (`what` names it in the error).
fn string_list(v: &Value, what: &str) -> Result<Vec<String>, Invalid> {
    let list = v
        .as_array()
        .ok_or_else(|| invalid(format!("{what} is a list of strings")))?;
    list.iter()
        .map(|x| {
            x.as_str()
                .map(str::to_owned)
                .ok_or_else(|| invalid(format!("{what} is a list of strings")))
        })
        .collect()
}

fn known_keys(o: &serde_json::Map<String, Value>, keys: &[&str], what: &str) -> Result<(), Invalid> {
    match o.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(invalid(format!(
            "{what} has an unknown key \"{}\" (it takes {})",
            crate::fmt::clip(k, 40),
            keys.join(", ")
        ))),
        None => Ok(()),
    }
}

impl Selectors {
    /// As the AWS CLI and API take them: `[{"Name", "FieldSelectors": [{"Field",
    /// "Equals", ...}]}]` for advanced selectors, `[{"ReadWriteType",
    /// "IncludeManagementEvents", "DataResources", "ExcludeManagementEventSources"}]`
    /// for basic ones.
    pub fn to_aws(&self) -> Value {
        match self {
            Selectors::Advanced(list) => Value::Array(
                list.iter()
                    .map(|a| {
                        let mut o = serde_json::Map::new();
                        if let Some(n) = &a.name {
                            o.insert("Name".into(), Value::from(n.clone()));
                        }
                        let fields: Vec<Value> = a
                            .fields
                            .iter()
                            .map(|f| {
                                let mut m = serde_json::Map::new();
                                m.insert("Field".into(), Value::from(f.field.clone()));
                                for (k, v) in OPERATORS.iter().zip(f.operators()) {
                                    if !v.is_empty() {
                                        m.insert((*k).into(), Value::from(v.to_vec()));
                                    }
                                }
                                Value::Object(m)
                            })
                            .collect();
                        o.insert("FieldSelectors".into(), Value::Array(fields));
                        Value::Object(o)
                    })
                    .collect(),
            ),
            Selectors::Basic(list) => Value::Array(
                list.iter()
                    .map(|b| {
                        serde_json::json!({
                            "ReadWriteType": match b.read_write {
                                ReadWrite::All => "All",
                                ReadWrite::ReadOnly => "ReadOnly",
                                ReadWrite::WriteOnly => "WriteOnly",
                            },
                            "IncludeManagementEvents": b.management,
                            "ExcludeManagementEventSources": b.exclude_sources,
                            "DataResources": b.data.iter().map(|(t, v)| serde_json::json!({"Type": t, "Values": v})).collect::<Vec<_>>(),
                        })
                    })
                    .collect(),
            ),
        }
    }

    /// Reads selectors as the AWS CLI takes them (see [`Selectors::to_aws`]), checked
    /// as CloudTrail would check them, so that what is sent is not refused: known
    /// fields and operators, non-empty values, an `eventCategory` in every advanced
    /// selector and a `resources.type` in every data one, `readOnly` as `true` or
    /// `false`, at most 5 basic selectors, 250 data resources and 500 advanced values.
    pub fn from_aws(text: &str) -> Result<Selectors, Invalid> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| invalid(format!("not JSON: {e}")))?;
        // `{"AdvancedEventSelectors": [...]}` or `{"EventSelectors": [...]}` as
        // `get-event-selectors` prints them, or the bare list.
        let (list, advanced) = match &v {
            Value::Object(o) if o.contains_key("AdvancedEventSelectors") => {
                (&o["AdvancedEventSelectors"], true)
            }
            Value::Object(o) if o.contains_key("EventSelectors") => (&o["EventSelectors"], false),
            Value::Array(a) => (
                &v,
                a.first()
                    .and_then(Value::as_object)
                    .is_some_and(|o| o.contains_key("FieldSelectors")),
            ),
            _ => return Err(invalid("a list of selectors is expected")),
        };
        let list = list
            .as_array()
            .ok_or_else(|| invalid("a list of selectors is expected"))?;
        if list.is_empty() {
            return Err(invalid(
                "no selector: to record nothing, stop logging instead",
            ));
        }
        if advanced {
            Self::advanced_from_aws(list)
        } else {
            Self::basic_from_aws(list)
        }
    }

    fn advanced_from_aws(list: &[Value]) -> Result<Selectors, Invalid> {
        if list.len() > 500 {
            return Err(invalid("at most 500 advanced selectors"));
        }
        let mut out = Vec::new();
        let mut values = 0;
        for (i, s) in list.iter().enumerate() {
            let at = format!("selector {}", i + 1);
            let o = s
                .as_object()
                .ok_or_else(|| invalid(format!("{at} is not an object")))?;
            known_keys(o, &["Name", "FieldSelectors"], &at)?;
            let name = match o.get("Name") {
                None | Some(Value::Null) => None,
                Some(Value::String(n)) if (1..=1000).contains(&n.chars().count()) => Some(n.clone()),
                Some(_) => return Err(invalid(format!("{at}: Name is a string of 1 to 1000 characters"))),
            };
            let fs = o
                .get("FieldSelectors")
                .and_then(Value::as_array)
                .filter(|f| !f.is_empty())
                .ok_or_else(|| invalid(format!("{at} has no FieldSelectors")))?;
            let mut fields = Vec::new();
            for f in fs {
                let fo = f
                    .as_object()
                    .ok_or_else(|| invalid(format!("{at}: a field selector is an object")))?;
                let mut keys = vec!["Field"];
                keys.extend(OPERATORS);
                known_keys(fo, &keys, &at)?;
                let field = fo
                    .get("Field")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("{at}: a field selector has no Field")))?;
                if !FIELDS.contains(&field) {
                    return Err(invalid(format!(
                        "{at}: unknown field \"{}\" (known: {})",
                        crate::fmt::clip(field, 40),
                        FIELDS.join(", ")
                    )));
                }
                let op = |k: &str| -> Result<Vec<String>, Invalid> {
                    match fo.get(k) {
                        None => Ok(Vec::new()),
                        Some(v) => {
                            let l = string_list(v, &format!("{at}: {field} {k}"))?;
                            if l.is_empty() || l.iter().any(String::is_empty) {
                                return Err(invalid(format!("{at}: {field} {k} needs values, none empty")));
                            }
                            if l.iter().any(|x| x.chars().count() > 2048) {
                                return Err(invalid(format!("{at}: a value of {field} is longer than 2048 characters")));
                            }
                            Ok(l)
                        }
                    }
                };
                let f = Field {
                    field: field.to_owned(),
                    equals: op("Equals")?,
                    starts_with: op("StartsWith")?,
                    ends_with: op("EndsWith")?,
                    not_equals: op("NotEquals")?,
                    not_starts_with: op("NotStartsWith")?,
                    not_ends_with: op("NotEndsWith")?,
                };
                let n: usize = f.operators().iter().map(|v| v.len()).sum();
                if n == 0 {
                    return Err(invalid(format!("{at}: {field} has no operator")));
                }
                values += n;
                if matches!(field, "eventCategory" | "readOnly" | "resources.type")
                    && (f.equals.len() != 1 || n != 1)
                {
                    return Err(invalid(format!("{at}: {field} takes Equals with one value")));
                }
                if field == "sessionCredentialFromConsole"
                    && (n != 1 || f.equals.len() + f.not_equals.len() != 1)
                {
                    return Err(invalid(format!("{at}: {field} takes Equals or NotEquals with one value")));
                }
                if matches!(field, "readOnly" | "sessionCredentialFromConsole")
                    && !f
                        .equals
                        .iter()
                        .chain(&f.not_equals)
                        .all(|v| matches!(v.as_str(), "true" | "false"))
                {
                    return Err(invalid(format!("{at}: {field} is \"true\" or \"false\"")));
                }
                if fields.iter().any(|g: &Field| g.field == f.field) {
                    return Err(invalid(format!("{at}: {field} is named twice")));
                }
                fields.push(f);
            }
            let category = fields
                .iter()
                .find(|f| f.field == "eventCategory")
                .ok_or_else(|| invalid(format!("{at} has no eventCategory")))?;
            for c in &category.equals {
                if !matches!(c.as_str(), "Management" | "Data" | "NetworkActivity") {
                    return Err(invalid(format!(
                        "{at}: eventCategory is Management, Data or NetworkActivity, not \"{}\"",
                        crate::fmt::clip(c, 40)
                    )));
                }
            }
            let category = category.equals[0].clone();
            let named = |n: &str| fields.iter().find(|f| f.field == n);
            // Which fields each category takes (CloudTrail refuses the others).
            let allowed: &[&str] = match category.as_str() {
                "Management" => &["eventCategory", "readOnly", "eventSource"],
                "NetworkActivity" => &["eventCategory", "eventSource", "eventName", "errorCode", "vpcEndpointId"],
                _ => &[
                    "eventCategory", "eventSource", "eventName", "readOnly", "eventType",
                    "sessionCredentialFromConsole", "userIdentity.arn", "resources.type", "resources.ARN",
                ],
            };
            if let Some(f) = fields.iter().find(|f| !allowed.contains(&f.field.as_str())) {
                return Err(invalid(format!(
                    "{at}: {category} selectors do not take {} (they take {})",
                    f.field,
                    allowed.join(", ")
                )));
            }
            if category == "Management"
                && let Some(f) = named("eventSource")
                && (f.not_equals.len() != f.operators().iter().map(|v| v.len()).sum::<usize>()
                    || f.not_equals.iter().any(|v| !matches!(v.as_str(), "kms.amazonaws.com" | "rdsdata.amazonaws.com")))
            {
                return Err(invalid(format!(
                    "{at}: on management events, eventSource only leaves out kms.amazonaws.com or rdsdata.amazonaws.com (NotEquals)"
                )));
            }
            if category == "Data" && named("resources.type").is_none() {
                return Err(invalid(format!("{at}: data events need a resources.type")));
            }
            if category == "NetworkActivity" && named("eventSource").is_none_or(|f| f.equals.is_empty()) {
                return Err(invalid(format!("{at}: network activity needs an eventSource (Equals)")));
            }
            out.push(Advanced { name, fields });
        }
        if values > 500 {
            return Err(invalid(format!("{values} values: at most 500 in all the selectors")));
        }
        Ok(Selectors::Advanced(out))
    }

    fn basic_from_aws(list: &[Value]) -> Result<Selectors, Invalid> {
        if list.len() > 5 {
            return Err(invalid("at most 5 basic selectors"));
        }
        let mut out = Vec::new();
        let mut resources = 0;
        for (i, s) in list.iter().enumerate() {
            let at = format!("selector {}", i + 1);
            let o = s
                .as_object()
                .ok_or_else(|| invalid(format!("{at} is not an object")))?;
            known_keys(
                o,
                &["ReadWriteType", "IncludeManagementEvents", "DataResources", "ExcludeManagementEventSources"],
                &at,
            )?;
            let read_write = match o.get("ReadWriteType").and_then(Value::as_str) {
                None | Some("All") => ReadWrite::All,
                Some("ReadOnly") => ReadWrite::ReadOnly,
                Some("WriteOnly") => ReadWrite::WriteOnly,
                Some(_) => return Err(invalid(format!("{at}: ReadWriteType is All, ReadOnly or WriteOnly"))),
            };
            let management = match o.get("IncludeManagementEvents") {
                None => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(invalid(format!("{at}: IncludeManagementEvents is true or false"))),
            };
            let exclude_sources = match o.get("ExcludeManagementEventSources") {
                None => Vec::new(),
                Some(v) => string_list(v, &format!("{at}: ExcludeManagementEventSources"))?,
            };
            if exclude_sources
                .iter()
                .any(|x| !matches!(x.as_str(), "kms.amazonaws.com" | "rdsdata.amazonaws.com"))
            {
                return Err(invalid(format!(
                    "{at}: only kms.amazonaws.com and rdsdata.amazonaws.com can be excluded"
                )));
            }
            let mut data = Vec::new();
            if let Some(ds) = o.get("DataResources") {
                let ds = ds
                    .as_array()
                    .ok_or_else(|| invalid(format!("{at}: DataResources is a list")))?;
                for d in ds {
                    // Basic selectors take these three; the others need advanced ones.
                    let kind = d["Type"]
                        .as_str()
                        .filter(|t| matches!(*t, "AWS::S3::Object" | "AWS::Lambda::Function" | "AWS::DynamoDB::Table"))
                        .ok_or_else(|| invalid(format!(
                            "{at}: a basic selector's data resource Type is AWS::S3::Object, AWS::Lambda::Function or AWS::DynamoDB::Table (others need advanced selectors)"
                        )))?;
                    let values = string_list(&d["Values"], &format!("{at}: {kind} Values"))?;
                    if values.is_empty() {
                        return Err(invalid(format!("{at}: {kind} needs Values")));
                    }
                    if let Some(v) = values.iter().find(|v| !v.starts_with("arn:")) {
                        return Err(invalid(format!(
                            "{at}: \"{}\" is not an ARN",
                            crate::fmt::clip(v, 60)
                        )));
                    }
                    resources += values.len();
                    data.push((kind.to_owned(), values));
                }
            }
            if !management && data.is_empty() {
                return Err(invalid(format!("{at} records nothing")));
            }
            out.push(Basic {
                read_write,
                management,
                exclude_sources,
                data,
            });
        }
        if resources > 250 {
            return Err(invalid("at most 250 data resources"));
        }
        Ok(Selectors::Basic(out))
    }

    /// The fields the selectors name that only the stored record holds.
    pub fn needs_record(&self) -> bool {
        match self {
            Selectors::Basic(_) => false,
            Selectors::Advanced(list) => list
                .iter()
                .any(|a| a.fields.iter().any(|f| RECORD_FIELDS.contains(&f.field.as_str()))),
        }
    }

    /// The same selectors without their management events; `None` when nothing else
    /// would be recorded.
    pub fn without_management(&self) -> Option<Selectors> {
        let out = match self {
            Selectors::Advanced(list) => Selectors::Advanced(
                list.iter()
                    .filter(|a| {
                        !a.fields.iter().any(|f| {
                            f.field == "eventCategory" && f.equals.iter().any(|c| c == "Management")
                        })
                    })
                    .cloned()
                    .collect(),
            ),
            Selectors::Basic(list) => Selectors::Basic(
                list.iter()
                    .filter(|b| !b.data.is_empty())
                    .map(|b| Basic {
                        management: false,
                        exclude_sources: Vec::new(),
                        ..b.clone()
                    })
                    .collect(),
            ),
        };
        (!out.is_empty()).then_some(out)
    }

    /// How many selectors there are.
    pub fn len(&self) -> usize {
        match self {
            Selectors::Basic(l) => l.len(),
            Selectors::Advanced(l) => l.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sentences of selector `i` alone.
    pub fn sentences_of(&self, i: usize) -> Vec<String> {
        match self {
            Selectors::Basic(l) => l.get(i).map(Basic::sentences).unwrap_or_default(),
            Selectors::Advanced(l) => l.get(i).map(|a| vec![a.sentence()]).unwrap_or_default(),
        }
    }
}

impl Field {
    fn operators(&self) -> [&[String]; 6] {
        [
            &self.equals,
            &self.starts_with,
            &self.ends_with,
            &self.not_equals,
            &self.not_starts_with,
            &self.not_ends_with,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn management(source: &'static str, name: &'static str, read_only: bool) -> Facts<'static> {
        Facts {
            category: "Management",
            source,
            name,
            read_only: Some(read_only),
            ..Facts::default()
        }
    }

    fn s3_get(arn: &'static str) -> Facts<'static> {
        Facts {
            category: "Data",
            source: "s3.amazonaws.com",
            name: "GetObject",
            read_only: Some(true),
            resources: vec![("AWS::S3::Object", arn)],
            ..Facts::default()
        }
    }

    #[test]
    fn no_selectors_record_management_events_only() {
        let s = Selectors::of_config(&json!({}));
        assert_eq!(
            s.records(&management("iam.amazonaws.com", "CreateUser", false)),
            Some(0)
        );
        assert_eq!(s.records(&s3_get("arn:aws:s3:::b/k")), None);
    }

    #[test]
    fn basic_read_write_exclusions_and_data_resources() {
        let s = Selectors::of_config(&json!({"event_selectors": [
            {"read_write": "WriteOnly", "management_events": true,
             "exclude_management_sources": ["kms.amazonaws.com"], "data_resources": []},
            {"read_write": "All", "management_events": false, "data_resources": [
                {"type": "AWS::S3::Object", "values": ["arn:aws:s3:::prod-data/"]},
                {"type": "AWS::Lambda::Function", "values": ["arn:aws:lambda"]}]}
        ]}));
        assert_eq!(
            s.records(&management("iam.amazonaws.com", "CreateUser", false)),
            Some(0)
        );
        assert_eq!(
            s.records(&management("iam.amazonaws.com", "ListUsers", true)),
            None
        );
        assert_eq!(
            s.records(&management(
                "kms.amazonaws.com",
                "ScheduleKeyDeletion",
                false
            )),
            None
        );
        assert_eq!(
            s.records(&s3_get("arn:aws:s3:::prod-data/a/b.csv")),
            Some(1)
        );
        // A bucket whose name only starts like the one listed is another bucket.
        assert_eq!(s.records(&s3_get("arn:aws:s3:::prod-data-old/a")), None);
        let invoke = Facts {
            category: "Data",
            source: "lambda.amazonaws.com",
            name: "Invoke",
            read_only: Some(false),
            resources: vec![(
                "AWS::Lambda::Function",
                "arn:aws:lambda:us-east-1:1:function:f",
            )],
            ..Facts::default()
        };
        assert_eq!(s.records(&invoke), Some(1));
    }

    #[test]
    fn every_s3_bucket_and_exact_function_arns() {
        let s = Selectors::of_config(&json!({"event_selectors": [
            {"management_events": false, "data_resources": [
                {"type": "AWS::S3::Object", "values": ["arn:aws:s3"]},
                {"type": "AWS::Lambda::Function", "values": ["arn:aws:lambda:us-east-1:1:function:f"]}]}
        ]}));
        assert_eq!(s.records(&s3_get("arn:aws:s3:::any/k")), Some(0));
        let other = Facts {
            category: "Data",
            resources: vec![(
                "AWS::Lambda::Function",
                "arn:aws:lambda:us-east-1:1:function:f2",
            )],
            ..Facts::default()
        };
        assert_eq!(s.records(&other), None);
        assert_eq!(
            s.records(&management("iam.amazonaws.com", "CreateUser", false)),
            None
        );
    }

    #[test]
    fn advanced_operators_and_resources_held_together() {
        let s = Selectors::of_config(&json!({"advanced_event_selectors": [
            {"name": "writes but not KMS", "fields": [
                {"field": "eventCategory", "equals": ["Management"]},
                {"field": "readOnly", "equals": ["false"]},
                {"field": "eventSource", "not_equals": ["kms.amazonaws.com"]}]},
            {"name": "prod reads", "fields": [
                {"field": "eventCategory", "equals": ["Data"]},
                {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                {"field": "resources.ARN", "starts_with": ["arn:aws:s3:::prod-data/"]},
                {"field": "eventName", "equals": ["GetObject", "PutObject"]}]},
            {"name": "denied network calls", "fields": [
                {"field": "eventCategory", "equals": ["NetworkActivity"]},
                {"field": "errorCode", "equals": ["VpceAccessDenied"]}]}
        ], "event_selectors": [{"read_write": "All"}]}));
        assert_eq!(
            s.records(&management("iam.amazonaws.com", "CreateUser", false)),
            Some(0)
        );
        assert_eq!(
            s.records(&management("iam.amazonaws.com", "ListUsers", true)),
            None
        );
        assert_eq!(
            s.records(&management("kms.amazonaws.com", "Decrypt", false)),
            None
        );
        assert_eq!(s.records(&s3_get("arn:aws:s3:::prod-data/x")), Some(1));
        assert_eq!(s.records(&s3_get("arn:aws:s3:::dev-data/x")), None);
        let mut delete = s3_get("arn:aws:s3:::prod-data/x");
        delete.name = "DeleteObject";
        assert_eq!(s.records(&delete), None);
        // The type and the ARN must hold for one same resource.
        let split = Facts {
            category: "Data",
            name: "GetObject",
            resources: vec![
                ("AWS::S3::Bucket", "arn:aws:s3:::prod-data/"),
                ("AWS::S3::Object", "arn:aws:s3:::dev-data/x"),
            ],
            ..Facts::default()
        };
        assert_eq!(s.records(&split), None);
        let denied = Facts {
            category: "NetworkActivity",
            source: "s3.amazonaws.com",
            error_code: Some("VpceAccessDenied"),
            vpc_endpoint_id: Some("vpce-1"),
            ..Facts::default()
        };
        assert_eq!(s.records(&denied), Some(2));
        let allowed = Facts {
            error_code: None,
            ..denied
        };
        assert_eq!(s.records(&allowed), None);
    }

    #[test]
    fn negative_operators_and_unknown_fields() {
        let s = Selectors::of_config(&json!({"advanced_event_selectors": [
            {"fields": [
                {"field": "eventCategory", "equals": ["Data"]},
                {"field": "resources.ARN", "not_starts_with": ["arn:aws:s3:::logs/"],
                 "not_ends_with": [".tmp"]}]},
            {"fields": [{"field": "somethingNew", "equals": ["x"]}]}
        ]}));
        assert_eq!(s.records(&s3_get("arn:aws:s3:::data/a.csv")), Some(0));
        assert_eq!(s.records(&s3_get("arn:aws:s3:::logs/a.csv")), None);
        assert_eq!(s.records(&s3_get("arn:aws:s3:::data/a.tmp")), None);
    }

    #[test]
    fn selectors_from_json_are_checked_as_cloudtrail_checks_them() {
        let ok = r#"{"AdvancedEventSelectors": [
            {"Name": "mgmt", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                                                 {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]}]},
            {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]},
                                {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                                {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::prod/"]},
                                {"Field": "readOnly", "Equals": ["true"]}]}]}"#;
        let s = Selectors::from_aws(ok).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s.records(&s3_get("arn:aws:s3:::prod/a")).is_some());
        assert!(s.records(&s3_get("arn:aws:s3:::other/a")).is_none());
        // Back to JSON and read again: the same selectors.
        assert_eq!(Selectors::from_aws(&s.to_aws().to_string()).unwrap(), s);
        let basic = r#"[{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": true,
            "ExcludeManagementEventSources": ["rdsdata.amazonaws.com"],
            "DataResources": [{"Type": "AWS::Lambda::Function", "Values": ["arn:aws:lambda"]}]}]"#;
        let b = Selectors::from_aws(basic).unwrap();
        assert!(matches!(b, Selectors::Basic(_)));
        assert_eq!(Selectors::from_aws(&b.to_aws().to_string()).unwrap(), b);
        for (bad, why) in [
            ("nonsense", "not JSON"),
            ("[]", "no selector"),
            ("{}", "a list of selectors"),
            (r#"[{"FieldSelectors": [{"Field": "eventName", "Equals": ["GetObject"]}]}]"#, "no eventCategory"),
            (r#"[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]}]"#, "resources.type"),
            (r#"[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "color", "Equals": ["x"]}]}]"#, "unknown field"),
            (r#"[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "readOnly", "Equals": ["yes"]}]}]"#, "\"true\" or \"false\""),
            (r#"[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "eventName", "Equals": []}]}]"#, "needs values"),
            (r#"[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "eventName"}]}]"#, "no operator"),
            (r#"[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"], "Lots": ["x"]}]}]"#, "unknown key"),
            (r#"[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Insight"]}]}]"#, "Management, Data or NetworkActivity"),
            (r#"[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "eventCategory", "Equals": ["Management"]}]}]"#, "twice"),
            (r#"[{"ReadWriteType": "Sometimes"}]"#, "ReadWriteType"),
            (r#"[{"IncludeManagementEvents": false}]"#, "records nothing"),
            (r#"[{"ExcludeManagementEventSources": ["s3.amazonaws.com"]}]"#, "can be excluded"),
            (r#"[{"DataResources": [{"Type": "AWS::S3::Object", "Values": ["prod/"]}]}]"#, "not an ARN"),
            (r#"[{},{},{},{},{},{}]"#, "at most 5"),
            (r#"[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management", "Data"]}]}]"#, "one value"),
            (r#"[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "StartsWith": ["AWS::S3"]}]}]"#, "one value"),
            (r#"[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "eventName", "Equals": ["x"]}]}]"#, "do not take eventName"),
            (r#"[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "eventSource", "NotEquals": ["s3.amazonaws.com"]}]}]"#, "only leaves out"),
            (r#"[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["NetworkActivity"]}, {"Field": "errorCode", "Equals": ["VpceAccessDenied"]}]}]"#, "needs an eventSource"),
            (r#"[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}, {"Field": "vpcEndpointId", "Equals": ["x"]}]}]"#, "do not take vpcEndpointId"),
            (r#"[{"Name": "", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]"#, "1 to 1000"),
            (r#"[{"DataResources": [{"Type": "AWS::EC2::Snapshot", "Values": ["arn:aws:ec2"]}]}]"#, "advanced selectors"),
        ] {
            let e = Selectors::from_aws(bad).unwrap_err();
            assert!(e.0.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn a_sentence_never_reads_wider_than_its_selector() {
        let s = Selectors::from_aws(r#"[{"FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            {"Field": "userIdentity.arn", "NotStartsWith": ["arn:aws:sts::1:assumed-role/x"]},
            {"Field": "eventName", "EndsWith": ["Object"]}]}]"#).unwrap();
        assert_eq!(
            s.sentences(),
            vec!["S3 data events: only where userIdentity.arn does not start with arn:aws:sts::1:assumed-role/x and eventName ends with Object".to_owned()]
        );
    }

    #[test]
    fn without_management_keeps_the_rest() {
        let s = Selectors::of_config(&json!({"event_selectors": [
            {"read_write": "All", "management_events": true, "data_resources": []},
            {"read_write": "ReadOnly", "management_events": true,
             "data_resources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3:::a/"]}]}]}));
        let kept = s.without_management().unwrap();
        assert_eq!(kept.sentences(), vec!["S3 data events on arn:aws:s3:::a/ only, read only".to_owned()]);
        assert!(Selectors::of_config(&json!({})).without_management().is_none());
    }

    #[test]
    fn selectors_read_as_sentences() {
        let basic = Selectors::of_config(&json!({"event_selectors": [
            {"read_write": "All", "management_events": true,
             "exclude_management_sources": ["kms.amazonaws.com", "rdsdata.amazonaws.com"],
             "data_resources": [
                {"type": "AWS::Lambda::Function", "values": ["arn:aws:lambda"]},
                {"type": "AWS::S3::Object", "values": ["arn:aws:s3:::prod-data/"]}]}
        ]}));
        assert_eq!(
            basic.sentences(),
            [
                "All management events, read and write, except AWS KMS and Amazon RDS Data API",
                "Lambda data events: all functions",
                "S3 data events on arn:aws:s3:::prod-data/ only",
            ]
        );
        let advanced = Selectors::of_config(&json!({"advanced_event_selectors": [
            {"fields": [
                {"field": "eventCategory", "equals": ["Management"]},
                {"field": "eventSource", "not_equals": ["kms.amazonaws.com"]}]},
            {"fields": [
                {"field": "eventCategory", "equals": ["Data"]},
                {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                {"field": "eventName", "equals": ["GetObject", "PutObject"]},
                {"field": "resources.ARN", "starts_with": ["arn:aws:s3:::prod-data/"]}]},
            {"fields": [
                {"field": "eventCategory", "equals": ["NetworkActivity"]},
                {"field": "eventSource", "equals": ["s3.amazonaws.com"]},
                {"field": "errorCode", "equals": ["VpceAccessDenied"]}]},
            {"fields": [
                {"field": "eventCategory", "equals": ["Data"]},
                {"field": "resources.type", "equals": ["AWS::DynamoDB::Table"]},
                {"field": "readOnly", "equals": ["false"]}]}
        ]}));
        assert_eq!(
            advanced.sentences(),
            [
                "All management events, read and write, except AWS KMS",
                "S3 data events: GetObject and PutObject on arn:aws:s3:::prod-data/ only",
                "Network activity: VPC endpoints for S3, denied calls only",
                "DynamoDB data events: write only",
            ]
        );
    }
}
