//! Applications: the public types ([`PublicClientApplication`] and
//! [`ConfidentialClientApplication`]) are thin handles over the
//! [`AppCore`](crate::core::AppCore) that owns the client id, authority,
//! pipeline, cache and telemetry. Flows in [`crate::flows`] work on the core;
//! nothing below this module knows the application types.

mod confidential;
mod public;
mod shared_methods;

pub use confidential::{ConfidentialClientApplication, ConfidentialClientApplicationBuilder};
pub use public::{PublicClientApplication, PublicClientApplicationBuilder};

/// The authority every application uses unless told otherwise.
pub const DEFAULT_AUTHORITY: &str = crate::core::DEFAULT_AUTHORITY;
