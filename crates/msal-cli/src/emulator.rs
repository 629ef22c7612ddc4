//! `msal emulator`: run the local Entra ID emulator until interrupted, or
//! print its built-in directory.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use msal_emulator::{Directory, Emulator, EmulatorConfig};

/// Arguments of `msal emulator`.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// Port to listen on (127.0.0.1 only); 0 picks a free one.
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
}

pub(crate) fn print_defaults() -> Result<(), ExitCode> {
    println!("{}", Directory::builtin().to_json_pretty());
    Ok(())
}

pub(crate) async fn run(args: RunArgs) -> Result<(), ExitCode> {
    let fail = |message: String| {
        eprintln!("error: {message}");
        ExitCode::FAILURE
    };
    let directory = match &args.config {
        Some(path) => Directory::load(path).map_err(|e| fail(e.to_string()))?,
        None => Directory::builtin(),
    };
    let config = EmulatorConfig::new(directory)
        .with_port(args.port)
        .with_device_code_interval(std::time::Duration::from_secs(args.device_code_interval));
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
    println!(
        "{}",
        serde_json::json!({ "url": emulator.url(), "ca_cert": ca_path })
    );
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| fail(format!("cannot wait for Ctrl-C: {e}")))?;
    emulator.shutdown().await;
    Ok(())
}
