//! The vocabulary of the CKMS: which key, for which name, of which algorithm, in which state.
//!
//! Key states follow NIST SP 800-57 Part 1 §7 as SP 800-177 §5.3 asks for DKIM keys, with
//! the DNS steps that DKIM adds made explicit: a DKIM key is *published* before it is
//! *activated* (so that receivers can verify the first message it signs), stays published after
//! it is *deactivated* (so that mail in flight still verifies), and is *revoked in DNS* (`p=`
//! empty, RFC 6376 §3.6.1) before its private half is *destroyed*.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a name, algorithm or key id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A domain or selector that is not a valid DNS name of letters, digits and hyphens.
    #[error("{what} \"{value}\" is not a valid DNS name: {why}")]
    BadName {
        /// "domain" or "selector".
        what: &'static str,
        /// The name as given.
        value: String,
        /// What is wrong with it.
        why: String,
    },
    /// `<selector>._domainkey.<domain>` would be longer than DNS allows.
    #[error(
        "the DKIM record name \"{name}\" is {len} characters long; DNS names are at most 253 \
         (choose a shorter selector)"
    )]
    RecordNameTooLong {
        /// The full record name.
        name: String,
        /// Its length.
        len: usize,
    },
    /// An algorithm name this toolkit does not know.
    #[error("unknown key algorithm \"{0}\"; use rsa-2048 (default), rsa-3072, rsa-4096 or ed25519")]
    UnknownAlgorithm(String),
    /// RSA-1024 without an explicit allowance.
    #[error(
        "RSA-1024 is weak (SP 800-177 Rec 4-3 and RFC 8301 ask for 2048 bits); it is accepted only \
         with --allow-weak, and then flagged"
    )]
    WeakKeyRefused,
    /// RSA below 1024 bits: never accepted.
    #[error(
        "RSA-{0} is refused: RFC 8301 §3.2 forbids verifying with RSA keys below 1024 bits, so \
         receivers would treat the mail as unsigned"
    )]
    RsaTooSmall(u32),
    /// An RSA size between the supported ones.
    #[error("RSA-{0} is not a supported size; use 2048, 3072 or 4096 bits")]
    UnsupportedRsaSize(u32),
    /// A key id that is not 32 lower-case hexadecimal digits.
    #[error("\"{0}\" is not a key id (32 hexadecimal digits, as `mailtrust keys list` shows)")]
    BadKeyId(String),
}

