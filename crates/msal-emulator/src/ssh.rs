//! SSH certificates as a token type, as Entra's SSH extension issues them
//! for Azure Linux VM sign-in: a user token request with
//! `token_type=ssh-cert`, `req_cnf` (the user's public key as a JWK) and
//! `key_id`, for the scope `https://pas.windows.net/CheckMyAccess/Linux/.default`,
//! is answered with `token_type: "ssh-cert"` and, as `access_token`, the
//! base64 body of an OpenSSH user certificate (what follows
//! `ssh-rsa-cert-v01@openssh.com ` in a `-cert.pub` file).
//!
//! The emulator is its own SSH certificate authority: an Ed25519 key made
//! at start ([`SshCa`]), whose public key (`ssh-ed25519 ...`) a test puts in
//! `TrustedUserCAKeys` or compares with `ssh-keygen -L`'s "Signing CA". The
//! certificate follows OpenSSH's PROTOCOL.certkeys: a user certificate
//! (type 1) whose one principal is the user's UPN, valid for the access
//! token lifetime, with OpenSSH's default extensions.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::error::EntraError;
use crate::scopes::Scopes;
use crate::token::form::TokenForm;

/// The resource whose scope asks for an SSH certificate (`…/.default`).
pub(crate) const SSH_RESOURCE: &str = "https://pas.windows.net/CheckMyAccess/Linux";

/// The `token_type` request (and response) value of an SSH certificate.
pub(crate) const SSH_CERT_TOKEN_TYPE: &str = "ssh-cert";

/// How far back a certificate's validity starts: clocks of the machines
/// it is presented to may lag a little behind the issuer's.
const BACKDATE_SECS: u64 = 300;

/// The extensions OpenSSH's `ssh-keygen -s` grants by default, sorted by
/// name as PROTOCOL.certkeys requires.
const EXTENSIONS: [&str; 5] = [
    "permit-X11-forwarding",
    "permit-agent-forwarding",
    "permit-port-forwarding",
    "permit-pty",
    "permit-user-rc",
];

/// The emulator's SSH certificate authority: an Ed25519 key pair.
pub(crate) struct SshCa {
    key: Ed25519KeyPair,
}

impl std::fmt::Debug for SshCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key stays out of logs.
        f.debug_struct("SshCa")
            .field("public_key", &self.public_key())
            .finish()
    }
}

impl SshCa {
    /// A fresh CA key.
    pub(crate) fn generate() -> Result<SshCa, String> {
        let key = Ed25519KeyPair::generate().map_err(|e| format!("generating the SSH CA key: {e}"))?;
        Ok(SshCa { key })
    }

    /// The CA's public key blob in SSH wire format.
    fn public_blob(&self) -> Vec<u8> {
        let mut blob = Vec::new();
        put_string(&mut blob, b"ssh-ed25519");
        put_string(&mut blob, self.key.public_key().as_ref());
        blob
    }

    /// The CA's public key as an OpenSSH `authorized_keys` line
    /// (`ssh-ed25519 AAAA... msal-emulator-ca`).
    pub(crate) fn public_key(&self) -> String {
        format!(
            "ssh-ed25519 {} msal-emulator-ca",
            STANDARD.encode(self.public_blob())
        )
    }

    /// Signs a user certificate for `subject` and returns its wire blob.
    fn sign(&self, subject: &SubjectKey, cert: &CertFields<'_>) -> Vec<u8> {
        let mut body = Vec::new();
        put_string(&mut body, subject.cert_type().as_bytes());
        put_string(&mut body, &cert.nonce);
        match subject {
            SubjectKey::Rsa { e, n } => {
                put_mpint(&mut body, e);
                put_mpint(&mut body, n);
            }
            SubjectKey::Ed25519 { x } => put_string(&mut body, x),
        }
        body.extend_from_slice(&cert.serial.to_be_bytes());
        body.extend_from_slice(&1u32.to_be_bytes()); // SSH_CERT_TYPE_USER
        put_string(&mut body, cert.key_id.as_bytes());
        let mut principals = Vec::new();
        put_string(&mut principals, cert.principal.as_bytes());
        put_string(&mut body, &principals);
        body.extend_from_slice(&cert.valid_after.to_be_bytes());
        body.extend_from_slice(&cert.valid_before.to_be_bytes());
        put_string(&mut body, &[]); // critical options: none
        let mut extensions = Vec::new();
        for name in EXTENSIONS {
            put_string(&mut extensions, name.as_bytes());
            put_string(&mut extensions, &[]);
        }
        put_string(&mut body, &extensions);
        put_string(&mut body, &[]); // reserved
        put_string(&mut body, &self.public_blob());
        let signature = self.key.sign(&body);
        let mut sig_blob = Vec::new();
        put_string(&mut sig_blob, b"ssh-ed25519");
        put_string(&mut sig_blob, signature.as_ref());
        put_string(&mut body, &sig_blob);
        body
    }
}

