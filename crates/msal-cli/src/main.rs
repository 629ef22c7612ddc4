//! `msal`: get tokens from the Microsoft identity platform from the shell,
//! with the same token cache file the MSAL libraries use, and run a local
//! Entra ID emulator to try it all without a tenant.

#![forbid(unsafe_code)]

mod accounts;
mod cache_file;
mod confidential;
mod config;
mod credentials;
mod decode;
mod demo;
mod device;
mod emulator;
mod logging;
mod login;
mod managed_identity;
mod output;
mod redis_cache;
mod remembered;
mod ssh_cert;
mod status;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, Parser, Subcommand};

/// Tokens from the Microsoft identity platform, and a local emulator of it.
#[derive(Parser)]
#[command(
    name = "msal",
    version,
    about,
    long_about = None,
    after_help = "Exit codes: 0 ok, 1 authentication failed, 2 bad input or unusable cache, \
                  3 interaction required (run `msal login`), 4 network, TLS or Redis unreachable, 130 cancelled."
)]
struct Cli {
    /// Log what msal does on stderr: -v info, -vv debug, -vvv trace (every
    /// request, with its correlation id). RUST_LOG, when set, wins
    /// (e.g. RUST_LOG=msal=trace). Logs never go to stdout.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    /// Where the token cache is kept: `file`, a JSON file shared with MSAL
    /// Python and the other MSALs; or `keyring`, the OS keyring (the Secret
    /// Service on Linux: GNOME Keyring, KWallet), encrypted, where --cache
    /// names its signal file [default: file, or cache_store in the config
    /// file; file: --cache or $XDG_CACHE_HOME/msal/token_cache.json;
    /// keyring: --cache or $XDG_CACHE_HOME/msal/token_cache.keyring]. A
    /// redis:// --cache is a store of its own.
    #[arg(long, global = true, value_enum, env = "MSAL_CACHE_STORE")]
    cache_store: Option<cache_file::StoreKind>,
    /// With --cache-store keyring, where no keyring is reachable (no D-Bus
    /// session, as over SSH): keep the cache UNENCRYPTED in the --cache
    /// file, with a warning, instead of failing.
    #[arg(
        long,
        global = true,
        env = "MSAL_ALLOW_UNENCRYPTED_CACHE",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    allow_unencrypted_cache: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Get a token for an application (client credentials), a signed-in user (--account),
    /// on a user's behalf (--on-behalf-of) or a managed identity, from the cache when it
    /// holds one.
    ///
    /// The client secret is read from the MSAL_CLIENT_SECRET environment variable
    /// or from --client-secret-file (or a --certificate), never from a flag, which
    /// would show in `ps`; a cached application token needs none. Settings not given
    /// as flags come from the environment, then the config file, then `msal login`.
    Token(Box<token::TokenArgs>),
    /// Sign a user in (browser, device code or password), or an application (--app, a secret
    /// or a certificate), and keep the tokens in the token cache.
    ///
    /// By default opens the system browser at the sign-in page (with --no-browser, or when no
    /// browser opens, prints the URL on stderr instead) and waits for the redirect
    /// to http://localhost:PORT. The tokens and the account go to the cache file,
    /// which is written only when it changed. --device-code signs in on another
    /// device (shows a code, waits with the time left; Ctrl-C stops); --username
    /// signs in with a password from MSAL_PASSWORD or a no-echo prompt. --app (implied by
    /// --client-secret-file and --certificate) signs the application in with client
    /// credentials instead and prints "Signed in as the application ID (tenant TENANT)".
    ///
    /// Prints "Signed in as USER (home account id ID)" on stdout; no token is printed
    /// unless --json is given, which prints the result (access token included) and
    /// the account as JSON. Exit codes as every command (README, "Exit codes"): 0 signed
    /// in, 1 sign-in failed or timed out, 2 invalid arguments or an unusable cache (checked
    /// before signing in), 4 network, TLS or an unreachable Redis cache, 130 cancelled.
    Login(login::LoginArgs),
    /// List the accounts in the token cache (no network requests).
    ///
    /// Text: one line per account, tab-separated: username, home account id,
    /// environment, realm. --json: an array of accounts with MSAL Python's field names.
    Accounts(accounts::AccountsArgs),
    /// Sign an account out: remove its tokens and account entry from the token cache
    /// (no network requests).
    ///
    /// Exit code 2 when no account has that username.
    Logout(accounts::LogoutArgs),
    /// Who is signed in, with which tokens until when (no network requests).
    ///
    /// Exit code 3 when nobody is signed in.
    Status(status::StatusArgs),
    /// Show a JWT's header and claims (not validated), from an argument or stdin.
    Decode(decode::DecodeArgs),
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell).
    ///
    /// For bash: `msal completions bash > ~/.local/share/bash-completion/completions/msal`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Run the local Entra ID emulator over HTTPS on 127.0.0.1.
    ///
    /// Prints one JSON line when ready: {"url": "https://127.0.0.1:PORT", "ca_cert": "PATH",
    /// "admin_token": "TOKEN" (for /_admin/...), "service_fabric_ca_cert": "PATH", "arc_token_directory": "DIR", "managed_identity":
    /// {"imds": {ENV VARS}, "app_service": {...}, ...}} (each managed identity host's variables).
    /// Then logs one line per request on stderr (method, path, status, grant
    /// type, client id, client-request-id, duration; never secrets).
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
    /// Print the JSON Schema of --config files.
    Schema,
    /// Drive a running emulator over its admin endpoints.
    Admin(Box<emulator::admin::AdminArgs>),
}

/// Where the CA certificate goes when --cert-out is not given.
fn default_ca_path(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("msal-emulator-{port}-ca.pem"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serves_emulator = matches!(
        &cli.command,
        Command::Emulator(EmulatorCommand { action: None, .. })
    );
    logging::init(cli.verbose, serves_emulator);
    // Serving (the emulator, the demo's embedded one) uses every core; a
    // client command makes one request at a time, and a process that
    // starts no worker threads is served from the cache sooner.
    let mut builder = if serves_emulator || matches!(cli.command, Command::Demo) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let store = cache_file::StoreChoice {
        kind: cli.cache_store,
        allow_unencrypted: cli.allow_unencrypted_cache,
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Token(args) => token::run(*args, store).await,
            Command::Login(args) => login::run(args, store).await,
            Command::Accounts(args) => accounts::run_accounts(args, store).await,
            Command::Logout(args) => accounts::run_logout(args, store).await,
            Command::Emulator(EmulatorCommand {
                action: Some(EmulatorAction::Defaults),
                ..
            }) => emulator::print_defaults(),
            Command::Emulator(EmulatorCommand {
                action: Some(EmulatorAction::Schema),
                ..
            }) => emulator::print_schema(),
            Command::Emulator(EmulatorCommand {
                action: Some(EmulatorAction::Admin(args)),
                ..
            }) => emulator::admin::run(*args).await,
            Command::Emulator(EmulatorCommand { action: None, run }) => emulator::run(run).await,
            Command::Demo => demo::run().await,
            Command::Decode(args) => decode::run(args),
            Command::Status(args) => status::run(args, store).await,
            Command::Completions { shell } => {
                let mut command = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(shell, &mut command, "msal", &mut std::io::stdout());
                Ok(())
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
