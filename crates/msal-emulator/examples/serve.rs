//! Runs the emulator with the built-in directory for interop checks with
//! other clients: `cargo run -p msal-emulator --example serve -- CA_PATH [SECONDS]`.
//! Prints the URL, writes the CA certificate to CA_PATH and serves for
//! SECONDS (default 300).

use std::path::PathBuf;
use std::time::Duration;

use msal_emulator::{Emulator, EmulatorConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let ca_path = PathBuf::from(args.next().ok_or("usage: serve CA_PATH [SECONDS]")?);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(300);
    let emulator = Emulator::start(EmulatorConfig::default()).await?;
    emulator.write_ca_cert(&ca_path)?;
    println!("{}", emulator.url());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    emulator.shutdown().await;
    Ok(())
}
