//! The browser session: the `msal_emulator_session` cookie and the users
//! signed in under it, so a second sign-in can skip the form.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::server::AppState;
use crate::store::{self, Session, SessionUser};

/// The session cookie's name.
pub(crate) const COOKIE_NAME: &str = "msal_emulator_session";

/// Longest cookie value accepted; ours are ~50 characters.
const MAX_COOKIE_VALUE_LEN: usize = 128;

/// The session id from the request's `Cookie` headers, if any.
pub(crate) fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= MAX_COOKIE_VALUE_LEN)
}

/// `Set-Cookie` for session `id`: `Secure` and `SameSite=None` so the cookie
/// also comes along on cross-site form posts, as Entra's does.
pub(crate) fn set_cookie(id: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={id}; Path=/; Secure; HttpOnly; SameSite=None"
    ))
    .ok()
}

/// Records that `upn` signed in at `now` in the session `id` (a new session
/// if it is unknown); returns the session id and its `session_state`.
pub(crate) fn sign_in(state: &AppState, id: Option<&str>, upn: &str, now: u64) -> (String, String) {
    let mut sessions = state.store.sessions();
    let existing = id.and_then(|id| sessions.get_mut(id).map(|s| (id.to_owned(), s)));
    let user = SessionUser {
        upn: upn.to_owned(),
        auth_time: now,
    };
    match existing {
        Some((id, session)) => {
            session.users.retain(|u| !u.upn.eq_ignore_ascii_case(upn));
            session.users.push(user);
            (id, session.session_state.clone())
        }
        None => {
            // A fresh id even if the browser sent an unknown one: never adopt
            // an id chosen by someone else (session fixation).
            let id = store::random_token("");
            let session_state = uuid::Uuid::new_v4().to_string();
            sessions.insert(
                id.clone(),
                Session {
                    session_state: session_state.clone(),
                    users: vec![user],
                },
            );
            (id, session_state)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_session_cookie() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; msal_emulator_session=abc ; b=2"),
        );
        assert_eq!(cookie(&headers).as_deref(), Some("abc"));
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("msal_emulator_session="));
        assert_eq!(cookie(&headers), None);
        assert_eq!(cookie(&HeaderMap::new()), None);
    }
}
