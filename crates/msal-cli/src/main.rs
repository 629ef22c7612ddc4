//! `msal`: get tokens from the Microsoft identity platform from the shell,
//! with the same token cache file the MSAL libraries use, and run a local
//! Entra ID emulator to try it all without a tenant.

#![forbid(unsafe_code)]

mod demo;
mod emulator;
mod output;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Tokens from the Microsoft identity platform, and a local emulator of it.
#[derive(Parser)]
#[command(name = "msal", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Get a token for an application (client credentials), from the cache when it holds one.
    ///
    /// The client secret is read from the MSAL_CLIENT_SECRET environment variable
    /// or from --client-secret-file, never from a flag, which would show in `ps`.
    Token(token::TokenArgs),
    /// Run the local Entra ID emulator over HTTPS on 127.0.0.1.
    ///
    /// Prints one JSON line when ready: {"url": "https://127.0.0.1:PORT", "ca_cert": "PATH"}.
    Emulator(EmulatorCommand),
    /// Start an embedded emulator, get a token twice, and show where each came from.
    Demo,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct EmulatorCommand {
    #[command(subcommand)]
    action: Option<EmulatorAction>,
    #[command(flatten)]
    run: emulator::RunArgs,
}

#[derive(Subcommand)]
enum EmulatorAction {
    /// Print the built-in directory (tenants, apps with their secrets, users
    /// with their passwords) as JSON: a starting point for --config.
    Defaults,
}

/// Where the CA certificate goes when --cert-out is not given.
fn default_ca_path(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("msal-emulator-{port}-ca.pem"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Token(args) => token::run(args).await,
            Command::Emulator(EmulatorCommand {
                action: Some(EmulatorAction::Defaults),
                ..
            }) => emulator::print_defaults(),
            Command::Emulator(EmulatorCommand { action: None, run }) => emulator::run(run).await,
            Command::Demo => demo::run().await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
