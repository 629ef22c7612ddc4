//! `msal emulator admin ...`: drives a running emulator over its admin
//! endpoints (`/_admin/...`, see the emulator's `admin` module): revokes a
//! user's sessions, moves the clock, injects and clears faults, adds apps
//! and users, lists the directory, rolls the signing keys.
//!
//! The admin token (the ready line's `admin_token`) is read from
//! `MSAL_EMULATOR_ADMIN_TOKEN` or `--admin-token-file`, never from a flag
//! (which `ps` would show); so are the secrets and passwords that
//! `add-app` and `add-user` take as flags. Exit codes as every command:
//! 2 bad input (the emulator's 4xx refusals included), 4 network or TLS
//! (and the emulator's 5xx).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::output::{exit, outln};

/// The environment variable holding the admin token.
pub(crate) const ADMIN_TOKEN_ENV: &str = "MSAL_EMULATOR_ADMIN_TOKEN";

/// The environment variable holding a secret for `add-app`.
const APP_SECRET_ENV: &str = "MSAL_CLIENT_SECRET";

/// The environment variable holding a password for `add-user`.
const PASSWORD_ENV: &str = "MSAL_PASSWORD";

/// Longest admin token, secret or JSON file read (a directory entry is small).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Arguments of `msal emulator admin`.
#[derive(Args)]
pub(crate) struct AdminArgs {
    /// The emulator's URL (the ready line's `url`).
    #[arg(long, env = "MSAL_EMULATOR_URL", value_name = "URL")]
    url: String,
    /// The emulator's CA certificate (the ready line's `ca_cert`); the only
    /// certificate trusted.
    #[arg(long, env = "MSAL_EMULATOR_CA_CERT", value_name = "PATH")]
    ca_cert: PathBuf,
    /// File holding the admin token (instead of the MSAL_EMULATOR_ADMIN_TOKEN
    /// environment variable).
    #[arg(long, value_name = "PATH")]
    admin_token_file: Option<PathBuf>,
    #[command(subcommand)]
    action: AdminAction,
}

#[derive(Subcommand)]
enum AdminAction {
    /// Revoke a user's sessions and refresh tokens, as an administrator's
    /// "revoke sessions": refresh tokens stop working, browser sessions end,
    /// and access tokens issued before now fail the resource's check.
    Revoke {
        /// The user's UPN.
        #[arg(long, value_name = "UPN")]
        user: String,
    },
    /// Move the emulator's clock forward (codes, sessions and tokens expire).
    AdvanceClock {
        /// How far, in seconds.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        seconds: u64,
    },
    /// Inject or clear faults.
    Fault {
        #[command(subcommand)]
        action: FaultAction,
    },
    /// Add an app registration, from a JSON file (an `apps` entry of the
    /// config) or from flags; a secret comes from MSAL_CLIENT_SECRET or
    /// --client-secret-file.
    AddApp(AddAppArgs),
    /// Add a user, from a JSON file (a `users` entry of the config) or
    /// from flags; the password comes from MSAL_PASSWORD or --password-file.
    AddUser(AddUserArgs),
    /// Print the directory being served (apps and users added included).
    Directory,
    /// Roll the token-signing keys over: the published next key signs from
    /// now on; tokens signed before still verify until the roll after.
    RollKeys,
}

#[derive(Subcommand)]
enum FaultAction {
    /// Add a fault: --json (the fault's JSON form, or @FILE) or --kind with
    /// its parameters.
    Add(FaultArgs),
    /// List the active faults.
    List,
    /// Clear every fault.
    Clear,
}

#[derive(Args)]
struct FaultArgs {
    /// The fault (or an array of them) as JSON, or @FILE to read it from a file.
    #[arg(long, conflicts_with_all = ["kind", "status", "retry_after", "millis", "client_id", "count", "endpoint"])]
    json: Option<String>,
    /// What happens: too_many_requests, server_error, latency,
    /// drop_connection, status, not_json, missing_access_token,
    /// wrong_identity, arc_key_outside_directory, arc_key_too_large,
    /// arc_key_missing.
    #[arg(long, required_unless_present = "json")]
    kind: Option<String>,
    /// The HTTP status (server_error, status).
    #[arg(long)]
    status: Option<u16>,
    /// Seconds for Retry-After (too_many_requests).
    #[arg(long)]
    retry_after: Option<u64>,
    /// Added latency in milliseconds (latency).
    #[arg(long)]
    millis: Option<u64>,
    /// Only requests of this client id.
    #[arg(long)]
    client_id: Option<String>,
    /// Only this many requests (default: until cleared).
    #[arg(long)]
    count: Option<u32>,
    /// The endpoint: token (default) or a managed identity one (imds,
    /// imds_instance, app_service, azure_ml, service_fabric, azure_arc,
    /// cloud_shell).
    #[arg(long)]
    endpoint: Option<String>,
}

