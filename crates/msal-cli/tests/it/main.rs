//! The `msal` binary end to end, one test binary: `cli` and `logging` run
//! the emulator as a process of its own, `login` and `offline` run it
//! in-process (`login` plays the user with the scripted user of
//! `msal-test-support`).

// A test fails by panicking; helpers here fail the test that called them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed test"
)]

mod cli;
mod keyring;
mod logging;
mod login;
mod managed_identity;
mod offline;
mod oidc_provider;
mod shared_cache;
mod symlinked_cache;
mod tenants;
