//! Changing a trail from its page: what an admin proposes (start or stop logging, event
//! selectors from the form or as JSON, Insights), read from the page's URL so that a
//! preview can be sent as a link, and the preview itself: the trail's cost per 30 days
//! before and after, from the proposed selectors evaluated on the events of the last 30
//! days ([`crate::selectors`]), and the payload that will be sent to CloudTrail.

use crate::selectors::{Advanced, Field, Invalid, ReadWrite, Selectors};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The days of events a preview evaluates.
pub const WINDOW_DAYS: i64 = 30;

/// The change part of a trail page's URL: `?change=logging&logging=off`,
/// `?change=selectors&mode=form&management=all&s3=bucket/prefix`,
/// `?change=selectors&mode=json&json=[...]`, `?change=insights&call_rate=on`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeQuery {
    /// `logging`, `selectors` or `insights`; empty: no change proposed.
    pub change: String,
    /// `on` or `off`.
    pub logging: String,
    /// `form` or `json`.
    pub mode: String,
    pub json: String,
    /// `all`, `read`, `write` or `none`.
    pub management: String,
    pub exclude_kms: bool,
    pub exclude_rds: bool,
    /// One per line: `bucket`, `bucket/prefix`, or `*` for every bucket.
    pub s3: String,
    /// One per line: a function ARN, or `*` for every function.
    pub lambda: String,
    /// One per line: a table ARN, or `*` for every table.
    pub dynamodb: String,
    /// `all`, `read` or `write`, for the data events.
    pub data_rw: String,
    pub call_rate: bool,
    pub error_rate: bool,
    /// Insights on data events as well.
    pub insights_data: bool,
}

impl ChangeQuery {
    /// From a query string's pairs; unknown keys are left alone (the page has others).
    pub fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> ChangeQuery {
        let mut q = ChangeQuery::default();
        for (k, v) in pairs {
            let v = v.to_owned();
            let on = v == "on" || v == "true" || v == "1";
            match k {
                "change" => q.change = v,
                "logging" => q.logging = v,
                "mode" => q.mode = v,
                "json" => q.json = v,
                "management" => q.management = v,
                "exclude_kms" => q.exclude_kms = on,
                "exclude_rds" => q.exclude_rds = on,
                "s3" => q.s3 = v,
                "lambda" => q.lambda = v,
                "dynamodb" => q.dynamodb = v,
                "data_rw" => q.data_rw = v,
                "call_rate" => q.call_rate = on,
                "error_rate" => q.error_rate = on,
                "insights_data" => q.insights_data = on,
                _ => {}
            }
        }
        q
    }

    /// The query string of the proposal (for links: a finding's fix, a shared preview).
    pub fn to_query(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        let mut pair = |k: &str, v: &str| {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        };
        pair("change", &self.change);
        pair("logging", &self.logging);
        pair("mode", &self.mode);
        pair("json", &self.json);
        pair("management", &self.management);
        pair("exclude_kms", if self.exclude_kms { "on" } else { "" });
        pair("exclude_rds", if self.exclude_rds { "on" } else { "" });
        pair("s3", &self.s3);
        pair("lambda", &self.lambda);
        pair("dynamodb", &self.dynamodb);
        pair("data_rw", &self.data_rw);
        pair("call_rate", if self.call_rate { "on" } else { "" });
        pair("error_rate", if self.error_rate { "on" } else { "" });
        pair("insights_data", if self.insights_data { "on" } else { "" });
        s.finish()
    }

    /// What the URL proposes; `Ok(None)` when it proposes nothing.
    pub fn proposal(&self) -> Result<Option<Proposal>, Invalid> {
        match self.change.as_str() {
            "" => Ok(None),
            "logging" => match self.logging.as_str() {
                "on" => Ok(Some(Proposal::Logging(true))),
                "off" => Ok(Some(Proposal::Logging(false))),
                _ => Err(Invalid("logging is on or off".into())),
            },
            "selectors" if self.mode == "json" => {
                Selectors::from_aws(&self.json).map(|s| Some(Proposal::Selectors(s)))
            }
            "selectors" => self.form_selectors().map(|s| Some(Proposal::Selectors(s))),
            "insights" => Ok(Some(Proposal::Insights(self.insights()))),
            other => Err(Invalid(format!(
                "no such change \"{}\" (logging, selectors or insights)",
                crate::fmt::clip(other, 30)
            ))),
        }
    }

    fn insights(&self) -> Vec<(String, Vec<String>)> {
        let categories: Vec<String> = if self.insights_data {
            vec!["Management".into(), "Data".into()]
        } else {
            vec!["Management".into()]
        };
        let mut out = Vec::new();
        if self.call_rate {
            out.push(("ApiCallRateInsight".to_owned(), categories.clone()));
        }
        if self.error_rate {
            out.push(("ApiErrorRateInsight".to_owned(), categories));
        }
        out
    }

