//! The Azure Arc agent's identity endpoint (`himds`) and its file-based
//! challenge: `GET /metadata/identity/oauth2/token?api-version=2020-06-01&resource=R[&client_id=…|msi_res_id=…|object_id=…]`
//! with `Metadata: true`.
//!
//! 1. Without `Authorization`, it writes a fresh random secret (64 ASCII
//!    characters, mode 0600) to `<token directory>/<random hex>.key` and
//!    answers 401 with `WWW-Authenticate: Basic realm=<that path>`; only a
//!    process that can read the agent's token directory can answer.
//! 2. With `Authorization: Basic <secret>` naming a secret it wrote (once
//!    each, within 60 s of the emulator's clock; the key file is deleted
//!    when used or expired) it answers 200 `{"access_token", "expires_in":
//!    "<n>", "expires_on": "<epoch>", "resource", "token_type": "Bearer",
//!    "client_id"}`, naming the identity the token is for. Another secret
//!    gets a new challenge.
//!
//! Errors are `{"error", "error_description"}`: 400 `invalid_request` for no
//! metadata header, a missing or other api-version, no resource, more than
//! one id parameter or an unknown identity ("Identity not found"), 400
//! `invalid_resource` for an unknown resource (AADSTS500011). The key file
//! faults (`arc_key_outside_directory`, `arc_key_too_large`,
//! `arc_key_missing`) change step 1.

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use super::{IdKind, InjectedFault, IssueError, ManagedIdentitySource, Query, SelectError, Shape};
use crate::context::RequestContext;
use crate::faults::FaultKind;
use crate::reply;
use crate::server::AppState;
use crate::stats::Endpoint;

/// The endpoint's path (`IDENTITY_ENDPOINT` names it).
pub(crate) const PATH: &str = super::imds::TOKEN_PATH;

/// The api-version MSAL sends.
const API_VERSION: &str = "2020-06-01";

/// The agent's token directory on Linux, the default.
pub const DEFAULT_ARC_TOKEN_DIRECTORY: &str = "/var/opt/azcmagent/tokens";

/// How long a written secret stays redeemable, in emulator-clock seconds.
const SECRET_LIFETIME_SECS: u64 = 60;

/// Most secrets outstanding at once; the oldest are dropped beyond.
const MAX_PENDING: usize = 256;

/// Size of the key file [`FaultKind::ArcKeyTooLarge`] writes (clients
/// refuse files above 4096 bytes).
const TOO_LARGE_KEY_BYTES: usize = 5000;

/// The id parameters the agent reads.
const ID_PARAMS: [(&str, IdKind); 3] = [
    ("client_id", IdKind::Client),
    ("msi_res_id", IdKind::Resource),
    ("object_id", IdKind::Object),
];

/// A written secret not yet redeemed.
struct Pending {
    secret: String,
    path: PathBuf,
    written_at: u64,
}

/// The agent's token directory and the secrets written into it.
pub(crate) struct Challenges {
    directory: PathBuf,
    /// Where [`FaultKind::ArcKeyOutsideDirectory`] writes instead.
    outside: PathBuf,
    pending: Mutex<VecDeque<Pending>>,
}

impl Challenges {
    /// Challenges writing into `directory` (which must exist); `outside`
    /// is another directory, created when a fault first needs it.
    pub(crate) fn new(directory: PathBuf, outside: PathBuf) -> Challenges {
        Challenges {
            directory,
            outside,
            pending: Mutex::new(VecDeque::new()),
        }
    }

    /// The token directory.
    pub(crate) fn directory(&self) -> &Path {
        &self.directory
    }

