//! The lab's certificate authority and the servers' certificates.
//!
//! Certificates are made at every `up`, with dates relative to now (an "expired" certificate must
//! stay expired, a "valid" one valid), but from fixed P-256 keys committed under `lab/tls/keys/`:
//! TLSA records (RFC 6698) in the scenario zones are static data, and `3 1 1` / `2 1 1` records
//! name a key, not a certificate. The keys are public on purpose; they protect nothing.
//!
//! Servers present the chain leaf, CA, so that a DANE-TA record (usage 2) on the lab CA's key can
//! match the chain the server sends (RFC 7671 §5.2.2).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use crate::error::{IoContext, LabError};
use crate::state::Access;

/// A key committed under `lab/tls/keys/`, compiled in so an installed binary needs no source tree.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CommittedKey {
    /// The file name under `lab/tls/keys/`, as zone files name it (`; key: good.key`).
    pub file: &'static str,
    pub pem: &'static str,
}

macro_rules! committed {
    ($($file:literal),* $(,)?) => {
        [$(CommittedKey {
            file: $file,
            pem: include_str!(concat!("../../../lab/tls/keys/", $file)),
        }),*]
    };
}

/// Every committed key.
pub(crate) const KEYS: [CommittedKey; 8] = committed![
    "ca.key",
    "good.key",
    "next.key",
    "expired.key",
    "wrongname.key",
    "soon.key",
    "old.key",
    "weak.key",
];

/// The committed key named `file`.
pub(crate) fn committed_key(file: &str) -> Option<&'static CommittedKey> {
    KEYS.iter().find(|k| k.file == file)
}

/// Hex SHA-256 of the key's SubjectPublicKeyInfo: the data of a TLSA record with selector 1
/// (SPKI) and matching type 1 (SHA-256), RFC 6698 §2.1.
#[cfg(test)]
pub(crate) fn spki_sha256(key_pem: &str) -> Result<String, LabError> {
    use rcgen::PublicKeyData;
    use std::fmt::Write as _;
    let key = KeyPair::from_pem(key_pem)
        .map_err(|e| LabError::Other(format!("cannot read a lab key: {e}")))?;
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &key.subject_public_key_info());
    Ok(digest.as_ref().iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    }))
}

/// When a certificate is valid, relative to `up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Validity {
    /// now − 1 day .. now + 365 days.
    Current,
    /// now − 400 days .. now − 30 days.
    Expired,
    /// now − 1 day .. now + 10 days: inside any "expires soon" warning window.
    ExpiresSoon,
}

impl Validity {
    fn dates(self, now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
        match self {
            Validity::Current => (now - Duration::days(1), now + Duration::days(365)),
            Validity::Expired => (now - Duration::days(400), now - Duration::days(30)),
            Validity::ExpiresSoon => (now - Duration::days(1), now + Duration::days(10)),
        }
    }
}

/// The server certificates the lab makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cert {
    /// Every host that should pass: the good SMTP, submission, IMAP/POP3 and MTA-STS hosts.
    Good,
    Expired,
    /// Valid, but for mail.elsewhere.test only; served for mail.tlsname.test.
    WrongName,
    ExpiresSoon,
    /// Served by the TLS 1.0 server.
    Old,
    /// Served by the server that accepts NULL cipher suites.
    Weak,
}

impl Cert {
    pub(crate) const ALL: [Cert; 6] = [
        Cert::Good,
        Cert::Expired,
        Cert::WrongName,
        Cert::ExpiresSoon,
        Cert::Old,
        Cert::Weak,
    ];

    /// File stem under `<state>/tls/`.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Cert::Good => "good",
            Cert::Expired => "expired",
            Cert::WrongName => "wrongname",
            Cert::ExpiresSoon => "soon",
            Cert::Old => "old",
            Cert::Weak => "weak",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Cert::Good => "good.key",
            Cert::Expired => "expired.key",
            Cert::WrongName => "wrongname.key",
            Cert::ExpiresSoon => "soon.key",
            Cert::Old => "old.key",
            Cert::Weak => "weak.key",
        }
    }

    fn validity(self) -> Validity {
        match self {
            Cert::Expired => Validity::Expired,
            Cert::ExpiresSoon => Validity::ExpiresSoon,
            _ => Validity::Current,
        }
    }

    /// The DNS names (subjectAltName); the first is also the subject CN.
    pub(crate) fn names(self) -> &'static [&'static str] {
        match self {
            Cert::Good => GOOD_NAMES,
            Cert::Expired => &["mail.tlsexpired.test"],
            Cert::WrongName => &["mail.elsewhere.test"],
            Cert::ExpiresSoon => &["mail.tlssoon.test"],
            Cert::Old => &["mail.tlsold.test"],
            Cert::Weak => &["mail.tlsweak.test"],
        }
    }
}

