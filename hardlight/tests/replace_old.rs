//! `IdentityPolicy::ReplaceOld` keeps its promise in every interleaving: a connection of an identity
//! is served (its `on_connect` runs) only after every older connection of that identity has finished
//! its `on_disconnect`, even when a newcomer in between gave up waiting.
//!
//! The old connection's `on_disconnect` is held on a gate the test opens; newcomers time out waiting
//! for it (the server's handshake timeout), so every step is an event the test waits on.
mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use hardlight::*;
use tokio::sync::{Semaphore, watch};

#[rpc(state = Serial)]
trait Presence {
    async fn serial(&self) -> HandlerResult<u32>;
}

#[connection_state]
struct Serial {
    serial: u32,
}

/// The hooks' log, and the gate the old connection's `on_disconnect` waits at.
struct Hooks {
    serials: AtomicU32,
    lines: Mutex<Vec<String>>,
    /// `on_disconnect` of connection #1 waits for a permit here.
    gate: Semaphore,
    /// How many `on_disconnect` hooks have started.
    disconnecting: watch::Sender<u32>,
}

impl Hooks {
    fn new() -> Self {
        Self {
            serials: AtomicU32::new(0),
            lines: Mutex::new(Vec::new()),
            gate: Semaphore::new(0),
            disconnecting: watch::channel(0).0,
        }
    }

    fn push(&self, line: String) {
        self.lines.lock().unwrap().push(line);
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

#[rpc_handler(context = Hooks)]
impl Presence for PresenceHandler {
    async fn serial(&self) -> HandlerResult<u32> {
        Ok(self.state.read().await.serial)
    }

    #[on_connect]
    async fn joined(&self) {
        let serial = self.context.serials.fetch_add(1, Ordering::SeqCst) + 1;
        self.state.write().await.serial = serial;
        self.context.push(format!("connect #{serial}"));
    }

    #[on_disconnect]
    async fn left(&self) {
        let serial = self.state.read().await.serial;
        self.context.push(format!("disconnect #{serial} starts"));
        self.context.disconnecting.send_modify(|n| *n += 1);
        if serial == 1 {
            let _permit = self.context.gate.acquire().await;
        }
        self.context.push(format!("disconnect #{serial} ends"));
    }
}

/// How long a newcomer waits for the old connection before it is refused with 503. Long enough for a
/// loaded machine to finish a TLS handshake well within it; every wait on it is an event.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

struct Setup {
    server: Served,
    hooks: Arc<Hooks>,
}

async fn start() -> Setup {
    let hooks = Arc::new(Hooks::new());
    let config = ServerConfig::new_self_signed("127.0.0.1:0")
        .one_connection_per_identity(IdentityPolicy::ReplaceOld)
        .handshake_timeout(HANDSHAKE_TIMEOUT)
        // The gate, not this limit, decides when the old on_disconnect ends.
        .disconnect_hook_timeout(Duration::from_secs(120))
        .authenticate(|request: UpgradeRequest| async move {
            match request.token().as_deref() {
                Some("ada-token") => Ok(Identity::new("ada")),
                _ => Err(Rejection::new("unknown token")),
            }
        });
    let server = Served::spawn(config, factory!(PresenceHandler, hooks.clone())).await;
    Setup { server, hooks }
}

impl Setup {
    fn ada(&self) -> PresenceClient {
        PresenceClient::new(self.server.client_config().auth_token("ada-token"))
    }

    /// Connects a client of ada; the connect's result.
    async fn connect(&self) -> (PresenceClient, Result<(), ConnectError>) {
        let client = self.ada();
        let result = within("connect", client.connect()).await;
        (client, result)
    }

    /// Waits until `n` on_disconnect hooks have started.
    async fn disconnecting(&self, n: u32) {
        let mut rx = self.hooks.disconnecting.subscribe();
        within(
            "on_disconnect to start",
            rx.wait_for(|started| *started >= n),
        )
        .await
        .expect("the hooks live as long as the test");
    }

    /// Opens the gate, then checks that the identity is served again, after the old on_disconnect.
    async fn release_and_serve_again(&self) {
        self.hooks.gate.add_permits(1);
        let (client, result) = self.connect().await;
        result.expect("served once the old connection has ended");
        assert_eq!(client.serial().await.unwrap(), 2);
        assert_eq!(
            self.hooks.lines(),
            [
                "connect #1",
                "disconnect #1 starts",
                "disconnect #1 ends",
                "connect #2"
            ]
        );
    }
}

fn assert_refused_503(who: &str, result: Result<(), ConnectError>) {
    match result {
        Err(ConnectError::HandshakeRefused { code: 503, .. }) => {}
        other => {
            panic!("{who}: expected a 503 refusal while the old connection closes, got {other:?}")
        }
    }
}

#[tokio::test]
async fn a_newcomer_after_one_that_gave_up_waiting_still_waits_for_the_old_on_disconnect() {
    let setup = start().await;
    let (_old, result) = setup.connect().await;
    result.expect("the first connection");

    // The second replaces the first, whose on_disconnect then hangs; the second gives up waiting.
    let (_second, result) = setup.connect().await;
    setup.disconnecting(1).await;
    assert_refused_503("the second", result);

    // The third arrives after the second left: the old on_disconnect still runs, so it must wait too
    // (and, the gate staying shut, give up as well) rather than be served at once.
    let (_third, result) = setup.connect().await;
    assert_refused_503("the third", result);
    assert_eq!(setup.hooks.lines(), ["connect #1", "disconnect #1 starts"]);

    setup.release_and_serve_again().await;
}

#[tokio::test]
async fn a_newcomer_replacing_one_still_waiting_waits_for_the_old_on_disconnect_too() {
    let setup = start().await;
    let (_old, result) = setup.connect().await;
    result.expect("the first connection");

    // The second replaces the first and waits for its on_disconnect, which hangs.
    let second = setup.ada();
    let second_connect = tokio::spawn(async move {
        let result = within("connect", second.connect()).await;
        (second, result)
    });
    setup.disconnecting(1).await;

    // The third replaces the waiting second. When the second gives up, the old connection's
    // on_disconnect still runs: the third must keep waiting for it.
    let (_third, result) = setup.connect().await;
    let (_second, second_result) = second_connect.await.expect("the second's task");
    assert_refused_503("the second", second_result);
    assert_refused_503("the third", result);
    assert_eq!(setup.hooks.lines(), ["connect #1", "disconnect #1 starts"]);

    setup.release_and_serve_again().await;
}
