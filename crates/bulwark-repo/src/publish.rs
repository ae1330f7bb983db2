//! The publisher: one run drains the queue of changes and re-signs what
//! expires, in the order DESIGN.md §4 fixes.
//!
//! ```text
//! pending changes ─▶ next_publish_version (durable; v is never reused)
//!   ─▶ render touched pages ─▶ stage tuf/targets/simple/<p>/<sha>.index.json
//!   ─▶ sign touched + expiring bins (v) ─▶ stage tuf/metadata/v.bin-xx.json
//!   ─▶ sign snapshot (v), timestamp (v)  ─▶ stage v.snapshot.json, v.timestamp.json
//!   ─▶ commit the blob batch (visible and durable together)
//!   ─▶ commit_publish (records, timestamp, changes done)
//!   ─▶ put tuf/metadata/timestamp.json   (last: the only mutable file)
//! ```
//!
//! A run's blobs go into one [`bulwark_store::BlobBatch`], so the blob store
//! makes them durable with one barrier rather than one per file, and all of
//! them are durable before the state names any. Pages are rendered and bins
//! signed on every core (`parallel_map`); the rest is sequential.
//!
//! Every online role written in one run gets the same version `v`, taken
//! from a durable counter before anything is written, so an interrupted run
//! burns its number and the next run uses a higher one: versions increase
//! strictly and are never reused, and nothing a crashed run wrote is ever
//! named by a published timestamp.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use bulwark_store::{
    BlobBatch, BlobStore, ClaimRecord, ClaimTier, FileRecord, PageRecord, PublishCommit,
    RoleRecord, StateStore, StoreError,
};
use bulwark_tuf::delegation::{DelegatedRoles, Delegations};
use bulwark_tuf::hash::sha256_hex;
use bulwark_tuf::keys::KeyError;
use bulwark_tuf::metadata::{Envelope, SignedBody, TargetFile};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::signer::Signer;
use bulwark_tuf::time::Timestamp;

use crate::clock::unix_micros;
use crate::layout::{self, CLAIMED, RECENTLY_CLAIMED, TIMESTAMP_KEY};
use crate::page::{self, PageError};
use crate::policy::Policy;
use crate::roles::{self, PublicKeyEntry};

/// The setting recording which online key signed the published roles.
const ONLINE_KEYID_SETTING: &str = "online_keyid";