/// Checks one dot-separated DNS name made of letter-digit-hyphen labels (RFC 1035 §2.3.1,
/// RFC 5321 `sub-domain`, which RFC 6376 §3.1 uses for selectors). Returns it lower-cased,
/// without a trailing dot. Non-ASCII names must be given as A-labels (`xn--`).
fn ldh_name(what: &'static str, value: &str) -> Result<String, ModelError> {
    let bad = |why: &str| ModelError::BadName {
        what,
        value: value.to_owned(),
        why: why.to_owned(),
    };
    let name = value
        .strip_suffix('.')
        .unwrap_or(value)
        .to_ascii_lowercase();
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if !name.is_ascii() {
        return Err(bad("it is not ASCII; give the A-label (xn--) form"));
    }
    if name.len() > 253 {
        return Err(bad("it is longer than 253 characters"));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(bad("it has an empty label (two dots in a row?)"));
        }
        if label.len() > 63 {
            return Err(bad("a label is longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(bad("labels may hold only letters, digits and hyphens"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("a label starts or ends with a hyphen"));
        }
    }
    Ok(name)
}

/// A domain that signs mail (the DKIM `d=`), lower-cased, without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Domain(String);

impl Domain {
    /// Validates and normalises a domain name.
    pub fn new(name: &str) -> Result<Self, ModelError> {
        ldh_name("domain", name).map(Domain)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A DKIM selector (the `s=`): one or more DNS labels (RFC 6376 §3.1), lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Selector(String);

impl Selector {
    /// Validates and normalises a selector.
    pub fn new(name: &str) -> Result<Self, ModelError> {
        ldh_name("selector", name).map(Selector)
    }

    /// The selector as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The owner name of the key record, `<selector>._domainkey.<domain>` (RFC 6376 §3.6.2.1),
    /// refused when longer than a DNS name may be.
    pub fn record_name(&self, domain: &Domain) -> Result<String, ModelError> {
        let name = format!("{}._domainkey.{}", self.0, domain.0);
        if name.len() > 253 {
            let len = name.len();
            return Err(ModelError::RecordNameTooLong { name, len });
        }
        Ok(name)
    }
}

macro_rules! text_newtype {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $t {
            type Error = ModelError;
            fn try_from(s: String) -> Result<Self, ModelError> {
                <$t>::new(&s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
        impl FromStr for $t {
            type Err = ModelError;
            fn from_str(s: &str) -> Result<Self, ModelError> {
                <$t>::new(s)
            }
        }
    };
}
text_newtype!(Domain);
text_newtype!(Selector);
text_newtype!(KeyId);

/// Whether RSA-1024 may be accepted. Passed explicitly so that no default lets a weak key in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeakKeys {
    /// Refuse RSA-1024 (the default).
    Refuse,
    /// Accept RSA-1024 (`--allow-weak`); such keys report [`Algorithm::is_weak`].
    Allow,
}

/// A DKIM signing algorithm and key size (SP 800-177 Rec 4-3; RFC 8301; RFC 8463).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// RSA-1024: weak; only with [`WeakKeys::Allow`], e.g. to import an existing key.
    Rsa1024,
    /// RSA-2048, the default: every receiver verifies it.
    Rsa2048,
    /// RSA-3072.
    Rsa3072,
    /// RSA-4096. Its public key does not fit one 255-byte TXT string; some DNS consoles
    /// mishandle that, which is why it is not the default.
    Rsa4096,
    /// Ed25519 (RFC 8463). Not every receiver verifies it, so it is published beside an RSA key.
    Ed25519,
}

impl Algorithm {
    /// The name used in the store, the CLI and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rsa1024 => "rsa-1024",
            Algorithm::Rsa2048 => "rsa-2048",
            Algorithm::Rsa3072 => "rsa-3072",
            Algorithm::Rsa4096 => "rsa-4096",
            Algorithm::Ed25519 => "ed25519",
        }
    }

    /// Parses a name such as `rsa-2048` or `ed25519`, refusing weak sizes unless allowed.
    pub fn parse(name: &str, weak: WeakKeys) -> Result<Self, ModelError> {
        let lower = name.to_ascii_lowercase();
        if lower == "ed25519" {
            return Ok(Algorithm::Ed25519);
        }
        let bits = lower
            .strip_prefix("rsa-")
            .or_else(|| lower.strip_prefix("rsa"))
            .and_then(|b| b.parse::<u32>().ok())
            .ok_or_else(|| ModelError::UnknownAlgorithm(name.to_owned()))?;
        Algorithm::rsa_bits(bits, weak)
    }

    /// The algorithm for an RSA key of `bits` bits, as found when importing a key.
    pub fn rsa_bits(bits: u32, weak: WeakKeys) -> Result<Self, ModelError> {
        match bits {
            0..1024 => Err(ModelError::RsaTooSmall(bits)),
            1024 if weak == WeakKeys::Allow => Ok(Algorithm::Rsa1024),
            1024 => Err(ModelError::WeakKeyRefused),
            2048 => Ok(Algorithm::Rsa2048),
            3072 => Ok(Algorithm::Rsa3072),
            4096 => Ok(Algorithm::Rsa4096),
            _ => Err(ModelError::UnsupportedRsaSize(bits)),
        }
    }

    /// True for sizes below what SP 800-177 Rec 4-3 recommends; such keys are flagged.
    pub fn is_weak(self) -> bool {
        self == Algorithm::Rsa1024
    }

    /// The key size in bits, as a DKIM record parser reports it.
    pub fn bits(self) -> u32 {
        match self {
            Algorithm::Rsa1024 => 1024,
            Algorithm::Rsa2048 => 2048,
            Algorithm::Rsa3072 => 3072,
            Algorithm::Rsa4096 => 4096,
            Algorithm::Ed25519 => 256,
        }
    }

    /// The `k=` value of the DKIM key record.
    pub fn dkim_key_type(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            _ => "rsa",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who signs with a key. SP 800-177 Rec 4-5 and 4-10 ask for one key and selector per sending
/// MTA and per third party that sends for the domain, so that one can be revoked alone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Purpose {
    /// One of our own sending MTAs, by host name or role.
    SendingMta {
        /// The MTA, e.g. `mx1.example.com`.
        host: String,
    },
    /// A third party that sends mail for the domain with a key we manage.
    ThirdParty {
        /// The provider, e.g. `newsletter-provider`.
        provider: String,
    },
}

/// A store-wide unique key id: 128 random bits as 32 hexadecimal digits. Random rather than
/// sequential so that ids from two stores (e.g. a restored backup) never collide.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    /// Parses a key id as shown by the store.
    pub fn new(s: &str) -> Result<Self, ModelError> {
        let lower = s.to_ascii_lowercase();
        if lower.len() == 32 && lower.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(KeyId(lower))
        } else {
            Err(ModelError::BadKeyId(s.to_owned()))
        }
    }

    /// A fresh random id.
    pub fn random() -> Result<Self, aws_lc_rs::error::Unspecified> {
        let mut bytes = [0u8; 16];
        aws_lc_rs::rand::fill(&mut bytes)?;
        Ok(KeyId(data_encoding::HEXLOWER.encode(&bytes)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The lifecycle state of a DKIM key (SP 800-57 Part 1 §7.1, with DKIM's DNS steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Generated; no record in DNS; does not sign.
    PreActivation,
    /// Its record is in DNS; does not sign yet (waiting for propagation).
    Published,
    /// Signs mail; its record is in DNS.
    Active,
    /// No longer signs; its record stays in DNS so that mail in flight still verifies.
    Deactivated,
    /// Its record in DNS has `p=` empty (RFC 6376 §3.6.1); the private key still exists.
    RevokedInDns,
    /// Believed known to someone else: must not sign, revoked in DNS at once.
    Compromised,
    /// The private key is erased; only the public key and the history remain.
    Destroyed,
}

impl KeyState {
    /// Every state, for tests and listings.
    pub const ALL: [KeyState; 7] = [
        KeyState::PreActivation,
        KeyState::Published,
        KeyState::Active,
        KeyState::Deactivated,
        KeyState::RevokedInDns,
        KeyState::Compromised,
        KeyState::Destroyed,
    ];

    /// The name used in the store and JSON.
    pub fn name(self) -> &'static str {
        match self {
            KeyState::PreActivation => "pre_activation",
            KeyState::Published => "published",
            KeyState::Active => "active",
            KeyState::Deactivated => "deactivated",
            KeyState::RevokedInDns => "revoked_in_dns",
            KeyState::Compromised => "compromised",
            KeyState::Destroyed => "destroyed",
        }
    }

    /// Parses [`KeyState::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        KeyState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Only an active key may sign mail.
    pub fn may_sign(self) -> bool {
        self == KeyState::Active
    }

    /// What DNS should hold for this key.
    pub fn dns_record(self) -> DnsRecordState {
        match self {
            KeyState::PreActivation | KeyState::Destroyed => DnsRecordState::Absent,
            KeyState::Published | KeyState::Active | KeyState::Deactivated => {
                DnsRecordState::PublicKey
            }
            KeyState::RevokedInDns | KeyState::Compromised => DnsRecordState::Revoked,
        }
    }

    /// True while the private key material exists.
    pub fn holds_private_key(self) -> bool {
        self != KeyState::Destroyed
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the DNS should hold at `<selector>._domainkey.<domain>` for a key in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsRecordState {
    /// No record (never published, or removed after destruction).
    Absent,
    /// The record with the public key.
    PublicKey,
    /// The record with `p=` empty, which tells verifiers the key is revoked.
    Revoked,
}

/// Something an administrator or `mailtrust keys run` does to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The record has been put in DNS.
    Publish,
    /// Start signing.
    Activate,
    /// Stop signing; keep the record.
    Deactivate,
    /// Replace the record with `p=` empty.
    Revoke,
    /// Erase the private key.
    Destroy,
    /// The private key is known or suspected to be known to someone else.
    Compromise,
}

impl Event {
    /// Every event, for tests.
    pub const ALL: [Event; 6] = [
        Event::Publish,
        Event::Activate,
        Event::Deactivate,
        Event::Revoke,
        Event::Destroy,
        Event::Compromise,
    ];

    /// The routine lifecycle of a key, in order (SP 800-177 §5.3 rotation).
    pub const ROUTINE: [Event; 5] = [
        Event::Publish,
        Event::Activate,
        Event::Deactivate,
        Event::Revoke,
        Event::Destroy,
    ];

    /// The name used in the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Event::Publish => "publish",
            Event::Activate => "activate",
            Event::Deactivate => "deactivate",
            Event::Revoke => "revoke",
            Event::Destroy => "destroy",
            Event::Compromise => "compromise",
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An event that the key's state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a key that is {from} cannot be {}: {}", past(*event), hint(*from, *event))]
pub struct IllegalTransition {
    /// The state the key is in.
    pub from: KeyState,
    /// The event refused.
    pub event: Event,
}

fn past(e: Event) -> &'static str {
    match e {
        Event::Publish => "published",
        Event::Activate => "activated",
        Event::Deactivate => "deactivated",
        Event::Revoke => "revoked",
        Event::Destroy => "destroyed",
        Event::Compromise => "marked compromised",
    }
}

fn hint(from: KeyState, e: Event) -> &'static str {
    match (from, e) {
        (KeyState::PreActivation, Event::Activate) => {
            "publish its record first, so that receivers can verify what it signs"
        }
        (KeyState::Active, Event::Revoke | Event::Destroy) => {
            "deactivate it first (or mark it compromised if it must go at once)"
        }
        (KeyState::Published | KeyState::Deactivated, Event::Destroy) => {
            "revoke its record in DNS first"
        }
        (KeyState::Destroyed, _) => "it is destroyed; generate a new key",
        (KeyState::Compromised, _) => "a compromised key can only be destroyed",
        _ => "the SP 800-57 lifecycle does not allow this step",
    }
}

/// The lifecycle: the one place that says which step may follow which.
///
/// - pre-activation → published → active → deactivated → revoked-in-DNS → destroyed;
/// - a key never activated may be withdrawn: published → revoked-in-DNS, pre-activation →
///   destroyed (SP 800-57 §7.1 allows destroying a key that was never used);
/// - compromised from any state but destroyed; a compromised key may then only be destroyed.
pub fn transition(from: KeyState, event: Event) -> Result<KeyState, IllegalTransition> {
    use Event as E;
    use KeyState as S;
    let to = match (from, event) {
        (S::Destroyed, _) => None,
        (_, E::Compromise) => Some(S::Compromised),
        (S::PreActivation, E::Publish) => Some(S::Published),
        (S::PreActivation, E::Destroy) => Some(S::Destroyed),
        (S::Published, E::Activate) => Some(S::Active),
        (S::Published, E::Revoke) => Some(S::RevokedInDns),
        (S::Active, E::Deactivate) => Some(S::Deactivated),
        (S::Deactivated, E::Revoke) => Some(S::RevokedInDns),
        (S::RevokedInDns | S::Compromised, E::Destroy) => Some(S::Destroyed),
        _ => None,
    };
    to.ok_or(IllegalTransition { from, event })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_normalised_and_checked() {
        assert_eq!(Domain::new("Example.COM.").unwrap().as_str(), "example.com");
        assert_eq!(Selector::new("s2026a.mx1").unwrap().as_str(), "s2026a.mx1");
        for bad in [
            "",
            "a..b",
            "-a.com",
            "a_b.com",
            "exämple.com",
            &"a".repeat(64),
        ] {
            assert!(Domain::new(bad).is_err(), "{bad:?} accepted");
        }
        let d = Domain::new("example.com").unwrap();
        let s = Selector::new("sel").unwrap();
        assert_eq!(s.record_name(&d).unwrap(), "sel._domainkey.example.com");
        let long = Selector::new(&vec!["a".repeat(63); 3].join(".")).unwrap();
        let long_d = Domain::new(&vec!["b".repeat(63); 2].join(".")).unwrap();
        assert!(matches!(
            long.record_name(&long_d),
            Err(ModelError::RecordNameTooLong { .. })
        ));
    }

    #[test]
    fn algorithms_follow_rfc_8301_and_the_weak_flag() {
        assert_eq!(
            Algorithm::parse("rsa-2048", WeakKeys::Refuse),
            Ok(Algorithm::Rsa2048)
        );
        assert_eq!(
            Algorithm::parse("ED25519", WeakKeys::Refuse),
            Ok(Algorithm::Ed25519)
        );
        assert_eq!(
            Algorithm::parse("rsa-1024", WeakKeys::Refuse),
            Err(ModelError::WeakKeyRefused)
        );
        let weak = Algorithm::parse("rsa-1024", WeakKeys::Allow).unwrap();
        assert!(weak.is_weak());
        assert!(!Algorithm::Rsa2048.is_weak());
        assert_eq!(
            Algorithm::parse("rsa-512", WeakKeys::Allow),
            Err(ModelError::RsaTooSmall(512))
        );
        assert_eq!(
            Algorithm::rsa_bits(1536, WeakKeys::Allow),
            Err(ModelError::UnsupportedRsaSize(1536))
        );
        assert!(Algorithm::parse("dsa", WeakKeys::Allow).is_err());
    }

    #[test]
    fn key_ids_are_random_hex() {
        let a = KeyId::random().unwrap();
        let b = KeyId::random().unwrap();
        assert_ne!(a, b);
        assert_eq!(KeyId::new(a.as_str()).unwrap(), a);
        assert!(KeyId::new("xyz").is_err());
    }

    #[test]
    fn state_names_round_trip() {
        for s in KeyState::ALL {
            assert_eq!(KeyState::from_name(s.name()), Some(s));
        }
    }

    #[test]
    fn the_normal_lifecycle_is_legal() {
        let mut s = KeyState::PreActivation;
        for e in Event::ROUTINE {
            s = transition(s, e).unwrap();
        }
        assert_eq!(s, KeyState::Destroyed);
    }

    #[test]
    fn illegal_steps_explain_themselves() {
        let err = transition(KeyState::PreActivation, Event::Activate).unwrap_err();
        assert!(
            err.to_string().contains("publish its record first"),
            "{err}"
        );
        assert!(transition(KeyState::Active, Event::Destroy).is_err());
        assert!(transition(KeyState::Destroyed, Event::Compromise).is_err());
        assert!(transition(KeyState::Compromised, Event::Activate).is_err());
    }

    fn event() -> impl Strategy<Value = Event> {
        proptest::sample::select(Event::ALL.to_vec())
    }

    proptest! {
        /// Walks random event sequences from pre-activation, applying only what is allowed,
        /// and checks the invariants of SP 800-57 and DKIM at every step.
        #[test]
        fn no_event_sequence_reaches_an_illegal_state(events in proptest::collection::vec(event(), 0..40)) {
            let mut state = KeyState::PreActivation;
            let mut was_published = false;
            let mut was_compromised = false;
            for e in events {
                match transition(state, e) {
                    Ok(next) => {
                        // Active only straight from published (the record is in DNS first).
                        if next == KeyState::Active {
                            prop_assert_eq!(state, KeyState::Published);
                        }
                        // Destroyed only from a state whose record is gone or never existed,
                        // never from a signing or published key.
                        if next == KeyState::Destroyed {
                            prop_assert_ne!(state.dns_record(), DnsRecordState::PublicKey);
                        }
                        // A compromised key never signs or publishes its key again.
                        if was_compromised {
                            prop_assert!(matches!(next, KeyState::Compromised | KeyState::Destroyed));
                        }
                        // A signing key always has its record in DNS.
                        if next.may_sign() {
                            prop_assert_eq!(next.dns_record(), DnsRecordState::PublicKey);
                        }
                        was_published |= next == KeyState::Published;
                        was_compromised |= next == KeyState::Compromised;
                        if matches!(next, KeyState::Active | KeyState::Deactivated) {
                            prop_assert!(was_published);
                        }
                        state = next;
                    }
                    Err(err) => {
                        prop_assert_eq!(err, IllegalTransition { from: state, event: e });
                    }
                }
            }
        }

        /// Destroyed is final; compromise is reachable from every other state.
        #[test]
        fn destroyed_is_final_and_compromise_always_possible(e in event()) {
            prop_assert!(transition(KeyState::Destroyed, e).is_err());
            for s in KeyState::ALL.into_iter().filter(|s| *s != KeyState::Destroyed) {
                prop_assert_eq!(transition(s, Event::Compromise), Ok(KeyState::Compromised));
            }
        }
    }
}
