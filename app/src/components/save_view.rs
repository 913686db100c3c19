use crate::query::EventQuery;
use leptos::prelude::*;

/// "Save as investigation": a plain form post (analysts and admins only see it).
#[component]
pub fn SaveView(query: EventQuery, #[prop(into)] back: String) -> impl IntoView {
    view! {
        <details class="save-view" data-testid="save-view">
            <summary>"Save as investigation"</summary>
            <form method="post" action="/investigations/new" class="save-view__form">
                <input type="hidden" name="query" value=query.to_query()/>
                <input type="hidden" name="back" value=back/>
                <label>"Title" <input type="text" name="title" required maxlength="200"/></label>
                <label>"Notes" <textarea name="notes" rows="3" maxlength="20000"></textarea></label>
                <p class="muted">"The view is saved with its time range fixed, so the link shows the same events to anyone who opens it."</p>
                <button type="submit">"Save"</button>
            </form>
        </details>
    }
}
