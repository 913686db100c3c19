//! What CloudTrail charges for what the trails delivered: the first copy of management
//! events per account and Region free, each further copy paid, data and network
//! activity events paid for every copy. Prices per 100,000 events, editable; defaults
//! from the public US East list. Groundwork for the costs screen.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Prices in US dollars: per 100,000 events delivered or analysed, per GB for what lands
/// outside CloudTrail's bill.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    /// Each copy of management events after the first (`PaidEventsRecorded`).
    pub management_copy: f64,
    /// Data events, every copy (`DataEventsRecorded`).
    pub data: f64,
    /// Network activity events, every copy (`NetworkEventsRecorded`).
    pub network: f64,
    /// Insights on management events, per type, per 100,000 analysed (`InsightsEvents`).
    pub insights_management: f64,
    /// Insights on data events, per type, per 100,000 analysed (`DataInsightsEvents`).
    pub insights_data: f64,
    /// S3 Standard storage, per GB-month (outside the CloudTrail bill).
    pub s3_gb_month: f64,
    /// CloudWatch Logs ingestion, per GB (outside the CloudTrail bill).
    pub cloudwatch_gb: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Prices {
            management_copy: 2.00,
            data: 0.10,
            network: 0.10,
            insights_management: 0.35,
            insights_data: 0.03,
            s3_gb_month: 0.023,
            cloudwatch_gb: 0.50,
        }
    }
}

impl Prices {
    /// Each price's name (as stored and posted), label and Cost Explorer usage type.
    pub const NAMES: [(&'static str, &'static str, &'static str); 7] = [
        ("management_copy", "Management events, further copies (per 100,000)", "PaidEventsRecorded"),
        ("data", "Data events (per 100,000)", "DataEventsRecorded"),
        ("network", "Network activity events (per 100,000)", "NetworkEventsRecorded"),
        ("insights_management", "Insights on management events, per type (per 100,000 analysed)", "InsightsEvents"),
        ("insights_data", "Insights on data events, per type (per 100,000 analysed)", "DataInsightsEvents"),
        ("s3_gb_month", "S3 storage of the logs, outside CloudTrail (per GB-month)", "TimedStorage-ByteHrs"),
        ("cloudwatch_gb", "CloudWatch Logs ingestion, outside CloudTrail (per GB)", "DataProcessing-Bytes"),
    ];

    /// The price called `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        Some(match name {
            "management_copy" => self.management_copy,
            "data" => self.data,
            "network" => self.network,
            "insights_management" => self.insights_management,
            "insights_data" => self.insights_data,
            "s3_gb_month" => self.s3_gb_month,
            "cloudwatch_gb" => self.cloudwatch_gb,
            _ => return None,
        })
    }

    /// Sets the price called `name`; false for a name that is none.
    pub fn set(&mut self, name: &str, usd: f64) -> bool {
        let slot = match name {
            "management_copy" => &mut self.management_copy,
            "data" => &mut self.data,
            "network" => &mut self.network,
            "insights_management" => &mut self.insights_management,
            "insights_data" => &mut self.insights_data,
            "s3_gb_month" => &mut self.s3_gb_month,
            "cloudwatch_gb" => &mut self.cloudwatch_gb,
            _ => return false,
        };
        *slot = usd;
        true
    }
}

/// The prices in force: the list prices with what admins changed, for every Region and
/// for some Regions apart.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PriceTable {
    pub all: Prices,
    /// Region → its own prices (the all-Region ones where it sets none).
    pub regions: Vec<(String, Prices)>,
    /// Every change from the list: `(name, region or "", usd)`.
    pub changed: Vec<(String, String, f64)>,
    /// When a price was last changed, and by whom.
    pub last_change: Option<(i64, Option<String>)>,
}

impl PriceTable {
    pub fn of(&self, region: &str) -> &Prices {
        self.regions
            .iter()
            .find(|(r, _)| r == region)
            .map_or(&self.all, |(_, p)| p)
    }

    /// Builds the table from the stored changes `(name, region, usd, at, by)`.
    pub fn from_rows(rows: &[(String, String, f64, i64, Option<String>)]) -> PriceTable {
        let mut t = PriceTable::default();
        for (name, region, usd, _, _) in rows.iter().filter(|r| r.1.is_empty()) {
            if t.all.set(name, *usd) {
                t.changed.push((name.clone(), region.clone(), *usd));
            }
        }
        for (name, region, usd, _, _) in rows.iter().filter(|r| !r.1.is_empty()) {
            let base = t.all;
            let idx = match t.regions.iter().position(|(r, _)| r == region) {
                Some(i) => i,
                None => {
                    t.regions.push((region.clone(), base));
                    t.regions.len() - 1
                }
            };
            if t.regions[idx].1.set(name, *usd) {
                t.changed.push((name.clone(), region.clone(), *usd));
            }
        }
        t.last_change = rows
            .iter()
            .max_by_key(|r| r.3)
            .map(|r| (r.3, r.4.clone()));
        t
    }
}

