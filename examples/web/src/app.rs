//! The native half: the board's handler, and an axum app that serves the page, its client and the
//! RPC route on one port.

use std::collections::VecDeque;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::serve::ListenerExt;
use futures_util::StreamExt;
use hardlight::*;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Mutex, watch};

use crate::bundle::Bundle;
use crate::service::{Board, BoardEvent, MAX_COUNTDOWN, RECENT_EVENTS, Step, board_topic};

/// The page: a visitor's view of the board.
const INDEX_HTML: &str = include_str!("../page/index.html");
/// The page the browser test drives: it loads the client and leaves the rest to the test.
const CHECKS_HTML: &str = include_str!("../page/checks.html");

/// The route the RPC service is mounted at.
pub const RPC_ROUTE: &str = "/rpc";

/// The board's shared total and its latest events; their lock also keeps the events in the order
/// of the totals.
#[derive(Default)]
pub struct Tally {
    board: Mutex<Ledger>,
    /// Bytes of the notes pinned so far.
    pinned: watch::Sender<u64>,
}

impl Tally {
    /// Bytes of the notes pinned to the board so far.
    pub fn pinned_bytes(&self) -> u64 {
        *self.pinned.borrow()
    }

    /// Waits until notes of `bytes` bytes in all have been pinned.
    pub async fn pinned_at_least(&self, bytes: u64) {
        // The sender lives in `self`: the wait cannot fail.
        let _ = self
            .pinned
            .subscribe()
            .wait_for(|&pinned| pinned >= bytes)
            .await;
    }
}

/// What the tally's lock guards.
#[derive(Default)]
struct Ledger {
    total: i64,
    /// The last [`RECENT_EVENTS`] events, oldest first.
    recent: VecDeque<BoardEvent>,
}

impl Ledger {
    /// Keeps `event` as the newest, forgetting the oldest beyond [`RECENT_EVENTS`].
    fn record(&mut self, event: BoardEvent) {
        if self.recent.len() == RECENT_EVENTS {
            self.recent.pop_front();
        }
        self.recent.push_back(event);
    }
}

impl BoardHandler {
    /// Adds `amount` to the total for this connection's visitor, who must have joined: one bump,
    /// one event. Returns the new total.
    async fn add(&self, amount: i64) -> HandlerResult<i64> {
        let mut visitor = self.state.write().await;
        if visitor.name.is_empty() {
            return Err("join the board first".into());
        }
        let mut board = self.context.board.lock().await;
        let total = board
            .total
            .checked_add(amount)
            .ok_or("the total would overflow")?;
        board.total = total;
        visitor.bumps += 1;
        let event = BoardEvent::Bumped {
            by: visitor.name.clone(),
            amount,
            total,
        };
        board.record(event.clone());
        self.events.emit(&board_topic(), event).await?;
        Ok(total)
    }
}

#[rpc_handler(context = Tally, vis = pub)]
impl Board for BoardHandler {
    async fn join(&self, name: String) -> HandlerResult<i64> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 32 {
            return Err("a name of 1 to 32 characters, please".into());
        }
        self.state.write().await.name = name.to_owned();
        self.subscriptions.add(&board_topic());
        Ok(self.context.board.lock().await.total)
    }

    async fn bump(&self, amount: i64) -> HandlerResult<i64> {
        self.add(amount).await
    }

    async fn bump_many(&self, amounts: Archived<Vec<i64>>) -> HandlerResult<i64> {
        // Summed where they arrived, without building a `Vec`; in i128, which a message's worth of
        // i64s cannot overflow.
        let sum: i128 = amounts.iter().map(|a| i128::from(a.to_native())).sum();
        let sum = i64::try_from(sum).map_err(|_| "the sum would overflow")?;
        self.add(sum).await
    }

    async fn recent(&self, limit: u32) -> HandlerResult<Archived<Vec<BoardEvent>>> {
        let board = self.context.board.lock().await;
        let skip = board
            .recent
            .len()
            .saturating_sub(usize::try_from(limit).unwrap_or(usize::MAX));
        let newest: Vec<BoardEvent> = board.recent.iter().skip(skip).cloned().collect();
        drop(board);
        Ok(Archived::new(&newest)?)
    }

    async fn countdown(&self, from: u32) -> HandlerResult<Streaming<Step>> {
        if !(1..=MAX_COUNTDOWN).contains(&from) {
            return Err(format!("count down from 1 to {MAX_COUNTDOWN}, not {from}").into());
        }
        // A task produces the items, each counted in the visitor's state before it is sent; it
        // ends when the countdown does, or at its next send once the client has dropped the
        // stream (the server then drops the receiver).
        let state = self.state.clone();
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            for n in (1..=from).rev() {
                state.write().await.counted += 1;
                let step = Step {
                    left: n,
                    bar: "#".repeat(n as usize),
                };
                if sender.send(step).await.is_err() {
                    break;
                }
            }
        });
        Ok(Streaming::from_receiver(receiver))
    }

    async fn shout(&self, lines: Streaming<String>) -> HandlerResult<Streaming<String>> {
        // Each reply is made when its line arrives; a line that failed (a bad item, the client
        // gone) ends the replies with that error.
        Ok(Streaming::from_results(lines.map(|line| {
            line.map(|line| line.to_uppercase())
                .map_err(|e| HandlerError::from(format!("a line failed: {e}")))
        })))
    }

    async fn mirror(&self) -> HandlerResult<ByteStream> {
        let (stream, pipe) = ByteStream::pipe();
        tokio::spawn(async move {
            let (mut reader, mut writer) = tokio::io::split(pipe);
            // Ends at the client's shutdown (the reader's end of file), or when the client is gone.
            if tokio::io::copy(&mut reader, &mut writer).await.is_ok() {
                let _ = writer.shutdown().await;
            }
        });
        Ok(stream)
    }

    async fn carried(&self) -> HandlerResult<(Option<String>, Option<String>)> {
        let trace = hardlight::server::call_trace_parent().map(|parent| parent.to_string());
        let page =
            hardlight::server::call_metadata().and_then(|m| m.get("page").map(str::to_owned));
        Ok((trace, page))
    }

    async fn pin(&self, note: String) {
        self.context
            .pinned
            .send_modify(|pinned| *pinned += note.len() as u64);
    }
}

