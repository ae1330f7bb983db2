//! `GET /status/`: the repository's health. Every top-level role with its
//! version, expiry, time left, keys and threshold (`root`, `timestamp`,
//! `snapshot`, `targets`, and the roles `targets` delegates to: `claimed`,
//! `recently-claimed` and `unclaimed`, the delegator of the hashed bins);
//! the bins and claim bins summarised; this server's last publish run
//! ([`crate::publisher::PublishStats`]) and the queue.
//!
//! Versions and expiry come from the role records the publisher committed
//! (root from the installed root chain, which the publisher never signs);
//! keys and thresholds from the installed offline metadata
//! ([`bulwark_repo::ceremony::Current`]), verified as the publisher reads it.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bulwark_http::{ApiError, blocking};
use bulwark_layout as layout;
use bulwark_repo::Policy;
use bulwark_repo::ceremony::Current;
use bulwark_store::RoleRecord;
use bulwark_tuf::delegation::DelegatedRoles;
use bulwark_tuf::metadata::RoleKeys;
use bulwark_tuf::names::RoleName;
use bulwark_tuf::time::Timestamp;

use super::format;
use crate::AppState;
use crate::publisher::PublishSnapshot;

/// Less time left than this always warns: an online role is re-signed
/// with 12 hours left, so 6 means the publisher has not run for hours.
pub const WARN_SECONDS: i64 = 6 * 3_600;

/// One role's row.
#[derive(Debug, PartialEq, Eq)]
pub struct RoleRow {
    /// The role.
    pub name: String,
    /// Online (the server's key) or offline.
    pub signer: &'static str,
    /// Its version.
    pub version: u64,
    /// When it expires.
    pub expires: String,
    /// Time left.
    pub left: String,
    /// Near expiry ([`near_expiry`]).
    pub warn: bool,
    /// The keys that may sign it.
    pub keyids: Vec<String>,
    /// How many must.
    pub threshold: Option<u64>,
}

/// A group of bins.
#[derive(Debug, PartialEq, Eq)]
pub struct GroupRow {
    /// Their names, `bin-*` and so on.
    pub pattern: String,
    /// How many.
    pub count: usize,
    /// Their lowest and highest version.
    pub versions: String,
    /// The earliest expiry among them.
    pub earliest: String,
    /// Time left until it.
    pub left: String,
    /// Near expiry.
    pub warn: bool,
    /// The keys that may sign them (for the hashed bins, from
    /// `unclaimed`'s succinct delegation).
    pub keyids: Vec<String>,
    /// How many must.
    pub threshold: Option<u64>,
}

