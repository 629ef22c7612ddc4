//! `msal token --ssh-cert`: an SSH certificate for a signed-in user's
//! public key (see `msal::ssh_cert`), written where OpenSSH looks for it:
//! `id_rsa.pub` gets `id_rsa-cert.pub` beside it, unless `--out` names
//! another file. `ssh-keygen -L -f` reads it.

use std::path::{Path, PathBuf};

use msal::ssh_cert::{SSH_CERT_SCOPE, certificate_line};
use msal::{AuthenticationResult, Error, SshCertRequest};

/// The request for the public key in `path` (an OpenSSH `.pub` file).
pub(crate) fn request(path: &Path) -> Result<SshCertRequest, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::InvalidArgument(format!("cannot read the SSH public key {}: {e}", path.display()))
    })?;
    SshCertRequest::from_public_key(&text)
        .map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))
}

/// The scopes of an SSH certificate request: the caller's, else the one
/// Entra issues certificates for.
pub(crate) fn scopes(given: &[String]) -> Vec<String> {
    if given.is_empty() {
        vec![SSH_CERT_SCOPE.to_owned()]
    } else {
        given.to_vec()
    }
}

/// Where the certificate goes: `out`, else OpenSSH's name for the
/// certificate of `public_key` (`X.pub` → `X-cert.pub`).
pub(crate) fn certificate_path(public_key: &Path, out: Option<&Path>) -> PathBuf {
    if let Some(out) = out {
        return out.to_owned();
    }
    let name = public_key
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".pub").unwrap_or(&name);
    public_key.with_file_name(format!("{stem}-cert.pub"))
}

/// Writes the certificate `result` carries to `path`.
pub(crate) fn write(result: &AuthenticationResult, path: &Path) -> Result<(), Error> {
    if result.token_type != msal::ssh_cert::SSH_CERT_TOKEN_TYPE {
        return Err(Error::InvalidArgument(format!(
            "the identity provider answered with a {} token, not an SSH certificate",
            result.token_type
        )));
    }
    let line = certificate_line(result.access_token.expose_secret())?;
    std::fs::write(path, line + "\n").map_err(|e| {
        Error::InvalidArgument(format!(
            "cannot write the SSH certificate {}: {e}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_file_names_follow_openssh() {
        let key = Path::new("/home/me/.ssh/id_rsa.pub");
        assert_eq!(
            certificate_path(key, None),
            Path::new("/home/me/.ssh/id_rsa-cert.pub")
        );
        assert_eq!(
            certificate_path(Path::new("key"), None),
            Path::new("key-cert.pub")
        );
        assert_eq!(certificate_path(key, Some(Path::new("c"))), Path::new("c"));
        assert_eq!(scopes(&[]), [SSH_CERT_SCOPE]);
    }
}
