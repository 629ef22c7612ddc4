//! [`SharedStr`]: the text of accounts and results, shared with the token
//! cache instead of copied out of it.
//!
//! The cache keeps one copy of each distinct text it reads (an account's
//! home account id, its environment, its tenant) and the accounts and token
//! results it hands out point at those copies: listing 10,000 accounts or
//! serving a cache hit copies pointers, not text. A leaf: it knows nothing
//! of the cache.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Immutable text shared between clones (cloning increments a reference
/// count). Reads as a `str`: it derefs to one, compares equal to `str`,
/// `&str` and `String`, displays and serializes as the text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SharedStr(Arc<str>);

impl SharedStr {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps the cache's shared text without copying it.
    pub(crate) fn shared(text: &Arc<str>) -> Self {
        Self(text.clone())
    }
}

impl Default for SharedStr {
    fn default() -> Self {
        Self(Arc::from(""))
    }
}

impl Deref for SharedStr {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for SharedStr {
    fn from(text: &str) -> Self {
        Self(Arc::from(text))
    }
}

impl From<String> for SharedStr {
    fn from(text: String) -> Self {
        Self(Arc::from(text))
    }
}

impl From<&String> for SharedStr {
    fn from(text: &String) -> Self {
        Self(Arc::from(text.as_str()))
    }
}

impl From<Arc<str>> for SharedStr {
    fn from(text: Arc<str>) -> Self {
        Self(text)
    }
}

impl From<SharedStr> for String {
    fn from(text: SharedStr) -> Self {
        text.0.as_ref().to_owned()
    }
}

impl From<SharedStr> for Arc<str> {
    fn from(text: SharedStr) -> Self {
        text.0
    }
}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for SharedStr {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<SharedStr> for str {
    fn eq(&self, other: &SharedStr) -> bool {
        *self == *other.0
    }
}

impl PartialEq<SharedStr> for &str {
    fn eq(&self, other: &SharedStr) -> bool {
        **self == *other.0
    }
}

impl PartialEq<SharedStr> for String {
    fn eq(&self, other: &SharedStr) -> bool {
        **self == *other.0
    }
}

impl Serialize for SharedStr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SharedStr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Through `String`: borrowed and escaped text both arrive.
        String::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::SharedStr;

    #[test]
    fn reads_compares_and_serializes_as_its_text() {
        let text = SharedStr::from("alice@contoso.com");
        assert_eq!(text, "alice@contoso.com");
        assert_eq!("alice@contoso.com", text);
        assert_eq!(text, String::from("alice@contoso.com"));
        assert_ne!(text, "bob@contoso.com");
        assert_eq!(text.len(), 17);
        assert!(text.ends_with("contoso.com"));
        assert_eq!(format!("{text}"), "alice@contoso.com");
        assert_eq!(format!("{text:?}"), "\"alice@contoso.com\"");
        assert_eq!(serde_json::to_string(&text).unwrap(), "\"alice@contoso.com\"");
        let back: SharedStr = serde_json::from_str("\"caf\\u00e9\"").unwrap();
        assert_eq!(back, "café");
        assert_eq!(String::from(back), "café");
    }

    #[test]
    fn clones_share_one_copy() {
        let text = SharedStr::from(String::from("login.microsoftonline.com"));
        let clone = text.clone();
        assert!(std::ptr::eq(text.as_str(), clone.as_str()));
    }

    #[test]
    fn hashes_as_its_text_so_maps_find_it_by_str() {
        let mut set = std::collections::HashSet::new();
        set.insert(SharedStr::from("contoso"));
        assert!(set.contains("contoso"));
    }
}
