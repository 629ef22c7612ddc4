//! The application's credential, for `msal login` of an application and
//! `msal token` (the app's own token, or on behalf of a user): a client
//! secret or a certificate (PEM with its key, or PKCS#12 with a passphrase),
//! and the incoming token of the on-behalf-of flow. Secrets only ever come
//! from the environment or a file, never from a flag value (`ps` shows
//! those), and are never printed.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Args;
use msal::{
    AssertionRequest, CertificatePassphrase, ClientAssertion, ClientCertificate, ClientCredential,
    ClientSecret, CredentialError, Error, UserAssertion,
};

use crate::config::{Origin, Settings};

/// Environment variable holding the client secret.
pub(crate) const SECRET_ENV: &str = "MSAL_CLIENT_SECRET";
/// Environment variable holding the PKCS#12 passphrase.
pub(crate) const CERTIFICATE_PASSWORD_ENV: &str = "MSAL_CERTIFICATE_PASSWORD";

/// The most a secret, certificate or incoming token file may hold: far
/// more than any real one, and a bound on what a wrong path can cost.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The credential options of `msal login` (applications) and `msal token`.
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct CredentialArgs {
    /// File holding the client secret (its first line), instead of the
    /// MSAL_CLIENT_SECRET environment variable [config: client_secret_file].
    #[arg(long, value_name = "FILE", conflicts_with = "certificate")]
    pub client_secret_file: Option<PathBuf>,
    /// The application's certificate with its private key: a PEM file
    /// holding both (an unencrypted RSA key), or a PKCS#12 (.pfx, .p12) file
    /// [config: certificate].
    #[arg(long, value_name = "FILE")]
    pub certificate: Option<PathBuf>,
    /// File holding the PKCS#12 file's passphrase, instead of the
    /// MSAL_CERTIFICATE_PASSWORD environment variable (none: no passphrase)
    /// [config: certificate_password_file].
    #[arg(long, value_name = "FILE")]
    pub certificate_password_file: Option<PathBuf>,
}

impl CredentialArgs {
    /// Whether a credential was named on the command line.
    pub(crate) fn given(&self) -> bool {
        self.client_secret_file.is_some() || self.certificate.is_some()
    }
}

/// The credential, in the settings' order: `--client-secret-file`,
/// `--certificate`, `MSAL_CLIENT_SECRET`, then the config file's
/// `client_secret_file` or `certificate`. `None` when there is none.
pub(crate) fn resolve(args: &CredentialArgs, settings: &Settings) -> Result<Option<ClientCredential>, Error> {
    if let Some(path) = &args.client_secret_file {
        return secret_from_file(path, &Origin::Flag("--client-secret-file")).map(Some);
    }
    if let Some(path) = &args.certificate {
        return certificate(path, args, settings).map(Some);
    }
    if let Ok(secret) = std::env::var(SECRET_ENV)
        && !secret.trim().is_empty()
    {
        return Ok(Some(ClientSecret::new(secret.trim()).into()));
    }
    match (settings.client_secret_file(), settings.certificate()) {
        (Some(secret), Some(certificate)) => Err(Error::InvalidArgument(format!(
            "both {} and {} name a credential: keep one",
            secret.origin, certificate.origin
        ))),
        (Some(secret), None) => secret_from_file(&secret.value, &secret.origin).map(Some),
        (None, Some(path)) => certificate(&path.value, args, settings).map(Some),
        (None, None) => Ok(None),
    }
}

/// What to say when a credential is needed and none was given.
pub(crate) fn missing(settings: &Settings) -> String {
    format!(
        "no client credential: set {SECRET_ENV}, or pass --client-secret-file FILE or --certificate FILE \
         (or set client_secret_file or certificate: {})",
        settings.config_hint("client_secret_file")
    )
}

/// A credential that fails when used: lets `msal token` serve a cached
/// app token without a credential, and say what is missing only when the
/// identity provider must be asked.
pub(crate) fn none_given(message: String) -> ClientCredential {
    ClientAssertion::from_callback(move |_: &AssertionRequest| Err(message.clone().into())).into()
}

/// Whether `error` is [`none_given`]'s: turned back into the message itself.
pub(crate) fn explain(error: Error, message: &str) -> Error {
    match error {
        Error::Credential(CredentialError::AssertionCallback(_)) => {
            Error::InvalidArgument(message.to_owned())
        }
        other => other,
    }
}

/// The secret in a file: its first line, surrounding whitespace trimmed.
fn secret_from_file(path: &Path, origin: &Origin) -> Result<ClientCredential, Error> {
    let text = read_small(path).map_err(|e| {
        Error::InvalidArgument(format!(
            "cannot read the client secret file {} (from {origin}): {e}",
            path.display()
        ))
    })?;
    let text = String::from_utf8(text).map_err(|_| {
        Error::InvalidArgument(format!(
            "the client secret file {} (from {origin}) is not text",
            path.display()
        ))
    })?;
    let secret = text.lines().next().unwrap_or_default().trim();
    if secret.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "the client secret file {} (from {origin}) is empty: put the secret on its first line",
            path.display()
        )));
    }
    Ok(ClientSecret::new(secret).into())
}

