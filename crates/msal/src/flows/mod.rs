//! Flows: one module per OAuth2 grant, each a short sequence of cache
//! lookups and protocol calls over the application core.

pub mod client_credentials;

use crate::error::{Error, Result};

/// Checks and normalizes caller scopes: trimmed, non-empty, no whitespace
/// inside, duplicates removed, original order kept.
pub(crate) fn normalize_scopes<I, S>(scopes: I) -> Result<Vec<String>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out: Vec<String> = Vec::new();
    for scope in scopes {
        let scope = scope.as_ref().trim();
        if scope.is_empty() {
            return Err(Error::InvalidArgument("a scope is empty".into()));
        }
        if scope.chars().any(char::is_whitespace) {
            return Err(Error::InvalidArgument(format!(
                "scope {scope:?} contains whitespace: pass each scope separately"
            )));
        }
        if !out.iter().any(|s| s == scope) {
            out.push(scope.to_owned());
        }
    }
    if out.is_empty() {
        return Err(Error::InvalidArgument("at least one scope is required".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_checked() {
        assert_eq!(normalize_scopes([" a ", "b", "a"]).unwrap(), vec!["a", "b"]);
        assert!(normalize_scopes(Vec::<String>::new()).is_err());
        assert!(normalize_scopes([""]).is_err());
        assert!(normalize_scopes(["a b"]).is_err());
    }
}
