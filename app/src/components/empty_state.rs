use leptos::prelude::*;

/// Nothing to show, said plainly, with what to do about it.
#[component]
pub fn EmptyState(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <section class="empty-state" aria-live="polite">
            <h2 class="empty-state__title">{title}</h2>
            <div class="empty-state__body">{children()}</div>
        </section>
    }
}
