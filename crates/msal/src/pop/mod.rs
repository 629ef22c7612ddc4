//! Signed-request proof of possession (SHR PoP), the scheme MSAL .NET calls
//! `PoPAuthenticationScheme`: the application holds a key pair
//! ([`PopKey`]), asks for a token bound to it (`token_type=pop` with
//! `req_cnf`, the base64url JSON `{"kid": <JWK thumbprint>}`), and presents
//! the token inside a signed HTTP request ([`SignedHttpRequest`]) in an
//! `Authorization: PoP <shr>` header, so a token that leaks without the key
//! is useless.
//!
//! Owns the key (generated with aws-lc-rs or supplied through
//! [`PopSigner`]), its RFC 7638 thumbprint and `req_cnf`, and the SHR JWT.
//! Requesting and caching PoP tokens is the flows' and the cache's
//! (`ClientCredentialsOptions::pop`, the `key_id` of cache entries).

mod key;
mod shr;

pub use key::{PopKey, PopSigner};
pub use shr::{SignedHttpRequest, pop_header};

/// The `token_type` of a PoP token request and response.
pub(crate) const TOKEN_TYPE: &str = "pop";
