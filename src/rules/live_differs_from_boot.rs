//! `live-differs-from-boot`: a persisted key whose live value is not what boot sets, so the
//! live value is lost at the next reboot.

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Rule, loc, Subject};
use crate::sysctl::{is_glob, norm_value, same_value};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        let Some(live) = &cx.snap.live else { return };
        let boot = &cx.snap.boot;
        let mut check = |k: &str| {
            let Some(w) = boot.winner(k) else { return };
            if let Some(now) = live.value(k).filter(|now| !same_value(now, &w.value)) {
                out.report(rule, Subject::Key(k), || (format!(
                        "{k} is {} live but boot sets {}: the live value is lost at the next reboot",
                        norm_value(now),
                        w.value
                    ),
                    vec![loc(&w.path, w.line)], ));
            }
        };
        for key in boot.keys() {
            if is_glob(key) {
                live.expand(key).iter().for_each(|k| check(k));
            } else {
                check(key);
            }
        }
    }
}