/// The certificate at `path`: PEM (key and certificate in one file) or
/// PKCS#12, with its passphrase from `--certificate-password-file`,
/// `MSAL_CERTIFICATE_PASSWORD` or the config file.
fn certificate(path: &Path, args: &CredentialArgs, settings: &Settings) -> Result<ClientCredential, Error> {
    let bytes = read_small(path).map_err(|e| {
        Error::InvalidArgument(format!("cannot read the certificate {}: {e}", path.display()))
    })?;
    let unusable = |e: CredentialError| {
        let hint = match e {
            CredentialError::WrongPassphrase => format!(
                ": give its passphrase with --certificate-password-file or {CERTIFICATE_PASSWORD_ENV}"
            ),
            _ => String::new(),
        };
        Error::InvalidArgument(format!(
            "cannot use the certificate {}: {e}{hint}",
            path.display()
        ))
    };
    let pem = std::str::from_utf8(&bytes)
        .ok()
        .filter(|text| text.contains("-----BEGIN"));
    let certificate = match pem {
        Some(text) => ClientCertificate::from_pem(text, text).map_err(unusable)?,
        None => ClientCertificate::from_pkcs12(&bytes, &passphrase(args, settings)?).map_err(unusable)?,
    };
    Ok(certificate.into())
}

/// The PKCS#12 passphrase; empty when none is given.
fn passphrase(args: &CredentialArgs, settings: &Settings) -> Result<CertificatePassphrase, Error> {
    let file = match &args.certificate_password_file {
        Some(path) => Some((path.clone(), "--certificate-password-file")),
        None => {
            if let Ok(passphrase) = std::env::var(CERTIFICATE_PASSWORD_ENV)
                && !passphrase.is_empty()
            {
                return Ok(CertificatePassphrase::new(passphrase));
            }
            settings
                .certificate_password_file()
                .map(|path| (path, "certificate_password_file in the config file"))
        }
    };
    let Some((path, origin)) = file else {
        return Ok(CertificatePassphrase::new(""));
    };
    let text = read_small(&path)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "cannot read the certificate passphrase file {} (from {origin})",
                path.display()
            ))
        })?;
    // The first line, as a secret file: a trailing newline is not part of it.
    Ok(CertificatePassphrase::new(
        text.lines().next().unwrap_or_default().trim_end_matches('\r'),
    ))
}

/// The incoming token of `--on-behalf-of`: from the file `path`, or from
/// standard input when `path` is `-`. Surrounding whitespace (and a
/// `Bearer ` prefix, as copied from a request) is dropped.
pub(crate) fn incoming_token(path: &Path) -> Result<UserAssertion, Error> {
    let (bytes, what) = if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(MAX_FILE_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::InvalidArgument(format!("cannot read the incoming token from stdin: {e}")))?;
        (bytes, "standard input (--assertion-file -)".to_owned())
    } else {
        let bytes = read_small(path).map_err(|e| {
            Error::InvalidArgument(format!(
                "cannot read the incoming token file {} (--assertion-file): {e}",
                path.display()
            ))
        })?;
        (bytes, format!("{} (--assertion-file)", path.display()))
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::InvalidArgument(format!("the incoming token in {what} is not text")))?;
    let token = text.trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    if token.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "no incoming token in {what}: give the access token the middle tier was called with"
        )));
    }
    Ok(UserAssertion::new(token))
}

/// A file's bytes, refusing anything larger than [`MAX_FILE_BYTES`].
fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_FILE_BYTES} bytes: not a secret, certificate or token file"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_the_first_line_of_a_file_and_say_where_they_were_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\r\nsecond line\n").unwrap();
        let origin = Origin::Flag("--client-secret-file");
        assert!(matches!(
            secret_from_file(&secret, &origin).unwrap(),
            ClientCredential::Secret(_)
        ));
        std::fs::write(&secret, "\n").unwrap();
        let empty = secret_from_file(&secret, &origin).unwrap_err().to_string();
        assert!(
            empty.contains("empty") && empty.contains("--client-secret-file"),
            "{empty}"
        );
        let missing = secret_from_file(&dir.path().join("nope"), &origin)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("nope"), "{missing}");
    }

    #[test]
    fn an_incoming_token_file_is_trimmed_and_must_not_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "Bearer abc.def.ghi\n").unwrap();
        assert_eq!(incoming_token(&file).unwrap().expose_secret(), "abc.def.ghi");
        std::fs::write(&file, "  \n").unwrap();
        let error = incoming_token(&file).unwrap_err().to_string();
        assert!(
            error.contains("no incoming token") && error.contains("--assertion-file"),
            "{error}"
        );
    }

    #[test]
    fn a_certificate_that_is_neither_pem_nor_pkcs12_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cert.pfx");
        std::fs::write(&file, b"\x00\x01 not a certificate").unwrap();
        let args = CredentialArgs {
            certificate: Some(file.clone()),
            ..CredentialArgs::default()
        };
        let Err(error) = resolve(&args, &Settings::default()) else {
            panic!("refused");
        };
        assert!(error.to_string().contains("cert.pfx"), "{error}");
        assert!(matches!(error, Error::InvalidArgument(_)));
    }
}
