//! Connection hooks: `#[on_connect]` runs before `HELLO` (its state and subscriptions are there from
//! the start; a panic or a hang closes with 1011), and `#[on_disconnect]` runs exactly once however
//! the connection ends, after its calls stop and before its subscriptions go.
mod common;

use std::future::pending;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use hardlight::wire::close;
use hardlight::*;
use tokio::sync::{Semaphore, watch};

#[rpc(state = LobbyState, events = TestEvent)]
trait Lobby {
    /// Waits until the test opens the gate.
    async fn wait(&self) -> HandlerResult<()>;
    async fn ping(&self) -> HandlerResult<u32>;
}

#[connection_state]
struct LobbyState {
    greeting: String,
}

/// What `on_connect` does.
const CONNECT_NORMALLY: u8 = 0;
const CONNECT_PANICS: u8 = 1;
const CONNECT_HANGS: u8 = 2;

/// What the hooks saw.
#[derive(Debug)]
struct Seen {
    why: Disconnect,
    /// Whether the connection was still subscribed to the lobby during `on_disconnect`.
    subscribed: bool,
    /// Whether the call in flight had been stopped (its future dropped) by then.
    call_stopped: bool,
}

/// Shared by every connection's handler: the tests steer the hooks and read what they saw here.
struct Journal {
    on_connect: AtomicU8,
    hang_on_disconnect: AtomicBool,
    connected: AtomicUsize,
    disconnects: watch::Sender<Vec<Seen>>,
    entered: watch::Sender<usize>,
    gate: Semaphore,
    call_stopped: AtomicBool,
}

impl Default for Journal {
    fn default() -> Self {
        Self {
            on_connect: AtomicU8::new(CONNECT_NORMALLY),
            hang_on_disconnect: AtomicBool::new(false),
            connected: AtomicUsize::new(0),
            disconnects: watch::Sender::default(),
            entered: watch::Sender::default(),
            gate: Semaphore::new(0),
            call_stopped: AtomicBool::new(false),
        }
    }
}

impl Journal {
    /// Waits for `n` on_disconnect calls in all.
    async fn wait_disconnects(&self, n: usize) {
        let mut rx = self.disconnects.subscribe();
        within("on_disconnect", rx.wait_for(|seen| seen.len() >= n))
            .await
            .expect("sender lives in the journal");
    }

    fn disconnect_count(&self) -> usize {
        self.disconnects.borrow().len()
    }

    /// The `Disconnect` of the only on_disconnect so far.
    fn only_disconnect(&self) -> Disconnect {
        let seen = self.disconnects.borrow();
        assert_eq!(
            seen.len(),
            1,
            "on_disconnect ran {} times: {seen:?}",
            seen.len()
        );
        seen[0].why.clone()
    }
}

/// Sets its flag when dropped: tells that a call's future was dropped.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn lobby() -> Topic {
    Topic::new("lobby")
}

#[rpc_handler(context = Journal)]
impl Lobby for LobbyHandler {
    async fn wait(&self) -> HandlerResult<()> {
        let _stopped = SetOnDrop(&self.context.call_stopped);
        self.context.entered.send_modify(|n| *n += 1);
        let permit = self
            .context
            .gate
            .acquire()
            .await
            .map_err(|_| "gate closed")?;
        permit.forget();
        Ok(())
    }

    async fn ping(&self) -> HandlerResult<u32> {
        Ok(7)
    }

    /// Greets the connection and puts it in the lobby.
    #[on_connect]
    async fn joined(&self) {
        match self.context.on_connect.load(Ordering::SeqCst) {
            CONNECT_PANICS => panic!("no entry today"),
            CONNECT_HANGS => pending::<()>().await,
            _ => {}
        }
        self.state.write().await.greeting = "welcome".into();
        self.subscriptions.add(&lobby());
        self.context.connected.fetch_add(1, Ordering::SeqCst);
    }

