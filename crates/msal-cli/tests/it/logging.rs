//! Logs on stderr, end to end with the real binary: `msal emulator`'s access
//! lines (one per request, never a secret), and `msal --verbose` / `RUST_LOG`
//! showing each request the library sends with the correlation id the
//! emulator saw. Stdout keeps only what scripts read.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

const MSAL: &str = env!("CARGO_BIN_EXE_msal");
const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";
/// How long to wait for a log line to show up on the emulator's stderr.
const LOG_DEADLINE: Duration = Duration::from_secs(20);

/// `msal emulator` in the background with stderr collected line by line;
/// killed on drop.
struct EmulatorProcess {
    child: Child,
    url: String,
    ca_cert: String,
    stderr: Arc<Mutex<Vec<String>>>,
    /// Everything on stdout after the ready line (read until the process ends).
    stdout_rest: Option<JoinHandle<String>>,
}

impl EmulatorProcess {
    fn start(dir: &Path) -> EmulatorProcess {
        let cert_out = dir.join("ca.pem");
        let mut child = Command::new(MSAL)
            .args(["emulator", "--port", "0", "--cert-out"])
            .arg(&cert_out)
            // Not the machine's Azure Arc agent directory.
            .arg("--arc-token-directory")
            .arg(dir.join("arc-tokens"))
            // The default: no RUST_LOG, no --verbose.
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("msal emulator starts");
        let stderr_pipe = child.stderr.take().expect("stderr");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut ready = String::new();
        stdout.read_line(&mut ready).expect("ready line");
        let ready_json: Value = serde_json::from_str(&ready).unwrap_or_else(|e| panic!("{e}: {ready:?}"));
        let stdout_rest = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = stdout.read_to_string(&mut rest);
            rest
        });
        EmulatorProcess {
            child,
            url: ready_json["url"].as_str().expect("url").to_owned(),
            ca_cert: ready_json["ca_cert"].as_str().expect("ca_cert").to_owned(),
            stderr,
            stdout_rest: Some(stdout_rest),
        }
    }

    /// The access lines logged so far.
    fn access_lines(&self) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("msal_emulator::access"))
            .cloned()
            .collect()
    }

    /// Everything on stderr so far.
    fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Waits until at least `count` access lines were logged.
    fn wait_for_access_lines(&self, count: usize) -> Vec<String> {
        let started = Instant::now();
        loop {
            let lines = self.access_lines();
            if lines.len() >= count {
                return lines;
            }
            assert!(
                started.elapsed() < LOG_DEADLINE,
                "expected {count} access lines, got {lines:#?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the emulator; returns what it printed on stdout after the ready line.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stdout_rest
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A built-in app granted roles on Microsoft Graph: (client id, secret).
fn daemon_app() -> (String, String) {
    let out = Command::new(MSAL)
        .args(["emulator", "defaults"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let directory: Value = serde_json::from_slice(&out.stdout).unwrap();
    let app = directory["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["app_permissions"]
                .to_string()
                .contains("https://graph.microsoft.com")
        })
        .expect("an app with Graph permissions");
    (
        app["client_id"].as_str().unwrap().to_owned(),
        app["secrets"][0].as_str().unwrap().to_owned(),
    )
}

/// The value of `name=` in a `tracing` fmt line (an event's field or a
/// span's, `span{name=value ...}`), quoted or not.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=");
    let start = line
        .match_indices(&key)
        .find(|(at, _)| *at > 0 && matches!(line.as_bytes()[at - 1], b' ' | b'{' | b','))?
        .0
        + key.len();
    let rest = &line[start..];
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next(),
        None => rest.split([' ', '}', ',']).next(),
    }
}

/// Whether `text` looks like a hyphenated UUID.
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[tokio::test(flavor = "multi_thread")]
async fn emulator_logs_one_access_line_per_request_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = EmulatorProcess::start(dir.path());
    let (client_id, secret) = daemon_app();
    let ca_pem = std::fs::read_to_string(&emulator.ca_cert).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let request_id = "0f6a3c9e-5a41-4c1e-9b7d-2d1f4e8a6b10";
    let token_url = format!("{}/contoso/oauth2/v2.0/token", emulator.url);

    let reply = http
        .post(&token_url)
        .header("client-request-id", request_id)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", GRAPH_DEFAULT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: Value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap();
    let access_token = body["access_token"].as_str().unwrap().to_owned();

    // A refused secret, and a query string carrying something secret-looking.
    let refused = http
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", "wrong-secret-never-logged"),
            ("scope", GRAPH_DEFAULT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let authorize = http
        .get(format!(
            "{}/contoso/oauth2/v2.0/authorize?client_id={client_id}&code=query-code-never-logged",
            emulator.url
        ))
        .send()
        .await
        .unwrap();
    let authorize_status = authorize.status().as_u16();

    let lines = emulator.wait_for_access_lines(3);
    let token_line = &lines[0];
    assert!(token_line.contains(" INFO "), "{token_line}");
    assert_eq!(field(token_line, "method"), Some("POST"), "{token_line}");
    assert_eq!(
        field(token_line, "path"),
        Some("/contoso/oauth2/v2.0/token"),
        "{token_line}"
    );
    assert_eq!(field(token_line, "status"), Some("200"), "{token_line}");
    assert_eq!(
        field(token_line, "grant"),
        Some("client_credentials"),
        "{token_line}"
    );
    assert_eq!(
        field(token_line, "client_id"),
        Some(client_id.as_str()),
        "{token_line}"
    );
    assert_eq!(
        field(token_line, "correlation_id"),
        Some(request_id),
        "{token_line}"
    );
    let duration: f64 = field(token_line, "duration_ms")
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no duration_ms in {token_line}"));
    assert!(duration >= 0.0);

    let refused_line = &lines[1];
    assert_eq!(field(refused_line, "status"), Some("401"), "{refused_line}");
    assert_eq!(
        field(refused_line, "client_id"),
        Some(client_id.as_str()),
        "{refused_line}"
    );

    let authorize_line = &lines[2];
    assert_eq!(field(authorize_line, "method"), Some("GET"), "{authorize_line}");
    assert_eq!(
        field(authorize_line, "path"),
        Some("/contoso/oauth2/v2.0/authorize"),
        "{authorize_line}"
    );
    assert_eq!(
        field(authorize_line, "status"),
        Some(authorize_status.to_string().as_str()),
        "{authorize_line}"
    );
    assert_eq!(field(authorize_line, "grant"), None, "{authorize_line}");

    let stderr = emulator.stderr_text();
    for secret_text in [
        secret.as_str(),
        access_token.as_str(),
        "wrong-secret-never-logged",
        "query-code-never-logged",
        "client_secret",
        "?",
    ] {
        assert!(
            !stderr.contains(secret_text),
            "{secret_text:?} on stderr:\n{stderr}"
        );
    }
    // Stdout keeps exactly the ready line: nothing was printed after it.
    assert_eq!(emulator.stop(), "");
}

/// `msal token` for the daemon app with `args` (before the subcommand) and
/// `envs`, with no RUST_LOG inherited unless given.
fn token(
    emulator: &EmulatorProcess,
    app: &(String, String),
    cache: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> Output {
    let mut command = Command::new(MSAL);
    command
        .env_remove("RUST_LOG")
        .args(args)
        .args(["token", "--authority", &format!("{}/contoso", emulator.url)])
        .args([
            "--client-id",
            &app.0,
            "--scope",
            GRAPH_DEFAULT,
            "--ca-cert",
            &emulator.ca_cert,
            "--json",
        ])
        .arg("--cache")
        .arg(cache)
        .env("MSAL_CLIENT_SECRET", &app.1);
    for (name, value) in envs {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// Runs `msal token` logging as `args`/`envs` say, and checks its stderr
/// shows every request the emulator served for it, each with the
/// correlation id the emulator saw (a UUID), and no secret.
fn check_logged_requests(
    emulator: &EmulatorProcess,
    app: &(String, String),
    cache: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
) {
    let before = emulator.access_lines().len();
    let out = token(emulator, app, cache, args, envs);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    // Stdout is the JSON result alone: no log line leaked into it.
    let result: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(result["token_source"], "identity_provider");
    let access_token = result["access_token"].as_str().unwrap();

    // Discovery (instance and OpenID configuration) and the token request.
    let served: Vec<String> = emulator.wait_for_access_lines(before + 3)[before..].to_vec();
    assert!(
        served
            .iter()
            .any(|l| field(l, "path").is_some_and(|p| p.ends_with("/oauth2/v2.0/token"))),
        "{served:#?}"
    );
    for line in &served {
        let path = field(line, "path").unwrap_or_else(|| panic!("no path in {line}"));
        let correlation_id =
            field(line, "correlation_id").unwrap_or_else(|| panic!("msal sent no client-request-id: {line}"));
        assert!(is_uuid(correlation_id), "{line}");
        // The library logs the request: its endpoint (this path) and the
        // same correlation id, on one line (span fields or event fields).
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(path) && field(l, "correlation_id") == Some(correlation_id)),
            "no log line for {path} with correlation_id={correlation_id} on msal's stderr \
             (args {args:?}, env {envs:?}):\n{stderr}"
        );
    }
    // Every request line of the library (its endpoint, and the purpose or
    // the response status) carries a UUID-shaped correlation id.
    let request_lines = stderr.lines().filter(|l| {
        field(l, "endpoint").is_some() && (field(l, "purpose").is_some() || field(l, "status").is_some())
    });
    for line in request_lines {
        assert!(
            field(line, "correlation_id").is_some_and(is_uuid),
            "no correlation id on {line}"
        );
    }
    for secret_text in [app.1.as_str(), access_token] {
        assert!(
            !stderr.contains(secret_text),
            "a secret is on stderr (args {args:?}, env {envs:?}):\n{stderr}"
        );
    }
}

#[test]
fn verbose_and_rust_log_show_each_request_with_its_correlation_id_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = EmulatorProcess::start(dir.path());
    let app = daemon_app();

    check_logged_requests(
        &emulator,
        &app,
        &dir.path().join("cache-vvv.json"),
        &["--verbose", "--verbose", "--verbose"],
        &[],
    );
    check_logged_requests(
        &emulator,
        &app,
        &dir.path().join("cache-rust-log.json"),
        &[],
        &[("RUST_LOG", "msal=trace")],
    );
    // RUST_LOG wins over -vvv: here it silences everything.
    let quiet = token(
        &emulator,
        &app,
        &dir.path().join("cache-off.json"),
        &["-vvv"],
        &[("RUST_LOG", "off")],
    );
    assert!(quiet.status.success());
    assert_eq!(String::from_utf8_lossy(&quiet.stderr), "");
    // By default (warnings only) a successful call prints nothing on stderr.
    let default = token(&emulator, &app, &dir.path().join("cache-default.json"), &[], &[]);
    assert!(default.status.success());
    assert_eq!(String::from_utf8_lossy(&default.stderr), "");
}
