//! `bulwark serve`: the index, with zero set-up. On first start in an empty
//! data directory it creates a repository with development keys (all on
//! this machine — for trying Bulwark out only) and prints how to use it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bulwark_layout as layout;
use bulwark_repo::init::{OfflineSigners, initialize};
use bulwark_repo::{PublishError, Publisher, keyfile};
use bulwark_server::publisher::{Lease, RunOutcome};
use bulwark_store::StoreError;
use bulwark_tuf::keys::{Algorithm, SigningKey};
use bulwark_tuf::names::RoleName;
use bulwark_tuf::signer::Signer;

use crate::config::{Settings, StoreFlags};
use crate::data::{Data, passphrase, write_private};

/// Options of `bulwark serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    stores: StoreFlags,
    /// Address to listen on (default: 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<String>,
    /// Serve a directory written by `bulwark mirror sync`, read-only,
    /// instead of an index (no uploads, no publisher, no data directory).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["data_dir", "state", "blobs"])]
    mirror: Option<PathBuf>,
    /// The PKCS#11 module for an online key on a token (the
    /// `pkcs11_module` setting).
    #[arg(long, value_name = "FILE")]
    pkcs11_module: Option<PathBuf>,
}

const DEV_KEY_ITERATIONS: u32 = 100_000;

/// Creates a repository whose offline keys all live in `<data>/keys/`.
fn create_development_repository(
    data: &Data,
    settings: &Settings,
    pass: &str,
) -> anyhow::Result<SigningKey> {
    let generate = || SigningKey::generate(Algorithm::Ed25519).context("cannot generate a key");
    let signers = OfflineSigners::generate_single().context("cannot generate a key")?;
    let online = generate()?;
    let keys = data.keys_dir();
    for (name, key) in [
        ("root", &signers.root[0]),
        ("targets", &signers.targets),
        ("claimed", &signers.claimed),
        ("unclaimed", &signers.unclaimed),
        ("online", &online),
    ] {
        let sealed = keyfile::seal(key, pass.as_bytes(), DEV_KEY_ITERATIONS)?;
        write_private(&keys.join(format!("{name}.key")), &sealed)?;
    }
    initialize(
        data.blobs.as_ref(),
        &signers,
        &online,
        &settings.policy(),
        crate::now(),
    )?;
    Ok(online)
}

fn load_key(path: &std::path::Path, pass: &str) -> anyhow::Result<SigningKey> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read the key {}", path.display()))?;
    keyfile::open(&bytes, pass.as_bytes())
        .with_context(|| format!("cannot open the key {}", path.display()))
}

/// The online key a data directory's server uses: the configured one (a
/// key file, or a key on a PKCS#11 token, logged in to once), or the
/// development one.
fn online_key(data: &Data, settings: &Settings) -> anyhow::Result<Box<dyn Signer>> {
    if let Some(uri) = settings.online_pkcs11_uri() {
        let uri = crate::hsm::parse(uri).context("online_key")?;
        let key = crate::hsm::open(&uri, settings.pkcs11_module.as_deref())?;
        tracing::info!(%uri, keyid = %key.key_id(), "online key on a PKCS#11 token");
        return Ok(Box::new(key));
    }
    let pass = passphrase("the online key")?;
    let key = match &settings.online_key {
        Some(path) => load_key(&data.dir.join(path), &pass),
        None => load_key(&data.keys_dir().join("online.key"), &pass),
    }?;
    Ok(Box::new(key))
}

