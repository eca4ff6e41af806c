//! A TCP proxy between a client and a server that a test can cut, black-hole
//! or slow down.
//!
//! Point the code under test at [`Proxy::addr`] instead of the server, then
//! break the link:
//!
//! - [`cut`](Proxy::cut): every open connection is reset and new ones are
//!   refused (accepted and reset at once), like a crashed load balancer or a
//!   firewall sending RSTs. The client sees an error at once.
//! - [`blackhole`](Proxy::blackhole): connections stay open but no byte moves
//!   in either direction, like a cable pulled or a partition without RSTs. The
//!   client sees nothing but its own timeouts: the harder failure.
//! - [`discard`](Proxy::discard): connections stay open and bytes are read
//!   but thrown away in both directions, like a half-open connection behind a
//!   middlebox that forgot it: what is sent meanwhile is lost for good, and
//!   only an application-level heartbeat notices. After
//!   [`restore`](Proxy::restore) the same connections carry bytes again with
//!   a gap in the middle, which real TCP never does: use it on connections
//!   whose silence is to be detected, not on request/response traffic that
//!   goes on afterwards (its replies would fall out of step).
//! - [`delay`](Proxy::delay): every chunk is held back for the given time in
//!   each direction (order preserved), so a round trip costs twice the delay.
//! - [`restore`](Proxy::restore): traffic flows again (connections reset by a
//!   cut stay closed; clients must reconnect).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{Result, TestkitError};

/// What the link does right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Bytes flow (after the configured delay).
    Open,
    /// Connections are reset and new ones refused.
    Cut,
    /// Connections stay open; nothing flows.
    Blackhole,
    /// Connections stay open; bytes are read and dropped.
    Discard,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    state: watch::Sender<LinkState>,
    delay_micros: AtomicU64,
    open_connections: AtomicUsize,
}

/// A running proxy; stops (closing every connection) when dropped.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| TestkitError::io("binding the proxy", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| TestkitError::io("reading the proxy address", e))?;
        let shared = Arc::new(Shared {
            upstream,
            state: watch::channel(LinkState::Open).0,
            delay_micros: AtomicU64::new(0),
            open_connections: AtomicUsize::new(0),
        });
        let acceptor = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Self {
            addr,
            shared,
            acceptor,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `redis://<addr>`, for a Redis upstream.
    pub fn redis_url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Resets every open connection and refuses new ones until [`restore`](Self::restore).
    pub fn cut(&self) {
        self.shared.state.send_replace(LinkState::Cut);
    }

    /// Keeps connections open but stops every byte until [`restore`](Self::restore).
    pub fn blackhole(&self) {
        self.shared.state.send_replace(LinkState::Blackhole);
    }

    /// Keeps connections open but silently drops every byte until
    /// [`restore`](Self::restore).
    pub fn discard(&self) {
        self.shared.state.send_replace(LinkState::Discard);
    }

    /// Lets traffic flow again.
    pub fn restore(&self) {
        self.shared.state.send_replace(LinkState::Open);
    }

    /// Holds every chunk back for `delay` in each direction; `Duration::ZERO` removes it.
    pub fn delay(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.shared.delay_micros.store(micros, Ordering::Relaxed);
    }

    /// The current state of the link.
    pub fn state(&self) -> LinkState {
        *self.shared.state.borrow()
    }

    /// Client connections currently open through the proxy.
    pub fn open_connections(&self) -> usize {
        self.shared.open_connections.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        // Connection tasks watch this state; Cut closes them.
        self.shared.state.send_replace(LinkState::Cut);
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if *shared.state.borrow() == LinkState::Cut {
            reset(client);
            continue;
        }
        tokio::spawn(serve_connection(client, shared.clone()));
    }
}

/// Closes with an RST rather than a FIN, as a broken link would.
fn reset(stream: TcpStream) {
    #[allow(deprecated)]
    // set_linger is deprecated only for its blocking-close behaviour, which is wanted here.
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

async fn serve_connection(mut client: TcpStream, shared: Arc<Shared>) {
    let Ok(mut server) = TcpStream::connect(shared.upstream).await else {
        reset(client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    shared.open_connections.fetch_add(1, Ordering::Relaxed);
    let mut state = shared.state.subscribe();
    let was_cut = {
        let (client_read, client_write) = client.split();
        let (server_read, server_write) = server.split();
        // Both directions run to their own end (a half-close is forwarded as
        // one), unless the link is cut first.
        let both_directions = async {
            tokio::join!(
                pump(client_read, server_write, &shared),
                pump(server_read, client_write, &shared)
            )
        };
        tokio::select! {
            _ = both_directions => false,
            _ = state.wait_for(|s| *s == LinkState::Cut) => true,
        }
    };
    shared.open_connections.fetch_sub(1, Ordering::Relaxed);
    if was_cut {
        reset(client);
        reset(server);
    }
}

/// Copies one direction: the reader half stamps each chunk with its arrival
/// time; the writer half writes it once `arrival + delay` has passed and the
/// link is open. Reading ahead keeps the delay a latency, not a throughput cap.
async fn pump<R, W>(mut from: R, mut to: W, shared: &Shared)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (chunks_tx, mut chunks_rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = async move {
        let mut state = shared.state.subscribe();
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            // A black hole reads nothing, so the sender's buffers fill as on a dead link.
            let flowing = |s: &LinkState| matches!(s, LinkState::Open | LinkState::Discard);
            if state.wait_for(flowing).await.is_err() {
                return;
            }
            let n = tokio::select! {
                read = from.read(&mut buffer) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                },
                _ = state.changed() => continue,
            };
            if *state.borrow() == LinkState::Discard {
                continue; // read, and lost
            }
            if chunks_tx
                .send((Instant::now(), buffer[..n].to_vec()))
                .is_err()
            {
                return;
            }
        }
    };
    let writer = async move {
        let mut state = shared.state.subscribe();
        while let Some((arrived, chunk)) = chunks_rx.recv().await {
            let delay = Duration::from_micros(shared.delay_micros.load(Ordering::Relaxed));
            tokio::time::sleep_until(arrived + delay).await;
            if state.wait_for(|s| *s == LinkState::Open).await.is_err() {
                return;
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        // The source ended: forward the half-close.
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
