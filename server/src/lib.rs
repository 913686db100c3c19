//! The `cairn` server: command line, storage, the ingest pipelines and the web server.

pub mod auth;
pub mod aws;
pub mod bench;
pub mod cli;
pub mod db;
pub mod demo;
pub mod export;
pub mod ingest;
pub mod investigations;
pub mod search_index;
pub mod secrets;
pub mod source_cli;
pub mod sources;
pub mod sources_web;
pub mod sync;
pub mod users;
pub mod web;