/// A publisher for `data` signing with `online`, after checking that the
/// installed offline metadata verifies and delegates the online roles to
/// exactly this key, and taking the bin count from that metadata.
fn checked_publisher(
    data: &Data,
    settings: &Settings,
    online: Box<dyn Signer>,
) -> anyhow::Result<Publisher> {
    let current = bulwark_repo::ceremony::Current::load(data.blobs.as_ref(), crate::now())
        .context("the installed offline metadata does not verify")?
        .context("the repository has no root")?;
    let expected = current
        .online_keyid()
        .context("the installed offline metadata has no single online key")?;
    if online.key_id() != expected {
        bail!(
            "the online key given ({}) is not the one the installed root delegates to ({expected}); \
             after `bulwark ceremony rotate-online`, start serve with the new key",
            online.key_id()
        );
    }
    let mut policy = settings.policy();
    if let Some(bits) = current.bin_bits() {
        if bits != policy.bin_bits {
            tracing::warn!(
                configured = policy.bin_bits,
                installed = bits,
                "bin_bits differs from the installed unclaimed role; using the installed value"
            );
        }
        policy.bin_bits = bits;
    }
    Ok(Publisher::new(
        data.store.clone(),
        data.blobs.clone(),
        online,
        policy,
    ))
}

/// The name `bulwark serve` holds the publisher lease under. One server
/// serves a data directory, so its name is fixed (a restart after a crash
/// takes the lease back at once); servers sharing a database each need
/// their own.
fn holder(data: &Data) -> String {
    if data.shared {
        bulwark_server::publisher::holder_id()
    } else {
        "embedded".to_owned()
    }
}

/// Publishes what is queued in `data` right away (used after `bulwark
/// import`), so that it is signed even before `bulwark serve` starts.
/// It takes the publisher lease under a name of its own, renewed while it
/// publishes: beside a running server, which holds the lease, it leaves
/// the publishing to that server.
pub fn publish_now(data: &Data, settings: &Settings) -> anyhow::Result<()> {
    if data
        .blobs
        .len(&layout::metadata_key(RoleName::ROOT, 1))?
        .is_none()
    {
        println!(
            "the repository is not created yet: `bulwark serve` will create it and publish everything"
        );
        return Ok(());
    }
    let mut publisher = checked_publisher(data, settings, online_key(data, settings)?)?;
    if data.shared {
        publisher = publisher.without_timestamp_blob();
    }
    let publisher = Arc::new(publisher);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let wake = Arc::new(tokio::sync::Notify::new());
    let holder = bulwark_server::publisher::holder_id();
    let outcome = runtime.block_on(async {
        let mut lease = Lease::take(data.store.clone(), holder, wake).await;
        // A lease left by a server that just stopped expires within LEASE.
        let wait = bulwark_server::publisher::LEASE + bulwark_server::publisher::RENEW;
        let Some(fence) = lease.wait_for(wait).await else {
            lease.release().await;
            return Ok(None);
        };
        publisher.set_fence(fence);
        let p = publisher.clone();
        let outcome = bulwark_http::blocking(move || p.run_once(crate::now())).await;
        lease.release().await;
        outcome.map(Some)
    });
    match outcome {
        Ok(Some(Some(report))) => println!(
            "published version {} ({} pages) in {} ms",
            report.version,
            report.pages,
            report.micros / 1000
        ),
        Ok(Some(None)) => {}
        Ok(None) | Err(PublishError::Store(StoreError::Fenced { .. })) => {
            // Servers on shared stores are woken by the queued change; an
            // embedded one finds it at its next timed run.
            if data.shared {
                println!(
                    "another server is publishing from these stores: it publishes what was imported within a second"
                );
            } else {
                println!(
                    "a server is publishing from this data directory: it publishes what was imported at its next run (publish_interval_secs)"
                );
            }
        }
        Err(e) => return Err(e).context("publishing failed"),
    }
    Ok(())
}

