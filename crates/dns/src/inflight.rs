//! Coalesces identical work in flight: when several tasks ask the same question at once, one
//! query goes out and all of them get its answer. Caches only help once an answer is back; a
//! bulk audit asks the same things concurrently (the MX of a domain for three checks, the NS of
//! a name for the validator), and without this each would go upstream.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;

use futures_util::future::{BoxFuture, FutureExt, Shared};

pub(crate) struct Inflight<K, V: Clone> {
    map: Mutex<HashMap<K, Shared<BoxFuture<'static, V>>>>,
}

impl<K: Hash + Eq + Clone, V: Clone + Send + Sync + 'static> Inflight<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `make()` unless the same `key` is already running, and returns its result.
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
                Some(f) => f.clone(),
                None => {
                    let f = make().boxed().shared();
                    map.insert(key.clone(), f.clone());
                    f
                }
            }
        };
        let v = fut.await;
        if let Ok(mut map) = self.map.lock() {
            map.remove(&key);
        }
        v
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
