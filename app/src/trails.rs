//! The trails across every source, each once: a multi-Region or organization trail with
//! its shadows folded in and the Regions it covers listed; what it delivered (from the
//! ingest ledger's counts, never the events); and what is wrong with it, each finding
//! with its severity, why it matters and the fix.

use crate::selectors::Selectors;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// How bad a finding is; sorts worst first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

/// Something wrong with a trail, or with what the trails together leave out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable name of the check: `logging_stopped`, `not_multi_region`, ...
    pub code: String,
    pub severity: Severity,
    /// The trail's ARN; `None` for a finding about an account or Region.
    pub trail: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub title: String,
    pub why: String,
    /// Where to fix it in the console.
    pub console: String,
    /// The AWS CLI command that fixes it.
    pub cli: String,
    /// What it costs per month, where it is money (a paid copy of management events).
    pub usd_month: Option<f64>,
}

/// One trail as every source and Region sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trail {
    pub arn: String,
    pub name: String,
    pub account: String,
    pub home_region: Option<String>,
    /// Regions it records: its home Region, and every Region it was seen in as a shadow
    /// of a multi-Region trail.
    pub regions: Vec<String>,
    /// Sources whose inventory saw it.
    pub sources: Vec<String>,
    pub logging: Option<bool>,
    pub multi_region: bool,
    pub organization: bool,
    pub global_service_events: Option<bool>,
    pub log_file_validation: Option<bool>,
    pub bucket: Option<String>,
    pub key_prefix: Option<String>,
    pub kms_key: Option<String>,
    pub cloudwatch_log_group: Option<String>,
    pub sns_topic: Option<String>,
    /// `ApiCallRateInsight on Management`, ...
    pub insights: Vec<String>,
    pub delivery_error: Option<String>,
    pub digest_error: Option<String>,
    pub notification_error: Option<String>,
    pub cloudwatch_error: Option<String>,
    pub latest_delivery: Option<i64>,
    pub latest_digest: Option<i64>,
    /// What it records, one sentence per selector.
    pub sentences: Vec<String>,
    /// The settings as the inventory keeps them (shown on request).
    pub config_json: String,
    /// When the inventory last saw a change, and how many it has seen.
    pub changed_at: i64,
    pub seen_at: i64,
    pub changes: i64,
    /// Gone from every Region that showed it.
    pub gone: bool,
    /// Whether its home Region's own snapshot was read (else only shadows were seen).
    pub home_read: bool,
    pub events_24h: i64,
    pub events_30d: i64,
    pub usd_month: f64,
    pub findings: Vec<Finding>,
}

impl Trail {
    /// Where its files land: `s3://bucket/prefix`.
    pub fn location(&self) -> Option<String> {
        self.bucket.as_ref().map(|b| match &self.key_prefix {
            Some(p) if !p.is_empty() => format!("s3://{b}/{}", p.trim_matches('/')),
            _ => format!("s3://{b}"),
        })
    }

    /// The `(ledger source, key prefix)` its files are filed under.
    pub fn delivers_to(&self) -> Option<(String, String)> {
        let bucket = self.bucket.as_ref()?;
        let prefix = self.key_prefix.as_deref().unwrap_or("").trim_matches('/');
        // The ledger files a bucket's objects under `s3://bucket` (`db::ledger::bucket_name`).
        Some((format!("s3://{bucket}"), prefix.to_owned()))
    }

    /// Whether it records management events at all (any selector).
    pub fn records_management(&self) -> bool {
        match Selectors::of_config(&serde_json::from_str(&self.config_json).unwrap_or(Value::Null)) {
            Selectors::Basic(list) => list.is_empty() || list.iter().any(|b| b.management),
            Selectors::Advanced(list) => list.iter().any(|a| {
                a.fields.iter().any(|f| {
                    f.field == "eventCategory" && f.equals.iter().any(|v| v == "Management")
                })
            }),
        }
    }

    /// Whether it records S3 data events on at least some bucket.
    pub fn records_s3_data(&self) -> bool {
        match Selectors::of_config(&serde_json::from_str(&self.config_json).unwrap_or(Value::Null)) {
            Selectors::Basic(list) => list
                .iter()
                .any(|b| b.data.iter().any(|(t, _)| t == "AWS::S3::Object")),
            Selectors::Advanced(list) => list.iter().any(|a| {
                let data = a.fields.iter().any(|f| {
                    f.field == "eventCategory" && f.equals.iter().any(|v| v == "Data")
                });
                let s3 = a.fields.iter().any(|f| {
                    f.field == "resources.type" && f.equals.iter().any(|v| v == "AWS::S3::Object")
                });
                data && s3
            }),
        }
    }

    /// Whether it records `account`'s events in `region`.
    pub fn covers(&self, account: &str, region: &str, org_accounts: bool) -> bool {
        !self.gone
            && (self.account == account || (self.organization && org_accounts))
            && self.regions.iter().any(|r| r == region)
    }
}

/// The key prefix of a delivered object: what comes before `AWSLogs/` ('' when the key
/// starts there or has no `AWSLogs/` at all).
pub fn prefix_of(path: &str) -> &str {
    match path.find("AWSLogs/") {
        Some(i) => path[..i].trim_end_matches('/'),
        None => "",
    }
}

/// The account in a trail's ARN (`arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME`).
pub fn account_of(arn: &str) -> String {
    arn.split(':').nth(4).unwrap_or("").to_owned()
}

/// One snapshot row, as `db::trails::latest_everywhere` reads it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub source: String,
    pub region: String,
    pub arn: String,
    pub home_region: Option<String>,
    pub gone: bool,
    pub config: Value,
    pub status: Value,
    pub taken_at: i64,
    pub seen_at: i64,
    pub changes: i64,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// What a trail's event configuration (`GetEventConfiguration`) adds: "Data events are
