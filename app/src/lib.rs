//! Cairn's pages, components, server functions and the types they share.
#![recursion_limit = "256"]

pub mod aggregated;
pub mod alerts;
pub mod auth;
#[cfg(feature = "ssr")]
pub mod cache;
pub mod components;
pub mod costs;
pub mod coverage;
pub mod error;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod detect;
pub mod detections;
pub mod fmt;
pub mod incidents;
pub mod insights;
pub mod integrity;
pub mod model;
pub mod pages;
pub mod query;
pub mod schema;
pub mod selectors;
pub mod trail_change;
pub mod trails;
#[cfg(feature = "ssr")]
pub mod search;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Route, Router, Routes},
    path,
};

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <ContentSecurityPolicy/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// On the server, sends this page's Content-Security-Policy: scripts only from this site
/// or inline with this response's nonce (Leptos's hydration scripts), nothing framed.
#[component]
fn ContentSecurityPolicy() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let (Some(nonce), Some(res)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) {
        let policy = format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
             img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'"
        );
        if let Ok(v) = http::HeaderValue::from_str(&policy) {
            res.insert_header(http::header::CONTENT_SECURITY_POLICY, v);
        }
    }
}

/// The top bar's links and account; only for someone signed in. The user is known
/// synchronously on the server and handed to the browser with the page (a shared value),
/// so the top bar needs no resource of its own and no second suspense boundary.
#[component]
fn TopbarLinks() -> impl IntoView {
    let me = leptos::server::SharedValue::new(|| {
        #[cfg(feature = "ssr")]
        let user = auth::current_user().map(|u| {
            let open = use_context::<http::request::Parts>()
                .and_then(|p| p.extensions.get::<detections::OpenFindings>().copied())
                .map(|o| o.0)
                .unwrap_or(0);
            (u, open)
        });
        #[cfg(not(feature = "ssr"))]
        let user: Option<(auth::User, i64)> = None;
        user
    })
    .into_inner();
    me.map(|(u, open)| {
        let admin = u.can(auth::Role::Admin);
        view! {
            <nav class="topbar__nav" aria-label="Main">
                <a href="/">"Timeline"</a>
                <a href="/investigations">"Investigations"</a>
                <a href="/findings" data-testid="nav-findings">"Findings"
                    {(open > 0).then(|| {
                        let label = format!("{open} open");
                        view! { <span class="topbar__count" aria-label=label>{open.min(999).to_string()}</span> }
                    })}
                </a>
                <a href="/incidents">"Incidents"</a>
                <a href="/exfiltration">"Exfiltration"</a>
                <a href="/rules">"Rules"</a>
                <a href="/trails">"Trails"</a>
                <a href="/costs">"Costs"</a>
                {admin.then(|| view! { <a href="/admin/users">"Admin"</a> })}
            </nav>
            <div class="topbar__account">
                <span class="topbar__user" data-testid="signed-in-as">
                    {u.name.clone()}<span class="muted">" · "{u.role.as_str()}</span>
                </span>
                <form method="post" action="/auth/logout" class="topbar__logout">
                    <button type="submit" class="button">"Sign out"</button>
                </form>
            </div>
        }
    })
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="cairn" href="/pkg/cairn.css"/>
        <Title formatter=|t: String| if t.is_empty() { "Cairn".to_string() } else { format!("{t} · Cairn") }/>
        <Router>
            <header class="topbar">
                <a class="topbar__brand" href="/">"Cairn"</a>
                <TopbarLinks/>
            </header>
            <main class="page">
                <Routes fallback=pages::not_found::NotFound>
                    <Route path=path!("/") view=pages::timeline::TimelinePage ssr=SsrMode::Async/>
                    <Route path=path!("/events/:id") view=pages::event::EventPage ssr=SsrMode::Async/>
                    <Route path=path!("/investigations") view=pages::investigations::InvestigationsPage ssr=SsrMode::Async/>
                    <Route path=path!("/investigations/:id") view=pages::investigations::InvestigationPage ssr=SsrMode::Async/>
                    <Route path=path!("/principals/*key") view=pages::principal::PrincipalPage ssr=SsrMode::Async/>
                    <Route path=path!("/resources/*arn") view=pages::resource::ResourcePage ssr=SsrMode::Async/>
                    <Route path=path!("/ips/:addr") view=pages::address::AddressPage ssr=SsrMode::Async/>
                    <Route path=path!("/access-keys/:key") view=pages::address::AccessKeyPage ssr=SsrMode::Async/>
                    <Route path=path!("/findings") view=pages::findings::FindingsPage ssr=SsrMode::Async/>
                    <Route path=path!("/findings/:id") view=pages::findings::FindingPage ssr=SsrMode::Async/>
                    <Route path=path!("/compliance") view=pages::findings::CompliancePage ssr=SsrMode::Async/>
                    <Route path=path!("/incidents") view=pages::incidents::IncidentsPage ssr=SsrMode::Async/>
                    <Route path=path!("/incidents/:id") view=pages::incidents::IncidentPage ssr=SsrMode::Async/>
                    <Route path=path!("/rules") view=pages::rules::RulesPage ssr=SsrMode::Async/>
                    <Route path=path!("/rules/:id") view=pages::rules::RulePage ssr=SsrMode::Async/>
                    <Route path=path!("/trails") view=pages::trails::TrailsPage ssr=SsrMode::Async/>
                    <Route path=path!("/trails/*arn") view=pages::trails::TrailPage ssr=SsrMode::Async/>
                    <Route path=path!("/coverage") view=pages::coverage::CoveragePage ssr=SsrMode::Async/>
                    <Route path=path!("/costs") view=pages::costs::CostsPage ssr=SsrMode::Async/>
                    <Route path=path!("/exfiltration") view=pages::exfiltration::ExfiltrationPage ssr=SsrMode::Async/>
                    <Route path=path!("/top/:field") view=pages::top::TopAllPage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=pages::auth::LoginPage ssr=SsrMode::Async/>
                    <Route path=path!("/setup") view=pages::auth::SetupPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/users") view=pages::admin::UsersPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/audit") view=pages::admin::AuditLogPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/sources") view=pages::sources::SourcesPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/alerts") view=pages::alerts::AlertsPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/alerts/:id") view=pages::alerts::DestinationPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/sources/:name") view=pages::sources::SourcePage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}
