//! `msal login`, `msal accounts` and `msal logout` end to end: the emulator
//! runs in-process, the real `msal` binary signs users in with
//! `--no-browser`, and the test plays the browser with reqwest (sign-in page,
//! credentials, then the auto-submitted form_post back to the CLI's loopback
//! listener).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use msal_emulator::{Emulator, EmulatorConfig, Endpoint, builtin};
use msal_test_support::user::{self, DeviceDecision, SignedIn, User};
use msal_test_support::{start, start_with};
use serde_json::Value;

const MSAL: &str = env!("CARGO_BIN_EXE_msal");
/// No child may outlive this: a hung sign-in fails the test instead of hanging it.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

/// A running `msal` whose stderr lines arrive on a channel as they are written.
pub(crate) struct Running {
    child: Child,
    stderr_lines: Receiver<String>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
    started: Instant,
}

/// What a finished `msal` left behind.
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Running {
    pub(crate) fn spawn(command: &mut Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("msal starts");
        let mut stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, stderr_lines) = mpsc::channel();
        let stderr = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
            all
        });
        let stdout = std::thread::spawn(move || {
            let mut all = String::new();
            let _ = stdout.read_to_string(&mut all);
            all
        });
        Running {
            child,
            stderr_lines,
            stdout: Some(stdout),
            stderr: Some(stderr),
            started: Instant::now(),
        }
    }

    /// The sign-in URL the CLI prints with --no-browser.
    pub(crate) fn sign_in_url(&self) -> String {
        let mut seen = Vec::new();
        loop {
            let left = CHILD_DEADLINE.saturating_sub(self.started.elapsed());
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) if line.starts_with("https://") => {
                    assert_eq!(
                        seen.last().map(String::as_str),
                        Some("Open this URL in a browser to sign in:"),
                        "{seen:?}"
                    );
                    return line;
                }
                Ok(line) => seen.push(line),
                Err(e) => panic!("no sign-in URL on stderr ({e}); got {seen:?}"),
            }
        }
    }

    /// Waits for the exit, killing the child at the deadline.
    pub(crate) fn finish(mut self) -> Finished {
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if self.started.elapsed() > CHILD_DEADLINE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("msal did not exit within {CHILD_DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Finished {
            status,
            stdout: self.stdout.take().unwrap().join().unwrap(),
            stderr: self.stderr.take().unwrap().join().unwrap(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failed assertion must not leave a child waiting for a redirect.
        let _ = self.child.kill();
    }
}

/// `msal` with a private cache directory, so nothing touches the real home.
pub(crate) fn msal(home: &Path) -> Command {
    crate::isolated(home)
}

/// Runs a short command (no sign-in) to completion.
pub(crate) fn run(home: &Path, args: &[&str]) -> Finished {
    Running::spawn(msal(home).args(args)).finish()
}

/// `msal login --username` for `username` of `tenant`, the password from
/// the environment, started (not waited for).
pub(crate) fn password_login(
    home: &Path,
    emulator: &Emulator,
    ca: &Path,
    tenant: &str,
    username: &str,
    password: &str,
) -> Running {
    Running::spawn(
        msal(home)
            .env("MSAL_PASSWORD", password)
            .args(["login", "--username", username, "--authority"])
            .arg(emulator.authority(tenant))
            .args([
                "--client-id",
                builtin::PUBLIC_CLIENT_ID,
                "--scope",
                "User.Read",
                "--ca-cert",
            ])
            .arg(ca),
    )
}

/// Does what a user's browser would: opens `url`, signs in, and lets the
/// auto-submitting form post the response to the CLI's loopback listener.
async fn play_browser(emulator: &Emulator, url: &str, username: &str, password: &str) {
    let user = User::new(emulator, username, password).unwrap();
    let SignedIn::FormPost(redirect) = user.sign_in(url).await.unwrap() else {
        panic!("the sign-in page answers with the form_post page");
    };
    assert!(
        redirect.action.starts_with("http://localhost:"),
        "{}",
        redirect.action
    );
    let names: Vec<&str> = redirect.fields.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"code") && names.contains(&"state"), "{names:?}");
    // The loopback listener is plain HTTP on this machine: any client will do.
    let delivered = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
        .post(&redirect.action)
        .form(&redirect.fields)
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status(), 200);
    assert!(
        delivered
            .text()
            .await
            .unwrap()
            .contains("Authentication complete")
    );
}

