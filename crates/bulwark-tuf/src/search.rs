//! The delegation search for a target (spec 1.0.34 §5.6.7): pre-order
//! depth-first, delegations in order of appearance (order is priority),
//! terminating delegations end the search, each role is visited at most once
//! (cycles), and at most a fixed number of roles are visited.
//!
//! The search is sans-IO: [`TargetSearch::next`] either answers or asks the
//! caller to load one role's metadata into the trusted set, then is called
//! again.
//!
//! ```text
//! caller ── next() ──▶ Found(target) | NotFound
//!    ▲                    │
//!    └── update_delegated_targets(bytes) ◀── Load { role, delegator }
//! ```

use std::collections::BTreeSet;

use crate::metadata::TargetFile;
use crate::names::RoleName;
use crate::refused::Refused;
use crate::trusted::TrustedSet;

/// The default cap on roles visited in one search.
pub const DEFAULT_MAX_ROLES: usize = 32;

/// One step of a target search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchStep {
    /// Load the metadata of `role`, delegated by `delegator`, into the trusted
    /// set (from local storage or the network), then call `next` again.
    Load {
        /// The role to load.
        role: RoleName,
        /// The role that delegates to it (`root` for `targets`).
        delegator: RoleName,
    },
    /// The target, as the first role in priority order that lists it describes it.
    Found {
        /// The role that lists the target.
        role: RoleName,
        /// The role whose delegation the search followed to `role`
        /// (`root` for `targets`): the one whose keys verified it.
        delegator: RoleName,
        /// Its description.
        target: TargetFile,
    },
    /// No trusted role lists the target (§5.7.2).
    NotFound,
}

/// A search for one target path.
#[derive(Debug)]
pub struct TargetSearch {
    path: String,
    stack: Vec<(RoleName, RoleName)>,
    visited: BTreeSet<RoleName>,
    remaining: usize,
}

impl TargetSearch {
    /// A search for `path` that visits at most `max_roles` roles.
    #[must_use]
    pub fn new(path: &str, max_roles: usize) -> Self {
        Self {
            path: path.to_owned(),
            stack: vec![(
                RoleName::new(RoleName::TARGETS),
                RoleName::new(RoleName::ROOT),
            )],
            visited: BTreeSet::new(),
            remaining: max_roles,
        }
    }

    /// Advances the search. A role that cannot be loaded ends the search:
    /// the caller reports the refusal and the target is not found (§5.6.7).
    pub fn next(&mut self, set: &mut TrustedSet) -> Result<SearchStep, Refused> {
        while let Some((role, delegator)) = self.stack.pop() {
            // §5.6.7.1: skip visited roles (cycles); stop at the cap.
            if self.visited.contains(&role) {
                continue;
            }
            if self.remaining == 0 {
                return Ok(SearchStep::NotFound);
            }
            if !set.ensure_verified_for(&role, &delegator)? {
                self.stack.push((role.clone(), delegator.clone()));
                return Ok(SearchStep::Load { role, delegator });
            }
            self.visited.insert(role.clone());
            self.remaining -= 1;
            let Some(metadata) = set.targets(&role) else {
                continue;
            };
            if let Some(target) = metadata.targets.get(&self.path) {
                return Ok(SearchStep::Found {
                    role,
                    delegator,
                    target: target.clone(),
                });
            }
            // §5.6.7.2: children in order of appearance; a terminating match
            // ends the search after it, so nothing else stays queued.
            let Some(delegations) = &metadata.delegations else {
                continue;
            };
            let mut children = Vec::new();
            for (child, terminating) in delegations.roles_for_target(&self.path) {
                children.push((child, role.clone()));
                if terminating {
                    self.stack.clear();
                    break;
                }
            }
            self.stack.extend(children.into_iter().rev());
        }
        Ok(SearchStep::NotFound)
    }
}