    /// The selectors the form describes, as advanced selectors (one per kind of event).
    pub fn form_selectors(&self) -> Result<Selectors, Invalid> {
        let read_only = |rw: &str| -> Result<Option<Field>, Invalid> {
            let v = match rw {
                "" | "all" => return Ok(None),
                "read" => "true",
                "write" => "false",
                _ => return Err(Invalid("read and write is all, read or write".into())),
            };
            Ok(Some(eq("readOnly", &[v])))
        };
        let mut out = Vec::new();
        match self.management.as_str() {
            "none" => {}
            rw @ ("" | "all" | "read" | "write") => {
                let mut fields = vec![eq("eventCategory", &["Management"])];
                fields.extend(read_only(rw)?);
                let mut off = Vec::new();
                if self.exclude_kms {
                    off.push("kms.amazonaws.com".to_owned());
                }
                if self.exclude_rds {
                    off.push("rdsdata.amazonaws.com".to_owned());
                }
                if !off.is_empty() {
                    fields.push(Field {
                        field: "eventSource".into(),
                        not_equals: off,
                        ..Field::default()
                    });
                }
                out.push(Advanced {
                    name: Some("Management events".into()),
                    fields,
                });
            }
            _ => return Err(Invalid("management events are all, read, write or none".into())),
        }
        let data_rw = read_only(&self.data_rw)?;
        let lines = |s: &str| -> Vec<String> {
            s.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let s3 = lines(&self.s3);
        if !s3.is_empty() {
            let mut arns = Vec::new();
            for l in &s3 {
                if l == "*" {
                    arns.clear();
                    break;
                }
                let l = l.trim_start_matches("s3://").trim_start_matches("arn:aws:s3:::");
                let (bucket, prefix) = l.split_once('/').unwrap_or((l, ""));
                if !bucket_ok(bucket) {
                    return Err(Invalid(format!(
                        "\"{}\" is not a bucket name (3 to 63 lower-case letters, digits, dots and dashes)",
                        crate::fmt::clip(bucket, 70)
                    )));
                }
                arns.push(format!("arn:aws:s3:::{bucket}/{prefix}"));
            }
            out.push(data_selector("S3 data events", "AWS::S3::Object", arns, true, &data_rw));
        }
        for (text, kind, service, label) in [
            (&self.lambda, "AWS::Lambda::Function", "lambda", "Lambda data events"),
            (&self.dynamodb, "AWS::DynamoDB::Table", "dynamodb", "DynamoDB data events"),
        ] {
            let list = lines(text);
            if list.is_empty() {
                continue;
            }
            let mut arns = Vec::new();
            for l in &list {
                if l == "*" {
                    arns.clear();
                    break;
                }
                let ok = l.starts_with("arn:")
                    && l.split(':').nth(2) == Some(service)
                    && l.split(':').count() >= 6;
                if !ok {
                    return Err(Invalid(format!(
                        "\"{}\" is not a {service} ARN (arn:aws:{service}:Region:account:…), nor * for all",
                        crate::fmt::clip(l, 70)
                    )));
                }
                arns.push(l.clone());
            }
            out.push(data_selector(label, kind, arns, false, &data_rw));
        }
        if out.is_empty() {
            return Err(Invalid(
                "these selectors record nothing: to record nothing, stop logging instead".into(),
            ));
        }
        Ok(Selectors::Advanced(out))
    }

    /// The form filled with what `current` records, when the form can say it; else the
    /// form's defaults and `false` (the JSON editor then holds the selectors).
    pub fn prefill(current: &Selectors, insights: &[(String, Vec<String>)]) -> (ChangeQuery, bool) {
        let mut q = ChangeQuery {
            management: "all".into(),
            data_rw: "all".into(),
            mode: "form".into(),
            json: serde_json::to_string_pretty(&current.to_aws()).unwrap_or_default(),
            ..ChangeQuery::default()
        };
        q.call_rate = insights.iter().any(|(t, _)| t == "ApiCallRateInsight");
        q.error_rate = insights.iter().any(|(t, _)| t == "ApiErrorRateInsight");
        q.insights_data = insights.iter().any(|(_, c)| c.iter().any(|c| c == "Data"));
        let fits = q.fill(current);
        if !fits {
            let json = q.json.clone();
            q = ChangeQuery {
                management: "all".into(),
                data_rw: "all".into(),
                mode: "form".into(),
                json,
                call_rate: q.call_rate,
                error_rate: q.error_rate,
                insights_data: q.insights_data,
                ..ChangeQuery::default()
            };
        }
        (q, fits)
    }

    /// Fills the form from `current`; `false` when the form cannot say the same.
    fn fill(&mut self, current: &Selectors) -> bool {
        let rw = |r: ReadWrite| match r {
            ReadWrite::All => "all",
            ReadWrite::ReadOnly => "read",
            ReadWrite::WriteOnly => "write",
        };
        let mut data_rw: Option<&str> = None;
        match current {
            Selectors::Basic(list) => {
                self.management = "none".into();
                let mut s3 = Vec::new();
                let mut lambda = Vec::new();
                let mut dynamodb = Vec::new();
                for b in list {
                    if b.management {
                        if self.management != "none" {
                            return false;
                        }
                        self.management = rw(b.read_write).into();
                        self.exclude_kms = b.exclude_sources.iter().any(|s| s == "kms.amazonaws.com");
                        self.exclude_rds = b.exclude_sources.iter().any(|s| s == "rdsdata.amazonaws.com");
                    }
                    for (kind, values) in &b.data {
                        if data_rw.is_some_and(|d| d != rw(b.read_write)) {
                            return false;
                        }
                        data_rw = Some(rw(b.read_write));
                        let every = values.iter().any(|v| v.split(':').count() == 3 || v == "arn:aws:s3:::");
                        match kind.as_str() {
                            "AWS::S3::Object" if every => s3.push("*".to_owned()),
                            "AWS::S3::Object" => s3.extend(
                                values.iter().map(|v| v.trim_start_matches("arn:aws:s3:::").to_owned()),
                            ),
                            "AWS::Lambda::Function" if every => lambda.push("*".to_owned()),
                            "AWS::Lambda::Function" => lambda.extend(values.iter().cloned()),
                            "AWS::DynamoDB::Table" if every => dynamodb.push("*".to_owned()),
                            "AWS::DynamoDB::Table" => dynamodb.extend(values.iter().cloned()),
                            _ => return false,
                        }
                    }
                }
                self.s3 = s3.join("\n");
                self.lambda = lambda.join("\n");
                self.dynamodb = dynamodb.join("\n");
                self.data_rw = data_rw.unwrap_or("all").into();
                true
            }
            Selectors::Advanced(_) => {
                // Read the form's own shape back: fill from the pieces the form makes,
                // then keep the result only if it makes the same selectors.
                let Selectors::Advanced(list) = current else { return false };
                self.management = "none".into();
                for a in list {
                    let get = |n: &str| a.fields.iter().find(|f| f.field == n);
                    let category = get("eventCategory").map(|f| f.equals.clone()).unwrap_or_default();
                    let ro = get("readOnly").and_then(|f| f.equals.first().cloned());
                    let ro = match ro.as_deref() {
                        Some("true") => "read",
                        Some("false") => "write",
                        _ => "all",
                    };
                    if category == ["Management"] {
                        self.management = ro.into();
                        let off = get("eventSource").map(|f| f.not_equals.clone()).unwrap_or_default();
                        self.exclude_kms = off.iter().any(|s| s == "kms.amazonaws.com");
                        self.exclude_rds = off.iter().any(|s| s == "rdsdata.amazonaws.com");
                        continue;
                    }
                    let kind = get("resources.type").and_then(|f| f.equals.first().cloned()).unwrap_or_default();
                    let arn = get("resources.ARN");
                    let values: Vec<String> = arn
                        .map(|f| f.equals.iter().chain(&f.starts_with).cloned().collect())
                        .unwrap_or_default();
                    let listed = if values.is_empty() { "*".to_owned() } else { values.join("\n") };
                    self.data_rw = ro.into();
                    match kind.as_str() {
                        "AWS::S3::Object" => {
                            self.s3 = if values.is_empty() {
                                "*".into()
                            } else {
                                values.iter().map(|v| v.trim_start_matches("arn:aws:s3:::")).collect::<Vec<_>>().join("\n")
                            }
                        }
                        "AWS::Lambda::Function" => self.lambda = listed,
                        "AWS::DynamoDB::Table" => self.dynamodb = listed,
                        _ => return false,
                    }
                }
                self.form_selectors().is_ok_and(|s| same_meaning(&s, current))
            }
        }
    }
}

/// Whether two advanced selector lists say the same, names aside.
fn same_meaning(a: &Selectors, b: &Selectors) -> bool {
    let strip = |s: &Selectors| match s {
        Selectors::Advanced(l) => {
            let mut v: Vec<Vec<Field>> = l
                .iter()
                .map(|a| {
                    let mut f = a.fields.clone();
                    f.sort_by(|x, y| x.field.cmp(&y.field));
                    f
                })
                .collect();
            v.sort_by_key(|f| format!("{f:?}"));
            Some(v)
        }
        Selectors::Basic(_) => None,
    };
    strip(a).is_some() && strip(a) == strip(b)
}

fn eq(field: &str, values: &[&str]) -> Field {
    Field {
        field: field.into(),
        equals: values.iter().map(|v| (*v).to_owned()).collect(),
        ..Field::default()
    }
}

fn data_selector(name: &str, kind: &str, arns: Vec<String>, prefix: bool, rw: &Option<Field>) -> Advanced {
    let mut fields = vec![eq("eventCategory", &["Data"]), eq("resources.type", &[kind])];
    if !arns.is_empty() {
        fields.push(Field {
            field: "resources.ARN".into(),
            starts_with: if prefix { arns.clone() } else { Vec::new() },
            equals: if prefix { Vec::new() } else { arns },
            ..Field::default()
        });
    }
    fields.extend(rw.clone());
    Advanced {
        name: Some(name.into()),
        fields,
    }
}

/// S3's bucket naming rule, as far as a selector needs it.
fn bucket_ok(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
}

/// A change an admin can make to a trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proposal {
    Logging(bool),
    Selectors(Selectors),
    /// `(Insights type, event categories)`; empty turns Insights off.
    Insights(Vec<(String, Vec<String>)>),
}

