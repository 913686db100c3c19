use leptos::prelude::*;

/// Keyset paging links: back to the newest page, on to older events.
#[component]
pub fn Pager(newest_href: Option<String>, older_href: Option<String>) -> impl IntoView {
    view! {
        <nav class="pager" aria-label="Pages">
            {newest_href.map(|h| view! { <a class="pager__link" href=h>"← Newest"</a> })}
            {older_href.map(|h| view! { <a class="pager__link" rel="next" href=h>"Older →"</a> })}
        </nav>
    }
}