/// The names of the `good` certificate: every MX, IMAP, submission and MTA-STS policy host of a
/// scenario whose certificate should pass.
const GOOD_NAMES: &[&str] = &[
    "mail.tlsgood.test",
    "imap.tlsgood.test",
    "mta-sts.tlsgood.test",
    "mail.daneta.test",
    "mail.danebad.test",
    "mail.danenotls.test",
    "mail.daneunsigned.test",
    "mail.tlsabogus.test",
    "mail.stsuncovered.test",
    "mta-sts.stsuncovered.test",
    "mail.stsredirect.test",
    "mta-sts.stsredirect.test",
    "mail.stsbig.test",
    "mta-sts.stsbig.test",
    "mail.ststesting.test",
    "mta-sts.ststesting.test",
    "mail.imapplain.test",
    "imap.imapplain.test",
    "mail.subauth.test",
    "sub.subauth.test",
];

/// The subject CN of the lab CA.
pub(crate) const CA_NAME: &str = "mailtrust lab CA";

/// Where `up` writes the CA and the certificates: `<state>/tls/`.
#[derive(Debug, Clone)]
pub(crate) struct TlsDir {
    pub dir: PathBuf,
}

impl TlsDir {
    pub(crate) fn new(state: &Path) -> TlsDir {
        TlsDir {
            dir: state.join("tls"),
        }
    }

    /// The lab CA certificate (PEM): `LabInfo.ca`, the trust anchor for the lab's TLS.
    pub(crate) fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The private key of `cert` (PEM, PKCS#8).
    pub(crate) fn key(&self, cert: Cert) -> PathBuf {
        self.dir.join(format!("{}.key", cert.id()))
    }

    /// The chain a server presents for `cert`: leaf, then the CA (PEM).
    pub(crate) fn chain(&self, cert: Cert) -> PathBuf {
        self.dir.join(format!("{}.pem", cert.id()))
    }
}

fn rcgen_error(what: &str) -> impl FnOnce(rcgen::Error) -> LabError + '_ {
    move |e| LabError::Other(format!("cannot make {what}: {e}"))
}

fn key_pair(file: &str) -> Result<KeyPair, LabError> {
    let key = committed_key(file)
        .ok_or_else(|| LabError::Other(format!("no committed key lab/tls/keys/{file}")))?;
    KeyPair::from_pem(key.pem)
        .map_err(|e| LabError::Other(format!("cannot read lab/tls/keys/{file}: {e}")))
}

/// A positive serial number unique to this `up` and certificate.
fn serial(now: OffsetDateTime, index: u8) -> SerialNumber {
    let nanos = u64::try_from(now.unix_timestamp_nanos()).unwrap_or_default();
    let mut bytes = vec![0x01];
    bytes.extend_from_slice(&nanos.to_be_bytes());
    bytes.push(index);
    SerialNumber::from_slice(&bytes)
}

/// Makes the lab CA and every certificate of [`Cert::ALL`] under `tls.dir`.
pub(crate) fn issue(tls: &TlsDir, now: OffsetDateTime) -> Result<(), LabError> {
    std::fs::create_dir_all(&tls.dir).context(|| format!("cannot create {}", tls.dir.display()))?;
    let ca_key = key_pair("ca.key")?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name.push(DnType::CommonName, CA_NAME);
    ca.distinguished_name
        .push(DnType::OrganizationName, "mailtrust lab (not a real CA)");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    // Older than the expired certificate, so every certificate lies within the CA's validity.
    ca.not_before = now - Duration::days(500);
    ca.not_after = now + Duration::days(3650);
    ca.serial_number = Some(serial(now, 0));
    let ca_cert = ca.self_signed(&ca_key).map_err(rcgen_error("the lab CA"))?;
    let ca_pem = ca_cert.pem();
    write_file(&tls.ca(), &ca_pem, Access::Public)?;
    let issuer = Issuer::new(ca, ca_key);

    for (index, cert) in (1u8..).zip(Cert::ALL) {
        let key = key_pair(cert.key())?;
        let names: Vec<String> = cert.names().iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).map_err(rcgen_error(cert.id()))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, cert.names()[0]);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        (params.not_before, params.not_after) = cert.validity().dates(now);
        params.serial_number = Some(serial(now, index));
        let leaf = params
            .signed_by(&key, &issuer)
            .map_err(rcgen_error(cert.id()))?;
        // The servers read their keys as root, before they drop privileges.
        write_file(&tls.key(cert), &key.serialize_pem(), Access::Secret)?;
        write_file(
            &tls.chain(cert),
            &format!("{}{ca_pem}", leaf.pem()),
            Access::Public,
        )?;
    }
    Ok(())
}

