//! `kernel-rejects-value`: a persisted value above what older kernels accept (they answer
//! EINVAL and boot leaves the default).

use serde::{Deserialize, Serialize};

use super::{Check, Context, Outcome, Rule, de, loc, Subject};
use crate::limits::Version;
use crate::sysctl::as_int;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(deserialize_with = "de::key")]
    pub key: String,
    /// The largest value those kernels take.
    pub max: i64,
    /// Kernels before this version reject larger values.
    #[serde(deserialize_with = "de::version")]
    pub kernel_below: Version,
}

impl Check for Params {
    fn eval<'s>(&self, rule: &Rule, cx: &Context<'s, '_>, out: &mut Outcome<'s>) {
        let (key, max, below) = (&self.key, self.max, self.kernel_below);
        let kernel = cx.kernel();
        if kernel.is_some_and(|k| k >= below) {
            return;
        }
        for a in cx.snap.boot.assignments_for(key) {
            if let Some(v) = as_int(&a.value).filter(|v| *v > max) {
                let why = match kernel {
                    Some(k) => format!(
                        "this kernel ({}.{}) rejects values above {max} with EINVAL",
                        k.0, k.1
                    ),
                    None => format!(
                        "kernels before {}.{} reject values above {max} with EINVAL, and this host's kernel is unknown",
                        below.0, below.1
                    ),
                };
                out.report(rule, Subject::Key(key), || (format!("{key} = {v}: {why}; boot fails to set it"),
                    vec![loc(&a.path, a.line)], ));
            }
        }
    }
}
