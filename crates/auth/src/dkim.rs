//! DKIM verification (RFC 6376, RFC 8463 for Ed25519, RFC 8301 for what is no longer acceptable).
//!
//! `mail-auth` parses the message, canonicalizes and checks the signatures; it is well kept and
//! we do not repeat it. Its own resolver, however, cannot tell a secure key from an insecure one
//! and reports every failure alike, so the key records are fetched first through mailtrust's
//! validating [`Resolver`] and handed to `mail-auth` through its DNS cache interface. The result
//! for each signature then says how its key was protected, and a timeout, SERVFAIL or a bogus
//! answer becomes `temperror` — never `permerror` ("no key").
//!
//! On top of `mail-auth` we enforce RFC 8301: `rsa-sha1` signatures and RSA keys shorter than
//! 1024 bits do not pass.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RData;
use mail_auth::crypto::Algorithm;
use mail_auth::dkim::{DomainKey, VerifySignature};
use mail_auth::dns::{ToFqdn, TxtRecordParser};
use mail_auth::{
    AuthenticatedMessage, DkimResult, DnsCache, DnsError, MessageAuthenticator, NoCache,
    Parameters, ResolverCache, TxtRecord,
};
use mailtrust_dns::{Answer, DnssecStatus, Outcome, QueryType, Resolver};
use mailtrust_records::dkim::{DkimKeyRecord, DkimKeyType};
use serde::Serialize;

/// At most this many distinct key records are fetched for one message. A message can carry any
/// number of signatures; a receiver must bound the DNS work a sender can cause.
pub const MAX_KEY_LOOKUPS: usize = 16;

/// Why a message could not be verified at all.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the message could not be parsed as RFC 5322 (no header section?)")]
    Unparseable,
    #[error("could not set up the DNS client for mail-auth: {0}")]
    Setup(String),
}

/// The result of one signature, in the words of RFC 8601 (Authentication-Results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Neutral,
    TempError,
    PermError,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Neutral => "neutral",
            Self::TempError => "temperror",
            Self::PermError => "permerror",
        }
    }
}

/// What a verifier learned about the key record a signature points to.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    /// `secure`, `insecure`, `bogus` or `indeterminate`.
    pub dnssec: String,
    /// `rsa` or `ed25519` (or what the record says).
    pub key_type: String,
    /// Modulus length for RSA, 256 for Ed25519; absent when revoked or undecodable.
    pub bits: Option<u32>,
    /// `t=y`: the signer says it is testing DKIM.
    pub testing: bool,
    /// `p=` is empty.
    pub revoked: bool,
}

/// One `DKIM-Signature` header and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureResult {
    /// `d=`; absent when the header could not be parsed.
    pub domain: Option<String>,
    /// `s=`.
    pub selector: Option<String>,
    /// `a=`.
    pub algorithm: Option<String>,
    pub verdict: Verdict,
    /// Why, when the verdict is not `pass`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyInfo>,
}

/// Every signature of one message.
#[derive(Debug, Clone, Serialize)]
pub struct DkimReport {
    pub signatures: Vec<SignatureResult>,
}

impl DkimReport {
    /// True when at least one signature passed.
    pub fn any_pass(&self) -> bool {
        self.signatures.iter().any(|s| s.verdict == Verdict::Pass)
    }

    /// The signature of `domain` with `selector`, if the message carries one.
    pub fn find(&self, domain: &str, selector: &str) -> Option<&SignatureResult> {
        self.signatures.iter().find(|s| {
            s.domain
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case(domain))
                && s.selector
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(selector))
        })
    }
}

/// Verifies DKIM signatures with keys fetched through a validating resolver.
pub struct DkimVerifier {
    resolver: Arc<Resolver>,
    /// Used by `mail-auth` only for what we do not prefetch (ATPS and RFC 6651 report records),
    /// pointed at the same upstream resolvers as ours.
    authenticator: MessageAuthenticator,
}

impl DkimVerifier {
    pub fn new(resolver: Arc<Resolver>) -> Result<Self, AuthError> {
        use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
        let servers = resolver
            .upstreams()
            .iter()
            .map(|sa| {
                let mut ns = NameServerConfig::udp_and_tcp(sa.ip());
                for c in &mut ns.connections {
                    c.port = sa.port();
                }
                ns
            })
            .collect();
        let mut opts = ResolverOpts::default();
        opts.timeout = resolver.config().timeout;
        opts.attempts = 1;
        let authenticator =
            MessageAuthenticator::new(ResolverConfig::from_parts(None, vec![], servers), opts)
                .map_err(|e| AuthError::Setup(e.to_string()))?;
        Ok(Self {
            resolver,
            authenticator,
        })
    }