/// The fields of one certificate beyond the keys.
struct CertFields<'a> {
    nonce: [u8; 32],
    serial: u64,
    key_id: &'a str,
    principal: &'a str,
    valid_after: u64,
    valid_before: u64,
}

/// The user's public key, from `req_cnf`.
#[derive(Debug, PartialEq, Eq)]
enum SubjectKey {
    /// Big-endian unsigned exponent and modulus.
    Rsa { e: Vec<u8>, n: Vec<u8> },
    /// The 32-byte public key.
    Ed25519 { x: Vec<u8> },
}

impl SubjectKey {
    /// Reads `req_cnf`: a JWK (JSON), RSA or Ed25519 (OKP), optionally
    /// base64url-encoded as some clients send it.
    fn from_req_cnf(req_cnf: &str) -> Result<SubjectKey, EntraError> {
        let bad = |why: &str| EntraError::malformed(&format!("The req_cnf parameter is not valid: {why}."));
        let text = req_cnf.trim();
        let jwk: Value = match serde_json::from_str(text) {
            Ok(jwk) => jwk,
            Err(_) => URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .ok_or_else(|| bad("it is not a JSON Web Key"))?,
        };
        let field = |name: &str| -> Result<Vec<u8>, EntraError> {
            let value = jwk
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&format!("the key has no '{name}'")))?;
            URL_SAFE_NO_PAD
                .decode(value.trim_end_matches('='))
                .map_err(|_| bad(&format!("'{name}' is not base64url")))
        };
        match jwk.get("kty").and_then(Value::as_str) {
            Some("RSA") => {
                let (e, n) = (strip_zeros(field("e")?), strip_zeros(field("n")?));
                // OpenSSH refuses RSA keys under 1024 bits; so does the CA.
                if n.len() < 128 || e.is_empty() || e.len() > 8 {
                    return Err(bad("the RSA key is too small or malformed"));
                }
                Ok(SubjectKey::Rsa { e, n })
            }
            Some("OKP") if jwk.get("crv").and_then(Value::as_str) == Some("Ed25519") => {
                let x = field("x")?;
                if x.len() != 32 {
                    return Err(bad("the Ed25519 key is not 32 bytes"));
                }
                Ok(SubjectKey::Ed25519 { x })
            }
            _ => Err(bad("only RSA and Ed25519 (OKP) keys are supported")),
        }
    }

    fn cert_type(&self) -> &'static str {
        match self {
            SubjectKey::Rsa { .. } => "ssh-rsa-cert-v01@openssh.com",
            SubjectKey::Ed25519 { .. } => "ssh-ed25519-cert-v01@openssh.com",
        }
    }
}

/// A token request's ask for an SSH certificate, checked before any
/// token is issued.
#[derive(Debug)]
pub(crate) struct SshRequest {
    subject: SubjectKey,
    key_id: String,
    /// The OIDC scopes only: what the ID and refresh tokens are issued for.
    user_scopes: Scopes,
}

impl SshRequest {
    /// The request's SSH certificate ask, if it has one (`token_type=ssh-cert`):
    /// `req_cnf` must be a supported JWK, `key_id` present, and the one
    /// resource scope the SSH one.
    pub(crate) fn read(form: &TokenForm, scopes: &Scopes) -> Result<Option<SshRequest>, EntraError> {
        if !form
            .get("token_type")
            .is_some_and(|t| t.eq_ignore_ascii_case(SSH_CERT_TOKEN_TYPE))
        {
            return Ok(None);
        }
        let subject = SubjectKey::from_req_cnf(form.required("req_cnf")?)?;
        let key_id = form.required("key_id")?.trim().to_owned();
        if key_id.is_empty() {
            return Err(EntraError::missing_parameter("key_id"));
        }
        let expected = format!("{SSH_RESOURCE}/.default");
        if scopes.resource.len() != 1 || !scopes.resource[0].eq_ignore_ascii_case(&expected) {
            return Err(EntraError::invalid_scope(&scopes.resource.join(" ")));
        }
        Ok(Some(SshRequest {
            subject,
            key_id,
            user_scopes: Scopes {
                oidc: scopes.oidc.clone(),
                resource: Vec::new(),
            },
        }))
    }

