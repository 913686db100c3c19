//! `/exfiltration?range=7d&by=principal`: who read how much out of S3, from which buckets
//! and addresses, against each one's busiest day before, with the anomaly findings of
//! the range. Ranges end at the last S3 read held, so an imported incident shows too.

use crate::components::error_panel::ErrorPanel;
use crate::components::events_table::MidClip;
use crate::detections::Finding;
use crate::fmt;
use crate::pages::findings::SeverityBadge;
use crate::query::{EventQuery, Field, TimeRange};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

const HOUR_MS: i64 = 3_600_000;
/// Rows per view.
pub const ROWS: i64 = 50;

/// What the rows are (`by=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum By {
    Principal,
    Bucket,
    Ip,
}

impl By {
    pub const ALL: [By; 3] = [By::Principal, By::Bucket, By::Ip];
    pub fn parse(s: &str) -> By {
        match s {
            "bucket" => By::Bucket,
            "ip" => By::Ip,
            _ => By::Principal,
        }
    }
    pub fn key(self) -> &'static str {
        match self {
            By::Principal => "principal",
            By::Bucket => "bucket",
            By::Ip => "ip",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            By::Principal => "Principals",
            By::Bucket => "Buckets",
            By::Ip => "Source addresses",
        }
    }
}

/// The ranges offered (`range=`): hours back from the last read held.
pub const RANGES: [(&str, &str, i64); 4] =
    [("24h", "24 hours", 24), ("7d", "7 days", 168), ("30d", "30 days", 720), ("90d", "90 days", 2160)];

/// One slot of a chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub start_ms: i64,
    pub objects: i64,
    pub bytes: i64,
}

/// A principal, bucket or address with what was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExfilRow {
    pub id: i64,
    /// The principal's key, the bucket's ARN, the address.
    pub key: String,
    pub label: String,
    /// The principal's or bucket's account, when known.
    pub account: Option<String>,
    pub objects: i64,
    pub bytes: i64,
    pub lists: i64,
    pub presigned: i64,
    pub principals: i64,
    pub buckets: i64,
    pub ips: i64,
    /// The busiest day in the 14 days before the range.
    pub baseline_day_objects: i64,
    pub baseline_day_bytes: i64,
    /// The busiest day in the range.
    pub peak_day_objects: i64,
    pub peak_day_bytes: i64,
    pub slots: Vec<Slot>,
}

