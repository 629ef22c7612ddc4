//! Extra request parameters that shape the token beyond its scopes
//! (`fmi_path`, and a proof-of-possession key: `token_type=pop` with
//! `req_cnf`): sent in the token request, and keyed into the cache under
//! the netstring `ext_cache_key` that MSAL Python, Go and Node share, so a
//! token shaped by them serves only requests with the same parameters, and
//! never a request without any. A PoP token is keyed by its key id (not by
//! `req_cnf`'s encoding) and its entry carries the `key_id` MSAL Python and
//! Node write; MSAL Python skips entries with an `ext_cache_key` on plain
//! lookups, so it never serves a PoP token as a bearer token.

use crate::cache;
use crate::error::{Error, Result};
use crate::oauth2::TokenResponse;
use crate::pop::{self, PopKey};

use super::save::EntryTags;

/// The shaping parameters of one request, and their extended cache key
/// (empty when there are none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TokenShape {
    /// Non-empty parameters, as given.
    params: Vec<(&'static str, String)>,
    ext_key: String,
    /// The id of the key a PoP token is bound to.
    key_id: Option<String>,
    /// The bound token's type (`pop`, `mtls_pop`), with `key_id`.
    bound_type: &'static str,
    /// Whether only the PoP key shapes the token (so an entry another MSAL
    /// wrote without an extended key may answer).
    only_key: bool,
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
            key_id: None,
            bound_type: "",
            only_key: false,
        })
    }

    /// Binds the token to `key` (signed-request PoP), when one is given:
    /// `token_type=pop` and `req_cnf` are sent, and the key id joins the
    /// extended cache key.
    pub(crate) fn pop(mut self, key: Option<&PopKey>) -> Self {
        let Some(key) = key else {
            return self;
        };
        let mut fields: Vec<(&str, &str)> = self.params.iter().map(|(n, v)| (*n, v.as_str())).collect();
        fields.push((cache::KEY_ID, key.key_id()));
        self.ext_key = cache::ext_cache_key(&fields);
        self.only_key = self.params.is_empty();
        self.params.push(("token_type", pop::TOKEN_TYPE.to_owned()));
        self.params.push(("req_cnf", key.req_cnf()));
        self.key_id = Some(key.key_id().to_owned());
        self.bound_type = pop::TOKEN_TYPE;
        self
    }

    /// Binds the token to the client certificate whose `x5t#S256` is
    /// `x5t_s256` (mTLS PoP, see crate::mtls), when one is given:
    /// `token_type=mtls_pop` is sent and the thumbprint is the key id.
    pub(crate) fn mtls(mut self, x5t_s256: Option<&str>) -> Self {
        let Some(key_id) = x5t_s256 else {
            return self;
        };
        let mut fields: Vec<(&str, &str)> = self.params.iter().map(|(n, v)| (*n, v.as_str())).collect();
        fields.push((cache::KEY_ID, key_id));
        self.ext_key = cache::ext_cache_key(&fields);
        self.only_key = self.params.is_empty();
        self.params
            .push(("token_type", crate::mtls::TOKEN_TYPE.to_owned()));
        self.key_id = Some(key_id.to_owned());
        self.bound_type = crate::mtls::TOKEN_TYPE;
        self
    }

    /// The id of the key the token is bound to, for a PoP token.
    #[cfg(test)]
    pub(crate) fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// Looks up the access token this shape describes: a PoP token by its
    /// key id, else one by its extended key, else a plain one.
    pub(crate) fn find_access_token(
        &self,
        cache: &cache::TokenCache,
        query: &cache::AccessTokenQuery<'_>,
        scopes: &[String],
        now: u64,
    ) -> Option<cache::CachedAccessToken> {
        if let Some(key_id) = &self.key_id {
            return cache.find_bound_access_token(
                query,
                self.bound_type,
                key_id,
                (&self.ext_key, self.only_key),
                scopes,
                now,
            );
        }
        if !self.is_empty() {
            let environments = [query.environment.to_owned()];
            let partition = cache::PartitionQuery {
                client_id: query.client_id,
                environments: &environments,
                realm: query.realm,
            };
            return cache.find_extended_access_token(&partition, &self.ext_key, scopes, now);
        }
        cache.find_access_token(query, scopes, now)
    }

    /// Refuses a response of the wrong kind: a bearer token answering a
    /// PoP request would be cached and presented as bound to a key it is not.
    pub(crate) fn check_response(&self, response: &TokenResponse) -> Result<()> {
        let token_type = response.token_type.as_deref().unwrap_or("Bearer");
        if self.key_id.is_some() && !token_type.eq_ignore_ascii_case(self.bound_type) {
            return Err(Error::ProofOfPossession(format!(
                "a {} token was asked for, and the identity provider answered with token type {token_type:?}",
                self.bound_type
            )));
        }
        Ok(())
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
        if let Some(key_id) = &self.key_id {
            tags.access_token.insert(
                cache::KEY_ID.to_owned(),
                serde_json::Value::String(key_id.clone()),
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

    #[test]
    fn a_pop_key_is_sent_and_keyed_by_its_id() {
        let key = PopKey::generate_p256().unwrap();
        let bound = TokenShape::new(&[("fmi_path", None)]).unwrap().pop(Some(&key));
        assert!(!bound.is_empty());
        assert_eq!(bound.key_id(), Some(key.key_id()));
        assert_eq!(bound.ext_key(), cache::ext_cache_key(&[("key_id", key.key_id())]));
        let req_cnf = key.req_cnf();
        assert_eq!(
            bound.params().collect::<Vec<_>>(),
            [("token_type", "pop"), ("req_cnf", req_cnf.as_str())]
        );
        let tags = bound.tags();
        assert_eq!(tags.access_token["key_id"], key.key_id());
        assert_eq!(tags.access_token["ext_cache_key"], bound.ext_key());
        let other = TokenShape::new(&[])
            .unwrap()
            .pop(Some(&PopKey::generate_p256().unwrap()));
        assert_ne!(other.ext_key(), bound.ext_key());
        let fmi = TokenShape::new(&[("fmi_path", Some("a"))]).unwrap();
        assert_ne!(fmi.clone().pop(Some(&key)).ext_key(), fmi.ext_key());
        assert_eq!(TokenShape::new(&[]).unwrap().pop(None), TokenShape::default());
    }

    #[test]
    fn an_mtls_certificate_is_sent_as_token_type_and_keyed_by_its_thumbprint() {
        let bound = TokenShape::new(&[]).unwrap().mtls(Some("x5t-a"));
        assert_eq!(bound.key_id(), Some("x5t-a"));
        assert_eq!(bound.params().collect::<Vec<_>>(), [("token_type", "mtls_pop")]);
        assert_eq!(bound.ext_key(), cache::ext_cache_key(&[("key_id", "x5t-a")]));
        assert_eq!(bound.tags().access_token["key_id"], "x5t-a");
        let other = TokenShape::new(&[]).unwrap().mtls(Some("x5t-b"));
        assert_ne!(other.ext_key(), bound.ext_key());
        assert_eq!(TokenShape::new(&[]).unwrap().mtls(None), TokenShape::default());
        let pop: TokenResponse = serde_json::from_value(serde_json::json!({"token_type": "pop"})).unwrap();
        let mtls: TokenResponse =
            serde_json::from_value(serde_json::json!({"token_type": "mtls_pop"})).unwrap();
        assert!(matches!(
            bound.check_response(&pop),
            Err(Error::ProofOfPossession(_))
        ));
        assert!(bound.check_response(&mtls).is_ok());
    }

    #[test]
    fn a_bearer_answer_to_a_pop_request_is_refused() {
        let bound = TokenShape::default().pop(Some(&PopKey::generate_p256().unwrap()));
        let bearer: TokenResponse =
            serde_json::from_value(serde_json::json!({"token_type": "Bearer"})).unwrap();
        let pop: TokenResponse = serde_json::from_value(serde_json::json!({"token_type": "pop"})).unwrap();
        assert!(matches!(
            bound.check_response(&bearer),
            Err(Error::ProofOfPossession(_))
        ));
        assert!(bound.check_response(&pop).is_ok());
        assert!(TokenShape::default().check_response(&bearer).is_ok());
    }
}