/// What kind of charge a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    ManagementFree,
    ManagementPaid,
    Data,
    Network,
    Insights,
    /// The trail bucket's storage of what was delivered (not billed by CloudTrail).
    S3Storage,
    /// CloudWatch Logs ingestion of what a trail sends there (not billed by CloudTrail).
    CloudwatchLogs,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::ManagementFree,
        Kind::ManagementPaid,
        Kind::Data,
        Kind::Network,
        Kind::Insights,
        Kind::S3Storage,
        Kind::CloudwatchLogs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ManagementFree => "management_free",
            Kind::ManagementPaid => "management_paid",
            Kind::Data => "data",
            Kind::Network => "network",
            Kind::Insights => "insights",
            Kind::S3Storage => "s3_storage",
            Kind::CloudwatchLogs => "cloudwatch_logs",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::ManagementFree => "Management events, first copy (free)",
            Kind::ManagementPaid => "Management events, further copies",
            Kind::Data => "Data events",
            Kind::Network => "Network activity events",
            Kind::Insights => "Insights (events analysed)",
            Kind::S3Storage => "S3 storage of the logs (outside CloudTrail)",
            Kind::CloudwatchLogs => "CloudWatch Logs ingestion (outside CloudTrail)",
        }
    }

    /// The Cost Explorer usage type the charge appears under (after the Region code).
    pub fn usage_type(self) -> &'static str {
        match self {
            Kind::ManagementFree => "FreeEventsRecorded",
            Kind::ManagementPaid => "PaidEventsRecorded",
            Kind::Data => "DataEventsRecorded",
            Kind::Network => "NetworkEventsRecorded",
            Kind::Insights => "InsightsEvents / DataInsightsEvents",
            Kind::S3Storage => "TimedStorage-ByteHrs (Amazon S3)",
            Kind::CloudwatchLogs => "DataProcessing-Bytes (CloudWatch)",
        }
    }

    /// Whether CloudTrail itself bills it.
    pub fn cloudtrail(self) -> bool {
        !matches!(self, Kind::S3Storage | Kind::CloudwatchLogs)
    }
}

/// What one origin delivered for one account, Region, kind and read/write (a row of the
/// delivery counts), with the trail it was attributed to (`None`: no trail delivered it,
/// as with LookupEvents and imported files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub account: String,
    pub region: String,
    pub trail: Option<String>,
    /// `Management`, `Data`, `NetworkActivity`, `Insight`, ... or `file` (bytes of the
    /// delivery files).
    pub category: String,
    /// 1 read-only, 0 write, -1 not said.
    pub read_only: i64,
    /// For data events: `AWS::S3::Object`, `AWS::Lambda::Function`, ...
    pub resource_type: Option<String>,
    pub events: u64,
    /// Bytes of the records as delivered (for `file`: of the compressed files).
    pub bytes: u64,
}

/// What of a trail's settings changes its bill.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Billing {
    pub trail: String,
    /// `(Insights type, event categories)`; no category means management events.
    pub insights: Vec<(String, Vec<String>)>,
    pub cloudwatch: bool,
}

/// One priced line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub account: String,
    pub region: String,
    pub trail: Option<String>,
    pub kind: Kind,
    pub resource_type: Option<String>,
    /// For Insights: the type and what it analyses.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
    /// Events recorded or analysed; for storage and CloudWatch Logs, the bytes.
    pub events: u64,
    pub usd: f64,
}

fn per_100k(events: u64, price: f64) -> f64 {
    events as f64 * price / 100_000.0
}

const GB: f64 = 1_073_741_824.0;

