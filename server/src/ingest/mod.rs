//! The ingest path: source → decode → normalise → store. See `pipeline` for the whole.

pub mod blocks;
pub mod cli;
pub mod decode;
pub mod deliveries;
pub mod dictionary;
pub mod envelope;
pub mod fixes;
pub mod normalize;
pub mod pipeline;
#[cfg(test)]
mod proptests;
pub mod record;
pub mod search_index;
pub mod source;
pub mod split;
pub mod store;
pub mod text;

pub use pipeline::{LocalFiles, Options, Source, Summary, run};
