//! Runs the real MSAL Python (pinned, in a venv that `scripts/python-venv`
//! builds) against the emulator, trusting only the emulator's CA.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use msal_emulator::Emulator;
use serde_json::Value;

/// The venv's interpreter: `MSAL_PYTHON` when set, else the venv is built (once).
pub fn interpreter() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(python) = std::env::var_os("MSAL_PYTHON") {
                return PathBuf::from(python);
            }
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/python-venv");
            let out = Command::new(&script).output().expect("scripts/python-venv runs");
            assert!(
                out.status.success(),
                "building the MSAL Python venv failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        })
        .clone()
}

/// How long one peer run may take before the test fails instead of hanging.
const PEER_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `script` (in tests/python) with `args` as JSON and the secret in the
/// environment (none for public clients); returns the JSON line it prints.
///
/// The peer runs on a blocking thread so that the in-process emulator, on the
/// test's runtime, keeps serving it; it is killed after [`PEER_TIMEOUT`].
pub async fn run(emulator: &Emulator, script: &str, args: &Value, secret: Option<&str>) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("emulator-ca.pem");
    emulator.write_ca_cert(&ca).expect("CA written");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let mut command = Command::new(interpreter());
    command
        .arg(&script)
        .arg(args.to_string())
        // This machine points these at the system bundle; the peer must trust the emulator's CA.
        .env("REQUESTS_CA_BUNDLE", &ca)
        .env("SSL_CERT_FILE", &ca)
        .env("CURL_CA_BUNDLE", &ca)
        .env_remove("MSAL_CLIENT_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(secret) = secret {
        command.env("MSAL_CLIENT_SECRET", secret);
    }
    let out = tokio::task::spawn_blocking(move || run_with_timeout(command))
        .await
        .expect("peer thread");
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn run_with_timeout(mut command: Command) -> Output {
    let mut child = command.spawn().expect("python starts");
    // Drain the pipes on their own threads so a chatty peer cannot block on a full pipe.
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + PEER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait on python") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the MSAL Python peer did not finish within {PEER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    }
}