/// The trail that gets the free copy of management events in each account and Region:
/// the one that delivered the most (ties: the smaller ARN). The bill does not say which
/// copy is the first; this choice makes "what would removing this trail save" read
/// true. Events no trail delivered never take it.
pub fn free_copies(delivered: &[Delivered]) -> BTreeMap<(String, String), String> {
    let mut sums: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for d in delivered.iter().filter(|d| d.category == "Management") {
        if let Some(t) = &d.trail {
            *sums
                .entry((d.account.clone(), d.region.clone(), t.clone()))
                .or_default() += d.events;
        }
    }
    let mut best: BTreeMap<(String, String), (u64, String)> = BTreeMap::new();
    for ((account, region, trail), n) in sums {
        let e = best.entry((account, region)).or_insert((n, trail.clone()));
        if n > e.0 {
            *e = (n, trail);
        }
    }
    best.into_iter().map(|(k, (_, t))| (k, t)).collect()
}

/// Prices what was delivered, in lines merged by account, Region, trail, kind and type.
/// Management events no trail delivered are priced as a first copy would be (free) when
/// no trail delivered any there, else as a further copy.
pub fn price(delivered: &[Delivered], billing: &[Billing], prices: &Prices) -> Vec<Line> {
    let table = PriceTable {
        all: *prices,
        ..PriceTable::default()
    };
    price_with(delivered, &free_copies(delivered), billing, &table)
}

/// [`price`] with the free copies chosen beforehand (over a whole month, so that each
/// day of it is priced alike).
pub fn price_with(
    delivered: &[Delivered],
    free: &BTreeMap<(String, String), String>,
    billing: &[Billing],
    table: &PriceTable,
) -> Vec<Line> {
    type Key = (String, String, Option<String>, Kind, Option<String>, Option<String>);
    let mut lines: BTreeMap<Key, (u64, f64)> = BTreeMap::new();
    let mut add = |d: &Delivered, kind: Kind, rt: Option<String>, detail: Option<String>, n: u64, usd: f64| {
        let e = lines
            .entry((d.account.clone(), d.region.clone(), d.trail.clone(), kind, rt, detail))
            .or_default();
        e.0 += n;
        e.1 += usd;
    };
    for d in delivered {
        let prices = table.of(&d.region);
        let bill = d
            .trail
            .as_ref()
            .and_then(|t| billing.iter().find(|b| &b.trail == t));
        match d.category.as_str() {
            "Management" => {
                let first = free.get(&(d.account.clone(), d.region.clone()));
                let is_free = match (&d.trail, first) {
                    (Some(t), Some(f)) => t == f,
                    (None, None) => true,
                    _ => false,
                };
                if is_free {
                    add(d, Kind::ManagementFree, None, None, d.events, 0.0);
                } else {
                    add(d, Kind::ManagementPaid, None, None, d.events, per_100k(d.events, prices.management_copy));
                }
            }
            "Data" => add(d, Kind::Data, d.resource_type.clone(), None, d.events, per_100k(d.events, prices.data)),
            "NetworkActivity" => add(d, Kind::Network, None, None, d.events, per_100k(d.events, prices.network)),
            // Files no trail delivered (imports, LookupEvents pages) are in no trail bucket.
            "file" if d.trail.is_none() => continue,
            "file" => {
                add(d, Kind::S3Storage, None, None, d.bytes, d.bytes as f64 / GB * prices.s3_gb_month);
                continue;
            }
            _ => continue,
        }
        let Some(bill) = bill else { continue };
        if bill.cloudwatch {
            add(d, Kind::CloudwatchLogs, None, None, d.bytes, d.bytes as f64 / GB * prices.cloudwatch_gb);
        }
        for (insight, categories) in &bill.insights {
            let on_data = categories.iter().any(|c| c == "Data");
            let on_management = categories.is_empty() || categories.iter().any(|c| c == "Management");
            let (price, what) = match d.category.as_str() {
                "Management" if on_management => (prices.insights_management, "management"),
                "Data" if on_data => (prices.insights_data, "data"),
                _ => continue,
            };
            // The call-rate type analyses write management events; the error-rate type
            // every call. On data events each type analyses every event.
            if what == "management" && insight == "ApiCallRateInsight" && d.read_only == 1 {
                continue;
            }
            add(
                d,
                Kind::Insights,
                None,
                Some(format!("{insight} on {what} events")),
                d.events,
                per_100k(d.events, price),
            );
        }
    }
    lines
        .into_iter()
        .map(|((account, region, trail, kind, resource_type, detail), (events, usd))| Line {
            account,
            region,
            trail,
            kind,
            resource_type,
            detail,
            events,
            usd,
        })
        .collect()
}

/// One day's CloudTrail charges by kind, for the stacked chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayCost {
    pub day_ms: i64,
    /// `(kind, usd)` for the CloudTrail kinds with a charge that day.
    pub usd: Vec<(Kind, f64)>,
}

