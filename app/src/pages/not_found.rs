use leptos::prelude::*;
use leptos_meta::Title;

/// Sets a real 404 status when rendered on the server.
pub fn set_not_found() {
    #[cfg(feature = "ssr")]
    if let Some(r) = use_context::<leptos_axum::ResponseOptions>() {
        r.set_status(crate::error::WebError::not_found("").status());
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    set_not_found();
    view! {
        <Title text="Not found"/>
        <section class="empty-state">
            <h1>"Not found"</h1>
            <p>"There is no page at this address. " <a href="/">"Go to the timeline"</a></p>
        </section>
    }
}
