//! Read queries, one module per entity. Server-only.

pub mod admin;
pub mod events;
pub mod filter;
pub mod investigations;
pub mod principals;
pub mod resources;
pub mod sources;
pub mod terms;

use leptos::prelude::*;
use sqlx::SqlitePool;

/// The pool, provided to pages and server functions as context.
#[derive(Clone)]
pub struct Db(pub SqlitePool);

/// The pool from context.
pub fn pool() -> Result<SqlitePool, ServerFnError> {
    use_context::<Db>()
        .map(|d| d.0)
        .ok_or_else(|| ServerFnError::new("the database is not available"))
}

/// Logs a database error with its cause and returns an opaque one for the browser.
pub fn opaque(e: sqlx::Error) -> ServerFnError {
    tracing::error!(error = %e, "query failed");
    ServerFnError::new("the query failed; see the server log")
}
