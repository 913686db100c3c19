use crate::fmt;
use crate::model::EventRow;
use crate::query::{EventQuery, Field};
use leptos::prelude::*;

/// The event list. Every value is text; long values are cut by CSS, whole in `title`.
#[component]
pub fn EventsTable(
    rows: Vec<EventRow>,
    #[prop(into)] caption: String,
    /// The view the rows come from: IP and Region cells add a filter to it.
    query: EventQuery,
    #[prop(into)] path: String,
) -> impl IntoView {
    view! {
        <div class="events-table__wrap">
            <table class="events-table">
                <caption>{caption}</caption>
                <thead>
                    <tr>
                        <th scope="col">"Time (UTC)"</th>
                        <th scope="col">"Principal"</th>
                        <th scope="col">"Event"</th>
                        <th scope="col">"Source"</th>
                        <th scope="col">"Region"</th>
                        <th scope="col">"Resource"</th>
                        <th scope="col">"Source IP"</th>
                        <th scope="col">"Error"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|r| {
                            let href = format!("/events/{}", r.id);
                            let err = r.error_code.clone();
                            let err_title = err.clone().unwrap_or_default();
                            let is_err = err.is_some();
                            let matches = r.matches.clone();
                            view! {
                                <tr class=if is_err { "events-table__row events-table__row--error" } else { "events-table__row" }>
                                    <td class="events-table__time">
                                        <a href=href.clone()>
                                            <time datetime=fmt::iso(r.time_ms)>{fmt::time(r.time_ms)}</time>
                                        </a>
                                    </td>
                                    <td class="cell-clip" title=format!("{} ({})", r.principal, r.principal_kind)>
                                        <a href=fmt::principal_href(&r.principal_key)>{r.principal.clone()}</a>
                                    </td>
                                    <td class="cell-clip" title=r.name.clone()>
                                        <a href=href>{r.name.clone()}</a>
                                    </td>
                                    <td class="cell-clip" title=r.source.clone()>
                                        {r.source.strip_suffix(".amazonaws.com").unwrap_or(&r.source).to_string()}
                                    </td>
                                    <td class="cell-clip">
                                        {r.region.clone().map(|v| { let h = query.with_filter(Field::Region, &v, false).href(&path); view! { <a class="quiet-link" href=h>{v}</a> } })}
                                    </td>
                                    <td class="cell-clip" title=r.resource_arn.clone().unwrap_or_default()>
                                        {r.resource_arn.clone().map(|arn| view! { <a href=fmt::resource_href(&arn)>{r.resource.clone().unwrap_or_default()}</a> })}
                                    </td>
                                    <td class="cell-clip" title=r.source_ip.clone().unwrap_or_default()>
                                        {r.source_ip.clone().map(|v| { let h = query.with_filter(Field::SourceIp, &v, false).href(&path); view! { <a class="quiet-link" href=h>{v}</a> } })}
                                    </td>
                                    <td class="cell-clip events-table__error" title=err_title>
                                        {err.map(|e| view! { <span class="badge badge--error">"⚠ " {e}</span> })}
                                    </td>
                                </tr>
                                {(!matches.is_empty()).then(|| view! {
                                    <tr class="events-table__match" data-testid="search-match">
                                        <td></td>
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
