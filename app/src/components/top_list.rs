use crate::fmt;
use crate::model::TopList;
use crate::query::{ANY, EventQuery, Field};
use leptos::prelude::*;

fn title(field: Field) -> &'static str {
    match field {
        Field::Principal => "Top principals",
        Field::Name => "Top event names",
        Field::Source => "Top event sources",
        Field::Resource => "Top resources",
        Field::SourceIp => "Top source IPs",
        Field::Error => "Top error codes",
        Field::Region => "Top Regions",
        Field::Account => "Top accounts",
        Field::UserAgent => "Top user agents",
        Field::AccessKey => "Access keys used",
        _ => "Top values",
    }
}

/// A top-N panel: each row's name adds it as a filter, "−" excludes it; both are links.
#[component]
pub fn TopPanel(
    list: TopList,
    query: EventQuery,
    #[prop(into)] path: String,
    total: i64,
    /// A heading other than the field's ("Top actions").
    #[prop(optional)]
    heading: Option<&'static str>,
) -> impl IntoView {
    let field = list.field;
    let heading = heading.unwrap_or(title(field));
    let id = format!("top-{}", field.key());
    let testid = id.clone();
    let hid = id.clone();
    let max = list.rows.first().map(|r| r.events).unwrap_or(0).max(1);
    let empty = list.rows.is_empty();
    let rows = list
        .rows
        .into_iter()
        .map(|r| {
            let include = query.with_filter(field, &r.value, false).href(&path);
            let exclude = query.with_filter(field, &r.value, true).href(&path);
            let share = r.events as f64 * 100.0 / total.max(1) as f64;
            // Geometry as SVG attributes: the page's CSP allows no inline styles.
            let width = format!("{:.1}", r.events as f64 * 100.0 / max as f64);
            let tip = if r.label == r.value {
                r.value.clone()
            } else {
                format!("{} ({})", r.label, r.value)
            };
            let label = if field == Field::Error && r.value == ANY { "any error".to_string() } else { r.label.clone() };
            view! {
                <tr class="top-list__row">
                    <th scope="row" class="top-list__name">
                        <svg class="top-list__bar" viewBox="0 0 100 1" preserveAspectRatio="none" aria-hidden="true">
                            <rect width=width height="1"></rect>
                        </svg>
                        <a href=include title=tip>{fmt::clip(&label, 80)}</a>
                    </th>
                    <td class="num">{fmt::count(r.events)}</td>
                    <td class="num muted">{format!("{share:.0}%")}</td>
                    <td class="top-list__actions">
                        <a href=exclude class="top-list__exclude" aria-label=format!("Exclude {label}") title="Exclude">"−"</a>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card top-list" aria-labelledby=id.clone() data-testid=testid>
            <h2 id=hid>{heading}</h2>
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
        </section>
    }
}
