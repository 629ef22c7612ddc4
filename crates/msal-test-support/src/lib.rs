//! What the workspace's integration tests share, so that each crate's tests
//! say what they check and not how to reach the emulator:
//!
//! - [`emulator`]: an emulator on a free port, and HTTPS clients (reqwest's
//!   and msal's) that trust only its CA;
//! - [`user`]: one scripted person at the emulator's pages, who signs in
//!   (form posts, no browser) or approves a device code;
//! - [`html`]: reading the emulator's pages: forms, inputs, entities;
//! - [`webdriver`]: a real headless Chromium through chromedriver;
//! - [`oidc_provider`]: a real OpenID provider (panva's `oidc-provider`)
//!   with clients and a user registered, and that user's scripted browser;
//! - [`python`]: the pinned MSAL Python, run as a peer against the emulator;
//! - [`logs`]: what the `tracing` macros log, captured per test;
//! - [`keyring`]: a private D-Bus session bus with GNOME Keyring on it.
//! - [`redis`]: a real `redis-server`, or a three-node Redis Cluster, on loopback.
//!
//! Helpers return a [`Result`] whose [`Failure`] says what did not behave;
//! the tests unwrap it, so a failure reads as the test's own.

#![forbid(unsafe_code)]

pub mod emulator;
mod failure;
pub mod html;
pub mod keyring;
pub mod logs;
pub mod node;
pub mod oidc_provider;
pub mod python;
pub mod redis;
pub mod user;
pub mod webdriver;

pub use emulator::{
    CLOUD_HOSTS, browser, client, client_builder, host_url, msal_http, msal_http_all_hosts,
    msal_http_all_hosts_builder, msal_http_builder, msal_http_for_cloud, start, start_with,
};
pub use failure::{Context, Failure, Result};