/// also delivered as 5-minute summaries of API activity and resource access".
pub fn aggregation_sentences(config: &Value) -> Vec<String> {
    let Some(list) = config["aggregation"].as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|a| {
            let category = a["category"].as_str().unwrap_or("Data");
            let templates: Vec<&str> = a["templates"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .map(|t| match t {
                    "API_ACTIVITY" => "API activity",
                    "RESOURCE_ACCESS" => "resource access",
                    "USER_ACTIONS" => "user actions",
                    other => other,
                })
                .collect();
            if templates.is_empty() {
                return None;
            }
            let what = match templates.as_slice() {
                [one] => (*one).to_owned(),
                [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
                [] => return None,
            };
            Some(format!(
                "{category} events are also delivered as 5-minute summaries (aggregated events) of {what}"
            ))
        })
        .collect()
}

/// Folds the latest snapshot of every trail in every source and Region into one row per
/// trail. Its settings come from its home Region's snapshot when one was read.
pub fn fold(seen: Vec<Seen>) -> Vec<Trail> {
    let mut by_arn: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
    for s in seen {
        by_arn.entry(s.arn.clone()).or_default().push(s);
    }
    by_arn
        .into_iter()
        .map(|(arn, rows)| {
            let full = |s: &&Seen| s.config["shadow"].as_bool() != Some(true);
            // Of the readings of its home Region (one per source that reads it), the
            // freshest: a source that has not looked since a change still holds the
            // settings from before it.
            let fresh = |s: &&Seen| (s.seen_at, s.taken_at);
            let home = rows
                .iter()
                .filter(full)
                .filter(|s| s.home_region.as_deref() == Some(s.region.as_str()))
                .max_by_key(fresh)
                .or_else(|| rows.iter().filter(full).max_by_key(fresh))
                .unwrap_or(&rows[0]);
            let c = &home.config;
            let status = &home.status;
            let multi_region = c["multi_region"].as_bool().unwrap_or(false);
            let mut regions: BTreeSet<String> = rows
                .iter()
                .filter(|s| !s.gone && (multi_region || s.home_region.as_deref() == Some(&s.region)))
                .map(|s| s.region.clone())
                .collect();
            if let Some(h) = &home.home_region {
                if !home.gone {
                    regions.insert(h.clone());
                }
            }
            let sources: BTreeSet<String> = rows.iter().map(|s| s.source.clone()).collect();
            let insights = crate::trail_change::insights_of(c)
                .into_iter()
                .map(|(t, cats)| {
                    if cats.is_empty() {
                        format!("{t} on Management")
                    } else {
                        format!("{t} on {}", cats.join(" and "))
                    }
                })
                .collect();
            let sentences = if full(&home) {
                let mut s = Selectors::of_config(c).sentences();
                s.extend(aggregation_sentences(c));
                s
            } else {
                vec!["Settings not read: its home Region is outside every source's Regions".into()]
            };
            Trail {
                name: text(&c["name"]).unwrap_or_else(|| arn.clone()),
                account: account_of(&arn),
                home_region: home.home_region.clone(),
                regions: regions.into_iter().collect(),
                sources: sources.into_iter().collect(),
                logging: c["logging"].as_bool(),
                multi_region,
                organization: c["organization"].as_bool().unwrap_or(false),
                global_service_events: c["global_service_events"].as_bool(),
                log_file_validation: c["log_file_validation"].as_bool(),
                bucket: text(&c["bucket"]),
                key_prefix: text(&c["key_prefix"]),
                kms_key: text(&c["kms_key"]),
                cloudwatch_log_group: text(&c["cloudwatch_log_group"]),
                sns_topic: text(&c["sns_topic"]),
                insights,
                delivery_error: text(&c["delivery_error"]),
                digest_error: text(&c["digest_error"]),
                notification_error: text(&c["notification_error"]),
                cloudwatch_error: text(&c["cloudwatch_error"]),
                latest_delivery: status["latest_delivery"].as_i64(),
                latest_digest: status["latest_digest_delivery"].as_i64(),
                sentences,
                config_json: serde_json::to_string_pretty(c).unwrap_or_default(),
                changed_at: rows.iter().map(|s| s.taken_at).max().unwrap_or(0),
                seen_at: rows.iter().map(|s| s.seen_at).max().unwrap_or(0),
                changes: rows.iter().map(|s| s.changes).sum(),
                gone: rows.iter().all(|s| s.gone),
                home_read: full(&home),
                arn,
                events_24h: 0,
                events_30d: 0,
                usd_month: 0.0,
                findings: Vec::new(),
            }
        })
        .collect()
}

/// What the checks need beyond the trails themselves.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub now_ms: i64,
    /// `(account, Region)` pairs with events in the last 30 days, from any origin.
    pub active: BTreeSet<(String, String)>,
    /// Organization IDs the sources name (set when they read an organization trail).
    pub organizations: Vec<String>,
    /// Per trail ARN: the money its paid copies of management events cost this month
    /// (projected), and the trails that record the free copy in the same places.
    pub paid_copies: BTreeMap<String, (f64, Vec<String>)>,
    /// Per trail ARN: what its digest files showed to have failed.
    pub integrity: BTreeMap<String, crate::integrity::Totals>,
    /// Per trail ARN: the end of the newest digest Cairn read from its bucket.
    pub newest_digest: BTreeMap<String, i64>,
    /// Per place a trail delivers to (as [`Trail::delivers_to`] names it): when the
    /// integrity checks last listed its digests.
    pub digests_listed: BTreeMap<(String, String), i64>,
}

const HOUR_MS: i64 = 3_600_000;

fn finding(
    code: &str,
    severity: Severity,
    t: Option<&Trail>,
    title: String,
    why: &str,
    console: String,
    cli: String,
) -> Finding {
    Finding {
        code: code.to_owned(),
        severity,
        trail: t.map(|t| t.arn.clone()),
        account: t.map(|t| t.account.clone()),
        region: t.and_then(|t| t.home_region.clone()),
        title,
        why: why.to_owned(),
        console,
        cli,
        usd_month: None,
    }
}

