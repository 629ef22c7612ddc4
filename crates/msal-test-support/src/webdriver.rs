//! A minimal W3C WebDriver client for driving the real headless Chromium
//! (Debian `chromium` + `chromium-driver`) through sign-in pages.
//!
//! WebDriver is JSON over HTTP, so a few calls with the reqwest client the
//! library already depends on are all it takes: no extra crate, no Python.
//! `CHROMEDRIVER` and `CHROME_BIN` override the Debian paths.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Context, Failure, Result};

/// How long [`Browser::find`] and [`Browser::wait_for`] poll before failing.
const WAIT: Duration = Duration::from_secs(15);

/// A headless Chromium session behind its own chromedriver process.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session with
    /// a new, empty profile. The flags keep Chromium off the (closed) internet.
    pub async fn start() -> Result<Browser> {
        Browser::start_resolving(&[]).await
    }

    /// [`Browser::start`] for pages on the emulator's hosts: Chromium maps
    /// each of `hosts` to `127.0.0.1` (`--host-resolver-rules`), so
    /// `https://fabrikamb2c.b2clogin.com:PORT/...` reaches the emulator
    /// listening on PORT. Pass [`msal_emulator::Emulator::hosts`].
    pub async fn start_for_hosts(hosts: &[String]) -> Result<Browser> {
        Browser::start_resolving(hosts).await
    }

    async fn start_resolving(hosts: &[String]) -> Result<Browser> {
        let driver_path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chrome_path = std::env::var("CHROME_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());
        Failure::unless(
            Path::new(&driver_path).exists() && Path::new(&chrome_path).exists(),
            || {
                format!(
                    "headless browser tests need {chrome_path} and {driver_path} (Debian packages chromium and chromium-driver; scripts/test installs them)"
                )
            },
        )?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("a free port")?
            .port();
        let profile = tempfile::tempdir().context("a profile directory")?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .no_proxy()
            .build()
            .context("building the WebDriver client")?;
        let mut command = Command::new(&driver_path);
        command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group, with the Chromium it starts: dropping the
        // browser ends them all (a Chromium orphaned by a failed test kept
        // spinning and slowed every later run on the machine).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut driver = command.spawn().context("starting chromedriver")?;
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(response) = ready
                && let Ok(text) = response.text().await
                && serde_json::from_str::<Value>(&text).is_ok_and(|v| v["value"]["ready"] == true)
            {
                break;
            }
            if Instant::now() >= deadline {
                let _ = driver.kill();
                let _ = driver.wait();
                return Err(Failure::new("chromedriver did not become ready"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1000,800",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        if let Some(rules) = host_resolver_rules(hosts) {
            args.push(rules);
        }
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                // The emulator's certificate is signed by a CA made at its start.
                "acceptInsecureCerts": true,
                "goog:chromeOptions": {
                    "binary": chrome_path,
                    "args": args,
                }
            }}
        });
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            http,
            _profile: profile,
        };
        let created = browser.call("POST", "/session", Some(capabilities)).await?;
        browser.session = created["sessionId"].as_str().context("a session id")?.to_owned();
        Ok(browser)
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body.unwrap_or_else(|| json!({})).to_string()),
        };
        let what = format!("webdriver {method} {path}");
        let response = request.send().await.context(&what)?;
        let status = response.status();
        let text = response.text().await.context(&what)?;
        let value: Value = serde_json::from_str(&text).context(&what)?;
        Failure::unless(status.is_success(), || format!("{what}: {status} {text}"))?;
        Ok(value.get("value").cloned().unwrap_or(value))
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.call("POST", "/url", Some(json!({ "url": url }))).await?;
        Ok(())
    }

    async fn try_find(&self, css: &str) -> Option<String> {
        let url = format!("{}/session/{}/element", self.base, self.session);
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(json!({ "using": "css selector", "value": css }).to_string())
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let value: Value = serde_json::from_str(&response.text().await.ok()?).ok()?;
        value["value"]
            .as_object()?
            .values()
            .next()?
            .as_str()
            .map(str::to_owned)
    }

    /// The element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> Result<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(id) = self.try_find(css).await {
                return Ok(id);
            }
            if Instant::now() >= deadline {
                return Err(Failure::new(format!(
                    "no element {css} on {}: {}",
                    self.current_url().await?,
                    self.source().await?
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether an element matching `css` is on the page now.
    pub async fn has(&self, css: &str) -> bool {
        self.try_find(css).await.is_some()
    }

    /// Types `text` into the element matching `css` (after clearing it).
    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let id = self.find(css).await?;
        self.call("POST", &format!("/element/{id}/clear"), None).await?;
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await?;
        Ok(())
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) -> Result<()> {
        let id = self.find(css).await?;
        self.call("POST", &format!("/element/{id}/click"), None).await?;
        Ok(())
    }

    /// The `value` property of the element matching `css`.
    pub async fn value_of(&self, css: &str) -> Result<String> {
        let id = self.find(css).await?;
        let value = self
            .call("GET", &format!("/element/{id}/property/value"), None)
            .await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// The current page's URL.
    pub async fn current_url(&self) -> Result<String> {
        let url = self.call("GET", "/url", None).await?;
        Ok(url.as_str().unwrap_or_default().to_owned())
    }

    /// The current page's HTML.
    pub async fn source(&self) -> Result<String> {
        let source = self.call("GET", "/source", None).await?;
        Ok(source.as_str().unwrap_or_default().to_owned())
    }

    /// Waits until the page's HTML contains `text`.
    pub async fn wait_for(&self, text: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let source = self.source().await?;
            if source.contains(text) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Failure::new(format!("page never showed {text:?}: {source}")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a PNG screenshot of the page to `path`.
    pub async fn screenshot(&self, path: &Path) -> Result<()> {
        use base64::Engine as _;
        let png = self.call("GET", "/screenshot", None).await?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().context("a base64 screenshot")?)
            .context("decoding the screenshot")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).context("creating the artifact directory")?;
        }
        std::fs::write(path, bytes).context("writing the screenshot")
    }

    /// Ends the session (closing Chromium) and stops chromedriver.
    pub async fn quit(self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
        // Dropping `self` ends chromedriver and its process group.
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that panicked never reached quit(): do not leave chromedriver,
        // or the browser it started, behind.
        kill_group(self.driver.id());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Chromium's `--host-resolver-rules` mapping each of `hosts` to
/// `127.0.0.1` (the port stays the URL's); `None` for no hosts.
fn host_resolver_rules(hosts: &[String]) -> Option<String> {
    let rules: Vec<String> = hosts
        .iter()
        // Names only: a rule is split on commas and spaces.
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        })
        .map(|h| format!("MAP {h} 127.0.0.1"))
        .collect();
    (!rules.is_empty()).then(|| format!("--host-resolver-rules={}", rules.join(",")))
}

/// Kills every process in process group `pgid` (chromedriver's own group,
/// see [`Browser::start`]) by its positive pid, found in `/proc`. Never a
/// negative pid on a `kill` command line: procps-ng 4.0.2's `kill -KILL -PGID`
/// took down every process on the machine, test runner and shell included.
fn kill_group(pgid: u32) {
    if pgid <= 1 || pgid == std::process::id() {
        return;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    let members: Vec<String> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid > 1 && pid != std::process::id())
        .filter(|&pid| process_group_of(pid) == Some(pgid))
        .map(|pid| pid.to_string())
        .collect();
    if members.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--"])
        .args(&members)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The process group of `pid`: the fifth field of `/proc/PID/stat`, counted
/// after the command name (which may itself hold spaces and parentheses).
fn process_group_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    // Fields after the name: state, ppid, pgrp.
    after_name.split_whitespace().nth(2)?.parse().ok()
}

/// Where tests put artifacts such as screenshots: `target/test-artifacts`.
pub fn artifact_path(name: &str) -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("test-artifacts").join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_map_to_loopback() {
        assert_eq!(host_resolver_rules(&[]), None);
        assert_eq!(
            host_resolver_rules(&["a.b2clogin.com".into(), "bad host,x".into(), "idp.test".into()])
                .as_deref(),
            Some("--host-resolver-rules=MAP a.b2clogin.com 127.0.0.1,MAP idp.test 127.0.0.1")
        );
    }

    #[test]
    fn killing_a_group_ends_its_members_and_nothing_else() {
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 30 & sleep 30"]);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut leader = command.spawn().expect("sh starts");
        let pgid = leader.id();
        std::thread::sleep(Duration::from_millis(200));
        let members = |pgid| {
            std::fs::read_dir("/proc")
                .expect("/proc")
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|&pid| process_group_of(pid) == Some(pgid))
                // A killed orphan stays a zombie until this container's init reaps it.
                .filter(|&pid| {
                    std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .ok()
                        .and_then(|s| Some(s.rsplit_once(')')?.1.trim_start().starts_with('Z')))
                        == Some(false)
                })
                .count()
        };
        assert!(members(pgid) >= 2, "sh and its background sleep share the group");
        kill_group(pgid);
        let status = leader.wait().expect("sh is reaped");
        assert!(!status.success());
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(members(pgid), 0, "no member of the group survives");
        // This process is untouched (it is still running this line).
        assert!(process_group_of(std::process::id()).is_some());
    }
}
