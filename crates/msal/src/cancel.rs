//! [`CancellationHandle`]: stops a long-running call (device code polling)
//! from anywhere: another task, another thread, a Ctrl-C handler, or a
//! blocking caller's signal handler.
//!
//! Async callers can also just drop the call's future: nothing this library
//! starts outlives it. The handle is for callers that cannot drop the future,
//! such as users of the [`blocking`](crate::blocking) facade.

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

/// Cancels the calls it was passed to. Clones share one state: cancelling
/// any clone cancels every call that holds one. Cancelling is permanent, so
/// a call that starts with an already cancelled handle fails at once with
/// [`Error::Cancelled`](crate::Error::Cancelled); use a new handle per call
/// (or per user gesture).
#[derive(Clone, Default)]
pub struct CancellationHandle {
    // A watch channel rather than a bare Notify: it stores the flag, so a
    // waiter that subscribes after cancel() still sees it, and send_replace
    // is a plain synchronous call that any thread (a signal handler thread
    // included) may make without a runtime.
    state: Arc<watch::Sender<bool>>,
}

impl CancellationHandle {
    /// A new handle, not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every call holding this handle (or a clone). Safe to call
    /// from any thread, any number of times.
    pub fn cancel(&self) {
        self.state.send_replace(true);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        *self.state.borrow()
    }

    /// Completes once the handle is cancelled (at once if it already is).
    pub(crate) async fn cancelled(&self) {
        let mut receiver = self.state.subscribe();
        // An error would mean the sender is gone, but `self` holds it; return
        // rather than hang if that ever changes.
        let _ = receiver.wait_for(|cancelled| *cancelled).await;
    }
}

impl fmt::Debug for CancellationHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellationHandle")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cancel_wakes_waiters_before_and_after() {
        let handle = CancellationHandle::new();
        assert!(!handle.is_cancelled());
        let clone = handle.clone();
        let waiter = tokio::spawn(async move { clone.cancelled().await });
        tokio::task::yield_now().await;
        handle.cancel();
        waiter.await.unwrap();
        assert!(handle.is_cancelled());
        // Late subscribers see the stored flag.
        handle.cancelled().await;
        // From another thread, without a runtime.
        let other = CancellationHandle::new();
        let remote = other.clone();
        std::thread::spawn(move || remote.cancel()).join().unwrap();
        other.cancelled().await;
    }
}
