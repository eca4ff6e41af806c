//! A private Redis server per test, with kill, pause and restart.
//!
//! Redis starts in a few milliseconds, so every test gets its own server: no
//! shared state, no `FLUSHALL` between tests, and a test may kill or freeze
//! its server without disturbing any other test.
//!
//! ```no_run
//! # async fn demo() {
//! let mut server = testkit::redis().await;
//! let client = server.client();
//! server.pause();          // SIGSTOP: the server holds connections but answers nothing
//! server.resume();         // SIGCONT
//! server.restart().await;  // a crash and a start on the same port
//! # }
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::backend::{Backend, backend, env_url};
use crate::container::RedisContainer;
use crate::error::{Result, TestkitError};
use crate::{binary, ports};

const INSTALL_REDIS: &str = "apt-get install redis-server";
const READY_TIMEOUT: Duration = Duration::from_secs(15);
const START_ATTEMPTS: usize = 5;

/// Options for a spawned Redis server. [`crate::redis()`] uses the defaults.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    binary: String,
    append_only: bool,
    extra_args: Vec<String>,
    backend: Option<Backend>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            binary: std::env::var("TESTKIT_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into()),
            append_only: false,
            extra_args: Vec::new(),
            backend: None,
        }
    }
}

impl RedisOptions {
    /// The `redis-server` executable (a name looked up on `PATH`, or a path).
    /// Default: `$TESTKIT_REDIS_SERVER`, else `redis-server`.
    pub fn binary(mut self, binary: impl Into<String>) -> Self {
        self.binary = binary.into();
        self
    }

    /// Persist every write to an append-only file (`appendfsync always`), so
    /// data survives [`RedisServer::restart`]. Default: off, as in a cache
    /// deployment, where a restart loses everything.
    pub fn append_only(mut self, on: bool) -> Self {
        self.append_only = on;
        self
    }

    /// Passes an extra `redis-server` argument (e.g. `--maxmemory`, `1mb`).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// Forces the backend instead of [`crate::backend()`]'s choice.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Starts the server and waits until it answers `PING`.
    ///
    /// With `TESTKIT_REDIS_URL` set, that server is used instead (shared, and
    /// fault injection is refused).
    pub async fn start(self) -> Result<RedisServer> {
        if let Some(url) = env_url("TESTKIT_REDIS_URL") {
            return Ok(RedisServer::external(url));
        }
        match self.backend.unwrap_or_else(backend) {
            Backend::Container => {
                let port = ports::free_port()?;
                let container = RedisContainer::start(port, self.append_only).await?;
                Ok(RedisServer {
                    port,
                    kind: Kind::Container(Box::new(container)),
                })
            }
            Backend::Process => {
                let process = RedisProcess::start(self).await?;
                Ok(RedisServer {
                    port: process.port,
                    kind: Kind::Process(process),
                })
            }
        }
    }
}

/// A Redis server owned by one test; stopped and deleted on drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Process(RedisProcess),
    Container(Box<RedisContainer>),
    External(String),
}

impl RedisServer {
    /// Options for a server that differs from the default.
    pub fn options() -> RedisOptions {
        RedisOptions::default()
    }

