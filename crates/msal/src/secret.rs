//! Types that hold secrets: they redact themselves in `Debug` and `Display`
//! and zero their memory on drop, so a secret never lands in a log line, an
//! error message or a panic.

use std::fmt;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroize;

const REDACTED: &str = "[REDACTED]";

/// A confidential client's secret, as registered with the identity provider.
#[derive(Clone)]
pub struct ClientSecret(SecretString);

impl ClientSecret {
    /// Wraps a secret string.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(SecretString::from(secret.into()))
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientSecret({REDACTED})")
    }
}

/// A user's password, for [`acquire_token_by_username_password`](crate::PublicClientApplication::acquire_token_by_username_password).
/// Redacted in `Debug`, zeroed on drop; it is sent to the token endpoint or
/// the user's federation server and nowhere else.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(SecretString::from(password.into()))
    }

    /// The password itself, for the one place that must send it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password({REDACTED})")
    }
}

impl From<String> for Password {
    fn from(password: String) -> Self {
        Self::new(password)
    }
}

/// An access token: a bearer credential for the resource it was issued for.
/// A token served from the cache shares the cache's copy (zeroed when the
/// last holder drops it) instead of copying it.
#[derive(Clone)]
pub struct AccessToken(CachedSecret);

impl AccessToken {
    /// Wraps a token string.
    pub fn new(token: impl Into<String>) -> Self {
        Self(CachedSecret::new(token))
    }

    pub(crate) fn shared(secret: &CachedSecret) -> Self {
        Self(secret.clone())
    }

    /// The token, to put in an `Authorization: Bearer` header. Named like
    /// every other secret's accessor, so reading one stands out in review.
    pub fn expose_secret(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessToken({REDACTED})")
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.expose_secret() == other.expose_secret()
    }
}

impl Eq for AccessToken {}

/// An ID token: the identity provider's signed statement of who signed in.
/// It is a credential for some APIs (e.g. as `id_token_hint`), so it is
/// redacted like the other tokens; its decoded claims are in
/// [`IdTokenClaims`](crate::result::IdTokenClaims).
#[derive(Clone)]
pub struct IdToken(CachedSecret);

impl IdToken {
    /// Wraps a token string.
    pub fn new(token: impl Into<String>) -> Self {
        Self(CachedSecret::new(token))
    }

    pub(crate) fn shared(secret: &CachedSecret) -> Self {
        Self(secret.clone())
    }

    /// The raw JWT.
    pub fn expose_secret(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdToken({REDACTED})")
    }
}

/// A secret held in the token cache (access, refresh and ID tokens). It is
/// written to the serialized cache as a plain string, as every MSAL does, and
/// redacted everywhere else. Clones share one buffer (a cache hit hands the
/// token out without copying it), zeroed when the last holder drops it.
///
/// A secret made at run time has a buffer of its own. Secrets read from a
/// serialized cache are packed into [`SecretBuffer`]s of some hundred
/// kilobytes each (see [`SecretArena`]): one allocation for hundreds of
/// tokens instead of one each, so loading, holding and dropping a large cache
/// costs far less. The price: a packed secret's bytes are zeroed when every
/// secret of its buffer is gone, not when it alone is (a token replaced in
/// the cache lingers, unreadable through the API, until its neighbours go
/// too), and a result holding one token keeps its buffer alive.
#[derive(Clone, Default)]
pub(crate) struct CachedSecret {
    /// `None` for the empty secret (an entry not yet filled in).
    buffer: Option<Arc<SecretBuffer>>,
    /// The secret's bytes in `buffer`; [`WHOLE`] for all of it.
    start: u32,
    end: u32,
}

/// `(start, end)` of a secret that is its whole buffer (one of any length).
const WHOLE: (u32, u32) = (0, u32::MAX);

/// Text holding one or more secrets, zeroed on drop. Never grown after
/// secrets refer to it: growing would move the bytes and leave a copy
/// behind unzeroed.
pub(crate) struct SecretBuffer {
    text: String,
    /// Whether the spare capacity may hold old bytes too (a `String` handed
    /// in by a caller may once have held more). An arena's never does, and
    /// zeroing it would touch pages that were never mapped in.
    spare_used: bool,
}

impl Drop for SecretBuffer {
    fn drop(&mut self) {
        if self.spare_used {
            self.text.zeroize();
        } else {
            self.text.as_mut_str().zeroize();
        }
    }
}

impl CachedSecret {
    pub(crate) fn new(secret: impl Into<String>) -> Self {
        // The String's own buffer becomes the secret's: no copy to zero.
        Self::whole(Arc::new(SecretBuffer {
            text: secret.into(),
            spare_used: true,
        }))
    }

