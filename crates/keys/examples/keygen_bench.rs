//! Key generation rate of `mailtrust_keys::generate` (key, DKIM record data, PKCS#8) against
//! the raw aws-lc-rs generation it wraps, measured in the same run, interleaved.
//!
//! `cargo run --release --ignore-rust-version -p mailtrust-keys --example keygen_bench -- [SECONDS]`

use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeySize, PrivateDecryptingKey};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use mailtrust_keys::generate::dkim_record_text;
use mailtrust_keys::{Algorithm, generate};

/// Runs `f` repeatedly for `budget`; returns operations per second.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let budget = Duration::from_secs_f64(secs / 4.0);
    let (mut ours_rsa, mut raw_rsa, mut ours_ed, mut raw_ed) = (0.0, 0.0, 0.0, 0.0);
    // Two interleaved rounds, so a noisy neighbour hits both sides alike.
    for _ in 0..2 {
        ours_rsa += rate(budget, || {
            let k = generate(Algorithm::Rsa2048).expect("rsa");
            std::hint::black_box(dkim_record_text(&k.public));
        });
        raw_rsa += rate(budget, || {
            let k = PrivateDecryptingKey::generate(KeySize::Rsa2048).expect("rsa");
            std::hint::black_box(k.as_der().expect("der"));
        });
        ours_ed += rate(budget / 4, || {
            let k = generate(Algorithm::Ed25519).expect("ed25519");
            std::hint::black_box(dkim_record_text(&k.public));
        });
        raw_ed += rate(budget / 4, || {
            let k = Ed25519KeyPair::generate().expect("ed25519");
            std::hint::black_box(k.public_key().as_ref().len());
        });
    }
    let (ours_rsa, raw_rsa, ours_ed, raw_ed) =
        (ours_rsa / 2.0, raw_rsa / 2.0, ours_ed / 2.0, raw_ed / 2.0);
    println!(
        "RSA-2048: mailtrust {ours_rsa:.1} keys/s, raw aws-lc-rs {raw_rsa:.1} keys/s, ratio {:.2}",
        ours_rsa / raw_rsa
    );
    println!(
        "Ed25519:  mailtrust {ours_ed:.0} keys/s, raw aws-lc-rs {raw_ed:.0} keys/s, ratio {:.2}",
        ours_ed / raw_ed
    );
}