    fn external(url: String) -> Self {
        Self {
            port: 0,
            kind: Kind::External(url),
        }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        match &self.kind {
            Kind::External(url) => url.clone(),
            _ => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// The port the server listens on (stable across [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The socket address, e.g. as the upstream of a [`crate::Proxy`].
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// A `redis::Client` for this server.
    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("a redis:// URL built by the test kit is valid")
    }

    /// A multiplexed connection; panics if the server does not answer.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis_connection(&self.client())
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.url()))
    }

    /// Kills the server abruptly (SIGKILL): connections drop, unsynced data is lost.
    pub async fn kill(&mut self) {
        match &mut self.kind {
            Kind::Process(process) => process.kill(),
            Kind::Container(container) => container.stop().await,
            Kind::External(url) => refuse("kill", url),
        }
    }

    /// Freezes the server (SIGSTOP): its sockets stay open but it answers
    /// nothing, like a long GC pause or a VM migration.
    pub async fn pause(&mut self) {
        match &mut self.kind {
            Kind::Process(process) => process.signal(Signal::SIGSTOP),
            Kind::Container(container) => container.pause().await,
            Kind::External(url) => refuse("pause", url),
        }
    }

    /// Unfreezes a paused server (SIGCONT).
    pub async fn resume(&mut self) {
        match &mut self.kind {
            Kind::Process(process) => process.signal(Signal::SIGCONT),
            Kind::Container(container) => container.unpause().await,
            Kind::External(url) => refuse("resume", url),
        }
    }

    /// Kills the server if it runs, then starts it again on the same port and
    /// waits until it answers. Data survives only with
    /// [`RedisOptions::append_only`].
    pub async fn restart(&mut self) {
        let result = match &mut self.kind {
            Kind::Process(process) => {
                process.kill();
                process.spawn_and_wait().await
            }
            Kind::Container(container) => container.restart().await,
            Kind::External(url) => refuse("restart", url),
        };
        if let Err(error) = result {
            panic!("restarting redis on port {}: {error}", self.port);
        }
    }

    /// The OS process id, for a spawned server that is running.
    pub fn pid(&self) -> Option<u32> {
        match &self.kind {
            Kind::Process(process) => process.child.as_ref().map(Child::id),
            _ => None,
        }
    }
}

fn refuse(operation: &str, url: &str) -> ! {
    panic!(
        "cannot {operation} the Redis server given by TESTKIT_REDIS_URL ({url}); unset it to let the kit spawn its own"
    )
}

/// A `redis-server` child process and the directory holding its files.
#[derive(Debug)]
struct RedisProcess {
    binary: PathBuf,
    args: Vec<String>,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisProcess {
    async fn start(options: RedisOptions) -> Result<Self> {
        let binary = binary::find(
            &options.binary,
            INSTALL_REDIS,
            &["/usr/sbin", "/usr/local/bin"],
        )?;
        let mut last_error = None;
        // A free port can be taken between the probe and the bind: try a few.
        for _ in 0..START_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("testkit-redis-")
                .tempdir()
                .map_err(|e| TestkitError::io("creating a directory for redis-server", e))?;
            let port = redis_port()?;
            let args = server_args(port, dir.path(), &options);
            let mut process = Self {
                binary: binary.clone(),
                args,
                port,
                dir,
                child: None,
            };
            match process.spawn_and_wait().await {
                Ok(()) => return Ok(process),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("at least one start attempt"))
    }

    async fn spawn_and_wait(&mut self) -> Result<()> {
        let child = Command::new(&self.binary)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| TestkitError::io(format!("spawning {}", self.binary.display()), e))?;
        let pid = child.id();
        self.child = Some(child);
        let port = self.port;
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        let mut pause = Duration::from_millis(5);
        let outcome = loop {
            if tokio::time::Instant::now() >= deadline {
                break Err("not answering PING with PONG (still loading?)".to_string());
            }
            if self.has_exited() {
                // Bind failure, bad argument…: no point waiting out the timeout.
                break Err("the process exited".to_string());
            }
            // PING alone could reach another server that holds the port (a
            // lost race for it): ready means *our* process answers.
            match answering_pid(port).await {
                // INFO answers while an AOF is still loading; PING says -LOADING.
                Ok(answering) if answering == pid && ping(port).await.is_ok() => break Ok(()),
                Ok(answering) if answering == pid => {}
                Ok(other) => {
                    break Err(format!(
                        "port {port} is served by another redis (pid {other})"
                    ));
                }
                Err(error) if tokio::time::Instant::now() >= deadline => break Err(error),
                Err(_) => {}
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        };
        outcome.map_err(|detail| {
            self.kill();
            TestkitError::NotReady {
                what: format!("redis-server on port {port}"),
                timeout: READY_TIMEOUT,
                detail: format!("{detail}; log: {}", self.log_tail()),
            }
        })
    }

    fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => !matches!(child.try_wait(), Ok(None)),
            None => true,
        }
    }

    fn signal(&mut self, signal: Signal) {
        let child = self
            .child
            .as_ref()
            .expect("the redis server is not running");
        let pid = Pid::from_raw(child.id() as i32);
        kill(pid, signal).unwrap_or_else(|e| panic!("sending {signal} to redis-server: {e}"));
    }

    /// SIGKILL and reap, so the port is free when this returns. A stopped
    /// (SIGSTOP) process dies of SIGKILL too.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free port that also suits cluster mode, which needs `port + 10000`