fn write_file(path: &Path, text: &str, access: Access) -> Result<(), LabError> {
    crate::state::write_file(path, text.as_bytes(), access)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::masterfile;

    #[test]
    fn every_committed_key_is_p256() {
        for key in KEYS {
            let pair = KeyPair::from_pem(key.pem).expect(key.file);
            assert_eq!(
                pair.algorithm(),
                &rcgen::PKCS_ECDSA_P256_SHA256,
                "{}",
                key.file
            );
        }
    }

    #[test]
    fn spki_digest_matches_openssl() {
        // `openssl pkey -in lab/tls/keys/good.key -pubout -outform DER | sha256sum`
        assert_eq!(
            spki_sha256(committed_key("good.key").expect("good.key").pem).expect("digest"),
            "31435c51b31b60fb35fd8e66350b8b9d59d050aabf0d2e9edbc9cbb9bd05b13c"
        );
    }

    #[test]
    fn issued_chains_have_the_right_dates_names_and_issuer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tls = TlsDir {
            dir: dir.path().join("tls"),
        };
        let now = OffsetDateTime::now_utc();
        issue(&tls, now).expect("issue");
        let ca = std::fs::read_to_string(tls.ca()).expect("ca.pem");
        for cert in Cert::ALL {
            let chain = std::fs::read_to_string(tls.chain(cert)).expect("chain");
            assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2, "leaf + CA");
            assert!(chain.ends_with(&ca), "{}: the CA comes last", cert.id());
            let key = std::fs::read_to_string(tls.key(cert)).expect("key");
            let committed = committed_key(cert.key()).expect("committed");
            assert_eq!(
                spki_sha256(&key).expect("digest"),
                spki_sha256(committed.pem).expect("digest"),
                "{} is served with its committed key",
                cert.id()
            );
        }
        let (from, until) = Validity::Expired.dates(now);
        assert!(from < until && until < now);
        let (from, until) = Validity::ExpiresSoon.dates(now);
        assert!(from < now && until < now + Duration::days(30));
    }

    /// Every TLSA record in the built-in scenarios names the committed key it was computed from
    /// (`; key: good.key`), or says it matches none on purpose (`; key: none`). A key that is
    /// replaced without updating the zones fails here, not as a puzzling DANE failure later.
    #[test]
    fn tlsa_records_in_scenarios_match_the_committed_keys() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lab/scenarios");
        let digests: Vec<(&str, String)> = KEYS
            .iter()
            .map(|k| (k.file, spki_sha256(k.pem).expect("digest")))
            .collect();
        let mut checked = 0;
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("lab/scenarios")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "zone"))
            .collect();
        entries.sort();
        for path in entries {
            let text = std::fs::read_to_string(&path).expect("read scenario");
            let zone = crate::scenario::zone_from_file_name(
                &path.file_name().expect("name").to_string_lossy(),
            )
            .expect("scenario name");
            let records = masterfile::parse(&text, &zone).expect("scenario parses");
            let lines: Vec<&str> = text.lines().collect();
            for r in records.iter().filter(|r| r.rtype == "TLSA") {
                let at = format!("{}:{}", path.display(), r.line);
                let line = lines[r.line - 1];
                let named = line
                    .split_once(';')
                    .and_then(|(_, comment)| comment.trim().strip_prefix("key:"))
                    .map(str::trim)
                    .unwrap_or_else(|| panic!("{at}: TLSA without a `; key: FILE|none` comment"));
                let data = r
                    .rdata
                    .get(3..)
                    .unwrap_or_default()
                    .concat()
                    .to_ascii_lowercase();
                let spki_sha256_record = r.rdata.get(1..3) == Some(&["1".into(), "1".into()]);
                if named == "none" {
                    assert!(
                        !digests.iter().any(|(_, d)| *d == data),
                        "{at}: says `key: none` but matches a committed key"
                    );
                } else {
                    assert!(
                        spki_sha256_record,
                        "{at}: only selector 1, matching type 1 can name a key"
                    );
                    let (_, digest) = digests
                        .iter()
                        .find(|(file, _)| *file == named)
                        .unwrap_or_else(|| panic!("{at}: no committed key lab/tls/keys/{named}"));
                    assert_eq!(
                        &data, digest,
                        "{at}: TLSA drifted from lab/tls/keys/{named}"
                    );
                }
                checked += 1;
            }
        }
        assert!(
            checked >= 7,
            "the TLS scenarios carry TLSA records ({checked} found)"
        );
    }
}