/// The last publish run as shown.
struct RunView {
    when: String,
    duration: String,
    pages: usize,
    roles: usize,
    version: u64,
    delay: String,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusView {
    query: &'static str,
    now: String,
    offline_problem: Option<String>,
    roles: Vec<RoleRow>,
    groups: Vec<GroupRow>,
    last_run: Option<RunView>,
    runs: String,
    queue: String,
}

/// The lifetime the default [`Policy`] gives `role`, seconds.
fn lifetime(role: &str) -> i64 {
    let policy = Policy::default();
    if Policy::is_online(role) {
        policy.online_expiry
    } else if role == layout::CLAIMED || layout::claim_bin_of_role(layout::CLAIMED, role).is_some()
    {
        policy.claimed_expiry
    } else {
        policy.offline_expiry
    }
}

/// Whether `role` with `left` seconds to live should be renewed soon: less
/// than [`WARN_SECONDS`] or a quarter of its lifetime under the default
/// policy.
#[must_use]
pub fn near_expiry(role: &str, left: i64) -> bool {
    left < WARN_SECONDS || left < lifetime(role) / 4
}

/// The rows of the top-level roles, in the order of the TUF spec: `root`
/// (from `current`, it has no role record), `timestamp`, `snapshot`,
/// `targets`, then the roles `targets` delegates to.
#[must_use]
pub fn role_rows(
    records: &[RoleRecord],
    current: Option<&Current>,
    now: Timestamp,
) -> Vec<RoleRow> {
    let root_keys = |name: &str| current.and_then(|c| c.root.signed.role(name)).cloned();
    let delegated = |name: &str| {
        current?
            .targets
            .signed
            .delegated_role_keys(&RoleName::new(name))
            .cloned()
    };
    let row = |name: &str, version: u64, expires: i64, keys: Option<RoleKeys>| {
        let left = expires.saturating_sub(now.unix());
        RoleRow {
            name: name.to_owned(),
            signer: if Policy::is_online(name) {
                "online key"
            } else {
                "offline keys"
            },
            version,
            expires: format::time_s(expires),
            left: format::duration(left),
            warn: near_expiry(name, left),
            keyids: keys.as_ref().map(|k| k.keyids.clone()).unwrap_or_default(),
            threshold: keys.map(|k| k.threshold),
        }
    };
    let mut rows = Vec::new();
    if let Some(current) = current {
        let common = &current.root.signed.common;
        rows.push(row(
            "root",
            common.version,
            common.expires.unix(),
            root_keys("root"),
        ));
    }
    for name in ["timestamp", "snapshot", "targets"] {
        if let Some(r) = records.iter().find(|r| r.role == name) {
            rows.push(row(name, r.version, r.expires, root_keys(name)));
        }
    }
    for name in [layout::CLAIMED, layout::RECENTLY_CLAIMED, layout::UNCLAIMED] {
        if let Some(r) = records.iter().find(|r| r.role == name) {
            rows.push(row(name, r.version, r.expires, delegated(name)));
        }
    }
    rows
}

/// Which group of bins `role` belongs to: 0 for the hashed bins, 1 for the
/// claim bins of `recently-claimed`, 2 for those of `claimed`.
fn group_of(role: &str) -> Option<usize> {
    if role
        .strip_prefix(layout::BIN_PREFIX)
        .is_some_and(|rest| rest.starts_with('-'))
    {
        Some(0)
    } else if layout::claim_bin_of_role(layout::RECENTLY_CLAIMED, role).is_some() {
        Some(1)
    } else if layout::claim_bin_of_role(layout::CLAIMED, role).is_some() {
        Some(2)
    } else {
        None
    }
}

/// The hashed bins (`bin-*`, keys from `unclaimed`'s succinct delegation)
/// and the claim bins of each tier, summarised.
#[must_use]
pub fn group_rows(records: &[RoleRecord], now: Timestamp) -> Vec<GroupRow> {
    let patterns = [
        layout::BIN_PREFIX,
        layout::RECENTLY_CLAIMED,
        layout::CLAIMED,
    ]
    .map(|prefix| format!("{prefix}-*"));
    patterns
        .into_iter()
        .enumerate()
        .filter_map(|(group, pattern)| {
            let members: Vec<&RoleRecord> = records
                .iter()
                .filter(|r| group_of(&r.role) == Some(group))
                .collect();
            let earliest = members.iter().min_by_key(|r| r.expires)?;
            let low = members.iter().map(|r| r.version).min()?;
            let high = members.iter().map(|r| r.version).max()?;
            let left = earliest.expires.saturating_sub(now.unix());
            Some(GroupRow {
                pattern,
                count: members.len(),
                versions: if low == high {
                    low.to_string()
                } else {
                    format!("{low}–{high}")
                },
                earliest: format::time_s(earliest.expires),
                left: format::duration(left),
                warn: near_expiry(&earliest.role, left),
                keyids: Vec::new(),
                threshold: None,
            })
        })
        .collect()
}

/// Whether `current`'s `unclaimed` delegates to succinct hashed bins, and
/// with which keys: shown on the bins' row.
fn bin_keys(current: &Current) -> Option<&RoleKeys> {
    match &current.unclaimed.signed.delegations.as_ref()?.roles {
        DelegatedRoles::Succinct(succinct) => Some(&succinct.keys),
        DelegatedRoles::List(_) => None,
    }
}

/// What the publisher did, as shown.
fn run_view(stats: &PublishSnapshot) -> Option<RunView> {
    let run = stats.last.as_ref()?;
    Some(RunView {
        when: format::time_us(run.finished_us),
        duration: format::duration_us(run.micros),
        pages: run.pages,
        roles: run.roles_signed,
        version: run.version,
        delay: match (run.max_delay_us, stats.last_delay) {
            (Some(us), _) => format!("at most {}", format::duration_us(us)),
            (None, Some(earlier)) => format!(
                "no upload in this run; at most {} in the run that finished at {}",
                format::duration_us(earlier.max_us),
                format::time_us(earlier.finished_us)
            ),
            (None, None) => "no upload published yet".to_owned(),
        },
    })
}

/// `GET /status/`.
pub async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (store, blobs) = (state.store.clone(), state.blobs.clone());
    let now = bulwark_repo::clock::now();
    let (records, queue, current) = blocking(move || {
        let current = Current::load(blobs.as_ref(), now);
        Ok::<_, bulwark_store::StoreError>((store.roles()?, store.pending_changes()?, current))
    })
    .await
    .map_err(|e| ApiError::internal("reading the roles", &e))?;
    let (current, offline_problem) = match current {
        Ok(Some(current)) => (Some(current), None),
        Ok(None) => (
            None,
            Some("The repository has no root metadata yet.".to_owned()),
        ),
        Err(e) => {
            tracing::error!("status page: cannot read the offline metadata: {e}");
            (
                None,
                Some("The installed offline metadata cannot be read (see the server log): keys and thresholds are not shown.".to_owned()),
            )
        }
    };
    let mut groups = group_rows(&records, now);
    let bins = groups
        .iter_mut()
        .find(|g| g.pattern.starts_with(layout::BIN_PREFIX));
    if let (Some(bins), Some(keys)) = (bins, current.as_ref().and_then(bin_keys)) {
        bins.keyids.clone_from(&keys.keyids);
        bins.threshold = Some(keys.threshold);
    }
    let publishing = state.metrics.publish.snapshot();
    let view = StatusView {
        query: "",
        now: now.to_string(),
        offline_problem,
        roles: role_rows(&records, current.as_ref(), now),
        groups,
        last_run: run_view(&publishing),
        runs: format!(
            "{} published, {} with nothing to publish, {} failed",
            publishing.published, publishing.idle, publishing.failed
        ),
        queue: match queue.projects.len() {
            0 => "empty: everything accepted is signed".to_owned(),
            1 => "1 project with changes waiting for the next publish run".to_owned(),
            n => format!("{n} projects with changes waiting for the next publish run"),
        },
    };
    super::respond(StatusCode::OK, &view)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(role: &str, version: u64, expires: i64) -> RoleRecord {
        RoleRecord {
            role: role.to_owned(),
            version,
            expires,
            length: 1,
            sha256: "00".repeat(32),
        }
    }

