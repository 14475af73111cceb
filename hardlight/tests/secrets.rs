//! Secrets stay out of logs, errors and `Debug` output: with everything captured at TRACE level
//! (hardlight's and async-nats's `tracing` events and spans, and the `log` records of tungstenite and
//! rustls), clients carrying each kind of secret connect, are refused, time out, lose the server and
//! reconnect, and NATS bridges connect with a password and fail with a wrong one. No secret appears in
//! the capture, nor in any error's `Display` or `Debug`.
//!
//! One test per binary: the capture is process-wide.
mod common;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::nats::Nats;
use common::*;
use hardlight::client::{ConnectionEvent, ConnectionEvents, Reconnect};
use hardlight::*;
use tokio::sync::watch;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// Everything logged, as text: each event and span with all its fields, each `log` record.
struct Capture {
    text: Mutex<String>,
    /// Bumped on every record, so that a test can wait for a line.
    records: watch::Sender<u64>,
    next_span: AtomicU64,
}

impl Capture {
    fn push(&self, line: String) {
        let mut text = self.text.lock().unwrap();
        text.push_str(&line);
        text.push('\n');
        drop(text);
        self.records.send_modify(|n| *n += 1);
    }

    fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    /// Waits until the capture holds `needle` (case-insensitive).
    async fn wait_for(&self, needle: &str) {
        let needle = needle.to_lowercase();
        let mut records = self.records.subscribe();
        within(
            &format!("{needle:?} in the log"),
            records.wait_for(|_| self.text().to_lowercase().contains(&needle)),
        )
        .await
        .expect("the capture lives for the whole process");
    }
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

struct Tracing(&'static Capture);

impl Subscriber for Tracing {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::always()
    }

    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut line = format!(
            "span {} {}",
            span.metadata().target(),
            span.metadata().name()
        );
        span.record(&mut Fields(&mut line));
        self.0.push(line);
        Id::from_u64(self.0.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut line = "span record".to_owned();
        values.record(&mut Fields(&mut line));
        self.0.push(line);
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let mut line = format!("{} {}", meta.level(), meta.target());
        event.record(&mut Fields(&mut line));
        self.0.push(line);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

struct Log(&'static Capture);

impl log::Log for Log {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        self.0.push(format!(
            "log {} {} {}",
            record.level(),
            record.target(),
            record.args()
        ));
    }

    fn flush(&self) {}
}

/// Captures everything from now on, `tracing` and `log` alike.
fn capture_everything() -> &'static Capture {
    let capture: &'static Capture = Box::leak(Box::new(Capture {
        text: Mutex::new(String::new()),
        records: watch::channel(0).0,
        next_span: AtomicU64::new(0),
    }));
    tracing::subscriber::set_global_default(Tracing(capture)).expect("the only subscriber");
    let logger: &'static Log = Box::leak(Box::new(Log(capture)));
    log::set_logger(logger).expect("the only logger");
    log::set_max_level(log::LevelFilter::Trace);
    capture
}

/// The secrets of this test; each appears nowhere else, and none changes when percent-encoded.
const HEADER_OK: &str = "ok-sekrit-header-7f3a";
const HEADER_BAD: &str = "bad-sekrit-header-1c9e";
const SUBPROTOCOL_OK: &str = "ok-sekrit-subprotocol-5b2d";
const SUBPROTOCOL_BAD: &str = "bad-sekrit-subprotocol-0e6b";
const QUERY_OK: &str = "ok-sekrit-query-9e4f";
const QUERY_BAD: &str = "bad-sekrit-query-3a7d";
const ADDRESS_OK: &str = "ok-sekrit-address-2a8c";
const ADDRESS_BAD: &str = "bad-sekrit-address-8b1f";
const USERINFO: &str = "sekrit-userinfo-4d1b";
const TIMEOUT: &str = "sekrit-timeout-6e2a";
const INVALID: &str = "sekrit-invalid-9d0c";
const NATS_PASSWORD: &str = "sekrit-nats-8c3e";
const NATS_WRONG: &str = "sekrit-natswrong-3f7a";
const NATS_TOKEN: &str = "sekrit-natstoken-5e9a";