/// The `--event-selectors` or `--advanced-event-selectors` argument that keeps what a
/// trail records but its management events; `None` when nothing else is recorded.
pub fn without_management(config_json: &str) -> Option<String> {
    use serde_json::json;
    let c: Value = serde_json::from_str(config_json).ok()?;
    let advanced = c["advanced_event_selectors"].as_array().cloned().unwrap_or_default();
    if !advanced.is_empty() {
        let kept: Vec<Value> = advanced
            .iter()
            .filter(|a| {
                !a["fields"].as_array().is_some_and(|f| {
                    f.iter().any(|f| f["field"] == "eventCategory" && f["equals"] == json!(["Management"]))
                })
            })
            .map(|a| {
                let fields: Vec<Value> = a["fields"]
                    .as_array()
                    .map(|fs| {
                        fs.iter()
                            .map(|f| {
                                let mut o = serde_json::Map::new();
                                o.insert("Field".into(), f["field"].clone());
                                for (k, name) in [
                                    ("equals", "Equals"),
                                    ("starts_with", "StartsWith"),
                                    ("ends_with", "EndsWith"),
                                    ("not_equals", "NotEquals"),
                                    ("not_starts_with", "NotStartsWith"),
                                    ("not_ends_with", "NotEndsWith"),
                                ] {
                                    if f.get(k).is_some_and(|v| !v.is_null()) {
                                        o.insert(name.into(), f[k].clone());
                                    }
                                }
                                Value::Object(o)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                json!({"Name": a["name"], "FieldSelectors": fields})
            })
            .collect();
        return (!kept.is_empty())
            .then(|| format!("--advanced-event-selectors {}", shell_quote(&Value::Array(kept).to_string())));
    }
    let basic = c["event_selectors"].as_array().cloned().unwrap_or_default();
    let kept: Vec<Value> = basic
        .iter()
        .filter(|b| b["data_resources"].as_array().is_some_and(|d| !d.is_empty()))
        .map(|b| {
            json!({
                "ReadWriteType": b["read_write"].as_str().unwrap_or("All"),
                "IncludeManagementEvents": false,
                "DataResources": b["data_resources"].as_array().map(|d| d.iter().map(|r| json!({"Type": r["type"], "Values": r["values"]})).collect::<Vec<_>>()).unwrap_or_default(),
            })
        })
        .collect();
    (!kept.is_empty()).then(|| format!("--event-selectors {}", shell_quote(&Value::Array(kept).to_string())))
}

/// `s` as one POSIX shell word: in single quotes, each `'` written as `'\''`. Selector
/// values come from the trail's settings, which whoever may change the trail wrote: a
/// command shown to be pasted must stay one argument whatever they hold.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// How long after the last digest CloudTrail reports one missing: digests cover an hour
/// each and are delivered within the next hour, even when no log file was.
const DIGEST_LATE_MS: i64 = 2 * HOUR_MS;

/// Digests that stopped arriving: CloudTrail reports none for over two hours while the
/// trail logs with validation on; or it reports digests delivered that the bucket, listed
/// since, does not hold (the newest ones deleted, which no later digest names when
/// logging was stopped as well).
fn digest_findings(t: &Trail, cx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    if t.log_file_validation != Some(true) {
        return out;
    }
    let home = t.home_region.as_deref().unwrap_or("us-east-1");
    let (name, arn) = (&t.name, &t.arn);
    let Some(reported) = t.latest_digest else { return out };
    // The inventory read the status at `seen_at`: late as of that reading.
    let late = t.seen_at - reported;
    if t.logging == Some(true) && late > DIGEST_LATE_MS {
        out.push(finding(
            "digests_late",
            Severity::High,
            Some(t),
            format!(
                "{name} has delivered no digest file for {} (the last at {} UTC)",
                crate::fmt::duration(late),
                crate::fmt::time(reported)
            ),
            "CloudTrail delivers a signed digest every hour while log file validation is on, even for an hour with no log file. Without them, log files delivered since cannot be proven untouched; a bucket or KMS key policy that refuses the digests is the usual cause.",
            format!(
                "CloudTrail console ({home}) → Trails → {name} → Last digest file delivered; S3 console → {} → Permissions → Bucket policy",
                t.bucket.as_deref().unwrap_or("the trail bucket")
            ),
            format!("aws cloudtrail get-trail-status --region {home} --name {arn}"),
        ));
    }
    let bucket = t.bucket.as_deref().unwrap_or("the trail bucket");
    let listed = t.delivers_to().and_then(|place| cx.digests_listed.get(&place).copied());
    if let (Some(newest), Some(listed)) = (cx.newest_digest.get(arn).copied(), listed) {
        // Listed well after the reported delivery, yet the newest digest found ends long
        // before it.
        if listed > reported + 15 * 60_000 && reported - newest > DIGEST_LATE_MS {
            out.push(finding(
                "digests_missing",
                Severity::Critical,
                Some(t),
                format!(
                    "{name}'s newest digest files are not in the bucket: CloudTrail delivered one at {} UTC, the newest Cairn found ends at {} UTC",
                    crate::fmt::time(reported),
                    crate::fmt::time(newest)
                ),
                "A digest CloudTrail reports delivered but the bucket no longer holds was deleted after delivery, usually together with the log files it listed, to hide what they recorded. While logging goes on, the next digest names the gap; when logging was stopped too, nothing else will.",
                format!(
                    "S3 console → {bucket} → AWSLogs/…/CloudTrail-Digest/ → Show versions (a deleted digest leaves a delete marker when versioning is on); CloudTrail data events on the bucket say who deleted it"
                ),
                format!(
                    "aws cloudtrail validate-logs --region {home} --trail-arn {arn} --start-time {} --verbose",
                    crate::fmt::iso(newest)
                ),
            ));
        }
    }
    out
}

/// The findings of one trail.
pub fn trail_findings(t: &Trail, cx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    // Tampered logs matter even once the trail is gone.
    if let Some(i) = cx.integrity.get(&t.arn).filter(|i| i.count() > 0) {
        let home = t.home_region.as_deref().unwrap_or("us-east-1");
        out.push(finding(
            "integrity_failed",
            Severity::Critical,
            Some(t),
            format!(
                "{}'s delivered logs fail their integrity checks: {} (between {} and {} UTC)",
                t.name,
                i.sentence(),
                crate::fmt::time(i.first_ms),
                crate::fmt::time(i.last_ms)
            ),
            "The digest files CloudTrail signs prove what it delivered. A log file changed, deleted or added after delivery, or a digest gone, means someone with write access to the bucket altered the record — the events of those files cannot be trusted, and what was removed is invisible. The exact keys are on the trail page.",
            format!(
                "S3 console → {} → the keys listed → Versions (an earlier version may hold the original); CloudTrail data events on the bucket say who wrote or deleted them",
                t.bucket.as_deref().unwrap_or("the trail bucket")
            ),
            format!(
                "aws cloudtrail validate-logs --region {home} --trail-arn {} --start-time {} --verbose",
                t.arn,
                crate::fmt::iso(i.first_ms - 3_600_000)
            ),
        ));
    }
    if t.gone || !t.home_read {
        return out;
    }
    let home = t.home_region.as_deref().unwrap_or("us-east-1");
    let name = &t.name;
    let arn = &t.arn;
    let console = |what: &str| format!("CloudTrail console ({home}) → Trails → {name} → {what}");
    let update = |flag: &str| format!("aws cloudtrail update-trail --region {home} --name {arn} {flag}");
    if t.logging == Some(false) {
        out.push(finding(
            "logging_stopped",
            Severity::Critical,
            Some(t),
            format!("{name} is not logging"),
            "A stopped trail delivers nothing: every call made since it stopped is missing from the bucket and from Cairn. Stopping logging is a classic first step of an attacker covering tracks.",
            console("Start logging"),
            format!("aws cloudtrail start-logging --region {home} --name {arn}"),
        ));
    }
    for (code, err, what) in [
        ("delivery_error", &t.delivery_error, "delivering log files"),
        ("digest_error", &t.digest_error, "delivering digest files"),
        ("notification_error", &t.notification_error, "sending notifications"),
        ("cloudwatch_error", &t.cloudwatch_error, "sending to CloudWatch Logs"),
    ] {
        if let Some(e) = err {
            out.push(finding(
                code,
                Severity::High,
                Some(t),
                format!("{name} fails {what}: {}", crate::fmt::clip(e, 200)),
                "CloudTrail keeps the events only while it can deliver them; a bucket policy, KMS key policy or topic policy that refuses it loses them.",
                format!("S3 console → {} → Permissions → Bucket policy (and the KMS key policy)", t.bucket.as_deref().unwrap_or("the trail bucket")),
                format!("aws s3api get-bucket-policy --bucket {}", t.bucket.as_deref().unwrap_or("BUCKET")),
            ));
        }
    }
    out.extend(digest_findings(t, cx));
    if t.logging == Some(true) {
        if let Some(last) = t.latest_delivery {
            let lag = cx.now_ms - last;
            if lag > HOUR_MS {
                let mut f = finding(
                    "delivery_lagging",
                    Severity::Medium,
                    Some(t),
                    format!("{name} last delivered {} ago", crate::fmt::duration(lag)),
                    "CloudTrail delivers a file about every 5 minutes while there is activity; a trail that logs but has not delivered for over an hour is blocked or recording nothing.",
                    console("Last log file delivered"),
                    format!("aws cloudtrail get-trail-status --region {home} --name {arn}"),
                );
                f.usd_month = None;
                out.push(f);
            }
        }
    }
    if !t.multi_region && !t.organization {
        out.push(finding(
            "not_multi_region",
            Severity::High,
            Some(t),
            format!("{name} records only {home}"),
            "An attacker works in the Region nobody watches. A single-Region trail misses every other Region, including ones enabled later.",
            console("General details → Edit → Multi-region trail"),
            update("--is-multi-region-trail"),
        ));
    }
    if t.global_service_events == Some(false) {
        out.push(finding(
            "global_service_events_off",
            Severity::High,
            Some(t),
            format!("{name} leaves out global service events"),
            "IAM, STS and CloudFront calls (users, keys, policies, roles assumed) are global: without them the trail misses the changes that matter most.",
            "Not in the console: the AWS CLI sets it".into(),
            update("--include-global-service-events"),
        ));
    }
    if t.log_file_validation == Some(false) {
        out.push(finding(
            "log_file_validation_off",
            Severity::Medium,
            Some(t),
            format!("{name} has log file validation off"),
            "Without digest files nobody can prove a log file was not edited or deleted after delivery (CIS 3.2).",
            console("General details → Edit → Log file validation"),
            update("--enable-log-file-validation"),
        ));
    }
    if t.kms_key.is_none() {
        out.push(finding(
            "no_kms_key",
            Severity::Low,
            Some(t),
            format!("{name} is not encrypted with a KMS key"),
            "With SSE-KMS, reading the logs also needs the key: a leaked bucket permission alone no longer exposes them (CIS 3.5).",
            console("General details → Edit → Log file SSE-KMS encryption"),
            update("--kms-key-id alias/cloudtrail"),
        ));
    }
    if t.cloudwatch_log_group.is_none() {
        out.push(finding(
            "no_cloudwatch_logs",
            Severity::Low,
            Some(t),
            format!("{name} does not send to CloudWatch Logs"),
            "The CIS monitoring controls (metric filters and alarms on root use, policy changes, console sign-in failures…) run on a CloudWatch Logs group fed by the trail.",
            console("CloudWatch Logs → Edit"),
            update("--cloud-watch-logs-log-group-arn LOG_GROUP_ARN --cloud-watch-logs-role-arn ROLE_ARN"),
        ));
    }
    if t.insights.is_empty() {
        out.push(finding(
            "insights_off",
            Severity::Low,
            Some(t),
            format!("{name} has Insights off"),
            "Insights flags unusual call and error rates (a burst of deletions, a wave of AccessDenied) without rules written by hand.",
            console("Insights events → Edit"),
            format!("aws cloudtrail put-insight-selectors --region {home} --trail-name {arn} --insight-selectors '[{{\"InsightType\":\"ApiCallRateInsight\"}},{{\"InsightType\":\"ApiErrorRateInsight\"}}]'"),
        ));
    }
    if let Some((usd, free)) = cx.paid_copies.get(&t.arn) {
        let mut f = finding(
            "duplicate_management_events",
            Severity::Medium,
            Some(t),
            format!(
                "{name} records management events {} already records: about {} a month",
                if free.is_empty() { "another trail".to_owned() } else { free.join(", ") },
                crate::fmt::usd(*usd)
            ),
            "The first copy of management events in each account and Region is free; every further trail recording them pays $2.00 per 100,000 events, for events already kept.",
            console("Management events → Edit → untick Management events"),
            match without_management(&t.config_json) {
                Some(arg) => format!("aws cloudtrail put-event-selectors --region {home} --trail-name {arn} {arg}"),
                None => format!("aws cloudtrail delete-trail --region {home} --name {arn}   # it records nothing else"),
            },
        );
        f.usd_month = Some(*usd);
        out.push(f);
    }
    out
}

/// Findings about what the trails together leave out: Regions with activity no trail
/// records, accounts without S3 data events, an organization without an organization
/// trail.
pub fn coverage_findings(trails: &[Trail], cx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    let live: Vec<&Trail> = trails.iter().filter(|t| !t.gone).collect();
    if live.is_empty() {
        return out;
    }
    let known: BTreeSet<&str> = live.iter().map(|t| t.account.as_str()).collect();
    let has_org_trail = live.iter().any(|t| t.organization);
    for (account, region) in &cx.active {
        if !known.contains(account.as_str()) && !has_org_trail {
            continue;
        }
        if region.is_empty() || live.iter().any(|t| t.covers(account, region, true)) {
            continue;
        }
        out.push(Finding {
            code: "region_not_covered".into(),
            severity: Severity::High,
            trail: None,
            account: Some(account.clone()),
            region: Some(region.clone()),
            title: format!("No trail records {account} in {region}, where there is activity"),
            why: "Events were seen there (LookupEvents or an import) but no trail delivers them: nothing there is kept past 90 days, and data events there are never recorded.".into(),
            console: "CloudTrail console → Trails → (a trail) → General details → Edit → Multi-region trail".into(),
            cli: "aws cloudtrail update-trail --name TRAIL --is-multi-region-trail".into(),
            usd_month: None,
        });
    }
    for account in &known {
        if live
            .iter()
            .any(|t| (t.account == *account || t.organization) && t.records_s3_data())
        {
            continue;
        }
        let t = live.iter().find(|t| t.account == *account);
        out.push(Finding {
            code: "no_s3_data_events".into(),
            severity: Severity::Medium,
            trail: None,
            account: Some((*account).to_owned()),
            region: None,
            title: format!("No trail records S3 data events for {account} on any bucket"),
            why: "Object reads and writes (GetObject, PutObject, DeleteObject) are data events: without them an exfiltration from a bucket leaves no trace at all.".into(),
            console: "CloudTrail console → Trails → (a trail) → Data events → Edit → S3".into(),
            cli: format!(
                "aws cloudtrail put-event-selectors --trail-name {} --advanced-event-selectors '[{{\"Name\":\"Management\",\"FieldSelectors\":[{{\"Field\":\"eventCategory\",\"Equals\":[\"Management\"]}}]}},{{\"Name\":\"S3 objects\",\"FieldSelectors\":[{{\"Field\":\"eventCategory\",\"Equals\":[\"Data\"]}},{{\"Field\":\"resources.type\",\"Equals\":[\"AWS::S3::Object\"]}},{{\"Field\":\"resources.ARN\",\"StartsWith\":[\"arn:aws:s3:::BUCKET/\"]}}]}}]'",
                t.map_or("TRAIL", |t| t.arn.as_str())
            ),
            usd_month: None,
        });
    }
    if !cx.organizations.is_empty() && !has_org_trail {
        out.push(Finding {
            code: "no_organization_trail".into(),
            severity: Severity::Medium,
            trail: None,
            account: None,
            region: None,
            title: format!("No organization trail in {}", cx.organizations.join(", ")),
            why: "An organization trail records every member account, new ones included, and member accounts cannot stop it. Per-account trails leave gaps and can be stopped by whoever holds the account.".into(),
            console: "CloudTrail console of the management account → Trails → Create trail → Enable for all accounts in my organization".into(),
            cli: "aws cloudtrail create-trail --name organization --s3-bucket-name BUCKET --is-organization-trail --is-multi-region-trail --enable-log-file-validation".into(),
            usd_month: None,
        });
    }
    out
}

/// Every finding, worst first.
pub fn sorted(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then_with(|| a.title.cmp(&b.title))
    });
    findings
}

/// Every trail with its findings, and the findings across all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub trails: Vec<Trail>,
    /// Every finding, worst first.
    pub findings: Vec<Finding>,
    /// The month the costs are of (`YYYY-MM`).
    pub month: String,
    pub now_ms: i64,
}

/// Reads the inventory, the delivery counts and this month's costs into the overview.
#[cfg(feature = "ssr")]
pub async fn overview(
    pool: &sqlx::SqlitePool,
    now_ms: i64,
) -> Result<Overview, crate::costs::ReportError> {
    use crate::costs;
    let mut trails = fold(crate::db::trails::latest_everywhere(pool).await?);
    let today = now_ms.div_euclid(86_400_000);
    let rows = crate::db::deliveries::days(pool, today - 29, today + 1).await?;
    let mut cx = Context {
        now_ms,
        organizations: crate::db::trails::organizations(pool).await?,
        integrity: crate::db::integrity::totals(pool).await?.into_iter().collect(),
        newest_digest: crate::db::integrity::newest_digests(pool).await?.into_iter().collect(),
        digests_listed: crate::db::integrity::last_passes(pool)
            .await?
            .into_iter()
            .map(|(b, p, at)| ((format!("s3://{b}"), p.trim_matches('/').to_owned()), at))
            .collect(),
        ..Context::default()
    };
    for (_, d) in costs::delivered_of(&trails, &rows) {
        if d.category == "file" {
            continue;
        }
        cx.active.insert((d.account.clone(), d.region.clone()));
        if let Some(t) = trails.iter_mut().find(|t| Some(&t.arn) == d.trail.as_ref()) {
            t.events_30d += d.events as i64;
        }
    }
    for (origin, prefix, records) in crate::db::deliveries::delivered_since(pool, now_ms - 86_400_000).await? {
        if let Some(arn) = costs::attribute(&trails, &origin, &prefix) {
            if let Some(t) = trails.iter_mut().find(|t| t.arn == arn) {
                t.events_24h += records;
            }
        }
    }
    let prices = costs::prices(pool).await?;
    let report = costs::report(pool, &trails, None, now_ms, &prices).await?;
    let scale = report.projected_usd.map_or(1.0, |_| 1.0 / report.elapsed.max(1e-9));
    for l in report.lines.iter().filter(|l| l.kind == costs::Kind::ManagementPaid) {
        let Some(arn) = &l.trail else { continue };
        let free: Vec<String> = report
            .lines
            .iter()
            .filter(|f| {
                f.kind == costs::Kind::ManagementFree
                    && f.account == l.account
                    && f.region == l.region
                    && f.trail.is_some()
            })
            .map(|f| report.trail_label(f.trail.as_deref()))
            .collect();
        let e = cx.paid_copies.entry(arn.clone()).or_insert((0.0, Vec::new()));
        e.0 += l.usd * scale;
        for f in free {
            if !e.1.contains(&f) {
                e.1.push(f);
            }
        }
    }
    for t in &mut trails {
        t.usd_month = report.trail_usd(&t.arn);
        t.findings = sorted(trail_findings(t, &cx));
    }
    let mut findings: Vec<Finding> = trails.iter().flat_map(|t| t.findings.clone()).collect();
    findings.extend(coverage_findings(&trails, &cx));
    trails.sort_by(|a, b| (a.gone, &a.account, &a.name).cmp(&(b.gone, &b.account, &b.name)));
    Ok(Overview {
        trails,
        findings: sorted(findings),
        month: report.month,
        now_ms,
    })
}

/// One change of a trail the inventory saw: what it was before and after, per field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// When the inventory first saw it, and the last time it saw the trail before.
    pub seen_at: i64,
    pub previous_seen_at: Option<i64>,
    /// `(field, before, after)`, as compact JSON.
    pub fields: Vec<(String, String, String)>,
    pub gone: bool,
    /// Whether an event of the store made a change to the trail between the two looks.
    pub explained: bool,
}

