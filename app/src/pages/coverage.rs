//! Coverage: `/coverage` charts, per account, when each kind of event was recorded; the
//! timeline, principal and resource pages warn when their range holds time that was not.

use crate::components::error_panel::ErrorPanel;
use crate::coverage::{Tri, What};
use crate::fmt;
use crate::query::{EventQuery, Field, TimeRange};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

/// What a page shows, for its coverage warning: a range, and the accounts, Regions and
/// kinds it is about (empty: all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapScope {
    pub from_ms: i64,
    pub to_ms: i64,
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default)]
    pub regions: Vec<String>,
    /// Only these kinds (`What::key`); empty: every kind followed.
    #[serde(default)]
    pub kinds: Vec<String>,
}

impl GapScope {
    /// A timeline's: its account and Region filters; a filter on a bucket, function or
    /// table narrows to that resource's data events.
    pub fn of_query(q: &EventQuery, from_ms: i64, to_ms: i64) -> GapScope {
        let values = |f: Field| -> Vec<String> {
            q.filters
                .iter()
                .filter(|x| x.field == f && !x.exclude)
                .map(|x| x.value.clone())
                .collect()
        };
        let kinds = values(Field::Resource)
            .iter()
            .filter_map(|arn| What::of_resource(arn))
            .map(|w| w.key())
            .collect();
        GapScope {
            from_ms,
            to_ms,
            accounts: values(Field::Account),
            regions: values(Field::Region),
            kinds,
        }
    }
}

/// One gap, as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapView {
    pub account: String,
    pub sentence: String,
    pub causes: String,
    /// The events that began and ended it, to link to.
    pub began_event: Option<i64>,
    pub ended_event: Option<i64>,
}

/// The gaps within a scope, earliest first.
#[cfg(feature = "ssr")]
pub async fn gaps_in(pool: &sqlx::SqlitePool, scope: &GapScope) -> Result<Vec<GapView>, sqlx::Error> {
    gaps_of(pool, &crate::coverage::load(pool).await?, scope).await
}

/// The gaps within a scope of coverage already read.
#[cfg(feature = "ssr")]
async fn gaps_of(
    pool: &sqlx::SqlitePool,
    cov: &crate::coverage::Coverage,
    scope: &GapScope,
) -> Result<Vec<GapView>, sqlx::Error> {
    let wanted: Vec<What> = scope.kinds.iter().filter_map(|k| What::from_key(k)).collect();
    let mut out: Vec<(Option<i64>, crate::coverage::Gap)> = Vec::new();
    for ((account, region), kinds) in cov.places() {
        if !scope.accounts.is_empty() && !scope.accounts.contains(&account) {
            continue;
        }
        if !scope.regions.is_empty() && !scope.regions.contains(&region) {
            continue;
        }
        let kinds: Vec<What> = if wanted.is_empty() {
            kinds.into_iter().collect()
        } else {
            // A function or table is in one account and Region only.
            wanted
                .iter()
                .filter(|w| w.home().is_none_or(|(a, r)| a == account && r == region))
                .cloned()
                .collect()
        };
        for what in kinds {
            for g in cov.gaps(&account, &region, &what, scope.from_ms, scope.to_ms) {
                if g.from.is_some_and(|f| f >= scope.to_ms) {
                    continue;
                }
                if crate::coverage::contradicted(pool, &account, &region, &what, (g.from, g.to), (g.reads, g.writes)).await? {
                    continue;
                }
                // A bucket is one place whichever Region's trail speaks of it.
                let same = out.iter().any(|(_, o)| {
                    matches!(what, What::S3(_))
                        && o.what == g.what
                        && o.account == g.account
                        && (o.from, o.to, o.reads, o.writes) == (g.from, g.to, g.reads, g.writes)
                });
                if !same {
                    out.push((g.from, g));
                }
            }
        }
    }
    out.sort_by_key(|(f, g)| (f.unwrap_or(i64::MIN), g.what.clone(), g.account.clone(), g.region.clone()));
    Ok(out
        .into_iter()
        .map(|(_, g)| GapView {
            account: g.account.clone(),
            sentence: g.sentence(),
            causes: g.causes(),
            began_event: g.began.as_ref().and_then(|c| c.event),
            ended_event: g.ended.as_ref().and_then(|c| c.event),
        })
        .collect())
}

