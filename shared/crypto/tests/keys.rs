//! Every key form we accept, checked against an independent implementation (the `rsa` crate):
//! what one signs the other verifies, what it encrypts we decrypt; and the refusals.

use base64::Engine;
use crypto::{KeyError, PrivateKey, PublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer, Verifier};

const PKCS8: &str = include_str!("data/pkcs8.pem");
const PKCS1: &str = include_str!("data/pkcs1.pem");
const SPKI: &str = include_str!("data/spki.pem");
const PKCS1_PUBLIC: &str = include_str!("data/pkcs1_public.pem");
const CERT: &str = include_str!("data/cert.pem");
const SMALL: &str = include_str!("data/small.pem");
const EC: &str = include_str!("data/ec.pem");
const EC_CERT: &str = include_str!("data/ec_cert.pem");

fn bare(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn theirs() -> rsa::RsaPrivateKey {
    rsa::RsaPrivateKey::from_pkcs8_pem(PKCS8).expect("the test key")
}

#[test]
fn private_keys_parse_in_every_form_we_accept() {
    let forms = [
        PKCS8.to_string(),
        PKCS1.to_string(),
        bare(PKCS8),
        bare(PKCS1),
        // Stray whitespace and CRLF line endings, as keys pasted into a form arrive.
        format!("\n  {}\n", PKCS8.replace('\n', "\r\n")),
    ];
    let first = PrivateKey::parse(&forms[0]).expect("PKCS#8 PEM");
    assert_eq!(first.bits(), 2048);
    for f in &forms {
        let k = PrivateKey::parse(f).unwrap_or_else(|e| panic!("{e}: {f:.40}"));
        assert_eq!(k.public_key(), first.public_key());
    }
    let der = crypto::pem::blocks(PKCS8, "PRIVATE KEY").expect("pem")[0].clone();
    assert!(PrivateKey::from_pkcs8_der(&der).is_ok());
    assert_eq!(
        PrivateKey::from_pkcs1_der(&der).err(),
        Some(KeyError::NotPrivateKey)
    );
}

#[test]
fn public_keys_parse_in_every_form_we_accept() {
    let expected = PrivateKey::parse(PKCS8).expect("key").public_key().clone();
    for f in [SPKI, PKCS1_PUBLIC, &bare(SPKI), &bare(PKCS1_PUBLIC)] {
        assert_eq!(PublicKey::parse(f).as_ref(), Ok(&expected), "{f:.40}");
    }
    let cert = crypto::pem::blocks(CERT, "CERTIFICATE").expect("pem")[0].clone();
    assert_eq!(PublicKey::from_certificate_der(&cert), Ok(expected.clone()));
    // The fingerprinted form is the SubjectPublicKeyInfo, whatever form came in.
    assert_eq!(
        expected.spki_der(),
        crypto::pem::blocks(SPKI, "PUBLIC KEY").expect("pem")[0].as_slice()
    );
}

#[test]
fn malformed_wrong_kind_and_small_keys_are_refused_with_a_reason() {
    for bad in [
        "",
        "not a key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----\nMIIB",
        SPKI,
        CERT,
        EC,
    ] {
        assert_eq!(
            PrivateKey::parse(bad).err(),
            Some(KeyError::NotPrivateKey),
            "{bad:.40}"
        );
    }
    for bad in ["", "AAAA", PKCS8, CERT] {
        assert_eq!(
            PublicKey::parse(bad).err(),
            Some(KeyError::NotPublicKey),
            "{bad:.40}"
        );
    }
    assert_eq!(PrivateKey::parse(SMALL).err(), Some(KeyError::TooSmall));
    let small_public = rsa::RsaPrivateKey::from_pkcs8_pem(SMALL)
        .expect("small key")
        .to_public_key();
    let small_spki = rsa::pkcs8::EncodePublicKey::to_public_key_der(&small_public).expect("der");
    assert_eq!(
        PublicKey::from_der(small_spki.as_bytes()).err(),
        Some(KeyError::TooSmall)
    );
    let ec_cert = crypto::pem::blocks(EC_CERT, "CERTIFICATE").expect("pem")[0].clone();
    assert_eq!(
        PublicKey::from_certificate_der(&ec_cert).err(),
        Some(KeyError::NotRsa)
    );
    assert_eq!(
        PublicKey::from_certificate_der(b"\x30\x03\x02\x01\x01").err(),
        Some(KeyError::NotCertificate)
    );
    // No key material in the reasons.
    for e in [KeyError::NotPrivateKey, KeyError::TooSmall] {
        assert!(!e.to_string().contains("MII"));
    }
    assert!(!format!("{:?}", PrivateKey::parse(PKCS8).expect("key")).contains("MII"));
}

#[test]
fn signatures_agree_with_an_independent_implementation() {
    let ours = PrivateKey::parse(PKCS1).expect("key");
    let msg = b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n";
    let sig = ours.sign_sha256(msg).expect("sign");
    // PKCS#1 v1.5 is deterministic: the same bytes as the rsa crate's.
    let expected = SigningKey::<sha2::Sha256>::new(theirs()).sign(msg).to_vec();
    assert_eq!(sig, expected);
    let verifying = VerifyingKey::<sha2::Sha256>::new(theirs().to_public_key());
    let parsed = Signature::try_from(sig.as_slice()).expect("signature");
    assert!(verifying.verify(msg, &parsed).is_ok());
    // Ours verifies theirs; a changed message, signature or key does not.
    let public = PublicKey::parse(SPKI).expect("public");
    assert!(public.verify_sha256(msg, &expected));
    assert!(!public.verify_sha256(b"other", &expected));
    let mut flipped = expected.clone();
    flipped[10] ^= 1;
    assert!(!public.verify_sha256(msg, &flipped));
    assert!(!public.verify_sha256(msg, &expected[1..]));
    assert!(!public.verify_sha256(msg, &[]));
    let other = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen");
    let other_sig = SigningKey::<sha2::Sha256>::new(other).sign(msg).to_vec();
    assert!(!public.verify_sha256(msg, &other_sig));
}

#[test]
fn oaep_sha1_decrypts_what_an_independent_implementation_encrypted() {
    let ours = PrivateKey::parse(PKCS8).expect("key");
    let ct = theirs()
        .to_public_key()
        .encrypt(
            &mut rand::thread_rng(),
            rsa::Oaep::new::<sha1::Sha1>(),
            b"13800000000",
        )
        .expect("encrypt");
    assert_eq!(
        ours.decrypt_oaep_sha1(&ct).as_deref(),
        Ok(&b"13800000000"[..])
    );
    // SHA-256 OAEP (not what WeChat Pay uses) does not decrypt as SHA-1.
    let sha256 = theirs()
        .to_public_key()
        .encrypt(
            &mut rand::thread_rng(),
            rsa::Oaep::new::<sha2::Sha256>(),
            b"13800000000",
        )
        .expect("encrypt");
    assert!(ours.decrypt_oaep_sha1(&sha256).is_err());
    assert!(ours.decrypt_oaep_sha1(&ct[1..]).is_err());
    assert!(ours.decrypt_oaep_sha1(b"").is_err());
    let b64 = base64::engine::general_purpose::STANDARD.encode(&ct);
    assert!(!b64.is_empty());
}
