//! Who is asking, and what they may do. The server's session layer resolves the signed-in
//! user for every request and attaches it to the request; every server function checks
//! it here itself, whatever the route in front of it already checked.

use crate::error::WebError;
use serde::{Deserialize, Serialize};

/// What a person may do. Ordered: each role can do everything the ones below it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Read only.
    Viewer,
    /// Read, search, export, create and edit investigations.
    Analyst,
    /// Everything, including users, data sources and changes on the AWS side.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Analyst, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "analyst" => Some(Role::Analyst),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Role::Viewer => "reads everything, changes nothing",
            Role::Analyst => "reads, searches, exports, works on investigations",
            Role::Admin => "everything, including users and data sources",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The signed-in user, as attached to each request by the session layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

impl User {
    pub fn can(&self, role: Role) -> bool {
        self.role >= role
    }
}

/// How people may sign in, for the sign-in page: the single sign-on provider's name
/// (when there is one) and whether local passwords are taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInOptions {
    pub provider: Option<String>,
    pub password: bool,
}

impl Default for SignInOptions {
    fn default() -> Self {
        SignInOptions {
            provider: None,
            password: true,
        }
    }
}

/// What the session layer found for a request: `None` inside means nobody is signed in.
#[derive(Debug, Clone)]
pub struct Viewer(pub Option<User>);

/// The one role check, for server functions (`require`) and the server's handlers (the
/// role extractor) alike: the user when someone is signed in with at least `role`.
pub fn check(viewer: Option<&User>, role: Role) -> Result<User, WebError> {
    match viewer {
        None => Err(WebError::NotSignedIn),
        Some(u) if !u.can(role) => Err(WebError::Forbidden),
        Some(u) => Ok(u.clone()),
    }
}

#[cfg(feature = "ssr")]
mod server {
    use super::*;
    use leptos::prelude::*;

    /// The user behind the current request, as the session layer resolved it.
    pub fn current_user() -> Option<User> {
        use_context::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<Viewer>().cloned())
            .and_then(|v| v.0)
    }

    /// Whether the current user's role is at least `role` (false when signed out).
    pub fn may(role: Role) -> bool {
        current_user().is_some_and(|u| u.can(role))
    }

    /// The current user when their role is at least `role`; an error (and a 401 or
    /// 403 status) otherwise.
    pub fn require(role: Role) -> Result<User, ServerFnError> {
        Ok(check(current_user().as_ref(), role)?)
    }
}

#[cfg(feature = "ssr")]
pub use server::{current_user, may, require};
