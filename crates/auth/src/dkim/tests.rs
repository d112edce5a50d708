//! Verification through the prefetched-key path, without a network: key answers are built by
//! hand as the resolver would return them, and `mail-auth`'s own resolver points at a closed
//! loopback port, so a key that missed the cache would come back as a temporary error.

use super::*;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use hickory_proto::rr::rdata::TXT;
use mail_auth::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::dkim::DkimSigner;
use mail_auth::headers::HeaderWriter;
use mailtrust_dns::{BogusReason, RecordEntry};

const MESSAGE: &str = "From: Alice <alice@example.test>\r\nTo: bob@example.org\r\nSubject: hello\r\nDate: Wed, 25 Nov 2026 20:00:00 +0000\r\nMessage-ID: <1@example.test>\r\n\r\nHello Bob.\r\n";

fn offline_authenticator() -> MessageAuthenticator {
    use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
    let mut ns = NameServerConfig::udp_and_tcp("127.0.0.1".parse().unwrap());
    for c in &mut ns.connections {
        c.port = 9; // discard: nothing answers DNS there
    }
    let mut opts = ResolverOpts::default();
    opts.timeout = Duration::from_millis(200);
    opts.attempts = 0;
    MessageAuthenticator::new(ResolverConfig::from_parts(None, vec![], vec![ns]), opts).unwrap()
}

fn answer(name: &str, outcome: Outcome, dnssec: DnssecStatus, txt: Option<&str>) -> Answer {
    let mut a = Answer::new(name.into(), QueryType::Txt, outcome, dnssec.clone());
    if let Some(t) = txt {
        let strings: Vec<String> = t
            .as_bytes()
            .chunks(255)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        a.records.push(RecordEntry {
            name: name.into(),
            rtype: "TXT".into(),
            ttl: 300,
            data: t.into(),
            strings: None,
            dnssec,
            rdata: RData::TXT(TXT::new(strings)),
        });
    }
    a
}

/// The key record `txt` at `name`, as the resolver returns it.
fn served(name: &str, dnssec: DnssecStatus, txt: &str) -> Answer {
    answer(name, Outcome::Records, dnssec, Some(txt))
}

struct Keys {
    rsa_record: String,
    ed_record: String,
    signed: String,
}

fn rsa_pkcs8(bits: KeySize) -> Vec<u8> {
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
    let pair = aws_lc_rs::rsa::KeyPair::generate(bits).unwrap();
    let der: Pkcs8V1Der<'_> = pair.as_der().unwrap();
    der.as_ref().to_vec()
}

fn sign_both() -> Keys {
    let rsa_der = rsa_pkcs8(KeySize::Rsa2048);
    let rsa =
        RsaKey::<Sha256>::from_key_der(rustls_pki_types::PrivateKeyDer::Pkcs8(rsa_der.into()))
            .unwrap();
    let rsa_pub = data_encoding::BASE64.encode(&rsa.public_key());
    let ed_doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let ed_pair = Ed25519KeyPair::from_pkcs8(ed_doc.as_ref()).unwrap();
    let ed_pub = data_encoding::BASE64.encode(ed_pair.public_key().as_ref());
    let ed = Ed25519Key::from_pkcs8_der(ed_doc.as_ref()).unwrap();
    let s1 = DkimSigner::from_key(rsa)
        .domain("example.test")
        .selector("rsa1")
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .sign(MESSAGE.as_bytes())
        .unwrap();
    let s2 = DkimSigner::from_key(ed)
        .domain("example.test")
        .selector("ed1")
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .sign(MESSAGE.as_bytes())
        .unwrap();
    Keys {
        rsa_record: format!("v=DKIM1; k=rsa; p={rsa_pub}"),
        ed_record: format!("v=DKIM1; k=ed25519; p={ed_pub}"),
        signed: format!("{}{}{MESSAGE}", s1.to_header(), s2.to_header()),
    }
}