/// for its bus (so at most 55535).
fn redis_port() -> Result<u16> {
    loop {
        let port = ports::free_port()?;
        if port <= 55_535 {
            return Ok(port);
        }
    }
}

/// The pid reported by the Redis answering on `port` (`INFO server`).
async fn answering_pid(port: u16) -> Result<u32, String> {
    let probe = async {
        let client =
            redis::Client::open(format!("redis://127.0.0.1:{port}")).map_err(|e| e.to_string())?;
        let mut conn = redis_connection(&client).await.map_err(|e| e.to_string())?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        info.lines()
            .find_map(|line| line.strip_prefix("process_id:"))
            .and_then(|pid| pid.trim().parse().ok())
            .ok_or_else(|| "no process_id in INFO".to_string())
    };
    tokio::time::timeout(Duration::from_secs(1), probe)
        .await
        .unwrap_or_else(|_| Err("no answer within 1 s".into()))
}

fn server_args(port: u16, dir: &Path, options: &RedisOptions) -> Vec<String> {
    let mut args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--protected-mode",
        "no",
        "--daemonize",
        "no",
        "--save",
        "",
        "--dir",
        &dir.display().to_string(),
        "--logfile",
        "redis.log",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    if options.append_only {
        args.extend(["--appendonly", "yes", "--appendfsync", "always"].map(String::from));
    } else {
        args.extend(["--appendonly", "no"].map(String::from));
    }
    args.extend(options.extra_args.iter().cloned());
    args
}

/// One raw `PING` over a fresh TCP connection. Raw, so that no client-side
/// reconnection logic hides what the server does; `-LOADING` counts as not ready.
pub(crate) async fn ping(port: u16) -> Result<(), String> {
    let probe = async {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .write_all(b"PING\r\n")
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut reply = [0u8; 64];
        let n = stream
            .read(&mut reply)
            .await
            .map_err(|e| format!("read: {e}"))?;
        match &reply[..n] {
            b"+PONG\r\n" => Ok(()),
            other => Err(format!("answered {:?}", String::from_utf8_lossy(other))),
        }
    };
    tokio::time::timeout(Duration::from_secs(1), probe)
        .await
        .unwrap_or_else(|_| Err("no answer within 1 s".into()))
}

/// A multiplexed connection for a test's own reads and writes: no response
/// timeout, and ten seconds to connect.
///
/// The `redis` crate's default response timeout (500 ms) is right for a
/// service but fails a test's bookkeeping on a machine busy with a build; the
/// code under test sets its own timeouts, and a test bounds its waits itself.
pub async fn redis_connection(
    client: &redis::Client,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new()
        .set_response_timeout(None)
        .set_connection_timeout(Some(Duration::from_secs(10)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// A reconnecting connection manager for a test's own setup, with the same
/// patience as [`redis_connection`], for code that takes a `ConnectionManager`.
pub async fn redis_manager(
    client: &redis::Client,
) -> redis::RedisResult<redis::aio::ConnectionManager> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(None)
        .set_connection_timeout(Some(Duration::from_secs(10)));
    redis::aio::ConnectionManager::new_with_config(client.clone(), config).await
}

/// Opens a fresh client connection to `url` and sends `PING`, all within
/// `timeout`: `Err` says what failed (refused, reset, timed out). For tests
/// that check whether a server, or a proxy in front of it, answers.
pub async fn ping_url(url: &str, timeout: Duration) -> Result<(), String> {
    let attempt = async {
        let client = redis::Client::open(url)?;
        let mut conn = redis_connection(&client).await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}
