//! Restarts: a running listener keeps the queue listen() gave it until it listens again, so
//! every change that alters a listener's queue names the restart (or reload) that makes it
//! take effect, with the change that calls for it.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::services::{Action, Listener};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct Restart {
    pub service: String,
    pub unit: String,
    pub action: Action,
    pub reason: String,
    /// Which change calls for it (a file path or a sysctl key), so an apply of only some
    /// changes lists only the restarts it made necessary.
    #[serde(default)]
    pub causes: Vec<Cause>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct Cause {
    /// The change that calls for it (a file path or a sysctl key); empty when the running
    /// process needs it whatever is applied (the kernel holds a stale queue).
    pub change: String,
    pub action: Action,
    pub reason: String,
}

impl Restart {
    fn from_causes(service: &str, unit: &str, causes: Vec<Cause>) -> Restart {
        let action = if causes.iter().any(|c| c.action == Action::Restart) {
            Action::Restart
        } else {
            Action::Reload
        };
        // a busy host has thousands of sockets per service: name a few, count the rest
        let reasons: Vec<&str> = causes.iter().map(|c| c.reason.as_str()).collect();
        let reason = if reasons.len() <= 4 {
            reasons.join("; ")
        } else {
            format!(
                "{}; and {} more",
                reasons[..3].join("; "),
                reasons.len() - 3
            )
        };
        Restart {
            service: service.into(),
            unit: unit.into(),
            action,
            reason,
            causes,
        }
    }

    /// This restart as far as the applied changes call for it (None: not at all).
    pub fn for_applied(&self, applied: &dyn Fn(&str) -> bool) -> Option<Restart> {
        let causes: Vec<Cause> = self
            .causes
            .iter()
            .filter(|c| c.change.is_empty() || applied(&c.change))
            .cloned()
            .collect();
        (!causes.is_empty()).then(|| Restart::from_causes(&self.service, &self.unit, causes))
    }

    pub fn verb(&self) -> &'static str {
        match self.action {
            Action::Restart => "restart",
            Action::Reload => "reload",
        }
    }
}

/// Restarts per unit, in the order units are first named, each reason once.
#[derive(Default)]
pub struct Restarts {
    units: Vec<(String, String, Vec<Cause>, HashSet<String>)>,
}

impl Restarts {
    pub fn add(&mut self, l: &Listener, change: &str, action: Action, reason: String) {
        let i = match self.units.iter().position(|u| u.1 == *l.unit) {
            Some(i) => i,
            None => {
                self.units.push((
                    l.service.to_string(),
                    l.unit.to_string(),
                    Vec::new(),
                    HashSet::new(),
                ));
                self.units.len() - 1
            }
        };
        let unit = &mut self.units[i];
        if unit.3.insert(reason.clone()) {
            unit.2.push(Cause {
                change: change.to_string(),
                action,
                reason,
            });
        }
    }

    /// Drop the restarts of units that are not running.
    pub fn drop_units(&mut self, stopped: &[&str]) {
        self.units.retain(|u| !stopped.contains(&u.1.as_str()));
    }

    pub fn finish(self) -> Vec<Restart> {
        self.units
            .into_iter()
            .map(|(service, unit, causes, _)| Restart::from_causes(&service, &unit, causes))
            .collect()
    }
}