/// A month's estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `YYYY-MM`.
    pub month: String,
    pub currency: String,
    /// CloudTrail's charges for what the trails delivered (the first five kinds; events
    /// no trail delivered are left out: see `untrailed_usd`).
    pub total_usd: f64,
    /// For the month under way: the total at the rate seen so far, to the month's end.
    pub projected_usd: Option<f64>,
    /// Events no trail delivered (LookupEvents, imports), as if a trail had recorded them.
    pub untrailed_usd: f64,
    /// S3 storage and CloudWatch Logs ingestion (outside the CloudTrail bill).
    pub outside_usd: f64,
    pub lines: Vec<Line>,
    pub days: Vec<DayCost>,
    /// Months with deliveries, newest first.
    pub months: Vec<String>,
    /// Trail ARN → name, for the lines' labels.
    pub trail_names: Vec<(String, String)>,
    pub prices: PriceTable,
    /// The share of the month gone (1 for a past month).
    pub elapsed: f64,
    /// What AWS billed, where a source's role may ask Cost Explorer.
    pub billed: Billed,
    /// The principals, event names and resources behind the charges, biggest first.
    pub drivers: Vec<Driver>,
}

/// A principal, event name or resource behind the charges: the events of one kind it
/// caused where they were charged, and their share of that kind's charge there (each
/// stored event priced at the kind's charge per stored event in its account and Region,
/// so copies and the free first copy are shared in proportion). Insights are not split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Driver {
    /// `principal`, `event` or `resource`: the timeline's filter key.
    pub field: crate::query::Field,
    /// `Management`, `Data` or `NetworkActivity`.
    pub category: String,
    /// Some of its events name no `eventCategory`, so the timeline link does not filter
    /// on one.
    pub inferred: bool,
    /// What the timeline filters on (principal key, event name, resource ARN).
    pub value: String,
    pub label: String,
    pub events: u64,
    pub usd: f64,
}

impl Driver {
    /// The timeline of the month, filtered to this driver (and its kind of events).
    pub fn href(&self, month: &str) -> String {
        use crate::query::{EventQuery, Field, TimeRange};
        let mut q = EventQuery::default();
        if let Some((from, to)) = month_days(month) {
            q = q.with_range(TimeRange::Absolute {
                from_ms: from * DAY_MS,
                to_ms: to * DAY_MS,
            });
        }
        q = q.with_filter(self.field, &self.value, false);
        if !self.inferred {
            q = q.with_filter(Field::Category, &self.category, false);
        }
        q.href("/")
    }
}

/// Dollars per stored event for each kind, account and Region with a charge: the
/// CloudTrail charge of the trails' lines (every copy, the free one at nothing) over the
/// events stored there. `places`: `(kind, account id, Region id, account, Region,
/// stored events)`. Insights lines are left out: they price analysis, not events.
pub fn rates(lines: &[Line], places: &[(u8, i64, i64, String, String, u64)]) -> Vec<(i64, i64, i64, f64)> {
    use crate::schema::billed;
    let kind_of = |k: Kind| match k {
        Kind::ManagementFree | Kind::ManagementPaid => Some(billed::MANAGEMENT),
        Kind::Data => Some(billed::DATA),
        Kind::Network => Some(billed::NETWORK),
        _ => None,
    };
    let mut charged: BTreeMap<(u8, &str, &str), f64> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.trail.is_some()) {
        if let Some(k) = kind_of(l.kind) {
            *charged.entry((k, &l.account, &l.region)).or_default() += l.usd;
        }
    }
    places
        .iter()
        .filter_map(|(k, account_id, region_id, account, region, events)| {
            let usd = charged.get(&(*k, account.as_str(), region.as_str())).copied()?;
            (usd > 0.0 && *events > 0).then(|| (i64::from(*k), *account_id, *region_id, usd / *events as f64))
        })
        .collect()
}

/// What Cost Explorer says AWS billed for CloudTrail in the month, beside the estimate.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Billed {
    /// Sources whose Cost Explorer answered.
    pub sources: Vec<String>,
    /// `(usage type, usd)`, summed over those sources.
    pub usage: Vec<(String, f64)>,
    /// `(kind, estimate, billed)` for each CloudTrail kind either has.
    pub by_kind: Vec<(Kind, f64, f64)>,
    /// Sources whose Cost Explorer refused, and why.
    pub refused: Vec<(String, String)>,
}