    /// The scopes to issue the user's other tokens for.
    pub(crate) fn user_scopes(&self) -> &Scopes {
        &self.user_scopes
    }

    /// Turns the token response `body` of user tokens into Entra's SSH
    /// certificate response: the access token replaced by a certificate for
    /// `principal` signed by `ca`, valid from `now` for the body's `expires_in`.
    pub(crate) fn certify(
        &self,
        ca: &SshCa,
        principal: &str,
        now: u64,
        mut body: Value,
    ) -> Result<Value, EntraError> {
        let lifetime = body.get("expires_in").and_then(Value::as_u64).unwrap_or(3600);
        let mut nonce = [0u8; 32];
        let mut serial = [0u8; 8];
        aws_lc_rs::rand::fill(&mut nonce)
            .and_then(|()| aws_lc_rs::rand::fill(&mut serial))
            .map_err(|_| EntraError::server_error())?;
        // The certificate's key id names who and which key, as `ssh-keygen -L`
        // and sshd's logs show it.
        let cert_key_id = format!("{principal} key_id={}", self.key_id);
        let blob = ca.sign(
            &self.subject,
            &CertFields {
                nonce,
                serial: u64::from_be_bytes(serial),
                key_id: &cert_key_id,
                principal,
                valid_after: now.saturating_sub(BACKDATE_SECS),
                valid_before: now.saturating_add(lifetime),
            },
        );
        if let Some(map) = body.as_object_mut() {
            map.insert("token_type".into(), json!(SSH_CERT_TOKEN_TYPE));
            map.insert("access_token".into(), json!(STANDARD.encode(blob)));
            map.insert("scope".into(), json!(format!("{SSH_RESOURCE}/.default")));
        }
        tracing::info!(user = %principal, "issued an SSH certificate");
        Ok(body)
    }
}

/// Appends an SSH `string`: a u32 length, then the bytes.
fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    // Every field here is far below 4 GiB (keys, names, signatures).
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Appends an SSH `mpint` of a non-negative big-endian integer: no leading
/// zero bytes, and one zero byte first when the high bit is set.
fn put_mpint(out: &mut Vec<u8>, unsigned: &[u8]) {
    let digits = strip_zeros(unsigned.to_vec());
    if digits.first().is_some_and(|b| b & 0x80 != 0) {
        let mut padded = Vec::with_capacity(digits.len() + 1);
        padded.push(0);
        padded.extend_from_slice(&digits);
        put_string(out, &padded);
    } else {
        put_string(out, &digits);
    }
}

fn strip_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpint_follows_rfc4251() {
        let mut out = Vec::new();
        put_mpint(&mut out, &[0x00, 0x80, 0x01]);
        assert_eq!(out, [0, 0, 0, 3, 0x00, 0x80, 0x01]);
        out.clear();
        put_mpint(&mut out, &[0x00, 0x00, 0x7f]);
        assert_eq!(out, [0, 0, 0, 1, 0x7f]);
    }

    #[test]
    fn req_cnf_is_read_as_a_jwk_and_refused_otherwise() {
        let n = URL_SAFE_NO_PAD.encode([0xc5u8; 256]);
        let rsa = format!(r#"{{"kty":"RSA","n":"{n}","e":"AQAB"}}"#);
        assert_eq!(
            SubjectKey::from_req_cnf(&rsa).unwrap(),
            SubjectKey::Rsa {
                e: vec![1, 0, 1],
                n: vec![0xc5; 256]
            }
        );
        // The same JWK base64url-encoded.
        assert!(SubjectKey::from_req_cnf(&URL_SAFE_NO_PAD.encode(&rsa)).is_ok());
        let x = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let okp = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}"#);
        assert!(matches!(
            SubjectKey::from_req_cnf(&okp),
            Ok(SubjectKey::Ed25519 { .. })
        ));
        for bad in [
            "not json",
            r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}"#,
            r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#,
            r#"{"kty":"RSA","e":"AQAB"}"#,
        ] {
            let error = SubjectKey::from_req_cnf(bad).unwrap_err();
            assert_eq!(error.error, "invalid_request", "{bad}");
        }
    }
}