/// The online key of this server and, for a development repository, its
/// claimed key (which serve uses to renew claimed, see
/// `renew_claimed_if_due`; `None` in production), creating a development
/// repository first when the stores hold none and no online key is given.
fn keys(
    data: &Data,
    settings: &Settings,
    holder: &str,
) -> anyhow::Result<(Box<dyn Signer>, Option<SigningKey>)> {
    let exists = data
        .blobs
        .len(&layout::metadata_key(RoleName::ROOT, 1))?
        .is_some();
    if data.shared && !exists && settings.online_key.is_none() {
        // Two first servers starting at once must not both create one.
        let lease = bulwark_server::publisher::LEASE;
        if data.store.acquire_publisher(holder, lease)?.is_none() {
            bail!(
                "another server is creating the repository on these stores: start this one \
                 with online_key once it has"
            );
        }
    }
    Ok(match (&settings.online_key, exists) {
        (Some(_), true) => (online_key(data, settings)?, None),
        (Some(_), false) => bail!(
            "{} holds no repository: create one with the key ceremony before giving serve an online_key",
            data.dir.display()
        ),
        (None, true) => {
            let keys = data.keys_dir();
            if data.shared && !keys.join("online.key").is_file() {
                bail!(
                    "the shared stores hold a repository whose keys are not in {}: give this \
                     server the online key (online_key, a key file or a pkcs11: URI)",
                    keys.display()
                );
            }
            let pass = passphrase("the development keys")?;
            (
                Box::new(load_key(&keys.join("online.key"), &pass)?) as Box<dyn Signer>,
                Some(load_key(&keys.join("claimed.key"), &pass)?),
            )
        }
        (None, false) => {
            let pass = passphrase("the development keys")?;
            let online = create_development_repository(data, settings, &pass)?;
            (
                Box::new(online) as Box<dyn Signer>,
                Some(load_key(&data.keys_dir().join("claimed.key"), &pass)?),
            )
        }
    })
}

