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

use std::path::Path;
use std::process::Command;

/// The settings' environment variables: none may leak in from the machine
/// running the tests.
const SETTINGS_ENV: [&str; 12] = [
    "MSAL_CLIENT_ID",
    "MSAL_AUTHORITY",
    "MSAL_TENANT",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_AUTHORITY_HOST",
    "MSAL_CACHE",
    "MSAL_CONFIG",
    "MSAL_CACHE_STORE",
    "MSAL_CLIENT_SECRET",
    "MSAL_CERTIFICATE_PASSWORD",
    "MSAL_INSTANCE_DISCOVERY_ENDPOINT",
];

/// `msal` kept off the real home: its default cache and config file under
/// `home`, and no setting inherited from the environment (a test sets the
/// ones it means to).
pub(crate) fn isolated(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_msal"));
    command
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("xdg"))
        .env("XDG_CONFIG_HOME", home.join("config"));
    for name in SETTINGS_ENV {
        command.env_remove(name);
    }
    command
}

mod apps;
mod cli;
mod keyring;
mod logging;
mod login;
mod managed_identity;
mod offline;
mod oidc_provider;
mod pop;
mod redis_cache;
mod settings;
mod shared_cache;
mod ssh_cert;
mod symlinked_cache;
mod tenants;
