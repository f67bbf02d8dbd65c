//! The integration tests: one binary, a module per area. They run the real `qfix` binary on
//! fixture trees and, where the tools exist, real daemons in private namespaces.

mod common;

mod ansible;
mod bad_input;
mod checker_apache;
mod checker_haproxy;
mod checker_nginx;
mod checker_phpfpm;
mod checker_redis;
mod daemons_vs_kernel;
mod evidence;
mod golden;
mod json_contract;
mod kernel_sockets;
mod kill_points;
mod listeners;
mod live_services;
mod logs;
mod oracle;
mod output;
mod plan_properties;
mod prompt;
mod robustness;
mod snapshot;
mod stock_checkers;
mod sysctl_plan;
mod waivers;