/// The pull-through cache of the `upstream` settings, if there are any.
fn pull_through(
    settings: &Settings,
    data: &Data,
    publish: &Arc<tokio::sync::Notify>,
) -> anyhow::Result<Option<Arc<bulwark_server::upstream::Upstream>>> {
    let Some(config) = settings.upstream_config()? else {
        return Ok(None);
    };
    let upstream = bulwark_server::upstream::Upstream::new(
        config,
        data.store.clone(),
        data.blobs.clone(),
        publish.clone(),
    )
    .context("cannot set up the upstream client")?;
    Ok(Some(Arc::new(upstream)))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut settings = Settings::load(args.stores, args.listen)?;
    if let Some(module) = args.pkcs11_module {
        settings.pkcs11_module = Some(module);
    }
    crate::init_logging(Some(settings.log_format))?;
    // Bound first: a start that cannot listen (the port is taken) must
    // not have created a data directory and keys.
    let listener = listen(settings.listen)?;
    let metrics_listener = settings.metrics_listen.map(listen).transpose()?;
    if let Some(dir) = &args.mirror {
        return serve_mirror(dir, listener, &settings);
    }
    let data = Data::open(&settings)?;
    let holder = holder(&data);
    let root_key = layout::metadata_key(RoleName::ROOT, 1);
    let (online, development_claimed) = keys(&data, &settings, &holder)?;
    let development = development_claimed.is_some();
    let root_bytes = data
        .blobs
        .get(&root_key)?
        .context("the repository has no 1.root.json")?;
    let root_copy = data.dir.join("root.json");
    if std::fs::read(&root_copy).ok().as_deref() != Some(root_bytes.as_slice()) {
        bulwark_fs::write_atomic(&root_copy, &root_bytes)
            .with_context(|| format!("cannot write {}", root_copy.display()))?;
    }
    let mut publisher = checked_publisher(&data, &settings, online)?;
    if data.shared {
        publisher = publisher.without_timestamp_blob();
    }
    let publisher = Arc::new(publisher);
    publisher
        .repair_timestamp()
        .context("cannot repair timestamp.json")?;
    let publish = Arc::new(tokio::sync::Notify::new());
    let upstream = pull_through(&settings, &data, &publish)?;
    let state = bulwark_server::AppState {
        store: data.store.clone(),
        blobs: data.blobs.clone(),
        config: Arc::new(server_config(
            &settings,
            data.shared,
            metrics_listener.is_some(),
        )),
        publish: publish.clone(),
        metrics: Arc::default(),
        upstream,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let served = runtime.block_on(async move {
        let shutdown = shutdown_signal()?;
        // The lease is renewed from here on, also during the first publish
        // (which may outlast it: a large import, a slow token).
        let lease = Lease::take(state.store.clone(), holder, state.publish.clone()).await;
        // The first publish, by whichever server holds the lease; the
        // others publish once they take it over.
        if let Some(fence) = lease.fence() {
            publisher.set_fence(fence);
            // Fenced: another server took over meanwhile, and this one
            // serves as a standby.
            if bulwark_server::publisher::run_once(&publisher, &state.metrics).await
                == RunOutcome::Failed
            {
                lease.release().await;
                bail!("the first publish failed; see the log above");
            }
        }
        let listener = tokio::net::TcpListener::from_std(listener)
            .context("cannot listen on the bound address")?;
        let addr = listener
            .local_addr()
            .context("cannot read the listening address")?;
        banner(&addr, &data.dir, &root_copy, development);
        tokio::spawn(watch_installs(publisher.clone(), state.publish.clone()));
        if let Some(claimed) = development_claimed {
            tokio::spawn(renew_development_claimed(
                data.blobs.clone(),
                claimed,
                settings.policy(),
            ));
        }
        let metrics_listener = metrics_listener
            .map(tokio::net::TcpListener::from_std)
            .transpose()
            .context("cannot listen on the metrics address")?;
        bulwark_server::serve(
            listener,
            metrics_listener,
            state,
            publisher,
            lease,
            shutdown,
        )
        .await
        .context("the server stopped")
    });
    // A publish run still signing is abandoned, as a crash would leave it:
    // its commit is fenced off once a successor holds the lease.
    runtime.shutdown_timeout(SHUTDOWN_WAIT);
    served
}

/// The server's settings from the resolved `settings`.
fn server_config(
    settings: &Settings,
    shared: bool,
    separate_metrics: bool,
) -> bulwark_server::ServerConfig {
    bulwark_server::ServerConfig {
        max_upload_bytes: settings.max_upload_bytes,
        max_concurrent_uploads: settings.max_concurrent_uploads,
        request_timeout: Duration::from_secs(settings.request_timeout_secs),
        connections: settings.connection_limits(),
        publish_interval: Duration::from_secs(settings.publish_interval_secs),
        snapshot_retention: Duration::from_secs(settings.snapshot_retention_secs),
        allow_local_versions: settings.allow_local_versions,
        shared_state: shared,
        ready_margin: Duration::from_secs(
            u64::try_from(settings.policy().resign_margin / 2).unwrap_or(0),
        ),
        separate_metrics,
        read_access: settings.read_access,
        ..bulwark_server::ServerConfig::default()
    }
}

/// How long a stopping server waits for work on blocking threads (a
/// publish run, a wait for changes) before it exits anyway.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// A future that completes on SIGTERM or SIGINT (ctrl-c), listening from
/// now on (so a signal that comes before it is awaited is not lost, nor
/// fatal).
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::info!("shutting down");
    })
}

/// A listening socket on `addr`, ready for the async runtime.
fn listen(addr: std::net::SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    listener
        .set_nonblocking(true)
        .with_context(|| format!("cannot listen on {addr}"))?;
    Ok(listener)
}

/// How often a development index checks whether claimed needs renewing.
const RENEW_CHECK: Duration = Duration::from_hours(1);

