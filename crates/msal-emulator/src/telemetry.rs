//! The telemetry check: every token request (every grant) should carry
//! MSAL's client headers, as Entra expects of MSAL libraries:
//! `x-client-sku`, `x-client-ver`, `x-client-os`, a UUID `client-request-id`
//! and `x-client-current-telemetry` in schema 4 (`4|api_id,refresh_reason|`
//! plus MSAL Python's optional platform fields), and, when sent,
//! `x-client-last-telemetry` in schema 4
//! (`4|cache_hits|api,correlation,...|error,...|`). Violations are recorded
//! per grant for [`Emulator::telemetry_violations`](crate::Emulator::telemetry_violations);
//! in strict mode the request is refused with `invalid_request`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use axum::http::HeaderMap;

/// Most violation messages kept; later ones are only counted.
const MAX_KEPT: usize = 1000;

/// Violations seen so far.
#[derive(Debug, Default)]
pub(crate) struct TelemetryCheck {
    checked: AtomicU64,
    violations: Mutex<Vec<String>>,
    dropped: AtomicU64,
}

impl TelemetryCheck {
    fn lock(&self) -> MutexGuard<'_, Vec<String>> {
        self.violations.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks one token request's headers; returns its problems (also recorded).
    pub(crate) fn check(&self, headers: &HeaderMap, grant_type: &str, client_id: &str) -> Vec<String> {
        self.checked.fetch_add(1, Ordering::Relaxed);
        let problems = problems(headers);
        if !problems.is_empty() {
            let mut kept = self.lock();
            for problem in &problems {
                if kept.len() < MAX_KEPT {
                    kept.push(format!("grant {grant_type} (client {client_id}): {problem}"));
                } else {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        problems
    }

    pub(crate) fn violations(&self) -> Vec<String> {
        self.lock().clone()
    }

    pub(crate) fn violation_count(&self) -> u64 {
        self.lock().len() as u64 + self.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn checked(&self) -> u64 {
        self.checked.load(Ordering::Relaxed)
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
        self.dropped.store(0, Ordering::Relaxed);
        self.checked.store(0, Ordering::Relaxed);
    }
}

/// What is wrong with a token request's telemetry headers.
pub(crate) fn problems(headers: &HeaderMap) -> Vec<String> {
    let mut out = Vec::new();
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    for name in ["x-client-sku", "x-client-ver", "x-client-os"] {
        match value(name) {
            Some(v) if !v.is_empty() => {}
            _ => out.push(format!("missing {name}")),
        }
    }
    match value("client-request-id") {
        None => out.push("missing client-request-id".into()),
        Some(id) if uuid::Uuid::try_parse(id).is_err() => {
            out.push(format!("client-request-id {id:?} is not a UUID"));
        }
        Some(_) => {}
    }
    match value("x-client-current-telemetry") {
        None => out.push("missing x-client-current-telemetry".into()),
        Some(v) if !current_ok(v) => out.push(format!("malformed x-client-current-telemetry {v:?}")),
        Some(_) => {}
    }
    if let Some(v) = value("x-client-last-telemetry")
        && !last_ok(v)
    {
        out.push(format!("malformed x-client-last-telemetry {v:?}"));
    }
    out
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `4|{api_id},{refresh_reason}|{platform fields}`; MSAL Python leaves the
/// platform section empty or sends `,,{token type}`.
fn current_ok(v: &str) -> bool {
    let parts: Vec<&str> = v.split('|').collect();
    let [schema, api, platform] = parts.as_slice() else {
        return false;
    };
    let Some((api_id, reason)) = api.split_once(',') else {
        return false;
    };
    *schema == "4"
        && digits(api_id)
        && digits(reason)
        && platform.split(',').all(|f| f.is_empty() || digits(f))
}

/// `4|{cache hits}|{api,correlation}*|{error}*|`.
fn last_ok(v: &str) -> bool {
    let parts: Vec<&str> = v.split('|').collect();
    let [schema, hits, requests, errors, rest] = parts.as_slice() else {
        return false;
    };
    let requests: Vec<&str> = if requests.is_empty() {
        Vec::new()
    } else {
        requests.split(',').collect()
    };
    let errors = if errors.is_empty() {
        0
    } else {
        errors.split(',').count()
    };
    *schema == "4"
        && digits(hits)
        && rest.is_empty()
        && requests.len().is_multiple_of(2)
        && requests.chunks(2).all(|pair| digits(pair[0]))
        && requests.len() / 2 == errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (n, v) in pairs {
            map.insert(*n, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    const GOOD: [(&str, &str); 6] = [
        ("x-client-sku", "MSAL.Python"),
        ("x-client-ver", "1.39.0"),
        ("x-client-os", "linux"),
        ("client-request-id", "0f8fad5b-d9cb-469f-a165-70867728950e"),
        ("x-client-current-telemetry", "4|730,2|"),
        (
            "x-client-last-telemetry",
            "4|0|730,0f8fad5b-d9cb-469f-a165-70867728950e|invalid_client|",
        ),
    ];

    #[test]
    fn msal_formats_pass() {
        assert!(problems(&headers(&GOOD)).is_empty());
        let mut pop = GOOD;
        pop[4] = ("x-client-current-telemetry", "4|84,1|,,6");
        pop[5] = ("x-client-last-telemetry", "4|3|||");
        assert!(problems(&headers(&pop)).is_empty());
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        assert_eq!(problems(&HeaderMap::new()).len(), 5);
        for (index, bad) in [
            (3, "not-a-uuid"),
            (4, "5|730,2|"),
            (4, "4|730|"),
            (4, "4|x,2|"),
            (5, "4|0|730|invalid_client|"),
            (5, "4|0|||extra"),
        ] {
            let mut h = GOOD;
            h[index].1 = bad;
            assert_eq!(problems(&headers(&h)).len(), 1, "{bad}");
        }
    }

    #[test]
    fn violations_are_recorded_per_grant() {
        let check = TelemetryCheck::default();
        check.check(&headers(&GOOD), "client_credentials", "a");
        check.check(&headers(&GOOD[..3]), "refresh_token", "b");
        assert_eq!(check.checked(), 2);
        let v = check.violations();
        // No client-request-id, no current telemetry; last telemetry is optional.
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[0].starts_with("grant refresh_token (client b): missing client-request-id"));
        check.clear();
        assert_eq!(check.violation_count(), 0);
    }
}