#[derive(Args)]
struct AddAppArgs {
    /// The app's JSON form, from a file.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["client_id", "tenant", "display_name", "public", "multi_tenant", "redirect_uri", "client_secret_file"])]
    file: Option<PathBuf>,
    /// Application (client) id, a GUID.
    #[arg(long, required_unless_present = "file")]
    client_id: Option<String>,
    /// Home tenant: name, domain or GUID.
    #[arg(long, required_unless_present = "file")]
    tenant: Option<String>,
    /// Display name.
    #[arg(long)]
    display_name: Option<String>,
    /// A public client (desktop, mobile, CLI): no secret.
    #[arg(long)]
    public: bool,
    /// Usable by every tenant's users.
    #[arg(long)]
    multi_tenant: bool,
    /// A redirect URI (repeatable).
    #[arg(long)]
    redirect_uri: Vec<String>,
    /// File holding the client secret (instead of MSAL_CLIENT_SECRET).
    #[arg(long, value_name = "PATH")]
    client_secret_file: Option<PathBuf>,
}

#[derive(Args)]
struct AddUserArgs {
    /// The user's JSON form, from a file.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["upn", "tenant", "display_name", "object_id", "password_file"])]
    file: Option<PathBuf>,
    /// User principal name (name@domain, a domain of the tenant).
    #[arg(long, required_unless_present = "file")]
    upn: Option<String>,
    /// The user's tenant: name, domain or GUID.
    #[arg(long, required_unless_present = "file")]
    tenant: Option<String>,
    /// Display name.
    #[arg(long)]
    display_name: Option<String>,
    /// Object id, a GUID [default: a fresh one].
    #[arg(long)]
    object_id: Option<String>,
    /// File holding the password (instead of MSAL_PASSWORD).
    #[arg(long, value_name = "PATH")]
    password_file: Option<PathBuf>,
}

/// Why a command failed, and its exit code.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn bad_input(message: impl Into<String>) -> Failure {
        Failure {
            code: exit::BAD_INPUT,
            message: message.into(),
        }
    }

    fn network(message: impl Into<String>) -> Failure {
        Failure {
            code: exit::NETWORK,
            message: message.into(),
        }
    }
}

/// Runs `msal emulator admin ...`.
pub(crate) async fn run(args: AdminArgs) -> Result<(), ExitCode> {
    match execute(args).await {
        Ok(body) => {
            outln!("{body}");
            Ok(())
        }
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            Err(ExitCode::from(failure.code))
        }
    }
}

async fn execute(args: AdminArgs) -> Result<Value, Failure> {
    let token = admin_token(args.admin_token_file.as_deref())?;
    let base = url::Url::parse(&args.url)
        .ok()
        .filter(|u| u.scheme() == "https" && u.host_str().is_some())
        .ok_or_else(|| Failure::bad_input(format!("--url '{}' is not an https URL", args.url)))?;
    let ca = read_small(&args.ca_cert, "--ca-cert")?;
    let ca = reqwest::Certificate::from_pem(ca.as_bytes())
        .map_err(|e| Failure::bad_input(format!("--ca-cert {}: {e}", args.ca_cert.display())))?;
    let http = reqwest::Client::builder()
        .tls_certs_only([ca])
        .no_proxy()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| Failure::network(format!("cannot set up the HTTP client: {e}")))?;
    let (method, path, body) = request_for(args.action)?;
    let url = base
        .join(path)
        .map_err(|e| Failure::bad_input(format!("--url: {e}")))?;
    let mut request = http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.map_err(|e| {
        Failure::network(format!(
            "cannot reach the emulator at {}: {}",
            args.url,
            chain(&e)
        ))
    })?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| Failure::network(format!("reading the emulator's answer: {e}")))?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_success() {
        return Ok(body);
    }
    let reason = body["error_description"]
        .as_str()
        .map_or_else(|| body.to_string(), str::to_owned);
    let message = format!("the emulator refused ({status}): {reason}");
    if status.is_server_error() {
        Err(Failure::network(message))
    } else {
        Err(Failure::bad_input(message))
    }
}

