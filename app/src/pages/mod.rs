//! Pages: each composes components and owns its server functions.

pub mod event;
pub mod not_found;
pub mod timeline;
