//! The runnable examples in `crates/msal/examples/`, run as a user would
//! run them: each either starts the local emulator itself (no
//! configuration) or, configured by environment variables, talks to an
//! emulator this test started, so a scripted user can sign in (device code,
//! browser, web apps) and the emulator's counters show which requests the
//! example made. They succeed and print or serve what they promise.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use msal::{AuthCodeFlowOptions, PublicClientApplication, ResponseMode, TokenCache};
use msal_emulator::{Emulator, EmulatorConfig, Endpoint, builtin};
use msal_test_support::redis::{RedisServer, query};
use msal_test_support::user::{self, DeviceDecision, SignedIn, User};
use msal_test_support::{msal_http, start, start_with};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::mpsc;

const OBO_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ALICE: (&str, &str) = (builtin::ALICE_UPN, builtin::ALICE_PASSWORD);

/// How long an example may take to print its next line (the first one
/// includes building it): a bound so a broken example fails, not hangs.
const LINE_WAIT: Duration = Duration::from_secs(300);

/// `cargo run` for an example (`cargo test` may not have built it yet),
/// with none of this machine's `MSAL_*` variables, `PORT` or CA bundles:
/// only `env`.
fn example(name: &str, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO"));
    command
        .args(["run", "--quiet", "-p", "msal", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for (var, _) in std::env::vars_os() {
        let text = var.to_string_lossy();
        if text.starts_with("MSAL_") || text == "PORT" {
            command.env_remove(&var);
        }
    }
    for var in [
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
        "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command
}

/// Runs an example to completion, off the async runtime; its stdout.
async fn run(name: &str, env: &[(&str, &str)]) -> String {
    let mut command = example(name, env);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// An example that keeps running (a server, or a program waiting for its
/// user): its stdout line by line. Dropping it kills the process (by its
/// own pid: on Unix `cargo run` becomes the example).
struct Running {
    name: String,
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Running {
    fn start(name: &str, env: &[(&str, &str)]) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let stderr = dir.path().join("stderr");
        let mut child = example(name, env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            name: name.into(),
            child,
            lines,
            stderr,
            _dir: dir,
        }
    }

    /// Its next line of output.
    async fn line(&mut self) -> String {
        match tokio::time::timeout(LINE_WAIT, self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("{} ended: {}", self.name, self.stderr()),
            Err(_) => panic!("{} printed nothing more: {}", self.name, self.stderr()),
        }
    }

    /// The base URL a web example printed (`listening on http://localhost:PORT`).
    async fn base_url(&mut self) -> String {
        let line = self.line().await;
        line.strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{}: {line}", self.name))
            .to_owned()
    }

    /// Waits for the process to exit successfully; the rest of its output.
    async fn finish(mut self) -> String {
        let mut rest = Vec::new();
        while let Some(line) = tokio::time::timeout(LINE_WAIT, self.lines.recv())
            .await
            .expect("the example exits")
        {
            rest.push(line);
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{}: {}", self.name, self.stderr());
        rest.join("\n")
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The variables that point an example at `emulator` as `client_id`,
/// trusting its CA (written in `dir`), with the user's API there.
fn emulator_env(emulator: &Emulator, dir: &Path, client_id: &str) -> Vec<(String, String)> {
    let ca = dir.join("emulator-ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    let ca = ca.display().to_string();
    vec![
        (
            "MSAL_AUTHORITY".into(),
            emulator.authority(builtin::CONTOSO_TENANT_NAME),
        ),
        ("MSAL_CLIENT_ID".into(), client_id.into()),
        ("MSAL_CA_CERT".into(), ca.clone()),
        ("SSL_CERT_FILE".into(), ca),
        (
            "MSAL_DOWNSTREAM_URL".into(),
            format!("{}/resource/me", emulator.url()),
        ),
        ("PORT".into(), "0".into()),
    ]
}

fn refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// `text` with its (ASCII) character at `at` replaced by another base64url one.
fn altered(text: &str, at: usize) -> String {
    let other = if &text[at..=at] == "A" { "B" } else { "A" };
    let mut altered = text.to_owned();
    altered.replace_range(at..=at, other);
    altered
}

/// A browser at the example web apps: no redirects followed, one cookie
/// jar of one cookie (what the examples set).
struct Browser {
    http: reqwest::Client,
    cookie: Option<String>,
}

/// What a page answered.
struct Page {
    status: StatusCode,
    location: String,
    body: String,
}

impl Browser {
    fn new() -> Browser {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        Browser { http, cookie: None }
    }

    async fn get(&mut self, url: &str) -> Page {
        let mut request = self.http.get(url);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        if let Some(set) = response.headers().get("set-cookie") {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap().to_owned();
            self.cookie = (!set.contains("Max-Age=0")).then_some(pair);
        }
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.text().await.unwrap();
        Page {
            status,
            location,
            body,
        }
    }

    /// Signs `who` in at the web app at `base`: `/login`, the emulator's
    /// sign-in page, back to `/redirect`, which sends the browser to `/me`.
    async fn sign_in(&mut self, emulator: &Emulator, base: &str, who: (&str, &str)) {
        let login = self.get(&format!("{base}/login")).await;
        assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.body);
        let user = User::new(emulator, who.0, who.1).unwrap();
        let SignedIn::Redirect(back) = user.sign_in(&login.location).await.unwrap() else {
            panic!("the web app asked for response_mode=query");
        };
        assert!(back.starts_with(&format!("{base}/redirect?")), "{back}");
        let redeemed = self.get(&back).await;
        assert_eq!(redeemed.status, StatusCode::SEE_OTHER, "{}", redeemed.body);
        assert_eq!(redeemed.location, "/me");
    }

    /// `/me` as JSON, which must answer 200.
    async fn me(&mut self, base: &str) -> Value {
        let page = self.get(&format!("{base}/me")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        serde_json::from_str(&page.body).unwrap()
    }
}

#[tokio::test]
async fn the_daemon_example_gets_a_token_then_serves_it_from_the_cache() {
    let out = run("client_credentials", &[]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("token from identity_provider"), "{out}");
    assert!(lines[1].starts_with("token from cache"), "{out}");
}

#[tokio::test]
async fn the_managed_identity_example_runs_on_every_emulated_host() {
    for host in [
        "imds",
        "app_service",
        "azure_ml",
        "service_fabric",
        "azure_arc",
        "cloud_shell",
    ] {
        let out = run("managed_identity", &[("MSAL_EMULATE_HOST", host)]).await;
        assert!(
            out.starts_with(&format!("managed identity host: {host}\n")),
            "{out}"
        );
        assert!(
            out.contains("token from identity_provider") && out.contains("token from cache"),
            "{out}"
        );
    }
}

#[tokio::test]
async fn the_device_code_example_waits_for_the_user_then_serves_from_the_cache() {
    let emulator = start_with(EmulatorConfig::default().with_device_code_interval(Duration::from_secs(1)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = emulator_env(&emulator, dir.path(), builtin::PUBLIC_CLIENT_ID);
    let mut program = Running::start("device_code", &refs(&env));

    // The message names the page and the code, as Entra's does.
    let message = program.line().await;
    let word_after = |marker: &str| {
        let at = message.find(marker).unwrap_or_else(|| panic!("{message}")) + marker.len();
        message[at..].split_whitespace().next().unwrap().to_owned()
    };
    let (page, code) = (word_after("open the page "), word_after("enter the code "));
    assert!(page.starts_with(&emulator.url()), "{message}");

    let done = user::device_login(&emulator, &page, &code, ALICE.0, ALICE.1, DeviceDecision::Approve)
        .await
        .unwrap();
    assert!(!done.is_empty());
    let out = program.finish().await;
    assert_eq!(
        out,
        format!(
            "signed in as {}; token from identity_provider\ntoken from cache",
            builtin::ALICE_UPN
        )
    );
}

#[tokio::test]
async fn the_interactive_example_signs_in_in_the_browser_then_runs_silently() {
    let emulator = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut env = emulator_env(&emulator, dir.path(), builtin::PUBLIC_CLIENT_ID);
    // Its cache file goes to the temporary directory: this test's own.
    env.push(("TMPDIR".into(), dir.path().display().to_string()));
    env.push(("MSAL_NO_BROWSER".into(), "1".into()));
    let mut program = Running::start("interactive", &refs(&env));
    assert_eq!(program.line().await, "Open this URL in a browser to sign in:");
    let auth_uri = program.line().await;

    // The scripted user signs in; the emulator's page posts the code to the
    // example's loopback listener, as the browser would.
    let SignedIn::FormPost(form) = User::new(&emulator, ALICE.0, ALICE.1)
        .unwrap()
        .sign_in(&auth_uri)
        .await
        .unwrap()
    else {
        panic!("interactive sign-in uses form_post");
    };
    let posted = Browser::new()
        .http
        .post(&form.action)
        .form(&form.fields)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::OK);
    let out = program.finish().await;
    assert!(
        out.starts_with(&format!(
            "signed in as {}; token from identity_provider",
            builtin::ALICE_UPN
        )),
        "{out}"
    );
    assert!(dir.path().join("msal-example-interactive-cache.json").is_file());

    // A second run finds the account in the saved cache: no browser, no request.
    emulator.reset_counts();
    let again = run("interactive", &refs(&env)).await;
    assert!(
        again.starts_with(&format!(
            "known account: {0}\nsigned in as {0}; token from cache",
            builtin::ALICE_UPN
        )),
        "{again}"
    );
    assert_eq!(emulator.request_count(Endpoint::Authorize), 0);
    assert_eq!(emulator.request_count(Endpoint::Token), 0);
}

#[tokio::test]
async fn the_web_app_example_signs_a_user_in_and_calls_the_api_as_them() {
    let emulator = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut env = emulator_env(&emulator, dir.path(), builtin::WEBAPP_CLIENT_ID);
    // The secret from a file, as a deployment would mount it.
    let secret = dir.path().join("secret");
    std::fs::write(&secret, format!("{}\n", builtin::WEBAPP_CLIENT_SECRET)).unwrap();
    env.push(("MSAL_CLIENT_SECRET_FILE".into(), secret.display().to_string()));
    let mut app = Running::start("web_app", &refs(&env));
    let base = app.base_url().await;
    let mut browser = Browser::new();

    // Not signed in: /me sends the browser to sign in.
    let page = browser.get(&format!("{base}/me")).await;
    assert_eq!(
        (page.status, page.location.as_str()),
        (StatusCode::SEE_OTHER, "/login")
    );

    browser.sign_in(&emulator, &base, ALICE).await;
    assert_eq!(emulator.grant_count("authorization_code"), 1);
    emulator.reset_counts();

    // /me: the token from the cache, the downstream API called as Alice.
    let me = browser.me(&base).await;
    assert_eq!(me["user"], builtin::ALICE_UPN);
    assert_eq!(me["token_source"], "cache");
    assert_eq!(me["downstream"]["upn"], builtin::ALICE_UPN);
    assert_eq!(me["downstream"]["oid"], builtin::ALICE_OBJECT_ID);
    assert_eq!(emulator.request_count(Endpoint::Token), 0);
    assert_eq!(emulator.request_count(Endpoint::Resource), 1);

    // Signing out ends the session and forgets the tokens.
    let out = browser.get(&format!("{base}/logout")).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(browser.cookie, None);
    let page = browser.get(&format!("{base}/me")).await;
    assert_eq!(
        (page.status, page.location.as_str()),
        (StatusCode::SEE_OTHER, "/login")
    );
}

/// A user's token for the orders API (the audience `web_api_obo` accepts)
/// and one for Graph (an audience it refuses), from the desktop app.
async fn user_tokens(emulator: &Emulator) -> (String, String) {
    let app = PublicClientApplication::builder(builtin::PUBLIC_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .token_cache(TokenCache::new())
        .http_client(msal_http(emulator).unwrap())
        .build()
        .unwrap();
    let orders_read = format!("{}/{}", builtin::API_IDENTIFIER_URI, builtin::API_SCOPES[0]);
    let flow = app
        .initiate_auth_code_flow(
            [orders_read.as_str()],
            "http://localhost:8765",
            &AuthCodeFlowOptions::default().response_mode(ResponseMode::Query),
        )
        .await
        .unwrap();
    let response = user::sign_in(emulator, flow.auth_uri(), ALICE.0, ALICE.1)
        .await
        .unwrap();
    let api = app
        .acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap();
    let graph = app
        .acquire_token_silent(["User.Read"], api.account.as_ref().unwrap())
        .await
        .unwrap();
    (
        api.access_token.expose_secret().to_owned(),
        graph.access_token.expose_secret().to_owned(),
    )
}

#[tokio::test]
async fn the_web_api_example_calls_downstream_on_behalf_of_its_caller() {
    let emulator = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut env = emulator_env(&emulator, dir.path(), builtin::API_CLIENT_ID);
    env.push(("MSAL_CLIENT_SECRET".into(), builtin::API_CLIENT_SECRET.into()));
    let mut api = Running::start("web_api_obo", &refs(&env));
    let me = format!("{}/me", api.base_url().await);
    let (for_api, for_graph) = user_tokens(&emulator).await;
    let http = Browser::new().http;
    let call = async |token: Option<&str>| {
        let mut request = http.get(&me);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|h| h.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, challenge, response.text().await.unwrap())
    };
    emulator.reset_counts();

    let (status, _, body) = call(Some(&for_api)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["caller"], builtin::ALICE_UPN);
    assert_eq!(answer["token_source"], "identity_provider");
    assert_eq!(answer["downstream"]["upn"], builtin::ALICE_UPN);
    assert_eq!(emulator.grant_count(OBO_GRANT), 1);

    // The same caller token again: the on-behalf-of token from the cache.
    let (status, _, body) = call(Some(&for_api)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["token_source"], "cache");
    assert_eq!(emulator.request_count(Endpoint::Token), 1);

    // Refused: no token, a token for another API, a forged signature (the
    // audience is right; the identity provider refuses to exchange it).
    let (status, challenge, _) = call(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("no Authorization header"), "{challenge}");
    let (status, challenge, _) = call(Some(&for_graph)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("not for this API"), "{challenge}");
    let forged = altered(&for_api, for_api.rfind('.').unwrap() + 10);
    let (status, challenge, _) = call(Some(&forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );
    assert_eq!(
        emulator.grant_count(OBO_GRANT),
        2,
        "the forged token was sent, and refused"
    );
}

/// The emulator's directory with the orders API given the web app's
/// redirect URI: an app that signs users in to its own API (`web_farm`).
fn api_that_signs_users_in() -> EmulatorConfig {
    let mut directory = builtin::directory();
    let api = directory
        .apps
        .iter_mut()
        .find(|app| app.client_id == builtin::API_CLIENT_ID)
        .unwrap();
    api.redirect_uris.push(builtin::WEBAPP_REDIRECT_URI.into());
    EmulatorConfig::new(directory)
}

#[tokio::test]
async fn two_web_farm_instances_serve_a_user_from_tokens_in_redis() {
    let emulator = start_with(api_that_signs_users_in()).await.unwrap();
    let redis = RedisServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut env = emulator_env(&emulator, dir.path(), builtin::API_CLIENT_ID);
    let session_key = STANDARD.encode([7u8; 32]);
    let cache_key = STANDARD.encode([9u8; 32]);
    let api_scope = format!("{}/{}", builtin::API_IDENTIFIER_URI, builtin::API_SCOPES[0]);
    env.extend([
        ("MSAL_CLIENT_SECRET".into(), builtin::API_CLIENT_SECRET.into()),
        ("MSAL_API_SCOPE".into(), api_scope),
        ("MSAL_REDIS_URL".into(), redis.url()),
        ("MSAL_SESSION_KEY".into(), session_key),
        ("MSAL_CACHE_KEY".into(), cache_key),
    ]);
    let mut a = Running::start("web_farm", &refs(&env));
    let mut b = Running::start("web_farm", &refs(&env));
    let (base_a, base_b) = (a.base_url().await, b.base_url().await);
    assert_ne!(base_a, base_b);

    // Alice signs in on A: one code redemption; her partition is in Redis, sealed.
    let mut browser = Browser::new();
    browser.sign_in(&emulator, &base_a, ALICE).await;
    assert_eq!(emulator.grant_count("authorization_code"), 1);
    let partition = format!("msal:{}.{}", builtin::ALICE_OBJECT_ID, builtin::CONTOSO_TENANT_ID);
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let stored: Vec<u8> = redis::cmd("GET")
        .arg(&partition)
        .query_async(&mut raw)
        .await
        .unwrap();
    // msal's envelope (magic, version), and no JSON readable inside.
    assert!(stored.starts_with(b"msal\0\x01"), "{stored:?}");
    assert!(!String::from_utf8_lossy(&stored).contains("AccessToken"));
    emulator.reset_counts();

    // B has never seen her: her session cookie opens there, her token comes
    // from Redis, and B exchanges it on her behalf for the downstream call.
    let on_b = browser.me(&base_b).await;
    assert_eq!(on_b["instance"], base_b.trim_start_matches("http://"));
    assert_eq!(on_b["user"], builtin::ALICE_UPN);
    assert_eq!(on_b["token_source"], "cache");
    assert_eq!(on_b["downstream_token_source"], "identity_provider");
    assert_eq!(on_b["downstream"]["upn"], builtin::ALICE_UPN);
    assert_eq!(emulator.request_count(Endpoint::Authorize), 0, "no new sign-in");
    assert_eq!(emulator.grant_count("authorization_code"), 0);
    assert_eq!(emulator.grant_count("refresh_token"), 0);
    assert_eq!(emulator.grant_count(OBO_GRANT), 1);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
    // Two partitions now: Alice's, and the one for her token's on-behalf-of exchange.
    assert_eq!(query(redis.port(), &["DBSIZE"]).await.unwrap(), "2");

    // Back on A: the on-behalf-of token B got comes from Redis too.
    emulator.reset_counts();
    let on_a = browser.me(&base_a).await;
    assert_eq!(on_a["user"], builtin::ALICE_UPN);
    assert_eq!(on_a["downstream_token_source"], "cache");
    assert_eq!(emulator.request_count(Endpoint::Token), 0);

    // A session cookie that was altered, or sealed with another key, is no session.
    let sealed = browser.cookie.clone().unwrap();
    browser.cookie = Some(altered(&sealed, sealed.len() / 2));
    let page = browser.get(&format!("{base_b}/me")).await;
    assert_eq!(
        (page.status, page.location.as_str()),
        (StatusCode::SEE_OTHER, "/login")
    );
    let mut other_env = env.clone();
    for (k, v) in &mut other_env {
        if k == "MSAL_SESSION_KEY" {
            *v = STANDARD.encode([8u8; 32]);
        }
    }
    let mut other = Running::start("web_farm", &refs(&other_env));
    let base_other = other.base_url().await;
    browser.cookie = Some(sealed);
    let page = browser.get(&format!("{base_other}/me")).await;
    assert_eq!(
        (page.status, page.location.as_str()),
        (StatusCode::SEE_OTHER, "/login")
    );
}

#[tokio::test]
async fn unconfigured_web_examples_start_the_emulator_themselves() {
    let redis = RedisServer::start().await.unwrap();
    for (name, client_id) in [
        ("web_app", builtin::WEBAPP_CLIENT_ID),
        ("web_farm", builtin::API_CLIENT_ID),
    ] {
        let redis_url = redis.url();
        let mut app = Running::start(name, &[("PORT", "0"), ("MSAL_REDIS_URL", &redis_url)]);
        let base = app.base_url().await;
        let login = Browser::new().get(&format!("{base}/login")).await;
        assert_eq!(login.status, StatusCode::SEE_OTHER, "{name}: {}", login.body);
        let authorize = url::Url::parse(&login.location).unwrap();
        assert_eq!(authorize.host_str(), Some("127.0.0.1"), "{name}: {authorize}");
        assert!(
            authorize.path().ends_with("/oauth2/v2.0/authorize"),
            "{authorize}"
        );
        let query: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
        assert_eq!(query["client_id"], client_id, "{name}");
        assert_eq!(query["redirect_uri"], format!("{base}/redirect"), "{name}");
    }
    let mut api = Running::start("web_api_obo", &[("PORT", "0")]);
    let me = format!("{}/me", api.base_url().await);
    let refused = Browser::new().get(&me).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
}
