//! Extra request parameters that shape the token beyond its scopes
//! (`fmi_path` today; forwarded client claims and proof-of-possession key
//! ids are the same kind of thing): sent in the token request, and keyed
//! into the cache under the netstring `ext_cache_key` that MSAL Python, Go
//! and Node share, so a token shaped by them serves only requests with the
//! same parameters, and never a request without any.

use crate::cache;
use crate::error::{Error, Result};

use super::save::EntryTags;

/// The shaping parameters of one request, and their extended cache key
/// (empty when there are none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TokenShape {
    /// Non-empty parameters, as given.
    params: Vec<(&'static str, String)>,
    ext_key: String,
}

impl TokenShape {
    /// The shape of `params`; a parameter given but blank is an error
    /// (a typo would otherwise silently share the unshaped tokens).
    pub(crate) fn new(params: &[(&'static str, Option<&str>)]) -> Result<Self> {
        let mut kept = Vec::new();
        for (name, value) in params {
            match value.map(str::trim) {
                None => {}
                Some("") => return Err(Error::InvalidArgument(format!("the {name} is empty"))),
                Some(value) => kept.push((*name, value.to_owned())),
            }
        }
        // No parameter, no key: nothing to hash (the common case, on every call).
        let ext_key = if kept.is_empty() {
            String::new()
        } else {
            let fields: Vec<(&str, &str)> = kept.iter().map(|(n, v)| (*n, v.as_str())).collect();
            cache::ext_cache_key(&fields)
        };
        Ok(TokenShape {
            params: kept,
            ext_key,
        })
    }

    /// Whether no parameter shapes the token.
    pub(crate) fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// The extended cache key (empty for an unshaped token).
    pub(crate) fn ext_key(&self) -> &str {
        &self.ext_key
    }

    /// The parameters to send.
    pub(crate) fn params(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.params.iter().map(|(n, v)| (*n, v.as_str()))
    }

    /// The tags a shaped token's cache entries carry.
    pub(crate) fn tags(&self) -> EntryTags {
        let mut tags = EntryTags::default();
        if !self.is_empty() {
            tags.access_token.insert(
                cache::EXT_CACHE_KEY.to_owned(),
                serde_json::Value::String(self.ext_key.clone()),
            );
        }
        tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_msal_python_s_golden_vectors() {
        // MSAL Python's test vector: {"key1": "value1", "key2": "value2"}.
        let shape = TokenShape::new(&[("key2", Some("value2")), ("key1", Some("value1"))]).unwrap();
        assert_eq!(shape.ext_key(), "latlwkpewb_a0rcsmjvkecqt0_huumkw4sflzociike");
        assert_eq!(
            shape.params().collect::<Vec<_>>(),
            [("key2", "value2"), ("key1", "value1")]
        );
        assert_eq!(
            shape.tags().access_token["ext_cache_key"],
            "latlwkpewb_a0rcsmjvkecqt0_huumkw4sflzociike"
        );
    }

    #[test]
    fn no_parameter_no_key_and_blank_ones_are_refused() {
        let none = TokenShape::new(&[("fmi_path", None)]).unwrap();
        assert!(none.is_empty() && none.ext_key().is_empty() && none.tags().access_token.is_empty());
        assert!(matches!(
            TokenShape::new(&[("fmi_path", Some(" "))]),
            Err(Error::InvalidArgument(m)) if m.contains("fmi_path")
        ));
        let a = TokenShape::new(&[("fmi_path", Some("a"))]).unwrap();
        let b = TokenShape::new(&[("fmi_path", Some("b"))]).unwrap();
        assert_ne!(a.ext_key(), b.ext_key());
    }
}