impl Proposal {
    /// `change` as the confirmation form sends it.
    pub fn change(&self) -> &'static str {
        match self {
            Proposal::Logging(_) => "logging",
            Proposal::Selectors(_) => "selectors",
            Proposal::Insights(_) => "insights",
        }
    }

    /// What the confirmation form carries: `on`/`off`, or the JSON to send.
    pub fn payload(&self) -> String {
        match self {
            Proposal::Logging(on) => if *on { "on" } else { "off" }.to_owned(),
            Proposal::Selectors(s) => s.to_aws().to_string(),
            Proposal::Insights(list) => insights_json(list).to_string(),
        }
    }

    /// Back from the confirmation form, checked again.
    pub fn from_form(change: &str, payload: &str) -> Result<Proposal, Invalid> {
        match change {
            "logging" => match payload {
                "on" => Ok(Proposal::Logging(true)),
                "off" => Ok(Proposal::Logging(false)),
                _ => Err(Invalid("logging is on or off".into())),
            },
            "selectors" => Selectors::from_aws(payload).map(Proposal::Selectors),
            "insights" => {
                let v: Value = serde_json::from_str(payload).map_err(|e| Invalid(format!("not JSON: {e}")))?;
                let list = v.as_array().ok_or_else(|| Invalid("a list of Insights selectors is expected".into()))?;
                let mut out = Vec::new();
                for i in list {
                    let t = i["InsightType"].as_str().unwrap_or("");
                    if !matches!(t, "ApiCallRateInsight" | "ApiErrorRateInsight") {
                        return Err(Invalid("InsightType is ApiCallRateInsight or ApiErrorRateInsight".into()));
                    }
                    let cats: Vec<String> = i["EventCategories"]
                        .as_array()
                        .map(|c| c.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                        .unwrap_or_default();
                    if cats.iter().any(|c| c != "Management" && c != "Data") {
                        return Err(Invalid("EventCategories are Management and Data".into()));
                    }
                    if out.iter().any(|(x, _): &(String, Vec<String>)| x == t) {
                        return Err(Invalid(format!("{t} is named twice")));
                    }
                    out.push((t.to_owned(), cats));
                }
                Ok(Proposal::Insights(out))
            }
            _ => Err(Invalid("no such change".into())),
        }
    }

    /// The page query that previews this proposal again (where a refusal sends the
    /// admin back, with what they proposed still there).
    pub fn query(&self) -> ChangeQuery {
        match self {
            Proposal::Logging(on) => ChangeQuery {
                change: "logging".into(),
                logging: if *on { "on" } else { "off" }.into(),
                ..ChangeQuery::default()
            },
            Proposal::Selectors(s) => ChangeQuery {
                change: "selectors".into(),
                mode: "json".into(),
                json: serde_json::to_string_pretty(&s.to_aws()).unwrap_or_default(),
                ..ChangeQuery::default()
            },
            Proposal::Insights(list) => ChangeQuery {
                change: "insights".into(),
                call_rate: list.iter().any(|(t, _)| t == "ApiCallRateInsight"),
                error_rate: list.iter().any(|(t, _)| t == "ApiErrorRateInsight"),
                insights_data: list.iter().any(|(_, c)| c.iter().any(|c| c == "Data")),
                ..ChangeQuery::default()
            },
        }
    }

    /// The audit log's action.
    pub fn action(&self) -> &'static str {
        match self {
            Proposal::Logging(true) => "trail.start_logging",
            Proposal::Logging(false) => "trail.stop_logging",
            Proposal::Selectors(_) => "trail.event_selectors",
            Proposal::Insights(_) => "trail.insight_selectors",
        }
    }

    /// The IAM permission the change needs.
    pub fn permission(&self) -> &'static str {
        match self {
            Proposal::Logging(true) => "cloudtrail:StartLogging",
            Proposal::Logging(false) => "cloudtrail:StopLogging",
            Proposal::Selectors(_) => "cloudtrail:PutEventSelectors",
            Proposal::Insights(_) => "cloudtrail:PutInsightSelectors",
        }
    }

    /// The heading of its preview.
    pub fn title(&self) -> &'static str {
        match self {
            Proposal::Logging(true) => "Start logging",
            Proposal::Logging(false) => "Stop logging",
            Proposal::Selectors(_) => "Replace the event selectors",
            Proposal::Insights(l) if l.is_empty() => "Turn Insights off",
            Proposal::Insights(_) => "Set the Insights types",
        }
    }
}

