//! Keeping a running Cairn: backups taken while it serves and syncs (`backup`), old
//! events removed as policy says (`retention`), and their verbs, `cairn backup` and
//! `cairn retain` (`cli`).

pub mod backup;
pub mod cli;
pub mod retention;
