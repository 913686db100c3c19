use crate::components::time_range::TimeRangeBar;
use crate::model::ResolvedRange;
use crate::query::{EventQuery, Field};
use leptos::prelude::*;

/// "Save as investigation": a plain form post (analysts and admins only see it).
#[component]
pub fn SaveView(query: EventQuery, #[prop(into)] back: String) -> impl IntoView {
    // A save refused (no title) comes back here saying why.
    let problem = leptos_router::hooks::use_query_map()
        .read_untracked()
        .get("problem");
    let refused = problem.is_some();
    view! {
        <details class="save-view" data-testid="save-view" open=refused>
            <summary>"Save as investigation"</summary>
            {problem.map(|p| view! { <p class="error-panel" role="alert">{p}</p> })}
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

/// The toolbar of a principal's or resource's page: time range, "Share link" (range
/// pinned) and, for those allowed, "Save as investigation" of the page's view, which is
/// the page's query filtered to `field = value`.
#[component]
pub fn EntityToolbar(
    query: EventQuery,
    range: ResolvedRange,
    #[prop(into)] path: String,
    field: Field,
    #[prop(into)] value: String,
    can_save: bool,
) -> impl IntoView {
    let base = query.with_cursor(None);
    let share_href = base.pinned(&range).href(&path);
    let save = can_save.then(|| {
        let saved = base.with_filter(field, &value, false);
        view! { <SaveView query=saved back=base.href(&path)/> }
    });
    view! {
        <div class="toolbar">
            <TimeRangeBar query=query.clone() resolved=range path=path.clone()/>
            <crate::pages::timeline::ShareLink href=share_href/>
        </div>
        {save}
    }
}
