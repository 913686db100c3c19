//! The `cairn` server, one folder per product area, each holding its command-line verbs,
//! web handlers (form posts, downloads), domain logic and the SQL of its tables:
//!
//! - `access`: users, sessions, sign-in and the request guards, the audit log;
//! - `ingest`: files in — source, decode, normalise, store — and the search index;
//! - `sync`: AWS sources, their sealed secrets and clients, the sync feeds;
//! - `investigations`: saved views, pins and their history;
//! - `demo`: generated events and the benchmark.
//!
//! `cli` and `web` only wire the areas together; `db` opens the database.

pub mod access;
pub mod cli;
pub mod db;
pub mod demo;
pub mod ingest;
pub mod investigations;
pub mod sync;
pub mod web;
