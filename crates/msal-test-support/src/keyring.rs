//! A real Secret Service for the keyring store's tests: a private D-Bus
//! session bus (`dbus-daemon` with a configuration of its own: no service
//! activation, so nothing but what the test starts answers on it) and
//! `gnome-keyring-daemon` on it, its login collection created and unlocked
//! with a password from stdin, its files in a temporary home. Both are
//! children of the test, killed by their exact pids when dropped. Nothing
//! is skipped: if a daemon cannot start, the helper fails saying why.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::failure::{Context, Failure, Result};

/// How long the daemons may take to come up.
const START_DEADLINE: Duration = Duration::from_secs(15);

/// The keyring's password (the test keyring holds nothing else).
const KEYRING_PASSWORD: &str = "msal-test-keyring";

/// A private session bus, with or without GNOME Keyring on it.
pub struct SecretService {
    dir: tempfile::TempDir,
    address: String,
    bus: Child,
    keyring: Option<Child>,
}

impl SecretService {
    /// A bus with an unlocked GNOME Keyring (its `default` alias is the
    /// login collection).
    pub fn start() -> Result<SecretService> {
        let mut service = SecretService::bus_only()?;
        service.start_keyring()?;
        Ok(service)
    }

    /// A bus on which nothing provides the Secret Service.
    pub fn bus_only() -> Result<SecretService> {
        let dir = tempfile::tempdir().context("creating the keyring's directory")?;
        let socket = dir.path().join("bus");
        let config = dir.path().join("bus.conf");
        std::fs::write(&config, bus_config(&socket)).context("writing the bus configuration")?;
        let mut bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting dbus-daemon (Debian package dbus-daemon; scripts/test installs it)")?;
        let address = match read_first_line(&mut bus) {
            Ok(address) => address,
            Err(e) => {
                let _ = bus.kill();
                let _ = bus.wait();
                return Err(e);
            }
        };
        Ok(SecretService {
            dir,
            address,
            bus,
            keyring: None,
        })
    }

    /// The bus address, for `DBUS_SESSION_BUS_ADDRESS` or
    /// `KeyringOptions::bus_address`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// A private directory that lives as long as the daemons.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Points `command` at this bus (and nothing else of the user's).
    pub fn apply<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command.env("DBUS_SESSION_BUS_ADDRESS", &self.address)
    }

    /// Locks the login collection, as a screen lock or `Lock` call does:
    /// unlocking it again needs a password prompt.
    pub fn lock_collection(&self) -> Result<()> {
        self.call(&[
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.Lock",
            "array:objpath:/org/freedesktop/secrets/collection/login",
        ])
        .map(drop)
    }

    /// How many items the keyring's login collection holds.
    pub fn item_count(&self) -> Result<usize> {
        let reply = self.call(&[
            "/org/freedesktop/secrets/collection/login",
            "org.freedesktop.DBus.Properties.Get",
            "string:org.freedesktop.Secret.Collection",
            "string:Items",
        ])?;
        Ok(reply.matches("object path \"").count())
    }

    /// Stops (`SIGSTOP`) or resumes (`SIGCONT`) the keyring daemon: a
    /// stopped one holds its bus name and never answers, as a hung one.
    pub fn pause_keyring(&self, paused: bool) -> Result<()> {
        let pid = self.keyring.as_ref().context("a keyring daemon")?.id();
        let signal = if paused { "-STOP" } else { "-CONT" };
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .context("signalling the keyring daemon")?;
        Failure::unless(status.success(), || format!("kill {signal} {pid} failed"))
    }

    fn start_keyring(&mut self) -> Result<()> {
        let home = self.dir.path().join("home");
        let runtime = self.dir.path().join("run");
        for dir in [&home, &runtime] {
            std::fs::create_dir_all(dir).context("creating the keyring's home")?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))
                .context("making the runtime directory private")?;
        }
        let log = self.dir.path().join("gnome-keyring.log");
        let log_file = std::fs::File::create(&log).context("creating the keyring log")?;
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .context(
                "starting gnome-keyring-daemon (Debian package gnome-keyring; scripts/test installs it)",
            )?;
        // The password on stdin, then end of file: --unlock reads to the end.
        if let Some(mut stdin) = keyring.stdin.take() {
            stdin
                .write_all(KEYRING_PASSWORD.as_bytes())
                .context("giving gnome-keyring-daemon its password")?;
        }
        self.keyring = Some(keyring);
        let started = Instant::now();
        loop {
            let owned = self
                .bus_call(&[
                    "/",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .is_ok_and(|reply| reply.contains("boolean true"));
            let aliased = owned
                && self
                    .call(&[
                        "/org/freedesktop/secrets",
                        "org.freedesktop.Secret.Service.ReadAlias",
                        "string:default",
                    ])
                    .is_ok_and(|reply| reply.contains("/collection/"));
            if aliased {
                return Ok(());
            }
            let exited = self.keyring.as_mut().and_then(|k| k.try_wait().ok().flatten());
            if exited.is_some() || started.elapsed() > START_DEADLINE {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(Failure::new(format!(
                    "gnome-keyring-daemon did not provide an unlocked default collection on the bus \
                     within {START_DEADLINE:?} (exit: {exited:?}); its log:\n{log}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `dbus-send` to the Secret Service: `[path, interface.method, args...]`.
    fn call(&self, args: &[&str]) -> Result<String> {
        self.send("org.freedesktop.secrets", args)
    }

    fn bus_call(&self, args: &[&str]) -> Result<String> {
        self.send("org.freedesktop.DBus", args)
    }

    fn send(&self, destination: &str, args: &[&str]) -> Result<String> {
        let output = Command::new("dbus-send")
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .args(["--session", "--print-reply", "--reply-timeout=5000"])
            .arg(format!("--dest={destination}"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("running dbus-send")?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        Failure::unless(output.status.success(), || {
            format!(
                "dbus-send {args:?}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )
        })?;
        Ok(stdout)
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        // Resumed first, so it is never left stopped; Child::kill signals
        // exactly that child's pid.
        let _ = self.pause_keyring(false);
        if let Some(mut keyring) = self.keyring.take() {
            let _ = keyring.kill();
            let _ = keyring.wait();
        }
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

/// A session bus that listens on `socket`, lets its peers do anything,
/// and activates no service.
fn bus_config(socket: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        socket.display()
    )
}

/// The first line `child` prints (dbus-daemon's address), within the deadline.
fn read_first_line(child: &mut Child) -> Result<String> {
    let mut stdout = child.stdout.take().context("dbus-daemon's stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while let Ok(1) = stdout.read(&mut byte) {
            if byte[0] == b'\n' {
                break;
            }
            line.push(byte[0]);
        }
        let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
    });
    let address = rx
        .recv_timeout(START_DEADLINE)
        .context("dbus-daemon printing its address")?;
    Failure::unless(address.starts_with("unix:"), || {
        format!("dbus-daemon printed no address (got {address:?})")
    })?;
    Ok(address)
}
