//! `--state-dir`: what makes one emulator run the continuation of the
//! previous one. The TLS material (so a CA trusted once in a browser or the
//! OS store stays trusted), the token-signing key (so tokens and the JWKS
//! stay valid), and the sign-in state (sessions, codes, refresh tokens) are
//! kept in a directory only the owner can read; the state is written
//! whenever it changes (checked twice a second) and at shutdown.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::cert::TlsMaterial;
use crate::keys::SigningKey;
use crate::store::Persisted;

const KEYS_FILE: &str = "keys.json";
const STATE_FILE: &str = "state.json";

#[derive(Serialize, Deserialize)]
struct Keys {
    tls: TlsMaterial,
    signing_key_pem: String,
    signing_cert_der: String,
}

/// A state directory.
#[derive(Clone, Debug)]
pub(crate) struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// Opens (creating it, owner-only) the directory at `path`.
    pub(crate) fn open(path: &Path) -> std::io::Result<StateDir> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(path)?;
        Ok(StateDir {
            path: std::fs::canonicalize(path)?,
        })
    }

    /// The TLS material and signing key kept here, or fresh ones (then
    /// kept). TLS material naming other hosts than `hosts` (the directory
    /// changed) is replaced, CA included: the old CA's key was not kept.
    pub(crate) fn keys(&self, hosts: &[String]) -> Result<(TlsMaterial, SigningKey), String> {
        let file = self.path.join(KEYS_FILE);
        let mut kept_signing = None;
        if let Ok(text) = std::fs::read_to_string(&file) {
            let keys: Keys = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not the emulator's keys: {e}", file.display()))?;
            let der = STANDARD
                .decode(&keys.signing_cert_der)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            let signing = SigningKey::from_persisted(&keys.signing_key_pem, &der)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            if keys.tls.hosts == hosts {
                return Ok((keys.tls, signing));
            }
            tracing::warn!(
                file = %file.display(),
                "the kept TLS certificate names other hosts than this directory serves: a new CA replaces it"
            );
            kept_signing = Some((signing, keys.signing_key_pem, keys.signing_cert_der));
        }
        let tls = crate::cert::generate(hosts).map_err(|e| e.to_string())?;
        let (signing, (key_pem, cert_der)) = match kept_signing {
            // The token-signing key stays: tokens already issued stay valid.
            Some((signing, key_pem, cert_der)) => (
                signing,
                (key_pem, STANDARD.decode(cert_der).map_err(|e| e.to_string())?),
            ),
            None => SigningKey::generate_persistable().map_err(|e| e.to_string())?,
        };
        let keys = Keys {
            tls: tls.clone(),
            signing_key_pem: key_pem,
            signing_cert_der: STANDARD.encode(cert_der),
        };
        let json = serde_json::to_vec_pretty(&keys).map_err(|e| e.to_string())?;
        write_private(&file, &json).map_err(|e| format!("{}: {e}", file.display()))?;
        Ok((tls, signing))
    }

    /// The sign-in state kept here (none at first, or when unreadable).
    pub(crate) fn load_state(&self) -> Option<Persisted> {
        let file = self.path.join(STATE_FILE);
        let text = std::fs::read_to_string(&file).ok()?;
        match serde_json::from_str(&text) {
            Ok(state) => Some(state),
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "ignoring an unreadable emulator state file");
                None
            }
        }
    }

    /// Keeps `state` (atomically).
    pub(crate) fn save_state(&self, state: &Persisted) {
        let file = self.path.join(STATE_FILE);
        let written = serde_json::to_vec(state)
            .map_err(std::io::Error::other)
            .and_then(|json| write_private(&file, &json));
        if let Err(e) = written {
            tracing::warn!(file = %file.display(), error = %e, "cannot save the emulator state");
        }
    }
}

/// Writes `bytes` to `path` through an owner-only temporary file and a rename.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let temp = path.with_extension(format!("{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = options
        .open(&temp)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&temp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}
