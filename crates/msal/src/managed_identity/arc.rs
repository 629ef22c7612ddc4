//! Azure Arc's challenge: the agent answers a first request with 401 and
//! `WWW-Authenticate: Basic realm=<path of a key file>`; whoever can read
//! that file (the agent's token directory is readable only by
//! administrators and the `himds` group) proves it is local and privileged
//! by sending its content back. The file is read only when it lies directly
//! in the agent's token directory, ends in `.key`, and is at most 4096
//! bytes (checked before reading), so a forged challenge cannot make this
//! library read, and send, another file.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::ManagedIdentityError;

/// Largest key file read.
pub(crate) const MAX_KEY_BYTES: u64 = 4096;

/// The agent's token directory on this platform.
pub(crate) fn default_token_directory() -> PathBuf {
    if cfg!(windows) {
        let program_data = std::env::var_os("ProgramData").unwrap_or_else(|| "C:\\ProgramData".into());
        PathBuf::from(program_data)
            .join("AzureConnectedMachineAgent")
            .join("Tokens")
    } else {
        PathBuf::from("/var/opt/azcmagent/tokens")
    }
}

/// The key file a challenge names: `Basic realm=<path>` (the scheme in any
/// case, the path possibly quoted).
pub(crate) fn challenge_path(header: Option<&str>, status: u16) -> Result<PathBuf, ManagedIdentityError> {
    let challenge = |reason: &str| ManagedIdentityError::ArcChallenge {
        status,
        reason: reason.to_owned(),
    };
    let header = header.ok_or_else(|| challenge("no WWW-Authenticate header"))?;
    let (scheme, rest) = header
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| challenge("WWW-Authenticate is not a Basic challenge"))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(challenge("WWW-Authenticate is not a Basic challenge"));
    }
    let (name, value) = rest
        .trim()
        .split_once('=')
        .ok_or_else(|| challenge("the Basic challenge has no realm"))?;
    if !name.trim().eq_ignore_ascii_case("realm") {
        return Err(challenge("the Basic challenge has no realm"));
    }
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    if value.is_empty() {
        return Err(challenge("the realm names no file"));
    }
    Ok(PathBuf::from(value))
}

/// Reads the key file `path` names, after checking where it is, its name
/// and its size.
pub(crate) fn read_key(
    path: &Path,
    token_directory: &Path,
) -> Result<Zeroizing<String>, ManagedIdentityError> {
    let refuse = |reason: String| ManagedIdentityError::ArcKeyFile {
        path: path.to_owned(),
        reason,
    };
    if path.extension().is_none_or(|e| e != "key") {
        return Err(refuse("not a .key file".into()));
    }
    // Both sides canonical: `..`, symbolic links and relative paths cannot
    // lead outside the directory.
    let directory = token_directory.canonicalize().map_err(|e| {
        refuse(format!(
            "the agent's token directory {} is not readable: {e}",
            token_directory.display()
        ))
    })?;
    let file = path
        .canonicalize()
        .map_err(|e| refuse(format!("cannot be opened: {e}")))?;
    if file.parent() != Some(directory.as_path()) {
        return Err(refuse(format!(
            "outside the agent's token directory {}",
            directory.display()
        )));
    }
    let metadata = std::fs::metadata(&file).map_err(|e| refuse(format!("cannot be opened: {e}")))?;
    if !metadata.is_file() {
        return Err(refuse("not a regular file".into()));
    }
    if metadata.len() > MAX_KEY_BYTES {
        return Err(refuse(format!(
            "{} bytes, larger than the {MAX_KEY_BYTES} bytes a key may have",
            metadata.len()
        )));
    }
    let bytes = Zeroizing::new(std::fs::read(&file).map_err(|e| refuse(format!("cannot be read: {e}")))?);
    // Read, it may have grown since the check.
    if bytes.len() as u64 > MAX_KEY_BYTES {
        return Err(refuse("grew past 4096 bytes while being read".into()));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| refuse("not text".into()))?;
    let key = text.trim();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(refuse("not a key (empty, or not printable ASCII)".into()));
    }
    Ok(Zeroizing::new(key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_name_their_key_file() {
        let path = challenge_path(Some("Basic realm=/var/opt/azcmagent/tokens/abc.key"), 401).unwrap();
        assert_eq!(path, Path::new("/var/opt/azcmagent/tokens/abc.key"));
        let quoted = challenge_path(Some("basic  realm=\"/t/abc.key\""), 401).unwrap();
        assert_eq!(quoted, Path::new("/t/abc.key"));
        for bad in [
            None,
            Some(""),
            Some("Bearer realm=/t/a.key"),
            Some("Basic"),
            Some("Basic realm="),
            Some("Basic nonce=/t/a.key"),
        ] {
            assert!(
                matches!(
                    challenge_path(bad, 401),
                    Err(ManagedIdentityError::ArcChallenge { status: 401, .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn only_small_key_files_in_the_token_directory_are_read() {
        let root = tempfile::tempdir().unwrap();
        let tokens = root.path().join("tokens");
        let elsewhere = root.path().join("elsewhere");
        std::fs::create_dir_all(&tokens).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        let good = tokens.join("a.key");
        std::fs::write(&good, "secret-key\n").unwrap();
        assert_eq!(read_key(&good, &tokens).unwrap().as_str(), "secret-key");

        let reason = |path: &Path| match read_key(path, &tokens) {
            Err(ManagedIdentityError::ArcKeyFile { reason, .. }) => reason,
            other => panic!("{path:?}: {other:?}"),
        };
        let outside = elsewhere.join("b.key");
        std::fs::write(&outside, "k").unwrap();
        assert!(reason(&outside).contains("outside"));
        assert!(reason(&tokens.join("../elsewhere/b.key")).contains("outside"));
        let large = tokens.join("c.key");
        std::fs::write(&large, "k".repeat(5000)).unwrap();
        assert!(reason(&large).contains("larger"));
        assert!(reason(&tokens.join("missing.key")).contains("cannot be opened"));
        let wrong_name = tokens.join("d.txt");
        std::fs::write(&wrong_name, "k").unwrap();
        assert!(reason(&wrong_name).contains(".key"));
        #[cfg(unix)]
        {
            let link = tokens.join("e.key");
            std::os::unix::fs::symlink(&outside, &link).unwrap();
            assert!(reason(&link).contains("outside"));
        }
    }
}
