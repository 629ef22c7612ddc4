//! The library against the emulator over real HTTPS, one test binary: each
//! module is one flow or concern. The apps they drive are in `common`; the
//! emulator, clients, scripted user, headless Chromium and MSAL Python come
//! from the `msal-test-support` crate.

// A test fails by panicking; helpers here fail the test that called them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed test"
)]

mod common;

mod auth_code;
mod authorities;
mod background_refresh;
mod cache_files;
mod cache_hooks;
mod certificates;
mod client_credentials;
mod device_code;
#[cfg(feature = "redis")]
mod distributed_cache;
mod examples;
mod family_and_claims;
mod hostile_servers;
mod id_token_validation;
mod interactive;
mod interop_python;
mod interop_python_certificates;
mod keyring_store;
mod managed_identity;
mod mtls_pop;
mod no_secrets;
mod offline_cache;
mod oidc_provider;
mod on_behalf_of;
mod pop;
mod regional;
mod silent;
mod ssh_cert;
mod throttling;
mod trace_no_secrets;
mod username_password;
