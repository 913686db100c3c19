//! Components: take props, render, hold no SQL.

pub mod activity;
pub mod admin_nav;
pub mod empty_state;
pub mod episode;
pub mod error_panel;
pub mod events_table;
pub mod filter_bar;
pub mod json_view;
pub mod kpis;
pub mod pager;
pub mod save_view;
pub mod table_tools;
pub mod time_range;
pub mod timeline_chart;
pub mod top_list;
