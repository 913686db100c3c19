use leptos::prelude::*;

/// A failed panel: says so without blanking the page.
#[component]
pub fn ErrorPanel(message: String) -> impl IntoView {
    view! {
        <section class="error-panel" role="alert">
            <h2 class="error-panel__title">"Something went wrong"</h2>
            <p>{message}</p>
        </section>
    }
}