    #[on_disconnect]
    async fn left(&self, why: Disconnect) {
        let seen = Seen {
            why,
            subscribed: self.subscriptions.contains(&lobby()),
            call_stopped: self.context.call_stopped.load(Ordering::SeqCst),
        };
        self.context.disconnects.send_modify(|all| all.push(seen));
        if self.context.hang_on_disconnect.load(Ordering::SeqCst) {
            pending::<()>().await;
        }
    }
}

async fn start(config: ServerConfig) -> (Served, std::sync::Arc<Journal>) {
    let journal = std::sync::Arc::new(Journal::default());
    let server = Served::spawn(config, factory!(LobbyHandler, journal.clone())).await;
    (server, journal)
}

async fn connect(server: &Served) -> LobbyClient {
    let client = LobbyClient::new(server.client_config());
    within("connect", client.connect()).await.expect("connect");
    client
}

/// A raw WebSocket that completed the handshake of the lobby service and read `HELLO`.
async fn raw_lobby(port: u16) -> RawPeer {
    let fingerprint = hardlight::fingerprint::<dyn Lobby>();
    raw_service(port, fingerprint, None).await.0
}

#[tokio::test]
async fn on_connect_state_is_in_the_first_snapshot_and_its_topic_delivers_events() {
    let (server, journal) = start(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = connect(&server).await;
    // In the HELLO snapshot: no call was needed to see it.
    assert_eq!(client.state().await.unwrap().greeting, "welcome");
    assert_eq!(journal.connected.load(Ordering::SeqCst), 1);

    let mut events = client.subscribe().await.unwrap();
    let reached = server
        .emitter
        .emit(&lobby(), TestEvent::Text("hi all".into()))
        .await
        .unwrap();
    assert_eq!(reached, 1, "the connection is in the lobby from the start");
    let event = within("the lobby event", events.recv()).await.unwrap();
    assert_eq!(event.payload, TestEvent::Text("hi all".into()));
    assert_eq!(journal.disconnect_count(), 0);
}

#[tokio::test]
async fn on_disconnect_runs_once_after_the_calls_stop_and_before_the_subscriptions_go() {
    let (server, journal) = start(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = connect(&server).await;
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.wait().await }
    });
    let mut entered = journal.entered.subscribe();
    within("the call to start", entered.wait_for(|n| *n == 1))
        .await
        .unwrap();

    client.disconnect().await;
    assert!(within("the cut-off call", call).await.unwrap().is_err());
    server.settles_at(0).await;

    let seen = journal.disconnects.borrow();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let Seen {
        why,
        subscribed,
        call_stopped,
    } = &seen[0];
    assert_eq!(why.code(), Some(close::NORMAL));
    assert_eq!(why.initiator(), Initiator::Client);
    assert!(why.is_clean(), "{why}");
    assert!(
        call_stopped,
        "the call in flight was stopped before on_disconnect"
    );
    assert!(
        subscribed,
        "on_disconnect still sees the connection's subscriptions"
    );
    assert_eq!(server.emitter.topic_count(), 0, "and then they are gone");
}

