//! The lab's TSIG key (RFC 8945): one HMAC-SHA256 key allowed to send RFC 2136 updates to the
//! scenario zones, so that key-management code can publish records in the lab.

use std::io::Read;
use std::path::Path;

use crate::error::{IoContext, LabError};

/// The key's name as it appears in TSIG records and in Knot's config.
pub(crate) const KEY_NAME: &str = "mailtrust-lab-update";
pub(crate) const ALGORITHM: &str = "hmac-sha256";

#[derive(Clone)]
pub(crate) struct TsigKey {
    pub name: String,
    pub algorithm: String,
    /// Base64 of the secret, as Knot, knsupdate and hickory take it.
    pub secret: String,
}

/// Without the secret: a key must not end up in a log by way of `{:?}`.
impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl TsigKey {
    /// A fresh key with 32 random bytes (the HMAC-SHA256 output size, RFC 8945 §6).
    pub(crate) fn generate() -> Result<TsigKey, LabError> {
        let mut secret = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut secret))
            .context(|| "cannot read /dev/urandom for the TSIG secret".into())?;
        Ok(TsigKey {
            name: KEY_NAME.into(),
            algorithm: ALGORITHM.into(),
            secret: base64(&secret),
        })
    }

    /// The shape reported in `LabInfo.zones[].tsig`; `file` is where [`TsigKey::file_text`]
    /// was written.
    pub(crate) fn to_json(&self, file: &Path) -> serde_json::Value {
        serde_json::json!({
            "algorithm": self.algorithm,
            "name": self.name,
            "secret": self.secret,
            "file": file,
        })
    }

    /// `ALGORITHM:NAME:SECRET` and a newline: the `nsupdate -y` form, for a key file.
    pub(crate) fn file_text(&self) -> String {
        format!("{}:{}:{}\n", self.algorithm, self.name, self.secret)
    }
}

/// Standard base64 with padding (RFC 4648 §4), as Knot's configuration and `nsupdate -y` take
/// TSIG secrets.
pub(crate) fn base64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_rfc4648_vectors() {
        // RFC 4648 §10.
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn generated_key_has_32_byte_secret() {
        let key = TsigKey::generate().expect("urandom");
        assert_eq!(key.secret.len(), 44);
        let json = key.to_json(Path::new("/s/tsig.key"));
        assert_eq!(json["algorithm"], "hmac-sha256");
        assert_eq!(json["file"], "/s/tsig.key");
        assert_eq!(
            key.file_text(),
            format!("hmac-sha256:mailtrust-lab-update:{}\n", key.secret)
        );
        assert!(!format!("{key:?}").contains(&key.secret));
    }
}
