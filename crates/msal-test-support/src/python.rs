//! Runs the real MSAL Python (pinned, in a venv that `scripts/python-venv`
//! builds) against the emulator, trusting only the emulator's CA. The peer
//! scripts and the pinned requirements live in this crate's `python/`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use msal_emulator::Emulator;
use serde_json::Value;

use crate::{Context, Failure, Result};

/// The venv's interpreter: `MSAL_PYTHON` when set, else the venv is built
/// (once per process; `scripts/python-venv` locks against other processes).
pub fn interpreter() -> Result<PathBuf> {
    static PYTHON: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(python) = std::env::var_os("MSAL_PYTHON") {
                return Ok(PathBuf::from(python));
            }
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/python-venv");
            let out = Command::new(&script)
                .output()
                .map_err(|e| format!("running {}: {e}", script.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "building the MSAL Python venv failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        })
        .clone()
        .map_err(Failure::new)
}

/// How long one peer run may take before the test fails instead of hanging.
const PEER_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `script` (in this crate's `python/`) with `args` as JSON and the
/// secret in the environment (none for public clients); returns the JSON
/// line it prints last.
///
/// The peer runs on a blocking thread so that the in-process emulator, on the
/// test's runtime, keeps serving it; it is killed after [`PEER_TIMEOUT`].
pub async fn run(emulator: &Emulator, script: &str, args: &Value, secret: Option<&str>) -> Result<Value> {
    run_with_env(emulator, script, args, secret, &[]).await
}

/// The variables managed identity hosts set: a peer never inherits them
/// from the machine, only gets those a test gives it.
const HOST_VARIABLES: [&str; 9] = [
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZUREPS_HOST_ENVIRONMENT",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "DEFAULT_IDENTITY_CLIENT_ID",
];

/// [`run`], with `env` added to the peer's environment (a managed identity
/// host's variables; the machine's own are removed first).
pub async fn run_with_env(
    emulator: &Emulator,
    script: &str,
    args: &Value,
    secret: Option<&str>,
    env: &[(String, String)],
) -> Result<Value> {
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let ca = dir.path().join("emulator-ca.pem");
    emulator.write_ca_cert(&ca).context("writing the emulator's CA")?;
    run_trusting(&ca, script, args, secret, env).await
}

/// [`run_with_env`] against any HTTPS server: the peer trusts only the CA
/// in the PEM file `ca` (another identity provider's, such as
/// [`crate::oidc_provider`]'s).
pub async fn run_trusting(
    ca: &Path,
    script: &str,
    args: &Value,
    secret: Option<&str>,
    env: &[(String, String)],
) -> Result<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python").join(script);
    let mut command = Command::new(interpreter()?);
    command
        .arg(&script)
        .arg(args.to_string())
        // This machine points these at the system bundle; the peer must trust the server's CA.
        .env("REQUESTS_CA_BUNDLE", ca)
        .env("SSL_CERT_FILE", ca)
        .env("CURL_CA_BUNDLE", ca)
        .env_remove("MSAL_CLIENT_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(secret) = secret {
        command.env("MSAL_CLIENT_SECRET", secret);
    }
    for name in HOST_VARIABLES {
        command.env_remove(name);
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    let out = tokio::task::spawn_blocking(move || run_with_timeout(command))
        .await
        .context("the peer's thread")??;
    Failure::unless(out.status.success(), || {
        format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| Failure::new(format!("not JSON ({e}): {stdout}")))
}

fn run_with_timeout(mut command: Command) -> Result<Output> {
    let mut child = command.spawn().context("starting python")?;
    // Drain the pipes on their own threads so a chatty peer cannot block on a full pipe.
    let stdout = drain(child.stdout.take().context("python's stdout")?);
    let stderr = drain(child.stderr.take().context("python's stderr")?);
    let status = wait_until(&mut child, Instant::now() + PEER_TIMEOUT)?;
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// Waits for `child` to exit, killing it at `deadline`.
fn wait_until(child: &mut Child, deadline: Instant) -> Result<std::process::ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().context("waiting on python")? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failure::new(format!(
                "the MSAL Python peer did not finish within {PEER_TIMEOUT:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
