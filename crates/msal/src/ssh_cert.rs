//! SSH certificates as a token type, as MSAL Python requests them through
//! `data={"token_type": "ssh-cert", "key_id": ..., "req_cnf": ...}` and
//! Entra's SSH extension (Azure Linux VM sign-in) answers them:
//!
//! - [`SshCertRequest`]: the user's public key (an OpenSSH `ssh-rsa` or
//!   `ssh-ed25519` line) as the `req_cnf` JWK, and the `key_id` the
//!   certificate is cached under (by default the key's RFC 7638 JWK
//!   thumbprint, so one key is one cache entry);
//! - the extra request parameters, and the `key_id` field of the access
//!   token entry, which MSAL Python writes and matches: a certificate serves
//!   only lookups for the same key, and never a bearer lookup;
//! - [`certificate_line`]: the `access_token` (the base64 certificate body)
//!   as an OpenSSH `-cert.pub` line.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The scope to ask for an SSH certificate for Azure Linux VMs.
pub const SSH_CERT_SCOPE: &str = "https://pas.windows.net/CheckMyAccess/Linux/.default";

/// The `token_type` of an SSH certificate request and response.
pub const SSH_CERT_TOKEN_TYPE: &str = "ssh-cert";

/// The access token entry field holding the key id (MSAL Python's name).
pub(crate) const KEY_ID: &str = "key_id";

/// A request for an SSH certificate for one public key: its `key_id` and
/// its `req_cnf` (the key as a JWK). Pass it in the options of a user flow
/// ([`SilentOptions::ssh_cert`](crate::SilentOptions::ssh_cert)) with the
/// scope [`SSH_CERT_SCOPE`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshCertRequest {
    key_id: String,
    /// The JWK, as compact JSON. Public material, so Debug may show it.
    req_cnf: String,
}

impl SshCertRequest {
    /// The request for the key of an OpenSSH public key line
    /// (`ssh-rsa AAAA... comment` or `ssh-ed25519 AAAA... comment`, the
    /// content of a `.pub` file); its key id is the JWK thumbprint (RFC 7638).
    pub fn from_public_key(openssh: &str) -> Result<Self> {
        let jwk = Jwk::from_openssh(openssh)?;
        Ok(SshCertRequest {
            key_id: jwk.thumbprint(),
            req_cnf: jwk.json(),
        })
    }

    /// The request with a key id of the caller's choosing (MSAL Python's
    /// `key_id`): certificates are cached under it.
    pub fn with_key_id(mut self, key_id: impl Into<String>) -> Result<Self> {
        let key_id = key_id.into().trim().to_owned();
        if key_id.is_empty() {
            return Err(Error::InvalidArgument("the SSH key id is empty".into()));
        }
        self.key_id = key_id;
        Ok(self)
    }

    /// The key id certificates are requested and cached under.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The `req_cnf` parameter: the public key as a JWK (JSON).
    pub fn req_cnf(&self) -> &str {
        &self.req_cnf
    }

    /// The request parameters that ask for the certificate.
    pub(crate) fn params(&self) -> [(&'static str, &str); 3] {
        [
            ("token_type", SSH_CERT_TOKEN_TYPE),
            ("key_id", &self.key_id),
            ("req_cnf", &self.req_cnf),
        ]
    }

    /// The fields the certificate's access token entry carries beyond the
    /// schema's: its key id.
    pub(crate) fn access_token_tags(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut tags = serde_json::Map::new();
        tags.insert(KEY_ID.to_owned(), serde_json::Value::String(self.key_id.clone()));
        tags
    }
}

/// The OpenSSH `-cert.pub` line of an SSH certificate `access_token` (the
/// base64 certificate body): `{type} {body}`, its type read from the body.
pub fn certificate_line(access_token: &str) -> Result<String> {
    let bad = |why: &str| Error::InvalidArgument(format!("the SSH certificate is malformed: {why}"));
    let body = access_token.trim();
    let blob = STANDARD.decode(body).map_err(|_| bad("it is not base64"))?;
    let mut reader = Reader(&blob);
    let cert_type = reader.string().ok_or_else(|| bad("it has no type"))?;
    let cert_type = std::str::from_utf8(cert_type)
        .ok()
        .filter(|t| t.ends_with("-cert-v01@openssh.com") && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| bad("it is not an OpenSSH certificate"))?;
    Ok(format!("{cert_type} {body}"))
}

/// A public key as a JSON Web Key.
enum Jwk {
    /// Base64url exponent and modulus, without leading zeros.
    Rsa { e: String, n: String },
    /// Base64url public key.
    Ed25519 { x: String },
}

impl Jwk {
    fn from_openssh(line: &str) -> Result<Jwk> {
        let bad = |why: &str| Error::InvalidArgument(format!("the SSH public key is not valid: {why}"));
        let mut fields = line.split_whitespace();
        let (Some(kind), Some(body)) = (fields.next(), fields.next()) else {
            return Err(bad(
                "expected an OpenSSH public key line such as 'ssh-rsa AAAA...'",
            ));
        };
        let blob = STANDARD.decode(body).map_err(|_| bad("its key is not base64"))?;
        let mut reader = Reader(&blob);
        let inner = reader.string().ok_or_else(|| bad("it is truncated"))?;
        if inner != kind.as_bytes() {
            return Err(bad("its key type does not match its label"));
        }
        let jwk = match kind {
            "ssh-rsa" => {
                let e = reader.string().ok_or_else(|| bad("it is truncated"))?;
                let n = reader.string().ok_or_else(|| bad("it is truncated"))?;
                let (e, n) = (strip_zeros(e), strip_zeros(n));
                if n.len() < 128 || e.is_empty() {
                    return Err(bad("RSA keys must have at least 1024 bits"));
                }
                Jwk::Rsa {
                    e: URL_SAFE_NO_PAD.encode(e),
                    n: URL_SAFE_NO_PAD.encode(n),
                }
            }
            "ssh-ed25519" => {
                let x = reader
                    .string()
                    .filter(|x| x.len() == 32)
                    .ok_or_else(|| bad("it is truncated"))?;
                Jwk::Ed25519 {
                    x: URL_SAFE_NO_PAD.encode(x),
                }
            }
            other => {
                return Err(bad(&format!(
                    "{other:?} keys are not supported (ssh-rsa and ssh-ed25519 are)"
                )));
            }
        };
        if !reader.0.is_empty() {
            return Err(bad("it has trailing data"));
        }
        Ok(jwk)
    }

