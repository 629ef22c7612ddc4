//! Flows: one module per OAuth2 grant, each a short sequence of cache
//! lookups and protocol calls over the application core.

pub(crate) mod accounts;
pub(crate) mod auth_code;
pub(crate) mod client_credentials;
pub(crate) mod device_code;
pub(crate) mod interactive;
pub(crate) mod managed_identity;
pub(crate) mod on_behalf_of;
pub(crate) mod refresh_token;
pub(crate) mod silent;
pub(crate) mod user_fic;
pub(crate) mod username_password;

use crate::cache::AccessTokenEntry;
use crate::error::{Error, Result};
use crate::result::{AuthenticationResult, TokenSource};
use crate::secret::AccessToken;
use crate::shared_str::SharedStr;
use crate::time::from_epoch;

/// The OpenID Connect scopes every user flow asks for, as MSAL does: `openid`
/// and `profile` for the ID token and account, `offline_access` for the
/// refresh token that silent calls need. Callers may not pass them.
pub(crate) const RESERVED_SCOPES: [&str; 3] = ["openid", "profile", "offline_access"];

pub(crate) use crate::core::new_correlation_id;

/// The scopes of a cached token's `target` for a cache hit's result. The
/// caller's normalized `requested` scopes are that list already when they
/// name exactly the target's scopes in its order (the usual hit): then they
/// are returned instead of building the list again.
pub(crate) fn result_scopes(target: &str, requested: Option<Vec<String>>) -> Vec<String> {
    match requested {
        // One scope, the usual app token: one comparison.
        Some(requested) if matches!(requested.as_slice(), [only] if only == target) => requested,
        // Split on single spaces only, a cheap byte search: normalized scopes
        // are non-empty and have no whitespace, so any other spacing of the
        // target fails the comparison and is split properly below.
        Some(requested) if target.split(' ').eq(requested.iter().map(String::as_str)) => requested,
        _ => scopes_of(target),
    }
}

/// The scopes of a cache `target` (space-separated), for a result.
pub(crate) fn scopes_of(target: &str) -> Vec<String> {
    target.split_whitespace().map(str::to_owned).collect()
}

/// `Bearer`, for entries that name no token type.
pub(crate) fn bearer() -> SharedStr {
    static BEARER: std::sync::LazyLock<SharedStr> = std::sync::LazyLock::new(|| SharedStr::from("Bearer"));
    BEARER.clone()
}

/// A cached access token as a result (sharing the cached secret), with
/// `scopes`; callers add what they know beyond the entry (account, ID token).
#[inline(always)]
pub(crate) fn cached_result(entry: &AccessTokenEntry, scopes: Vec<String>) -> AuthenticationResult {
    AuthenticationResult {
        access_token: AccessToken::shared(&entry.secret),
        token_type: entry.token_type.as_ref().map_or_else(bearer, SharedStr::shared),
        expires_on: from_epoch(entry.expires_on),
        extended_expires_on: entry.extended_expires_on.map(from_epoch),
        refresh_on: entry.refresh_on.map(from_epoch),
        scopes,
        token_source: TokenSource::Cache,
        tenant_id: Some(SharedStr::shared(&entry.realm)),
        correlation_id: None,
        id_token: None,
        id_token_claims: None,
        account: None,
    }
}

/// Checks and normalizes caller scopes: trimmed, non-empty, no whitespace
/// inside, duplicates removed, original order kept.
pub(crate) fn normalize_scopes<I, S>(scopes: I) -> Result<Vec<String>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let out = normalize_scope_list(scopes)?;
    if out.is_empty() {
        return Err(Error::InvalidArgument("at least one scope is required".into()));
    }
    Ok(out)
}

/// The scopes a user flow sends: the caller's (normalized; none at all just
/// signs the user in) plus [`RESERVED_SCOPES`]. Passing a reserved scope is
/// an error, as in MSAL Python: the library adds them, and an app that
/// thinks it controls them would wonder where its refresh token went.
/// Compared case-insensitively, so `OpenID` cannot sneak in a duplicate.
pub(crate) fn decorate_scopes<I, S>(scopes: I) -> Result<Vec<String>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let out = normalize_scope_list(scopes)?;
    check_reserved(&out)?;
    Ok(with_reserved_scopes(&out))
}

/// The error of [`decorate_scopes`] for normalized scopes that name a
/// reserved one; silent calls check this on every call but need the
/// decorated list only for a request.
pub(crate) fn check_reserved(scopes: &[String]) -> Result<()> {
    let is_reserved = |s: &String| RESERVED_SCOPES.iter().any(|r| r.eq_ignore_ascii_case(s));
    if !scopes.iter().any(is_reserved) {
        return Ok(());
    }
    let reserved: Vec<&String> = scopes.iter().filter(|s| is_reserved(s)).collect();
    Err(Error::InvalidArgument(format!(
        "scopes {reserved:?} are reserved: the library always adds {RESERVED_SCOPES:?} \
         to user sign-ins, so pass only the scopes of the API you call"
    )))
}

/// Normalized scopes without reserved ones, plus [`RESERVED_SCOPES`].
pub(crate) fn with_reserved_scopes(scopes: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(scopes.len() + RESERVED_SCOPES.len());
    out.extend_from_slice(scopes);
    out.extend(RESERVED_SCOPES.iter().map(|s| (*s).to_owned()));
    out
}