    /// Verifies every DKIM signature of `raw` (an RFC 5322 message, CRLF or LF line ends).
    /// A message without signatures gives an empty report.
    pub async fn verify(&self, raw: &[u8]) -> Result<DkimReport, AuthError> {
        let message = AuthenticatedMessage::parse(raw).ok_or(AuthError::Unparseable)?;
        let (names, extra) = key_names(&message);
        let lookups = names.iter().map(|n| self.fetch(n));
        let mut fetched: Vec<(String, Fetched)> = futures_util::future::join_all(lookups)
            .await
            .into_iter()
            .collect();
        fetched.extend(extra.into_iter().map(|n| {
            let e = temp(format!(
                "not looked up: the message needs more than {MAX_KEY_LOOKUPS} key records"
            ));
            (n, Fetched::error(e, None))
        }));
        Ok(judge(&self.authenticator, &message, fetched).await)
    }

    async fn fetch(&self, name: &str) -> (String, Fetched) {
        let fetched = match Resolver::parse_name(name) {
            Ok(n) => to_txt_record(&self.resolver.lookup(&n, QueryType::Txt).await),
            // A name that can never resolve: permanent, not temporary.
            Err(e) => Fetched::error(mail_auth::Error::Io(format!("invalid key name: {e}")), None),
        };
        (name.to_string(), fetched)
    }
}

/// The key records a message's signatures need: those to look up, and those beyond
/// [`MAX_KEY_LOOKUPS`]. Every name goes into the cache either way, so `mail-auth` never falls
/// back to its own (non-validating, unbounded) lookups: the extra ones get a temporary error.
fn key_names(message: &AuthenticatedMessage<'_>) -> (Vec<String>, Vec<String>) {
    let mut names: Vec<String> = Vec::new();
    for h in message.dkim_signatures() {
        let name = h.header.domain_key().to_fqdn().into_owned();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let extra = names.split_off(names.len().min(MAX_KEY_LOOKUPS));
    (names, extra)
}

/// Lets `mail-auth` verify `message` with the key records already fetched, and applies RFC 8301.
async fn judge(
    authenticator: &MessageAuthenticator,
    message: &AuthenticatedMessage<'_>,
    fetched: Vec<(String, Fetched)>,
) -> DkimReport {
    let cache = Prefetched::default();
    let mut keys: HashMap<String, KeyInfo> = HashMap::new();
    for (name, f) in fetched {
        if let Some(info) = f.info {
            keys.insert(name.clone(), info);
        }
        cache.txt.insert(name.into_boxed_str(), f.record, f.expires);
    }
    let outputs = authenticator
        .verify_dkim(Parameters::new(message).with_cache(&cache))
        .await;
    let signatures = outputs
        .iter()
        .map(|out| {
            let sig = out.signature();
            let key = sig.and_then(|s| keys.get(s.domain_key().to_fqdn().as_ref()).cloned());
            let (mut verdict, mut reason) = match out.result() {
                DkimResult::Pass => (Verdict::Pass, None),
                DkimResult::Fail(e) => (Verdict::Fail, Some(e.to_string())),
                DkimResult::Neutral(e) => (Verdict::Neutral, Some(e.to_string())),
                DkimResult::TempError(e) => (Verdict::TempError, Some(e.to_string())),
                DkimResult::PermError(e) => (Verdict::PermError, Some(e.to_string())),
                DkimResult::None => (Verdict::Neutral, Some("not evaluated".into())),
            };
            if verdict == Verdict::Pass
                && let Some(why) = rfc8301(sig.map(|s| s.a), key.as_ref())
            {
                verdict = Verdict::PermError;
                reason = Some(why);
            }
            SignatureResult {
                domain: sig.map(|s| s.d.clone()),
                selector: sig.map(|s| s.s.clone()),
                algorithm: sig.map(|s| algorithm_name(s.a).to_string()),
                verdict,
                reason,
                key,
            }
        })
        .collect();
    DkimReport { signatures }
}

/// The outcome of one key lookup, ready for `mail-auth`'s cache.
struct Fetched {
    record: TxtRecord,
    info: Option<KeyInfo>,
    expires: Instant,
}

/// How long a prefetched entry stays in the cache. The cache lives for one message, so the
/// record's TTL does not matter; what matters is that no entry expires (a TTL of 0 would) and
/// lets `mail-auth` look the key up again on its own, without validation.
const CACHE_LIFETIME: Duration = Duration::from_secs(3600);

impl Fetched {
    fn error(e: mail_auth::Error, info: Option<KeyInfo>) -> Self {
        Self {
            record: TxtRecord::Error(e),
            info,
            expires: Instant::now() + CACHE_LIFETIME,
        }
    }
}

fn temp(detail: impl Into<String>) -> mail_auth::Error {
    mail_auth::Error::Dns(DnsError::Resolver(detail.into()))
}

/// Maps our answer onto what `mail-auth` expects. Only NXDOMAIN and NODATA mean "no key";
/// a failure to get an answer and a bogus answer are temporary (RFC 6376 §6.1.2: TEMPFAIL).
fn to_txt_record(answer: &Answer) -> Fetched {
    let dnssec = answer.dnssec.as_str().to_string();
    if let DnssecStatus::Bogus(reason) = &answer.dnssec {
        return Fetched::error(
            temp(format!("the key record failed DNSSEC validation: {reason}")),
            None,
        );
    }
    match answer.outcome {
        Outcome::Records => {
            let records: Vec<Vec<u8>> = answer
                .rdatas()
                .filter_map(|r| match r {
                    RData::TXT(t) => Some(mailtrust_dns::txt::join(&t.txt_data)),
                    _ => None,
                })
                .collect();
            let info = records.iter().find_map(|r| {
                let k = DkimKeyRecord::parse(r);
                (k.version.is_some() || !matches!(k.key_type, DkimKeyType::Unknown { .. })).then(
                    || KeyInfo {
                        dnssec: dnssec.clone(),
                        key_type: key_type_name(&k.key_type),
                        bits: k.key_bits,
                        testing: k.testing,
                        revoked: k.revoked,
                    },
                )
            });
            Fetched {
                record: DomainKey::parse_records(&records).into(),
                info,
                expires: Instant::now() + CACHE_LIFETIME,
            }
        }
        Outcome::NxDomain => Fetched::error(
            mail_auth::Error::Dns(DnsError::RecordNotFound(ResponseCode::NXDomain)),
            None,
        ),
        Outcome::NoData => Fetched::error(
            mail_auth::Error::Dns(DnsError::RecordNotFound(ResponseCode::NoError)),
            None,
        ),
        other => Fetched::error(
            temp(format!(
                "no answer for the key record ({})",
                answer.detail.clone().unwrap_or_else(|| other.to_string())
            )),
            None,
        ),
    }
}

/// RFC 8301 §3: verifiers must not consider `rsa-sha1` signatures valid, and must not accept
/// RSA keys below 1024 bits.
fn rfc8301(algorithm: Option<Algorithm>, key: Option<&KeyInfo>) -> Option<String> {
    if algorithm == Some(Algorithm::RsaSha1) {
        return Some("rsa-sha1 signatures are no longer acceptable (RFC 8301 §3.1)".into());
    }
    match key {
        Some(k) if k.key_type == "rsa" && k.bits.is_some_and(|b| b < 1024) => Some(format!(
            "the RSA key has {} bits, below the 1024 that RFC 8301 §3.2 requires",
            k.bits.unwrap_or(0)
        )),
        _ => None,
    }
}

fn key_type_name(t: &DkimKeyType) -> String {
    match t {
        DkimKeyType::Rsa => "rsa".into(),
        DkimKeyType::Ed25519 => "ed25519".into(),
        DkimKeyType::Unknown { name } => name.clone(),
    }
}

fn algorithm_name(a: Algorithm) -> &'static str {
    match a {
        Algorithm::RsaSha1 => "rsa-sha1",
        Algorithm::RsaSha256 => "rsa-sha256",
        Algorithm::Ed25519Sha256 => "ed25519-sha256",
        _ => "other",
    }
}

