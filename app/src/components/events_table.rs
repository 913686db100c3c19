use crate::fmt;
use crate::model::EventRow;
use crate::query::{Column, EventQuery, Field, Sort};
use leptos::prelude::*;

/// A value cut in the middle when it does not fit: the end, which tells values apart
/// (a session name, a user agent's command, an object key), stays whole; the whole
/// value is in the `title` and on the event's page.
#[component]
pub fn MidClip(#[prop(into)] text: String, #[prop(optional, into)] href: Option<String>) -> impl IntoView {
    let (main, suffix) = fmt::label_suffix(&text);
    let (head, tail) = fmt::head_tail(main);
    let suffix = (!suffix.is_empty()).then(|| view! { <span class="mid__suffix">{suffix.to_string()}</span> });
    let tail = (!tail.is_empty()).then(|| view! { <span class="mid__tail">{tail}</span> });
    let inner = view! {
        <span class="mid__head">{head}</span>
        {tail}
        {suffix}
    };
    match href {
        Some(h) => view! { <a class="mid" href=h title=text>{inner}</a> }.into_any(),
        None => view! { <span class="mid" title=text>{inner}</span> }.into_any(),
    }
}

/// One sortable column heading: a link to the list in that order (the same column again
/// flips it), with `aria-sort` on the current one.
fn heading(
    label: &'static str,
    class: &'static str,
    sort: Sort,
    current: Sort,
    query: &EventQuery,
    path: &str,
) -> impl IntoView + use<> {
    let (aria, arrow, next) = match (current, sort) {
        (Sort::Newest, Sort::Newest) => (Some("descending"), " ↓", Sort::Oldest),
        (Sort::Oldest, Sort::Newest) => (Some("ascending"), " ↑", Sort::Newest),
        (Sort::Column(a, desc), Sort::Column(b, _)) if a == b => (
            Some(if desc { "descending" } else { "ascending" }),
            if desc { " ↓" } else { " ↑" },
            Sort::Column(a, !desc),
        ),
        _ => (None, "", sort),
    };
    let href = query.with_sort(next).href(path);
    let what = if arrow.is_empty() {
        format!("Sort by {}", label.to_lowercase())
    } else {
        format!("Sorted by {}; reverse the order", label.to_lowercase())
    };
    view! {
        <th scope="col" class=class aria-sort=aria>
            <a class="events-table__sort" href=href title=what>{label}<span aria-hidden="true">{arrow}</span></a>
        </th>
    }
}