fn normalize_scope_list<I, S>(scopes: I) -> Result<Vec<String>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let scopes = scopes.into_iter();
    let mut out: Vec<String> = Vec::with_capacity(scopes.size_hint().0);
    for scope in scopes {
        let scope = trimmed(scope.as_ref());
        if scope.is_empty() {
            return Err(Error::InvalidArgument("a scope is empty".into()));
        }
        if has_whitespace(scope) {
            return Err(Error::InvalidArgument(format!(
                "scope {scope:?} contains whitespace: pass each scope separately"
            )));
        }
        if !out.iter().any(|s| s == scope) {
            out.push(scope.to_owned());
        }
    }
    Ok(out)
}

/// `text` without surrounding whitespace; a scope that starts and ends
/// with a visible ASCII character (every scope in practice) is returned as
/// it is, without the Unicode-aware scan.
fn trimmed(text: &str) -> &str {
    let visible = |b: &u8| *b > b' ' && *b < 0x80;
    let bytes = text.as_bytes();
    if bytes.first().is_some_and(visible) && bytes.last().is_some_and(visible) {
        text
    } else {
        text.trim()
    }
}

/// `char::is_whitespace` anywhere in `text`. Runs on every token call, so
/// first one branch-free pass over the bytes (the compiler vectorizes it):
/// only text with a byte at or below space (every ASCII whitespace is one)
/// or a non-ASCII byte gets the exact check.
fn has_whitespace(text: &str) -> bool {
    let suspect = text
        .bytes()
        .fold(false, |suspect, b| suspect | (b <= b' ') | (b >= 0x80));
    suspect && text.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_scopes_serve_as_the_result_s_when_they_are_the_target_s() {
        let requested = || Some(vec!["b".to_owned(), "a".to_owned()]);
        assert_eq!(result_scopes("b a", requested()), vec!["b", "a"]);
        // A token for more scopes, or in another order: the target's own list.
        assert_eq!(result_scopes("a b", requested()), vec!["a", "b"]);
        assert_eq!(result_scopes("b a c", requested()), vec!["b", "a", "c"]);
        assert_eq!(result_scopes("b", requested()), vec!["b"]);
        assert_eq!(result_scopes("b a", None), vec!["b", "a"]);
        for spaced in ["b  a", " b a", "b a ", "b\ta"] {
            assert_eq!(result_scopes(spaced, requested()), vec!["b", "a"], "{spaced:?}");
        }
    }

    #[test]
    fn target_scopes_are_split() {
        assert_eq!(scopes_of("a"), vec!["a"]);
        assert_eq!(scopes_of(" a  b "), vec!["a", "b"]);
        assert_eq!(scopes_of(" a"), vec!["a"]);
        assert!(scopes_of("").is_empty());
        assert!(scopes_of("  ").is_empty());
    }

    #[test]
    fn whitespace_is_found_as_unicode_defines_it() {
        for c in (0..=0x7f_u8)
            .map(char::from)
            .chain(['\u{85}', '\u{a0}', '\u{2003}', 'é'])
        {
            let text = format!("a{c}b");
            assert_eq!(has_whitespace(&text), c.is_whitespace(), "{c:?}");
        }
    }

    #[test]
    fn scopes_are_checked() {
        assert_eq!(normalize_scopes([" a ", "b", "a"]).unwrap(), vec!["a", "b"]);
        assert!(normalize_scopes(Vec::<String>::new()).is_err());
        assert!(normalize_scopes([""]).is_err());
        assert!(normalize_scopes(["a b"]).is_err());
    }

    #[test]
    fn user_scopes_are_decorated_and_reserved_ones_refused() {
        assert_eq!(
            decorate_scopes(["User.Read", "Mail.Read"]).unwrap(),
            vec!["User.Read", "Mail.Read", "openid", "profile", "offline_access"]
        );
        // No scope at all signs the user in (ID token only).
        assert_eq!(
            decorate_scopes(Vec::<String>::new()).unwrap(),
            vec!["openid", "profile", "offline_access"]
        );
        for reserved in ["openid", "profile", "offline_access", "OpenID"] {
            match decorate_scopes(["User.Read", reserved]) {
                Err(Error::InvalidArgument(message)) => {
                    assert!(message.contains("reserved"), "{message}");
                    assert!(message.contains(reserved), "{message}");
                }
                other => panic!("{reserved}: {other:?}"),
            }
        }
        assert!(decorate_scopes(["a b"]).is_err());
    }
}

/// The request parameters and cache tags of an SSH certificate request
/// (see [`crate::ssh_cert`]), for the flows that take one.
pub(crate) mod ssh {
    use crate::core::Grant;
    use crate::core::save::EntryTags;
    use crate::ssh_cert::SshCertRequest;

    /// `grant` asking for a certificate for `request`'s key, if any.
    pub(crate) fn grant<'a>(mut grant: Grant<'a>, request: Option<&SshCertRequest>) -> Grant<'a> {
        for (name, value) in request.into_iter().flat_map(SshCertRequest::params) {
            grant = grant.param(name, value);
        }
        grant
    }

    /// The tags of the certificate's cache entries: its key id.
    pub(crate) fn tags(request: &SshCertRequest) -> EntryTags {
        EntryTags {
            access_token: request.access_token_tags(),
            ..EntryTags::default()
        }
    }
}