/// The kind a Cost Explorer usage type (`USE1-PaidEventsRecorded`) bills.
pub fn usage_kind(usage_type: &str) -> Option<Kind> {
    match usage_type.rsplit('-').next().unwrap_or(usage_type) {
        "FreeEventsRecorded" => Some(Kind::ManagementFree),
        "PaidEventsRecorded" => Some(Kind::ManagementPaid),
        "DataEventsRecorded" => Some(Kind::Data),
        "NetworkEventsRecorded" => Some(Kind::Network),
        "InsightsEvents" | "DataInsightsEvents" => Some(Kind::Insights),
        _ => None,
    }
}

/// Sets the billed figures beside the estimate's lines.
pub fn compare(
    lines: &[Line],
    billed_rows: &[(String, String, f64)],
    checks: &[(String, i64, Option<String>)],
) -> Billed {
    let mut b = Billed::default();
    for (source, usage, usd) in billed_rows {
        if !b.sources.contains(source) {
            b.sources.push(source.clone());
        }
        match b.usage.iter_mut().find(|(u, _)| u == usage) {
            Some(e) => e.1 += usd,
            None => b.usage.push((usage.clone(), *usd)),
        }
    }
    for k in Kind::ALL.into_iter().filter(|k| k.cloudtrail()) {
        let estimate: f64 = lines
            .iter()
            .filter(|l| l.kind == k && l.trail.is_some())
            .map(|l| l.usd)
            .sum();
        let billed: f64 = b
            .usage
            .iter()
            .filter(|(u, _)| usage_kind(u) == Some(k))
            .map(|(_, v)| v)
            .sum();
        if estimate > 0.0 || billed > 0.0 {
            b.by_kind.push((k, estimate, billed));
        }
    }
    b.refused = checks
        .iter()
        .filter_map(|(s, _, e)| e.clone().map(|e| (s.clone(), e)))
        .collect();
    b
}

impl Report {
    /// The CloudTrail charges of one trail.
    pub fn trail_usd(&self, arn: &str) -> f64 {
        self.lines
            .iter()
            .filter(|l| l.kind.cloudtrail() && l.trail.as_deref() == Some(arn))
            .map(|l| l.usd)
            .sum()
    }

    /// The name of a line's trail, as people know it.
    pub fn trail_label(&self, trail: Option<&str>) -> String {
        trail_label(&self.trail_names, trail)
    }
}

/// The name of a line's trail among `names` (ARN → name); its ARN or location when the
/// inventory does not know it.
pub fn trail_label(names: &[(String, String)], trail: Option<&str>) -> String {
    match trail {
        None => "no trail (LookupEvents, imports)".into(),
        Some(t) => names
            .iter()
            .find(|(a, _)| a == t)
            .map_or_else(|| t.to_owned(), |(_, n)| n.clone()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("not a month (YYYY-MM): {0}")]
    Month(String),
    #[cfg(feature = "ssr")]
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

const DAY_MS: i64 = 86_400_000;

/// The first day of `month` (`YYYY-MM`) and of the month after, as day numbers.
pub fn month_days(month: &str) -> Option<(i64, i64)> {
    let first = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
    let next = first.checked_add_months(chrono::Months::new(1))?;
    let day = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis().div_euclid(DAY_MS))
    };
    Some((day(first)?, day(next)?))
}

/// The month `now_ms` falls in.
pub fn month_of(now_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(now_ms)
        .map(|t| t.format("%Y-%m").to_string())
        .unwrap_or_default()
}

/// What of a trail's settings the bill depends on, from its inventory.
pub fn billing_of(t: &crate::trails::Trail) -> Billing {
    let c: serde_json::Value = serde_json::from_str(&t.config_json).unwrap_or_default();
    let insights = crate::trail_change::insights_of(&c);
    Billing {
        trail: t.arn.clone(),
        insights,
        cloudwatch: t.cloudwatch_log_group.is_some(),
    }
}

/// The trail each `(origin, prefix)` of the delivery counts belongs to: the trail whose
/// bucket and key prefix they came from; for a bucket no known trail writes to, its
/// location (`s3://bucket/prefix`), still billed; `None` when no trail delivered them.
pub fn attribute(
    trails: &[crate::trails::Trail],
    origin: &str,
    prefix: &str,
) -> Option<String> {
    if let Some(t) = trails.iter().find(|t| {
        !t.gone && t.delivers_to().is_some_and(|(o, p)| o == origin && p == prefix)
    }) {
        return Some(t.arn.clone());
    }
    if let Some(t) = trails
        .iter()
        .find(|t| t.delivers_to().is_some_and(|(o, p)| o == origin && p == prefix))
    {
        return Some(t.arn.clone());
    }
    origin.starts_with("s3://").then(|| {
        if prefix.is_empty() {
            origin.to_owned()
        } else {
            format!("{origin}/{prefix}")
        }
    })
}

