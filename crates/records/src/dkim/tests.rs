//! DKIM key record test vectors: real RSA keys made with `openssl genrsa` (public halves
//! only), the RFC 8463 Ed25519 example, revoked keys, and random inputs.

use super::*;
use crate::testing::{ALPHABET, Inputs, kinds};

/// `openssl genrsa 1024 | openssl rsa -pubout -outform DER | base64`
const RSA_1024_SPKI: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCSup3S0GHx6i7D7mR1Hv0qUuqf0FTNfCI6298NHp5S3bRe6jDTPVJVOvDRzUoN/CTCtkS+FBIHnjBwCFLW8wGPlZHViSQCGi53DgvgY8Jq+DM//MCzI0hGHBP2sSOjW8bMZoBjfNuNcoSjFT6gmEzYPNNcpPmeFnjHRVhRMGrEowIDAQAB";
/// `openssl genrsa 2048 | openssl rsa -pubout -outform DER | base64`
const RSA_2048_SPKI: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtrBfUv3ubgg7aoqztOc8ZZxnP+xazUfrE15gJiGT1ruVe1wuRrfa7fBdLlmm/VHYOhMO79+wVJfVS7eaR7pN+XuCc4aAkIUXfffXmbSOs4V8uoJXxoFh70WO8FQr+dX9tak9rriIzDCqc4BN8c5KPLLeWk8Ec0mArnQy+9d+4uXF944RKGsuzSnrztXk2i0I2EBcYhaTEEOEZ4BD48Ex1L+0KVqpKwCZJSLOYaY/jmdvumUsud9YF6PrJAdPaoKxyZQhJBwqdqn34f+JIqP91GeE91Uv3zqv+ePiRRlzG+3gUrLUrDWKQHjYyJkx8hf0g+9YcUOvS8veXG2LtTuXwwIDAQAB";
/// The 1024-bit key above as a bare PKCS#1 RSAPublicKey (`openssl rsa -RSAPublicKey_out`).
const RSA_1024_PKCS1: &str = "MIGJAoGBAJK6ndLQYfHqLsPuZHUe/SpS6p/QVM18Ijrb3w0enlLdtF7qMNM9UlU68NHNSg38JMK2RL4UEgeeMHAIUtbzAY+VkdWJJAIaLncOC+Bjwmr4Mz/8wLMjSEYcE/axI6NbxsxmgGN8241yhKMVPqCYTNg801yk+Z4WeMdFWFEwasSjAgMBAAE=";
/// `openssl genrsa 512 | openssl rsa -pubout -outform DER | base64`
const RSA_512_SPKI: &str = "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAK9TdBy0zyxtCmu9xSMRVxr2NKUe7JoC19kkexwOBCqpqlMILFkElwAU4sfc3cUW3MBiQmzCoajB7PEKOsmnLJ0CAwEAAQ==";
/// RFC 8463 Appendix A.2, the `brisbane._domainkey.football.example.com` Ed25519 key.
const RFC8463_ED25519: &str = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

fn parse(s: &str) -> DkimKeyRecord {
    DkimKeyRecord::parse(s.as_bytes())
}

#[test]
fn rsa_2048() {
    let r = parse(&format!("v=DKIM1; k=rsa; p={RSA_2048_SPKI}"));
    assert!(r.is_usable(), "{:?}", r.diagnostics);
    assert_eq!(r.key_type, DkimKeyType::Rsa);
    assert_eq!(r.key_bits, Some(2048));
    assert!(kinds(&r.diagnostics).is_empty());
}

#[test]
fn rsa_1024_spki_and_pkcs1() {
    for p in [RSA_1024_SPKI, RSA_1024_PKCS1] {
        let r = parse(&format!("v=DKIM1; p={p}"));
        assert_eq!(r.key_bits, Some(1024));
        assert_eq!(kinds(&r.diagnostics), vec!["rsa_key_below2048"]);
        assert!(r.is_usable());
    }
}

#[test]
fn rsa_512_is_refused() {
    let r = parse(&format!("p={RSA_512_SPKI}"));
    assert_eq!(r.key_bits, Some(512));
    assert_eq!(kinds(&r.diagnostics), vec!["rsa_key_too_small"]);
    assert!(!r.is_usable());
}

#[test]
fn key_split_by_white_space() {
    let (a, b) = RSA_2048_SPKI.split_at(100);
    let r = parse(&format!("v=DKIM1; k=rsa; p={a} \t{b}"));
    assert_eq!(r.key_bits, Some(2048));
}