#[tokio::test]
async fn on_disconnect_runs_once_when_the_client_vanishes_without_closing() {
    let (server, journal) = start(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let peer = raw_lobby(server.port).await;
    // Dropped without a close frame or a TLS close_notify: as a killed process or a lost network.
    drop(peer);
    server.settles_at(0).await;
    let why = journal.only_disconnect();
    assert_eq!(why.code(), None);
    assert_eq!(why.initiator(), Initiator::Client);
    assert!(!why.is_clean(), "{why}");
}

#[tokio::test]
async fn on_disconnect_runs_once_at_server_shutdown() {
    let (mut server, journal) = start(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = connect(&server).await;
    server.shutdown.shutdown(Duration::from_secs(5));
    within("run to return", server.stopped()).await.unwrap();
    let why = journal.only_disconnect();
    assert_eq!(why.code(), Some(close::GOING_AWAY));
    assert_eq!(why.initiator(), Initiator::Server);
    assert!(why.is_clean(), "the client answered the close: {why}");
    match within("the client to see the close", client.closed()).await {
        ClosedError::Ended(RpcError::ConnectionClosed { code, .. }) => {
            assert_eq!(code, Some(close::GOING_AWAY))
        }
        other => panic!("expected a 1001 close, got {other:?}"),
    }
}

#[tokio::test]
async fn on_disconnect_runs_when_the_server_drops_a_silent_peer() {
    let (server, journal) = start(
        ServerConfig::new_self_signed("127.0.0.1:0")
            .keepalive(Duration::from_millis(100), Duration::from_millis(500)),
    )
    .await;
    // Never polled again: it answers no ping and not the close.
    let _silent = raw_lobby(server.port).await;
    journal.wait_disconnects(1).await;
    server.settles_at(0).await;
    let why = journal.only_disconnect();
    assert_eq!(why.code(), Some(close::IDLE_TIMEOUT));
    assert_eq!(why.initiator(), Initiator::Server);
    assert!(!why.is_clean(), "the peer never answered: {why}");
}

#[tokio::test]
async fn on_disconnect_runs_when_the_server_closes_for_a_protocol_violation() {
    let (server, journal) = start(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let mut peer = raw_lobby(server.port).await;
    send_binary(&mut peer, vec![0xff, 0, 0]).await;
    let (code, _) = expect_close(&mut peer).await;
    assert_eq!(code, close::PROTOCOL_ERROR);
    // The close answered (tungstenite queues the answer; closing the sink sends it).
    let _ = within("the answer", SinkExt::close(&mut peer)).await;
    server.settles_at(0).await;
    let why = journal.only_disconnect();
    assert_eq!(why.code(), Some(close::PROTOCOL_ERROR));
    assert_eq!(why.initiator(), Initiator::Server);
    assert!(why.is_clean(), "{why}");
}

#[tokio::test]
async fn a_panicking_on_connect_closes_with_1011_skips_on_disconnect_and_the_server_goes_on() {
    let (server, journal) = start(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    journal.on_connect.store(CONNECT_PANICS, Ordering::SeqCst);
    let refused = LobbyClient::new(server.client_config());
    match within("a failed connect", refused.connect()).await {
        Err(ConnectError::ConnectionClosed { code, reason }) => {
            assert_eq!(code, Some(close::INTERNAL_ERROR));
            assert_eq!(reason, "on_connect failed: no entry today");
        }
        other => panic!("expected a 1011 close, got {other:?}"),
    }
    server.settles_at(0).await;
    assert_eq!(journal.disconnect_count(), 0, "on_connect did not complete");
    assert_eq!(server.emitter.topic_count(), 0, "nothing left subscribed");

    journal.on_connect.store(CONNECT_NORMALLY, Ordering::SeqCst);
    let client = connect(&server).await;
    assert_eq!(client.ping().await.unwrap(), 7);
}

#[tokio::test]
async fn an_on_connect_past_its_timeout_closes_with_1011() {
    let (server, journal) = start(
        ServerConfig::new_self_signed("127.0.0.1:0")
            .connect_hook_timeout(Duration::from_millis(200)),
    )
    .await;
    journal.on_connect.store(CONNECT_HANGS, Ordering::SeqCst);
    let client = LobbyClient::new(server.client_config());
    match within("a failed connect", client.connect()).await {
        Err(ConnectError::ConnectionClosed { code, reason }) => {
            assert_eq!(code, Some(close::INTERNAL_ERROR));
            assert_eq!(reason, "on_connect did not finish within 200ms");
        }
        other => panic!("expected a 1011 close, got {other:?}"),
    }
    server.settles_at(0).await;
    assert_eq!(journal.disconnect_count(), 0);
}

#[tokio::test]
async fn a_hung_on_disconnect_is_stopped_at_its_timeout() {
    let (server, journal) = start(
        ServerConfig::new_self_signed("127.0.0.1:0")
            .disconnect_hook_timeout(Duration::from_millis(200)),
    )
    .await;
    journal.hang_on_disconnect.store(true, Ordering::SeqCst);
    let client = connect(&server).await;
    client.disconnect().await;
    // The hook never returns, yet the connection is released.
    server.settles_at(0).await;
    assert_eq!(journal.disconnect_count(), 1);
    assert_eq!(server.emitter.topic_count(), 0);
}
