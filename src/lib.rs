//! qfix: find and fix the kernel and service settings behind listen() backlog overflows.

pub mod apply;
pub mod blame;
pub mod cli;
pub mod edit;
pub mod error;
pub mod fuzz;
pub mod host;
pub mod kernel;
pub mod limits;
pub mod listing;
pub mod logs;
pub mod man;
pub mod observed;
pub mod output;
pub mod plan;
pub mod planfile;
pub mod policy;
pub mod root;
pub mod rules;
pub mod services;
pub mod snapshot;
pub mod sysctl;
pub mod tomlfile;
pub mod trace;
pub mod watch;
