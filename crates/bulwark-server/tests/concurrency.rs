//! The index under concurrent load on a real socket: a few hundred clients
//! at once, uploading distinct files (many to the same project), racing
//! identical re-uploads, racing two users to create the same project, and
//! downloading pages, files and metadata meanwhile — with the publisher
//! running beside them as `bulwark serve` runs it. Afterwards every
//! accepted upload must be stored, downloadable and, once the publisher
//! has settled, in the signed pages; every new project must have exactly
//! one owner; nothing refused may have left a blob behind; and no request
//! may have failed with a 5xx.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed step should abort the test with its reason"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulwark_server::ServerConfig;
use bulwark_tuf::hash::sha256_hex;
use common::{
    Dist, Form, Repo, StateKind, array, file_entry, get, json, resolve, sdist, string, token_auth,
    wheel,
};
use reqwest::StatusCode;
use tokio::sync::Barrier;

const JSON_ACCEPT: &str = "application/vnd.pypi.simple.v1+json";
const USERS: [&str; 3] = ["alice", "bob", "carol"];

/// One client's request and what it may get back.
#[derive(Clone)]
enum Job {
    /// An upload that must succeed.
    Upload { user: &'static str, dist: Dist },
    /// One side of two users racing to create `project`: 200 or 403.
    Race {
        user: &'static str,
        dist: Dist,
        project: String,
    },
    /// A download that must succeed; when `sha256` is set, of these bytes.
    Download {
        path: String,
        sha256: Option<String>,
    },
    /// A page that may not exist yet: 200 or 404.
    MaybePage { path: String },
}

struct Outcome {
    job: Job,
    status: StatusCode,
    body: Vec<u8>,
}

/// The index on a loopback socket, with its publisher task.
struct Server {
    repo: Repo,
    base: String,
    tokens: BTreeMap<&'static str, String>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn with(config: ServerConfig) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let repo = Repo::new(StateKind::File);
        let tokens = USERS
            .into_iter()
            .map(|user| (user, repo.token(user)))
            .collect();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = repo.state(config);
        let lease = bulwark_server::publisher::Lease::take(
            repo.store.clone(),
            "test".to_owned(),
            state.publish.clone(),
        )
        .await;
        let task = tokio::spawn(bulwark_server::serve(
            listener,
            None,
            state,
            repo.publisher.clone(),
            lease,
            std::future::pending(),
        ));
        Self {
            repo,
            base,
            tokens,
            task,
        }
    }

    /// Runs one job on its own client (its own connection).
    async fn run(&self, job: &Job) -> (StatusCode, Vec<u8>) {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let request = match job {
            Job::Upload { user, dist } | Job::Race { user, dist, .. } => client
                .post(format!("{}/legacy/", self.base))
                .header("content-type", Form::content_type())
                .header("authorization", token_auth(&self.tokens[user]))
                .body(Form::twine(dist).body()),
            Job::Download { path, .. } | Job::MaybePage { path } => client
                .get(format!("{}{path}", self.base))
                .header("accept", JSON_ACCEPT),
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = response.status();
        let body = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("body failed: {e}"));
        (status, body.to_vec())
    }

    async fn fetch(&self, client: &reqwest::Client, path: &str) -> (StatusCode, Vec<u8>) {
        let url = format!("{}{path}", self.base);
        let response = client
            .get(url)
            .header("accept", JSON_ACCEPT)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.bytes().await.unwrap().to_vec())
    }
}

