//! The emulator over real HTTPS, one test binary: each module is one area
//! of what it serves. What the modules share is in `common` (JSON requests
//! and Entra's error shape), `device_support` (the device code pages) and
//! the `msal-test-support` crate (the emulator, clients, HTML forms).

// A test fails by panicking; helpers here fail the test that called them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed test"
)]

mod common;
mod device_support;

mod admin;
mod authorities;
mod authorize;
mod device_code;
mod discovery;
mod faults;
mod fidelity;
mod foci_cae;
mod independent_validators;
mod managed_identity;
mod oidc_client;
mod on_behalf_of;
mod regional;
mod ropc_federation;
mod server;
mod token;
