//! Pages: each composes components and owns its server functions.

pub mod address;
pub mod admin;
pub mod alerts;
pub mod auth;
pub mod costs;
pub mod coverage;
pub mod event;
pub mod exfiltration;
pub mod findings;
pub mod incidents;
pub mod investigations;
pub mod not_found;
pub mod principal;
pub mod resource;
pub mod rules;
pub mod sources;
pub mod timeline;
pub mod trail_change;
pub mod top;
pub mod trails;