/// The mixed workload, interleaved so that every moment mixes its kinds.
fn workload(seed: &Dist) -> Vec<Job> {
    let mut jobs = Vec::new();
    // Distinct files, twelve versions to each of eight new projects.
    for p in 0..8 {
        let project = format!("shared-{p}");
        let user = if p % 2 == 0 { "alice" } else { "bob" };
        for v in 0..12 {
            let version = format!("1.{v}");
            let dist = if v % 3 == 2 {
                sdist(&project, &version)
            } else {
                wheel(&project, &version)
            };
            jobs.push(Job::Upload { user, dist });
        }
    }
    // Identical re-uploads racing each other: three copies of each.
    for i in 0..10 {
        let dist = wheel(&format!("dup-{i}"), "1.0");
        jobs.extend((0..3).map(|_| Job::Upload {
            user: "carol",
            dist: dist.clone(),
        }));
    }
    // Two users racing to create the same project: with the very same file
    // (so the winner's and the loser's blobs are the same blobs) ...
    for i in 0..12 {
        let project = format!("race-{i}");
        let dist = wheel(&project, "1.0");
        let users = if i % 2 == 0 {
            ["alice", "bob"]
        } else {
            ["bob", "carol"]
        };
        for user in users {
            jobs.push(Job::Race {
                user,
                dist: dist.clone(),
                project: project.clone(),
            });
        }
    }
    // ... and with different files.
    for i in 12..20 {
        let project = format!("race-{i}");
        jobs.push(Job::Race {
            user: "alice",
            dist: wheel(&project, "1.0"),
            project: project.clone(),
        });
        jobs.push(Job::Race {
            user: "carol",
            dist: sdist(&project, "1.0"),
            project,
        });
    }
    // Downloads of what exists, and of pages being created.
    for i in 0..70 {
        let download = |path: &str, sha256: Option<String>| Job::Download {
            path: path.to_owned(),
            sha256,
        };
        jobs.push(match i % 5 {
            0 => download("/simple/seed/", None),
            1 => download("/simple/", None),
            2 => download(&seed.file_url(), Some(seed.sha256())),
            3 => download("/tuf/metadata/timestamp.json", None),
            _ => Job::MaybePage {
                path: format!("/simple/shared-{}/", i % 8),
            },
        });
    }
    let n = jobs.len();
    let order: BTreeSet<usize> = (0..n).map(|i| (i * 37) % n).collect();
    assert!(n >= 200 && order.len() == n, "a permutation of {n} jobs");
    (0..n).map(|i| jobs[(i * 37) % n].clone()).collect()
}

