//! `service-config-problem`: a service config qfix could not fully read (a malformed line, a
//! missing include).

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Rule, Subject};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        for p in &cx.snap.services.problems {
            out.report(rule, Subject::Host, || {
                (p.message.clone(), vec![p.location.clone()])
            });
        }
    }

    fn bad_input(&self) -> bool {
        true
    }
}
