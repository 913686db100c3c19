//! `/login` and `/setup`: plain HTML forms posted to the server, so they work the same
//! with and without WebAssembly.

use crate::auth::SignInOptions;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// How this server takes sign-ins. Anyone may ask: the sign-in page needs it.
#[server]
pub async fn get_sign_in_options() -> Result<SignInOptions, ServerFnError> {
    Ok(use_context::<SignInOptions>().unwrap_or_default())
}

fn login_error(code: &str, wait: Option<String>) -> Option<String> {
    let text = match code {
        "invalid" => "Wrong name or password.",
        "throttled" => {
            return Some(format!(
                "Too many failed sign-ins for this account or from this address. Try again in {} minute(s).",
                wait.filter(|w| w.chars().all(|c| c.is_ascii_digit()) && w.len() < 4)
                    .unwrap_or_else(|| "15".into())
            ));
        }
        "password-off" => "Sign-in with a password is turned off here. Use single sign-on.",
        "sso-refused" => {
            "Your account at the identity provider is in none of the groups allowed to use \
             Cairn, so you were not signed in. Ask whoever runs Cairn to add you to one."
        }
        "sso-state" => {
            "That sign-in could not be matched to one started in this browser: it was used \
             already, took too long, or came from elsewhere. Start again."
        }
        "sso-failed" => {
            "The identity provider's answer could not be verified, so you were not signed in. \
             Try again; if it keeps happening, tell whoever runs Cairn (the server's log says why)."
        }
        "sso-unavailable" => "The identity provider could not be reached. Try again in a moment.",
        "sso-denied" => "The identity provider did not sign you in.",
        "sso-name" => {
            "Another Cairn user already has the name the identity provider gives you. Ask an \
             admin to remove or rename that user."
        }
        _ => return None,
    };
    Some(text.to_owned())
}

/// The link that starts single sign-on, keeping the page to return to.
fn sso_start(next: &str) -> String {
    if next.is_empty() {
        return "/auth/oidc/start".into();
    }
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("next", next);
    format!("/auth/oidc/start?{}", q.finish())
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let q = use_query_map();
    let options = Resource::new(|| (), |_| get_sign_in_options());
    let next = move || q.read().get("next").unwrap_or_default();
    let error = move || {
        let q = q.read();
        login_error(&q.get("error").unwrap_or_default(), q.get("wait"))
    };
    let signed_out = move || q.read().get("signed_out").is_some();
    let password_form = move || {
        view! {
            <form class="auth__form" method="post" action="/auth/login">
                <input type="hidden" name="next" prop:value=next value=next/>
                <label for="login-name">"Name"</label>
                <input id="login-name" name="name" autocomplete="username" required autofocus/>
                <label for="login-password">"Password"</label>
                <input id="login-password" name="password" type="password" autocomplete="current-password" required/>
                <button type="submit" class="button button--primary">"Sign in"</button>
            </form>
        }
    };
    view! {
        <Title text="Sign in"/>
        <section class="auth card">
            <h1 class="auth__title">"Sign in to Cairn"</h1>
            {move || signed_out().then(|| view! { <p class="notice" role="status">"You are signed out."</p> })}
            {move || error().map(|e| view! { <p class="error-panel" role="alert" data-testid="login-error">{e}</p> })}
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let o = options.await.unwrap_or_default();
                    let sso = o.provider.clone().map(|name| {
                        view! {
                            <a class="button button--primary auth__sso" data-testid="sso-sign-in"
                                href=move || sso_start(&next())>
                                "Sign in with " {name}
                            </a>
                        }
                    });
                    let or = (o.provider.is_some() && o.password)
                        .then(|| view! { <p class="auth__or muted">"or with a name and password"</p> });
                    let password = if o.password {
                        password_form().into_any()
                    } else {
                        view! {
                            <p class="muted" data-testid="password-off">
                                "Sign-in with a password is turned off here."
                            </p>
                        }
                        .into_any()
                    };
                    view! { {sso} {or} {password} }
                })}
            </Suspense>
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