    fn whole(buffer: Arc<SecretBuffer>) -> Self {
        Self {
            buffer: Some(buffer),
            start: WHOLE.0,
            end: WHOLE.1,
        }
    }

    pub(crate) fn expose(&self) -> &str {
        let Some(buffer) = &self.buffer else {
            return "";
        };
        if (self.start, self.end) == WHOLE {
            return &buffer.text;
        }
        // Spans come from `SecretArena::push`, so this always finds the text.
        buffer
            .text
            .get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// Packs the secrets of one load into shared [`SecretBuffer`]s: each secret
/// is appended to the open buffer (which never grows past the capacity it
/// was made with), and once a batch of entries is read, [`seal`](Self::seal)
/// turns the buffers into shared ones and [`secret`](Self::secret) hands
/// out each entry's [`CachedSecret`].
#[derive(Default)]
pub(crate) struct SecretArena {
    open: String,
    sealed: Vec<Arc<SecretBuffer>>,
    /// Buffers filled and closed, not yet sealed.
    closed: Vec<String>,
    /// The capacity of the next buffer (0: [`SecretArena::FIRST_CAPACITY`]).
    next_capacity: usize,
}

/// Where [`SecretArena::push`] put a secret, until the buffer is sealed.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SecretSpan {
    buffer: u32,
    start: u32,
    end: u32,
}

impl SecretArena {
    /// Large enough that a buffer holds hundreds of tokens (and is mapped
    /// apart from the heap), small enough that one token kept by a caller
    /// keeps little else alive.
    const CAPACITY: usize = 256 * 1024;

    /// The first buffer's capacity; each next one doubles, up to
    /// [`CAPACITY`](Self::CAPACITY). A small cache (one user's partition,
    /// read on every call of a web farm) then costs a few kilobytes, not a
    /// quarter megabyte to map, fault in, zero and unmap.
    const FIRST_CAPACITY: usize = 4 * 1024;

    /// Copies `secret` into the open buffer (a new one when it does not
    /// fit); one larger than a buffer gets a buffer of its own.
    pub(crate) fn push(&mut self, secret: &str) -> SecretSpan {
        if secret.is_empty() {
            // No buffer: `secret` gives the empty secret.
            return SecretSpan {
                buffer: u32::MAX,
                ..SecretSpan::default()
            };
        }
        if secret.len() > Self::CAPACITY {
            self.close();
            self.closed.push(String::from(secret));
            return SecretSpan {
                buffer: self.index_of_last_closed(),
                start: WHOLE.0,
                end: WHOLE.1,
            };
        }
        if self.open.capacity() - self.open.len() < secret.len() {
            self.close();
            let capacity = self.next_capacity.max(Self::FIRST_CAPACITY);
            self.next_capacity = (capacity * 2).min(Self::CAPACITY);
            self.open = String::with_capacity(capacity.max(secret.len()));
        }
        let start = self.open.len();
        self.open.push_str(secret);
        // Offsets within CAPACITY fit.
        let offset = |at: usize| u32::try_from(at).unwrap_or(u32::MAX);
        SecretSpan {
            buffer: offset(self.sealed.len() + self.closed.len()),
            start: offset(start),
            end: offset(self.open.len()),
        }
    }

    /// Moves the open buffer (if any) to the closed ones, keeping its index.
    fn close(&mut self) {
        let open = std::mem::take(&mut self.open);
        if open.capacity() > 0 {
            self.closed.push(open);
        }
    }

    fn index_of_last_closed(&self) -> u32 {
        u32::try_from(self.sealed.len() + self.closed.len() - 1).unwrap_or(u32::MAX)
    }

    /// Shares every buffer written so far (the open one included, so the
    /// next secret starts a new buffer): spans pushed before can be
    /// turned into secrets.
    pub(crate) fn seal(&mut self) {
        self.close();
        for text in self.closed.drain(..) {
            self.sealed.push(Arc::new(SecretBuffer {
                text,
                spare_used: false,
            }));
        }
    }