    /// Writes a fresh secret (or, under `fault`, a broken one) and returns
    /// the key file path the challenge names.
    fn challenge(&self, fault: Option<&FaultKind>, now: u64) -> std::io::Result<PathBuf> {
        let name = format!("{}.key", &super::random_secret()[..32]);
        let (path, secret) = match fault {
            Some(FaultKind::ArcKeyMissing) => return Ok(self.directory.join(name)),
            Some(FaultKind::ArcKeyOutsideDirectory) => {
                std::fs::create_dir_all(&self.outside)?;
                (self.outside.join(name), super::random_secret())
            }
            Some(FaultKind::ArcKeyTooLarge) => {
                let mut secret = String::with_capacity(TOO_LARGE_KEY_BYTES + 64);
                while secret.len() < TOO_LARGE_KEY_BYTES {
                    secret.push_str(&super::random_secret());
                }
                secret.truncate(TOO_LARGE_KEY_BYTES);
                (self.directory.join(name), secret)
            }
            _ => (self.directory.join(name), super::random_secret()),
        };
        write_private(&path, secret.as_bytes())?;
        let mut pending = self.lock();
        self.expire(&mut pending, now);
        while pending.len() >= MAX_PENDING {
            if let Some(old) = pending.pop_front() {
                remove(&old.path);
            }
        }
        pending.push_back(Pending {
            secret,
            path: path.clone(),
            written_at: now,
        });
        Ok(path)
    }

    /// Whether `secret` is one written less than a minute ago and not yet
    /// used; using it deletes its key file.
    fn redeem(&self, secret: &str, now: u64) -> bool {
        let mut pending = self.lock();
        self.expire(&mut pending, now);
        let found = pending
            .iter()
            .position(|p| super::constant_time_eq(p.secret.as_bytes(), secret.as_bytes()));
        match found.and_then(|i| pending.remove(i)) {
            Some(used) => {
                remove(&used.path);
                true
            }
            None => false,
        }
    }