/// What a page's coverage warning says: the gaps its range holds, or why they cannot be
/// told.
pub type Gaps = Result<Vec<GapView>, String>;

/// The gaps a page's range holds, read in the page's own server function (not by a
/// resource made inside the page's Suspense, which is made again each time the Suspense
/// looks over its children).
#[cfg(feature = "ssr")]
pub async fn gaps_for(pool: &sqlx::SqlitePool, scope: &GapScope) -> Gaps {
    // The page still answers 200: only its warning says what could not be read.
    gaps_in(pool, scope)
        .await
        .map_err(|e| crate::error::WebError::internal("cannot read the coverage", e).to_string())
}

/// How many gaps a page lists before sending the reader to `/coverage`.
const SHOWN: usize = 5;

/// The warning a page shows when its range holds time that was not recorded; nothing
/// when it holds none.
#[component]
pub fn CoverageNotice(scope: GapScope, gaps: Gaps) -> impl IntoView {
    match gaps {
        Ok(gaps) if gaps.is_empty() => ().into_any(),
        Ok(gaps) => {
            let n = gaps.len();
            view! {
                <section class="notice notice--warn coverage-notice" data-testid="coverage-gaps" aria-labelledby="cov-gaps">
                    <h2 id="cov-gaps" class="notice__title">"Not everything in this range was recorded"</h2>
                    <ul>
                        {gaps.into_iter().take(SHOWN).map(|g| view! { <GapItem g=g/> }).collect_view()}
                    </ul>
                    <p>
                        {(n > SHOWN).then(|| format!("{} more. ", n - SHOWN))}
                        <a href=coverage_href(&scope)>"See the coverage of every account"</a>
                    </p>
                </section>
            }
            .into_any()
        }
        // The page itself still works; the warning says it could not be read.
        Err(e) => view! {
            <p class="notice notice--warn" data-testid="coverage-error">
                {format!("Whether this range was fully recorded cannot be told: {e}")}
            </p>
        }
        .into_any(),
    }
}

#[component]
fn GapItem(g: GapView) -> impl IntoView {
    let link = |id: Option<i64>, text: &'static str| {
        id.map(|id| view! { " " <a href=format!("/events/{id}")>{text}</a> })
    };
    view! {
        <li data-testid="coverage-gap">
            <strong>{g.sentence}</strong>
            {(!g.causes.is_empty()).then(|| view! { " " <span class="muted">{format!("({})", g.causes)}</span> })}
            {link(g.began_event, "the event that began it")}
            {link(g.ended_event, "the event that ended it")}
        </li>
    }
}

fn coverage_href(scope: &GapScope) -> String {
    let mut q = EventQuery::default().with_range(TimeRange::Absolute {
        from_ms: scope.from_ms,
        to_ms: scope.to_ms,
    });
    for a in &scope.accounts {
        q = q.with_filter(Field::Account, a, false);
    }
    q.href("/coverage")
}