/// `mail-auth`'s DNS cache, filled with the key records we fetched before it runs.
#[derive(Default)]
struct Prefetched {
    txt: TxtCache,
}

#[derive(Default)]
struct TxtCache(Mutex<HashMap<Box<str>, (TxtRecord, Instant)>>);

impl ResolverCache<Box<str>, TxtRecord> for TxtCache {
    fn get<Q>(&self, name: &Q) -> Option<TxtRecord>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        let map = self.0.lock().ok()?;
        map.get(name)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(r, _)| r.clone())
    }

    fn remove<Q>(&self, name: &Q) -> Option<TxtRecord>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.lock().ok()?.remove(name).map(|(r, _)| r)
    }

    fn insert(&self, key: Box<str>, value: TxtRecord, valid_until: Instant) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(key, (value, valid_until));
        }
    }
}

impl DnsCache for Prefetched {
    type Txt = TxtCache;
    type Mx = NoCache;
    type Ipv4 = NoCache;
    type Ipv6 = NoCache;
    type Ptr = NoCache;

    fn txt(&self) -> Option<&Self::Txt> {
        Some(&self.txt)
    }
    fn mx(&self) -> Option<&Self::Mx> {
        None
    }
    fn ipv4(&self) -> Option<&Self::Ipv4> {
        None
    }
    fn ipv6(&self) -> Option<&Self::Ipv6> {
        None
    }
    fn ptr(&self) -> Option<&Self::Ptr> {
        None
    }
}

#[cfg(test)]
mod tests;
