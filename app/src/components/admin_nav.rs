//! The tabs of the administration pages, and what a form post redirected back to say.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The administration tabs, `current` marked as the page shown.
pub fn admin_nav(current: &'static str) -> impl IntoView {
    let link = move |href: &'static str, label: &'static str| {
        let here = (href == current).then_some("page");
        view! { <a href=href aria-current=here>{label}</a> }
    };
    view! {
        <nav class="subnav" aria-label="Administration">
            {link("/admin/users", "Users")}
            {link("/admin/sources", "Sources")}
            {link("/admin/alerts", "Alerts")}
            {link("/admin/audit", "Audit log")}
        </nav>
    }
}

/// The outcome a form post redirected back with: `?done=CODE` (its sentence from
/// `message`) or `?error=TEXT` (shown as text).
pub fn feedback(message: fn(&str) -> Option<&'static str>) -> impl IntoView {
    let q = use_query_map();
    let done = move || q.read().get("done").and_then(|d| message(&d));
    let error = move || q.read().get("error");
    view! {
        {move || done().map(|d| view! { <p class="notice" role="status">{d}</p> })}
        {move || error().map(|e| view! { <p class="error-panel" role="alert">{e}</p> })}
    }
}