/// One row of the chart: a kind in a Region of an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverageRow {
    pub label: String,
    pub region: String,
    /// `(from, to, reads, writes)` within the range.
    pub spans: Vec<(i64, i64, Tri, Tri)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountCoverage {
    pub account: String,
    pub rows: Vec<CoverageRow>,
    pub gaps: Vec<GapView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverageView {
    pub from_ms: i64,
    pub to_ms: i64,
    pub accounts: Vec<AccountCoverage>,
    /// How many trails are known (from events and the inventory).
    pub trails_known: usize,
}

/// The coverage of every account (or those named) over the query's range (all time
/// when none is given).
#[server]
pub async fn get_coverage(query: String) -> Result<CoverageView, ServerFnError> {
    crate::auth::require(crate::auth::Role::Viewer)?;
    let pool = crate::db::pool()?;
    coverage_view(&pool, &EventQuery::parse(&query), chrono::Utc::now().timestamp_millis())
        .await
        .map_err(|e| crate::error::WebError::internal("cannot read the coverage", e).into())
}

#[cfg(feature = "ssr")]
pub async fn coverage_view(pool: &sqlx::SqlitePool, query: &EventQuery, now_ms: i64) -> Result<CoverageView, sqlx::Error> {
    let store = crate::db::events::store_info(pool).await?;
    let query = match query.range {
        TimeRange::Auto => query.with_range(TimeRange::Preset(crate::query::Preset::All)),
        _ => query.clone(),
    };
    let range = query.resolve(now_ms, &store);
    let scope = GapScope::of_query(&query, range.from_ms, range.to_ms);
    let cov = crate::coverage::load(pool).await?;
    let gaps = gaps_of(pool, &cov, &scope).await?;
    let mut accounts: Vec<AccountCoverage> = Vec::new();
    for ((account, region), kinds) in cov.places() {
        if !scope.accounts.is_empty() && !scope.accounts.contains(&account) {
            continue;
        }
        let mut rows: Vec<CoverageRow> = Vec::new();
        for what in kinds {
            let mut spans = Vec::new();
            for (f, t, mut r, mut w, _) in cov.spans(&account, &region, &what, range.from_ms, range.to_ms) {
                // Unrecorded time that holds stored events of the kind was recorded by a
                // trail Cairn has no record of: unknown, as the warnings count it.
                let (nr, nw) = (r == Tri::No, w == Tri::No);
                if (nr || nw)
                    && crate::coverage::contradicted(pool, &account, &region, &what, (Some(f), Some(t)), (nr, nw)).await?
                {
                    if nr {
                        r = Tri::Unknown;
                    }
                    if nw {
                        w = Tri::Unknown;
                    }
                }
                spans.push((f, t, r, w));
            }
            rows.push(CoverageRow {
                label: what.label(),
                region: region.clone(),
                spans,
            });
        }
        match accounts.iter_mut().find(|a| a.account == account) {
            Some(a) => a.rows.extend(rows),
            None => accounts.push(AccountCoverage {
                gaps: gaps.iter().filter(|g| g.account == account).cloned().collect(),
                account,
                rows,
            }),
        }
    }
    Ok(CoverageView {
        from_ms: range.from_ms,
        to_ms: range.to_ms,
        accounts,
        trails_known: cov.trails.len(),
    })
}

#[component]
pub fn CoveragePage() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        let p = params.read();
        EventQuery::from_params(|k| p.get_all(k).unwrap_or_default())
    });
    let data = Resource::new(move || query.get().to_query(), get_coverage);
    view! {
        <Title text="Coverage"/>
        <p class="breadcrumbs"><a href="/trails">"Trails"</a> " / coverage"</p>
        <h1 class="page__title">"Coverage"</h1>
        <p class="muted">
            "When each account and Region had a trail recording each kind of event, from the trails' own "
            "write events (CreateTrail, StartLogging, StopLogging, PutEventSelectors, DeleteTrail) and the "
            "inventory. Where no trail Cairn knows of speaks for a time, it is shown as unknown: an empty "
            "timeline there is not proof that nothing happened."
        </p>
        <Transition fallback=|| view! { <p class="loading">"Loading coverage…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => view! { <CoverageBody v=v/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn CoverageBody(v: CoverageView) -> impl IntoView {
    let (from, to) = (v.from_ms, v.to_ms);
    let form = view! {
        <form method="get" action="/coverage" class="inline-form" data-testid="coverage-range">
            <label>"From (UTC) " <input type="text" name="from" value=fmt::minute_text(from) class="code-input"/></label>
            " "
            <label>"To (UTC) " <input type="text" name="to" value=fmt::minute_text(to) class="code-input"/></label>
            " "
            <button type="submit">"Show"</button>
        </form>
    };
    if v.accounts.is_empty() {
        return view! {
            {form}
            <p class="empty" data-testid="coverage-empty">
                "No trail is known yet: coverage comes from the trails' own write events and from the "
                "inventory of a source. Add a source, or import logs that hold CreateTrail, StopLogging "
                "or PutEventSelectors events."
            </p>
        }
        .into_any();
    }
    view! {
        {form}
        <p class="cov-legend" aria-hidden="true">
            <span><span class="cov-key cov--yes"></span>" recorded"</span>
            <span><span class="cov-key cov--part"></span>" reads or writes only"</span>
            <span><span class="cov-key cov--no"></span>" not recorded"</span>
            <span><span class="cov-key cov--unknown"></span>" unknown"</span>
        </p>
        {v.accounts.into_iter().map(|a| {
            let id = format!("cov-{}", a.account);
            let timeline = EventQuery::default()
                .with_range(TimeRange::Absolute { from_ms: from, to_ms: to })
                .with_filter(Field::Account, &a.account, false)
                .href("/");
            view! {
                <section class="card" aria-labelledby=id.clone() data-testid="coverage-account">
                    <h2 id=id.clone()>{format!("Account {}", a.account)}</h2>
                    <p><a href=timeline>"Its timeline over this range"</a></p>
                    <table class="coverage-table">
                        <caption class="visually-hidden">{format!("Coverage of account {} from {} to {} UTC", a.account, fmt::time(from), fmt::time(to))}</caption>
                        <thead><tr>
                            <th scope="col">"Kind and Region"</th>
                            <th scope="col">
                                <span class="cov-axis">
                                    <span>{format!("{} UTC", fmt::minute_text(from))}</span>
                                    <span>{format!("{} UTC", fmt::minute_text(to))}</span>
                                </span>
                            </th>
                        </tr></thead>
                        <tbody>
                            {a.rows.into_iter().map(|r| view! {
                                <tr data-testid="coverage-row">
                                    <th scope="row">{r.label.clone()}<br/><span class="muted">{r.region.clone()}</span></th>
                                    <td><Strip spans=r.spans label=format!("{} in {}", r.label, r.region) from=from to=to/></td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    {if a.gaps.is_empty() {
                        view! { <p class="muted">"No time known to be unrecorded in this range."</p> }.into_any()
                    } else {
                        view! {
                            <h3>"Not recorded"</h3>
                            <ul class="coverage-gaps">{a.gaps.into_iter().map(|g| view! { <GapItem g=g/> }).collect_view()}</ul>
                        }.into_any()
                    }}
                </section>
            }
        }).collect_view()}
    }
    .into_any()
}

fn state_of(r: Tri, w: Tri) -> (&'static str, &'static str) {
    match (r, w) {
        (Tri::Yes, Tri::Yes) => ("cov--yes", "recorded"),
        (Tri::No, Tri::No) => ("cov--no", "not recorded"),
        (Tri::Yes, Tri::No) => ("cov--part", "reads only"),
        (Tri::No, Tri::Yes) => ("cov--part", "writes only"),
        (Tri::No, _) => ("cov--no", "reads not recorded"),
        (_, Tri::No) => ("cov--no", "writes not recorded"),
        _ => ("cov--unknown", "unknown"),
    }
}

/// One kind's coverage across the range, as a strip; its spans also said in words.
#[component]
fn Strip(spans: Vec<(i64, i64, Tri, Tri)>, label: String, from: i64, to: i64) -> impl IntoView {
    const W: f64 = 1000.0;
    let span = (to - from).max(1) as f64;
    let words: Vec<String> = spans
        .iter()
        .map(|(f, t, r, w)| format!("{} from {} to {}", state_of(*r, *w).1, fmt::minute_text((*f).max(from)), fmt::minute_text((*t).min(to))))
        .collect();
    let aria = format!("{label}: {}", words.join("; "));
    let rects = spans
        .into_iter()
        .map(|(f, t, r, w)| {
            let x = (((f.max(from) - from) as f64) / span * W).clamp(0.0, W);
            let x2 = (((t.min(to) - from) as f64) / span * W).clamp(0.0, W);
            let (class, what) = state_of(r, w);
            let title = format!("{what}: {} to {} UTC", fmt::minute_text(f.max(from)), fmt::minute_text(t.min(to)));
            view! { <g><rect class=format!("cov {class}") x=x y=0 width=(x2 - x).max(1.0) height=16><title>{title}</title></rect></g> }
        })
        .collect_view();
    view! {
        <svg class="cov-strip" viewBox="0 0 1000 16" preserveAspectRatio="none" role="img" aria-label=aria>
            {rects}
        </svg>
    }
}
