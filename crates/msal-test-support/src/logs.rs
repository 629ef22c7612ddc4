//! What the `tracing` macros log while a test runs, captured for the test
//! to search: every event on the capturing thread, at every level, in the
//! `fmt` subscriber's plain text format.
//!
//! Tests of one binary share a process, so a test can neither install a
//! global subscriber of its own (the second one fails) nor rely on a scoped
//! one (`set_default`): while only one dispatcher exists, tracing caches a
//! callsite's interest from whatever thread reaches it first, so a callsite
//! first hit by another test, with no subscriber, stays disabled for this
//! one. Instead one global subscriber, installed once, is interested in
//! every callsite and writes each event to the buffer of the thread's
//! [`Capture`], if it has one. Under `#[tokio::test]` (a current-thread
//! runtime) the test's tasks, and an emulator it started, run on its thread.

use std::cell::RefCell;
use std::io::Write;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tracing_subscriber::filter::DynFilterFn;
use tracing_subscriber::fmt::{self, MakeWriter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::{Layer as _, Registry};

use crate::{Failure, Result};

type Buffer = Arc<Mutex<Vec<u8>>>;

thread_local! {
    /// Where this thread's events go, while a [`Capture`] is alive on it.
    static SINK: RefCell<Option<Buffer>> = const { RefCell::new(None) };
}

/// Captures this thread's log events until dropped.
pub struct Capture {
    buffer: Buffer,
    previous: Option<Buffer>,
    // The sink is per thread: the guard must be dropped where it was made.
    _same_thread: PhantomData<Rc<()>>,
}

/// Starts capturing what is logged on this thread. Fails when another
/// global subscriber was installed in this process.
pub fn capture() -> Result<Capture> {
    install()?;
    let buffer = Buffer::default();
    let previous = SINK.with(|sink| sink.replace(Some(buffer.clone())));
    Ok(Capture {
        buffer,
        previous,
        _same_thread: PhantomData,
    })
}

impl Capture {
    /// Everything logged so far, one event a line.
    pub fn text(&self) -> String {
        let bytes = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let previous = self.previous.take();
        SINK.with(|sink| sink.replace(previous));
    }
}

fn capturing() -> bool {
    SINK.with(|sink| sink.borrow().is_some())
}

fn install() -> Result<()> {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    let installed = *INSTALLED.get_or_init(|| {
        let layer = fmt::layer()
            .with_writer(ThreadSink)
            .with_ansi(false)
            // A dynamic filter is asked per event; a plain `FilterFn` would
            // be cached per callsite from whichever thread met it first.
            .with_filter(DynFilterFn::new(|_, _| capturing()));
        tracing::subscriber::set_global_default(Registry::default().with(layer)).is_ok()
    });
    Failure::unless(installed, || {
        "another global tracing subscriber is installed in this test binary".to_owned()
    })
}

/// Writes to the current thread's capture buffer (or nowhere).
struct ThreadSink;

impl<'a> MakeWriter<'a> for ThreadSink {
    type Writer = SinkWriter;

    fn make_writer(&'a self) -> SinkWriter {
        SinkWriter(SINK.with(|sink| sink.borrow().clone()))
    }
}

struct SinkWriter(Option<Buffer>);

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(buffer) = &self.0 {
            buffer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
