//! Trails and costs: `cairn trails` (every trail with its findings), `cairn costs`
//! (a month's estimate) and the admins' price changes (`web`). The logic is shared with the pages, in `app::trails` and
//! `app::costs`; the delivery counts they read are kept by the import
//! (`ingest::deliveries`).

pub mod billing;
pub mod cli;
pub mod web;
