//! Single-flight requests: when many tasks need the same token at once, one
//! request goes to the identity provider and every waiting task receives its
//! result (success or error). Different keys never wait on each other.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// In-flight requests by key.
pub(crate) struct SingleFlight<T> {
    flights: Mutex<HashMap<String, Arc<OnceCell<T>>>>,
}

impl<T> Default for SingleFlight<T> {
    fn default() -> Self {
        Self {
            flights: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> SingleFlight<T> {
    /// Runs `work` for `key` unless a flight for it is under way, in which
    /// case this waits for that flight's result. If the leading task is
    /// cancelled, a waiting one takes over.
    pub(crate) async fn run<F, Fut>(&self, key: &str, work: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let cell = {
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            flights.entry(key.to_owned()).or_default().clone()
        };
        let result = cell.get_or_init(work).await.clone();
        // The flight is over: later callers start afresh (and find the cache filled).
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        if flights
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, &cell))
        {
            flights.remove(key);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_run_per_key() {
        let flights = Arc::new(SingleFlight::<Result<u32, String>>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        // Flights stay open until every caller has joined, so the count is exact.
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let mut tasks = Vec::new();
        for i in 0..200 {
            let (flights, runs, gate) = (flights.clone(), runs.clone(), gate.clone());
            let key = if i % 2 == 0 { "a" } else { "b" };
            tasks.push(tokio::spawn(async move {
                flights
                    .run(key, || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        let _permit = gate.acquire().await;
                        if key == "a" { Ok(7) } else { Err("boom".to_owned()) }
                    })
                    .await
            }));
        }
        let joined = |key: &str| {
            let map = flights.flights.lock().unwrap();
            map.get(key).map_or(0, Arc::strong_count)
        };
        while joined("a") < 101 || joined("b") < 101 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        gate.add_permits(2);
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2, "one run per key");
        assert_eq!(results.iter().filter(|r| **r == Ok(7)).count(), 100);
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 100);
        // Finished flights are forgotten: the next call runs again.
        assert_eq!(flights.run("a", || async { Ok(8) }).await, Ok(8));
    }
}
