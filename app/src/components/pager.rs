use crate::query::Sort;
use leptos::prelude::*;

/// Paging links: back to the first page, on to the next.
#[component]
pub fn Pager(first_href: Option<String>, next_href: Option<String>, sort: Sort) -> impl IntoView {
    let (first, next) = match sort {
        Sort::Newest => ("← Newest", "Older →"),
        Sort::Oldest => ("← Oldest", "Newer →"),
        Sort::Column(..) => ("← First page", "Next page →"),
    };
    view! {
        <nav class="pager" aria-label="Pages">
            {first_href.map(|h| view! { <a class="pager__link" href=h>{first}</a> })}
            {next_href.map(|h| view! { <a class="pager__link" rel="next" href=h>{next}</a> })}
        </nav>
    }
}
