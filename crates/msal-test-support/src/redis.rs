//! Real Redis for the distributed cache tests: a `redis-server` (Debian
//! package `redis-server`, 7.x) on a free loopback port, or a three-node
//! Redis Cluster, each server a child process killed (by its own pid) when
//! its handle is dropped. Nothing is persisted: a restarted server is empty.
//! `REDIS_SERVER` and `REDIS_CLI` override the binaries' names.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{Context, Failure, Result};

/// How many times readiness is polled, and how far apart.
const POLLS: u32 = 400;
const POLL_EVERY: Duration = Duration::from_millis(25);

fn server_binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

fn cli_binary() -> String {
    std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".into())
}

/// One `redis-server` on 127.0.0.1.
pub struct RedisServer {
    port: u16,
    /// The extra arguments it was started with (cluster mode), for restarts.
    extra: Vec<String>,
    /// Its log, and a cluster node's config file.
    dir: PathBuf,
    child: Option<Child>,
    _owned_dir: Option<tempfile::TempDir>,
}

impl RedisServer {
    /// A server on a free port, answering `PING`.
    pub async fn start() -> Result<RedisServer> {
        let mut failure = Failure::new("redis-server did not start");
        // Another process may take the port between the check and the bind: try another.
        for _ in 0..3 {
            let dir = tempfile::tempdir().context("a directory for redis-server")?;
            let port = free_port(false)?;
            let path = dir.path().to_owned();
            let mut server = RedisServer::spawn(port, Vec::new(), path, Some(dir))?;
            match server.wait_until_ready().await {
                Ok(()) => return Ok(server),
                Err(e) => failure = e,
            }
        }
        Err(failure)
    }

    fn spawn(
        port: u16,
        extra: Vec<String>,
        dir: PathBuf,
        owned: Option<tempfile::TempDir>,
    ) -> Result<RedisServer> {
        let mut server = RedisServer {
            port,
            extra,
            dir,
            child: None,
            _owned_dir: owned,
        };
        server.launch()?;
        Ok(server)
    }

    fn launch(&mut self) -> Result<()> {
        let log = std::fs::File::create(self.log_path()).context("redis-server's log file")?;
        let mut command = Command::new(server_binary());
        command
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .args(&self.extra)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::null());
        let child = command.spawn().map_err(|e| {
            Failure::new(format!(
                "starting {}: {e} (Debian package redis-server; scripts/test installs it)",
                server_binary()
            ))
        })?;
        self.child = Some(child);
        Ok(())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(format!("redis-{}.log", self.port))
    }

    /// Polls `PING` until the server answers, failing early if it exited.
    async fn wait_until_ready(&mut self) -> Result<()> {
        for _ in 0..POLLS {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                return Err(Failure::new(format!(
                    "redis-server on port {} exited ({status}):\n{log}",
                    self.port
                )));
            }
            if let Ok(pong) = query(self.port, &["PING"]).await
                && pong == "PONG"
            {
                return Ok(());
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        Err(Failure::new(format!(
            "redis-server on port {} never answered PING",
            self.port
        )))
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (SIGKILL to its own pid) and reaps it: clients see
    /// refused connections from now on.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("killing redis-server")?;
            child.wait().context("reaping redis-server")?;
        }
        Ok(())
    }

    /// Starts the server again on the same port, empty.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.launch()?;
        self.wait_until_ready().await
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A Redis Cluster of three masters (no replicas) on loopback, every slot
/// assigned and `cluster_state:ok` on every node.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers and joins them with
    /// `redis-cli --cluster create`.
    pub async fn start() -> Result<RedisCluster> {
        let dir = tempfile::tempdir().context("a directory for the cluster")?;
        let mut nodes = Vec::new();
        for _ in 0..3 {
            // The cluster bus listens on port + 10000: both must be free.
            let port = free_port(true)?;
            let extra = vec![
                "--cluster-enabled".into(),
                "yes".into(),
                "--cluster-config-file".into(),
                dir.path()
                    .join(format!("nodes-{port}.conf"))
                    .display()
                    .to_string(),
                "--cluster-node-timeout".into(),
                "5000".into(),
            ];
            nodes.push(RedisServer::spawn(port, extra, dir.path().to_owned(), None)?);
        }
        for node in &mut nodes {
            node.wait_until_ready().await?;
        }
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        create_cluster(&addresses, dir.path()).await?;
        for node in &nodes {
            wait_for_cluster_ok(node.port).await?;
        }
        Ok(RedisCluster { nodes, _dir: dir })
    }

    /// The nodes' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes' ports.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(RedisServer::port).collect()
    }
}

async fn create_cluster(addresses: &[String], dir: &Path) -> Result<()> {
    let mut command = Command::new(cli_binary());
    command
        .args(["--cluster", "create"])
        .args(addresses)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .current_dir(dir)
        .stdin(Stdio::null());
    // redis-cli waits for the nodes to agree: off the runtime's thread.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .context("running redis-cli")?
        .context("running redis-cli --cluster create")?;
    Failure::unless(output.status.success(), || {
        format!(
            "redis-cli --cluster create failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

async fn wait_for_cluster_ok(port: u16) -> Result<()> {
    let mut last = String::new();
    for _ in 0..POLLS {
        if let Ok(info) = query(port, &["CLUSTER", "INFO"]).await {
            if info.lines().any(|line| line.trim() == "cluster_state:ok") {
                return Ok(());
            }
            last = info;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    Err(Failure::new(format!(
        "the cluster node on port {port} never reached cluster_state:ok:\n{last}"
    )))
}

/// One command to the server on `port` over a fresh connection; the reply as text.
pub async fn query(port: u16, command: &[&str]) -> Result<String> {
    let client = ::redis::Client::open(format!("redis://127.0.0.1:{port}/0")).context("a Redis client")?;
    let mut connection =
        tokio::time::timeout(Duration::from_secs(2), client.get_multiplexed_async_connection())
            .await
            .context("connecting to redis-server")?
            .context("connecting to redis-server")?;
    let mut cmd = ::redis::cmd(command.first().copied().unwrap_or("PING"));
    for arg in command.iter().skip(1) {
        cmd.arg(*arg);
    }
    let value: ::redis::Value =
        tokio::time::timeout(Duration::from_secs(2), cmd.query_async(&mut connection))
            .await
            .context("waiting for redis-server")?
            .context("a Redis command")?;
    ::redis::from_redis_value::<String>(value).context("a text reply")
}

/// A loopback port nobody listens on (for a cluster node, its bus port,
/// 10000 above, too), from a range outside the kernel's ephemeral ports so
/// that outgoing connections do not take it meanwhile.
fn free_port(with_bus: bool) -> Result<u16> {
    use std::hash::{BuildHasher, Hasher};
    for _ in 0..200 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(0);
        let port = 10_000 + (hasher.finish() % 20_000) as u16;
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && (!with_bus || free(port + 10_000)) {
            return Ok(port);
        }
    }
    Err(Failure::new("no free loopback port for redis-server"))
}
