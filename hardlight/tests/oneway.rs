//! One-way methods (`#[oneway]`, the `NOTIFY` frame): the client sends without waiting for a reply
//! and learns whether the message left; the server validates, dispatches and counts it against the
//! same limits as calls, and closes the connection when it cannot run it.
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::relay::Relay;
use common::*;
use futures_util::{FutureExt, StreamExt};
use hardlight::__private::ServiceSchema;
use hardlight::__private::wire::frame::{ServerFrame, decode_server, encode_call, encode_notify};
use hardlight::wire::close;
use hardlight::*;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;

#[connection_state]
pub struct LogState {
    pub mark: u32,
}

#[rpc(state = LogState)]
pub trait Logger {
    /// Appends `line` to the shared log.
    #[oneway]
    async fn log(&self, line: String);
    /// Waits inside its handler until the test opens the gate.
    #[oneway]
    async fn park(&self);
    #[oneway]
    async fn explode(&self);
    /// Sets the connection state's `mark`.
    #[oneway]
    async fn mark(&self, value: u32) -> ();
    /// The lines logged so far, by every connection.
    async fn lines(&self) -> HandlerResult<Vec<String>>;
    /// A call that waits for the gate, as `park` does.
    async fn wait(&self) -> HandlerResult<()>;
}

// Method indices, for raw peers.
const METHODS: &[&str] = <dyn Logger as ServiceSchema>::METHODS;
const LOG: u16 = method_index(METHODS, "log");
const PARK: u16 = method_index(METHODS, "park");
const LINES: u16 = method_index(METHODS, "lines");
const WAIT: u16 = method_index(METHODS, "wait");

/// What the handlers share with the test.
pub struct LogCtx {
    lines: Mutex<Vec<String>>,
    logged: watch::Sender<usize>,
    gate: Semaphore,
    /// Handlers that entered the gate, ever.
    entered: watch::Sender<usize>,
    /// Handlers waiting at the gate now, and the most there ever were at once.
    inside: AtomicUsize,
    most_inside: AtomicUsize,
    /// Handlers stopped while waiting at the gate (their futures dropped).
    stopped: watch::Sender<usize>,
}

impl Default for LogCtx {
    fn default() -> Self {
        Self {
            lines: Mutex::default(),
            logged: watch::channel(0).0,
            gate: Semaphore::new(0),
            entered: watch::channel(0).0,
            inside: AtomicUsize::new(0),
            most_inside: AtomicUsize::new(0),
            stopped: watch::channel(0).0,
        }
    }
}

impl LogCtx {
    async fn wait_logged(&self, n: usize) {
        let mut rx = self.logged.subscribe();
        within("lines to be logged", rx.wait_for(|l| *l >= n))
            .await
            .expect("sender lives in ctx");
    }

    async fn wait_entered(&self, n: usize) {
        let mut rx = self.entered.subscribe();
        within("handlers to enter the gate", rx.wait_for(|e| *e >= n))
            .await
            .expect("sender lives in ctx");
    }

    async fn wait_stopped(&self, n: usize) {
        let mut rx = self.stopped.subscribe();
        within("handlers to be stopped", rx.wait_for(|s| *s >= n))
            .await
            .expect("sender lives in ctx");
    }

    fn most_inside(&self) -> usize {
        self.most_inside.load(Ordering::SeqCst)
    }

    /// Waits at the gate; counted as stopped if dropped before it opens.
    async fn pass_gate(&self) {
        struct Inside<'a> {
            ctx: &'a LogCtx,
            passed: bool,
        }
        impl Drop for Inside<'_> {
            fn drop(&mut self) {
                self.ctx.inside.fetch_sub(1, Ordering::SeqCst);
                if !self.passed {
                    self.ctx.stopped.send_modify(|n| *n += 1);
                }
            }
        }
        let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_inside.fetch_max(now, Ordering::SeqCst);
        let mut inside = Inside {
            ctx: self,
            passed: false,
        };
        self.entered.send_modify(|n| *n += 1);
        if let Ok(permit) = self.gate.acquire().await {
            permit.forget();
        }
        inside.passed = true;
    }
}