    /// The JWK's required members in lexicographic order, without
    /// whitespace: RFC 7638's thumbprint input, and a valid JWK itself.
    fn json(&self) -> String {
        match self {
            Jwk::Rsa { e, n } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            Jwk::Ed25519 { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
        }
    }

    /// The RFC 7638 thumbprint: SHA-256 of [`Jwk::json`], base64url.
    fn thumbprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.json().as_bytes()))
    }
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    &bytes[zeros..]
}

/// Reads SSH wire-format `string`s (RFC 4251 section 5).
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn string(&mut self) -> Option<&'a [u8]> {
        let (length, rest) = self.0.split_first_chunk::<4>()?;
        let length = usize::try_from(u32::from_be_bytes(*length)).ok()?;
        if rest.len() < length {
            return None;
        }
        let (value, rest) = rest.split_at(length);
        self.0 = rest;
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(fields: &[&[u8]]) -> String {
        let mut blob = Vec::new();
        for field in fields {
            blob.extend_from_slice(&u32::try_from(field.len()).unwrap().to_be_bytes());
            blob.extend_from_slice(field);
        }
        STANDARD.encode(blob)
    }

    #[test]
    fn rsa_key_becomes_a_jwk_with_an_rfc7638_thumbprint() {
        let mut n = vec![0u8];
        n.extend([0xabu8; 256]);
        let line = format!("ssh-rsa {} me@host", wire(&[b"ssh-rsa", &[1, 0, 1], &n]));
        let request = SshCertRequest::from_public_key(&line).unwrap();
        let n64 = URL_SAFE_NO_PAD.encode([0xabu8; 256]);
        let jwk = format!(r#"{{"e":"AQAB","kty":"RSA","n":"{n64}"}}"#);
        assert_eq!(request.req_cnf(), jwk);
        assert_eq!(
            request.key_id(),
            URL_SAFE_NO_PAD.encode(Sha256::digest(jwk.as_bytes()))
        );
        assert_eq!(
            request.params(),
            [
                ("token_type", "ssh-cert"),
                ("key_id", request.key_id()),
                ("req_cnf", jwk.as_str())
            ]
        );
        assert_eq!(request.access_token_tags()["key_id"], request.key_id());
        let named = request.with_key_id("laptop").unwrap();
        assert_eq!(named.key_id(), "laptop");
        assert!(named.with_key_id(" ").is_err());
    }

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 section 3.1's example key and thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk = Jwk::Rsa {
            e: "AQAB".into(),
            n: n.into(),
        };
        assert_eq!(jwk.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn ed25519_keys_and_bad_input() {
        let line = format!("ssh-ed25519 {}", wire(&[b"ssh-ed25519", &[9u8; 32]]));
        let request = SshCertRequest::from_public_key(&line).unwrap();
        assert!(
            request
                .req_cnf()
                .starts_with(r#"{"crv":"Ed25519","kty":"OKP","x":"#)
        );
        let small = format!("ssh-rsa {}", wire(&[b"ssh-rsa", &[1, 0, 1], &[0xab; 64]]));
        let mismatched = format!("ssh-rsa {}", wire(&[b"ssh-ed25519", &[9u8; 32]]));
        let dsa = format!("ssh-dss {}", wire(&[b"ssh-dss", &[1]]));
        for bad in [
            "",
            "ssh-rsa",
            "ssh-rsa !!!",
            "ssh-rsa AAAA",
            &small,
            &mismatched,
            &dsa,
        ] {
            assert!(
                matches!(SshCertRequest::from_public_key(bad), Err(Error::InvalidArgument(m)) if m.contains("SSH public key")),
                "{bad}"
            );
        }
    }

    #[test]
    fn certificate_lines_name_their_type() {
        let body = wire(&[b"ssh-rsa-cert-v01@openssh.com", b"nonce"]);
        assert_eq!(
            certificate_line(&body).unwrap(),
            format!("ssh-rsa-cert-v01@openssh.com {body}")
        );
        assert!(certificate_line("eyJhbGciOi.x.y").is_err());
        assert!(certificate_line(&wire(&[b"ssh-rsa", b"x"])).is_err());
    }
}