    #[test]
    fn near_expiry_is_a_quarter_of_the_lifetime_or_six_hours() {
        // Online roles live a day: a quarter is 6 h.
        assert!(!near_expiry("timestamp", 12 * 3_600));
        assert!(near_expiry("timestamp", 6 * 3_600 - 1));
        assert!(near_expiry("bin-0a", 60));
        // Offline roles live a year: warn with less than ~91 days.
        assert!(!near_expiry("root", 200 * 86_400));
        assert!(near_expiry("root", 90 * 86_400));
        assert!(near_expiry("targets", -1));
        // claimed lives 30 days.
        assert!(!near_expiry("claimed", 20 * 86_400));
        assert!(near_expiry("claimed", 7 * 86_400));
    }

    fn report(version: u64, max_delay_us: Option<u64>) -> bulwark_repo::PublishReport {
        bulwark_repo::PublishReport {
            version,
            up_to_change: version,
            pages: 2,
            roles_signed: 5,
            micros: 1_500,
            delays_us: max_delay_us.into_iter().collect(),
        }
    }

    #[test]
    fn the_last_run_keeps_the_delay_of_the_last_upload() {
        let stats = crate::publisher::PublishStats::default();
        assert!(run_view(&stats.snapshot()).is_none());
        stats.record_published(&report(3, Some(2_000_000)), 1_750_000_000_000_000);
        let run = run_view(&stats.snapshot()).unwrap();
        assert_eq!(run.delay, "at most 2000 ms");
        assert_eq!(run.duration, "1 ms");
        assert_eq!((run.pages, run.roles, run.version), (2, 5, 3));
        stats.record_published(&report(4, None), 1_750_000_060_000_000);
        stats.record_idle();
        stats.record_failed();
        let snapshot = stats.snapshot();
        assert_eq!(
            (snapshot.published, snapshot.idle, snapshot.failed),
            (2, 1, 1)
        );
        let run = run_view(&snapshot).unwrap();
        assert_eq!(run.version, 4);
        assert_eq!(
            run.delay,
            "no upload in this run; at most 2000 ms in the run that finished at 2025-06-15T15:06:40Z"
        );
    }

    #[test]
    fn rows_follow_the_spec_order_and_warn() {
        let now = Timestamp::from_unix(1_000_000);
        let records = [
            record("bin-00", 3, 1_000_000 + 80_000),
            record("bin-01", 4, 1_000_000 + 100),
            record("snapshot", 4, 1_000_000 + 80_000),
            record("timestamp", 4, 1_000_000 + 3_600),
            record("targets", 1, 1_000_000 + 300 * 86_400),
            record("unclaimed", 1, 1_000_000 + 300 * 86_400),
            record("recently-claimed", 4, 1_000_000 + 80_000),
            record("claimed", 1, 1_000_000 + 29 * 86_400),
            record("recently-claimed-3f", 2, 1_000_000 + 80_000),
        ];
        let rows = role_rows(&records, None, now);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "timestamp",
                "snapshot",
                "targets",
                "claimed",
                "recently-claimed",
                "unclaimed"
            ]
        );
        let warned: Vec<&str> = rows
            .iter()
            .filter(|r| r.warn)
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(warned, ["timestamp"]);
        assert_eq!(rows[0].left, "1 h");
        assert_eq!(rows[0].signer, "online key");
        assert_eq!(rows[2].signer, "offline keys");

        let groups = group_rows(&records, now);
        assert_eq!(groups.len(), 2, "{groups:?}");
        assert_eq!(groups[0].pattern, "bin-*");
        assert_eq!(groups[0].count, 2);
        assert_eq!(groups[0].versions, "3–4");
        assert!(groups[0].warn);
        assert_eq!(groups[0].left, "1 min 40 s");
        assert_eq!(groups[1].pattern, "recently-claimed-*");
        assert!(!groups[1].warn);
    }
}
