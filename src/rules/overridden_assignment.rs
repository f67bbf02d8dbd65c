//! `overridden-assignment`: an explicit assignment that a later one replaces at boot.

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Rule, loc, Subject};
use crate::sysctl::is_glob;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        let boot = &cx.snap.boot;
        // an explicit key beating a glob is the usual way to make an exception: not a finding
        for key in boot.keys().iter().filter(|k| !is_glob(k)) {
            let Some(w) = boot.winner(key) else {
                continue;
            };
            for a in boot.explicit_for(key) {
                if a == w || a.value == w.value {
                    continue;
                }
                out.report(rule, Subject::Key(key), || (format!(
                        "{} = {} at {}:{} never takes effect: a later assignment {}:{} sets {}",
                        a.key, a.value, a.path, a.line, w.path, w.line, w.value
                    ),
                    vec![loc(&a.path, a.line), loc(&w.path, w.line)], ));
            }
        }
    }
}
