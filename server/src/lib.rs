//! The `cairn` server, one folder per product area, each holding its command-line verbs,
//! web handlers (form posts, downloads) and domain logic:
//!
//! - `access`: users, sessions, sign-in, the request guards and the role extractor;
//! - `ingest`: files in — source, decode, normalise, store — and the search index (the
//!   only writer of the event store);
//! - `sync`: AWS sources, their sealed secrets and clients, the sync feeds, the trail
//!   inventory, `/metrics`;
//! - `investigations`: saved views, pins and their history;
//! - `trails`: the trails with their findings, and what they cost;
//! - `detections`: rules run on every stored event and over history, and their findings;
//! - `anomalies`: exfiltration, sharing and Insights-style episodes, judged at import;
//! - `incidents`: findings told as one story per attacker;
//! - `maintenance`: backups of a running store;
//! - `demo`: generated events and the benchmark.
//!
//! `cli` and `web` wire the areas together; `db` opens the database. The SQL of every
//! table but the event store's is in `app::db`, one module per table, shared with the
//! pages that read it.
#![recursion_limit = "512"]

pub mod access;
pub mod alerts;
pub mod anomalies;
pub mod cli;
pub mod db;
pub mod demo;
pub mod detections;
pub mod incidents;
pub mod ingest;
pub mod investigations;
pub mod maintenance;
pub mod sync;
pub mod trails;
pub mod web;
