//! `POST /admin/users/{action}`: the Admin page's user changes (add, role, password,
//! remove), each with its audit line in the change's own transaction.

use super::users;
use super::{Admin, AuthState, Signed};
use app::auth::Role;
use app::db::audit::AuditLine;
use app::error::WebError;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct UserForm {
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

/// Back to the users page saying what was done, or what was wrong.
fn outcome(r: Result<&str, users::UserError>) -> Result<Response, WebError> {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    match r {
        Ok(done) => q.append_pair("done", done),
        Err(e @ (users::UserError::Db(_) | users::UserError::Hash(_))) => {
            return Err(WebError::internal("a user change failed", e));
        }
        Err(e) => q.append_pair("error", &e.to_string()),
    };
    Ok(Redirect::to(&format!("/admin/users?{}", q.finish())).into_response())
}

/// `POST /admin/users/{action}`: add, role, password, remove, each with its audit line
/// in the change's own transaction.
pub async fn manage_user(
    State(state): State<AuthState>,
    axum::extract::Path(action): axum::extract::Path<String>,
    Signed {
        user: admin,
        client,
        ..
    }: Signed<Admin>,
    Form(f): Form<UserForm>,
) -> Result<Response, WebError> {
    let pool = &state.pool;
    let name = f.name.trim();
    let role = Role::parse(&f.role);
    let actor = Some(admin.name.as_str());
    let line = AuditLine::new(actor, "", &client).target(name);
    let result = match (action.as_str(), role) {
        ("add", Some(role)) => {
            let detail = format!("role {role}");
            let line = line.action("user.add").detail(&detail);
            users::create(pool, name, role, &f.password, &line)
                .await
                .map(|_| "added")
        }
        ("role", Some(role)) => {
            let detail = format!("role {role}");
            let line = line.action("user.role").detail(&detail);
            users::set_role(pool, name, role, &line)
                .await
                .map(|_| "role")
        }
        ("add" | "role", None) => return Err(WebError::BadRequest("unknown role".into())),
        ("password", _) => {
            let line = line.action("user.password").detail("password reset");
            users::set_password(pool, name, &f.password, &line)
                .await
                .map(|_| "password")
        }
        ("remove", _) => {
            let line = line.action("user.remove");
            users::remove(pool, name, &line).await.map(|_| "removed")
        }
        _ => return Err(WebError::not_found("no such action")),
    };
    outcome(result)
}