/// The rows as priced: one [`Delivered`] per row, with its day.
#[cfg(feature = "ssr")]
pub fn delivered_of(
    trails: &[crate::trails::Trail],
    rows: &[crate::db::deliveries::DayRow],
) -> Vec<(i64, Delivered)> {
    let mut seen: BTreeMap<(String, String), Option<String>> = BTreeMap::new();
    rows.iter()
        .map(|r| {
            let trail = seen
                .entry((r.origin.clone(), r.prefix.clone()))
                .or_insert_with(|| attribute(trails, &r.origin, &r.prefix))
                .clone();
            (
                r.day,
                Delivered {
                    account: r.account.clone(),
                    region: r.region.clone(),
                    trail,
                    category: r.kind.clone(),
                    read_only: r.read_only,
                    resource_type: (!r.resource_type.is_empty()).then(|| r.resource_type.clone()),
                    events: r.events.max(0) as u64,
                    bytes: r.bytes.max(0) as u64,
                },
            )
        })
        .collect()
}

/// The prices in force: the list with every change admins made.
#[cfg(feature = "ssr")]
pub async fn prices(pool: &sqlx::SqlitePool) -> Result<PriceTable, sqlx::Error> {
    Ok(PriceTable::from_rows(&crate::db::prices::all(pool).await?))
}

/// The estimate of `month` (`None`: the month of `now_ms`) with the trails the inventory
/// knows and the prices in force: what the costs page and `cairn costs` show.
#[cfg(feature = "ssr")]
pub async fn month_report(
    pool: &sqlx::SqlitePool,
    month: Option<&str>,
    now_ms: i64,
) -> Result<Report, ReportError> {
    let trails = crate::trails::fold(crate::db::trails::latest_everywhere(pool).await?);
    let prices = prices(pool).await?;
    report(pool, &trails, month, now_ms, &prices).await
}

/// The estimate of `month` (`None`: the month of `now_ms`).
#[cfg(feature = "ssr")]
pub async fn report(
    pool: &sqlx::SqlitePool,
    trails: &[crate::trails::Trail],
    month: Option<&str>,
    now_ms: i64,
    prices: &PriceTable,
) -> Result<Report, ReportError> {
    let month = month
        .filter(|m| !m.is_empty())
        .map_or_else(|| month_of(now_ms), str::to_owned);
    let (from, to) = month_days(&month).ok_or_else(|| ReportError::Month(crate::fmt::clip(&month, 20)))?;
    let rows = crate::db::deliveries::days(pool, from, to).await?;
    let dated = delivered_of(trails, &rows);
    let all: Vec<Delivered> = dated.iter().map(|(_, d)| d.clone()).collect();
    let free = free_copies(&all);
    let billing: Vec<Billing> = trails.iter().map(billing_of).collect();
    let lines = price_with(&all, &free, &billing, prices);
    let mut by_day: BTreeMap<i64, Vec<Delivered>> = BTreeMap::new();
    for (day, d) in dated {
        if d.trail.is_some() {
            by_day.entry(day).or_default().push(d);
        }
    }
    let days = by_day
        .into_iter()
        .map(|(day, ds)| {
            let mut usd: BTreeMap<Kind, f64> = BTreeMap::new();
            for l in price_with(&ds, &free, &billing, prices) {
                if l.kind.cloudtrail() && l.usd > 0.0 {
                    *usd.entry(l.kind).or_default() += l.usd;
                }
            }
            DayCost {
                day_ms: day * DAY_MS,
                usd: usd.into_iter().collect(),
            }
        })
        .collect();
    // `+ 0.0`: an empty sum of floats is -0.0, which would print as "$-0.00".
    let sum = |f: &dyn Fn(&Line) -> bool| lines.iter().filter(|l| f(l)).map(|l| l.usd).sum::<f64>() + 0.0;
    let total_usd = sum(&|l| l.kind.cloudtrail() && l.trail.is_some());
    let untrailed_usd = sum(&|l| l.kind.cloudtrail() && l.trail.is_none());
    let outside_usd = sum(&|l| !l.kind.cloudtrail());
    let (start_ms, end_ms) = (from * DAY_MS, to * DAY_MS);
    let elapsed = ((now_ms - start_ms) as f64 / (end_ms - start_ms) as f64).clamp(0.0, 1.0);
    let projected_usd = (elapsed > 0.0 && elapsed < 1.0).then(|| total_usd / elapsed);
    let billed = compare(
        &lines,
        &crate::db::billed::of_month(pool, &month).await?,
        &crate::db::billed::checks(pool).await?,
    );
    let drivers = drivers(pool, from, &lines).await?;
    let mut months = crate::db::deliveries::months(pool).await?;
    let current = month_of(now_ms);
    if !months.contains(&current) {
        months.insert(0, current);
    }
    Ok(Report {
        month,
        currency: "USD".into(),
        total_usd,
        projected_usd,
        untrailed_usd,
        outside_usd,
        lines,
        days,
        months,
        trail_names: trails.iter().map(|t| (t.arn.clone(), t.name.clone())).collect(),
        prices: prices.clone(),
        elapsed,
        billed,
        drivers,
    })
}

