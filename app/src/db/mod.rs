//! The store's SQL, one module per table or family of tables: every read and write of a
//! table is in its module, so a schema change touches one file. Server-only.

pub mod alerts;
pub mod audit;
pub mod billed;
pub mod deliveries;
pub mod drivers;
pub mod events;
pub mod exfiltration;
pub mod filter;
pub mod findings;
pub mod incidents;
pub mod integrity;
pub mod investigations;
pub mod ledger;
pub mod prices;
pub mod principals;
pub mod resources;
pub mod retention;
pub mod rules;
pub mod sources;
pub mod terms;
pub mod trails;
pub mod users;

use leptos::prelude::*;
use sqlx::SqlitePool;

/// The pool, provided to pages and server functions as context.
#[derive(Clone)]
pub struct Db(pub SqlitePool);

/// How every transaction that writes begins: with the write lock taken at once. A
/// transaction begun plainly reads under a snapshot and asks for the lock at its first
/// write; when another connection has committed in between, SQLite cannot move the
/// snapshot on and fails at once with "database is locked", whatever the busy timeout. Begun
/// this way it waits its turn behind the other writer instead (`pool.begin_with(BEGIN_WRITE)`).
pub const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// The pool from context.
pub fn pool() -> Result<SqlitePool, ServerFnError> {
    use_context::<Db>()
        .map(|d| d.0)
        .ok_or_else(|| {
            crate::error::WebError::Unavailable("the database is not available".into()).into()
        })
}

/// [`opaque`] for the rule tables' errors.
pub fn opaque_rules(e: rules::RulesError) -> ServerFnError {
    crate::error::WebError::internal("reading the rules failed", e).into()
}

/// Logs a database error with its cause and returns an opaque one for the browser.
pub fn opaque(e: sqlx::Error) -> ServerFnError {
    crate::error::WebError::internal("query failed", e).into()
}