impl ExfilRow {
    /// Its busiest day is more than 4 times its busiest day before, and a bulk read.
    pub fn over_baseline(&self) -> bool {
        use crate::schema::exfil::{FACTOR, FLOOR_BYTES, FLOOR_OBJECTS};
        (self.peak_day_objects >= FLOOR_OBJECTS && self.peak_day_objects > FACTOR * self.baseline_day_objects)
            || (self.peak_day_bytes >= FLOOR_BYTES && self.peak_day_bytes > FACTOR * self.baseline_day_bytes)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExfilView {
    pub by: By,
    pub range: String,
    /// `None`: no S3 reads held.
    pub from_ms: Option<i64>,
    pub to_ms: i64,
    pub slot_ms: i64,
    pub totals: Vec<Slot>,
    pub rows: Vec<ExfilRow>,
    pub findings: Vec<Finding>,
}

#[cfg(feature = "ssr")]
pub async fn exfil_view(pool: &sqlx::SqlitePool, range: &str, by: By) -> Result<ExfilView, sqlx::Error> {
    use crate::db::exfiltration as x;
    let (key, hours) = RANGES.iter().find(|r| r.0 == range).map(|r| (r.0, r.2)).unwrap_or(("7d", 168));
    let empty = ExfilView {
        by,
        range: key.into(),
        from_ms: None,
        to_ms: 0,
        slot_ms: HOUR_MS,
        totals: vec![],
        rows: vec![],
        findings: vec![],
    };
    let Some((_, last)) = x::span(pool).await? else { return Ok(empty) };
    let to_hour = last + 1;
    let from_hour = to_hour - hours;
    let slot_hours = if hours <= 48 { 1 } else { 24 };
    // Day slots line up with UTC days.
    let from_hour = if slot_hours == 24 { from_hour - from_hour.rem_euclid(24) } else { from_hour };
    let (totals, rows) = x::view(pool, by, from_hour, to_hour, slot_hours, ROWS).await?;
    let filter = crate::db::findings::FindingFilter {
        from_ms: Some(from_hour * HOUR_MS),
        to_ms: Some(to_hour * HOUR_MS),
        // The exfiltration and sharing rules, not the Insights episodes.
        rules: crate::detect::builtin::anomaly_rules()
            .into_iter()
            .map(|r| r.id)
            .filter(|id| !crate::insights::RULES.contains(&id.as_str()))
            .collect(),
        limit: 50,
        ..Default::default()
    };
    let findings = crate::db::findings::list(pool, &filter).await?;
    Ok(ExfilView {
        by,
        range: key.into(),
        from_ms: Some(from_hour * HOUR_MS),
        to_ms: to_hour * HOUR_MS,
        slot_ms: slot_hours * HOUR_MS,
        totals,
        rows,
        findings,
    })
}

#[server]
pub async fn get_exfiltration(range: String, by: String) -> Result<ExfilView, ServerFnError> {
    crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = crate::db::pool()?;
    exfil_view(&pool, &range, By::parse(&by))
        .await
        .map_err(|e| crate::error::WebError::internal("cannot read the S3 reads", e).into())
}

#[component]
pub fn ExfiltrationPage() -> impl IntoView {
    let q = use_query_map();
    let params = Memo::new(move |_| {
        let m = q.read();
        (m.get("range").unwrap_or_default(), m.get("by").unwrap_or_default())
    });
    let data = Resource::new(move || params.get(), |(range, by)| get_exfiltration(range, by));
    view! {
        <Title text="Exfiltration"/>
        <h1 class="page__title">"Exfiltration"</h1>
        <Transition fallback=|| view! { <p class="loading">"Loading S3 reads…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => view! { <ExfilBody v=v/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn href(range: &str, by: By) -> String {
    format!("/exfiltration?range={range}&by={}", by.key())
}

#[component]
fn ExfilBody(v: ExfilView) -> impl IntoView {
    let range = v.range.clone();
    let by = v.by;
    let nav = view! {
        <nav class="time-range__presets" aria-label="Range">
            {RANGES.iter().map(|(k, label, _)| {
                let active = *k == range;
                view! {
                    <a class="chip" class:chip--active=active aria-current=active.then_some("page")
                        href=href(k, by) title=format!("The last {label} of S3 reads held")>{*k}</a>
                }
            }).collect_view()}
        </nav>
        <nav class="tabs" aria-label="Rows">
            {By::ALL.iter().map(|b| {
                let active = *b == by;
                view! {
                    <a class="chip" class:chip--active=active aria-current=active.then_some("page")
                        href=href(&range, *b)>{b.label()}</a>
                }
            }).collect_view()}
        </nav>
    };
    let Some(from_ms) = v.from_ms else {
        return view! {
            {nav}
            <p class="empty-state" data-testid="exfil-empty">
                "No S3 object reads are held. They come from a trail's S3 data events (GetObject and the other reads), delivered to its bucket and synced, or imported from files."
            </p>
        }
        .into_any();
    };
    let to_ms = v.to_ms;
    let total_objects: i64 = v.totals.iter().map(|s| s.objects).sum();
    let total_bytes: i64 = v.totals.iter().map(|s| s.bytes).sum();
    let over = v.rows.iter().filter(|r| r.over_baseline()).count();
    let caption = format!(
        "{} by bytes read, {} to {} UTC",
        by.label(),
        fmt::time(from_ms),
        fmt::time(to_ms)
    );
    let findings = v.findings.clone();
    let has_findings = !findings.is_empty();
    let slot_ms = v.slot_ms;
    let rows = v.rows.clone();
    view! {
        {nav}
        <div class="kpis">
            <div class="kpi"><span class="kpi__label">"Objects read"</span>
                <span class="kpi__value" data-testid="exfil-objects">{fmt::count(total_objects)}</span></div>
            <div class="kpi"><span class="kpi__label">"Bytes read"</span>
                <span class="kpi__value" data-testid="exfil-bytes">{fmt::bytes(total_bytes)}</span></div>
            <div class="kpi"><span class="kpi__label">{format!("{} above their busiest day before", by.label())}</span>
                <span class="kpi__value" data-testid="exfil-over">{over.to_string()}</span></div>
            <div class="kpi"><span class="kpi__label">"Anomaly findings"</span>
                <span class="kpi__value"><a href="/findings?rule=cairn-exfil-first-bulk-read&rule=cairn-exfil-over-baseline&rule=cairn-exfil-new-network&rule=cairn-exfil-presigned-burst">{findings.len().to_string()}</a></span></div>
        </div>
        <section class="card" aria-labelledby="exfil-chart">
            <h2 id="exfil-chart">{format!("Bytes read per {}", if slot_ms == HOUR_MS { "hour" } else { "day" })}</h2>
            <Bars slots=v.totals.clone() from_ms=from_ms to_ms=to_ms slot_ms=slot_ms label="All S3 reads".to_string() big=true/>
        </section>
        {has_findings.then(|| view! {
            <section class="card" aria-labelledby="exfil-findings">
                <h2 id="exfil-findings">"What fired"</h2>
                <ul class="finding-list" data-testid="exfil-findings">
                    {findings.into_iter().map(|f| view! {
                        <li class="finding">
                            <p class="finding__title"><SeverityBadge severity=f.severity/> " "
                                <a href=format!("/findings/{}", f.id)>{fmt::clip(&f.rule_title, 200)}</a>
                                <span class="muted">" · " {f.principal.clone().unwrap_or_else(|| f.group.clone())}
                                " · " <time datetime=fmt::iso(f.first_ms)>{fmt::time(f.first_ms)}</time></span></p>
                            {f.summary.clone().map(|s| view! { <p class="finding-detail">{s}</p> })}
                        </li>
                    }).collect_view()}
                </ul>
            </section>
        })}
        <div class="table-wrap">
            <table class="data-table" data-testid="exfil-table">
                <caption>{caption}</caption>
                <thead><tr>
                    <th scope="col">{match by { By::Principal => "Principal", By::Bucket => "Bucket", By::Ip => "Address" }}</th>
                    <th scope="col" class="num">"Objects"</th>
                    <th scope="col" class="num">"Bytes"</th>
                    <th scope="col" class="num narrow-hide">"Busiest day"</th>
                    <th scope="col" class="num narrow-hide">"Busiest day, 14 days before"</th>
                    <th scope="col" class="narrow-hide">{match by { By::Principal => "Buckets · addresses", By::Bucket => "Readers · addresses", By::Ip => "Readers · buckets" }}</th>
                    <th scope="col">"Over the range"</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|r| {
                        let flagged = r.over_baseline();
                        let timeline = timeline_href(by, &r.key, from_ms, to_ms);
                        let spread = match by {
                            By::Principal => format!("{} · {}", fmt::count(r.buckets), fmt::count(r.ips)),
                            By::Bucket => format!("{} · {}", fmt::count(r.principals), fmt::count(r.ips)),
                            By::Ip => format!("{} · {}", fmt::count(r.principals), fmt::count(r.buckets)),
                        };
                        let name = if r.label.is_empty() { r.key.clone() } else { r.label.clone() };
                        let label = format!("{name}: bytes read per {}", if slot_ms == HOUR_MS { "hour" } else { "day" });
                        view! {
                            <tr class:row--flagged=flagged>
                                <td class="cell-wrap">
                                    <MidClip text=name href=timeline/>
                                    {r.account.clone().map(|a| view! { <span class="muted">" · " {a}</span> })}
                                    {flagged.then(|| view! { <span class="badge badge--error" data-testid="exfil-flag">"above baseline"</span> })}
                                    {(r.presigned > 0).then(|| view! { <span class="muted">{format!(" · {} presigned", fmt::count(r.presigned))}</span> })}
                                </td>
                                <td class="num">{fmt::count(r.objects)}</td>
                                <td class="num">{fmt::bytes(r.bytes)}</td>
                                <td class="num narrow-hide">{format!("{} · {}", fmt::count(r.peak_day_objects), fmt::bytes(r.peak_day_bytes))}</td>
                                <td class="num narrow-hide">{format!("{} · {}", fmt::count(r.baseline_day_objects), fmt::bytes(r.baseline_day_bytes))}</td>
                                <td class="num narrow-hide">{spread}</td>
                                <td class="spark-cell"><Bars slots=r.slots.clone() from_ms=from_ms to_ms=to_ms slot_ms=slot_ms label=label big=false/></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <p class="muted">"Successful S3 object reads (GetObject, CopyObject, SelectObjectContent, UploadPartCopy, RestoreObject) and listings, from S3 data events. A session whose name a machine made up (an instance id, an SDK's random name) is counted as its role; a person's session as that person."</p>
    }
    .into_any()
}

/// The timeline of one row's reads over the range.
fn timeline_href(by: By, key: &str, from_ms: i64, to_ms: i64) -> String {
    let field = match by {
        By::Principal => Field::Principal,
        By::Bucket => Field::Resource,
        By::Ip => Field::SourceIp,
    };
    EventQuery::default()
        .with_range(TimeRange::Absolute { from_ms, to_ms })
        .with_filter(Field::Source, "s3.amazonaws.com", false)
        .with_filter(field, key, false)
        .with_filter(Field::Error, "*", true)
        .href("/")
}

/// Bytes per slot as bars (an SVG with a title per bar).
#[component]
fn Bars(slots: Vec<Slot>, from_ms: i64, to_ms: i64, slot_ms: i64, label: String, big: bool) -> impl IntoView {
    let n = ((to_ms - from_ms) / slot_ms.max(1)).max(1) as f64;
    let max = slots.iter().map(|s| s.bytes).max().unwrap_or(0).max(1) as f64;
    let (w, h) = if big { (720.0, 140.0) } else { (160.0, 28.0) };
    let slot_w = w / n;
    let bars = slots
        .into_iter()
        .filter(|s| s.bytes > 0 || s.objects > 0)
        .map(|s| {
            let i = ((s.start_ms - from_ms) / slot_ms.max(1)) as f64;
            let bh = ((s.bytes as f64 / max) * (h - 2.0)).max(1.0);
            let title = format!("{} UTC: {} objects, {}", fmt::time(s.start_ms), fmt::count(s.objects), fmt::bytes(s.bytes));
            view! {
                <rect class="exfil-bar" x=format!("{:.1}", i * slot_w) y=format!("{:.1}", h - bh)
                    width=format!("{:.1}", (slot_w - 0.5).max(0.5)) height=format!("{bh:.1}")>
                    <title>{title}</title>
                </rect>
            }
        })
        .collect_view();
    view! {
        <svg class=if big { "chart__svg exfil-chart" } else { "exfil-spark" } viewBox=format!("0 0 {w} {h}")
            preserveAspectRatio="none" role="img" aria-label=label>
            {bars}
        </svg>
    }
}
