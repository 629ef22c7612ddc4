//! The `msal` binary end to end, one test binary: `cli` runs the emulator
//! as a process of its own, `login` runs it in-process and plays the user
//! with the scripted user of `msal-test-support`.

// A test fails by panicking; helpers here fail the test that called them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed test"
)]

mod cli;
mod login;