/// A trail's history: the inventory's changes and the trail's own write events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Newest first.
    pub changes: Vec<Change>,
    /// `CreateTrail`, `UpdateTrail`, `PutEventSelectors`, `StartLogging`, ... naming the
    /// trail, newest first.
    pub events: Vec<crate::model::EventRow>,
    /// The timeline of them all.
    pub events_href: String,
}

/// The fields that differ between two snapshots' settings.
pub fn diff(before: &Value, after: &Value) -> Vec<(String, String, String)> {
    let empty = serde_json::Map::new();
    let (a, b) = (before.as_object().unwrap_or(&empty), after.as_object().unwrap_or(&empty));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |v: Option<&Value>| v.map_or_else(|| "—".to_owned(), |v| v.to_string());
            (k.clone(), show(a.get(k)), show(b.get(k)))
        })
        .collect()
}

/// The changes of the snapshots of one source and Region (oldest first in, newest first
/// out), each marked explained when a write event falls between the two looks.
pub fn changes(snapshots: &[(i64, i64, bool, Value)], event_times: &[i64]) -> Vec<Change> {
    let mut out = Vec::new();
    for w in snapshots.windows(2) {
        let (prev, next) = (&w[0], &w[1]);
        let fields = diff(&prev.3, &next.3);
        if fields.is_empty() && prev.2 == next.2 {
            continue;
        }
        out.push(Change {
            seen_at: next.0,
            previous_seen_at: Some(prev.1),
            explained: event_times.iter().any(|t| *t >= prev.1 - 60_000 && *t <= next.0),
            fields,
            gone: next.2,
        });
    }
    out.reverse();
    out
}

