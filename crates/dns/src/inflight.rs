//! Coalesces identical work in flight: when several tasks ask the same question at once, one
//! query goes out and all of them get its answer. Caches only help once an answer is back; a
//! bulk audit asks the same things concurrently (the MX of a domain for three checks, the NS of
//! a name for the validator), and without this each would go upstream.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, FutureExt, Shared};

/// A shared run older than this is not joined: its askers may all have given up (a deadline
/// dropped them), and a new asker should not inherit a stale, unpolled request.
const MAX_SHARE_AGE: Duration = Duration::from_secs(10);

type Entry<V> = (u64, Instant, Shared<BoxFuture<'static, V>>);

pub(crate) struct Inflight<K, V: Clone> {
    map: Arc<Mutex<HashMap<K, Entry<V>>>>,
    next: AtomicU64,
}

impl<K: Hash + Eq + Clone + Send + 'static, V: Clone + Send + Sync + 'static> Inflight<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            map: Arc::new(Mutex::new(HashMap::new())),
            next: AtomicU64::new(0),
        }
    }

    /// Runs `make()` unless the same `key` is already running, and returns its result. The
    /// entry is removed when the run completes, by whichever asker drives it.
    pub(crate) async fn run<F>(&self, key: K, make: impl FnOnce() -> F) -> V
    where
        F: Future<Output = V> + Send + 'static,
    {
        let fut = {
            let Ok(mut map) = self.map.lock() else {
                // A poisoned lock only means another task panicked; do the work alone.
                return make().await;
            };
            match map.get(&key) {
                Some((_, started, f)) if started.elapsed() < MAX_SHARE_AGE => f.clone(),
                _ => {
                    let id = self.next.fetch_add(1, Ordering::Relaxed);
                    let work = make();
                    let (map_ref, k) = (self.map.clone(), key.clone());
                    let f = async move {
                        let v = work.await;
                        // Remove our own entry only, not a newer run under the same key.
                        if let Ok(mut m) = map_ref.lock()
                            && m.get(&k).is_some_and(|(i, _, _)| *i == id)
                        {
                            m.remove(&k);
                        }
                        v
                    }
                    .boxed()
                    .shared();
                    map.insert(key, (id, Instant::now(), f.clone()));
                    f
                }
            }
        };
        fut.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_callers_share_one_run() {
        let inflight = Arc::new(Inflight::<&'static str, u32>::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (inflight, runs) = (inflight.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                inflight
                    .run("q", move || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        7
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 7);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Once finished, the next call runs again.
        let again = inflight.run("q", || async { 8 }).await;
        assert_eq!(again, 8);
    }
}
