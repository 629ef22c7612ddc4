//! The `claims` request parameter (OpenID Connect Core §5.5) as Entra and
//! MSAL use it for client capabilities and claims challenges:
//!
//! - `{"access_token":{"xms_cc":{"values":["cp1"]}}}` declares that the
//!   client handles claims challenges (Continuous Access Evaluation); the
//!   access token then carries `xms_cc`.
//! - `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}` is
//!   what a resource's `insufficient_claims` challenge asks for: a token
//!   issued no earlier than that instant.
//!
//! Other claim requests are accepted and ignored, as Entra does for claims
//! it does not know.

use serde_json::Value;

use crate::error::EntraError;

/// Longest a requested `nbf` may lie ahead of now; beyond it the request is
/// clamped, so a client cannot obtain tokens that are not yet valid.
const MAX_NBF_AHEAD_SECS: u64 = 300;

/// What a `claims` parameter asks of the access token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ClaimsRequest {
    /// Client capabilities (`xms_cc` values such as `cp1`), without duplicates.
    pub(crate) xms_cc: Vec<String>,
    /// The earliest `iat`/`nbf` the token may have (Unix seconds).
    pub(crate) min_nbf: Option<u64>,
}

impl ClaimsRequest {
    /// Parses the `claims` parameter, if one was sent; it must be a JSON object.
    pub(crate) fn parse(value: Option<&str>) -> Result<ClaimsRequest, EntraError> {
        let Some(value) = value else {
            return Ok(ClaimsRequest::default());
        };
        let bad =
            |detail: &str| EntraError::malformed(&format!("The claims parameter is not valid: {detail}"));
        let json: Value = serde_json::from_str(value).map_err(|_| bad("it is not JSON."))?;
        let Value::Object(top) = json else {
            return Err(bad("it must be a JSON object."));
        };
        let mut request = ClaimsRequest::default();
        let access = match top.get("access_token") {
            None | Some(Value::Null) => return Ok(request),
            Some(Value::Object(access)) => access,
            Some(_) => return Err(bad("'access_token' must be an object.")),
        };
        if let Some(xms_cc) = access.get("xms_cc") {
            let values: Vec<&Value> = match (xms_cc.get("values"), xms_cc.get("value")) {
                (Some(Value::Array(values)), _) => values.iter().collect(),
                (None, Some(value)) => vec![value],
                _ => return Err(bad("'xms_cc' must carry 'values' (an array of strings).")),
            };
            for value in values {
                let Value::String(capability) = value else {
                    return Err(bad("'xms_cc' values must be strings."));
                };
                if !request.xms_cc.contains(capability) {
                    request.xms_cc.push(capability.clone());
                }
            }
        }
        if let Some(nbf) = access.get("nbf") {
            // Challenges send the epoch as a string; accept a number as well.
            let epoch = match nbf.get("value") {
                Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
                Some(Value::Number(n)) => n.as_u64(),
                _ => None,
            };
            request.min_nbf = Some(epoch.ok_or_else(|| bad("'nbf' must carry 'value', Unix seconds."))?);
        }
        Ok(request)
    }

    /// The claims of both requests (a device code's and its poll's).
    pub(crate) fn merged(&self, other: &ClaimsRequest) -> ClaimsRequest {
        let mut xms_cc = self.xms_cc.clone();
        for c in &other.xms_cc {
            if !xms_cc.contains(c) {
                xms_cc.push(c.clone());
            }
        }
        ClaimsRequest {
            xms_cc,
            min_nbf: self.min_nbf.max(other.min_nbf),
        }
    }

    /// The issue time for a token minted at `now`: no earlier than the
    /// requested `nbf` (clamped) nor than `floor` (e.g. the user's session
    /// revocation instant, so fresh tokens pass the resource's check).
    pub(crate) fn issue_time(&self, now: u64, floor: Option<u64>) -> u64 {
        let requested = self
            .min_nbf
            .map_or(now, |nbf| nbf.min(now.saturating_add(MAX_NBF_AHEAD_SECS)));
        now.max(requested).max(floor.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_capabilities_and_nbf() {
        let c = ClaimsRequest::parse(Some(
            r#"{"access_token":{"xms_cc":{"values":["cp1","cp1","x"]},"nbf":{"essential":true,"value":"1700000000"}}}"#,
        ))
        .unwrap();
        assert_eq!(c.xms_cc, vec!["cp1", "x"]);
        assert_eq!(c.min_nbf, Some(1_700_000_000));
        assert_eq!(ClaimsRequest::parse(None).unwrap(), ClaimsRequest::default());
        let other = ClaimsRequest::parse(Some(r#"{"id_token":{"auth_time":{"essential":true}}}"#)).unwrap();
        assert_eq!(other, ClaimsRequest::default());
        let single = ClaimsRequest::parse(Some(r#"{"access_token":{"xms_cc":{"value":"cp1"}}}"#)).unwrap();
        assert_eq!(single.xms_cc, vec!["cp1"]);
    }

    #[test]
    fn rejects_malformed_claims() {
        for bad in [
            "not json",
            "[1]",
            r#"{"access_token":5}"#,
            r#"{"access_token":{"xms_cc":{"values":[1]}}}"#,
            r#"{"access_token":{"xms_cc":{}}}"#,
            r#"{"access_token":{"nbf":{"value":"soon"}}}"#,
        ] {
            assert_eq!(
                ClaimsRequest::parse(Some(bad)).unwrap_err().code,
                9002313,
                "{bad}"
            );
        }
    }

    #[test]
    fn issue_time_honours_nbf_floor_and_clamp() {
        let c = ClaimsRequest {
            xms_cc: Vec::new(),
            min_nbf: Some(1_010),
        };
        assert_eq!(c.issue_time(1_000, None), 1_010);
        assert_eq!(c.issue_time(1_000, Some(1_020)), 1_020);
        assert_eq!(ClaimsRequest::default().issue_time(1_000, Some(900)), 1_000);
        let far = ClaimsRequest {
            xms_cc: Vec::new(),
            min_nbf: Some(u64::MAX),
        };
        assert_eq!(far.issue_time(1_000, None), 1_000 + MAX_NBF_AHEAD_SECS);
        let merged = c.merged(&ClaimsRequest {
            xms_cc: vec!["cp1".into()],
            min_nbf: None,
        });
        assert_eq!(merged.xms_cc, vec!["cp1"]);
        assert_eq!(merged.min_nbf, Some(1_010));
    }
}
