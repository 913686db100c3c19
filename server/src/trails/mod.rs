//! Trails and costs: `cairn trails` (every trail with its findings) and `cairn costs`
//! (a month's estimate). The logic is shared with the pages, in `app::trails` and
//! `app::costs`; the delivery counts they read are kept by the import
//! (`ingest::deliveries`).

pub mod cli;