/// How many drivers of each dimension the page and `cairn costs` show.
pub const DRIVERS_SHOWN: i64 = 10;

/// The month's top drivers (the month starting on day `month`), priced from its lines.
#[cfg(feature = "ssr")]
async fn drivers(pool: &sqlx::SqlitePool, month: i64, lines: &[Line]) -> Result<Vec<Driver>, sqlx::Error> {
    use crate::schema::billed;
    let places: Vec<_> = crate::db::drivers::places(pool, month)
        .await?
        .into_iter()
        .map(|p| (p.kind as u8, p.account_id, p.region_id, p.account, p.region, p.events.max(0) as u64))
        .collect();
    let rates = rates(lines, &places);
    if rates.is_empty() {
        return Ok(Vec::new());
    }
    Ok(crate::db::drivers::top(pool, month, &rates, DRIVERS_SHOWN)
        .await?
        .into_iter()
        .map(|r| Driver {
            field: r.dim.field(),
            category: billed::category(r.kind).to_owned(),
            inferred: r.inferred,
            value: r.value,
            label: r.label,
            events: r.events.max(0) as u64,
            usd: r.usd,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(trail: &str, category: &str, events: u64) -> Delivered {
        Delivered {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            trail: Some(trail.into()),
            category: category.into(),
            read_only: 1,
            resource_type: (category == "Data").then(|| "AWS::S3::Object".into()),
            events,
            bytes: 0,
        }
    }

    fn total(lines: &[Line]) -> f64 {
        lines.iter().map(|l| l.usd).sum()
    }

    #[test]
    fn each_stored_event_carries_its_share_of_the_charge_where_it_was_charged() {
        let line = |kind: Kind, region: &str, trail: Option<&str>, usd: f64| Line {
            account: "111122223333".into(),
            region: region.into(),
            trail: trail.map(str::to_owned),
            kind,
            resource_type: None,
            detail: None,
            events: 0,
            usd,
        };
        let lines = [
            line(Kind::ManagementFree, "us-east-1", Some("a"), 0.0),
            line(Kind::ManagementPaid, "us-east-1", Some("b"), 0.004),
            line(Kind::ManagementFree, "eu-west-1", Some("a"), 0.0),
            line(Kind::Data, "us-east-1", Some("a"), 0.00005),
            line(Kind::Insights, "us-east-1", Some("a"), 0.00035),
            // Events no trail delivered are priced apart and share nothing here.
            line(Kind::Data, "ap-south-1", None, 1.0),
        ];
        let place = |k: u8, r: i64, region: &str, n: u64| (k, 7, r, "111122223333".to_owned(), region.to_owned(), n);
        use crate::schema::billed::{DATA, MANAGEMENT};
        let r = rates(
            &lines,
            &[
                place(MANAGEMENT, 1, "us-east-1", 300),
                place(MANAGEMENT, 2, "eu-west-1", 40),
                place(DATA, 1, "us-east-1", 50),
                place(DATA, 3, "ap-south-1", 5),
            ],
        );
        assert_eq!(r.len(), 2, "{r:?}");
        assert!((r[0].3 - 0.004 / 300.0).abs() < 1e-15 && r[0].0 == 0 && r[0].2 == 1);
        assert!((r[1].3 - 0.00005 / 50.0).abs() < 1e-15 && r[1].0 == 1);
    }

    #[test]
    fn a_driver_links_to_its_month_of_the_timeline() {
        let d = Driver {
            field: crate::query::Field::Principal,
            category: "Data".into(),
            inferred: false,
            value: "arn:aws:iam::1:user/a&b".into(),
            label: "a&b".into(),
            events: 1,
            usd: 0.1,
        };
        let href = d.href("2026-12");
        assert!(href.starts_with("/?"), "{href}");
        assert!(href.contains("principal=arn:aws:iam::1:user/a%26b"), "{href}");
        assert!(href.contains("category=Data"), "{href}");
        assert!(href.contains("from=2026-12-01"), "{href}");
        let old = Driver { inferred: true, ..d };
        assert!(!old.href("2026-12").contains("category="), "no category to filter on");
    }

    #[test]
    fn the_documented_example_costs_five_dollars() {
        // Two trails each delivering 150,000 management events, and 2,000,000 data
        // events: $3 for the second copy of management events, $2 for the data events.
        let lines = price(
            &[
                d(
                    "arn:aws:cloudtrail:us-east-1:111122223333:trail/a",
                    "Management",
                    150_000,
                ),
                d(
                    "arn:aws:cloudtrail:us-east-1:111122223333:trail/b",
                    "Management",
                    150_000,
                ),
                d(
                    "arn:aws:cloudtrail:us-east-1:111122223333:trail/b",
                    "Data",
                    2_000_000,
                ),
            ],
            &[],
            &Prices::default(),
        );
        assert!((total(&lines) - 5.0).abs() < 1e-9, "{lines:?}");
        assert_eq!(lines[0].kind, Kind::ManagementFree);
        assert_eq!(lines[1].kind, Kind::ManagementPaid);
        assert!((lines[1].usd - 3.0).abs() < 1e-9);
    }

    #[test]
    fn the_free_copy_is_per_account_and_region_and_goes_to_the_biggest() {
        let mut other = d(
            "arn:aws:cloudtrail:eu-west-1:111122223333:trail/a",
            "Management",
            10,
        );
        other.region = "eu-west-1".into();
        let lines = price(
            &[
                d("t/small", "Management", 100),
                d("t/big", "Management", 1_000),
                other,
                d("t/big", "NetworkActivity", 200_000),
                d("t/big", "Insight", 5),
            ],
            &[],
            &Prices::default(),
        );
        let kinds: Vec<(Kind, u64)> = lines.iter().map(|l| (l.kind, l.events)).collect();
        assert_eq!(
            kinds,
            [
                (Kind::ManagementFree, 10),
                (Kind::ManagementFree, 1_000),
                (Kind::Network, 200_000),
                (Kind::ManagementPaid, 100),
            ]
        );
        assert!((total(&lines) - (0.002 + 0.2)).abs() < 1e-9);
    }

    #[test]
    fn insights_analyse_per_type_and_logs_cost_by_the_gigabyte() {
        let mut write = d("t/a", "Management", 100_000);
        write.read_only = 0;
        write.bytes = 1 << 30;
        let read = d("t/a", "Management", 300_000);
        let data = d("t/a", "Data", 1_000_000);
        let mut file = d("t/a", "file", 1);
        file.bytes = 2 << 30;
        // No trail: LookupEvents, priced as a first copy where no trail records any.
        let mut lookup = d("t/a", "Management", 50);
        lookup.trail = None;
        lookup.region = "ap-south-1".into();
        let billing = [Billing {
            trail: "t/a".into(),
            insights: vec![
                ("ApiCallRateInsight".into(), vec![]),
                ("ApiErrorRateInsight".into(), vec!["Management".into(), "Data".into()]),
            ],
            cloudwatch: true,
        }];
        let lines = price(&[write, read, data, file, lookup], &billing, &Prices::default());
        let of = |k: Kind| -> f64 { lines.iter().filter(|l| l.kind == k).map(|l| l.usd).sum() };
        // Call rate: 100k writes; error rate: 400k management events and 1M data events.
        assert!((of(Kind::Insights) - (0.35 + 4.0 * 0.35 + 10.0 * 0.03)).abs() < 1e-9, "{lines:?}");
        assert!((of(Kind::CloudwatchLogs) - 0.5).abs() < 1e-9);
        assert!((of(Kind::S3Storage) - 0.046).abs() < 1e-9);
        assert!((of(Kind::Data) - 1.0).abs() < 1e-9);
        assert_eq!(of(Kind::ManagementPaid), 0.0);
        let free: Vec<(Option<&str>, u64)> = lines
            .iter()
            .filter(|l| l.kind == Kind::ManagementFree)
            .map(|l| (l.trail.as_deref(), l.events))
            .collect();
        assert_eq!(free, [(None, 50), (Some("t/a"), 400_000)]);
    }
}