/// A trail's history from the inventory and the event store.
#[cfg(feature = "ssr")]
pub async fn history(
    pool: &sqlx::SqlitePool,
    arn: &str,
    now_ms: i64,
) -> Result<History, sqlx::Error> {
    use crate::db::{events, filter};
    use crate::query::{Access, EventQuery, Field, Preset, Sort, TimeRange};
    let query = EventQuery {
        range: TimeRange::Preset(Preset::All),
        ..EventQuery::default()
    }
    .with_filter(Field::Resource, arn, false)
    .with_access(Some(Access::Write));
    let store = events::store_info(pool).await?;
    let range = query.resolve_for(now_ms, &store, None);
    let sel = filter::resolve(pool, &query).await?;
    let (rows, _) = events::list(pool, &sel, &range, Sort::Newest, None, 100).await?;
    let times: Vec<i64> = rows.iter().map(|r| r.time_ms).collect();
    // The settings as the trail's home Region showed them, from the source that looked
    // most often.
    let all = crate::db::trails::snapshots_of(pool, arn).await?;
    let mut by_place: BTreeMap<(String, String), Vec<(i64, i64, bool, Value)>> = BTreeMap::new();
    for (source, region, taken, seen, gone, config) in all {
        let c: Value = serde_json::from_str(&config).unwrap_or(Value::Null);
        if c["shadow"].as_bool() == Some(true) {
            continue;
        }
        by_place.entry((source, region)).or_default().push((taken, seen, gone, c));
    }
    let longest = by_place.into_values().max_by_key(Vec::len).unwrap_or_default();
    Ok(History {
        changes: changes(&longest, &times),
        events: rows,
        events_href: query.href("/"),
    })
}

