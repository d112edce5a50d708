//! Rotation: which lifecycle step is due, given the keys, a policy and the time.
//!
//! `mailtrust keys run` asks [`next_step`] for one step, performs it (one store transaction and
//! its DNS change), and asks again, until nothing is due. Because the plan is always recomputed
//! from the store, a run killed between any two steps is finished by the next run; and because a
//! key can only become active from `published` (see [`crate::transition`]), no signing key is
//! ever without its record.

use serde::Serialize;

use crate::clock::Timestamp;
use crate::model::{Algorithm, Domain, KeyId, KeyState, Purpose, Selector};
use crate::store::KeyRecord;

const DAY: i64 = 86_400;

/// When keys move on (defaults from current practice: rotate every 6 months, publish the next
/// key 7 days ahead, keep the old record 7 days for mail in flight, destroy after 30 more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// An active key is replaced this long after its activation (seconds).
    pub rotate_after: i64,
    /// Its successor is published this long before (seconds).
    pub publish_lead: i64,
    /// A deactivated key's record stays this long before it is revoked (seconds).
    pub retire_after: i64,
    /// A revoked key's private key is destroyed this long after revocation (seconds).
    pub destroy_after: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            rotate_after: 182 * DAY,
            publish_lead: 7 * DAY,
            retire_after: 7 * DAY,
            destroy_after: 30 * DAY,
        }
    }
}

impl Policy {
    /// A policy from days.
    pub fn from_days(rotate: u32, lead: u32, retire: u32, destroy: u32) -> Self {
        Policy {
            rotate_after: i64::from(rotate) * DAY,
            publish_lead: i64::from(lead) * DAY,
            retire_after: i64::from(retire) * DAY,
            destroy_after: i64::from(destroy) * DAY,
        }
    }
}

/// One due step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Publish the revoked record of a key deactivated long enough ago, then mark it revoked.
    Revoke {
        /// The key.
        id: KeyId,
    },
    /// Erase the private key of a key revoked long enough ago.
    Destroy {
        /// The key.
        id: KeyId,
    },
    /// Generate the successor of an active key that is due for rotation.
    CreateSuccessor {
        /// Its domain.
        domain: Domain,
        /// The new selector.
        selector: Selector,
        /// The same purpose as the key it replaces.
        purpose: Purpose,
        /// The same algorithm.
        algorithm: Algorithm,
    },
    /// Publish a successor's record.
    Publish {
        /// The successor.
        id: KeyId,
    },
    /// Activate a published successor (after proving its record is visible).
    Activate {
        /// The successor.
        id: KeyId,
    },
    /// Stop signing with an older active key once a newer one signs.
    Deactivate {
        /// The older key.
        id: KeyId,
    },
}

fn at(t: Option<Timestamp>) -> i64 {
    t.map_or(i64::MIN, |t| t.0)
}