/// The method, path and body of the admin request for `action`.
fn request_for(action: AdminAction) -> Result<(reqwest::Method, &'static str, Option<Value>), Failure> {
    use reqwest::Method;
    Ok(match action {
        AdminAction::Revoke { user } => (Method::POST, "/_admin/revoke", Some(json!({ "upn": user }))),
        AdminAction::AdvanceClock { seconds } => (
            Method::POST,
            "/_admin/clock",
            Some(json!({ "advance_seconds": seconds })),
        ),
        AdminAction::Fault { action } => match action {
            FaultAction::Add(fault) => (Method::POST, "/_admin/faults", Some(fault_json(fault)?)),
            FaultAction::List => (Method::GET, "/_admin/faults", None),
            FaultAction::Clear => (Method::DELETE, "/_admin/faults", None),
        },
        AdminAction::AddApp(app) => (Method::POST, "/_admin/apps", Some(app_json(app)?)),
        AdminAction::AddUser(user) => (Method::POST, "/_admin/users", Some(user_json(user)?)),
        AdminAction::Directory => (Method::GET, "/_admin/directory", None),
        AdminAction::RollKeys => (Method::POST, "/_admin/keys/roll", None),
    })
}

fn fault_json(args: FaultArgs) -> Result<Value, Failure> {
    if let Some(text) = args.json {
        let text = match text.strip_prefix('@') {
            Some(path) => read_small(Path::new(path), "--json @FILE")?,
            None => text,
        };
        return serde_json::from_str(&text).map_err(|e| Failure::bad_input(format!("--json: {e}")));
    }
    let mut fault = serde_json::Map::new();
    fault.insert("kind".into(), json!(args.kind));
    let optional = [
        ("status", args.status.map(Value::from)),
        ("retry_after", args.retry_after.map(Value::from)),
        ("millis", args.millis.map(Value::from)),
        ("client_id", args.client_id.map(Value::from)),
        ("count", args.count.map(Value::from)),
        ("endpoint", args.endpoint.map(Value::from)),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            fault.insert(name.into(), value);
        }
    }
    Ok(Value::Object(fault))
}

fn app_json(args: AddAppArgs) -> Result<Value, Failure> {
    if let Some(path) = args.file {
        return json_file(&path);
    }
    let secret = if args.public {
        None
    } else {
        Some(secret(
            args.client_secret_file.as_deref(),
            APP_SECRET_ENV,
            "--client-secret-file",
        )?)
    };
    Ok(json!({
        "client_id": args.client_id,
        "tenant": args.tenant,
        "display_name": args.display_name.unwrap_or_default(),
        "kind": if args.public { "public" } else { "confidential" },
        "multi_tenant": args.multi_tenant,
        "redirect_uris": args.redirect_uri,
        "secrets": secret.into_iter().collect::<Vec<_>>(),
    }))
}

fn user_json(args: AddUserArgs) -> Result<Value, Failure> {
    if let Some(path) = args.file {
        return json_file(&path);
    }
    let password = secret(args.password_file.as_deref(), PASSWORD_ENV, "--password-file")?;
    Ok(json!({
        "upn": args.upn,
        "tenant": args.tenant,
        "password": password,
        "display_name": args.display_name.unwrap_or_default(),
        "object_id": args.object_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
    }))
}

/// The admin token, from `--admin-token-file` or the environment.
fn admin_token(file: Option<&Path>) -> Result<String, Failure> {
    secret(file, ADMIN_TOKEN_ENV, "--admin-token-file")
}

/// A secret from `file` (trimmed) or else the environment variable `env`.
fn secret(file: Option<&Path>, env: &str, flag: &str) -> Result<String, Failure> {
    let value = match file {
        Some(path) => read_small(path, flag)?,
        None => std::env::var(env).unwrap_or_default(),
    };
    let value = value.trim().to_owned();
    if value.is_empty() {
        return Err(Failure::bad_input(format!("no value: set {env} or pass {flag}")));
    }
    Ok(value)
}

fn json_file(path: &Path) -> Result<Value, Failure> {
    let text = read_small(path, "--file")?;
    serde_json::from_str(&text).map_err(|e| Failure::bad_input(format!("--file {}: {e}", path.display())))
}

/// Reads a small text file, naming `what` on failure.
fn read_small(path: &Path, what: &str) -> Result<String, Failure> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::bad_input(format!("{what} {}: {e}", path.display())))?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| Failure::bad_input(format!("{what} {}: {e}", path.display())))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(Failure::bad_input(format!(
            "{what} {}: larger than {MAX_FILE_BYTES} bytes",
            path.display()
        )));
    }
    Ok(text)
}

/// An error with its causes (reqwest hides the useful part in its sources).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