/// A trail that records an event, and by which of its selectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedBy {
    pub arn: String,
    pub name: String,
    /// 1-based.
    pub selector: usize,
    pub sentences: Vec<String>,
    /// When the inventory read the settings used; `first` when the event is older than
    /// the first reading (the settings at the time are then not known).
    pub as_of: i64,
    pub first: bool,
}

/// Which trails the inventory knows recorded the event of `record` (a CloudTrail record
/// as stored), each with the selector that records it, under the settings the inventory
/// read last before the event: its account and Region covered, logging on, a selector
/// that matches.
#[cfg(feature = "ssr")]
pub async fn recorded_by(pool: &sqlx::SqlitePool, record: &Value, time_ms: i64) -> Result<Vec<RecordedBy>, sqlx::Error> {
    let facts = crate::selectors::Facts::of_record(record);
    let account = record["recipientAccountId"]
        .as_str()
        .or_else(|| record["userIdentity"]["accountId"].as_str())
        .unwrap_or("");
    let region = record["awsRegion"].as_str().unwrap_or("");
    let trails = fold(crate::db::trails::latest_everywhere(pool).await?);
    let mut out = Vec::new();
    for t in &trails {
        if !(t.account == account || t.organization) || !t.regions.iter().any(|r| r == region) {
            continue;
        }
        // The home Region's readings, oldest first.
        let readings: Vec<(i64, bool, Value)> = crate::db::trails::snapshots_of(pool, &t.arn)
            .await?
            .into_iter()
            .filter(|(_, r, ..)| Some(r) == t.home_region.as_ref())
            .map(|(_, _, taken, _, gone, c)| (taken, gone, serde_json::from_str(&c).unwrap_or(Value::Null)))
            .filter(|(_, _, c)| c["shadow"].as_bool() != Some(true))
            .collect();
        // Of every source's readings, the last taken before the event; else the first.
        let before = readings.iter().filter(|(taken, ..)| *taken <= time_ms).max_by_key(|(taken, ..)| *taken);
        let first = before.is_none();
        let Some((taken, gone, config)) = before.or_else(|| readings.iter().min_by_key(|(taken, ..)| *taken)) else {
            continue;
        };
        if *gone || config["logging"].as_bool() == Some(false) {
            continue;
        }
        let selectors = Selectors::of_config(config);
        if let Some(i) = selectors.records(&facts) {
            out.push(RecordedBy {
                arn: t.arn.clone(),
                name: t.name.clone(),
                selector: i + 1,
                sentences: selectors.sentences_of(i),
                as_of: *taken,
                first,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aggregation_reads_as_a_sentence() {
        assert_eq!(
            aggregation_sentences(&json!({"aggregation": [{"category": "Data", "templates": ["API_ACTIVITY", "RESOURCE_ACCESS", "USER_ACTIONS"]}]})),
            ["Data events are also delivered as 5-minute summaries (aggregated events) of API activity, resource access and user actions"]
        );
        assert_eq!(
            aggregation_sentences(&json!({"aggregation": [{"category": "Data", "templates": ["RESOURCE_ACCESS"]}]})),
            ["Data events are also delivered as 5-minute summaries (aggregated events) of resource access"]
        );
        assert!(aggregation_sentences(&json!({"aggregation": [{"category": "Data", "templates": []}]})).is_empty());
        assert!(aggregation_sentences(&json!({"name": "t"})).is_empty());
    }

    fn seen(region: &str, arn: &str, config: Value) -> Seen {
        Seen {
            source: "prod".into(),
            region: region.into(),
            arn: arn.into(),
            home_region: config["home_region"].as_str().map(str::to_owned),
            gone: false,
            config,
            status: json!({"latest_delivery": 1_000}),
            taken_at: 5,
            seen_at: 6,
            changes: 0,
        }
    }

    const MAIN: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/main";
    const LOCAL: &str = "arn:aws:cloudtrail:eu-west-1:111122223333:trail/local";

    fn trails() -> Vec<Trail> {
        fold(vec![
            seen("us-east-1", MAIN, json!({
                "name": "main", "home_region": "us-east-1", "multi_region": true,
                "logging": true, "global_service_events": true, "log_file_validation": true,
                "bucket": "b", "kms_key": "k", "cloudwatch_log_group": "g",
                "insight_selectors": [{"type": "ApiCallRateInsight", "categories": []}],
                "event_selectors": [{"read_write": "All", "management_events": true,
                    "data_resources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3"]}]}],
            })),
            seen("eu-west-1", MAIN, json!({"name": "main", "home_region": "us-east-1",
                "shadow": true, "multi_region": true})),
            seen("eu-west-1", LOCAL, json!({
                "name": "local", "home_region": "eu-west-1", "multi_region": false,
                "logging": false, "global_service_events": false, "log_file_validation": false,
                "bucket": "b", "key_prefix": "local/",
            })),
        ])
    }

    #[test]
    fn a_change_is_its_fields_before_and_after_and_says_if_an_event_made_it() {
        let a = json!({"logging": true, "name": "t", "kms_key": null});
        let b = json!({"logging": false, "name": "t", "kms_key": "k"});
        assert_eq!(
            diff(&a, &b),
            [
                ("kms_key".to_owned(), "null".to_owned(), "\"k\"".to_owned()),
                ("logging".to_owned(), "true".to_owned(), "false".to_owned())
            ]
        );
        let snaps = vec![(0, 1_000_000, false, a.clone()), (2_000_000, 2_000_000, false, b.clone()), (3_000_000, 3_000_000, true, b)];
        let c = changes(&snaps, &[1_500_000]);
        assert_eq!(c.len(), 2);
        assert!(c[0].gone && c[0].fields.is_empty() && !c[0].explained);
        assert!(!c[1].gone && c[1].explained && c[1].fields.len() == 2);
    }

    #[test]
    fn the_freshest_reading_of_two_sources_gives_the_settings() {
        let cfg = |logging: bool| json!({"name": "t", "home_region": "us-east-1", "logging": logging});
        let mut stale = seen("us-east-1", MAIN, cfg(true));
        stale.source = "a".into();
        let mut fresh = seen("us-east-1", MAIN, cfg(false));
        fresh.source = "b".into();
        (fresh.taken_at, fresh.seen_at) = (100, 100);
        for rows in [vec![stale.clone(), fresh.clone()], vec![fresh, stale]] {
            assert_eq!(fold(rows)[0].logging, Some(false));
        }
    }

    #[test]
    fn the_prefix_is_what_comes_before_the_logs() {
        assert_eq!(
            prefix_of("logs/a/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/x.json.gz"),
            "logs/a"
        );
        assert_eq!(prefix_of("AWSLogs/o-abc/111122223333/CloudTrail/x"), "");
        assert_eq!(prefix_of("/tmp/export.json"), "");
    }

    #[test]
    fn a_multi_region_trail_is_one_row_with_its_regions() {
        let t = trails();
        assert_eq!(t.len(), 2);
        let main = t.iter().find(|t| t.arn == MAIN).unwrap();
        assert_eq!(main.regions, ["eu-west-1", "us-east-1"]);
        assert_eq!(main.account, "111122223333");
        assert!(main.home_read);
        assert_eq!(main.insights, ["ApiCallRateInsight on Management"]);
        assert!(main.records_s3_data() && main.records_management());
        let local = t.iter().find(|t| t.arn == LOCAL).unwrap();
        assert_eq!(local.regions, ["eu-west-1"]);
        assert_eq!(
            local.delivers_to(),
            Some(("s3://b".to_owned(), "local".to_owned()))
        );
        assert_eq!(local.location().as_deref(), Some("s3://b/local"));
    }

    #[test]
    fn each_weakness_is_a_finding_and_a_sound_trail_has_none() {
        let cx = Context {
            now_ms: 1_000 + 10 * 60_000,
            ..Context::default()
        };
        let t = trails();
        let main = t.iter().find(|t| t.arn == MAIN).unwrap();
        assert_eq!(trail_findings(main, &cx), []);
        let local = t.iter().find(|t| t.arn == LOCAL).unwrap();
        let codes: Vec<String> = trail_findings(local, &cx)
            .into_iter()
            .map(|f| f.code)
            .collect();
        assert_eq!(
            codes,
            [
                "logging_stopped",
                "not_multi_region",
                "global_service_events_off",
                "log_file_validation_off",
                "no_kms_key",
                "no_cloudwatch_logs",
                "insights_off"
            ]
        );
        // Two hours without a delivery while logging: lagging.
        let late = Context {
            now_ms: 1_000 + 2 * HOUR_MS,
            ..Context::default()
        };
        assert_eq!(trail_findings(main, &late)[0].code, "delivery_lagging");
    }

    #[test]
    fn digests_that_stopped_arriving_or_vanished_are_findings() {
        let mut t = trails();
        let main = t.iter_mut().find(|t| t.arn == MAIN).unwrap();
        main.latest_digest = Some(10 * HOUR_MS);
        main.seen_at = 11 * HOUR_MS;
        let cx = Context {
            now_ms: main.seen_at,
            ..Context::default()
        };
        let codes = |t: &Trail, cx: &Context| digest_findings(t, cx).into_iter().map(|f| f.code).collect::<Vec<_>>();
        // An hour since the last digest: on time.
        assert!(codes(main, &cx).is_empty());
        // Over two hours, as of the inventory's reading, while logging: late.
        main.seen_at = 12 * HOUR_MS + 1;
        let f = digest_findings(main, &cx);
        assert_eq!(f.iter().map(|f| f.code.as_str()).collect::<Vec<_>>(), ["digests_late"]);
        assert!(f[0].title.starts_with("main has delivered no digest file for 120 min (the last at 1970-01-01 10:00:00 UTC)"), "{}", f[0].title);
        assert_eq!(f[0].severity, Severity::High);
        // Not while stopped (that is its own finding), nor without validation.
        main.logging = Some(false);
        assert!(codes(main, &cx).is_empty());
        main.logging = Some(true);
        main.log_file_validation = Some(false);
        assert!(codes(main, &cx).is_empty());
        main.log_file_validation = Some(true);
        main.seen_at = 11 * HOUR_MS;

        // CloudTrail delivered a digest at 10:00; the bucket, listed at 10:30, holds none
        // newer than 07:00: the newest were deleted.
        let mut cx = cx.clone();
        cx.newest_digest.insert(MAIN.into(), 7 * HOUR_MS);
        cx.digests_listed.insert(("s3://b".into(), String::new()), 10 * HOUR_MS + 30 * 60_000);
        let f = digest_findings(main, &cx);
        assert_eq!(f.iter().map(|f| f.code.as_str()).collect::<Vec<_>>(), ["digests_missing"]);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].title.contains("CloudTrail delivered one at 1970-01-01 10:00:00 UTC, the newest Cairn found ends at 1970-01-01 07:00:00 UTC"), "{}", f[0].title);
        assert!(f[0].cli.contains("--start-time 1970-01-01T07:00:00Z"));
        // Listed before the delivery, or the newest found recent enough: nothing to say.
        cx.digests_listed.insert(("s3://b".into(), String::new()), 10 * HOUR_MS + 5 * 60_000);
        assert!(codes(main, &cx).is_empty());
        cx.digests_listed.insert(("s3://b".into(), String::new()), 10 * HOUR_MS + 30 * 60_000);
        cx.newest_digest.insert(MAIN.into(), 9 * HOUR_MS);
        assert!(codes(main, &cx).is_empty());
        // Another prefix's listing says nothing of this trail's digests.
        cx.newest_digest.insert(MAIN.into(), 7 * HOUR_MS);
        cx.digests_listed.clear();
        cx.digests_listed.insert(("s3://b".into(), "local".into()), 10 * HOUR_MS + 30 * 60_000);
        assert!(codes(main, &cx).is_empty());
    }

    #[test]
    fn the_fix_for_a_paid_copy_keeps_everything_but_management_events() {
        let t = trails();
        let main = t.iter().find(|t| t.arn == MAIN).unwrap();
        assert_eq!(
            without_management(&main.config_json).as_deref(),
            Some(r#"--event-selectors '[{"ReadWriteType":"All","IncludeManagementEvents":false,"DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3"]}]}]'"#)
        );
        let advanced = json!({"advanced_event_selectors": [
            {"name": "m", "fields": [{"field": "eventCategory", "equals": ["Management"]}]},
            {"name": "d", "fields": [{"field": "eventCategory", "equals": ["Data"]},
                {"field": "resources.ARN", "starts_with": ["arn:aws:s3:::x/"]}]}]});
        assert_eq!(
            without_management(&advanced.to_string()).as_deref(),
            Some(r#"--advanced-event-selectors '[{"Name":"d","FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.ARN","StartsWith":["arn:aws:s3:::x/"]}]}]'"#)
        );
        let local = t.iter().find(|t| t.arn == LOCAL).unwrap();
        assert_eq!(without_management(&local.config_json), None);
        // A quote in a value cannot end the shell word.
        let hostile = json!({"event_selectors": [{"read_write": "All", "management_events": true,
            "data_resources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3:::b/'; rm -rf ~; '"]}]}]});
        assert_eq!(
            without_management(&hostile.to_string()).as_deref(),
            Some(r#"--event-selectors '[{"ReadWriteType":"All","IncludeManagementEvents":false,"DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3:::b/'\''; rm -rf ~; '\''"]}]}]'"#)
        );
    }

    #[test]
    fn coverage_names_regions_no_trail_records() {
        let mut cx = Context::default();
        for r in ["us-east-1", "eu-west-1", "ap-south-1"] {
            cx.active.insert(("111122223333".into(), r.into()));
        }
        // An account no trail of the inventory belongs to is not judged.
        cx.active.insert(("999999999999".into(), "ap-south-1".into()));
        cx.organizations = vec!["o-abc".into()];
        let f = coverage_findings(&trails(), &cx);
        let codes: Vec<(&str, Option<&str>)> = f
            .iter()
            .map(|f| (f.code.as_str(), f.region.as_deref()))
            .collect();
        assert_eq!(
            codes,
            [
                ("region_not_covered", Some("ap-south-1")),
                ("no_organization_trail", None)
            ]
        );
        assert_eq!(sorted(f)[0].severity, Severity::High);
    }
}
