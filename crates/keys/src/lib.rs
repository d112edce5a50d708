//! The CKMS for DKIM keys (SP 800-177 §5.3; issue 5): key lifecycle, generation, encryption at
//! rest and the key store. DNS publication and the `mailtrust keys` commands build on this.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod command;
pub mod crypto;
pub mod delegated;
pub mod generate;
pub mod lock;
pub mod model;
pub mod opendkim;
pub mod pem;
pub mod publish;
pub mod rotation;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use crypto::{CryptoError, KdfParams, Kek, SealedPrivateKey};
pub use generate::{DkimPublicKey, GenerateError, GeneratedKey, generate};
pub use model::{
    Algorithm, DnsRecordState, Domain, Event, IllegalTransition, KeyId, KeyState, ModelError,
    Purpose, Selector, WeakKeys, transition,
};
pub use store::{
    AuditContext, AuditEntry, DnsIntent, KeyRecord, KeyStore, KeyTimes, LogVerification, NewKey,
    SCHEMA_VERSION, SqliteKeyStore, StoreError,
};
