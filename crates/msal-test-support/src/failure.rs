//! The error of every helper: a message saying what did not behave, with
//! the cause's text. Its `Debug` is that message, so `unwrap()` in a test
//! prints it as it is.

use std::fmt;

/// Why a helper could not do what it was asked.
pub struct Failure(String);

/// A helper's result.
pub type Result<T> = std::result::Result<T, Failure>;

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure(message.into())
    }

    /// `Err(Failure)` unless `holds`: a helper's own check on what it was served.
    pub(crate) fn unless(holds: bool, message: impl FnOnce() -> String) -> Result<()> {
        if holds { Ok(()) } else { Err(Failure(message())) }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

/// Names what was being done when something failed or was missing.
pub trait Context<T> {
    fn context(self, doing: &str) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, doing: &str) -> Result<T> {
        self.map_err(|e| Failure(format!("{doing}: {e}")))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, missing: &str) -> Result<T> {
        self.ok_or_else(|| Failure(format!("missing: {missing}")))
    }
}