async fn run(raw: &str, answers: &[Answer]) -> DkimReport {
    let message = AuthenticatedMessage::parse(raw.as_bytes()).unwrap();
    let fetched = answers
        .iter()
        .map(|a| (a.name.to_fqdn().into_owned(), to_txt_record(a)))
        .collect();
    judge(&offline_authenticator(), &message, fetched).await
}

const RSA_NAME: &str = "rsa1._domainkey.example.test.";
const ED_NAME: &str = "ed1._domainkey.example.test.";

#[tokio::test]
async fn both_signatures_pass_with_prefetched_keys_and_say_how_the_key_was_protected() {
    let k = sign_both();
    let report = run(
        &k.signed,
        &[
            served(RSA_NAME, DnssecStatus::Secure, &k.rsa_record),
            served(ED_NAME, DnssecStatus::Insecure, &k.ed_record),
        ],
    )
    .await;
    assert_eq!(report.signatures.len(), 2, "{report:?}");
    let rsa = report.find("example.test", "rsa1").unwrap();
    assert_eq!(rsa.verdict, Verdict::Pass, "{rsa:?}");
    let key = rsa.key.as_ref().unwrap();
    assert_eq!((key.dnssec.as_str(), key.bits), ("secure", Some(2048)));
    let ed = report.find("example.test", "ed1").unwrap();
    assert_eq!(ed.verdict, Verdict::Pass, "{ed:?}");
    assert_eq!(ed.algorithm.as_deref(), Some("ed25519-sha256"));
    assert_eq!(ed.key.as_ref().unwrap().dnssec, "insecure");
    assert!(report.any_pass());
}

#[tokio::test]
async fn a_changed_body_fails_and_a_wrong_key_fails() {
    let k = sign_both();
    let tampered = k.signed.replace("Hello Bob.", "Hello Eve.");
    let report = run(
        &tampered,
        &[
            served(RSA_NAME, DnssecStatus::Secure, &k.rsa_record),
            served(ED_NAME, DnssecStatus::Secure, &k.ed_record),
        ],
    )
    .await;
    assert!(
        report
            .signatures
            .iter()
            .all(|s| s.verdict == Verdict::Neutral)
    );
    assert!(
        report.signatures[0]
            .reason
            .as_deref()
            .unwrap()
            .to_lowercase()
            .contains("body hash"),
        "{report:?}"
    );
    // The RSA selector published with someone else's key: a cryptographic failure.
    let other = sign_both();
    let report = run(
        &k.signed,
        &[served(RSA_NAME, DnssecStatus::Secure, &other.rsa_record)],
    )
    .await;
    assert_eq!(
        report.find("example.test", "rsa1").unwrap().verdict,
        Verdict::Fail
    );
}

#[tokio::test]
async fn missing_key_is_permerror_but_timeout_and_bogus_are_temperror() {
    let k = sign_both();
    let bogus = DnssecStatus::Bogus(BogusReason::Unexplained {
        detail: "test".into(),
    });
    let report = run(
        &k.signed,
        &[
            answer(RSA_NAME, Outcome::NxDomain, DnssecStatus::Secure, None),
            answer(ED_NAME, Outcome::Timeout, DnssecStatus::Indeterminate, None),
        ],
    )
    .await;
    assert_eq!(
        report.find("example.test", "rsa1").unwrap().verdict,
        Verdict::PermError
    );
    let ed = report.find("example.test", "ed1").unwrap();
    assert_eq!(ed.verdict, Verdict::TempError, "{ed:?}");
    // Our answer, not a cache miss that mail-auth's fallback resolver turned into an error.
    assert!(
        ed.reason
            .as_deref()
            .unwrap()
            .contains("no answer for the key record"),
        "{ed:?}"
    );
    let report = run(
        &k.signed,
        &[
            served(RSA_NAME, bogus, &k.rsa_record),
            answer(
                ED_NAME,
                Outcome::ServFail,
                DnssecStatus::Indeterminate,
                None,
            ),
        ],
    )
    .await;
    let rsa = report.find("example.test", "rsa1").unwrap();
    assert_eq!(rsa.verdict, Verdict::TempError, "{rsa:?}");
    assert!(rsa.reason.as_deref().unwrap().contains("DNSSEC"), "{rsa:?}");
    let ed = report.find("example.test", "ed1").unwrap();
    assert_eq!(ed.verdict, Verdict::TempError);
    assert!(
        ed.reason
            .as_deref()
            .unwrap()
            .contains("no answer for the key record"),
        "{ed:?}"
    );
}

