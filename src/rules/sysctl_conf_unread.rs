//! `sysctl-conf-unread`: /etc/sysctl.conf assigns keys but no 99-sysctl.conf link makes
//! systemd-sysctl read it.

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Rule, loc, Subject};
use crate::sysctl::file::{self, LineKind};

const PATH: &str = "/etc/sysctl.conf";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        if cx.snap.boot.reads_target(PATH) {
            return;
        }
        let Some(text) = &cx.snap.sysctl.sysctl_conf else {
            return;
        };
        let first = file::parse(text).into_iter().find_map(|l| match l.kind {
            LineKind::Assign(a) => Some((l.number, a.key)),
            _ => None,
        });
        if let Some((line, key)) = first {
            out.report(rule, Subject::Host, || (format!("{PATH} assigns {key} (and maybe more), but no /etc/sysctl.d/99-sysctl.conf link makes systemd-sysctl read it: boot ignores this file"),
                vec![loc(PATH, line)], ));
        }
    }
}