const SECRETS: [&str; 14] = [
    HEADER_OK,
    HEADER_BAD,
    SUBPROTOCOL_OK,
    SUBPROTOCOL_BAD,
    QUERY_OK,
    QUERY_BAD,
    ADDRESS_OK,
    ADDRESS_BAD,
    USERINFO,
    TIMEOUT,
    INVALID,
    NATS_PASSWORD,
    NATS_WRONG,
    NATS_TOKEN,
];

/// Accepts the tokens that start with `ok-`.
fn authenticated(config: ServerConfig) -> ServerConfig {
    config.authenticate(|request: UpgradeRequest| async move {
        match request.token() {
            Some(token) if token.starts_with("ok-") => Ok(Identity::new("a user")),
            _ => Err(Rejection::new("unknown token")),
        }
    })
}

/// Everything the test shows or logs of what it did: each error (with its causes), and each
/// `Debug` output.
#[derive(Default)]
struct Shown(Vec<String>);

impl Shown {
    fn error(&mut self, error: &(dyn std::error::Error + 'static)) {
        self.0.push(format!("{} {error:?}", chain(error)));
    }

    fn debug(&mut self, value: &dyn std::fmt::Debug) {
        self.0.push(format!("{value:?}"));
    }
}

/// Waits for the next `Connected` among a client's connection events; shows every event.
async fn next_connected(events: &mut ConnectionEvents, shown: &mut Shown) {
    loop {
        let event = within("a connection event", events.recv())
            .await
            .expect("the client lives");
        shown.debug(&event);
        if let ConnectionEvent::GaveUp { error, .. } = &event {
            panic!("gave up reconnecting: {error}");
        }
        if matches!(event, ConnectionEvent::Connected) {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_an_error_or_debug_output() {
    let capture = capture_everything();
    let mut shown = Shown::default();

    // --- Tokens to a hardlight server, accepted, refused, and reconnecting. ---
    let tls = ServerTls::self_signed(["localhost"]).expect("a certificate");
    let fingerprint = tls.fingerprint();
    // The port outlives the first server: the clients reconnect to the second one there.
    let held = HeldPort::new();
    let first = Served::spawn(
        authenticated(ServerConfig::new(held.address(), tls.clone())),
        factory!(TestHandler, Arc::new(Ctx::new("first"))),
    )
    .await;
    let port = first.port;
    let config = |address: String| {
        ClientConfig::pinned(address, fingerprint).reconnect(
            Reconnect::default().delays(Duration::from_millis(10), Duration::from_millis(50)),
        )
    };
    let at = format!("localhost:{port}");
    let accepted = [
        config(at.clone()).auth_token(HEADER_OK),
        config(at.clone()).auth_token_via(TokenCarrier::Subprotocol, SUBPROTOCOL_OK),
        config(at.clone()).auth_token_via(TokenCarrier::Query, QUERY_OK),
        config(format!(
            "wss://localhost:{port}/rpc?room=1&token={ADDRESS_OK}"
        )),
    ];
    let mut clients = Vec::new();
    for config in accepted {
        shown.debug(&config);
        let client = TestClient::new(config);
        let events = client.connection_events();
        within("connect", client.connect()).await.expect("accepted");
        assert_eq!(client.add(1, 1).await.expect("a call"), 2);
        shown.debug(&client);
        clients.push((client, events));
    }
    for config in [
        config(at.clone()).auth_token(HEADER_BAD),
        config(at.clone()).auth_token_via(TokenCarrier::Subprotocol, SUBPROTOCOL_BAD),
        config(at.clone()).auth_token_via(TokenCarrier::Query, QUERY_BAD),
        config(format!("localhost:{port}?token={ADDRESS_BAD}")),
        config(format!("wss://ada:{USERINFO}@localhost:{port}/")),
        config(at.clone()).auth_token_via(TokenCarrier::Subprotocol, format!("{INVALID}==")),
    ] {
        shown.debug(&config);
        let client = TestClient::new(config);
        let error = within("connect", client.connect())
            .await
            .expect_err("refused");
        shown.error(&error);
    }

    // The server goes; every client loses it, fails to reconnect for a while, then gets the next
    // server on the same port.
    first.shutdown.shutdown(Duration::ZERO);
    let mut first = first;
    first.stopped().await.expect("a clean shutdown");
    for (client, _) in &clients {
        shown.error(&within("the connection to end", client.closed()).await);
    }
    capture.wait_for("reconnect attempt failed").await;
    let _second = Served::spawn(
        authenticated(ServerConfig::new(held.address(), tls)),
        factory!(TestHandler, Arc::new(Ctx::new("second"))),
    )
    .await;
    for (client, events) in &mut clients {
        next_connected(events, &mut shown).await;
        assert_eq!(
            client.add(2, 2).await.expect("a call after reconnecting"),
            4
        );
    }

    // A server that never answers: the connect timeout's error names the address.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let client = TestClient::new(
        ClientConfig::plaintext(format!("ws://127.0.0.1:{silent_port}/rpc?token={TIMEOUT}"))
            .connect_timeout(Duration::from_millis(300)),
    );
    let error = within("the connect timeout", client.connect())
        .await
        .expect_err("nobody answers");
    shown.error(&error);
    drop(silent);

    // --- NATS credentials: a password, a wrong one, a token, and two URLs that disagree. ---
    let with_password = Nats::start_with(&["--user", "natsuser", "--pass", NATS_PASSWORD]);
    let bridged = |url: String| {
        let nats = NatsConfig::new(url);
        shown_debug_of(&nats);
        Server::new(
            ServerConfig::new_self_signed("127.0.0.1:0").nats(nats),
            factory!(TestHandler, Arc::new(Ctx::new("bridged"))),
        )
    };
    let server = bridged(format!(
        "nats://natsuser:{NATS_PASSWORD}@127.0.0.1:{}",
        with_password.port
    ));
    let bridge = server.nats_bridge().expect("configured");
    let bound = server.bind().await.expect("bind");
    let running = tokio::spawn(bound.run());
    within(
        "the bridge to connect with its password",
        bridge.wait_for(|s| s.connected),
    )
    .await;
    shown.debug(&bridge);
    running.abort();

    let server = bridged(format!(
        "nats://natsuser:{NATS_WRONG}@127.0.0.1:{}",
        with_password.port
    ));
    shown.debug(&server.nats_bridge());
    let running = tokio::spawn(server.bind().await.expect("bind").run());
    capture.wait_for("authorization violation").await;
    running.abort();

    let with_token = Nats::start_with(&["--auth", NATS_TOKEN]);
    let server = bridged(format!("nats://{NATS_TOKEN}@127.0.0.1:{}", with_token.port));
    let bridge = server.nats_bridge().expect("configured");
    let running = tokio::spawn(server.bind().await.expect("bind").run());
    within(
        "the bridge to connect with its token",
        bridge.wait_for(|s| s.connected),
    )
    .await;
    running.abort();

    let server = bridged(format!(
        "nats://a:{NATS_PASSWORD}@127.0.0.1:1,nats://b:{NATS_WRONG}@127.0.0.1:2"
    ));
    match server.bind().await {
        Ok(_) => panic!("two sets of credentials were accepted"),
        Err(error) => shown.error(&error),
    }

    // --- Nothing shown holds a secret; and the capture did see the libraries' TRACE output. ---
    let text = capture.text();
    assert!(
        text.contains("log TRACE tungstenite"),
        "tungstenite's TRACE records were not captured"
    );
    assert!(
        text.contains("TRACE async_nats"),
        "async-nats's TRACE events were not captured"
    );
    let shown = shown.0.join("\n");
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
        if let Some(at) = text.find(secret) {
            let from = text[..at].rfind('\n').map_or(0, |n| n + 1);
            let to = text[at..].find('\n').map_or(text.len(), |n| at + n);
            panic!("{secret} logged: {}", &text[from..to]);
        }
    }
}

fn shown_debug_of(nats: &NatsConfig) {
    let debug = format!("{nats:?}");
    for secret in SECRETS {
        assert!(!debug.contains(secret), "{debug}");
    }
}