/// Runs every job at once: each on its own connection, released together.
async fn storm(server: &Arc<Server>, jobs: Vec<Job>) -> Vec<Outcome> {
    let barrier = Arc::new(Barrier::new(jobs.len()));
    let tasks: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let (server, barrier) = (server.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let (status, body) = server.run(&job).await;
                Outcome { job, status, body }
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    outcomes
}

/// What the storm accepted: every accepted file, and who won each race.
struct Accepted {
    dists: Vec<Dist>,
    winners: BTreeMap<String, Vec<&'static str>>,
    losers: BTreeMap<String, Vec<&'static str>>,
}

/// Checks that each answer was allowed (and none was a 5xx).
fn judge(outcomes: &[Outcome], seed: &Dist) -> Accepted {
    let mut accepted = Accepted {
        dists: vec![seed.clone()],
        winners: BTreeMap::new(),
        losers: BTreeMap::new(),
    };
    for Outcome { job, status, body } in outcomes {
        let text = String::from_utf8_lossy(body);
        assert!(!status.is_server_error(), "{status}: {text}");
        match job {
            Job::Upload { dist, .. } => {
                assert_eq!(*status, StatusCode::OK, "{}: {text}", dist.filename);
                accepted.dists.push(dist.clone());
            }
            Job::Race {
                user,
                dist,
                project,
            } => match *status {
                StatusCode::OK => {
                    accepted
                        .winners
                        .entry(project.clone())
                        .or_default()
                        .push(user);
                    accepted.dists.push(dist.clone());
                }
                StatusCode::FORBIDDEN => {
                    assert_eq!(text, format!("The user does not own project {project}\n"));
                    accepted
                        .losers
                        .entry(project.clone())
                        .or_default()
                        .push(user);
                }
                other => panic!("{project} for {user}: {other} {text}"),
            },
            Job::Download { path, sha256 } => {
                assert_eq!(*status, StatusCode::OK, "{path}: {text}");
                match sha256 {
                    Some(sha256) => assert_eq!(&sha256_hex(body), sha256, "{path}"),
                    None => drop(json(body)),
                }
            }
            Job::MaybePage { path } => {
                assert!(
                    matches!(*status, StatusCode::OK | StatusCode::NOT_FOUND),
                    "{path}: {status}"
                );
                if *status == StatusCode::OK {
                    assert!(!array(get(&json(body), "files")).is_empty());
                }
            }
        }
    }
    accepted
}

/// Checks the store and the blobs against what was accepted; returns the
/// filenames of each project.
fn check_store(repo: &Repo, accepted: &Accepted) -> BTreeMap<String, BTreeSet<String>> {
    // Each raced project has exactly one owner, the one winner; the other lost with 403.
    for i in 0..20 {
        let project = format!("race-{i}");
        let winners = accepted.winners.get(&project).cloned().unwrap_or_default();
        let losers = accepted.losers.get(&project).cloned().unwrap_or_default();
        assert_eq!(
            (winners.len(), losers.len()),
            (1, 1),
            "{project}: won by {winners:?}, lost by {losers:?}"
        );
        assert_eq!(
            repo.store.project(&project).unwrap().unwrap().created_by,
            winners[0],
            "{project}"
        );
        let files = repo.store.files(&project).unwrap();
        assert_eq!(files.len(), 1, "{project}: only the winner's file");
        assert_eq!(files[0].uploader, winners[0]);
    }
    // The projects uploaded by one user each belong to that user alone.
    for p in 0..8 {
        let owner = if p % 2 == 0 { "alice" } else { "bob" };
        assert_eq!(
            repo.store
                .project(&format!("shared-{p}"))
                .unwrap()
                .unwrap()
                .created_by,
            owner
        );
    }
    for i in 0..10 {
        let project = format!("dup-{i}");
        assert_eq!(
            repo.store.project(&project).unwrap().unwrap().created_by,
            "carol"
        );
        assert_eq!(
            repo.store.files(&project).unwrap().len(),
            1,
            "{project}: one record for three identical uploads"
        );
    }
    // Every accepted upload is recorded, with its blobs; nothing else is
    // under files/, so refused uploads left nothing behind.
    let mut expected_blobs = BTreeSet::new();
    let mut by_project: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for dist in &accepted.dists {
        let record = repo.store.file_by_sha256(&dist.sha256()).unwrap();
        let record = record.unwrap_or_else(|| panic!("{} not recorded", dist.filename));
        assert_eq!(record.filename, dist.filename);
        let stored = repo.blobs.get(&dist.file_key()).unwrap();
        assert!(
            stored.as_deref() == Some(dist.bytes.as_slice()),
            "the blob of accepted {} is missing or wrong",
            dist.filename
        );
        expected_blobs.insert(dist.file_key());
        if dist.is_wheel() {
            let key = format!("{}.metadata", dist.file_key());
            let metadata = repo.blobs.get(&key).unwrap();
            assert!(
                metadata.as_deref() == Some(dist.metadata.as_slice()),
                "the .metadata of accepted {} is missing",
                dist.filename
            );
            expected_blobs.insert(key);
        }
        by_project
            .entry(record.project)
            .or_default()
            .insert(dist.filename.clone());
    }
    let blobs: BTreeSet<String> = repo.blobs.list("files/").unwrap().into_iter().collect();
    assert_eq!(
        blobs, expected_blobs,
        "blobs under files/ are exactly those of accepted uploads"
    );
    for (project, filenames) in &by_project {
        let stored: BTreeSet<String> = repo
            .store
            .files(project)
            .unwrap()
            .into_iter()
            .map(|f| f.filename)
            .collect();
        assert_eq!(&stored, filenames, "{project}");
    }
    assert_eq!(repo.store.projects().unwrap().len(), by_project.len());
    by_project
}

/// Waits until the publisher has drained the queue.
async fn settle(repo: &Repo) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !repo.store.pending_changes().unwrap().projects.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the publisher did not drain the queue: {:?}",
            repo.store.pending_changes().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks, over HTTP, that each project's live page is its signed page,
/// listing every accepted file, and that every file URL on it resolves.
async fn check_signed(
    server: &Server,
    accepted: &Accepted,
    by_project: &BTreeMap<String, BTreeSet<String>>,
) {
    let client = reqwest::Client::builder().build().unwrap();
    for (project, filenames) in by_project {
        let (status, live) = server.fetch(&client, &format!("/simple/{project}/")).await;
        assert_eq!(status, StatusCode::OK);
        let fetch_metadata = async |path: &str| {
            let (status, body) = server.fetch(&client, path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            body
        };
        let signed = common::signed_page_target(fetch_metadata, project, &server.repo.policy).await;
        let (length, sha256) = signed.unwrap_or_else(|| panic!("{project} is not signed"));
        assert_eq!(
            length,
            live.len() as u64,
            "{project}: live page = signed page"
        );
        assert_eq!(
            sha256,
            sha256_hex(&live),
            "{project}: live page = signed page"
        );
        let signed_dir = format!("/tuf/targets/simple/{project}/");
        let (status, signed) = server
            .fetch(&client, &format!("{signed_dir}{sha256}.index.json"))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(signed, live);
        let page = json(&signed);
        let listed: BTreeSet<String> = array(get(&page, "files"))
            .iter()
            .map(|f| string(get(f, "filename")).to_owned())
            .collect();
        assert_eq!(
            &listed, filenames,
            "{project}: the signed page lists every accepted file"
        );
        for dist in accepted
            .dists
            .iter()
            .filter(|d| filenames.contains(&d.filename))
        {
            let url = string(get(file_entry(&page, &dist.filename), "url"));
            let (status, bytes) = server.fetch(&client, &resolve(&signed_dir, url)).await;
            assert_eq!(status, StatusCode::OK, "{url}");
            assert_eq!(sha256_hex(&bytes), dist.sha256(), "{url}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_concurrent_clients_leave_a_consistent_signed_index() {
    let started = Instant::now();
    // Every upload of the storm at once: none may be turned away as busy
    // (uploads_e2e covers that answer).
    let server = Arc::new(
        Server::with(ServerConfig {
            max_concurrent_uploads: 1024,
            ..ServerConfig::default()
        })
        .await,
    );
    // A project that exists before the storm, for the downloads.
    let seed = wheel("seed", "1.0");
    let (status, _) = server
        .run(&Job::Upload {
            user: "alice",
            dist: seed.clone(),
        })
        .await;
    assert_eq!(status, StatusCode::OK);

    let jobs = workload(&seed);
    let n = jobs.len();
    let outcomes = storm(&server, jobs).await;
    let stormed = started.elapsed();
    let accepted = judge(&outcomes, &seed);
    let by_project = check_store(&server.repo, &accepted);
    settle(&server.repo).await;
    let settled = started.elapsed();
    check_signed(&server, &accepted, &by_project).await;

    server.task.abort();
    let total = started.elapsed();
    eprintln!(
        "{n} clients: storm done at {stormed:?}, published at {settled:?}, checked at {total:?}"
    );
    assert!(total < Duration::from_mins(1), "took {total:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_uploads_get_a_413_answer_not_a_reset() {
    // Larger than the socket buffers, so the server answers while the
    // client is still sending: the client must still read the 413.
    let server = Arc::new(
        Server::with(ServerConfig {
            max_upload_bytes: 1 << 20,
            ..ServerConfig::default()
        })
        .await,
    );
    let noise: Vec<u8> = (0u32..(8 << 20) / 4)
        .flat_map(|i| {
            i.wrapping_mul(2_654_435_761)
                .rotate_left(i % 31)
                .to_le_bytes()
        })
        .collect();
    let metadata = common::core_metadata("demo", "1.0", None);
    let large = common::wheel_with(
        "demo",
        "1.0",
        Some(&metadata),
        &[("demo/noise.bin", &noise)],
    );
    assert!(large.bytes.len() > 8 << 20);
    let jobs = vec![
        Job::Upload {
            user: "alice",
            dist: large
        };
        4
    ];
    for Outcome { status, body, .. } in storm(&server, jobs).await {
        assert_eq!(
            status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    assert!(server.repo.blobs.list("files/").unwrap().is_empty());
    assert!(server.repo.store.projects().unwrap().is_empty());
    let (status, _) = server
        .run(&Job::Upload {
            user: "alice",
            dist: wheel("demo", "1.0"),
        })
        .await;
    assert_eq!(status, StatusCode::OK);
    server.task.abort();
}