#[test]
fn rfc8463_ed25519_example() {
    let r = parse(RFC8463_ED25519);
    assert!(r.is_usable(), "{:?}", r.diagnostics);
    assert_eq!(r.key_type, DkimKeyType::Ed25519);
    assert_eq!(r.key_bits, Some(256));
    // An Ed25519 key published as SubjectPublicKeyInfo (44 bytes) is the classic mistake.
    let r = parse("k=ed25519; p=MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
    assert_eq!(kinds(&r.diagnostics), vec!["ed25519_key_length"]);
    // And an Ed25519 key under k=rsa.
    let r = parse("p=MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
    assert_eq!(kinds(&r.diagnostics), vec!["undecodable_key"]);
}

#[test]
fn revoked_key() {
    for txt in ["v=DKIM1; p=", "v=DKIM1; k=rsa; p= ;"] {
        let r = parse(txt);
        assert!(r.revoked, "{txt}");
        assert!(r.is_valid());
        assert!(!r.is_usable());
        assert_eq!(kinds(&r.diagnostics), vec!["revoked"]);
    }
}

#[test]
fn tags() {
    let r = parse(&format!(
        "v=DKIM1; h=sha256:sha1; t=y:s:x; s=email; n=rotated 2024; p={RSA_2048_SPKI}"
    ));
    assert_eq!(
        r.hash_algorithms,
        Some(vec![HashAlgorithm::Sha256, HashAlgorithm::Sha1])
    );
    assert!(r.testing && r.strict);
    assert_eq!(r.services, vec![ServiceType::Email]);
    assert_eq!(r.notes.as_deref(), Some("rotated 2024"));
    assert_eq!(r.version.as_deref(), Some("DKIM1"));
    assert_eq!(kinds(&r.diagnostics), vec!["testing"]);
}

#[test]
fn diagnostics() {
    let k = RSA_2048_SPKI;
    let cases: Vec<(String, Vec<&str>)> = vec![
        (format!("k=rsa; v=DKIM1; p={k}"), vec!["version_not_first"]),
        (format!("v=DKIM2; p={k}"), vec!["bad_version"]),
        (format!("v=DKIM1; h=sha1; p={k}"), vec!["sha1_only"]),
        (
            format!("v=DKIM1; s=tlsrpt; p={k}"),
            vec!["service_not_email"],
        ),
        (format!("v=DKIM1; s=*; p={k}"), vec![]),
        (format!("v=DKIM1; k=dsa; p={k}"), vec!["unknown_key_type"]),
        (format!("v=DKIM1; p={k}; p={k}"), vec!["duplicate_tag"]),
        (format!("v=DKIM1; junk; p={k}"), vec!["tag_syntax"]),
        (
            format!("v=DKIM1; x=1; P=2; p={k}"),
            vec!["unknown_tag", "unknown_tag"],
        ),
        ("v=DKIM1; k=rsa".to_owned(), vec!["missing_key"]),
        ("v=DKIM1; p=not*base64".to_owned(), vec!["bad_base64"]),
        ("v=DKIM1; p=AAAA".to_owned(), vec!["undecodable_key"]),
        (
            "v=DKIM1; k=ed25519; p=AAAA".to_owned(),
            vec!["ed25519_key_length"],
        ),
    ];
    for (txt, want) in cases {
        let r = parse(&txt);
        assert_eq!(kinds(&r.diagnostics), want, "{txt}");
        for d in &r.diagnostics {
            assert!(!d.to_string().is_empty());
        }
    }
}

#[test]
fn random_input_never_panics() {
    let mut inputs = Inputs::new(0xd1c1);
    let with_rsa = format!("v=DKIM1; k=rsa; p={RSA_1024_SPKI}");
    let with_pkcs1 = format!("p={RSA_1024_PKCS1}");
    let seeds = [
        RFC8463_ED25519,
        with_rsa.as_str(),
        with_pkcs1.as_str(),
        "v=DKIM1; h=sha1:sha256; t=y; s=email",
    ];
    for _ in 0..20_000 {
        let _ = DkimKeyRecord::parse(&inputs.bytes(ALPHABET, &seeds));
    }
    // Random DER: truncate and corrupt a real key.
    let der = data_encoding::BASE64
        .decode(RSA_1024_SPKI.as_bytes())
        .unwrap();
    for _ in 0..5_000 {
        let mut bytes = der.clone();
        let cut = (inputs.next_u64() as usize) % (bytes.len() + 1);
        bytes.truncate(cut);
        for _ in 0..3 {
            let i = (inputs.next_u64() as usize) % (bytes.len().max(1));
            if let Some(b) = bytes.get_mut(i) {
                *b = inputs.next_u64() as u8;
            }
        }
        let _ = der::rsa_modulus_bits(&bytes);
    }
}
