//! `msal decode`: a JWT's header and claims, decoded without validating
//! anything (it says so), from an argument or standard input. For looking
//! at what a token carries: audience, scopes, expiry, the user.

use std::io::Read;

use base64::Engine as _;
use clap::Args;
use serde_json::{Map, Value, json};

use crate::output::outln;

/// Arguments of `msal decode`.
#[derive(Args)]
pub(crate) struct DecodeArgs {
    /// The token; read from standard input when absent or `-`.
    token: Option<String>,
}

pub(crate) fn run(args: DecodeArgs) -> Result<(), std::process::ExitCode> {
    let fail = |message: &str| {
        eprintln!("error: {message}");
        std::process::ExitCode::from(2)
    };
    let token = match args.token.as_deref() {
        Some(token) if token != "-" => token.to_owned(),
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .take(1 << 20)
                .read_to_string(&mut text)
                .map_err(|e| fail(&format!("cannot read standard input: {e}")))?;
            text
        }
    };
    let decoded = decode(token.trim()).map_err(|e| fail(&e))?;
    outln!("{}", serde_json::to_string_pretty(&decoded).unwrap_or_default());
    Ok(())
}

/// `{"header": ..., "claims": ..., "signature": "not verified"}`.
pub(crate) fn decode(token: &str) -> Result<Value, String> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(_signature)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("not a JWT: it has fewer than three dot-separated parts".into());
    };
    if parts.next().is_some() {
        return Err("not a JWS: it has more than three parts (an encrypted token cannot be decoded)".into());
    }
    let part = |name: &str, text: &str| -> Result<Map<String, Value>, String> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| format!("the {name} is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| format!("the {name} is not a JSON object"))
    };
    Ok(json!({
        "header": part("header", header)?,
        "claims": part("payload", claims)?,
        "signature": "not verified",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_header_and_claims_and_refuses_the_rest() {
        let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJhdWQiOiJhIiwiZXhwIjoxfQ.c2ln";
        let decoded = decode(token).unwrap();
        assert_eq!(decoded["header"]["kid"], "k");
        assert_eq!(decoded["claims"]["aud"], "a");
        assert_eq!(decoded["signature"], "not verified");
        for bad in ["", "a.b", "!!.!!.x", "a.b.c.d.e", "e30.W10.x"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