#[rpc_handler(context = LogCtx)]
impl Logger for LogHandler {
    async fn log(&self, line: String) {
        self.context
            .lines
            .lock()
            .expect("no test panics holding it")
            .push(line);
        self.context.logged.send_modify(|n| *n += 1);
    }

    async fn park(&self) {
        self.context.pass_gate().await;
    }

    async fn explode(&self) {
        panic!("this one-way handler always panics")
    }

    async fn mark(&self, value: u32) {
        self.state.write().await.mark = value;
    }

    async fn lines(&self) -> HandlerResult<Vec<String>> {
        Ok(self
            .context
            .lines
            .lock()
            .expect("no test panics holding it")
            .clone())
    }

    async fn wait(&self) -> HandlerResult<()> {
        self.context.pass_gate().await;
        Ok(())
    }
}

/// A server hosting the test service and `Logger`, whose handlers share the returned context.
async fn log_server(config: ServerConfig) -> (TestServer, Arc<LogCtx>) {
    let ctx = Arc::new(LogCtx::default());
    let server = TestServer::hosting(config, {
        let ctx = ctx.clone();
        |server| server.service(factory!(LogHandler, ctx))
    })
    .await;
    (server, ctx)
}

async fn logger_with(config: ClientConfig) -> LoggerClient {
    let client = LoggerClient::new(config);
    within("connect", client.connect()).await.expect("connect");
    client
}

/// A raw peer of `Logger` that completed the handshake and read `HELLO`.
async fn raw_logger(port: u16) -> RawPeer {
    raw_service(port, hardlight::fingerprint::<dyn Logger>(), None)
        .await
        .0
}

/// The next `REPLY` a raw peer receives: its call id and body.
async fn next_reply(ws: &mut RawPeer) -> (u32, Vec<u8>) {
    loop {
        match within("a reply", ws.next()).await {
            Some(Ok(Message::Binary(frame))) => {
                if let Ok(ServerFrame::Reply { call_id, body, .. }) = decode_server(&frame) {
                    return (call_id, body.to_vec());
                }
            }
            Some(Ok(_)) => {}
            other => panic!("expected a reply, got {other:?}"),
        }
    }
}

fn notify<A: Codable>(method: u16, args: &A) -> Vec<u8> {
    encode_notify(method, args).expect("the arguments encode")
}

/// The test service's client is still served, and every other connection is gone.
async fn only_the_bystander_is_left(server: &TestServer, bystander: &TestClient) {
    assert_eq!(
        within("bystander call", bystander.add(20, 22))
            .await
            .unwrap(),
        42
    );
    within(
        "the refused peer's connection to end",
        server.stats.wait_for_connections(|n| n == 1),
    )
    .await;
    assert_eq!(server.stats.calls_in_flight(), 0);
}

// ---------------------------------------------------------------------------------------------
// The typed client

#[tokio::test]
async fn a_oneway_message_reaches_its_handler_with_its_arguments() {
    let (server, ctx) = log_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = logger_with(server.client_config()).await;
    within("log", client.log("hello".into())).await.unwrap();
    ctx.wait_logged(1).await;
    assert_eq!(client.lines().await.unwrap(), ["hello"]);
    assert_eq!(server.stats.oneways_received(), 1);
    assert_eq!(server.stats.oneways_refused(), 0);
}

#[tokio::test]
async fn oneway_messages_start_in_order_with_the_calls_sent_after_them() {
    let (server, _ctx) = log_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = logger_with(server.client_config()).await;
    // `log` finishes without waiting for anything, so each has run before the next message is read:
    // the call sees both.
    client.log("first".into()).await.unwrap();
    client.log("second".into()).await.unwrap();
    assert_eq!(client.lines().await.unwrap(), ["first", "second"]);
}

#[tokio::test]
async fn a_large_oneway_message_travels_compressed() {
    let (server, ctx) = log_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = logger_with(server.client_config().compression(Compression::best())).await;
    let line = "one-way ".repeat(50_000);
    within("log", client.log(line.clone())).await.unwrap();
    ctx.wait_logged(1).await;
    assert_eq!(client.lines().await.unwrap(), [line]);
}

