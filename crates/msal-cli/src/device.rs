//! `msal login --device-code`: the device code flow for machines without a
//! browser (SSH sessions, containers). Shows the IdP's message, then (on a
//! terminal) a countdown line redrawn in place while the library polls,
//! erased when the wait ends; Ctrl-C cancels with one message.

use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime};

use msal::{CancellationHandle, DeviceFlowPolling, Error};

use crate::cache_file::CacheStore;
use crate::login::{self, LoginArgs, SignInTarget};

/// Signs the user in on another device; `store` was checked to be writable.
pub(crate) async fn login(args: &LoginArgs, target: &SignInTarget, store: CacheStore) -> Result<(), Error> {
    // The sign-in writes into a cache of its own, merged into the store under its lock.
    let scratch = msal::TokenCache::new();
    let app = login::app(target, &scratch)?;
    let flow = app.initiate_device_flow(&args.scopes).await?;
    // Ctrl-C is listened for before the code is shown: one pressed right
    // after the message must cancel, not end the process unannounced.
    let interrupted = interrupt();
    // The message names the URL and the code: the one thing the user needs.
    eprintln!("{}", flow.message());

    let cancel = CancellationHandle::new();
    let on_ctrl_c = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            if interrupted.await {
                cancel.cancel();
            }
        }
    });
    // Only on a terminal: scripts and logs get the message above and the result.
    let terminal = std::io::stderr().is_terminal();
    let expires_at = flow.expires_at();
    let ticker = tokio::spawn(async move {
        if !terminal {
            return;
        }
        loop {
            {
                let mut stderr = std::io::stderr().lock();
                // Carriage return and erase-line: the line is redrawn in place.
                let _ = write!(
                    stderr,
                    "\r\x1b[2KWaiting for you to sign in ({} left)",
                    time_left(expires_at)
                );
                let _ = stderr.flush();
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });

    let polling = DeviceFlowPolling::default().cancellation(cancel);
    let outcome = app.acquire_token_by_device_flow_with(&flow, &polling).await;
    ticker.abort();
    // Until it has stopped, the ticker may draw the line again after it is erased.
    let _ = ticker.await;
    on_ctrl_c.abort();
    if terminal {
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r\x1b[2K");
        let _ = stderr.flush();
    }
    let result = match outcome {
        Err(Error::Cancelled) => {
            eprintln!("Cancelled: stopped waiting for the sign-in.");
            return Err(Error::Cancelled);
        }
        other => other?,
    };
    login::finish(args, target, store, &scratch, &result).await
}

/// `M:SS` until `at`, or `0:00` once it has passed.
fn time_left(at: SystemTime) -> String {
    let secs = at.duration_since(SystemTime::now()).map_or(0, |d| d.as_secs());
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// Resolves to `true` at the first Ctrl-C (`false` if it cannot be heard).
/// On Unix the handler is installed at once, not when first polled.
#[cfg(unix)]
fn interrupt() -> impl Future<Output = bool> {
    use tokio::signal::unix::{SignalKind, signal};
    let listener = signal(SignalKind::interrupt());
    async move {
        match listener {
            Ok(mut listener) => listener.recv().await.is_some(),
            Err(_) => false,
        }
    }
}

#[cfg(not(unix))]
fn interrupt() -> impl Future<Output = bool> {
    async { tokio::signal::ctrl_c().await.is_ok() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_counts_down_and_stops_at_zero() {
        let soon = SystemTime::now() + Duration::from_secs(125);
        assert!(["2:05", "2:04"].contains(&time_left(soon).as_str()));
        assert_eq!(time_left(SystemTime::now() - Duration::from_secs(5)), "0:00");
    }
}