/// Signs `username` in through `msal login --no-browser` with `extra` arguments.
async fn login(
    emulator: &Emulator,
    home: &Path,
    ca: &Path,
    username: &str,
    password: &str,
    extra: &[&str],
) -> Finished {
    let authority = emulator.authority(builtin::CONTOSO_TENANT_NAME);
    let running = Running::spawn(
        msal(home)
            .args(["login", "--no-browser", "--authority", &authority])
            .args(["--client-id", builtin::PUBLIC_CLIENT_ID, "--scope", "User.Read"])
            .args(["--login-hint", username, "--timeout", "50"])
            .arg("--ca-cert")
            .arg(ca)
            .args(extra),
    );
    let url = running.sign_in_url();
    // The tenant's own authorization endpoint, as discovery names it.
    assert!(
        url.starts_with(&format!("{}/", emulator.url())) && url.contains("/oauth2/v2.0/authorize?"),
        "{url}"
    );
    play_browser(emulator, &url, username, password).await;
    running.finish()
}

pub(crate) fn json_of(out: &Finished) -> Value {
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

pub(crate) fn usernames(accounts: &Value) -> Vec<String> {
    let mut names: Vec<String> = accounts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_accounts_and_logout_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let emulator = start().await.unwrap();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    // The default location ($XDG_CACHE_HOME/msal/token_cache.json), named
    // explicitly for Alice and implied for everything else.
    let cache = home.join("xdg/msal/token_cache.json");
    let cache_arg = cache.to_str().unwrap();

    let alice = login(
        &emulator,
        home,
        &ca,
        builtin::ALICE_UPN,
        builtin::ALICE_PASSWORD,
        &["--cache", cache_arg, "--json"],
    )
    .await;
    let alice = json_of(&alice);
    assert_eq!(alice["account"]["username"], builtin::ALICE_UPN);
    assert_eq!(alice["token_source"], "identity_provider");
    assert_eq!(alice["token_type"], "Bearer");
    assert!(!alice["access_token"].as_str().unwrap().is_empty());
    // The access token was asked for; the refresh and ID tokens were not.
    assert!(alice.get("refresh_token").is_none() && alice.get("id_token").is_none());
    assert_eq!(alice["id_token_claims"]["preferred_username"], builtin::ALICE_UPN);
    let alice_hid = alice["account"]["home_account_id"].as_str().unwrap().to_owned();
    assert_eq!(
        alice_hid,
        format!("{}.{}", builtin::ALICE_OBJECT_ID, builtin::CONTOSO_TENANT_ID)
    );
    assert!(cache.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cache.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "the cache directory is owner-only");
    }

    // Listing and signing out read the file only: not one request.
    let requests = emulator.total_requests();
    let listed = json_of(&run(home, &["accounts", "--cache", cache_arg, "--json"]));
    assert_eq!(usernames(&listed), [builtin::ALICE_UPN]);
    assert_eq!(listed[0]["home_account_id"], alice_hid.as_str());
    assert_eq!(listed[0]["environment"], "127.0.0.1");
    assert_eq!(listed[0]["realm"], builtin::CONTOSO_TENANT_ID);
    assert_eq!(listed[0]["authority_type"], "MSSTS");

    // Bob through the default cache path, in text mode: no token on stdout.
    let bob = login(&emulator, home, &ca, builtin::BOB_UPN, builtin::BOB_PASSWORD, &[]).await;
    assert!(bob.status.success(), "{}", bob.stderr);
    let bob_hid = format!("{}.{}", builtin::BOB_OBJECT_ID, builtin::CONTOSO_TENANT_ID);
    assert_eq!(
        bob.stdout.trim(),
        format!("Signed in as {} (home account id {bob_hid})", builtin::BOB_UPN)
    );
    let requests_after_bob = emulator.total_requests();
    assert!(requests_after_bob > requests);

    let both = json_of(&run(home, &["accounts", "--json"]));
    assert_eq!(usernames(&both), [builtin::ALICE_UPN, builtin::BOB_UPN]);
    let text = run(home, &["accounts"]);
    assert!(text.status.success());
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", text.stdout);
    assert!(
        lines.contains(
            &format!(
                "{}\t{alice_hid}\t127.0.0.1\t{}",
                builtin::ALICE_UPN,
                builtin::CONTOSO_TENANT_ID
            )
            .as_str()
        ),
        "{lines:?}"
    );
    // Restricting to the emulator's cloud finds both; another cloud, none.
    let authority = emulator.authority("contoso");
    let here = json_of(&run(home, &["accounts", "--authority", &authority, "--json"]));
    assert_eq!(usernames(&here).len(), 2);
    let elsewhere = json_of(&run(
        home,
        &[
            "accounts",
            "--authority",
            "https://login.microsoftonline.com/common",
            "--json",
        ],
    ));
    assert_eq!(elsewhere, Value::Array(Vec::new()));

    // Usernames match case-insensitively, as in MSAL.
    let out = run(home, &["logout", "--account", &builtin::ALICE_UPN.to_uppercase()]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(
        out.stdout.trim(),
        format!("Signed out {} (home account id {alice_hid})", builtin::ALICE_UPN)
    );
    let left = json_of(&run(home, &["accounts", "--cache", cache_arg, "--json"]));
    assert_eq!(usernames(&left), [builtin::BOB_UPN]);

    let before = std::fs::read_to_string(&cache).unwrap();
    let unknown = run(home, &["logout", "--account", "nobody@contoso.onmicrosoft.com"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", unknown.stderr);
    assert!(
        unknown
            .stderr
            .contains("no account 'nobody@contoso.onmicrosoft.com'"),
        "{}",
        unknown.stderr
    );
    assert_eq!(std::fs::read_to_string(&cache).unwrap(), before);
    assert_eq!(emulator.total_requests(), requests_after_bob);

    // What is left is Bob's, in the schema every MSAL reads.
    let saved: Value = serde_json::from_str(&before).unwrap();
    for section in ["Account", "RefreshToken", "IdToken", "AccessToken"] {
        let entries = saved[section].as_object().unwrap_or_else(|| panic!("{section}"));
        assert_eq!(entries.len(), 1, "{section}: {entries:?}");
        for entry in entries.values() {
            assert_eq!(entry["home_account_id"], bob_hid.as_str(), "{section}");
        }
    }
    assert!(!before.contains(&alice_hid));

    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_times_out_when_nobody_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let emulator = start().await.unwrap();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    let cache = home.join("cache.json");
    let started = Instant::now();
    let running = Running::spawn(
        msal(home)
            .args(["login", "--no-browser", "--timeout", "1"])
            .args(["--authority", &emulator.authority("contoso")])
            .args(["--client-id", builtin::PUBLIC_CLIENT_ID, "--scope", "User.Read"])
            .arg("--ca-cert")
            .arg(&ca)
            .arg("--cache")
            .arg(&cache),
    );
    let url = running.sign_in_url();
    assert!(url.contains("response_mode=form_post"), "{url}");
    let out = running.finish();
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        out.stderr.contains("no authorization response arrived within 1s"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
    // Nothing changed, so nothing was written.
    assert!(!cache.exists());
    emulator.shutdown().await;
}

#[test]
fn login_rejects_bad_arguments_before_signing_in() {
    let dir = tempfile::tempdir().unwrap();
    let missing_scope = run(dir.path(), &["login", "--client-id", "c"]);
    assert_eq!(missing_scope.status.code(), Some(2));
    let zero = run(
        dir.path(),
        &["login", "--client-id", "c", "--scope", "s", "--timeout", "0"],
    );
    assert_eq!(zero.status.code(), Some(2));
    let prompt = run(
        dir.path(),
        &[
            "login",
            "--client-id",
            "c",
            "--scope",
            "s",
            "--prompt",
            "sometimes",
        ],
    );
    assert_eq!(prompt.status.code(), Some(2));
    let http = run(
        dir.path(),
        &[
            "login",
            "--client-id",
            "c",
            "--scope",
            "s",
            "--authority",
            "http://127.0.0.1:1/x",
        ],
    );
    assert_eq!(http.status.code(), Some(2), "{}", http.stderr);
    assert!(http.stderr.contains("only https"), "{}", http.stderr);
}

#[test]
fn accounts_of_a_missing_or_malformed_cache() {
    let dir = tempfile::tempdir().unwrap();
    let empty = run(dir.path(), &["accounts", "--json"]);
    assert_eq!(json_of(&empty), Value::Array(Vec::new()));
    let text = run(dir.path(), &["accounts"]);
    assert!(text.status.success());
    assert!(text.stdout.is_empty());
    assert!(text.stderr.contains("No accounts"), "{}", text.stderr);
    // Listing creates nothing.
    assert!(!dir.path().join("xdg").exists());

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{ not json").unwrap();
    let out = run(dir.path(), &["accounts", "--cache", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.contains("malformed token cache"), "{}", out.stderr);
    let out = run(
        dir.path(),
        &["logout", "--account", "a@b.c", "--cache", bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&bad).unwrap(), "{ not json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_for_a_signed_in_account_uses_the_silent_path() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let emulator = start().await.unwrap();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    let signed_in = login(
        &emulator,
        home,
        &ca,
        builtin::ALICE_UPN,
        builtin::ALICE_PASSWORD,
        &["--json"],
    )
    .await;
    let signed_in = json_of(&signed_in);
    let authority = emulator.authority(builtin::CONTOSO_TENANT_NAME);
    let ca_arg = ca.to_str().unwrap();
    let token = |extra: &[&str]| {
        let mut args = vec![
            "token",
            "--account",
            builtin::ALICE_UPN,
            "--authority",
            &authority,
            "--client-id",
            builtin::PUBLIC_CLIENT_ID,
            "--scope",
            "User.Read",
            "--ca-cert",
            ca_arg,
        ];
        args.extend_from_slice(extra);
        run(home, &args)
    };

    // From the default cache `msal login` wrote: no secret, no token request.
    let before = emulator.request_count(Endpoint::Token);
    let cached = json_of(&token(&["--json"]));
    assert_eq!(cached["token_source"], "cache");
    assert_eq!(cached["access_token"], signed_in["access_token"]);
    assert_eq!(emulator.request_count(Endpoint::Token), before);
    // Plain mode prints the token alone.
    let plain = token(&[]);
    assert!(plain.status.success(), "{}", plain.stderr);
    assert_eq!(plain.stdout.trim(), signed_in["access_token"].as_str().unwrap());

    // --force-refresh redeems the cached refresh token.
    let refreshed = json_of(&token(&["--json", "--force-refresh"]));
    assert_eq!(refreshed["token_source"], "identity_provider");
    assert_ne!(refreshed["access_token"], signed_in["access_token"]);
    assert_eq!(emulator.request_count(Endpoint::Token), before + 1);

    // Once the IdP revokes the refresh tokens, the user must sign in again.
    assert!(emulator.revoke_refresh_tokens(builtin::ALICE_UPN) > 0);
    let refused = token(&["--json", "--force-refresh"]);
    assert_eq!(
        refused.status.code(),
        Some(3),
        "interaction required: {}",
        refused.stderr
    );
    let refused: Value = serde_json::from_str(&refused.stdout).unwrap();
    assert_eq!(refused["interaction_required"], true, "{refused}");
    assert_eq!(refused["error"], "invalid_grant");
    let text = token(&["--force-refresh"]);
    assert!(text.stderr.contains("msal login"), "{}", text.stderr);

    // An account nobody signed in is bad input (exit 2), with no request at all.
    let token_requests = emulator.request_count(Endpoint::Token);
    let nobody = run(
        home,
        &[
            "token",
            "--account",
            "nobody@contoso.onmicrosoft.com",
            "--authority",
            &authority,
            "--client-id",
            builtin::PUBLIC_CLIENT_ID,
            "--scope",
            "User.Read",
            "--ca-cert",
            ca_arg,
        ],
    );
    assert_eq!(nobody.status.code(), Some(2), "{}", nobody.stderr);
    assert!(nobody.stderr.contains("msal login"), "{}", nobody.stderr);
    assert_eq!(emulator.request_count(Endpoint::Token), token_requests);
}

impl Running {
    /// The device code message: (verification URL, user code).
    fn device_code_prompt(&self) -> (String, String) {
        let mut seen = Vec::new();
        loop {
            let left = CHILD_DEADLINE.saturating_sub(self.started.elapsed());
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) if line.contains("enter the code") => {
                    let url = line
                        .split_whitespace()
                        .find(|w| w.starts_with("https://"))
                        .expect("a URL in the message")
                        .to_owned();
                    let code = line
                        .split("enter the code ")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                        .expect("a code in the message")
                        .to_owned();
                    return (url, code);
                }
                Ok(line) => seen.push(line),
                Err(e) => panic!("no device code message on stderr ({e}); got {seen:?}"),
            }
        }
    }
}

fn device_login(emulator: &Emulator, home: &Path, ca: &Path) -> Running {
    Running::spawn(
        msal(home)
            .args(["login", "--device-code", "--json", "--authority"])
            .arg(emulator.authority(builtin::CONTOSO_TENANT_NAME))
            .args(["--client-id", builtin::PUBLIC_CLIENT_ID, "--scope", "User.Read"])
            .arg("--ca-cert")
            .arg(ca),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_login_and_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let emulator = start_with(EmulatorConfig::default().with_device_code_interval(Duration::from_secs(1)))
        .await
        .unwrap();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();

    let running = device_login(&emulator, home, &ca);
    let (url, code) = running.device_code_prompt();
    assert_eq!(url, format!("{}/devicelogin", emulator.url()));
    // A person on another device: enters the code at `url`, signs in, approves.
    user::device_login(
        &emulator,
        &url,
        &code,
        builtin::BOB_UPN,
        builtin::BOB_PASSWORD,
        DeviceDecision::Approve,
    )
    .await
    .unwrap();
    let done = json_of(&running.finish());
    assert_eq!(done["account"]["username"], builtin::BOB_UPN);
    assert_eq!(
        done["account"]["account_source"],
        "urn:ietf:params:oauth:grant-type:device_code"
    );
    let listed = json_of(&run(home, &["accounts", "--json"]));
    assert_eq!(usernames(&listed), [builtin::BOB_UPN]);

    // Ctrl-C while waiting stops polling at once and saves nothing new.
    let running = device_login(&emulator, home, &ca);
    let _ = running.device_code_prompt();
    let interrupted = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let stopped = running.finish();
    assert_eq!(stopped.status.code(), Some(130), "cancelled");
    assert!(interrupted.elapsed() < Duration::from_secs(5), "stopped promptly");
    assert!(stopped.stderr.contains("Cancelled"), "{}", stopped.stderr);
    let polls = emulator.grant_count("urn:ietf:params:oauth:grant-type:device_code");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        emulator.grant_count("urn:ietf:params:oauth:grant-type:device_code"),
        polls,
        "no polls after Ctrl-C"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn username_password_login_for_managed_and_federated_users() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let emulator = start().await.unwrap();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    for (tenant, username, password) in [
        (
            builtin::CONTOSO_TENANT_NAME,
            builtin::ALICE_UPN,
            builtin::ALICE_PASSWORD,
        ),
        (
            builtin::WOODGROVE_TENANT_NAME,
            builtin::DAVE_UPN,
            builtin::DAVE_PASSWORD,
        ),
    ] {
        let out = password_login(home, &emulator, &ca, tenant, username, password).finish();
        assert!(out.status.success(), "{username}: {}", out.stderr);
        assert!(
            out.stdout.starts_with(&format!("Signed in as {username}")),
            "{}",
            out.stdout
        );
        assert!(!out.stdout.contains(password) && !out.stderr.contains(password));
    }
    assert!(
        emulator.request_count(Endpoint::Federation) >= 2,
        "dave went through WS-Trust"
    );
    let listed = json_of(&run(home, &["accounts", "--json"]));
    assert_eq!(usernames(&listed), [builtin::ALICE_UPN, builtin::DAVE_UPN]);

    // A wrong password: the IdP's error, exit 1, nothing printed of the password.
    let wrong = password_login(
        home,
        &emulator,
        &ca,
        builtin::CONTOSO_TENANT_NAME,
        builtin::ALICE_UPN,
        "not-the-password",
    )
    .finish();
    assert_eq!(wrong.status.code(), Some(1), "authentication failed");
    assert!(wrong.stderr.contains("AADSTS50126"), "{}", wrong.stderr);
    assert!(
        !wrong.stderr.contains("sign in again"),
        "a wrong password is not 'interaction required'"
    );
    assert!(!wrong.stderr.contains("not-the-password"));
    // No terminal and no MSAL_PASSWORD: a clear error, not a hang.
    let no_password = run(
        home,
        &[
            "login",
            "--username",
            builtin::ALICE_UPN,
            "--authority",
            "https://127.0.0.1:1/contoso",
            "--client-id",
            builtin::PUBLIC_CLIENT_ID,
            "--scope",
            "User.Read",
        ],
    );
    assert_eq!(no_password.status.code(), Some(2), "{}", no_password.stderr);
    assert!(
        no_password.stderr.contains("MSAL_PASSWORD"),
        "{}",
        no_password.stderr
    );
}

/// Several `msal` commands on one cache at once lose nothing: each takes the
/// cache file's lock (msal-extensions' `<cache>.lockfile`) and merges its
/// sign-in into what is there; and a logout made while another user's
/// sign-in is pending stays a logout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_logins_keep_every_account_and_a_logout_stays_done() {
    let emulator = start_with(EmulatorConfig::default().with_device_code_interval(Duration::from_secs(1)))
        .await
        .unwrap();
    let users = [
        (
            builtin::CONTOSO_TENANT_NAME,
            builtin::ALICE_UPN,
            builtin::ALICE_PASSWORD,
        ),
        (
            builtin::CONTOSO_TENANT_NAME,
            builtin::BOB_UPN,
            builtin::BOB_PASSWORD,
        ),
        (
            builtin::WOODGROVE_TENANT_NAME,
            builtin::DAVE_UPN,
            builtin::DAVE_PASSWORD,
        ),
    ];
    let mut expected: Vec<String> = users.iter().map(|(_, u, _)| (*u).to_owned()).collect();
    expected.sort();
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        let ca = home.join("ca.pem");
        emulator.write_ca_cert(&ca).unwrap();
        let running: Vec<Running> = users
            .iter()
            .map(|(tenant, username, password)| {
                password_login(home, &emulator, &ca, tenant, username, password)
            })
            .collect();
        for login in running {
            let done = login.finish();
            assert!(done.status.success(), "round {round}: {}", done.stderr);
        }
        let mut listed = usernames(&json_of(&run(home, &["accounts", "--json"])));
        listed.sort();
        assert_eq!(listed, expected, "round {round}");
        assert!(
            !home.join("xdg/msal/token_cache.json.lockfile").exists(),
            "round {round}: lock released"
        );
    }

    // Alice is signed in; Bob's device code sign-in is pending while Alice
    // signs out; when Bob's finishes, Alice stays signed out.
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    let alice = password_login(
        home,
        &emulator,
        &ca,
        builtin::CONTOSO_TENANT_NAME,
        builtin::ALICE_UPN,
        builtin::ALICE_PASSWORD,
    )
    .finish();
    assert!(alice.status.success(), "{}", alice.stderr);
    let bob = device_login(&emulator, home, &ca);
    let (url, code) = bob.device_code_prompt();
    let logout = run(home, &["logout", "--account", builtin::ALICE_UPN]);
    assert!(logout.status.success(), "{}", logout.stderr);
    user::device_login(
        &emulator,
        &url,
        &code,
        builtin::BOB_UPN,
        builtin::BOB_PASSWORD,
        DeviceDecision::Approve,
    )
    .await
    .unwrap();
    assert!(bob.finish().status.success());
    let listed = usernames(&json_of(&run(home, &["accounts", "--json"])));
    assert_eq!(listed, [builtin::BOB_UPN], "Alice's logout stands");
    let file = std::fs::read_to_string(home.join("xdg/msal/token_cache.json")).unwrap();
    assert!(
        !file.contains(builtin::ALICE_UPN),
        "none of Alice's entries came back"
    );
}

/// After `msal login`, `msal token --account USER --scope S` needs nothing
/// else: the authority, client id and CA certificate are remembered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_for_an_account_needs_nothing_but_the_account_after_a_login() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let emulator = start().await.unwrap();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    let login = password_login(
        home,
        &emulator,
        &ca,
        builtin::CONTOSO_TENANT_NAME,
        builtin::ALICE_UPN,
        builtin::ALICE_PASSWORD,
    )
    .finish();
    assert!(login.status.success(), "{}", login.stderr);
    let cached = run(
        home,
        &[
            "token",
            "--account",
            builtin::ALICE_UPN,
            "--scope",
            "User.Read",
            "--json",
        ],
    );
    assert!(cached.status.success(), "{}", cached.stderr);
    assert_eq!(json_of(&cached)["token_source"], "cache");
    // A refresh goes to the remembered authority, trusting the remembered CA.
    let refreshed = run(
        home,
        &[
            "token",
            "--account",
            builtin::ALICE_UPN,
            "--scope",
            "User.Read",
            "--json",
            "--force-refresh",
        ],
    );
    assert!(refreshed.status.success(), "{}", refreshed.stderr);
    assert_eq!(json_of(&refreshed)["token_source"], "identity_provider");
    // Signed out: forgotten too.
    assert!(
        run(home, &["logout", "--account", builtin::ALICE_UPN])
            .status
            .success()
    );
    let after = run(
        home,
        &["token", "--account", builtin::ALICE_UPN, "--scope", "User.Read"],
    );
    assert_eq!(after.status.code(), Some(2), "{}", after.stderr);
    assert!(after.stderr.contains("msal login"), "{}", after.stderr);
}

/// A machine without a display, and a browser command that fails: the URL
/// and the way out (`--device-code`) are on stderr at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_display_the_url_and_the_device_code_hint_come_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let emulator = start().await.unwrap();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    for browser in [None, Some("/bin/false")] {
        let mut command = msal(home);
        command
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("BROWSER")
            .args(["login", "--timeout", "30", "--authority"])
            .arg(emulator.authority(builtin::CONTOSO_TENANT_NAME))
            .args([
                "--client-id",
                builtin::PUBLIC_CLIENT_ID,
                "--scope",
                "User.Read",
                "--ca-cert",
            ])
            .arg(&ca);
        if let Some(browser) = browser {
            command.env("BROWSER", browser);
        }
        let running = Running::spawn(&mut command);
        let started = Instant::now();
        let mut seen = Vec::new();
        while !(seen.iter().any(|l: &String| l.starts_with("https://"))
            && seen.iter().any(|l| l.contains("--device-code")))
        {
            let left = Duration::from_secs(2).saturating_sub(started.elapsed());
            match running.stderr_lines.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(_) => panic!("{browser:?}: within 2 s only {seen:?}"),
            }
        }
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(running);
    }
}

