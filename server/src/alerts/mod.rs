//! Alerts: new findings sent where the team already is — webhooks (a generic JSON body
//! or a Slack-compatible one), Amazon SNS topics and EventBridge buses.
//!
//! A finding is queued for each destination that takes it in the transaction that makes
//! it (`app::db::alerts::ENQUEUE`), so no finding is alerted twice and none is lost to a
//! crash. The dispatcher (`run_forever` in `cairn serve`, or `cairn alerts send`)
//! claims due alerts for a lease, sends them, and settles each with its attempt in the
//! delivery log: sent, tried again later with exponential backoff, or given up after
//! the last attempt (and made due again by "Retry"). An alert cut off by a crash between
//! sending and settling is sent again after its lease, with the same delivery id, so a
//! receiver can drop the copy.
//!
//! Webhook URLs and tokens are sealed with the database's key and opened only to send;
//! they are never shown, logged or put in an error (errors are stripped of the URL).

pub mod cli;
pub mod web;

use crate::sync::secrets::{SecretBox, SecretError};
use app::db::alerts::{self as store, Attempt, Due, NewDestination, Sealed, Settle};
use app::detections::{Finding, Severity};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::{Value, json};
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// At most this many of a finding's CloudTrail event ids go in an alert.
const EVENT_IDS: i64 = 20;

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("a destination's name is 1 to 64 letters, digits, spaces, '.', '_' or '-'")]
    BadName,
    #[error("the kind is one of webhook, slack, sns, eventbridge")]
    BadKind,
    #[error("a webhook needs an http or https URL ({0})")]
    BadUrl(String),
    #[error("{0}")]
    BadArn(String),
    #[error("the endpoint URL is not an http or https URL")]
    BadEndpoint,
    #[error("the least severity is one of informational, low, medium, high, critical")]
    BadSeverity,
    #[error("no rule has the id {0:?}")]
    NoRule(String),
    #[error("a destination named {0:?} exists")]
    Exists(String),
    #[error("no such alert destination")]
    NoDestination,
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Rules(#[from] app::db::rules::RulesError),
}

