//! mysql: not yet implemented.

use super::Scan;
use crate::host::Host;

pub fn scan(_host: &Host, _scan: &mut Scan) {}
