//! `stale-waiver`: a waiver (`[[accept]]` in the policy) that has expired or matches no
//! finding. Judged after every other rule (see `plan::waivers`), since "matches no finding"
//! needs them all; this kind itself reports nothing.

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Rule};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, _rule: &Rule, _cx: &Context<'s, '_>, _out: &mut Outcome<'s>) {}
}
