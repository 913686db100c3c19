//! Cairn's pages, components, server functions and the types they share.
#![recursion_limit = "256"]

pub mod components;
#[cfg(feature = "ssr")]
pub mod db;
pub mod fmt;
pub mod model;
pub mod pages;
pub mod query;
pub mod schema;

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
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
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
                <nav class="topbar__nav" aria-label="Main">
                    <a href="/">"Timeline"</a>
                </nav>
            </header>
            <main class="page">
                <Routes fallback=pages::not_found::NotFound>
                    <Route path=path!("/") view=pages::timeline::TimelinePage ssr=SsrMode::Async/>
                    <Route path=path!("/events/:id") view=pages::event::EventPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}