/// The Insights selectors as PutInsightSelectors takes them.
pub fn insights_json(list: &[(String, Vec<String>)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(t, c)| {
                if c.is_empty() {
                    json!({"InsightType": t})
                } else {
                    json!({"InsightType": t, "EventCategories": c})
                }
            })
            .collect(),
    )
}

/// The Insights selectors of a trail's inventory snapshot.
pub fn insights_of(config: &Value) -> Vec<(String, Vec<String>)> {
    config["insight_selectors"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|i| {
                    let t = i["type"].as_str()?.to_owned();
                    let c = i["categories"]
                        .as_array()
                        .map(|c| c.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                        .unwrap_or_default();
                    Some((t, c))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Insights in a sentence.
pub fn insights_sentence(list: &[(String, Vec<String>)]) -> String {
    if list.is_empty() {
        return "Insights off".into();
    }
    list.iter()
        .map(|(t, c)| {
            let what = if t == "ApiCallRateInsight" { "call rate" } else { "error rate" };
            let on = if c.iter().any(|c| c == "Data") { "management and data events" } else { "management events" };
            format!("Insights on the {what} of {on}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The link that previews the fix of a finding, where Cairn can make it.
pub fn fix_query(f: &crate::trails::Finding, t: &crate::trails::Trail) -> Option<String> {
    let q = match f.code.as_str() {
        "logging_stopped" => ChangeQuery {
            change: "logging".into(),
            logging: "on".into(),
            ..ChangeQuery::default()
        },
        "insights_off" => ChangeQuery {
            change: "insights".into(),
            call_rate: true,
            error_rate: true,
            ..ChangeQuery::default()
        },
        "duplicate_management_events" => {
            let current = Selectors::of_config(&serde_json::from_str(&t.config_json).unwrap_or(Value::Null));
            let kept = current.without_management()?;
            ChangeQuery {
                change: "selectors".into(),
                mode: "json".into(),
                json: serde_json::to_string_pretty(&kept.to_aws()).unwrap_or_default(),
                ..ChangeQuery::default()
            }
        }
        _ => return None,
    };
    Some(q.to_query())
}

/// A proposed change priced: the trail's CloudTrail charges per 30 days before and
/// after, and every trail's together (taking a trail's management events away can make
/// another trail's copy the free one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    pub title: String,
    pub change: String,
    pub payload: String,
    /// The payload as it is shown (pretty JSON, or the logging state).
    pub payload_shown: String,
    pub before: Vec<String>,
    pub after: Vec<String>,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Events of the trail's accounts and Regions in the window.
    pub scanned: u64,
    /// The trail's own deliveries in the window, as counted at import.
    pub delivered: u64,
    pub before_events: u64,
    pub after_events: u64,
    pub trail_before_usd: f64,
    pub trail_after_usd: f64,
    pub all_before_usd: f64,
    pub all_after_usd: f64,
    pub lines_before: Vec<crate::costs::Line>,
    pub lines_after: Vec<crate::costs::Line>,
    /// Selectors that match no stored event: their events are not in the estimate.
    pub unseen: Vec<String>,
    pub notes: Vec<String>,
    pub took_ms: u64,
    /// Stopping asks for the trail's name.
    pub confirm_name: Option<String>,
    /// When the inventory last saw the trail change: a change applied after another
    /// one is refused, so nobody replaces settings they did not see.
    pub changed_at: i64,
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::costs::{Billing, Delivered, Line, billing_of, delivered_of, free_copies, price_with};
    use crate::trails::Trail;
    use std::collections::BTreeMap;

    const DAY_MS: i64 = 86_400_000;

    #[derive(Debug, thiserror::Error)]
    pub enum PreviewError {
        #[error(transparent)]
        Db(#[from] sqlx::Error),
        #[error(transparent)]
        Detail(#[from] crate::db::events::DetailError),
    }

    type Key = (String, String, String, i64, Option<String>);

    fn rows_of(map: &BTreeMap<Key, u64>, arn: &str) -> Vec<Delivered> {
        map.iter()
            .map(|((account, region, category, read_only, rt), n)| Delivered {
                account: account.clone(),
                region: region.clone(),
                trail: Some(arn.to_owned()),
                category: category.clone(),
                read_only: *read_only,
                resource_type: rt.clone(),
                events: *n,
                bytes: 0,
            })
            .collect()
    }

    /// `(trail's CloudTrail usd, every trail's, the trail's lines)`.
    fn priced(
        others: &[Delivered],
        mine: Vec<Delivered>,
        billing: &[Billing],
        table: &crate::costs::PriceTable,
        arn: &str,
    ) -> (f64, f64, Vec<Line>) {
        let mut all = others.to_vec();
        all.extend(mine);
        let lines = price_with(&all, &free_copies(&all), billing, table);
        let mine: Vec<Line> = lines
            .iter()
            .filter(|l| l.trail.as_deref() == Some(arn) && l.kind.cloudtrail())
            .cloned()
            .collect();
        let sum_all = lines
            .iter()
            .filter(|l| l.trail.is_some() && l.kind.cloudtrail())
            .map(|l| l.usd)
            .sum();
        (mine.iter().map(|l| l.usd).sum(), sum_all, mine)
    }

    /// Prices `proposal` for `trail` (one of `trails`) over the last [`WINDOW_DAYS`]
    /// days up to `now_ms` (today's hours included).
    pub async fn preview(
        pool: &sqlx::SqlitePool,
        trails: &[Trail],
        trail: &Trail,
        proposal: &Proposal,
        now_ms: i64,
    ) -> Result<Preview, PreviewError> {
        let started = std::time::Instant::now();
        let config: Value = serde_json::from_str(&trail.config_json).unwrap_or(Value::Null);
        let current = Selectors::of_config(&config);
        let proposed = match proposal {
            Proposal::Selectors(s) => s.clone(),
            _ => current.clone(),
        };
        // The last 30 days, today's hours included.
        let to_day = now_ms.div_euclid(DAY_MS) + 1;
        let from_day = to_day - WINDOW_DAYS;
        let (from_ms, to_ms) = (from_day * DAY_MS, now_ms);
        let accounts = (!trail.organization).then(|| vec![trail.account.clone()]);
        let single: Vec<Selectors> = match &proposed {
            Selectors::Basic(l) => l.iter().map(|b| Selectors::Basic(vec![b.clone()])).collect(),
            Selectors::Advanced(l) => l.iter().map(|a| Selectors::Advanced(vec![a.clone()])).collect(),
        };
        let with_record = current.needs_record() || proposed.needs_record();
        // Counted by term ids (cheap), named once per key.
        type IdKey = (i64, i64, i64, i64, Option<usize>);
        let mut counts: std::collections::HashMap<IdKey, (u64, u64, Key)> = Default::default();
        let mut types: Vec<String> = Vec::new();
        let mut per_selector = vec![0u64; proposed.len()];
        let scanned = crate::db::events::scan_selectable(
            pool,
            accounts.as_deref(),
            &trail.regions,
            (from_ms, to_ms),
            with_record,
            |facts| {
                let was = current.records(facts).is_some();
                let will: Vec<usize> = single
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.records(facts).is_some())
                    .map(|(i, _)| i)
                    .collect();
                (was, will)
            },
            |place, (was, will)| {
                if !*was && will.is_empty() {
                    return;
                }
                let read_only = match place.read_only {
                    Some(true) => 1,
                    Some(false) => 0,
                    None => -1,
                };
                let rt = place.resource_type.map(|t| match types.iter().position(|x| x == t) {
                    Some(i) => i,
                    None => {
                        types.push(t.to_owned());
                        types.len() - 1
                    }
                });
                let (a, r, c) = place.ids;
                let e = counts.entry((a, r, c, read_only, rt)).or_insert_with(|| {
                    (
                        0,
                        0,
                        (
                            place.account.to_owned(),
                            place.region.to_owned(),
                            place.category.to_owned(),
                            read_only,
                            place.resource_type.map(str::to_owned),
                        ),
                    )
                });
                if *was {
                    e.0 += 1;
                }
                if !will.is_empty() {
                    e.1 += 1;
                    for i in will {
                        per_selector[*i] += 1;
                    }
                }
            },
        )
        .await?;
        let mut before: BTreeMap<Key, u64> = BTreeMap::new();
        let mut after: BTreeMap<Key, u64> = BTreeMap::new();
        for (_, (b, a, key)) in counts {
            if b > 0 {
                before.insert(key.clone(), b);
            }
            if a > 0 {
                after.insert(key, a);
            }
        }
        let rows = crate::db::deliveries::days(pool, from_day, to_day).await?;
        let dated = delivered_of(trails, &rows);
        // What the trail delivered, by the same key as the evaluation's.
        let mut mine: BTreeMap<Key, u64> = BTreeMap::new();
        let mut others: Vec<Delivered> = Vec::new();
        for (_, d) in dated {
            if d.trail.as_deref() != Some(trail.arn.as_str()) {
                others.push(d);
            } else if d.category != "file" {
                let key = (d.account, d.region, d.category, d.read_only, d.resource_type);
                *mine.entry(key).or_default() += d.events;
            }
        }
        let count = |m: &BTreeMap<Key, u64>| m.values().sum::<u64>();
        let delivered = count(&mine);
        let table = crate::costs::prices(pool).await?;
        let logging = trail.logging != Some(false);
        let billing_now: Vec<Billing> = trails.iter().map(billing_of).collect();
        let mut billing_next = billing_now.clone();
        if let Proposal::Insights(list) = proposal
            && let Some(b) = billing_next.iter_mut().find(|b| b.trail == trail.arn)
        {
            b.insights = list.clone();
        }
        // Now: what it delivered; when none of its files were read (a bucket no source
        // syncs), what its selectors match in the store.
        let measured = delivered > 0;
        let now_rows: BTreeMap<Key, u64> = if measured {
            mine
        } else if logging {
            before.clone()
        } else {
            BTreeMap::new()
        };
        // After: now, less what the change stops recording, plus what it starts to.
        // Per key: now + (what the proposal records − what the selectors in force
        // record), never below nothing.
        let shifted = |from: &BTreeMap<Key, u64>, less: &BTreeMap<Key, u64>, more: &BTreeMap<Key, u64>| {
            let keys: std::collections::BTreeSet<&Key> = from.keys().chain(less.keys()).chain(more.keys()).collect();
            keys.into_iter()
                .filter_map(|k| {
                    let n = |m: &BTreeMap<Key, u64>| m.get(k).copied().unwrap_or(0) as i128;
                    let v = n(from) + n(more) - n(less);
                    (v > 0).then(|| (k.clone(), v as u64))
                })
                .collect::<BTreeMap<Key, u64>>()
        };
        let after_rows: BTreeMap<Key, u64> = match proposal {
            Proposal::Logging(false) => BTreeMap::new(),
            Proposal::Logging(true) if logging => now_rows.clone(),
            Proposal::Logging(true) => before.clone(),
            Proposal::Insights(_) => now_rows.clone(),
            Proposal::Selectors(_) if !logging => BTreeMap::new(),
            Proposal::Selectors(_) if measured => shifted(&now_rows, &before, &after),
            Proposal::Selectors(_) => after.clone(),
        };
        let (trail_before_usd, all_before_usd, lines_before) =
            priced(&others, rows_of(&now_rows, &trail.arn), &billing_now, &table, &trail.arn);
        let (trail_after_usd, all_after_usd, lines_after) =
            priced(&others, rows_of(&after_rows, &trail.arn), &billing_next, &table, &trail.arn);
        let insights_now = super::insights_of(&config);
        let state = |on: bool| if on { "Logging on" } else { "Logging stopped" };
        let (before_text, after_text) = match proposal {
            Proposal::Logging(on) => (vec![state(logging).to_owned()], vec![state(*on).to_owned()]),
            Proposal::Selectors(s) => (current.sentences(), s.sentences()),
            Proposal::Insights(list) => (
                vec![super::insights_sentence(&insights_now)],
                vec![super::insights_sentence(list)],
            ),
        };
        let mut unseen = Vec::new();
        if let Proposal::Selectors(_) = proposal {
            for (i, n) in per_selector.iter().enumerate() {
                if *n == 0 {
                    unseen.push(proposed.sentences_of(i).join("; "));
                }
            }
        }
        let mut notes = Vec::new();
        if !logging && matches!(proposal, Proposal::Selectors(_) | Proposal::Insights(_)) {
            notes.push("Logging is stopped: this trail records nothing until it is started, so the change costs nothing until then.".to_owned());
        }
        if logging && !measured && !before.is_empty() {
            notes.push("None of this trail's files were read in the window (no source syncs its bucket and prefix): \"now\" is what its selectors match among the stored events.".to_owned());
        }
        if trail.cloudwatch_log_group.is_some() || trail.bucket.is_some() {
            notes.push("CloudTrail charges only: the trail bucket's storage and CloudWatch Logs ingestion change with the events too, outside the CloudTrail bill.".to_owned());
        }
        let payload = proposal.payload();
        let payload_shown = match proposal {
            Proposal::Logging(_) => format!("{} {}", proposal.permission(), trail.arn),
            _ => serde_json::from_str::<Value>(&payload)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or_else(|| payload.clone()),
        };
        Ok(Preview {
            title: proposal.title().to_owned(),
            change: proposal.change().to_owned(),
            payload,
            payload_shown,
            before: before_text,
            after: after_text,
            from_ms,
            to_ms,
            scanned,
            delivered,
            before_events: count(&now_rows),
            after_events: count(&after_rows),
            trail_before_usd,
            trail_after_usd,
            all_before_usd,
            all_after_usd,
            lines_before,
            lines_after,
            unseen,
            notes,
            took_ms: started.elapsed().as_millis() as u64,
            confirm_name: matches!(proposal, Proposal::Logging(false)).then(|| trail.name.clone()),
            changed_at: trail.changed_at,
        })
    }
}

#[cfg(feature = "ssr")]
pub use ssr::{PreviewError, preview};

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> ChangeQuery {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(s.as_bytes()).into_owned().collect();
        ChangeQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    #[test]
    fn the_form_makes_advanced_selectors() {
        let s = q("change=selectors&management=write&exclude_kms=on&s3=prod-data%0Alogs/app/&data_rw=read&lambda=*")
            .form_selectors()
            .unwrap();
        assert_eq!(
            s.sentences(),
            vec![
                "All management events, write only, except AWS KMS".to_owned(),
                "S3 data events: all on arn:aws:s3:::prod-data/ and arn:aws:s3:::logs/app/ only, read only".to_owned(),
                "Lambda data events: read only".to_owned(),
            ]
        );
        // What the form makes, CloudTrail takes back as JSON.
        assert_eq!(Selectors::from_aws(&s.to_aws().to_string()).unwrap(), s);
    }

    #[test]
    fn the_form_refuses_what_cloudtrail_would() {
        for bad in [
            "change=selectors&management=none",
            "change=selectors&management=some",
            "change=selectors&s3=Not_A_Bucket",
            "change=selectors&lambda=arn:aws:s3:::x",
            "change=selectors&data_rw=sometimes&s3=ok-bucket",
            "change=logging&logging=maybe",
            "change=other",
        ] {
            assert!(q(bad).proposal().is_err(), "{bad}");
        }
        assert_eq!(q("").proposal().unwrap(), None);
    }

    #[test]
    fn the_form_reads_back_what_it_made_and_basic_selectors() {
        let made = q("change=selectors&management=all&exclude_rds=on&s3=b-1/p/%0Ab-2&dynamodb=*").form_selectors().unwrap();
        let (form, fits) = ChangeQuery::prefill(&made, &[]);
        assert!(fits);
        assert_eq!(form.form_selectors().unwrap(), made);
        let basic = Selectors::of_config(&json!({"event_selectors": [{
            "read_write": "All", "management_events": true,
            "data_resources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3:::logs/"]}]}]}));
        let (form, fits) = ChangeQuery::prefill(&basic, &[]);
        assert!(fits);
        assert_eq!((form.management.as_str(), form.s3.as_str()), ("all", "logs/"));
        // Selectors the form cannot say go to the JSON editor, whole.
        let odd = Selectors::from_aws(r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.type","Equals":["AWS::S3::Object"]},{"Field":"eventName","Equals":["GetObject"]}]}]"#).unwrap();
        let (form, fits) = ChangeQuery::prefill(&odd, &[]);
        assert!(!fits);
        assert_eq!(Selectors::from_aws(&form.json).unwrap(), odd);
    }

    #[test]
    fn confirmation_payloads_are_checked_again() {
        let ins = Proposal::Insights(vec![("ApiCallRateInsight".into(), vec!["Management".into()])]);
        assert_eq!(Proposal::from_form("insights", &ins.payload()).unwrap(), ins);
        assert_eq!(Proposal::from_form("insights", "[]").unwrap(), Proposal::Insights(vec![]));
        assert!(Proposal::from_form("insights", r#"[{"InsightType":"Nope"}]"#).is_err());
        assert!(Proposal::from_form("logging", "sideways").is_err());
        assert!(Proposal::from_form("selectors", "[]").is_err());
        assert_eq!(Proposal::from_form("logging", "off").unwrap().permission(), "cloudtrail:StopLogging");
    }

    #[test]
    fn links_carry_the_whole_proposal() {
        let a = q("change=selectors&mode=form&management=read&s3=a-b-c&call_rate=on");
        assert_eq!(q(&a.to_query()), a);
    }
}