/// Renews claimed and its claim bins of a development repository with its
/// claimed key when they near their short expiry (see
/// `bulwark_repo::ceremony::renew_claimed_if_due`); `watch_installs` then
/// has the publisher publish them.
async fn renew_development_claimed(
    blobs: Arc<dyn bulwark_store::BlobStore>,
    claimed: SigningKey,
    policy: bulwark_repo::Policy,
) {
    let claimed = Arc::new(claimed);
    loop {
        let (blobs, claimed, policy) = (blobs.clone(), claimed.clone(), policy.clone());
        let renewed = tokio::task::spawn_blocking(move || {
            bulwark_repo::ceremony::renew_claimed_if_due(
                blobs.as_ref(),
                &claimed,
                crate::now(),
                &policy,
            )
        })
        .await;
        match renewed {
            Ok(Ok(Some(version))) => {
                tracing::info!(version, "renewed claimed with the development claimed key");
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::error!("cannot renew claimed: {}", crate::chain(&e.into())),
            Err(e) => tracing::error!("cannot renew claimed: {e}"),
        }
        tokio::time::sleep(RENEW_CHECK).await;
    }
}

/// How often a running index looks for offline metadata stored by
/// `bulwark ceremony install` (a few file lookups and one query).
const INSTALL_POLL: Duration = Duration::from_secs(1);

/// Wakes the publisher when `bulwark ceremony install`, another process,
/// has stored offline metadata newer than the published (a promotion, a
/// key reset, a renewal), so that it is published within seconds rather
/// than at the next timed run (`publish_interval_secs`).
async fn watch_installs(publisher: Arc<Publisher>, wake: Arc<tokio::sync::Notify>) {
    let mut waiting = false;
    loop {
        tokio::time::sleep(INSTALL_POLL).await;
        let p = publisher.clone();
        match tokio::task::spawn_blocking(move || p.offline_waiting()).await {
            Ok(Ok(true)) => {
                if !waiting {
                    tracing::info!("newer offline metadata was installed; publishing it");
                }
                waiting = true;
                wake.notify_one();
            }
            Ok(Ok(false)) => waiting = false,
            // The publisher's own run reports what is wrong.
            Ok(Err(e)) => tracing::debug!("cannot look for installed metadata: {e}"),
            Err(e) => tracing::debug!("cannot look for installed metadata: {e}"),
        }
    }
}

/// Serves the mirror directory `dir` read-only through the index's blob handlers.
fn serve_mirror(
    dir: &std::path::Path,
    listener: std::net::TcpListener,
    settings: &Settings,
) -> anyhow::Result<()> {
    let state = bulwark_mirror::serve::open(dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)
            .context("cannot listen on the bound address")?;
        let addr = listener
            .local_addr()
            .context("cannot read the listening address")?;
        let base = format!("http://{addr}");
        let text = format!(
            "Bulwark is serving the mirror {} (read-only) on {base}/\n\
             \x20 pip:           pip install --index-url {base}/simple/ NAME\n\
             \x20 TUF metadata:  {base}/tuf/metadata/   targets: {base}/tuf/targets/\n",
            dir.display()
        );
        let mut out = std::io::stdout().lock();
        let _ = std::io::Write::write_all(&mut out, text.as_bytes())
            .and_then(|()| std::io::Write::flush(&mut out));
        drop(out);
        bulwark_mirror::serve::serve(listener, state, settings.connection_limits())
            .await
            .context("the server stopped")
    })
}

/// Prints how to use the index. Write errors are ignored: a closed stdout
/// (`bulwark serve | head -1`) must not stop the server.
fn banner(
    addr: &std::net::SocketAddr,
    dir: &std::path::Path,
    root: &std::path::Path,
    development: bool,
) {
    use std::fmt::Write as _;
    let base = format!("http://{addr}");
    let dir = dir.display();
    let mut text = format!(
        "Bulwark is serving {dir} on {base}/\n\
         \x20 pip:           pip install --index-url {base}/simple/ NAME\n\
         \x20 uv:            uv pip install --index-url {base}/simple/ NAME\n\
         \x20 twine:         twine upload --repository-url {base}/legacy/ -u __token__ -p TOKEN dist/*\n\
         \x20 upload token:  bulwark token create --data-dir {dir} USER\n\
         \x20 TUF metadata:  {base}/tuf/metadata/   targets: {base}/tuf/targets/\n\
         \x20 trusted root:  {}\n",
        root.display()
    );
    if development {
        let _ = writeln!(
            text,
            "WARNING: development set-up: every offline key (root, targets, claimed, unclaimed) is in {dir}/keys on this machine. \
             Use it for trying Bulwark out only."
        );
    }
    let mut out = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut out, text.as_bytes())
        .and_then(|()| std::io::Write::flush(&mut out));
}
