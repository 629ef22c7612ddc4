//! `--state-dir`: what makes one emulator run the continuation of the
//! previous one. The TLS material (so a CA trusted once in a browser or the
//! OS store stays trusted), the token-signing key (so tokens and the JWKS
//! stay valid), and the sign-in state (sessions, codes, refresh tokens) are
//! kept in a directory only the owner can read; the state is written
//! whenever it changes (checked twice a second) and at shutdown.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cert::TlsMaterial;
use crate::keys::{KeyRing, PersistedKey, PersistedRing, SigningKey};
use crate::store::Persisted;

const KEYS_FILE: &str = "keys.json";
const STATE_FILE: &str = "state.json";

/// `keys.json`. The current signing key keeps the field names of files
/// written before key rollover existed; those files have no next key, and
/// get one.
#[derive(Serialize, Deserialize)]
struct Keys {
    tls: TlsMaterial,
    signing_key_pem: String,
    signing_cert_der: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_signing_key: Option<PersistedKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_signing_key: Option<PersistedKey>,
}

impl Keys {
    fn new(tls: TlsMaterial, ring: PersistedRing) -> Keys {
        Keys {
            tls,
            signing_key_pem: ring.current.key_pem,
            signing_cert_der: ring.current.cert_der,
            next_signing_key: Some(ring.next),
            previous_signing_key: ring.previous,
        }
    }
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

    /// The TLS material and signing keys kept here, or fresh ones (then
    /// kept). TLS material naming other hosts than `hosts` (the directory
    /// changed) is replaced, CA included: the old CA's key was not kept.
    /// The signing keys stay: tokens already issued stay valid.
    pub(crate) fn keys(&self, hosts: &[String]) -> Result<(TlsMaterial, KeyRing), String> {
        let file = self.path.join(KEYS_FILE);
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", file.display());
        let mut kept = None;
        if let Ok(text) = std::fs::read_to_string(&file) {
            let keys: Keys =
                serde_json::from_str(&text).map_err(|e| at(&format!("not the emulator's keys: {e}")))?;
            let current = PersistedKey {
                key_pem: keys.signing_key_pem,
                cert_der: keys.signing_cert_der,
            };
            let upgraded = keys.next_signing_key.is_none();
            let next = match keys.next_signing_key {
                Some(next) => next,
                None => SigningKey::generate().map_err(|e| at(&e))?.persisted().clone(),
            };
            let ring = PersistedRing {
                current,
                next,
                previous: keys.previous_signing_key,
            };
            let fresh_ring = KeyRing::from_persisted(&ring).map_err(|e| at(&e))?;
            if keys.tls.hosts == hosts {
                if upgraded {
                    self.save_keys(&Keys::new(keys.tls.clone(), ring))?;
                }
                return Ok((keys.tls, fresh_ring));
            }
            tracing::warn!(
                file = %file.display(),
                "the kept TLS certificate names other hosts than this directory serves: a new CA replaces it"
            );
            kept = Some(fresh_ring);
        }
        let tls = crate::cert::generate(hosts).map_err(|e| e.to_string())?;
        let ring = match kept {
            Some(ring) => ring,
            None => KeyRing::generate().map_err(|e| e.to_string())?,
        };
        self.save_keys(&Keys::new(tls.clone(), ring.persisted()))?;
        Ok((tls, ring))
    }

    /// Keeps the signing keys after a roll, with the TLS material kept here.
    pub(crate) fn save_signing_keys(&self, ring: &PersistedRing) -> Result<(), String> {
        let file = self.path.join(KEYS_FILE);
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let keys: Keys = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        self.save_keys(&Keys::new(keys.tls, ring.clone()))
    }

    fn save_keys(&self, keys: &Keys) -> Result<(), String> {
        let file = self.path.join(KEYS_FILE);
        let json = serde_json::to_vec_pretty(keys).map_err(|e| e.to_string())?;
        write_private(&file, &json).map_err(|e| format!("{}: {e}", file.display()))
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
