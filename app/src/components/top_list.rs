use crate::components::events_table::MidClip;
use crate::fmt;
use crate::model::TopList;
use crate::query::{ANY, EventQuery, Field};
use leptos::prelude::*;

pub fn title(field: Field) -> &'static str {
    match field {
        Field::Principal => "Top principals",
        Field::Name => "Top event names",
        Field::Source => "Top event sources",
        Field::Resource => "Top resources",
        Field::SourceIp => "Top source IPs",
        Field::Error => "Top errors",
        Field::Region => "Top Regions",
        Field::Account => "Top accounts",
        Field::UserAgent => "Top user agents",
        Field::AccessKey => "Long-term access keys",
        _ => "Top values",
    }
}

/// "8 of 1,234 values" / "8 of 1,000+ values".
pub fn count_of(list: &TopList) -> String {
    let n = if list.exact {
        fmt::count(list.distinct)
    } else {
        format!("{}+", fmt::count(list.distinct))
    };
    let noun = if list.distinct == 1 && list.exact { "value" } else { "values" };
    if list.rows.len() as i64 >= list.distinct && list.exact {
        format!("{n} {noun}")
    } else {
        format!("{} of {n} {noun}", list.rows.len())
    }
}

/// A value as a row shows it: "any error" for `*`.
pub fn shown_label(field: Field, value: &str, label: &str) -> String {
    if field == Field::Error && value == ANY {
        "any error".to_string()
    } else {
        label.to_string()
    }
}

/// A top-N panel: each row's name adds it as a filter, "−" excludes it; both are links.
/// The heading says how many values there are, and "show all" opens the whole list.
#[component]
pub fn TopPanel(
    list: TopList,
    query: EventQuery,
    #[prop(into)] path: String,
    total: i64,
    /// A heading other than the field's ("Top actions").
    #[prop(optional)]
    heading: Option<&'static str>,
    /// The whole selection (with a page's own fixed filter), for "show all".
    #[prop(optional)]
    selection: Option<EventQuery>,
) -> impl IntoView {
    let field = list.field;
    let heading = heading.unwrap_or(title(field));
    let id = format!("top-{}", field.key());
    let testid = id.clone();
    let hid = id.clone();
    let max = list.rows.first().map(|r| r.events).unwrap_or(0).max(1);
    let empty = list.rows.is_empty();
    let counted = count_of(&list);
    let more = list.distinct > list.rows.len() as i64 || !list.exact;
    let show_all = if list.exact {
        format!("Show all {}", fmt::count(list.distinct))
    } else {
        "Show all".to_string()
    };
    let all_href = selection
        .unwrap_or_else(|| query.clone())
        .with_cursor(None)
        .href(&format!("/top/{}", field.key()));
    let rows = list
        .rows
        .into_iter()
        .map(|r| {
            let include = query.with_filter(field, &r.value, false).href(&path);
            let exclude = query.with_filter(field, &r.value, true).href(&path);
            let share = r.events as f64 * 100.0 / total.max(1) as f64;
            // Geometry as SVG attributes: the page's CSP allows no inline styles.
            let width = format!("{:.1}", r.events as f64 * 100.0 / max as f64);
            let label = shown_label(field, &r.value, &r.label);
            let tip = if r.label == r.value {
                r.value.clone()
            } else {
                format!("{} ({})", r.label, r.value)
            };
            view! {
                <tr class="top-list__row">
                    <th scope="row" class="top-list__name" title=tip>
                        <svg class="top-list__bar" viewBox="0 0 100 1" preserveAspectRatio="none" aria-hidden="true">
                            <rect width=width height="1"></rect>
                        </svg>
                        <MidClip text=label.clone() href=include/>
                    </th>
                    <td class="num">{fmt::count(r.events)}</td>
                    <td class="num muted">{format!("{share:.0}%")}</td>
                    <td class="top-list__actions">
                        <a href=exclude class="top-list__exclude" aria-label=format!("Exclude {}", fmt::clip(&label, 80)) title="Exclude">"−"</a>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card top-list" aria-labelledby=id.clone() data-testid=testid>
            <h2 id=hid class="top-list__heading">
                <span>{heading}</span>
                <span class="top-list__count muted" data-testid="top-count">{counted}</span>
            </h2>
            {if empty {
                view! { <p class="muted">"None in this selection."</p> }.into_any()
            } else {
                view! {
                    <table class="top-list__table">
                        <caption class="visually-hidden">{heading}</caption>
                        <thead class="visually-hidden">
                            <tr><th scope="col">"Value"</th><th scope="col">"Events"</th><th scope="col">"Share"</th><th scope="col">"Exclude"</th></tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                }.into_any()
            }}
            {more.then(|| view! {
                <p class="top-list__all"><a href=all_href data-testid="show-all">{show_all}</a></p>
            })}
        </section>
    }
}