    /// Drops (and deletes the files of) secrets older than their lifetime.
    fn expire(&self, pending: &mut VecDeque<Pending>, now: u64) {
        pending.retain(|p| {
            let live = now <= p.written_at.saturating_add(SECRET_LIFETIME_SECS);
            if !live {
                remove(&p.path);
            }
            live
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Pending>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Challenges {
    /// Leaves no secrets behind in the token directory.
    fn drop(&mut self) {
        for p in self.lock().drain(..) {
            remove(&p.path);
        }
        // The fault's directory is the emulator's own; gone if empty (or never made).
        let _ = std::fs::remove_dir(&self.outside);
    }
}

/// Creates `path` readable and writable by its owner only, as the agent does.
fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(content)
}

/// Deletes a key file; one already gone (the user cleaned up) is fine.
fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot delete an Azure Arc key file");
    }
}

/// Azure Arc's routes.
pub(crate) fn routes(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new().route(PATH, super::route(state, Endpoint::AzureArc, "GET", get(token)))
}

/// `GET /metadata/identity/oauth2/token` on the agent's port.
async fn token(State(state): State<Arc<AppState>>, ctx: RequestContext, request: Request) -> Response {
    let source = ManagedIdentitySource::AzureArc;
    let bad = |message: &str| Shape::OAuth.error(&ctx, StatusCode::BAD_REQUEST, "invalid_request", message);
    let Some(hosts) = super::hosts(&state) else {
        return super::not_enabled(&ctx, Shape::OAuth);
    };
    if !super::has_metadata_header(request.headers()) {
        return bad("Required metadata header not specified");
    }
    let query = Query::parse(request.uri());
    match query.required("api-version") {
        Err(e) => return bad(&e.to_string()),
        Ok(API_VERSION) => {}
        Ok(other) => {
            return bad(&format!(
                "Invalid api-version '{other}': the agent supports {API_VERSION}"
            ));
        }
    }
    let now = state.clock.now();
    let authorized = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .is_some_and(|(_, secret)| hosts.arc.redeem(secret.trim(), now));
    if !authorized {
        let fault = request.extensions().get::<InjectedFault>().map(|f| &f.0);
        return challenge(&ctx, hosts, fault, now);
    }
    let resource = match query.required("resource") {
        Ok(resource) => resource,
        Err(e) => return bad(&e.to_string()),
    };
    let identity = match super::select(&state, &query, &ID_PARAMS) {
        Ok(identity) => identity,
        Err(SelectError::NotFound(_)) => return bad("Identity not found"),
        Err(e) => return bad(&e.to_string()),
    };
    let issued = match super::issue(&state, hosts, identity, resource, &[]) {
        Ok(issued) => issued,
        Err(IssueError::UnknownResource(message)) => {
            return Shape::OAuth.error(&ctx, StatusCode::BAD_REQUEST, "invalid_resource", &message);
        }
        Err(IssueError::Signing) => return super::imds::signing_failed(&ctx),
    };
    let body = json!({
        "access_token": issued.access_token,
        "expires_in": issued.expires_in.to_string(),
        "expires_on": issued.expires_on.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        // The identity the token is for, by each id a caller may have chosen it by.
        "client_id": identity.client_id,
        "object_id": identity.object_id,
        "msi_res_id": identity.resource_id,
    });
    super::logged(
        source,
        Some(&identity.client_id),
        reply::json_no_store(StatusCode::OK, &body),
    )
}

/// The 401 naming a freshly written key file.
fn challenge(ctx: &RequestContext, hosts: &super::Hosts, fault: Option<&FaultKind>, now: u64) -> Response {
    let failed =
        |message: &str| Shape::OAuth.error(ctx, StatusCode::INTERNAL_SERVER_ERROR, "server_error", message);
    let path = match hosts.arc.challenge(fault, now) {
        Ok(path) => path,
        Err(e) => {
            tracing::error!(directory = %hosts.arc.directory().display(), error = %e, "cannot write an Azure Arc key file");
            return failed(&format!("Cannot write the key file: {e}"));
        }
    };
    let Ok(realm) = HeaderValue::from_str(&format!("Basic realm={}", path.display())) else {
        return failed("The token directory's path cannot be sent in a header");
    };
    let mut response = Shape::OAuth.error(
        ctx,
        StatusCode::UNAUTHORIZED,
        "unauthorized_client",
        "Authorization is required: answer with the content of the key file the realm names",
    );
    response.headers_mut().insert(header::WWW_AUTHENTICATE, realm);
    super::logged(ManagedIdentitySource::AzureArc, None, response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_single_use_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let challenges = Challenges::new(dir.path().to_owned(), dir.path().join("elsewhere"));
        let path = challenges.challenge(None, 1000).unwrap();
        assert_eq!(path.parent(), Some(dir.path()));
        let secret = std::fs::read_to_string(&path).unwrap();
        assert_eq!(secret.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!challenges.redeem("wrong", 1000));
        assert!(challenges.redeem(&secret, 1010));
        assert!(!path.exists(), "a used key file is deleted");
        assert!(!challenges.redeem(&secret, 1010), "single use");

        let path = challenges.challenge(None, 2000).unwrap();
        let secret = std::fs::read_to_string(&path).unwrap();
        assert!(!challenges.redeem(&secret, 2061), "expired after 60 s");
        assert!(!path.exists());
    }

    #[test]
    fn faults_break_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("elsewhere");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let challenges = Challenges::new(tokens.clone(), outside.clone());
        let missing = challenges.challenge(Some(&FaultKind::ArcKeyMissing), 0).unwrap();
        assert_eq!(missing.parent(), Some(tokens.as_path()));
        assert!(!missing.exists());
        let large = challenges.challenge(Some(&FaultKind::ArcKeyTooLarge), 0).unwrap();
        assert_eq!(std::fs::metadata(&large).unwrap().len(), 5000);
        let away = challenges
            .challenge(Some(&FaultKind::ArcKeyOutsideDirectory), 0)
            .unwrap();
        assert_eq!(away.parent(), Some(outside.as_path()));
        drop(challenges);
        assert!(!large.exists() && !away.exists(), "dropping cleans up");
        assert!(!outside.exists(), "and removes the fault's directory");
    }
}