/// The event list. Every value is text. Columns yield to the width (see the stylesheet):
/// Source and Region first, then Source IP, then Error (shown under the event name
/// instead), then Resource; every value is on the event's page.
#[component]
pub fn EventsTable(
    rows: Vec<EventRow>,
    #[prop(into)] caption: String,
    /// The view the rows come from: headings sort it, Region cells add a filter to it.
    query: EventQuery,
    #[prop(into)] path: String,
    /// The time range links to principals, resources and addresses carry.
    #[prop(optional)]
    links: Option<EventQuery>,
    /// Headings that sort (off for short fixed lists).
    #[prop(default = true)]
    sortable: bool,
    /// An event to mark as the one being read (related events).
    #[prop(optional)]
    current: Option<i64>,
) -> impl IntoView {
    let links = links.unwrap_or_default();
    let carry = move |href: String| {
        let q = links.to_query();
        if q.is_empty() { href } else { format!("{href}?{q}") }
    };
    let current_sort = query.sort;
    let head = if sortable {
        let col = |c: Column, class: &'static str| {
            heading(c.label(), class, Sort::Column(c, false), current_sort, &query, &path).into_any()
        };
        view! {
            <tr>
                {heading("Time (UTC)", "events-table__c-time", Sort::Newest, current_sort, &query, &path).into_any()}
                {col(Column::Principal, "events-table__c-principal")}
                {col(Column::Event, "events-table__c-event")}
                {col(Column::Source, "events-table__c-source")}
                {col(Column::Region, "events-table__c-region")}
                {col(Column::Resource, "events-table__c-resource")}
                {col(Column::SourceIp, "events-table__c-ip")}
                {col(Column::Error, "events-table__c-error")}
            </tr>
        }
        .into_any()
    } else {
        view! {
            <tr>
                <th scope="col" class="events-table__c-time">"Time (UTC)"</th>
                <th scope="col" class="events-table__c-principal">"Principal"</th>
                <th scope="col" class="events-table__c-event">"Event"</th>
                <th scope="col" class="events-table__c-source">"Source"</th>
                <th scope="col" class="events-table__c-region">"Region"</th>
                <th scope="col" class="events-table__c-resource">"Resource"</th>
                <th scope="col" class="events-table__c-ip">"Source IP"</th>
                <th scope="col" class="events-table__c-error">"Error"</th>
            </tr>
        }
        .into_any()
    };
    view! {
        <div class="events-table__wrap">
            <table class="events-table">
                <caption>{caption}</caption>
                <thead>{head}</thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|r| {
                            let href = format!("/events/{}", r.id);
                            let err = r.error.clone();
                            let is_err = err.is_some();
                            let err_title = err.clone().unwrap_or_default();
                            let is_current = current == Some(r.id);
                            let matches = r.matches.clone();
                            let date = fmt::time(r.time_ms);
                            let (day, clock) = date.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())).unwrap_or((date.clone(), String::new()));
                            let class = match (is_err, is_current) {
                                (_, true) => "events-table__row events-table__row--current",
                                (true, false) => "events-table__row events-table__row--error",
                                (false, false) => "events-table__row",
                            };
                            view! {
                                <tr class=class aria-current=is_current.then_some("true")>
                                    <td class="events-table__c-time">
                                        <a href=href.clone()>
                                            <time datetime=fmt::iso(r.time_ms)><span>{day}</span> " " <span>{clock}</span></time>
                                        </a>
                                        {is_current.then(|| view! { <span class="badge badge--info">"this event"</span> })}
                                    </td>
                                    <td class="events-table__c-principal cell-clip">
                                        <MidClip text=r.principal.clone() href=carry(fmt::principal_href(&r.principal_key))/>
                                    </td>
                                    <td class="events-table__c-event cell-clip" title=r.name.clone()>
                                        <a href=href>{r.name.clone()}</a>
                                        {err.clone().map(|e| { let tip = e.clone(); view! {
                                            <span class="events-table__inline-error badge badge--error" title=tip>"⚠ " {e}</span>
                                        }})}
                                    </td>
                                    <td class="events-table__c-source cell-clip" title=r.source.clone()>
                                        {r.source.strip_suffix(".amazonaws.com").unwrap_or(&r.source).to_string()}
                                    </td>
                                    <td class="events-table__c-region cell-clip">
                                        {r.region.clone().map(|v| { let h = query.with_filter(Field::Region, &v, false).href(&path); let tip = format!("Only events in {v}"); view! { <a class="quiet-link" href=h title=tip>{v}</a> } })}
                                    </td>
                                    <td class="events-table__c-resource cell-clip">
                                        {r.resource_arn.clone().map(|arn| view! {
                                            <MidClip text=r.resource.clone().unwrap_or_default() href=carry(fmt::resource_href(&arn))/>
                                        })}
                                    </td>
                                    <td class="events-table__c-ip cell-clip" title=r.source_ip.clone().unwrap_or_default()>
                                        {r.source_ip.clone().map(|v| { let h = carry(fmt::ip_href(&v)); view! { <a class="quiet-link" href=h>{v}</a> } })}
                                    </td>
                                    <td class="events-table__c-error" title=err_title>
                                        {err.map(|e| view! { <span class="badge badge--error badge--wrap">"⚠ " {e}</span> })}
                                    </td>
                                </tr>
                                {(!matches.is_empty()).then(|| view! {
                                    <tr class="events-table__match" data-testid="search-match">
                                        <td class="events-table__c-time"></td>
                                        <td colspan="7">
                                            <ul class="match-list">
                                                {matches.into_iter().map(|m| view! {
                                                    <li>"Matched in " <code>{m.field}</code> ": " <span class="match-list__text">{m.text}</span></li>
                                                }).collect_view()}
                                            </ul>
                                        </td>
                                    </tr>
                                })}
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