/// The first step due now, if any. Keys are grouped into families (domain, purpose, key type):
/// each family rotates on its own, RSA and Ed25519 of one purpose side by side.
pub fn next_step(keys: &[KeyRecord], policy: &Policy, now: Timestamp) -> Option<Step> {
    let now = now.0;
    // Retirement first: it never depends on the other steps.
    for k in keys {
        if k.state() == KeyState::Deactivated
            && at(k.times.deactivated).saturating_add(policy.retire_after) <= now
        {
            return Some(Step::Revoke { id: k.id.clone() });
        }
        if k.state() == KeyState::RevokedInDns
            && at(k.times.revoked).saturating_add(policy.destroy_after) <= now
        {
            return Some(Step::Destroy { id: k.id.clone() });
        }
    }
    let mut families: Vec<(&Domain, &Purpose, &'static str)> = Vec::new();
    for k in keys {
        let f = (&k.domain, &k.purpose, k.algorithm().dkim_key_type());
        if !families.contains(&f) {
            families.push(f);
        }
    }
    // The RSA and Ed25519 keys of one domain and purpose sign side by side (RFC 8463), so they
    // rotate together: a family is due when the earliest-due key of its pair is. A pair
    // activated on different days is aligned at its first rotation.
    let pair_due = |domain: &Domain, purpose: &Purpose| -> Option<i64> {
        keys.iter()
            .filter(|k| {
                &k.domain == domain && &k.purpose == purpose && k.state() == KeyState::Active
            })
            .map(|k| at(k.times.activated).saturating_add(policy.rotate_after))
            .min()
    };
    for (domain, purpose, ktype) in families {
        let family: Vec<&KeyRecord> = keys
            .iter()
            .filter(|k| {
                &k.domain == domain
                    && &k.purpose == purpose
                    && k.algorithm().dkim_key_type() == ktype
            })
            .collect();
        let mut active: Vec<&&KeyRecord> = family
            .iter()
            .filter(|k| k.state() == KeyState::Active)
            .collect();
        active.sort_by_key(|k| at(k.times.activated));
        // Two active keys: a run stopped between activating the new one and deactivating the
        // old one. Finish it.
        if active.len() > 1 {
            return Some(Step::Deactivate {
                id: active[0].id.clone(),
            });
        }
        // Without an active key there is nothing to rotate: the first activation is a person's.
        let Some(current) = active.first() else {
            continue;
        };
        let activated = at(current.times.activated);
        let own = activated.saturating_add(policy.rotate_after);
        // Pulled forward by the pair, unless this key is already the new generation (activated
        // at or after the pair's successor was to be published): it must not rotate again.
        let rotate_at = match pair_due(domain, purpose) {
            Some(p) if p < own && activated < p.saturating_sub(policy.publish_lead) => p,
            _ => own,
        };
        if rotate_at.saturating_sub(policy.publish_lead) > now {
            continue;
        }
        let successor = family
            .iter()
            .filter(|k| {
                matches!(k.state(), KeyState::PreActivation | KeyState::Published)
                    && at(k.times.created) >= activated
            })
            .max_by_key(|k| at(k.times.created));
        match successor {
            None => {
                return Some(Step::CreateSuccessor {
                    domain: current.domain.clone(),
                    selector: successor_selector(keys, current, now),
                    purpose: current.purpose.clone(),
                    algorithm: current.algorithm(),
                });
            }
            Some(s) if s.state() == KeyState::PreActivation => {
                return Some(Step::Publish { id: s.id.clone() });
            }
            Some(s)
                if at(s.times.published).saturating_add(policy.publish_lead) <= now
                    && rotate_at <= now =>
            {
                return Some(Step::Activate { id: s.id.clone() });
            }
            Some(_) => {}
        }
    }
    None
}

/// The successor's selector: the current one without its date (trailing digits, and the
/// letter mailtrust adds on a collision), then today's `YYYYMMDD` — `mx1-20270115` becomes
/// `mx1-20270207`; a selector without digits at the end gets `-YYYYMMDD` (`s2026r` becomes
/// `s2026r-20270207`). Made unique among the domain's selectors with a letter suffix.
fn successor_selector(keys: &[KeyRecord], current: &KeyRecord, now: i64) -> Selector {
    let old = current.selector.as_str();
    let mut base = old;
    // A collision letter after a date: `mx1-20270207b`.
    let bytes = base.as_bytes();
    if bytes.len() > 9
        && bytes[bytes.len() - 1].is_ascii_lowercase()
        && bytes[bytes.len() - 9..bytes.len() - 1]
            .iter()
            .all(u8::is_ascii_digit)
    {
        base = &base[..base.len() - 1];
    }
    let stripped = base.trim_end_matches(|c: char| c.is_ascii_digit());
    let prefix = if stripped.is_empty() {
        "k-".to_string()
    } else if stripped.len() == base.len() {
        format!("{stripped}-")
    } else {
        stripped.to_string()
    };
    let date = ymd(now);
    let taken = |s: &str| {
        keys.iter()
            .any(|k| k.domain == current.domain && k.selector.as_str() == s)
    };
    let mut candidate = format!("{prefix}{date}");
    for suffix in 'b'..='z' {
        if !taken(&candidate) {
            break;
        }
        candidate = format!("{prefix}{date}{suffix}");
    }
    // Built from a valid selector's characters and digits, so always valid; keep the old name
    // with a date as a last resort rather than fail the run.
    Selector::new(&candidate)
        .or_else(|_| Selector::new(&format!("k-{date}")))
        .unwrap_or_else(|_| current.selector.clone())
}

/// `YYYYMMDD` (UTC) of a time.
fn ymd(secs: i64) -> String {
    mailtrust_dns::format_utc(secs)
        .chars()
        .take(10)
        .filter(char::is_ascii_digit)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    #[test]
    fn dates() {
        assert_eq!(ymd(0), "19700101");
        assert_eq!(ymd(1_795_560_000), "20261124");
        assert_eq!(ymd(951_782_400), "20000229");
    }

    /// A real store driven by the planner alone (DNS steps are the CLI's), on a manual clock.
    struct Sim {
        _dir: tempfile::TempDir,
        clock: std::sync::Arc<crate::clock::ManualClock>,
        kek: crate::Kek,
        store: crate::store::SqliteKeyStore,
        ctx: crate::store::AuditContext,
    }

    const T0: Timestamp = Timestamp(1_800_000_000);

    impl Sim {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let clock = std::sync::Arc::new(crate::clock::ManualClock::new(T0));
            let kek = crate::Kek::generate().unwrap();
            let store =
                crate::store::SqliteKeyStore::create(&dir.path().join("k.db"), &kek, clock.clone())
                    .unwrap();
            Sim {
                _dir: dir,
                clock,
                kek,
                store,
                ctx: crate::store::AuditContext::new("test", None),
            }
        }

        /// A new key of example.org's MTA mx1.
        fn add(&mut self, selector: &str, algorithm: Algorithm) -> KeyRecord {
            use crate::store::{KeyStore, NewKey};
            let g = crate::generate(algorithm).unwrap();
            self.store
                .create_key(
                    &self.kek,
                    NewKey {
                        domain: Domain::new("example.org").unwrap(),
                        selector: Selector::new(selector).unwrap(),
                        purpose: Purpose::SendingMta { host: "mx1".into() },
                        public: g.public.clone(),
                    },
                    &g.private_pkcs8,
                    &self.ctx,
                )
                .unwrap()
        }

        fn event(&mut self, id: &KeyId, event: crate::model::Event) -> KeyRecord {
            use crate::store::KeyStore;
            self.store.apply(id, event, &self.ctx).unwrap()
        }

        /// A key, published and activated now.
        fn active(&mut self, selector: &str, algorithm: Algorithm) {
            use crate::model::Event;
            let k = self.add(selector, algorithm);
            self.event(&k.id, Event::Publish);
            self.event(&k.id, Event::Activate);
        }

        fn keys(&self) -> Vec<KeyRecord> {
            use crate::store::KeyStore;
            self.store.keys().unwrap()
        }

        /// Carries `step` out; returns the key it created or changed.
        fn perform(&mut self, step: Step) -> KeyRecord {
            use crate::model::Event;
            match step {
                Step::CreateSuccessor {
                    selector,
                    algorithm,
                    ..
                } => self.add(selector.as_str(), algorithm),
                Step::Publish { id } => self.event(&id, Event::Publish),
                Step::Activate { id } => self.event(&id, Event::Activate),
                Step::Deactivate { id } => self.event(&id, Event::Deactivate),
                Step::Revoke { id } => self.event(&id, Event::Revoke),
                Step::Destroy { id } => self.event(&id, Event::Destroy),
            }
        }
    }

    /// Drives a whole rotation: the steps come in order, and an active key always went
    /// through `published`.
    #[test]
    fn a_rotation_runs_to_destruction_in_order() {
        use crate::store::KeyStore;
        let mut sim = Sim::new();
        sim.active("mx1-20270115", Algorithm::Ed25519);
        let policy = Policy::from_days(30, 7, 7, 30);
        assert_eq!(next_step(&sim.keys(), &policy, sim.clock.now()), None);
        let mut seen = Vec::new();
        for _ in 0..200 {
            sim.clock.advance(DAY);
            while let Some(step) = next_step(&sim.keys(), &policy, sim.clock.now()) {
                seen.push(match &step {
                    Step::CreateSuccessor { selector, .. } => {
                        assert!(selector.as_str().starts_with("mx1-"), "{selector:?}");
                        "create"
                    }
                    Step::Publish { .. } => "publish",
                    Step::Activate { .. } => "activate",
                    Step::Deactivate { .. } => "deactivate",
                    Step::Revoke { .. } => "revoke",
                    Step::Destroy { .. } => "destroy",
                });
                sim.perform(step);
                let keys = sim.keys();
                let active = keys
                    .iter()
                    .filter(|k| k.state() == KeyState::Active)
                    .count();
                assert!((1..=2).contains(&active), "{active} active keys");
                assert!(
                    keys.iter()
                        .filter(|k| k.state() == KeyState::Active)
                        .all(|k| k.times.published.is_some())
                );
            }
        }
        // The first rotation, in order: a successor 7 days ahead, the switch, then the old
        // key's retirement; its destruction comes 30 days after revocation.
        assert_eq!(
            &seen[..5],
            ["create", "publish", "activate", "deactivate", "revoke"]
        );
        assert!(seen.contains(&"destroy"));
        assert!(
            sim.keys()
                .iter()
                .filter(|k| k.state() == KeyState::Destroyed)
                .count()
                >= 5
        );
        assert!(matches!(
            sim.store.verify_log().unwrap(),
            crate::store::LogVerification::Intact { .. }
        ));
    }

    /// An RSA and an Ed25519 key of one MTA, activated 20 days apart, get their successors in
    /// the same run and switch on the same day.
    #[test]
    fn an_rsa_and_ed25519_pair_rotates_together() {
        let mut sim = Sim::new();
        sim.active("s2026r", Algorithm::Rsa2048);
        sim.clock.advance(20 * DAY);
        sim.active("s2026e", Algorithm::Ed25519);
        let policy = Policy::from_days(60, 7, 7, 30);
        let mut activations: Vec<(i64, Algorithm)> = Vec::new();
        let mut creations: Vec<(i64, Algorithm)> = Vec::new();
        for _ in 0..125 {
            sim.clock.advance(DAY);
            while let Some(step) = next_step(&sim.keys(), &policy, sim.clock.now()) {
                let now = sim.clock.now().0;
                let log = match &step {
                    Step::CreateSuccessor { .. } => Some(&mut creations),
                    Step::Activate { .. } => Some(&mut activations),
                    _ => None,
                };
                let k = sim.perform(step);
                if let Some(log) = log {
                    log.push((now, k.algorithm()));
                }
            }
        }
        // RSA (activated first) sets the date: both successors 7 days ahead of day 60, both
        // switched on day 60, although the Ed25519 key is only 40 days old then; from there on
        // the pair stays in step (day 120), and nothing rotates twice.
        assert_eq!(creations.len(), 4, "{creations:?}");
        assert_eq!(activations.len(), 4, "{activations:?}");
        for pair in creations.chunks(2).chain(activations.chunks(2)) {
            assert_eq!(pair[0].0, pair[1].0, "{creations:?} {activations:?}");
            assert_ne!(pair[0].1, pair[1].1, "one of each algorithm: {pair:?}");
        }
        assert_eq!(activations[0].0, T0.0 + 60 * DAY);
        assert_eq!(activations[2].0, T0.0 + 120 * DAY);
    }

    #[test]
    fn default_policy_is_six_months_and_a_week() {
        let p = Policy::default();
        assert_eq!(p.rotate_after / DAY, 182);
        assert_eq!(p.publish_lead / DAY, 7);
        assert_eq!(Policy::from_days(1, 2, 3, 4).destroy_after, 4 * DAY);
    }
}
