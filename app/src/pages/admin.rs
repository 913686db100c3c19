//! `/admin/users` and `/admin/audit`: for admins only (checked by each server function).
//! Changes are plain form posts to `/admin/users/{action}`, which answer with a redirect
//! back here carrying what happened.

use crate::auth::Role;
use crate::components::error_panel::ErrorPanel;
use crate::fmt;
use crate::model::{AuditPage, UserEntry};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[server]
pub async fn list_users() -> Result<Vec<UserEntry>, ServerFnError> {
    crate::auth::require(Role::Admin)?;
    let pool = crate::db::pool()?;
    crate::db::users::list(&pool)
        .await
        .map_err(crate::db::opaque)
}

#[server]
pub async fn list_audit(before: Option<i64>) -> Result<AuditPage, ServerFnError> {
    const AUDIT_PAGE: i64 = 100;
    crate::auth::require(Role::Admin)?;
    let pool = crate::db::pool()?;
    let mut entries = crate::db::audit::read_lines(&pool, before, AUDIT_PAGE + 1)
        .await
        .map_err(crate::db::opaque)?;
    let more = entries.len() as i64 > AUDIT_PAGE;
    entries.truncate(AUDIT_PAGE as usize);
    let next_before = if more {
        entries.last().map(|e| e.id)
    } else {
        None
    };
    Ok(AuditPage {
        entries,
        next_before,
    })
}

fn done_message(code: &str) -> Option<&'static str> {
    match code {
        "added" => Some("User added."),
        "role" => Some("Role changed. That user signs in again."),
        "password" => Some("Password set. That user's sessions have ended."),
        "removed" => Some("User removed."),
        _ => None,
    }
}

fn role_options(selected: &str) -> impl IntoView + use<> {
    Role::ALL
        .iter()
        .map(|r| {
            let v = r.as_str();
            let chosen = v == selected;
            view! { <option value=v selected=chosen>{v}</option> }
        })
        .collect_view()
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let q = use_query_map();
    let data = Resource::new(|| (), |_| list_users());
    let done = move || q.read().get("done").and_then(|d| done_message(&d));
    let error = move || q.read().get("error");
    view! {
        <Title text="Users"/>
        <h1 class="page__title">"Users"</h1>
        {crate::components::admin_nav::admin_nav("/admin/users")}
        {move || done().map(|d| view! { <p class="notice" role="status">{d}</p> })}
        {move || error().map(|e| view! { <p class="error-panel" role="alert">{e}</p> })}
        <Suspense fallback=|| view! { <p class="loading">"Loading users…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(users) => view! { <UsersTable users/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
        <section class="card">
            <h2>"Add a user"</h2>
            <form class="inline-form" method="post" action="/admin/users/add">
                <label>"Name " <input name="name" required maxlength="64" autocomplete="off"/></label>
                <label>"Role " <select name="role">{role_options("viewer")}</select></label>
                <label>"Password " <input name="password" type="password" required minlength="10" autocomplete="new-password"/></label>
                <button type="submit" class="button button--primary">"Add user"</button>
            </form>
            <ul class="muted">
                {Role::ALL.iter().map(|r| view! { <li><strong>{r.as_str()}</strong>": "{r.describe()}</li> }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn UsersTable(users: Vec<UserEntry>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data-table" data-testid="users-table">
                <thead>
                    <tr><th>"Name"</th><th>"Role"</th><th>"Signs in with"</th><th>"Created"</th><th>"Last sign-in"</th><th>"Change"</th></tr>
                </thead>
                <tbody>
                    {users
                        .into_iter()
                        .map(|u| {
                            let (n1, n2, n3) = (u.name.clone(), u.name.clone(), u.name.clone());
                            view! {
                                <tr>
                                    <td class="cell-wrap">{u.name.clone()}</td>
                                    <td>{u.role.clone()}</td>
                                    <td>{if u.single_sign_on {
                                        "single sign-on (role from groups at each sign-in)"
                                    } else {
                                        "password"
                                    }}</td>
                                    <td>{fmt::time(u.created_at)}</td>
                                    <td>{u.last_login_at.map(fmt::time).unwrap_or_else(|| "never".into())}</td>
                                    <td><div class="row-actions">
                                        <form method="post" action="/admin/users/role">
                                            <input type="hidden" name="name" value=n1/>
                                            <select name="role" aria-label="Role">{role_options(&u.role)}</select>
                                            <button type="submit" class="button">"Set role"</button>
                                        </form>
                                        <form method="post" action="/admin/users/password">
                                            <input type="hidden" name="name" value=n2/>
                                            <input name="password" type="password" minlength="10" required
                                                aria-label="New password" placeholder="new password" autocomplete="new-password"/>
                                            <button type="submit" class="button">"Set password"</button>
                                        </form>
                                        <form method="post" action="/admin/users/remove">
                                            <input type="hidden" name="name" value=n3/>
                                            <button type="submit" class="button button--danger">"Remove"</button>
                                        </form>
                                    </div></td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let q = use_query_map();
    let before = Memo::new(move |_| q.read().get("before").and_then(|b| b.parse::<i64>().ok()));
    let data = Resource::new(move || before.get(), list_audit);
    view! {
        <Title text="Audit log"/>
        <h1 class="page__title">"Audit log"</h1>
        {crate::components::admin_nav::admin_nav("/admin/audit")}
        <p class="muted">"Sign-ins, failed sign-ins, user and role changes, exports and sharing, newest first."</p>
        <Suspense fallback=|| view! { <p class="loading">"Loading the audit log…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) => view! { <AuditTable page/> }.into_any(),
                    Err(e) => view! { <ErrorPanel message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AuditTable(page: AuditPage) -> impl IntoView {
    let next = page.next_before.map(|b| format!("/admin/audit?before={b}"));
    view! {
        <div class="table-wrap">
            <table class="data-table" data-testid="audit-table">
                <thead>
                    <tr><th>"Time (UTC)"</th><th>"Who"</th><th>"What"</th><th>"On"</th><th>"Detail"</th><th>"From"</th></tr>
                </thead>
                <tbody>
                    {page
                        .entries
                        .into_iter()
                        .map(|e| {
                            view! {
                                <tr>
                                    <td class="nowrap">{fmt::time(e.at)}</td>
                                    <td class="cell-wrap">{e.actor.unwrap_or_else(|| "—".into())}</td>
                                    <td>{e.action}</td>
                                    <td class="cell-wrap">{e.target.unwrap_or_default()}</td>
                                    <td class="cell-wrap">{e.detail.unwrap_or_default()}</td>
                                    <td>{e.client.unwrap_or_default()}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        {next.map(|href| view! { <nav class="pager"><a class="pager__link" href=href>"Older →"</a></nav> })}
    }
}