/// A board server with its own total, configured by `config`: mounted in [`router`], or standalone.
pub fn board_server(config: ServerConfig) -> Server<BoardEvent> {
    board_server_with(config, Arc::default())
}

/// A board server keeping its total (and what was pinned) in `tally`.
pub fn board_server_with(config: ServerConfig, tally: Arc<Tally>) -> Server<BoardEvent> {
    Server::new(config, factory!(BoardHandler, tally))
}

/// The app: the page at `/`, the client's files next to it, the test page at `/checks.html`, and a
/// board server at [`RPC_ROUTE`]. The service comes back too, for its shutdown handle.
pub async fn router(bundle: Arc<Bundle>) -> Result<(Router, AxumService), ServerError> {
    let rpc = board_server(ServerConfig::mounted())
        .into_axum_service()
        .await?;
    let js = bundle.clone();
    let wasm = bundle;
    let app = Router::new()
        .route("/", get(|| async { Html(INDEX_HTML) }))
        .route("/checks.html", get(|| async { Html(CHECKS_HTML) }))
        .route(
            &format!("/{}", Bundle::JS),
            get(move || async move { asset("text/javascript", js.js.clone()) }),
        )
        .route(
            &format!("/{}", Bundle::WASM),
            get(move || async move { asset("application/wasm", wasm.wasm.clone()) }),
        )
        .route_service(RPC_ROUTE, rpc.clone());
    Ok((app, rpc))
}

fn asset(content_type: &'static str, body: axum::body::Bytes) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // A rebuilt client shows at the next reload.
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
}

/// Why the app could not start.
#[derive(Debug)]
pub enum StartError {
    /// The RPC route could not be set up.
    Rpc(ServerError),
    /// The app's listener could not be bound, or could not tell its address.
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Rpc(e) => write!(f, "the RPC route: {e}"),
            StartError::Listen { addr, source } => {
                write!(f, "could not listen on {addr}: {source}")
            }
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Rpc(e) => Some(e),
            StartError::Listen { source, .. } => Some(source),
        }
    }
}

/// The app, serving on a listener of its own.
pub struct RunningApp {
    addr: SocketAddr,
    rpc: AxumService,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl RunningApp {
    /// Binds `addr` and serves the app there until [`RunningApp::shutdown`].
    pub async fn start(addr: SocketAddr, bundle: Arc<Bundle>) -> Result<Self, StartError> {
        let (app, rpc) = router(bundle).await.map_err(StartError::Rpc)?;
        let listen = |source| StartError::Listen { addr, source };
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(listen)?;
        let addr = listener.local_addr().map_err(listen)?;
        // Small frames go out at once, as on a standalone server.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future(),
        );
        Ok(Self {
            addr,
            rpc,
            serving,
            stop,
        })
    }

    /// Where the app listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The RPC route's URL, for native clients.
    pub fn rpc_url(&self) -> String {
        format!("ws://{}{RPC_ROUTE}", self.addr)
    }

    /// Stops taking requests, gives calls in flight `grace`, closes the WebSockets with 1001 and
    /// waits for all of it.
    pub async fn shutdown(self, grace: Duration) {
        self.rpc.shutdown_handle().shutdown(grace);
        let _ = self.stop.send(());
        if let Ok(Err(e)) = self.serving.await {
            tracing::warn!("the app's listener failed: {e}");
        }
        self.rpc.drained().await;
    }
}
