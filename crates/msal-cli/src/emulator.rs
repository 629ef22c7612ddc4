//! `msal emulator`: run the local Entra ID emulator (with the managed
//! identity endpoints of the Azure hosts) until interrupted, print its
//! built-in directory or its config file's JSON Schema, or drive a running
//! one ([`admin`]).

pub(crate) mod admin;

use crate::output::outln;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use msal_emulator::{DEFAULT_ARC_TOKEN_DIRECTORY, Directory, Emulator, EmulatorConfig};

/// Arguments of `msal emulator`.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// Port to listen on (127.0.0.1 only); 0 picks a free one. With 443 (and
    /// the ready line's `hosts` mapped to 127.0.0.1, e.g. in /etc/hosts),
    /// unmodified clients reach it under Entra's, B2C's, CIAM's and AD FS's
    /// own host names.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Write the emulator's CA certificate (PEM) here, for clients to trust.
    #[arg(long)]
    pub cert_out: Option<PathBuf>,
    /// A directory (tenants, apps, users) in the JSON form `msal emulator defaults` prints.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Seconds device-code clients must wait between polls (the `interval` the
    /// device authorization endpoint announces; polling faster gets `slow_down`).
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub device_code_interval: u64,
    /// Where the emulated Azure Arc agent writes its challenge key files
    /// [default: /var/opt/azcmagent/tokens, as the real agent; if it cannot
    /// be created, msal-emulator-arc-tokens next to the CA certificate].
    #[arg(long, value_name = "DIR")]
    pub arc_token_directory: Option<PathBuf>,
    /// Keep the CA, the TLS and signing keys, sessions and refresh tokens in
    /// DIR, so a restart continues where the last run stopped (a CA trusted
    /// once stays trusted). Created owner-only if missing.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

pub(crate) fn print_defaults() -> Result<(), ExitCode> {
    outln!("{}", Directory::builtin().to_json_pretty());
    Ok(())
}

/// Prints the JSON Schema of `--config` files (docs/emulator-config.schema.json).
pub(crate) fn print_schema() -> Result<(), ExitCode> {
    let schema = Directory::json_schema();
    let text = serde_json::to_string_pretty(&schema).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    })?;
    outln!("{text}");
    Ok(())
}

pub(crate) async fn run(args: RunArgs) -> Result<(), ExitCode> {
    let fail = |message: String| {
        eprintln!("error: {message}");
        ExitCode::FAILURE
    };
    let directory = match &args.config {
        Some(path) => Directory::load(path).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(crate::output::exit::BAD_INPUT)
        })?,
        None => Directory::builtin(),
    };
    let arc_tokens = match args.arc_token_directory {
        // Asked for: the emulator creates it, or fails saying why.
        Some(dir) => dir,
        None => default_arc_token_directory(args.cert_out.as_deref()),
    };
    let config = EmulatorConfig::new(directory)
        .with_port(args.port)
        .with_device_code_interval(std::time::Duration::from_secs(args.device_code_interval))
        .with_managed_identity(true)
        .with_arc_token_directory(arc_tokens);
    let config = match &args.state_dir {
        Some(dir) => config.with_state_dir(dir.clone()),
        None => config,
    };
    let emulator = Emulator::start(config).await.map_err(|e| fail(e.to_string()))?;
    let ca_path = args
        .cert_out
        .unwrap_or_else(|| crate::default_ca_path(emulator.port()));
    emulator.write_ca_cert(&ca_path).map_err(|e| {
        fail(format!(
            "cannot write the CA certificate to {}: {e}",
            ca_path.display()
        ))
    })?;
    let mut ready = serde_json::json!({
        "url": emulator.url(),
        "ca_cert": ca_path,
        "admin_token": emulator.admin_token(),
        // Names clients may map to 127.0.0.1 (the certificate names them).
        "hosts": emulator.hosts(),
    });
    if let Some(pem) = emulator.service_fabric_cert_pem() {
        let sf_path = service_fabric_cert_path(&ca_path);
        std::fs::write(&sf_path, pem).map_err(|e| {
            fail(format!(
                "cannot write the Service Fabric certificate to {}: {e}",
                sf_path.display()
            ))
        })?;
        ready["service_fabric_ca_cert"] = serde_json::json!(sf_path);
    }
    if let Some(dir) = emulator.arc_token_directory() {
        ready["arc_token_directory"] = serde_json::json!(dir);
    }
    ready["managed_identity"] = emulator.managed_identity_json();
    outln!("{ready}");
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| fail(format!("cannot wait for Ctrl-C: {e}")))?;
    emulator.shutdown().await;
    Ok(())
}

/// The Azure Arc agent's token directory if it exists or can be created
/// (as root, say), else `msal-emulator-arc-tokens` next to the CA
/// certificate, said on stderr: clients then read key files from there.
fn default_arc_token_directory(cert_out: Option<&Path>) -> PathBuf {
    let agent = PathBuf::from(DEFAULT_ARC_TOKEN_DIRECTORY);
    let Err(e) = std::fs::create_dir_all(&agent) else {
        return agent;
    };
    let next_to_ca = match cert_out.and_then(Path::parent) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        Some(_) => PathBuf::from("."),
        // The CA certificate's default place.
        None => std::env::temp_dir(),
    };
    let fallback = next_to_ca.join("msal-emulator-arc-tokens");
    eprintln!(
        "note: cannot create {} ({e}); the Azure Arc endpoint writes its key files to {} instead",
        agent.display(),
        fallback.display()
    );
    fallback
}

/// Where the Service Fabric certificate goes: next to the CA certificate,
/// `<its name without extension>.service-fabric.pem`.
fn service_fabric_cert_path(ca_path: &Path) -> PathBuf {
    let stem = ca_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "msal-emulator".to_owned());
    ca_path.with_file_name(format!("{stem}.service-fabric.pem"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_fabric_certificate_sits_next_to_the_ca() {
        assert_eq!(
            service_fabric_cert_path(Path::new("/tmp/x/ca.pem")),
            PathBuf::from("/tmp/x/ca.service-fabric.pem")
        );
        assert_eq!(
            service_fabric_cert_path(Path::new("ca")),
            PathBuf::from("ca.service-fabric.pem")
        );
    }
}
