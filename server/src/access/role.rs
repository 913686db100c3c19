//! The role extractor every handler takes: `Signed<Admin>`, `Signed<Analyst>` or
//! `Signed<Anyone>` in a handler's arguments is the signed-in user with at least that
//! role, or the request is refused (401 or 403) before the handler runs. The check itself
//! is `app::auth::check`, the same one server functions use.

use app::auth::{Role, User, Viewer};
use app::error::WebError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::marker::PhantomData;

/// The least role a handler needs.
pub trait Needs {
    const ROLE: Role;
}

/// Any signed-in user (viewers included).
pub struct Anyone;
/// Analysts and admins.
pub struct Analyst;
/// Admins only.
pub struct Admin;

impl Needs for Anyone {
    const ROLE: Role = Role::Viewer;
}
impl Needs for Analyst {
    const ROLE: Role = Role::Analyst;
}
impl Needs for Admin {
    const ROLE: Role = Role::Admin;
}

/// The signed-in user, allowed what `R` needs, and the address the request came from
/// (for the audit log).
pub struct Signed<R: Needs> {
    pub user: User,
    pub client: String,
    role: PhantomData<R>,
}

impl<S: Send + Sync, R: Needs> FromRequestParts<S> for Signed<R> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, WebError> {
        let viewer = parts.extensions.get::<Viewer>().and_then(|v| v.0.as_ref());
        let user = app::auth::check(viewer, R::ROLE)?;
        Ok(Signed {
            user,
            client: super::client_of(&parts.extensions),
            role: PhantomData,
        })
    }
}