/// Why a publish run failed. Nothing it wrote is named by a published
/// timestamp, so the repository stays consistent; the next run retries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// Storage failed.
    #[error("storage failed during publishing")]
    Store(#[from] StoreError),
    /// Signing failed.
    #[error("signing failed during publishing")]
    Sign(#[from] KeyError),
    /// A page could not be rendered.
    #[error(transparent)]
    Page(#[from] PageError),
    /// The repository has not been initialised (no offline roles found).
    #[error("the repository has no {0} metadata: initialise it first")]
    NotInitialised(&'static str),
}

/// What one run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishReport {
    /// The version given to every role signed in this run.
    pub version: u64,
    /// Queued changes up to this sequence number are now published.
    pub up_to_change: u64,
    /// Project pages rendered.
    pub pages: usize,
    /// Roles signed (bins, recently-claimed, snapshot, timestamp).
    pub roles_signed: usize,
    /// Wall time of the run in microseconds.
    pub micros: u64,
    /// The upload→published delay of each file uploaded since the previous
    /// run started and not reported by it (each file once), in microseconds
    /// (an upper bound for each: up to the end of the run, just after its
    /// commit).
    pub delays_us: Vec<u64>,
}

/// The filenames and upload times of `files` uploaded since `since_us`.
fn uploaded_since(files: &[FileRecord], since_us: i64) -> Vec<(String, i64)> {
    files
        .iter()
        .filter(|f| f.upload_time_us >= since_us)
        .map(|f| (f.filename.clone(), f.upload_time_us))
        .collect()
}

/// How far before the previous run's start a run looks for the uploads it
/// publishes. An upload's time is taken before its blobs are stored and its
/// record committed, so a record that lands just after the previous run
/// read its queue can carry a time before that run's start.
const UPLOAD_WINDOW_SLACK_US: i64 = 10 * 60 * 1_000_000;

/// Which uploads' upload→published delays the runs report: each file once,
/// in the first run that publishes it.
#[derive(Debug, Default)]
struct DelayLog {
    /// When the previous run started, microseconds since the epoch (`None`
    /// before the first run).
    previous_start_us: Option<i64>,
    /// The files already reported, with their upload times, back to the
    /// current window's start.
    reported: HashMap<String, i64>,
}

impl DelayLog {
    /// Starts a run at `now_us`; returns the upload time from which its
    /// files are candidates. The first run reports none: what it publishes
    /// may have waited for a server that was down.
    fn start(&mut self, now_us: i64) -> i64 {
        let since = self.previous_start_us.map_or(i64::MAX, |start| {
            start.saturating_sub(UPLOAD_WINDOW_SLACK_US)
        });
        self.previous_start_us = Some(now_us);
        since
    }

    /// The delays to `published_us` of the `uploaded` files (uploaded at or
    /// after `since_us`) not reported before; remembers them, and forgets
    /// those no later window can hold.
    fn report(
        &mut self,
        published_us: i64,
        since_us: i64,
        uploaded: &[Vec<(String, i64)>],
    ) -> Vec<u64> {
        let mut delays = Vec::new();
        for (filename, uploaded_us) in uploaded.iter().flatten() {
            if self
                .reported
                .insert(filename.clone(), *uploaded_us)
                .is_none()
            {
                delays.push(u64::try_from(published_us - uploaded_us).unwrap_or(0));
            }
        }
        self.reported
            .retain(|_, uploaded_us| *uploaded_us >= since_us);
        delays
    }
}

/// Applies `f` to every item on up to `available_parallelism` threads (one
/// for few items), keeping the order; the first error wins.
fn parallel_map<T: Sync, R: Send, E: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    /// Items below which one more thread costs more than it saves.
    const PER_THREAD: usize = 64;
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(items.len().div_ceil(PER_THREAD))
        .max(1);
    if threads == 1 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Result<Vec<R>, E>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for worker in workers {
            match worker.join() {
                Ok(part) => out.extend(part?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(out)
    })
}

/// What every role signed in one run shares.
#[derive(Clone, Copy)]
struct Signing<'a> {
    version: u64,
    expires: Timestamp,
    batch: &'a dyn BlobBatch,
}

/// Signs and publishes; one at a time (the caller serialises runs).
pub struct Publisher {
    store: Arc<dyn StateStore>,
    blobs: Arc<dyn BlobStore>,
    /// The online key: a key file's key, or one in a hardware token.
    online: Box<dyn Signer>,
    policy: Policy,
    /// Which uploads' delays the runs have reported.
    delays: std::sync::Mutex<DelayLog>,
    /// The published records of the offline roles (targets, claimed, its
    /// claim bins, unclaimed) as of the last run, so that
    /// [`Publisher::offline_waiting`], polled every second, does not read
    /// every role record each time.
    offline_published: std::sync::Mutex<Option<BTreeMap<String, RoleRecord>>>,
    /// The publisher lease's epoch this publisher commits under
    /// ([`Publisher::set_fence`]); 0 until set, which only a store whose
    /// lease was never taken accepts.
    fence: std::sync::atomic::AtomicU64,
    /// Whether runs also write the mutable `tuf/metadata/timestamp.json`
    /// blob ([`Publisher::without_timestamp_blob`]).
    timestamp_blob: bool,
}

/// The records of offline roles among `roles`.
fn offline_subset(roles: &BTreeMap<String, RoleRecord>) -> BTreeMap<String, RoleRecord> {
    roles
        .iter()
        .filter(|(name, _)| {
            matches!(
                name.as_str(),
                RoleName::TARGETS | CLAIMED | layout::UNCLAIMED
            ) || layout::claim_bin_of_role(CLAIMED, name).is_some()
        })
        .map(|(name, record)| (name.clone(), record.clone()))
        .collect()
}

fn sign<T: SignedBody>(body: T, key: &dyn Signer) -> Result<Vec<u8>, KeyError> {
    let mut envelope = Envelope::new(body);
    envelope.sign(key)?;
    Ok(envelope.to_bytes())
}

fn record(role: &str, version: u64, expires: Timestamp, bytes: &[u8]) -> RoleRecord {
    RoleRecord {
        role: role.to_owned(),
        version,
        expires: expires.unix(),
        length: bytes.len() as u64,
        sha256: sha256_hex(bytes),
    }
}

impl Publisher {
    /// A publisher signing online roles with `online` (a [`Signer`] usable
    /// from several threads: bins are signed in parallel).
    pub fn new(
        store: Arc<dyn StateStore>,
        blobs: Arc<dyn BlobStore>,
        online: impl Signer + 'static,
        policy: Policy,
    ) -> Self {
        Self {
            store,
            blobs,
            online: Box::new(online),
            policy,
            delays: std::sync::Mutex::new(DelayLog::default()),
            offline_published: std::sync::Mutex::new(None),
            fence: std::sync::atomic::AtomicU64::new(0),
            timestamp_blob: true,
        }
    }

    /// A publisher that leaves the mutable `timestamp.json` blob alone,
    /// for blob stores that several servers share: there the servers
    /// serve the timestamp from the state store, whose commit is fenced,
    /// so that a deposed publisher, which could still write a blob after
    /// its successor did, never rolls the served timestamp back. The blob
    /// store then holds immutable objects only (`<v>.timestamp.json` among
    /// them), which a CDN can cache for ever.
    #[must_use]
    pub fn without_timestamp_blob(mut self) -> Self {
        self.timestamp_blob = false;
        self
    }

    /// Sets the fence the following runs commit under: the one
    /// [`StateStore::acquire_publisher`] returned to this process. A run
    /// whose commit the store refuses as fenced off
    /// ([`StoreError::Fenced`]: another process took the lease) publishes
    /// nothing. A publisher that runs without election (one server) keeps
    /// the initial 0.
    pub fn set_fence(&self, fence: u64) {
        self.fence
            .store(fence, std::sync::atomic::Ordering::Relaxed);
    }

    /// Makes sure the served `timestamp.json` is the latest committed one
    /// (a crash may have come between the commit and the file write).
    pub fn repair_timestamp(&self) -> Result<(), PublishError> {
        if self.timestamp_blob
            && let Some(latest) = self.store.latest_timestamp()?
            && self.blobs.get(TIMESTAMP_KEY)?.as_deref() != Some(latest.as_slice())
        {
            self.blobs.put(TIMESTAMP_KEY, &latest)?;
        }
        Ok(())
    }

    /// Removes old consistent snapshots no client can still need (see [`crate::gc`]).
    pub fn collect_garbage(
        &self,
        now: Timestamp,
        retention_secs: i64,
    ) -> Result<crate::gc::GcReport, PublishError> {
        Ok(crate::gc::collect(
            self.blobs.as_ref(),
            &self.policy,
            now,
            retention_secs,
        )?)
    }

    /// Removes crash leftovers among the distribution blobs, and those of
    /// files removed more than `retention_secs` before `now` (see
    /// [`crate::gc::collect_unrecorded`]).
    pub fn collect_unrecorded(
        &self,
        suspects: &BTreeSet<String>,
        now: Timestamp,
        retention_secs: i64,
    ) -> Result<crate::gc::UnrecordedSweep, PublishError> {
        Ok(crate::gc::collect_unrecorded(
            self.store.as_ref(),
            self.blobs.as_ref(),
            suspects,
            now,
            retention_secs,
        )?)
    }

    /// Runs once at `now`: publishes pending changes and re-signs online
    /// roles that expire within the policy's margin. Returns `None` when
    /// there was nothing to do.
    pub fn run_once(&self, now: Timestamp) -> Result<Option<PublishReport>, PublishError> {
        let started = Instant::now();
        let mut roles = self.published_roles()?;
        // A first run, or the first run with a new online key, signs every
        // online role: bins signed by a replaced key no longer verify.
        let online_keyid = self.online.key_id();
        let first_run = !roles.contains_key(RoleName::TIMESTAMP)
            || self.store.setting(ONLINE_KEYID_SETTING)?.as_deref() != Some(online_keyid.as_str());
        let horizon = now.plus_seconds(self.policy.resign_margin).unix();
        let expiring: BTreeSet<String> = roles
            .values()
            .filter(|r| Policy::is_online(&r.role) && r.expires <= horizon)
            .map(|r| r.role.clone())
            .collect();
        let offline = self.newer_offline_records(&roles)?;
        // A newer claimed (or claim bin) is the administrator's word on its
        // projects' keys: adopt it before reading the queue, so that the
        // same run drops the projects from recently-claimed.
        self.adopt_claimed(&offline)?;
        let pending = self.store.pending_changes()?;
        if pending.projects.is_empty() && expiring.is_empty() && offline.is_empty() && !first_run {
            return Ok(None);
        }
        // A claim recorded after the queue was read is neither pending nor
        // published: it waits for the next run, its project meanwhile
        // staying in its bin.
        let claims: BTreeMap<String, ClaimRecord> = self
            .store
            .claims()?
            .into_iter()
            .filter(|c| {
                pending.projects.binary_search(&c.project).is_ok()
                    || roles.contains_key(layout::project_role(&c.project).as_str())
            })
            .map(|c| (c.project.clone(), c))
            .collect();
        for record in &offline {
            roles.insert(record.role.clone(), record.clone());
        }

        let version = self.store.next_publish_version()?;
        let expires = now.plus_seconds(self.policy.online_expiry);
        let batch = self.blobs.batch();

        let uploaded_since_us = self.delay_log().start(unix_micros());
        let rendered = parallel_map(&pending.projects, |project| match claims.get(project) {
            Some(claim) => self.stage_claimed(claim, uploaded_since_us, &*batch),
            None => self.render_page(project, uploaded_since_us, &*batch),
        })?;
        let (pages, uploaded): (Vec<PageRecord>, Vec<Vec<(String, i64)>>) =
            rendered.into_iter().unzip();
        let run = Signing {
            version,
            expires,
            batch: &*batch,
        };
        let mut signed = self.sign_bins(&pages, &claims, &expiring, first_run, &run)?;
        signed.extend(self.sign_claims(
            &pending.projects,
            &claims,
            &roles,
            &expiring,
            first_run,
            &run,
        )?);
        for r in &signed {
            roles.insert(r.role.clone(), r.clone());
        }

        let timestamp =
            self.sign_snapshot_and_timestamp(&roles, version, expires, &mut signed, &*batch)?;
        batch.commit()?;

        let mut commit_roles = signed;
        commit_roles.extend(offline);
        let report = PublishReport {
            version,
            up_to_change: pending.up_to_change,
            pages: pages.len(),
            roles_signed: commit_roles
                .iter()
                .filter(|r| Policy::is_online(&r.role))
                .count(),
            micros: 0,
            delays_us: Vec::new(),
        };
        self.store.commit_publish(&PublishCommit {
            up_to_change: pending.up_to_change,
            pages,
            roles: commit_roles,
            timestamp: timestamp.clone(),
            fence: self.fence.load(std::sync::atomic::Ordering::Relaxed),
        })?;
        if self.timestamp_blob {
            self.blobs.put(TIMESTAMP_KEY, &timestamp)?;
        }
        *self.offline_cache() = Some(offline_subset(&roles));
        if first_run {
            self.store
                .set_setting(ONLINE_KEYID_SETTING, &online_keyid)?;
        }
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        Ok(Some(PublishReport {
            micros,
            delays_us: self
                .delay_log()
                .report(unix_micros(), uploaded_since_us, &uploaded),
            ..report
        }))
    }

    fn delay_log(&self) -> std::sync::MutexGuard<'_, DelayLog> {
        self.delays
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Signs and stages the bins a run touches: those of `pages` (rendered
    /// in this run), the expiring ones, and on a first run all of them.
    fn sign_bins(
        &self,
        pages: &[PageRecord],
        claims: &BTreeMap<String, ClaimRecord>,
        expiring: &BTreeSet<String>,
        first_run: bool,
        run: &Signing<'_>,
    ) -> Result<Vec<RoleRecord>, PublishError> {
        let mut fresh: BTreeMap<u32, Vec<&PageRecord>> = BTreeMap::new();
        for page in pages {
            fresh.entry(page.bin).or_default().push(page);
        }
        let mut bins: BTreeSet<u32> = fresh.keys().copied().collect();
        if first_run {
            bins.extend(0..self.policy.bin_count());
        }
        bins.extend(
            expiring
                .iter()
                .filter_map(|r| r.strip_prefix("bin-"))
                .filter_map(|hex| u32::from_str_radix(hex, 16).ok()),
        );
        let bins: Vec<u32> = bins.into_iter().collect();
        parallel_map(&bins, |bin| {
            let pages = fresh.get(bin).map_or(&[][..], Vec::as_slice);
            self.sign_bin(*bin, pages, claims, run)
        })
    }

    /// The roles a run publishes for claimed projects: the developer-signed
    /// role of each changed claimed project in `changed`, and the claim bins
    /// of recently-claimed their changes touch or that expire (with
    /// recently-claimed itself, see [`Publisher::sign_recently_claimed`]).
    fn sign_claims(
        &self,
        changed: &[String],
        claims: &BTreeMap<String, ClaimRecord>,
        published: &BTreeMap<String, RoleRecord>,
        expiring: &BTreeSet<String>,
        first_run: bool,
        run: &Signing<'_>,
    ) -> Result<Vec<RoleRecord>, PublishError> {
        let mut signed: Vec<RoleRecord> = changed
            .iter()
            .filter_map(|p| claims.get(p))
            .flat_map(project_role_records)
            .collect();
        // The claim bin of a changed recently-claimed project, and of a
        // claimed one that recently-claimed still lists (just promoted):
        // a release of a claimed project re-signs nothing online but the
        // snapshot and timestamp.
        let mut touched: BTreeSet<u32> = expiring
            .iter()
            .filter_map(|r| layout::claim_bin_of_role(RECENTLY_CLAIMED, r))
            .collect();
        for claim in changed.iter().filter_map(|p| claims.get(p)) {
            if claim.tier == ClaimTier::RecentlyClaimed
                || self.recently_claimed_lists(&claim.project, published)?
            {
                touched.insert(layout::claim_bin_of(&claim.project));
            }
        }
        let published_bins: BTreeSet<u32> = published
            .keys()
            .filter_map(|r| layout::claim_bin_of_role(RECENTLY_CLAIMED, r))
            .collect();
        // As for the hashed bins: a first run, or the first with a new
        // online key, signs every claim bin recently-claimed delegates to,
        // since recently-claimed now names the new key and bins signed by
        // the replaced one no longer verify.
        if first_run {
            touched.extend(&published_bins);
            touched.extend(
                claims
                    .values()
                    .filter(|c| c.tier == ClaimTier::RecentlyClaimed)
                    .map(|c| layout::claim_bin_of(&c.project)),
            );
        }
        signed.extend(self.sign_recently_claimed(
            claims,
            &published_bins,
            &touched,
            first_run || expiring.contains(RECENTLY_CLAIMED),
            run,
        )?);
        Ok(signed)
    }

    /// True when the published claim bin of recently-claimed for `project`
    /// delegates to its role.
    fn recently_claimed_lists(
        &self,
        project: &str,
        published: &BTreeMap<String, RoleRecord>,
    ) -> Result<bool, PublishError> {
        let name = layout::claim_bin_name(RECENTLY_CLAIMED, layout::claim_bin_of(project));
        let Some(record) = published.get(&name) else {
            return Ok(false);
        };
        let key = layout::metadata_key(&name, record.version);
        let bytes = self
            .blobs
            .get(&key)?
            .ok_or_else(|| StoreError::Corrupt(format!("{key} is missing")))?;
        let bin = Envelope::<bulwark_tuf::metadata::Targets>::parse(&bytes)
            .map_err(|_| StoreError::Corrupt(format!("{key} is not valid targets metadata")))?;
        let role = layout::project_role(project);
        Ok(bin
            .signed
            .delegations
            .as_ref()
            .is_some_and(|d| d.role_keys(&role).is_some()))
    }

    /// Signs and stages the claim bins of recently-claimed in `touched` (the
    /// delegations of their recently-claimed projects) and, when a bin was
    /// signed or `top` asks for it, recently-claimed itself, delegating to
    /// every non-empty bin and every bin in `published` (a snapshot never
    /// drops a role, and every role it lists stays reachable, so a bin
    /// emptied by promotions stays delegated).
    fn sign_recently_claimed(
        &self,
        claims: &BTreeMap<String, ClaimRecord>,
        published: &BTreeSet<u32>,
        touched: &BTreeSet<u32>,
        top: bool,
        run: &Signing<'_>,
    ) -> Result<Vec<RoleRecord>, PublishError> {
        let Signing {
            version,
            expires,
            batch,
        } = *run;
        let mut by_bin: BTreeMap<u32, Vec<Delegations>> = BTreeMap::new();
        for claim in claims.values() {
            if claim.tier == ClaimTier::RecentlyClaimed {
                by_bin
                    .entry(layout::claim_bin_of(&claim.project))
                    .or_default()
                    .push(trusted_delegation(claim)?);
            }
        }
        let mut signed = Vec::new();
        for bin in touched {
            let delegations: Vec<&Delegations> = by_bin
                .get(bin)
                .map(|d| d.iter().collect())
                .unwrap_or_default();
            let name = layout::claim_bin_name(RECENTLY_CLAIMED, *bin);
            let bytes = sign(
                roles::claim_bin(&delegations, version, expires),
                self.online.as_ref(),
            )?;
            batch.put(&layout::metadata_key(&name, version), &bytes)?;
            signed.push(record(&name, version, expires, &bytes));
        }
        if top || !touched.is_empty() {
            let online = PublicKeyEntry::from_object(&self.online.public_key_object())
                .map_err(|e| StoreError::Corrupt(format!("the online key's public part: {e}")))?;
            let bins: BTreeSet<u32> = by_bin.keys().chain(published).copied().collect();
            let body = roles::project_delegator(RECENTLY_CLAIMED, &online, bins, version, expires);
            let bytes = sign(body, self.online.as_ref())?;
            batch.put(&layout::metadata_key(RECENTLY_CLAIMED, version), &bytes)?;
            signed.push(record(RECENTLY_CLAIMED, version, expires, &bytes));
        }
        Ok(signed)
    }

    /// Stages what the developers of a claimed project signed, as the index
    /// accepted it: the page at its consistent-snapshot name, the role at
    /// `<version>.project-<name>.json` and each nested role at
    /// `<version>.project-<name>.<label>.json`. Also returns the upload
    /// times of its files uploaded since `uploaded_since_us`.
    fn stage_claimed(
        &self,
        claim: &ClaimRecord,
        uploaded_since_us: i64,
        batch: &dyn BlobBatch,
    ) -> Result<(PageRecord, Vec<(String, i64)>), PublishError> {
        let uploaded = uploaded_since(&self.store.files(&claim.project)?, uploaded_since_us);
        let missing = |key: String| StoreError::Corrupt(format!("{key} is missing"));
        let page_key = layout::claim_page_key(&claim.page_sha256);
        let page = self
            .blobs
            .get(&page_key)?
            .ok_or_else(|| missing(page_key))?;
        batch.put(&layout::page_key(&claim.project, &claim.page_sha256), &page)?;
        for role in project_role_records(claim) {
            let key = layout::claim_role_key(&role.sha256);
            let bytes = self.blobs.get(&key)?.ok_or_else(|| missing(key))?;
            batch.put(&layout::metadata_key(&role.role, role.version), &bytes)?;
        }
        let page = PageRecord {
            project: claim.project.clone(),
            sha256: claim.page_sha256.clone(),
            length: claim.page_length,
            bin: layout::bin_of(&claim.project, self.policy.bin_bits),
        };
        Ok((page, uploaded))
    }

    /// Records the administrator's delegations of every project listed by
    /// a newer claim bin of `claimed` in `offline`: each becomes claimed,
    /// with the keys the administrator signed (a promotion, or a reset of
    /// lost keys). A project the index has no claim for is left alone.
    fn adopt_claimed(&self, offline: &[RoleRecord]) -> Result<(), PublishError> {
        for record in offline
            .iter()
            .filter(|r| layout::claim_bin_of_role(CLAIMED, &r.role).is_some())
        {
            let key = layout::metadata_key(&record.role, record.version);
            let bytes = self.blobs.get(&key)?.unwrap_or_default();
            let corrupt = || StoreError::Corrupt(format!("{key} is not valid targets metadata"));
            let bin =
                Envelope::<bulwark_tuf::metadata::Targets>::parse(&bytes).map_err(|_| corrupt())?;
            let projects = roles::claim_bin_projects(&bin.signed).ok_or_else(corrupt)?;
            for (project, own) in &projects {
                let json = String::from_utf8(own.to_json()).map_err(|_| corrupt())?;
                self.store
                    .set_claim_delegation(project, ClaimTier::Claimed, &json)?;
            }
        }
        Ok(())
    }

    /// Signs and stages version `version` of the snapshot (listing every
    /// targets role in `roles`) and of the timestamp naming it; their
    /// records go to `signed`. Returns the timestamp's bytes.
    fn sign_snapshot_and_timestamp(
        &self,
        roles: &BTreeMap<String, RoleRecord>,
        version: u64,
        expires: Timestamp,
        signed: &mut Vec<RoleRecord>,
        batch: &dyn BlobBatch,
    ) -> Result<Vec<u8>, PublishError> {
        let listed = roles
            .values()
            .filter(|r| !matches!(r.role.as_str(), "root" | "timestamp" | "snapshot"))
            .map(|r| (r.role.clone(), r.version));
        let snapshot = sign(
            roles::snapshot(listed, version, expires),
            self.online.as_ref(),
        )?;
        batch.put(
            &layout::metadata_key(RoleName::SNAPSHOT, version),
            &snapshot,
        )?;
        signed.push(record(RoleName::SNAPSHOT, version, expires, &snapshot));
        let timestamp = sign(
            roles::timestamp(version, &snapshot, version, expires),
            self.online.as_ref(),
        )?;
        batch.put(
            &layout::metadata_key(RoleName::TIMESTAMP, version),
            &timestamp,
        )?;
        signed.push(record(RoleName::TIMESTAMP, version, expires, &timestamp));
        Ok(timestamp)
    }

    /// Renders and stages the page of `project` (content-addressed, so a
    /// page that did not change is simply written again under the same
    /// key). Also returns the upload times of its files uploaded since
    /// `uploaded_since_us`.
    fn render_page(
        &self,
        project: &str,
        uploaded_since_us: i64,
        batch: &dyn BlobBatch,
    ) -> Result<(PageRecord, Vec<(String, i64)>), PublishError> {
        let files = self.store.files(project)?;
        let uploaded = uploaded_since(&files, uploaded_since_us);
        let bytes = page::render(project, &files)?;
        let sha256 = sha256_hex(&bytes);
        batch.put(&layout::page_key(project, &sha256), &bytes)?;
        let page = PageRecord {
            project: project.to_owned(),
            sha256,
            length: bytes.len() as u64,
            bin: layout::bin_of(project, self.policy.bin_bits),
        };
        Ok((page, uploaded))
    }

    /// Signs and stages version `version` of bin `bin`: its published
    /// pages, with `fresh`, the bin's pages rendered in this run, taking
    /// precedence, except those of claimed projects.
    fn sign_bin(
        &self,
        bin: u32,
        fresh: &[&PageRecord],
        claims: &BTreeMap<String, ClaimRecord>,
        run: &Signing<'_>,
    ) -> Result<RoleRecord, PublishError> {
        let Signing {
            version,
            expires,
            batch,
        } = *run;
        let mut entries: BTreeMap<String, PageRecord> = self
            .store
            .pages_in_bin(bin)?
            .into_iter()
            .map(|p| (p.project.clone(), p))
            .collect();
        for page in fresh {
            entries.insert(page.project.clone(), (*page).clone());
        }
        // A claimed project's page is signed by its developers, reached
        // through claimed or recently-claimed: it leaves its bin.
        entries.retain(|project, _| !claims.contains_key(project));
        let targets = entries
            .values()
            .map(|p| {
                let file = TargetFile {
                    length: p.length,
                    hashes: BTreeMap::from([("sha256".to_owned(), p.sha256.clone())]),
                    unknown: BTreeMap::new(),
                };
                (layout::page_target(&p.project), file)
            })
            .collect();
        let name = layout::bin_name(bin, self.policy.bin_bits);
        let bytes = sign(roles::bin(targets, version, expires), self.online.as_ref())?;
        batch.put(&layout::metadata_key(&name, version), &bytes)?;
        Ok(record(&name, version, expires, &bytes))
    }

    /// Records of offline role versions newer than those published: the
    /// key ceremony stores `<v>.<role>.json`, and the next run lists it in
    /// the snapshot. Version 1 of each is written when the repository is
    /// created, so a repository without them is not initialised.
    fn newer_offline_records(
        &self,
        published: &BTreeMap<String, RoleRecord>,
    ) -> Result<Vec<RoleRecord>, PublishError> {
        let mut records = Vec::new();
        for role in [RoleName::TARGETS, CLAIMED, layout::UNCLAIMED] {
            match self.newest_offline(role, published)? {
                Some((record, envelope)) => {
                    records.push(record);
                    // A newer claimed may delegate to claim bins it did not
                    // before, or come with newer versions of them.
                    if role == CLAIMED
                        && let Some(delegations) = &envelope.signed.delegations
                        && let DelegatedRoles::List(bins) = &delegations.roles
                    {
                        for bin in bins {
                            records.extend(
                                self.newest_offline(bin.name.as_str(), published)?
                                    .map(|(record, _)| record),
                            );
                        }
                    }
                }
                None if !published.contains_key(role) => {
                    return Err(PublishError::NotInitialised(role));
                }
                None => {}
            }
        }
        // A claim bin may also be installed alone, signed under the
        // published claimed (which already delegates to it).
        let found: BTreeSet<String> = records.iter().map(|r| r.role.clone()).collect();
        for role in published
            .keys()
            .filter(|r| layout::claim_bin_of_role(CLAIMED, r).is_some() && !found.contains(*r))
        {
            records.extend(
                self.newest_offline(role, published)?
                    .map(|(record, _)| record),
            );
        }
        Ok(records)
    }

    /// True when the key ceremony has stored offline metadata newer than
    /// the published (`bulwark ceremony install`): a running server polls
    /// this so that it publishes an install within seconds rather than at
    /// its next timed run.
    pub fn offline_waiting(&self) -> Result<bool, PublishError> {
        let cached = self.offline_cache().clone();
        let published = match cached {
            Some(published) => published,
            None => offline_subset(&self.published_roles()?),
        };
        Ok(!self.newer_offline_records(&published)?.is_empty())
    }

    /// Every published role record, by name; notes the offline ones for
    /// [`Publisher::offline_waiting`].
    fn published_roles(&self) -> Result<BTreeMap<String, RoleRecord>, PublishError> {
        let roles: BTreeMap<String, RoleRecord> = self
            .store
            .roles()?
            .into_iter()
            .map(|r| (r.role.clone(), r))
            .collect();
        *self.offline_cache() = Some(offline_subset(&roles));
        Ok(roles)
    }

    fn offline_cache(&self) -> std::sync::MutexGuard<'_, Option<BTreeMap<String, RoleRecord>>> {
        self.offline_published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The newest stored version of offline `role` if it is newer than the
    /// published one, with its record.
    fn newest_offline(
        &self,
        role: &str,
        published: &BTreeMap<String, RoleRecord>,
    ) -> Result<Option<(RoleRecord, Envelope<bulwark_tuf::metadata::Targets>)>, PublishError> {
        let mut version = published.get(role).map_or(0, |r| r.version);
        let mut newest = None;
        while let Some(bytes) = self.blobs.get(&layout::metadata_key(role, version + 1))? {
            version += 1;
            newest = Some(bytes);
        }
        let Some(bytes) = newest else {
            return Ok(None);
        };
        let envelope = Envelope::<bulwark_tuf::metadata::Targets>::parse(&bytes).map_err(|_| {
            StoreError::Corrupt(format!(
                "{} is not valid targets metadata",
                layout::metadata_key(role, version)
            ))
        })?;
        let record = record(role, version, envelope.signed.common.expires, &bytes);
        Ok(Some((record, envelope)))
    }
}

/// The delegation the index trusts for a claimed project, as stored.
fn trusted_delegation(claim: &ClaimRecord) -> Result<Delegations, StoreError> {
    Delegations::from_json(claim.delegation.as_bytes()).map_err(|e| {
        StoreError::Corrupt(format!(
            "the stored delegation of {} is not a delegations object: {e}",
            claim.project
        ))
    })
}

/// The records of a claimed project's role and its nested roles as its
/// developers signed them.
fn project_role_records(claim: &ClaimRecord) -> impl Iterator<Item = RoleRecord> + '_ {
    let project = RoleRecord {
        role: layout::project_role(&claim.project).as_str().to_owned(),
        version: claim.role_version,
        expires: claim.role_expires,
        length: claim.role_length,
        sha256: claim.role_sha256.clone(),
    };
    std::iter::once(project).chain(claim.nested.iter().map(|n| RoleRecord {
        role: n.name.clone(),
        version: n.version,
        expires: n.expires,
        length: n.length,
        sha256: n.sha256.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file uploaded while the previous run ran is in both runs' windows;
    /// its delay counts once.
    #[test]
    fn a_delay_the_previous_run_reported_is_not_reported_again() {
        let mut log = DelayLog::default();
        assert_eq!(log.start(1_000), i64::MAX, "the first run reports none");
        let since = log.start(2_000);
        let first = vec![vec![("a.whl".to_owned(), 1_500)]];
        assert_eq!(log.report(2_500, since, &first), [1_000]);
        let since = log.start(3_000);
        let second = vec![
            vec![("a.whl".to_owned(), 1_500), ("b.whl".to_owned(), 2_800)],
            vec![("c.whl".to_owned(), 2_900)],
        ];
        assert_eq!(log.report(3_500, since, &second), [700, 600]);
    }

    /// An upload's time precedes its commit: a file committed after the
    /// previous run read its queue, but timed before that run started, is
    /// reported by the next run (a CI run once lost such a file's delay).
    #[test]
    fn a_file_timed_before_the_previous_run_but_committed_after_it_is_reported() {
        let mut log = DelayLog::default();
        log.start(0);
        let since = log.start(10_000_000);
        assert_eq!(
            log.report(10_100_000, since, &[vec![("a.whl".to_owned(), 9_000_000)]]),
            [1_100_000]
        );
        let since = log.start(10_200_000);
        assert!(since <= 9_950_000, "window starts at {since}");
        let late = vec![vec![
            ("a.whl".to_owned(), 9_000_000),
            ("b.whl".to_owned(), 9_950_000),
        ]];
        assert_eq!(log.report(10_300_000, since, &late), [350_000]);
    }

    /// The log forgets what no later window can hold.
    #[test]
    fn the_delay_log_forgets_uploads_older_than_its_window() {
        let mut log = DelayLog::default();
        let uploaded = vec![vec![
            ("old.whl".to_owned(), UPLOAD_WINDOW_SLACK_US),
            ("new.whl".to_owned(), UPLOAD_WINDOW_SLACK_US * 3),
        ]];
        log.report(UPLOAD_WINDOW_SLACK_US * 3, 0, &uploaded);
        log.report(UPLOAD_WINDOW_SLACK_US * 3, UPLOAD_WINDOW_SLACK_US * 2, &[]);
        assert_eq!(
            log.reported.keys().collect::<Vec<_>>(),
            ["new.whl"],
            "old.whl is before every later window"
        );
    }
}
