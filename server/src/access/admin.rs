//! `POST /admin/users/{action}`: the Admin page's user changes (add, role, password,
//! remove), each in the audit log.

use super::users;
use super::signin::server_error;
use super::{AuthState, client_of};
use app::auth::{Role, User, Viewer};
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// The admin behind a form post, or the answer that refuses it.
pub fn admin_of(parts: &axum::http::request::Parts) -> Result<User, Response> {
    match parts.extensions.get::<Viewer>().and_then(|v| v.0.clone()) {
        None => Err((StatusCode::UNAUTHORIZED, "not signed in").into_response()),
        Some(u) if !u.can(Role::Admin) => {
            Err((StatusCode::FORBIDDEN, app::auth::FORBIDDEN).into_response())
        }
        Some(u) => Ok(u),
    }
}

#[derive(Deserialize)]
pub struct UserForm {
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

fn outcome(r: Result<&str, users::UserError>) -> Response {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    match r {
        Ok(done) => q.append_pair("done", done),
        Err(e) => q.append_pair("error", &e.to_string()),
    };
    Redirect::to(&format!("/admin/users?{}", q.finish())).into_response()
}

/// `POST /admin/users/{action}`: add, role, password, remove.
pub async fn manage_user(
    State(state): State<AuthState>,
    axum::extract::Path(action): axum::extract::Path<String>,
    parts: axum::http::request::Parts,
    Form(f): Form<UserForm>,
) -> Response {
    let admin = match admin_of(&parts) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let client = client_of(&parts.extensions);
    let name = f.name.trim();
    let role = Role::parse(&f.role);
    let (result, detail) = match (action.as_str(), role) {
        ("add", Some(role)) => (
            users::create(&state.pool, name, role, &f.password)
                .await
                .map(|_| "added"),
            format!("role {role}"),
        ),
        ("role", Some(role)) => (
            users::set_role(&state.pool, name, role)
                .await
                .map(|_| "role"),
            format!("role {role}"),
        ),
        ("add" | "role", None) => return (StatusCode::BAD_REQUEST, "unknown role").into_response(),
        ("password", _) => (
            users::set_password(&state.pool, name, &f.password)
                .await
                .map(|_| "password"),
            "password reset".into(),
        ),
        ("remove", _) => (
            users::remove(&state.pool, name).await.map(|_| "removed"),
            String::new(),
        ),
        _ => return (StatusCode::NOT_FOUND, "no such action").into_response(),
    };
    match &result {
        Ok(_) => {
            let action = format!("user.{action}");
            let detail = (!detail.is_empty()).then_some(detail.as_str());
            users::audit(
                &state.pool,
                Some(&admin.name),
                &action,
                Some(name),
                detail,
                Some(&client),
            )
            .await;
        }
        Err(users::UserError::Db(_) | users::UserError::Hash(_)) => {
            return server_error(result.err().map(|e| e.to_string()).unwrap_or_default());
        }
        Err(_) => {}
    }
    outcome(result)
}
