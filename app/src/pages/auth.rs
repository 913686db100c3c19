//! `/login` and `/setup`: plain HTML forms posted to the server, so they work the same
//! with and without WebAssembly.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

fn login_error(code: &str, wait: Option<String>) -> Option<String> {
    match code {
        "invalid" => Some("Wrong name or password.".into()),
        "throttled" => Some(format!(
            "Too many failed sign-ins for this account or from this address. Try again in {} minute(s).",
            wait.filter(|w| w.chars().all(|c| c.is_ascii_digit()) && w.len() < 4)
                .unwrap_or_else(|| "15".into())
        )),
        _ => None,
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let q = use_query_map();
    let next = move || q.read().get("next").unwrap_or_default();
    let error = move || {
        let q = q.read();
        login_error(&q.get("error").unwrap_or_default(), q.get("wait"))
    };
    let signed_out = move || q.read().get("signed_out").is_some();
    view! {
        <Title text="Sign in"/>
        <section class="auth card">
            <h1 class="auth__title">"Sign in to Cairn"</h1>
            {move || signed_out().then(|| view! { <p class="notice" role="status">"You are signed out."</p> })}
            {move || error().map(|e| view! { <p class="error-panel" role="alert" data-testid="login-error">{e}</p> })}
            <form class="auth__form" method="post" action="/auth/login">
                <input type="hidden" name="next" prop:value=next value=next/>
                <label for="login-name">"Name"</label>
                <input id="login-name" name="name" autocomplete="username" required autofocus/>
                <label for="login-password">"Password"</label>
                <input id="login-password" name="password" type="password" autocomplete="current-password" required/>
                <button type="submit" class="button button--primary">"Sign in"</button>
            </form>
        </section>
    }
}

#[component]
pub fn SetupPage() -> impl IntoView {
    let q = use_query_map();
    let error = move || {
        match q.read().get("error").as_deref() {
        Some("mismatch") => Some("The two passwords differ.".to_string()),
        Some("name") => Some(
            "A name is 1 to 64 characters, with no control characters and no leading or trailing space.".to_string(),
        ),
        Some("password") => Some("A password is 10 to 1024 characters.".to_string()),
        _ => None,
    }
    };
    view! {
        <Title text="Create the first admin"/>
        <section class="auth card">
            <h1 class="auth__title">"Create the first admin"</h1>
            <p>
                "Cairn has no users yet. The account you create now can add others and "
                "choose what each may do. This page disappears once it exists."
            </p>
            {move || error().map(|e| view! { <p class="error-panel" role="alert">{e}</p> })}
            <form class="auth__form" method="post" action="/auth/setup">
                <label for="setup-name">"Name"</label>
                <input id="setup-name" name="name" autocomplete="username" required maxlength="64" autofocus/>
                <label for="setup-password">"Password (10 characters or more)"</label>
                <input id="setup-password" name="password" type="password" autocomplete="new-password" required minlength="10"/>
                <label for="setup-confirm">"Password again"</label>
                <input id="setup-confirm" name="confirm" type="password" autocomplete="new-password" required minlength="10"/>
                <button type="submit" class="button button--primary">"Create admin and sign in"</button>
            </form>
            <p class="muted">"From a shell: " <code>"cairn user add NAME --role admin"</code></p>
        </section>
    }
}