    /// The secret at `span`, sharing its sealed buffer; empty if the buffer
    /// is not sealed yet.
    pub(crate) fn secret(&self, span: SecretSpan) -> CachedSecret {
        match self.sealed.get(span.buffer as usize) {
            Some(buffer) => CachedSecret {
                buffer: Some(buffer.clone()),
                start: span.start,
                end: span.end,
            },
            None => CachedSecret::default(),
        }
    }
}

/// A load that fails midway drops buffers not yet sealed: zeroed too.
impl Drop for SecretArena {
    fn drop(&mut self) {
        self.open.as_mut_str().zeroize();
        for text in &mut self.closed {
            text.as_mut_str().zeroize();
        }
    }
}

impl fmt::Debug for CachedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl PartialEq for CachedSecret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Serialize for CachedSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for CachedSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// The access token a web API was called with, which it trades for a token
/// to a downstream API in the on-behalf-of flow
/// ([`acquire_token_on_behalf_of`](crate::ConfidentialClientApplication::acquire_token_on_behalf_of)).
/// It is the user's credential: redacted in `Debug`, zeroed on drop, sent
/// only to the token endpoint, and cached only as its SHA-256 hash.
#[derive(Clone)]
pub struct UserAssertion(SecretString);

impl UserAssertion {
    /// Wraps the incoming token (the value after `Bearer ` in the request's
    /// `Authorization` header).
    pub fn new(token: impl Into<String>) -> Self {
        Self(SecretString::from(token.into()))
    }

    /// The token itself, for the one place that must send it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for UserAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserAssertion({REDACTED})")
    }
}

/// A federated identity credential: a token an application obtained for
/// itself (audience `api://AzureADTokenExchange`) and exchanges for a
/// user's tokens with
/// [`acquire_token_by_user_federated_identity_credential`](crate::ConfidentialClientApplication::acquire_token_by_user_federated_identity_credential).
/// Redacted in `Debug`, zeroed on drop, never cached.
#[derive(Clone)]
pub struct FederatedCredential(SecretString);

impl FederatedCredential {
    /// Wraps the credential (a JWT).
    pub fn new(token: impl Into<String>) -> Self {
        Self(SecretString::from(token.into()))
    }

    /// The credential itself, for the one place that must send it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for FederatedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FederatedCredential({REDACTED})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let s = ClientSecret::new("p@ssw0rd-value");
        let t = AccessToken::new("eyJhbGciOi.payload.sig");
        let c = CachedSecret::new("refresh-token-value");
        let i = IdToken::new("eyJ.idtoken-payload.sig");
        let p = Password::new("correct horse battery");
        let ua = UserAssertion::new("eyJ.incoming-user-token.sig");
        let fic = FederatedCredential::new("eyJ.federated-credential.sig");
        let both = format!("{ua:?} {fic:?}");
        assert!(
            !both.contains("incoming") && !both.contains("federated-credential"),
            "{both}"
        );
        assert_eq!(ua.expose_secret(), "eyJ.incoming-user-token.sig");
        assert_eq!(fic.expose_secret(), "eyJ.federated-credential.sig");
        let all = format!("{s:?} {t:?} {c:?} {i:?} {:?} {p:?}", Some(&t));
        assert!(!all.contains("horse"), "{all}");
        assert_eq!(p.expose_secret(), "correct horse battery");
        assert!(
            !all.contains("p@ssw0rd")
                && !all.contains("payload")
                && !all.contains("refresh-token-value")
                && !all.contains("idtoken-payload"),
            "{all}"
        );
        assert_eq!(s.expose_secret(), "p@ssw0rd-value");
        assert_eq!(t.expose_secret(), "eyJhbGciOi.payload.sig");
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"refresh-token-value\"");
    }

    #[test]
    fn packed_secrets_read_back_whatever_their_size_and_outlive_the_arena() {
        let mut arena = SecretArena::default();
        let huge = "h".repeat(SecretArena::CAPACITY + 1);
        // Enough to fill several buffers, with sizes that straddle their ends.
        let texts: Vec<String> = (0..2_000)
            .map(|n| match n {
                7 => String::new(),
                500 => huge.clone(),
                n => format!("{n}-{}", "é".repeat(n % 300)),
            })
            .collect();
        let spans: Vec<SecretSpan> = texts.iter().map(|text| arena.push(text)).collect();
        // Not handed out before the buffers are shared.
        assert_eq!(arena.secret(spans[3]).expose(), "");
        arena.seal();
        let secrets: Vec<CachedSecret> = spans.iter().map(|span| arena.secret(*span)).collect();
        drop(arena);
        for (secret, text) in secrets.iter().zip(&texts) {
            assert_eq!(secret.expose(), text);
        }
        // Debug stays redacted for packed secrets too.
        assert_eq!(format!("{:?}", secrets[1]), REDACTED);
        assert!(secrets[1] == CachedSecret::new("1-é"));
        // More secrets after a seal go to new buffers.
        let mut arena = SecretArena::default();
        let first = arena.push("first");
        arena.seal();
        let second = arena.push("second");
        arena.seal();
        assert_eq!(arena.secret(first).expose(), "first");
        assert_eq!(arena.secret(second).expose(), "second");
    }
}
