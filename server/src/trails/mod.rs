//! Trails and costs: `cairn trails` (every trail with its findings), `cairn costs`
//! (a month's estimate), the admins' price changes (`web`) and trail changes (`change`), the integrity checks of the delivered logs (`verify`). The logic is shared with the pages, in `app::trails` and
//! `app::costs`; the delivery counts they read are kept by the import
//! (`ingest::deliveries`).

pub mod billing;
pub mod change;
pub mod cli;
pub mod verify;
pub mod web;
