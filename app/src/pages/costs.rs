//! `/costs?month=YYYY-MM`: what the trails cost, estimated from what each delivered, by
//! day, trail, account, Region and kind, with the prices used.

use crate::components::error_panel::ErrorPanel;
use crate::components::events_table::MidClip;
use crate::costs::{Kind, Report};
use crate::fmt;
use crate::pages::trails::trail_href;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The page's data: the estimate, and whether the reader may change the prices.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CostsView {
    pub report: Report,
    pub can_edit: bool,
}

/// The estimate of `month` (empty: this month).
#[server]
pub async fn get_costs(month: String) -> Result<CostsView, ServerFnError> {
    use crate::costs::ReportError;
    let user = crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = crate::db::pool()?;
    let now = chrono::Utc::now().timestamp_millis();
    match crate::costs::month_report(&pool, Some(&month), now).await {
        Ok(report) => Ok(CostsView {
            report,
            can_edit: user.can(crate::auth::Role::Admin),
        }),
        Err(ReportError::Month(m)) => {
            Err(crate::error::WebError::BadRequest(format!("not a month (YYYY-MM): {m}")).into())
        }
        Err(e) => Err(crate::error::WebError::internal("cannot estimate the costs", e).into()),
    }
}

use crate::fmt::usd;

#[component]
pub fn CostsPage() -> impl IntoView {
    let q = use_query_map();
    let month = Memo::new(move |_| q.read().get("month").unwrap_or_default());
    let data = Resource::new(move || month.get(), get_costs);
    view! {
        <Title text="Costs"/>
        <h1 class="page__title">"Costs"</h1>
        <Transition fallback=|| view! { <p class="loading">"Loading costs…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => view! { <CostsBody r=v.report can_edit=v.can_edit/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn CostsBody(r: Report, can_edit: bool) -> impl IntoView {
    let month = r.month.clone();
    let months = r.months.clone();
    let projected = r.projected_usd;
    let trailed: Vec<_> = r.lines.iter().filter(|l| l.trail.is_some()).cloned().collect();
    let untrailed: Vec<_> = r.lines.iter().filter(|l| l.trail.is_none()).cloned().collect();
    // Per trail, CloudTrail charges, biggest first.
    let mut per_trail: Vec<(String, String, f64)> = Vec::new();
    for l in trailed.iter().filter(|l| l.kind.cloudtrail()) {
        let t = l.trail.clone().unwrap_or_default();
        match per_trail.iter_mut().find(|(a, _, _)| *a == t) {
            Some(e) => e.2 += l.usd,
            None => per_trail.push((t.clone(), r.trail_label(Some(&t)), l.usd)),
        }
    }
    per_trail.sort_by(|a, b| b.2.total_cmp(&a.2));
    let top = per_trail.first().map_or(0.0, |t| t.2).max(1e-9);
    let mut per_kind: Vec<(Kind, u64, f64)> = Vec::new();
    for k in Kind::ALL {
        let ls = trailed.iter().filter(|l| l.kind == k);
        let (n, u) = ls.fold((0u64, 0.0), |(n, u), l| (n + l.events, u + l.usd));
        if n > 0 {
            per_kind.push((k, n, u));
        }
    }
    let names = r.trail_names.clone();
    let has_untrailed = !untrailed.is_empty();
    let prices = r.prices.clone();
    view! {
        <form method="get" action="/costs" class="inline-form" data-testid="month-form">
            <label>"Month "
                <select name="month">
                    {months.into_iter().map(|m| {
                        let selected = m == month;
                        view! { <option value=m.clone() selected=selected>{m.clone()}</option> }
                    }).collect_view()}
                </select>
            </label>
            " "<button type="submit" class="button">"Show"</button>
        </form>
        <p class="notice">
            "An estimate from the events each trail delivered (every copy, as the bill counts them), at the public US East prices below. Cairn stores each event once; the bill counts each trail's copy."
        </p>
        <div class="kpis">
            <div class="kpi"><span class="kpi__label">{format!("CloudTrail, {}", r.month)}</span>
                <span class="kpi__value" data-testid="cost-total">{usd(r.total_usd)}</span></div>
            {projected.map(|p| view! {
                <div class="kpi"><span class="kpi__label">"Projected to month end"</span>
                    <span class="kpi__value" data-testid="cost-projected">{usd(p)}</span></div>
            })}
            <div class="kpi"><span class="kpi__label">"Outside the CloudTrail bill (S3, CloudWatch Logs)"</span>
                <span class="kpi__value kpi__value--small">{usd(r.outside_usd)}</span></div>
            {has_untrailed.then(|| view! {
                <div class="kpi"><span class="kpi__label">"Events no trail delivered, if a trail had"</span>
                    <span class="kpi__value kpi__value--small">{usd(r.untrailed_usd)}</span></div>
            })}
        </div>
        <BilledSection b=r.billed.clone() month=r.month.clone()/>
        <section class="card" aria-labelledby="cost-days">
            <h2 id="cost-days">"Cost per day, by kind"</h2>
            <DayChart r=r.clone()/>
        </section>
        <section class="card" aria-labelledby="cost-trails">
            <h2 id="cost-trails">"Per trail"</h2>
            {if per_trail.is_empty() {
                view! { <p class="muted">"No trail delivered events this month."</p> }.into_any()
            } else {
                view! {
                    <table class="plain-table" data-testid="cost-per-trail">
                        <thead><tr><th scope="col">"Trail"</th><th scope="col">"CloudTrail cost"</th></tr></thead>
                        <tbody>
                            {per_trail.into_iter().map(|(arn, name, u)| {
                                let width = format!("{:.1}", (u / top * 100.0).clamp(0.0, 100.0));
                                view! {
                                    <tr>
                                        <td class="cell-wrap">{if arn.starts_with("arn:") {
                                            view! { <a href=trail_href(&arn)>{name}</a> }.into_any()
                                        } else {
                                            view! { <span>{name}</span> }.into_any()
                                        }}</td>
                                        <td class="cost-bar-cell">
                                            <svg class="cost-bar" viewBox="0 0 100 1" preserveAspectRatio="none" aria-hidden="true">
                                                <rect width=width height="1"></rect>
                                            </svg>
                                            <span class="nowrap">{usd(u)}</span>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
        <Drivers drivers=r.drivers.clone() month=r.month.clone()/>
        <section class="card" aria-labelledby="cost-kinds">
            <h2 id="cost-kinds">"Per kind"</h2>
            <table class="plain-table" data-testid="cost-per-kind">
                <thead><tr><th scope="col">"Kind"</th><th scope="col">"Events (or GB)"</th><th scope="col">"Cost"</th></tr></thead>
                <tbody>
                    {per_kind.into_iter().map(|(k, n, u)| {
                        let amount = if k.cloudtrail() { fmt::count(n as i64) } else { format!("{:.3} GB", n as f64 / 1_073_741_824.0) };
                        view! { <tr data-kind=k.as_str()><td><span class=format!("swatch swatch--{}", k.as_str()) aria-hidden="true"></span>{k.label()}</td><td>{amount}</td><td>{usd(u)}</td></tr> }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
        <section class="card" aria-labelledby="cost-lines">
            <h2 id="cost-lines">"Every line"</h2>
            <LinesTable lines=trailed names=names.clone() label="Cost lines" testid="cost-lines"/>
        </section>
        {has_untrailed.then(|| view! {
            <section class="card" aria-labelledby="cost-untrailed">
                <h2 id="cost-untrailed">"Events no trail delivered"</h2>
                <p class="muted">"Read through LookupEvents or imported from files: free as they are, priced here as if a trail had recorded them."</p>
                <LinesTable lines=untrailed names=names label="Events no trail delivered" testid="cost-untrailed"/>
            </section>
        })}
        <PricesSection prices=prices can_edit=can_edit month=r.month.clone()/>
    }
}

/// What drives the charges: the top principals, event names and resources, each a bar
/// of its share that opens the month's timeline filtered to it and its kind of events.
#[component]
fn Drivers(drivers: Vec<crate::costs::Driver>, month: String) -> impl IntoView {
    use crate::query::Field;
    let panels = [
        (Field::Principal, "Principals", "drivers-principal"),
        (Field::Name, "Event names", "drivers-event"),
        (Field::Resource, "Resources", "drivers-resource"),
    ];
    let empty = drivers.is_empty();
    view! {
        <section class="card" aria-labelledby="cost-drivers" data-testid="cost-drivers">
            <h2 id="cost-drivers">"What drives the charges"</h2>
            {if empty {
                view! { <p class="muted" data-testid="drivers-empty">{format!(
                    "No events were charged in {month}: management events stayed within the free first copy, and no data or network activity events were delivered.")}</p> }.into_any()
            } else {
                view! {
                    <p class="muted">"Each event's share of its kind's charge where it was recorded (copies and the free first copy shared in proportion); Insights are not split. Each bar opens the month's events of that kind."</p>
                    <div class="top-grid top-grid--fit">
                        {panels.into_iter().map(|(field, heading, testid)| {
                            let rows: Vec<_> = drivers.iter().filter(|d| d.field == field).cloned().collect();
                            let top = rows.first().map_or(0.0, |d| d.usd).max(1e-12);
                            let hid = format!("{testid}-h");
                            let labelled = hid.clone();
                            let month = month.clone();
                            view! {
                                <section class="top-list" aria-labelledby=labelled data-testid=testid>
                                    <h3 id=hid class="top-list__heading"><span>{heading}</span></h3>
                                    {if rows.is_empty() {
                                        view! { <p class="muted">"None charged."</p> }.into_any()
                                    } else {
                                        view! {
                                            <table class="top-list__table top-list__table--drivers" role="table">
                                                <caption class="visually-hidden">{format!("{heading} behind the charges")}</caption>
                                                <thead class="visually-hidden" role="rowgroup">
                                                    <tr role="row"><th scope="col" role="columnheader">{heading}</th><th scope="col" role="columnheader">"Kind"</th><th scope="col" role="columnheader">"Events"</th><th scope="col" role="columnheader">"Share of the charge"</th></tr>
                                                </thead>
                                                <tbody role="rowgroup">
                                                    {rows.into_iter().map(|d| {
                                                        let width = format!("{:.1}", (d.usd / top * 100.0).clamp(0.0, 100.0));
                                                        let href = d.href(&month);
                                                        let kind = match d.category.as_str() {
                                                            "Data" => "data",
                                                            "NetworkActivity" => "network",
                                                            _ => "management",
                                                        };
                                                        let tip = if d.label == d.value { d.value.clone() } else { format!("{} ({})", d.label, d.value) };
                                                        view! {
                                                            <tr class="top-list__row" data-testid="driver" role="row">
                                                                <th scope="row" role="rowheader" class="top-list__name" title=tip>
                                                                    <svg class="top-list__bar" viewBox="0 0 100 1" preserveAspectRatio="none" aria-hidden="true">
                                                                        <rect width=width height="1"></rect>
                                                                    </svg>
                                                                    <MidClip text=d.label.clone() href=href/>
                                                                </th>
                                                                <td class="muted" role="cell">{kind}</td>
                                                                <td class="num" role="cell">{fmt::count(d.events as i64)}</td>
                                                                <td class="num" role="cell" data-testid="driver-usd">{usd(d.usd)}</td>
                                                            </tr>
                                                        }
                                                    }).collect_view()}
                                                </tbody>
                                            </table>
                                        }.into_any()
                                    }}
                                </section>
                            }
                        }).collect_view()}
                    </div>
                }.into_any()
            }}
        </section>
    }
}

/// Priced lines: account, Region, trail (linked when it is one), kind, what, amount.
#[component]
fn LinesTable(
    lines: Vec<crate::costs::Line>,
    names: Vec<(String, String)>,
    label: &'static str,
    testid: &'static str,
) -> impl IntoView {
    let rows = lines
        .into_iter()
        .map(|l| {
            let what = l.resource_type.clone().or(l.detail.clone()).unwrap_or_default();
            let amount = if matches!(l.kind, Kind::S3Storage | Kind::CloudwatchLogs) {
                format!("{:.3} GB", l.events as f64 / 1_073_741_824.0)
            } else {
                fmt::count(l.events as i64)
            };
            let name = crate::costs::trail_label(&names, l.trail.as_deref());
            view! {
                <tr data-testid="cost-line" data-kind=l.kind.as_str()>
                    <td class="nowrap">{l.account.clone()}</td>
                    <td class="nowrap">{l.region.clone()}</td>
                    <td class="cell-wrap">{match l.trail.clone().filter(|t| t.starts_with("arn:")) {
                        Some(a) => view! { <a href=trail_href(&a)>{name}</a> }.into_any(),
                        None => view! { <span>{name}</span> }.into_any(),
                    }}</td>
                    <td>{l.kind.label()}</td>
                    <td class="cell-wrap">{what}</td>
                    <td class="nowrap">{amount}</td>
                    <td class="nowrap">{usd(l.usd)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label=label>
            <table class="data-table wide-table" data-testid=testid>
                <thead><tr>
                    <th scope="col">"Account"</th><th scope="col">"Region"</th><th scope="col">"Trail"</th>
                    <th scope="col">"Kind"</th><th scope="col">"Resource type or Insights"</th>
                    <th scope="col">"Events (or GB)"</th><th scope="col">"Cost"</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// What AWS billed (Cost Explorer) beside the estimate, kind by kind.
#[component]
fn BilledSection(b: crate::costs::Billed, month: String) -> impl IntoView {
    let refused = b.refused.clone();
    view! {
        <section class="card" aria-labelledby="cost-billed" data-testid="cost-billed">
            <h2 id="cost-billed">"Billed by AWS (Cost Explorer)"</h2>
            {if b.sources.is_empty() {
                view! {
                    <p class="muted">{format!("No source's Cost Explorer reported CloudTrail charges for {month}. \
                        Allow ce:GetCostAndUsage to a source's role to see the bill beside the estimate (read with the hourly trail inventory).")}</p>
                }.into_any()
            } else {
                view! {
                    <p class="muted">{format!("From the Cost Explorer of {} (usage types of the service AWS CloudTrail).", b.sources.join(", "))}</p>
                    <table class="plain-table" data-testid="cost-billed-table">
                        <thead><tr><th scope="col">"Kind"</th><th scope="col">"Estimate"</th><th scope="col">"Billed"</th><th scope="col">"Difference"</th></tr></thead>
                        <tbody>
                            {b.by_kind.into_iter().map(|(k, e, billed)| view! {
                                <tr data-kind=k.as_str()><td>{k.label()}</td><td>{usd(e)}</td><td>{usd(billed)}</td>
                                    <td>{if billed - e >= 0.0 { format!("+{}", usd(billed - e)) } else { format!("−{}", usd(e - billed)) }}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    <p class="muted">{b.usage.into_iter().map(|(u, v)| format!("{u}: {}", usd(v))).collect::<Vec<_>>().join(" · ")}</p>
                }.into_any()
            }}
            {(!refused.is_empty()).then(|| view! {
                <ul class="check-list">
                    {refused.into_iter().map(|(s, e)| view! {
                        <li class="check-list__optional">{format!("{s}: Cost Explorer refused ({}); allow ce:GetCostAndUsage on * to compare.", fmt::clip(&e, 200))}</li>
                    }).collect_view()}
                </ul>
            })}
        </section>
    }
}

/// The prices in force, each with its Cost Explorer usage type; admins change them here.
#[component]
fn PricesSection(prices: crate::costs::PriceTable, can_edit: bool, month: String) -> impl IntoView {
    let q = use_query_map();
    let done = move || {
        q.read().get("done").map(|d| match d.as_str() {
            "price-set" => "Price set.",
            "price-reset" => "Price back to the list price.",
            _ => "Done.",
        })
    };
    let error = move || q.read().get("error");
    let rows = crate::costs::Prices::NAMES.iter().map(|(name, label, usage)| {
        let v = prices.all.get(name).unwrap_or(0.0);
        let list = crate::costs::Prices::default().get(name).unwrap_or(0.0);
        let changed = (v - list).abs() > f64::EPSILON;
        view! {
            <tr data-price=*name>
                <td>{*label}</td>
                <td class="nowrap">{format!("${v}")}{changed.then(|| view! { " " <span class="badge badge--info">{format!("list ${list}")}</span> })}</td>
                <td><code>{*usage}</code></td>
            </tr>
        }
    }).collect_view();
    let regional: Vec<(String, String, f64)> = prices.changed.iter().filter(|(_, r, _)| !r.is_empty()).cloned().collect();
    let changed = prices.changed.clone();
    let last = prices.last_change.clone();
    let names = crate::costs::Prices::NAMES;
    view! {
        <section class="card" aria-labelledby="cost-prices-heading" id="cost-prices">
            <h2 id="cost-prices-heading">"Prices used"</h2>
            {move || done().map(|d| view! { <p class="notice" role="status">{d}</p> })}
            {move || error().map(|e| view! { <p class="notice notice--error" role="alert">{e}</p> })}
            <p class="muted" data-testid="prices-changed">{match last {
                Some((at, by)) => format!("Public US East list prices, changed by {} on {} UTC.", by.unwrap_or_else(|| "an admin".into()), fmt::time(at)),
                None => "Public US East list prices, never changed.".to_owned(),
            }}</p>
            <table class="plain-table" data-testid="cost-prices">
                <thead><tr><th scope="col">"What"</th><th scope="col">"Price, every Region"</th><th scope="col">"Cost Explorer usage type"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            {(!regional.is_empty()).then(|| view! {
                <h3>"Per Region"</h3>
                <ul data-testid="regional-prices">
                    {regional.into_iter().map(|(n, r, v)| view! { <li>{format!("{r}: {n} ${v}")}</li> }).collect_view()}
                </ul>
            })}
            <p class="muted">"The first copy of management events in each account and Region is free; the trail that delivered the most of them there is counted as that copy."</p>
            {can_edit.then(|| {
                let month = month.clone();
                view! {
                    <h3>"Change a price"</h3>
                    <form method="post" action="/admin/prices" class="inline-form" data-testid="price-form">
                        <input type="hidden" name="action" value="set"/>
                        <input type="hidden" name="month" value=month.clone()/>
                        <label>"Price "
                            <select name="name">
                                {names.iter().map(|(n, l, _)| view! { <option value=*n>{*l}</option> }).collect_view()}
                            </select>
                        </label>
                        " "<label>"Region " <input name="region" placeholder="every Region" autocomplete="off" size="12"/></label>
                        " "<label>"Dollars " <input name="usd" inputmode="decimal" required autocomplete="off" size="8"/></label>
                        " "<button type="submit" class="button">"Set price"</button>
                    </form>
                    {(!changed.is_empty()).then(|| view! {
                        <ul class="plain-list">
                            {changed.into_iter().map(|(n, r, v)| {
                                let month = month.clone();
                                let what = format!("{n}, {}: ${v}", if r.is_empty() { "every Region".to_owned() } else { r.clone() });
                                view! {
                                    <li>
                                        <form method="post" action="/admin/prices" class="inline-form">
                                            {what}" "
                                            <input type="hidden" name="action" value="reset"/>
                                            <input type="hidden" name="name" value=n/>
                                            <input type="hidden" name="region" value=r/>
                                            <input type="hidden" name="month" value=month/>
                                            <button type="submit" class="button button--quiet">"Back to the list price"</button>
                                        </form>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    })}
                }
            })}
        </section>
    }
}

/// Cost per day of the month, stacked by kind: an SVG drawn on the server.
#[component]
fn DayChart(r: Report) -> impl IntoView {
    let Some((from, to)) = crate::costs::month_days(&r.month) else {
        return view! { <p class="muted">"No chart for this month."</p> }.into_any();
    };
    let days = (to - from).max(1) as f64;
    let max = r
        .days
        .iter()
        .map(|d| d.usd.iter().map(|(_, u)| u).sum::<f64>())
        .fold(0.0, f64::max);
    if max <= 0.0 {
        return view! { <p class="muted" data-testid="cost-chart-empty">"No charge on any day of this month."</p> }.into_any();
    }
    let (w, h) = (720.0, 160.0);
    let slot = w / days;
    let mut rects = Vec::new();
    for d in &r.days {
        let i = (d.day_ms / 86_400_000 - from) as f64;
        let mut y = h;
        for (k, u) in &d.usd {
            let bh = u / max * (h - 4.0);
            y -= bh;
            let title = format!("{} · {}: {}", fmt::time(d.day_ms).get(..10).unwrap_or(""), k.label(), usd(*u));
            rects.push(view! {
                <rect class=format!("cost-rect cost-rect--{}", k.as_str()) x=format!("{:.1}", i * slot + 1.0)
                    y=format!("{y:.1}") width=format!("{:.1}", (slot - 2.0).max(1.0)) height=format!("{bh:.1}")>
                    <title>{title}</title>
                </rect>
            });
        }
    }
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| r.days.iter().any(|d| d.usd.iter().any(|(x, _)| x == k)))
        .collect();
    let label = format!("Cost per day in {}, highest day {}", r.month, usd(max));
    view! {
        <svg class="chart__svg cost-chart" viewBox=format!("0 0 {w} {h}") preserveAspectRatio="none"
            role="img" aria-label=label data-testid="cost-chart">
            {rects}
        </svg>
        <p class="chart__legend">
            {kinds.into_iter().map(|k| view! {
                <span class="nowrap"><span class=format!("swatch swatch--{}", k.as_str()) aria-hidden="true"></span>{k.label()}" "</span>
            }).collect_view()}
            <span class="muted">{format!("highest day {}", usd(max))}</span>
        </p>
    }
    .into_any()
}