/// Why a delivery failed. Never holds a webhook's URL or token.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Http(String),
    #[error("HTTP {0}{1}")]
    Status(u16, String),
    #[error("{0}")]
    Aws(String),
    #[error("the destination has no {0}")]
    Incomplete(&'static str),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// A destination as typed in a form or on the command line.
#[derive(Debug, Clone, Default)]
pub struct DestinationSpec {
    pub name: String,
    pub kind: String,
    /// A webhook's URL (a secret: it often carries the token).
    pub url: String,
    /// A webhook's bearer token, sent as `Authorization: Bearer …`.
    pub token: String,
    /// An SNS topic's or EventBridge bus's ARN.
    pub arn: String,
    pub endpoint_url: String,
    pub min_severity: String,
    /// Rule ids, comma- or space-separated; empty: every rule.
    pub rules: String,
}

fn valid_name(n: &str) -> bool {
    (1..=64).contains(&n.chars().count())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-'))
        && !n.starts_with(' ')
        && !n.ends_with(' ')
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` → its Region, when the service
/// matches and the resource is of the form `prefix` + a name.
fn arn_region(arn: &str, service: &str, prefix: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [a, partition, svc, region, account, resource] = parts.as_slice() else {
        return None;
    };
    let ok = *a == "arn"
        && partition.starts_with("aws")
        && *svc == service
        && !region.is_empty()
        && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && resource.strip_prefix(prefix).is_some_and(|n| {
            !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        });
    ok.then(|| region.to_string())
}

fn http_url(s: &str) -> Option<url::Url> {
    let u = url::Url::parse(s.trim()).ok()?;
    (matches!(u.scheme(), "http" | "https") && u.host_str().is_some()).then_some(u)
}

/// Checks a destination and seals its secrets.
pub async fn prepare(pool: &SqlitePool, secrets: &SecretBox, spec: &DestinationSpec) -> Result<NewDestination, AlertError> {
    let name = spec.name.trim().to_string();
    if !valid_name(&name) {
        return Err(AlertError::BadName);
    }
    let kind = spec.kind.trim().to_ascii_lowercase();
    let min_severity = if spec.min_severity.trim().is_empty() {
        Severity::High
    } else {
        Severity::parse(&spec.min_severity).ok_or(AlertError::BadSeverity)?
    };
    let mut rules: Vec<String> = spec
        .rules
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    rules.sort();
    rules.dedup();
    for r in &rules {
        if app::db::rules::get(pool, r).await?.is_none() {
            return Err(AlertError::NoRule(r.clone()));
        }
    }
    let endpoint_url = match spec.endpoint_url.trim() {
        "" => None,
        e => Some(http_url(e).ok_or(AlertError::BadEndpoint)?.to_string()),
    };
    let mut d = NewDestination {
        name,
        kind: kind.clone(),
        shown: String::new(),
        arn: None,
        sealed_url: None,
        sealed_token: None,
        endpoint_url: None,
        min_severity,
        rules: (!rules.is_empty()).then_some(rules),
    };
    match kind.as_str() {
        "webhook" | "slack" => {
            let u = http_url(&spec.url).ok_or_else(|| AlertError::BadUrl("it does not parse as one".into()))?;
            if !u.username().is_empty() || u.password().is_some() {
                return Err(AlertError::BadUrl("put credentials in the token, not the URL".into()));
            }
            d.shown = u.origin().ascii_serialization();
            d.sealed_url = Some(secrets.seal(u.as_str()));
            let token = spec.token.trim();
            if !token.is_empty() {
                d.sealed_token = Some(secrets.seal(token));
            }
        }
        "sns" | "eventbridge" => {
            let arn = spec.arn.trim();
            let found = if kind == "sns" {
                arn_region(arn, "sns", "")
            } else {
                arn_region(arn, "events", "event-bus/")
            };
            if found.is_none() {
                return Err(AlertError::BadArn(if kind == "sns" {
                    "an SNS destination needs its topic's ARN: arn:aws:sns:REGION:ACCOUNT:TOPIC".into()
                } else {
                    "an EventBridge destination needs its bus's ARN: arn:aws:events:REGION:ACCOUNT:event-bus/NAME".into()
                }));
            }
            d.shown = arn.to_string();
            d.arn = Some(arn.to_string());
            d.endpoint_url = endpoint_url;
        }
        _ => return Err(AlertError::BadKind),
    }
    Ok(d)
}

/// Adds a prepared destination with its audit line, in one transaction.
pub async fn add(
    pool: &SqlitePool,
    d: &NewDestination,
    line: &app::db::audit::AuditLine<'_>,
) -> Result<i64, AlertError> {
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let id = store::insert(&mut tx, d, line.actor.unwrap_or("cairn"), now_ms())
        .await?
        .ok_or_else(|| AlertError::Exists(d.name.clone()))?;
    let detail = format!(
        "{} to {}, {} and worse{}",
        d.kind,
        d.shown,
        d.min_severity.as_str(),
        d.rules.as_ref().map(|r| format!(", rules {}", r.join(", "))).unwrap_or_default()
    );
    app::db::audit::write_line(&mut tx, &line.clone().target(&d.name).detail(&detail)).await?;
    tx.commit().await?;
    Ok(id)
}

/// Enables, disables, retries or removes a destination, with its audit line.
pub async fn change(
    pool: &SqlitePool,
    id: i64,
    what: Change,
    line: &app::db::audit::AuditLine<'_>,
) -> Result<String, AlertError> {
    let row = store::get(pool, id).await?.ok_or(AlertError::NoDestination)?;
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let now = now_ms();
    let detail = match what {
        Change::Enable(on) => {
            store::set_enabled(&mut tx, id, on, now).await?;
            if on { "enabled" } else { "disabled" }.to_string()
        }
        Change::Retry => format!("{} given-up alerts due again", store::retry_failed(&mut tx, id, now).await?),
        Change::Remove => {
            store::remove(&mut tx, id).await?;
            "removed".to_string()
        }
    };
    app::db::audit::write_line(&mut tx, &line.clone().target(&row.name).detail(&detail)).await?;
    tx.commit().await?;
    Ok(detail)
}

#[derive(Debug, Clone, Copy)]
pub enum Change {
    Enable(bool),
    Retry,
    Remove,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// How often and how hard the dispatcher tries. Tests shorten the waits.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Between looks at the outbox.
    pub poll: Duration,
    /// Attempts before an alert is given up on.
    pub max_attempts: i64,
    pub first_backoff_ms: i64,
    pub max_backoff_ms: i64,
    /// How long a claimed alert is held before another pass may take it.
    pub lease_ms: i64,
    /// One request's limit.
    pub timeout: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        // 30 s, 1, 2, 4, 8, 16, 32 min, then hourly: about 6 hours over 12 attempts.
        Tuning {
            poll: Duration::from_secs(5),
            max_attempts: 12,
            first_backoff_ms: 30_000,
            max_backoff_ms: 3_600_000,
            lease_ms: 120_000,
            timeout: Duration::from_secs(15),
        }
    }
}

impl Tuning {
    fn backoff_ms(&self, attempt: i64) -> i64 {
        let shift = (attempt - 1).clamp(0, 30) as u32;
        self.first_backoff_ms.saturating_mul(1i64 << shift).min(self.max_backoff_ms)
    }
}

/// Sends alerts: the HTTP client, the AWS configurations it made, the key.
#[derive(Clone)]
pub struct Dispatcher {
    pool: SqlitePool,
    secrets: SecretBox,
    http: reqwest::Client,
    aws: Arc<Mutex<HashMap<(String, Option<String>), SdkConfig>>>,
    /// The dashboard's address as people reach it, for links in alerts.
    public_url: Option<String>,
    pub tuning: Tuning,
}

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PassReport {
    pub sent: u64,
    pub retrying: u64,
    pub given_up: u64,
}

impl Dispatcher {
    pub fn new(pool: SqlitePool, secrets: SecretBox, public_url: Option<String>, tuning: Tuning) -> anyhow::Result<Dispatcher> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(tuning.timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("cairn/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Dispatcher {
            pool,
            secrets,
            http,
            aws: Arc::new(Mutex::new(HashMap::new())),
            public_url: public_url.map(|u| u.trim_end_matches('/').to_string()),
            tuning,
        })
    }

    /// Looks at the outbox every `poll`, for ever.
    pub async fn run_forever(self) {
        loop {
            match self.pass().await {
                Ok(r) if r != PassReport::default() => {
                    tracing::info!(sent = r.sent, retrying = r.retrying, given_up = r.given_up, "alerts delivered")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "reading the alert outbox failed"),
            }
            tokio::time::sleep(self.tuning.poll).await;
        }
    }

    /// Sends every alert due now, in batches, until none is due.
    pub async fn pass(&self) -> Result<PassReport, sqlx::Error> {
        let mut report = PassReport::default();
        loop {
            let now = now_ms();
            let due = store::claim(&self.pool, now, now + self.tuning.lease_ms, 20).await?;
            if due.is_empty() {
                return Ok(report);
            }
            for d in &due {
                match self.deliver(d).await? {
                    Settle::Sent => report.sent += 1,
                    Settle::RetryAt(_) => report.retrying += 1,
                    Settle::GiveUp => report.given_up += 1,
                }
            }
        }
    }

    async fn deliver(&self, due: &Due) -> Result<Settle, sqlx::Error> {
        let started = Instant::now();
        let at_ms = now_ms();
        let outcome = match (
            store::sealed(&self.pool, due.destination_id).await?,
            app::db::findings::get(&self.pool, due.finding_id).await?,
        ) {
            (Some(dest), Some(finding)) => {
                let body = self.body(&finding, &dest).await?;
                self.send(&dest, &finding.rule_title, finding.severity, &body).await
            }
            (None, _) => Err(SendError::Incomplete("destination (it was removed)")),
            (_, None) => Err(SendError::Incomplete("finding (it was removed)")),
        };
        let (ok, answer, error) = match outcome {
            Ok(a) => (true, Some(a), None),
            Err(e) => (false, None, Some(e.to_string())),
        };
        let settle = if ok {
            Settle::Sent
        } else if due.attempts >= self.tuning.max_attempts {
            Settle::GiveUp
        } else {
            Settle::RetryAt(now_ms() + self.tuning.backoff_ms(due.attempts))
        };
        if let Some(e) = &error {
            tracing::warn!(destination = due.destination_id, finding = due.finding_id, attempt = due.attempts, error = %e, "an alert was not delivered");
        }
        let attempt = Attempt {
            at_ms,
            attempt: due.attempts,
            ok,
            answer,
            error,
            millis: started.elapsed().as_millis() as i64,
        };
        store::settle(&self.pool, due, &attempt, settle).await?;
        Ok(settle)
    }

    /// Sends a made-up finding to a destination now and logs the attempt.
    pub async fn test(&self, id: i64) -> Result<Result<String, String>, AlertError> {
        let dest = store::sealed(&self.pool, id).await?.ok_or(AlertError::NoDestination)?;
        let started = Instant::now();
        let at_ms = now_ms();
        let body = json!({
            "type": "cairn.test",
            "delivery": format!("cairn-test-{}-{at_ms}", dest.id),
            "destination": dest.name,
            "text": "A test alert from Cairn: this destination is reachable.",
        });
        let outcome = self.send(&dest, "Test alert", Severity::Informational, &body).await;
        let attempt = Attempt {
            at_ms,
            attempt: 1,
            ok: outcome.is_ok(),
            answer: outcome.as_ref().ok().cloned(),
            error: outcome.as_ref().err().map(|e| e.to_string()),
            millis: started.elapsed().as_millis() as i64,
        };
        store::log_test(&self.pool, id, &attempt).await?;
        Ok(outcome.map_err(|e| e.to_string()))
    }

    /// The generic body of a finding's alert.
    async fn body(&self, f: &Finding, dest: &Sealed) -> Result<Value, sqlx::Error> {
        let event_ids = app::db::findings::cloudtrail_ids(&self.pool, f.id, EVENT_IDS).await?;
        let rule = app::db::rules::get(&self.pool, &f.rule).await.ok().flatten();
        let path = format!("/findings/{}", f.id);
        let url = match &self.public_url {
            Some(base) => format!("{base}{path}"),
            None => path,
        };
        let iso = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default()
        };
        Ok(json!({
            "type": "cairn.finding",
            "delivery": format!("cairn-{}-{}", f.id, dest.id),
            "finding": {
                "id": f.id,
                "url": url,
                "rule": f.rule,
                "title": f.rule_title,
                "severity": f.severity.as_str(),
                "status": f.status.as_str(),
                "principal": f.principal,
                "principal_key": f.principal_key,
                "group": f.group,
                "summary": f.summary,
                "account": f.account,
                "region": f.region,
                "first": iso(f.first_ms),
                "last": iso(f.last_ms),
                "events": f.events,
                "event_ids": event_ids,
            },
            "rule": rule.map(|r| json!({
                "id": r.def.id,
                "title": r.def.title,
                "description": r.def.description,
                "tags": r.def.tags,
                "author": r.def.author,
                "references": r.def.references,
            })),
        }))
    }

    /// Sends one body; the answer is what the destination said (a status, a message id).
    async fn send(&self, dest: &Sealed, title: &str, severity: Severity, body: &Value) -> Result<String, SendError> {
        match dest.kind.as_str() {
            "webhook" | "slack" => {
                let url = dest.sealed_url.as_deref().ok_or(SendError::Incomplete("URL"))?;
                let url = self.secrets.open(url)?;
                let token = match dest.sealed_token.as_deref() {
                    Some(t) => Some(self.secrets.open(t)?),
                    None => None,
                };
                let payload = if dest.kind == "slack" { slack_body(body) } else { body.clone() };
                let mut req = self
                    .http
                    .post(url.as_str())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(payload.to_string());
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                if let Some(d) = body.get("delivery").and_then(Value::as_str) {
                    req = req.header("Idempotency-Key", d);
                }
                let resp = req.send().await.map_err(|e| SendError::Http(chain(&e.without_url())))?;
                let status = resp.status();
                if status.is_success() {
                    Ok(format!("HTTP {}", status.as_u16()))
                } else {
                    let text = resp.text().await.unwrap_or_default();
                    let text: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
                    Err(SendError::Status(
                        status.as_u16(),
                        if text.is_empty() { String::new() } else { format!(": {text}") },
                    ))
                }
            }
            "sns" => {
                let arn = dest.arn.as_deref().ok_or(SendError::Incomplete("topic ARN"))?;
                let region = arn_region(arn, "sns", "").ok_or(SendError::Incomplete("valid topic ARN"))?;
                let conf = self.aws_config(region, dest.endpoint_url.clone()).await;
                let client = aws_sdk_sns::Client::new(&conf);
                let attr = |v: &str| {
                    aws_sdk_sns::types::MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(v)
                        .build()
                        .map_err(|e| SendError::Aws(e.to_string()))
                };
                let out = client
                    .publish()
                    .topic_arn(arn)
                    .subject(sns_subject(title, severity))
                    .message(body.to_string())
                    .message_attributes("severity", attr(severity.as_str())?)
                    .message_attributes("type", attr(body.get("type").and_then(Value::as_str).unwrap_or("cairn"))?)
                    .send()
                    .await
                    .map_err(|e| SendError::Aws(aws_error(&e)))?;
                Ok(format!("message {}", out.message_id().unwrap_or("sent")))
            }
            "eventbridge" => {
                let arn = dest.arn.as_deref().ok_or(SendError::Incomplete("bus ARN"))?;
                let region = arn_region(arn, "events", "event-bus/").ok_or(SendError::Incomplete("valid bus ARN"))?;
                let conf = self.aws_config(region, dest.endpoint_url.clone()).await;
                let client = aws_sdk_eventbridge::Client::new(&conf);
                let detail_type = if body.get("type").and_then(Value::as_str) == Some("cairn.test") {
                    "Cairn test"
                } else {
                    "Cairn finding"
                };
                let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .source("cairn")
                    .detail_type(detail_type)
                    .detail(body.to_string())
                    .event_bus_name(arn)
                    .build();
                let out = client
                    .put_events()
                    .entries(entry)
                    .send()
                    .await
                    .map_err(|e| SendError::Aws(aws_error(&e)))?;
                let first = out.entries().first();
                if out.failed_entry_count() > 0 || first.is_some_and(|e| e.error_code().is_some()) {
                    let (code, msg) = first
                        .map(|e| (e.error_code().unwrap_or("failed"), e.error_message().unwrap_or("")))
                        .unwrap_or(("failed", ""));
                    return Err(SendError::Aws(format!("PutEvents refused the event: {code} {msg}")));
                }
                Ok(format!("event {}", first.and_then(|e| e.event_id()).unwrap_or("sent")))
            }
            _ => Err(SendError::Incomplete("known kind")),
        }
    }

    /// The SDK configuration for a Region and endpoint: the standard credential chain,
    /// made once.
    async fn aws_config(&self, region: String, endpoint: Option<String>) -> SdkConfig {
        let key = (region.clone(), endpoint.clone());
        let mut cache = self.aws.lock().await;
        if let Some(c) = cache.get(&key) {
            return c.clone();
        }
        let mut loader = aws_config::defaults(BehaviorVersion::v2026_01_12())
            .http_client(crate::sync::aws::http_client())
            .region(Region::new(region))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(self.tuning.timeout)
                    .build(),
            );
        if let Some(e) = endpoint {
            loader = loader.endpoint_url(e);
        }
        let conf = loader.load().await;
        cache.insert(key, conf.clone());
        conf
    }
}

/// An SDK error as a line: the service's code and message when it answered.
fn aws_error<E, R>(e: &aws_sdk_sns::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sns::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_sns::error::ProvideErrorMetadata;
    match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => chain(e),
    }
}

/// An error with its causes, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        src = inner.source();
    }
    s
}

/// An SNS subject: printable ASCII, at most 100 characters.
fn sns_subject(title: &str, severity: Severity) -> String {
    let s = format!("Cairn [{}] {title}", severity.as_str());
    let clean: String = s
        .chars()
        .map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' })
        .take(100)
        .collect();
    clean.trim().to_string()
}

/// Text for Slack's mrkdwn: `&`, `<` and `>` escaped, so nothing in an event becomes a
/// link, a mention or markup there.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The Slack-compatible body (`text` and blocks) of a generic body.
fn slack_body(body: &Value) -> Value {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(slack_escape).unwrap_or_default();
    if body.get("type").and_then(Value::as_str) == Some("cairn.test") {
        return json!({ "text": s(body.get("text")) });
    }
    let f = &body["finding"];
    let severity = s(f.get("severity")).to_uppercase();
    let title = s(f.get("title"));
    let who = s(f.get("principal"));
    let who = if who.is_empty() { s(f.get("group")) } else { who };
    let url = f.get("url").and_then(Value::as_str).unwrap_or_default();
    let link = if url.starts_with("http://") || url.starts_with("https://") {
        format!("<{}|Open finding {}>", slack_escape(url), f["id"])
    } else {
        format!("Finding {} ({})", f["id"], slack_escape(url))
    };
    let fallback = format!("[{severity}] {title}: {who}");
    let detail = format!(
        "*[{severity}] {title}*\n*Who:* {who}\n*Account:* {}  *Region:* {}\n*Events:* {} from {} to {}\n{link}",
        s(f.get("account")),
        s(f.get("region")),
        f["events"],
        s(f.get("first")),
        s(f.get("last")),
    );
    json!({
        "text": fallback,
        "blocks": [{ "type": "section", "text": { "type": "mrkdwn", "text": detail } }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_are_checked() {
        assert_eq!(arn_region("arn:aws:sns:eu-west-1:123456789012:alerts", "sns", "").as_deref(), Some("eu-west-1"));
        assert_eq!(
            arn_region("arn:aws:events:us-east-1:123456789012:event-bus/security", "events", "event-bus/").as_deref(),
            Some("us-east-1")
        );
        assert!(arn_region("arn:aws:events:us-east-1:123456789012:rule/x", "events", "event-bus/").is_none());
        assert!(arn_region("arn:aws:sns:eu-west-1:12345:alerts", "sns", "").is_none());
        assert!(arn_region("arn:aws:sqs:eu-west-1:123456789012:alerts", "sns", "").is_none());
        assert!(arn_region("https://example.com", "sns", "").is_none());
    }

    #[test]
    fn slack_text_cannot_carry_links_or_mentions() {
        let body = json!({
            "type": "cairn.finding",
            "finding": {"id": 7, "url": "/findings/7", "title": "Root <!channel>", "severity": "high",
                        "principal": "<https://evil.example|click> & co", "events": 3}
        });
        let out = slack_body(&body).to_string();
        assert!(!out.contains("<!channel>"));
        assert!(!out.contains("<https://evil"));
        assert!(out.contains("&lt;https://evil.example|click&gt; &amp; co"));
    }

    #[test]
    fn subjects_are_plain_and_short() {
        let s = sns_subject(&"é\n".repeat(80), Severity::High);
        assert!(s.len() <= 100);
        assert!(s.chars().all(|c| c.is_ascii() && !c.is_ascii_control()));
    }

    #[test]
    fn backoff_grows_to_its_cap() {
        let t = Tuning::default();
        assert_eq!(t.backoff_ms(1), 30_000);
        assert_eq!(t.backoff_ms(2), 60_000);
        assert_eq!(t.backoff_ms(12), 3_600_000);
    }
}
