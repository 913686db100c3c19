use leptos::prelude::*;

/// Keyset paging links: back to the first page, on to the next.
#[component]
pub fn Pager(
    first_href: Option<String>,
    next_href: Option<String>,
    /// Whether the list runs newest first (names the links "Newest" / "Older").
    #[prop(default = true)]
    newest_first: bool,
) -> impl IntoView {
    let (first, next) = if newest_first {
        ("← Newest", "Older →")
    } else {
        ("← Oldest", "Newer →")
    };
    view! {
        <nav class="pager" aria-label="Pages">
            {first_href.map(|h| view! { <a class="pager__link" href=h>{first}</a> })}
            {next_href.map(|h| view! { <a class="pager__link" rel="next" href=h>{next}</a> })}
        </nav>
    }
}