#[tokio::test]
async fn a_key_with_ttl_zero_is_still_ours_and_verifies() {
    let k = sign_both();
    let mut a = served(RSA_NAME, DnssecStatus::Secure, &k.rsa_record);
    a.records[0].ttl = 0;
    let report = run(&k.signed, &[a]).await;
    let rsa = report.find("example.test", "rsa1").unwrap();
    // A cache miss would have gone to the closed port and come back as a temporary error.
    assert_eq!(rsa.verdict, Verdict::Pass, "{rsa:?}");
    assert_eq!(rsa.key.as_ref().unwrap().dnssec, "secure");
}

#[tokio::test]
async fn a_revoked_key_is_permerror() {
    let k = sign_both();
    let report = run(
        &k.signed,
        &[served(RSA_NAME, DnssecStatus::Secure, "v=DKIM1; k=rsa; p=")],
    )
    .await;
    let rsa = report.find("example.test", "rsa1").unwrap();
    assert_eq!(rsa.verdict, Verdict::PermError, "{rsa:?}");
    assert!(rsa.key.as_ref().unwrap().revoked);
}

#[test]
fn rfc8301_refuses_sha1_and_short_rsa_keys() {
    let short = KeyInfo {
        dnssec: "secure".into(),
        key_type: "rsa".into(),
        bits: Some(768),
        testing: false,
        revoked: false,
    };
    assert!(
        rfc8301(Some(Algorithm::RsaSha1), None)
            .unwrap()
            .contains("rsa-sha1")
    );
    assert!(
        rfc8301(Some(Algorithm::RsaSha256), Some(&short))
            .unwrap()
            .contains("768")
    );
    let ok = KeyInfo {
        bits: Some(1024),
        ..short
    };
    assert!(rfc8301(Some(Algorithm::RsaSha256), Some(&ok)).is_none());
}

#[test]
fn unparseable_input_is_an_error_not_a_panic() {
    for raw in [&b""[..], b"\x00\xff\xfe", b"no colon here"] {
        // mail-auth accepts some garbage as a header-less message; either way, no panic.
        let _ = AuthenticatedMessage::parse(raw);
    }
}

#[test]
fn key_lookups_are_bounded_per_message() {
    let k = sign_both();
    // 20 more signatures, each naming its own selector, before the two real ones.
    // The first DKIM-Signature field, folded lines included.
    let mut lines = k.signed.split("\r\n");
    let mut first = lines.next().unwrap().to_string();
    for l in lines.take_while(|l| l.starts_with([' ', '\t'])) {
        first.push_str("\r\n");
        first.push_str(l);
    }
    assert!(first.contains("s=rsa1"), "{first}");
    let mut raw = String::new();
    for i in 0..20 {
        raw.push_str(&first.replace("s=rsa1", &format!("s=x{i}")));
        raw.push_str("\r\n");
    }
    raw.push_str(&k.signed);
    let message = AuthenticatedMessage::parse(raw.as_bytes()).unwrap();
    let (lookups, extra) = key_names(&message);
    assert_eq!(lookups.len(), MAX_KEY_LOOKUPS);
    assert_eq!(lookups.len() + extra.len(), 22, "{lookups:?} {extra:?}");
    assert!(extra.iter().all(|n| !lookups.contains(n)));
}