#[tokio::test]
async fn state_changes_made_by_a_oneway_handler_reach_the_client() {
    let (server, _ctx) = log_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = logger_with(server.client_config()).await;
    let mut watcher = client.watch_state();
    client.mark(7).await.unwrap();
    let state = within("the state change", watcher.changed()).await.unwrap();
    assert_eq!(state.mark, 7);
}

#[tokio::test]
async fn a_oneway_message_without_a_connection_is_not_connected() {
    let (server, _ctx) = log_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = LoggerClient::new(server.client_config());
    assert!(matches!(
        client.log("never sent".into()).await,
        Err(RpcError::NotConnected)
    ));
    within("connect", client.connect()).await.unwrap();
    client.disconnect().await;
    assert!(matches!(
        client.log("never sent".into()).await,
        Err(RpcError::NotConnected)
    ));
    assert_eq!(server.stats.oneways_received(), 0);
}

#[tokio::test]
async fn a_oneway_message_over_the_servers_size_limit_is_refused_locally() {
    let (server, _ctx) =
        log_server(ServerConfig::new_self_signed("127.0.0.1:0").max_message_size(1024)).await;
    let client = logger_with(server.client_config()).await;
    match client.log("x".repeat(2000)).await {
        Err(RpcError::LimitExceeded(why)) => assert!(why.contains("1024"), "{why}"),
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
    // Nothing was sent; the connection goes on.
    assert!(client.lines().await.unwrap().is_empty());
    assert_eq!(server.stats.oneways_received(), 0);
}

/// A server that takes messages of 64 MiB, a client of it through a relay that is then cut, and a
/// message that cannot leave: 32 MiB is far more than the sockets on the way can buffer.
async fn stuck_behind_a_cut_relay() -> (TestServer, Relay, LoggerClient, String) {
    let (server, _ctx) =
        log_server(ServerConfig::new_self_signed("127.0.0.1:0").max_message_size(64 << 20)).await;
    let relay = Relay::to(&server).await;
    let client = logger_with(relay.client_config(&server)).await;
    relay.cut();
    (server, relay, client, "x".repeat(32 << 20))
}

#[tokio::test]
async fn a_oneway_message_the_connection_ends_under_fails_with_connection_closed() {
    let (_server, _relay, client, line) = stuck_behind_a_cut_relay().await;
    let mut send = std::pin::pin!(client.log(line));
    // One poll hands the frame to the connection; it cannot be flushed.
    assert!((&mut send).now_or_never().is_none());
    client.disconnect().await;
    match within("the stuck message to fail", send).await {
        Err(RpcError::ConnectionClosed { code, reason, .. }) => {
            assert_eq!(code, Some(close::NORMAL), "{reason}");
        }
        other => panic!("expected ConnectionClosed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_oneway_message_that_cannot_leave_in_time_fails_with_a_timeout() {
    let (_server, _relay, client, line) = stuck_behind_a_cut_relay().await;
    let started = Instant::now();
    match within(
        "the deadline",
        client.with_timeout(Duration::from_millis(200)).log(line),
    )
    .await
    {
        Err(RpcError::Timeout(why)) => assert!(why.contains("200ms"), "{why}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn a_panicking_oneway_handler_leaves_the_connection_serving() {
    let (server, _ctx) = log_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = logger_with(server.client_config()).await;
    client.explode().await.unwrap();
    client.log("after".into()).await.unwrap();
    assert_eq!(client.lines().await.unwrap(), ["after"]);
    assert_eq!(server.stats.oneways_received(), 2);
    assert!(client.is_connected());
}

#[tokio::test]
async fn a_oneway_handler_past_the_call_timeout_is_stopped() {
    let (server, ctx) = log_server(
        ServerConfig::new_self_signed("127.0.0.1:0").call_timeout(Duration::from_millis(200)),
    )
    .await;
    let client = logger_with(server.client_config()).await;
    // Nobody opens the gate: the handler would wait forever.
    client.park().await.unwrap();
    ctx.wait_stopped(1).await;
    assert!(client.lines().await.unwrap().is_empty());
}

#[tokio::test]
async fn oneway_handlers_are_stopped_when_the_connection_ends() {
    let (server, ctx) = log_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = logger_with(server.client_config()).await;
    client.park().await.unwrap();
    client.park().await.unwrap();
    ctx.wait_entered(2).await;
    assert_eq!(server.stats.calls_in_flight(), 2);
    client.disconnect().await;
    ctx.wait_stopped(2).await;
    within(
        "the connection to end",
        server.stats.wait_for_connections(|n| n == 0),
    )
    .await;
    assert_eq!(server.stats.calls_in_flight(), 0);
}

#[tokio::test]
async fn oneway_messages_pass_the_call_rate_limit() {
    // 5 at once, then 50 per second: handling 30 messages takes at least (30 - 5) / 50 s = 0.5 s,
    // however fast the client writes them.
    let (server, ctx) = log_server(
        ServerConfig::new_self_signed("127.0.0.1:0")
            .call_rate_limit(RateLimit::per_second(50).burst(5)),
    )
    .await;
    let client = logger_with(server.client_config()).await;
    let started = Instant::now();
    let sends = (0..30).map(|i| client.log(format!("line {i}")));
    for sent in within("30 writes", futures_util::future::join_all(sends)).await {
        sent.unwrap();
    }
    ctx.wait_logged(30).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(450),
        "30 one-way messages at 50/s after a burst of 5 were handled in {elapsed:?}"
    );
}

#[tokio::test]
async fn a_client_and_a_server_that_disagree_about_oneway_refuse_each_other() {
    mod as_a_call {
        use hardlight::*;

        // `Logger` with its first method a call: the same names and types otherwise.
        #[rpc(state = super::LogState)]
        pub trait Logger {
            async fn log(&self, line: String) -> HandlerResult<()>;
        }
    }
    let oneway = hardlight::schema::<dyn Logger>();
    assert!(oneway.contains("\noneway fn log(String)\n"), "{oneway}");
    assert!(
        oneway.contains("\noneway fn mark(u32)\n"),
        "`-> ()` is written as none: {oneway}"
    );
    assert!(oneway.contains("\nfn lines() -> Result<Vec<String>,HandlerError>\n"));
    let call = hardlight::schema::<dyn as_a_call::Logger>();
    assert!(
        call.starts_with(
            "service Logger\nevents EventPayload\nfn log(String) -> Result<(),HandlerError>\n"
        ),
        "{call}"
    );
    assert_eq!(
        <dyn Logger as ServiceSchema>::ONEWAY,
        [true, true, true, true, false, false]
    );

    let (server, _ctx) = log_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let client = as_a_call::LoggerClient::new(server.client_config());
    match within("refused connect", client.connect()).await {
        Err(ConnectError::HandshakeRefused { code, .. }) => {
            assert_eq!(code, close::SCHEMA_MISMATCH)
        }
        other => panic!("expected a schema mismatch, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Raw peers

#[tokio::test]
async fn bad_oneway_arguments_close_the_connection_with_1007() {
    let (server, ctx) = log_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let bystander = server.client().await;
    let mut ws = raw_logger(server.port).await;
    // `log` takes (String,): three bytes are not a valid archive of it.
    let mut frame = notify(LOG, &());
    frame.extend_from_slice(&[1, 2, 3]);
    send_binary(&mut ws, frame).await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, close::INVALID_PAYLOAD, "{reason}");
    assert!(reason.contains("log"), "{reason}");
    assert_eq!(server.stats.oneways_refused(), 1);
    assert_eq!(server.stats.oneways_received(), 0);
    assert_eq!(*ctx.logged.borrow(), 0);
    only_the_bystander_is_left(&server, &bystander).await;
}

#[tokio::test]
async fn a_notify_for_an_unknown_method_or_a_call_is_a_protocol_error() {
    let (server, _ctx) = log_server(ServerConfig::new_self_signed("127.0.0.1:0")).await;
    let bystander = server.client().await;
    let cases = [
        ("unknown method", notify(99, &()), "does not exist"),
        ("NOTIFY for a call", notify(LINES, &()), "is a call"),
        (
            "CALL for a one-way method",
            encode_call(1, LOG, &(String::from("hi"),)).unwrap(),
            "is one-way",
        ),
    ];
    for (what, frame, expected) in cases {
        let mut ws = raw_logger(server.port).await;
        send_binary(&mut ws, frame).await;
        let (code, reason) = expect_close(&mut ws).await;
        assert_eq!(code, close::PROTOCOL_ERROR, "{what}: {reason}");
        assert!(reason.contains(expected), "{what}: {reason}");
        only_the_bystander_is_left(&server, &bystander).await;
    }
    // The NOTIFYs were refused; the CALL is not a one-way message.
    assert_eq!(server.stats.oneways_refused(), 2);
}

#[tokio::test]
async fn a_flood_of_oneway_messages_runs_within_the_in_flight_limit() {
    let (server, ctx) =
        log_server(ServerConfig::new_self_signed("127.0.0.1:0").max_calls_in_flight(4)).await;
    let mut ws = raw_logger(server.port).await;
    for _ in 0..20 {
        send_binary(&mut ws, notify(PARK, &())).await;
    }
    // Four handlers run; the server reads no more until one ends, and the peer is not closed.
    ctx.wait_entered(4).await;
    assert_eq!(server.stats.calls_in_flight(), 4);
    for entered in 5..=20 {
        ctx.gate.add_permits(1);
        ctx.wait_entered(entered).await;
        assert!(ctx.most_inside() <= 4, "{} at once", ctx.most_inside());
    }
    assert_eq!(ctx.most_inside(), 4);
    ctx.gate.add_permits(4);
    // Still connected: a call after the flood is answered.
    send_binary(&mut ws, encode_call(1, LINES, &()).unwrap()).await;
    assert_eq!(next_reply(&mut ws).await.0, 1);
    assert_eq!(server.stats.oneways_received(), 20);
}

#[tokio::test]
async fn calls_wait_behind_running_oneway_messages_and_are_never_refused() {
    let (server, ctx) =
        log_server(ServerConfig::new_self_signed("127.0.0.1:0").max_calls_in_flight(4)).await;
    let mut ws = raw_logger(server.port).await;
    // Three one-way handlers hold three slots; then four calls, which the client may send since it
    // has no call in flight. One runs; the others wait unread instead of closing the connection.
    for _ in 0..3 {
        send_binary(&mut ws, notify(PARK, &())).await;
    }
    for id in 1..=4 {
        send_binary(&mut ws, encode_call(id, WAIT, &()).unwrap()).await;
    }
    ctx.wait_entered(4).await;
    assert_eq!(server.stats.calls_in_flight(), 4);
    ctx.gate.add_permits(100);
    let mut replied: Vec<u32> = Vec::new();
    for _ in 0..4 {
        replied.push(next_reply(&mut ws).await.0);
    }
    replied.sort_unstable();
    assert_eq!(replied, [1, 2, 3, 4]);
    assert!(ctx.most_inside() <= 4, "{} at once", ctx.most_inside());
}

#[tokio::test]
async fn a_oneway_message_arriving_while_calls_take_every_slot_waits_for_one() {
    let (server, ctx) =
        log_server(ServerConfig::new_self_signed("127.0.0.1:0").max_calls_in_flight(2)).await;
    let mut ws = raw_logger(server.port).await;
    for id in 1..=2 {
        send_binary(&mut ws, encode_call(id, WAIT, &()).unwrap()).await;
    }
    ctx.wait_entered(2).await;
    // Every slot is taken by a call the client may have in flight: the one-way message is held,
    // and so is the call after it, until a slot frees.
    send_binary(&mut ws, notify(LOG, &(String::from("held"),))).await;
    send_binary(&mut ws, encode_call(3, LINES, &()).unwrap()).await;
    ctx.gate.add_permits(1);
    let mut replies = vec![next_reply(&mut ws).await];
    ctx.gate.add_permits(1);
    replies.push(next_reply(&mut ws).await);
    replies.push(next_reply(&mut ws).await);
    let lines = replies
        .iter()
        .find(|(id, _)| *id == 3)
        .map(|(_, body)| <Vec<String>>::decode(body).expect("a list of lines"));
    // The held message ran before the call that came after it.
    assert_eq!(lines, Some(vec!["held".to_owned()]));
    assert_eq!(server.stats.oneways_received(), 1);
}
