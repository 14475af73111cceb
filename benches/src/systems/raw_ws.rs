//! The raw WebSocket rows: tokio-tungstenite echoing binary messages, no protocol on top. The floor
//! for anything that runs over one WebSocket.
//!
//! It reads with hardlight's 4 KiB tungstenite read buffer, so that its memory figure is a floor too,
//! and batches writes, so that its throughput is one: the echoes of every message already received
//! go out with one flush, and the client pipelines its window the same way. Each server connection
//! is one task that echoes what it reads and writes what its fan-out queue holds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message};

use crate::{BoxError, error};

/// Messages that may wait for one connection's writer: as many as hardlight's outbound queue holds.
const CONNECTION_QUEUE: usize = 1024;
/// The label after the sequence number in a fan-out message, as in the other systems' ticks.
const LABEL: &[u8] = b"fan-out";

/// Most echoes written with one flush.
const ECHO_BATCH: usize = 64;

/// hardlight's read buffer (its `ws.rs`: 4 KiB, allocated up front for every connection), and
/// tungstenite's default write buffering (the buffer grows only as far as a batch needs).
fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .max_write_buffer_size(8 << 20)
        .max_message_size(Some(4 << 20))
        .max_frame_size(Some(4 << 20))
}

/// Every connection's fan-out queue: the raw WebSocket side of the fan-out figure.
#[derive(Default)]
pub struct Hub {
    connections: Mutex<Vec<mpsc::Sender<Bytes>>>,
    count: watch::Sender<usize>,
}

impl Hub {
    fn add(&self, connection: mpsc::Sender<Bytes>) {
        let mut connections = lock(&self.connections);
        connections.push(connection);
        self.count.send_replace(connections.len());
    }

    /// Queues the message for tick `seq` (its number, little-endian, then a label) to every
    /// connection; returns how many it was queued for.
    pub fn publish(&self, seq: u64) -> usize {
        let mut message = seq.to_le_bytes().to_vec();
        message.extend_from_slice(LABEL);
        let message = Bytes::from(message);
        let mut connections = lock(&self.connections);
        connections.retain(|c| !c.is_closed());
        self.count.send_replace(connections.len());
        connections
            .iter()
            .filter(|c| c.try_send(message.clone()).is_ok())
            .count()
    }

