//! Running the Node peers in `node/` (pinned in its `package-lock.json`,
//! installed by `scripts/test` with `npm ci`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::{Context, Failure, Result};

/// How long one peer run may take.
const PEER_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `script` (in this crate's `node/`) with `args` as JSON; returns
/// the JSON line it prints last. Off the async runtime, killed after a minute.
pub async fn run(script: &str, args: &Value) -> Result<Value> {
    run_with_env(script, args, &[]).await
}

/// [`run`], with `env` added to the peer's environment (`NODE_EXTRA_CA_CERTS`
/// for the emulator's CA: this machine sets it to the system bundle).
pub async fn run_with_env(script: &str, args: &Value, env: &[(&str, &Path)]) -> Result<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("node");
    if !dir.join("node_modules").is_dir() {
        return Err(Failure::new(format!(
            "{}/node_modules is missing: run scripts/test (it runs npm ci there)",
            dir.display()
        )));
    }
    let mut command = Command::new("node");
    command
        .arg(dir.join(script))
        .arg(args.to_string())
        .current_dir(&dir)
        .env_remove("NODE_EXTRA_CA_CERTS")
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = tokio::task::spawn_blocking(move || -> Result<std::process::Output> {
        let child = command.spawn().context("starting node")?;
        let id = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(PEER_TIMEOUT) {
            Ok(output) => output.context("running node"),
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-s", "KILL", "--", &id.to_string()])
                    .status();
                Err(Failure::new(format!(
                    "the Node peer did not finish within {PEER_TIMEOUT:?}"
                )))
            }
        }
    })
    .await
    .context("the Node peer's thread")??;
    Failure::unless(output.status.success(), || {
        format!("{script} failed: {}", String::from_utf8_lossy(&output.stderr))
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| Failure::new(format!("not JSON ({e}): {stdout}")))
}
