#![recursion_limit = "256"]
//! The browser entry: hydrate the interactive islands of the server-rendered page.

// Links the app crate, whose `#[island]` components are the exports hydrated.
extern crate app;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
