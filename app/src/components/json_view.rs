use leptos::prelude::*;

/// Pretty-printed JSON as text. Event content is hostile: it is only ever a text node.
#[component]
pub fn JsonView(#[prop(into)] label: String, text: String) -> impl IntoView {
    view! {
        <figure class="json-view">
            <figcaption class="json-view__label">{label}</figcaption>
            <pre class="json-view__code" tabindex="0"><code>{text}</code></pre>
        </figure>
    }
}