    /// Resolves once at least `n` connections are served.
    pub async fn wait_for(&self, n: usize) {
        // The sender lives in `self`, so waiting cannot fail.
        let _ = self.count.subscribe().wait_for(|&count| count >= n).await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Only Vec operations run under the lock; a poisoned list is still a valid list.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts an echo server on a free port of 127.0.0.1, on the current runtime. Returns its port, its
/// hub and the task serving it; aborting the task ends every connection.
///
/// # Errors
/// If the port cannot be bound.
pub async fn start() -> Result<(u16, Arc<Hub>, JoinHandle<()>), BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| error(format!("raw ws: bind: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| error(format!("raw ws: local address: {e}")))?
        .port();
    let hub = Arc::new(Hub::default());
    let task = tokio::spawn(accept(listener, hub.clone()));
    Ok((port, hub, task))
}

async fn accept(listener: TcpListener, hub: Arc<Hub>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    connections.spawn(serve(tcp, hub.clone()));
                }
                Err(e) => {
                    eprintln!("raw ws: accept failed: {e}");
                    tokio::task::yield_now().await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve(tcp: TcpStream, hub: Arc<Hub>) {
    let _ = tcp.set_nodelay(true);
    let Ok(mut ws) =
        tokio_tungstenite::accept_async_with_config(tcp, Some(websocket_config())).await
    else {
        return;
    };
    let (tx, mut rx) = mpsc::channel(CONNECTION_QUEUE);
    hub.add(tx);
    loop {
        let written = tokio::select! {
            message = ws.next() => match message {
                Some(Ok(Message::Text(request))) => send_items(&mut ws, &request).await,
                message => echo(&mut ws, message).await,
            },
            Some(event) = rx.recv() => ws
                .send(Message::Binary(event))
                .await
                .map_err(|e| error(format!("raw ws: send: {e}"))),
        };
        if written.is_err() {
            break;
        }
    }
}

/// Answers `items COUNT SIZE`: COUNT binary messages of SIZE bytes, flushed every
/// [`ECHO_BATCH`] messages (the raw floor of a stream: no framing, no flow control but TCP's).
async fn send_items(ws: &mut WebSocketStream<TcpStream>, request: &str) -> Result<(), BoxError> {
    let (count, size) = parse_items(request)?;
    let item = Bytes::from(vec![7u8; size]);
    for sent in 1..=count {
        ws.feed(Message::Binary(item.clone()))
            .await
            .map_err(|e| error(format!("raw ws: send: {e}")))?;
        if sent % ECHO_BATCH as u64 == 0 {
            ws.flush()
                .await
                .map_err(|e| error(format!("raw ws: flush: {e}")))?;
        }
    }
    ws.flush()
        .await
        .map_err(|e| error(format!("raw ws: flush: {e}")))
}

/// `items COUNT SIZE` → (COUNT, SIZE).
fn parse_items(request: &str) -> Result<(u64, usize), BoxError> {
    let mut words = request.split(' ');
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("items"), Some(count), Some(size), None) => Ok((
            count.parse().map_err(|_| error("raw ws: bad item count"))?,
            size.parse().map_err(|_| error("raw ws: bad item size"))?,
        )),
        _ => Err(error(format!(
            "raw ws: unexpected text message {request:?}"
        ))),
    }
}

/// Echoes `first` and every message already received after it (up to [`ECHO_BATCH`]), then
/// flushes once.
async fn echo(
    ws: &mut WebSocketStream<TcpStream>,
    first: Option<Result<Message, WsError>>,
) -> Result<(), BoxError> {
    let mut message = Some(first);
    let mut fed = 0;
    while let Some(received) = message {
        if let Some(data) = binary(received)? {
            ws.feed(Message::Binary(data))
                .await
                .map_err(|e| error(format!("raw ws: send: {e}")))?;
            fed += 1;
        }
        if fed == ECHO_BATCH {
            break;
        }
        message = ws.next().now_or_never();
    }
    ws.flush()
        .await
        .map_err(|e| error(format!("raw ws: flush: {e}")))
}

/// The data of a binary message; `None` for control frames (tungstenite answers pings itself).
fn binary(message: Option<Result<Message, WsError>>) -> Result<Option<Bytes>, BoxError> {
    match message {
        Some(Ok(Message::Binary(data))) => Ok(Some(data)),
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Ok(None),
        Some(Ok(Message::Text(_))) => Err(error("raw ws: unexpected text message")),
        Some(Ok(Message::Close(_))) | None => Err(error("raw ws: the connection closed")),
        Some(Err(e)) => Err(error(format!("raw ws: {e}"))),
    }
}

/// A client: one WebSocket connection. Clones share it; one call at a time uses it.
#[derive(Clone)]
pub struct Client {
    ws: Arc<tokio::sync::Mutex<WebSocketStream<TcpStream>>>,
}

/// Connects a client to the server on `port`.
///
/// # Errors
/// If connecting fails.
pub async fn connect(port: u16) -> Result<Client, BoxError> {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| error(format!("raw ws: connect: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let (ws, _) = tokio_tungstenite::client_async_with_config(
        format!("ws://127.0.0.1:{port}/"),
        tcp,
        Some(websocket_config()),
    )
    .await
    .map_err(|e| error(format!("raw ws: upgrade: {e}")))?;
    Ok(Client {
        ws: Arc::new(tokio::sync::Mutex::new(ws)),
    })
}

impl Client {
    /// Sends a copy of `payload` and waits for its echo; returns the echo's length.
    ///
    /// # Errors
    /// If the connection fails.
    pub async fn echo(&self, payload: &[u8]) -> Result<usize, BoxError> {
        let mut ws = self.ws.lock().await;
        ws.send(Message::Binary(Bytes::copy_from_slice(payload)))
            .await
            .map_err(|e| error(format!("raw ws: send: {e}")))?;
        loop {
            if let Some(data) = binary(ws.next().await)? {
                return Ok(data.len());
            }
        }
    }

    /// Pipelines copies of `payload`, keeping `in_flight` unanswered, until `window` has passed or
    /// `max_calls` were sent, then waits for the last echoes. Returns the echoes received and the
    /// time taken.
    ///
    /// # Errors
    /// If the connection fails or an echo has the wrong length.
    pub async fn pipeline(
        &self,
        payload: Vec<u8>,
        in_flight: usize,
        window: Duration,
        max_calls: u64,
    ) -> Result<(u64, Duration), BoxError> {
        let mut ws = self.ws.lock().await;
        let expected = payload.len();
        let message = Message::Binary(payload.into());
        let in_flight = in_flight.max(1) as u64;
        let started = Instant::now();
        let deadline = started + window;
        let (mut sent, mut received) = (0u64, 0u64);
        let check = |data: Bytes| {
            if data.len() == expected {
                Ok(())
            } else {
                Err(error(format!(
                    "raw ws: echo of {} bytes, sent {expected}",
                    data.len()
                )))
            }
        };
        loop {
            while sent - received < in_flight && sent < max_calls && Instant::now() < deadline {
                ws.feed(message.clone())
                    .await
                    .map_err(|e| error(format!("raw ws: send: {e}")))?;
                sent += 1;
            }
            ws.flush()
                .await
                .map_err(|e| error(format!("raw ws: flush: {e}")))?;
            if received == sent {
                return Ok((received, started.elapsed()));
            }
            if let Some(data) = binary(ws.next().await)? {
                check(data)?;
                received += 1;
            }
            // Take the echoes that have already arrived before refilling the window.
            while received < sent {
                match ws.next().now_or_never() {
                    Some(message) => {
                        if let Some(data) = binary(message)? {
                            check(data)?;
                            received += 1;
                        }
                    }
                    None => break,
                }
            }
        }
    }
}

impl Client {
    /// Asks for `count` messages of `size` bytes and reads them; returns how many arrived.
    ///
    /// # Errors
    /// If the connection fails or a message has the wrong size.
    pub async fn items(&self, count: u64, size: u32) -> Result<u64, BoxError> {
        let mut ws = self.ws.lock().await;
        ws.send(Message::Text(format!("items {count} {size}").into()))
            .await
            .map_err(|e| error(format!("raw ws: send: {e}")))?;
        let mut received = 0;
        while received < count {
            if let Some(data) = binary(ws.next().await)? {
                if data.len() != size as usize {
                    return Err(error("raw ws: an item of the wrong size"));
                }
                received += 1;
            }
        }
        Ok(received)
    }
}

/// A connection and the fan-out messages it receives.
pub struct Events {
    client: Client,
}

impl Events {
    /// Reads fan-out messages from `client`'s connection (every connection gets them).
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The sequence number of the next fan-out message.
    ///
    /// # Errors
    /// If the connection fails or the message is too short.
    pub async fn next(&mut self) -> Result<u64, BoxError> {
        let mut ws = self.client.ws.lock().await;
        loop {
            if let Some(data) = binary(ws.next().await)? {
                let seq = data
                    .get(..8)
                    .and_then(|bytes| bytes.try_into().ok())
                    .ok_or_else(|| error("raw ws: fan-out message shorter than 8 bytes"))?;
                return Ok(u64::from_le_bytes(seq));
            }
        }
    }
}
