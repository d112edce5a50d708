//! Authenticating received mail the way a receiving MTA does (SP 800-177 §4): today DKIM
//! signatures; SPF, DMARC and ARC join here for the milter.
//!
//! The cryptography and canonicalization come from `mail-auth`. What this crate adds is the DNS:
//! every key record is fetched through mailtrust's own validating resolver, so each result says
//! whether the key was DNSSEC-secure, and a timeout or a bogus answer is a temporary error,
//! never "no key".

pub mod dkim;

pub use dkim::{DkimReport, DkimVerifier, SignatureResult, Verdict};