/// In a real terminal (tmux): `msal login --device-code` shows the code and
/// a countdown, and Ctrl-C ends it with exit code 130, one message, and the
/// countdown line cleared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_in_a_terminal_shows_a_countdown_and_ctrl_c_ends_it_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let emulator = start_with(EmulatorConfig::default().with_device_code_interval(Duration::from_secs(1)))
        .await
        .unwrap();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    let session = format!("msal-test-{}", std::process::id());
    let command = format!(
        "env HOME={home} XDG_CACHE_HOME={home}/xdg {MSAL} login --device-code --authority {authority} \
         --client-id {client} --scope User.Read --ca-cert {ca}; echo EXIT=$?; sleep 60",
        home = home.display(),
        authority = emulator.authority(builtin::CONTOSO_TENANT_NAME),
        client = builtin::PUBLIC_CLIENT_ID,
        ca = ca.display(),
    );
    let tmux = |args: &[&str]| Command::new("tmux").args(args).output().unwrap();
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "160",
        "-y",
        "40",
        "bash",
        "-c",
        &command,
    ]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    struct Kill(String);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("tmux")
                .args(["kill-session", "-t", &self.0])
                .output();
        }
    }
    let _kill = Kill(session.clone());
    let screen =
        || String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout).to_string();
    let wait_for = |what: &dyn Fn(&str) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let shown = screen();
            if what(&shown) {
                return shown;
            }
            assert!(Instant::now() < deadline, "not on screen in time:\n{shown}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let shown = wait_for(&|s| s.contains("enter the code") && s.contains("left)"));
    assert!(shown.contains("/devicelogin"), "{shown}");
    assert!(shown.contains("Waiting for you to sign in ("), "{shown}");

    assert!(tmux(&["send-keys", "-t", &session, "C-c"]).status.success());
    let shown = wait_for(&|s| s.contains("EXIT="));
    assert!(shown.contains("EXIT=130"), "{shown}");
    assert_eq!(shown.matches("Cancelled").count(), 1, "one message:\n{shown}");
    assert!(
        !shown.contains("Waiting for you to sign in ("),
        "the countdown line is cleared:\n{shown}"
    );
}
