//! `listen-refused-above-somaxconn`: a service that refuses to start when its backlog is above
//! somaxconn (uWSGI on Linux).

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Rule};
use crate::limits::SOMAXCONN;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        super::backlog_exceeds_somaxconn::judge(rule, cx, out, true);
    }

    fn proposes(&self) -> bool {
        true
    }

    fn live_keys(&self) -> Vec<String> {
        vec![SOMAXCONN.into()]
    }
}
