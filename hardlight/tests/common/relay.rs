//! A TCP relay between a client and a server that can be cut: from then on it forwards nothing in
//! either direction and closes nothing, as a dead route or a peer that vanished would (no FIN, no
//! RST, bytes simply lost). Both sockets of every connection stay open until the relay is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hardlight::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::TestServer;

/// A running relay to one upstream port. Dropping it closes every socket it holds.
pub struct Relay {
    pub port: u16,
    cut: watch::Sender<bool>,
    accepted: Arc<AtomicUsize>,
    forwarded: Forwarded,
    task: JoinHandle<()>,
}

/// When the relay last began writing bytes to each side (any connection): nothing it forwarded can
/// have reached that side before.
#[derive(Clone, Default)]
struct Forwarded {
    to_server: Arc<Mutex<Option<Instant>>>,
    to_client: Arc<Mutex<Option<Instant>>>,
}

impl Relay {
    /// A relay on a free loopback port to `127.0.0.1:upstream`.
    pub async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let port = listener.local_addr().expect("bound").port();
        let cut = watch::channel(false).0;
        let accepted = Arc::new(AtomicUsize::new(0));
        let forwarded = Forwarded::default();
        let task = tokio::spawn(accept_loop(
            listener,
            upstream,
            cut.subscribe(),
            accepted.clone(),
            forwarded.clone(),
        ));
        Self {
            port,
            cut,
            accepted,
            forwarded,
            task,
        }
    }

    /// A relay in front of `server`.
    pub async fn to(server: &TestServer) -> Self {
        Self::start(server.port).await
    }

    /// `server`'s client configuration, pointed at this relay instead (the TLS identity checked is
    /// still the server's).
    pub fn client_config(&self, server: &TestServer) -> ClientConfig {
        let address = format!("localhost:{}", self.port);
        match server.fingerprint {
            Some(fp) => ClientConfig::pinned(address, fp),
            None => ClientConfig::plaintext(address),
        }
    }

    /// Stops forwarding, in both directions and for every connection, at once: no byte read
    /// from either side after this returns reaches the other, and no socket is closed. Connections
    /// accepted from now on are held open and never forwarded either.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// When the relay last began handing bytes to the client: the client heard nothing later. After
    /// a [`cut`](Self::cut), the start of the client's silence.
    pub fn last_forwarded_to_client(&self) -> Instant {
        self.forwarded
            .to_client
            .lock()
            .unwrap()
            .expect("the relay forwarded nothing to the client")
    }

    /// When the relay last began handing bytes to the server; see
    /// [`last_forwarded_to_client`](Self::last_forwarded_to_client).
    pub fn last_forwarded_to_server(&self) -> Instant {
        self.forwarded
            .to_server
            .lock()
            .unwrap()
            .expect("the relay forwarded nothing to the server")
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Aborting the accept loop drops its `JoinSet`, which aborts every connection's task and
        // so closes their sockets.
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: u16,
    cut: watch::Receiver<bool>,
    accepted: Arc<AtomicUsize>,
    forwarded: Forwarded,
) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((downstream, _)) = listener.accept().await else {
            continue;
        };
        accepted.fetch_add(1, Ordering::SeqCst);
        let _ = downstream.set_nodelay(true);
        let cut = cut.clone();
        let forwarded = forwarded.clone();
        connections.spawn(async move {
            if *cut.borrow() {
                // A dead route: the connection is taken and nothing more happens.
                return hold(downstream).await;
            }
            let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                // Nothing to relay to: close, as a failed dial would.
                return;
            };
            let _ = upstream.set_nodelay(true);
            let (down_read, down_write) = downstream.into_split();
            let (up_read, up_write) = upstream.into_split();
            let halves = tokio::join!(
                pump(down_read, up_write, cut.clone(), forwarded.to_server),
                pump(up_read, down_write, cut, forwarded.to_client),
            );
            hold(halves).await
        });
        // Reap the tasks of connections that ended (only an unreachable upstream ends one).
        while connections.try_join_next().is_some() {}
    }
}

/// Keeps `sockets` open until the task is aborted.
async fn hold<T>(sockets: T) {
    std::future::pending::<()>().await;
    drop(sockets);
}

/// Copies `from` to `to` until the relay is cut (or `from` ends, whose FIN it passes on); returns
/// both halves, unclosed, for the caller to hold. Notes in `last` when it begins each write.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut cut: watch::Receiver<bool>,
    last: Arc<Mutex<Option<Instant>>>,
) -> (OwnedReadHalf, OwnedWriteHalf) {
    let mut buf = vec![0; 16 * 1024];
    loop {
        // The cut is checked first, so nothing read after it is forwarded.
        let read = tokio::select! {
            biased;
            _ = cut.wait_for(|cut| *cut) => break,
            read = from.read(&mut buf) => read,
        };
        let n = match read {
            Ok(0) => {
                let _ = to.shutdown().await;
                break;
            }
            Ok(n) => n,
            Err(_) => break,
        };
        let written = tokio::select! {
            biased;
            _ = cut.wait_for(|cut| *cut) => break,
            // Noted only once the write is polled, so a cut that wins never moves `last` later
            // than the bytes that really went.
            written = async {
                *last.lock().unwrap() = Some(Instant::now());
                to.write_all(&buf[..n]).await
            } => written,
        };
        if written.is_err() {
            break;
        }
    }
    (from, to)
}
