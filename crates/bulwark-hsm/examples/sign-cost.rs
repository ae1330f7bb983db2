//! What a signature costs on SoftHSM2, against a key file's key, and which
//! way of sharing the token among signing threads is faster.
//!
//! `cargo run --release -p bulwark-hsm --example sign-cost [N]`
//!
//! Makes a throwaway SoftHSM2 token (runs itself again with `SOFTHSM2_CONF`
//! set), then prints the median of N (default 1000) single signatures for
//! ed25519 and ecdsa-p256 on the token and in memory, and the time to sign
//! 256 bins on every core as the publisher does, with one serialised
//! session and with a session per thread.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a measuring tool")]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bulwark_hsm::{KeyRequest, Pin, Pkcs11Key, Pkcs11Uri};
use bulwark_testkit::softhsm::{SOFTHSM_MODULE, SoftHsm};
use bulwark_tuf::keys::{Algorithm, SigningKey};
use bulwark_tuf::signer::Signer;

const PIN: &str = "1234";
/// About a bin's canonical signed bytes.
const MESSAGE: [u8; 2048] = [b'x'; 2048];

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn per_signature(signer: &dyn Signer, n: usize) -> Duration {
    median(
        (0..n)
            .map(|_| {
                let start = Instant::now();
                signer.sign(&MESSAGE).unwrap();
                start.elapsed()
            })
            .collect(),
    )
}

/// Signs `bins` messages on `threads` threads, the median of 5 runs.
fn bins(signer: &dyn Signer, bins: usize, threads: usize) -> Duration {
    median(
        (0..5)
            .map(|_| {
                let start = Instant::now();
                std::thread::scope(|scope| {
                    for _ in 0..threads {
                        scope.spawn(|| {
                            for _ in 0..bins / threads {
                                signer.sign(&MESSAGE).unwrap();
                            }
                        });
                    }
                });
                start.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1000, |n| n.parse().expect("N is a number"));
    if std::env::var_os("SOFTHSM2_CONF").is_none() {
        let hsm = SoftHsm::new();
        hsm.init_token("Bench", PIN);
        let status = Command::new(std::env::current_exe().unwrap())
            .arg(n.to_string())
            .env("SOFTHSM2_CONF", hsm.conf())
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
    let module = Path::new(SOFTHSM_MODULE);
    let pin = Pin::new(PIN.to_owned());
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!("{n} signatures each over {} bytes; medians", MESSAGE.len());
    for (name, algorithm) in [
        ("ed25519", Algorithm::Ed25519),
        ("ecdsa-p256", Algorithm::EcdsaP256),
    ] {
        let uri = Pkcs11Uri::parse(&format!("pkcs11:token=Bench;object={name}")).unwrap();
        Pkcs11Key::generate(module, &uri, &pin, KeyRequest::Exactly(algorithm)).unwrap();
        let pooled = Pkcs11Key::open(module, &uri, &pin).unwrap();
        let serial = Pkcs11Key::open_with_sessions(module, &uri, &pin, 1).unwrap();
        let file = SigningKey::generate(algorithm).unwrap();
        println!(
            "{name:>10}: SoftHSM2 {:>8.1} µs/signature, key file {:>6.1} µs/signature",
            per_signature(&pooled, n).as_secs_f64() * 1e6,
            per_signature(&file, n).as_secs_f64() * 1e6,
        );
        for count in [256, 1024] {
            println!(
                "{name:>10}: {count} bins on {threads} threads: one serialised session {:>7.1} ms, a session per thread {:>7.1} ms, key file {:>6.1} ms",
                bins(&serial, count, threads).as_secs_f64() * 1e3,
                bins(&pooled, count, threads).as_secs_f64() * 1e3,
                bins(&file, count, threads).as_secs_f64() * 1e3,
            );
        }
    }
}
