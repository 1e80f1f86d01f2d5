//! Micro-benchmark, run by hand (not timed in the test suite): RSA-2048 verify and sign and
//! AES-256-GCM open (a 1 KiB callback resource), with the crates the desk used before (`rsa`,
//! `aes-gcm`) and with ours (aws-lc-rs), in CPU time per call. Compare with
//! `openssl speed -seconds 2 rsa2048` and `openssl speed -seconds 2 -bytes 1024 -evp
//! aes-256-gcm` (which count CPU time too).
//!
//! ```text
//! cargo test -p crypto --release --test bench -- --ignored --nocapture
//! ```

use aes_gcm::aead::{Aead, KeyInit, Payload};
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use std::hint::black_box;
use std::time::{Duration, Instant};

const PKCS8: &str = include_str!("data/pkcs8.pem");

/// This thread's CPU time so far (Linux: the first field of `/proc/thread-self/schedstat`, in
/// nanoseconds), so figures on a busy machine compare with `openssl speed`, which also counts
/// CPU time; wall time where that file is missing.
fn cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Mean CPU time per call of `f` over about `budget` of wall time.
fn per_call(budget: Duration, mut f: impl FnMut()) -> Duration {
    for _ in 0..10 {
        f();
    }
    let start = Instant::now();
    let cpu_start = cpu_time();
    let mut n = 0u32;
    while start.elapsed() < budget {
        for _ in 0..10 {
            f();
        }
        n += 10;
    }
    match (cpu_start, cpu_time()) {
        (Some(a), Some(b)) if b > a => (b - a) / n,
        _ => start.elapsed() / n,
    }
}

fn row(what: &str, before: Duration, after: Duration) {
    println!(
        "{what:<28} {:>10.1} µs {:>10.1} µs {:>7.1}×",
        before.as_secs_f64() * 1e6,
        after.as_secs_f64() * 1e6,
        before.as_secs_f64() / after.as_secs_f64()
    );
}

#[test]
#[ignore = "a benchmark: run by hand with --release --ignored --nocapture"]
fn rsa_and_aes_gcm_before_and_after() {
    let budget = Duration::from_millis(1500);
    let msg =
        b"1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n{\"id\":\"EV-018\",\"resource\":{}}\n";

    let theirs = rsa::RsaPrivateKey::from_pkcs8_pem(PKCS8).expect("key");
    let their_signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(theirs.clone());
    let their_verifier = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(theirs.to_public_key());
    let ours = crypto::PrivateKey::parse(PKCS8).expect("key");
    let our_public = ours.public_key().clone();

    let sig = ours.sign_sha256(msg).expect("sign");
    let their_sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice()).expect("sig");
    assert!(our_public.verify_sha256(msg, &sig));
    assert!(their_verifier.verify(msg, &their_sig).is_ok());

    println!(
        "\n{:<28} {:>13} {:>13} {:>8}",
        "", "rsa/aes-gcm", "aws-lc-rs", "speed-up"
    );
    row(
        "RSA-2048 verify",
        per_call(budget, || {
            black_box(their_verifier.verify(black_box(msg), &their_sig).is_ok());
        }),
        per_call(budget, || {
            black_box(our_public.verify_sha256(black_box(msg), &sig));
        }),
    );
    row(
        "RSA-2048 sign",
        per_call(budget, || {
            black_box(their_signer.sign(black_box(msg)).to_vec());
        }),
        per_call(budget, || {
            black_box(ours.sign_sha256(black_box(msg)).expect("sign"));
        }),
    );

    let key = [7u8; 32];
    let nonce = *b"0123456789ab";
    let plain = vec![b'x'; 1024];
    let sealed = aes_gcm::Aes256Gcm::new_from_slice(&key)
        .expect("key")
        .encrypt(
            aes_gcm::Nonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: b"transaction",
            },
        )
        .expect("seal");
    row(
        "AES-256-GCM open, 1 KiB",
        per_call(budget, || {
            let c = aes_gcm::Aes256Gcm::new_from_slice(&key).expect("key");
            black_box(
                c.decrypt(
                    aes_gcm::Nonce::from_slice(&nonce),
                    Payload {
                        msg: &sealed,
                        aad: b"transaction",
                    },
                )
                .expect("open"),
            );
        }),
        per_call(budget, || {
            black_box(crypto::aead::open(&key, &nonce, b"transaction", &sealed).expect("open"));
        }),
    );
    // Parsing, which the desk now does once per key rather than per callback.
    let spki = include_str!("data/spki.pem");
    row(
        "parse public key (PEM)",
        per_call(budget, || {
            use rsa::pkcs8::DecodePublicKey;
            black_box(rsa::RsaPublicKey::from_public_key_pem(spki).expect("key"));
        }),
        per_call(budget, || {
            black_box(crypto::PublicKey::parse(spki).expect("key"));
        }),
    );
}
