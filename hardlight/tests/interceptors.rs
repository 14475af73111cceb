//! Interceptors and per-call metadata: an interceptor refuses one method for one identity (the
//! client's call fails with `RpcError::Refused`, others go on); one records every call's outcome and
//! time; metadata a client attaches reaches the interceptor and the handler; a peer that did not
//! offer `hardlight.metadata` gets a refusal as status 5 and never sees the new status.
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use hardlight::__private::ServiceSchema;
use hardlight::__private::wire::frame::{ReplyStatus, ServerFrame, decode_server, encode_call};
use hardlight::server::{CallInfo, CallOutcome, Interceptor, Refusal};
use hardlight::*;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum VaultError {
    Locked,
}

#[rpc]
pub trait Vault {
    async fn read(&self) -> HandlerResult<String>;
    async fn wipe(&self) -> HandlerResult<()>;
    async fn locked(&self) -> Result<(), VaultError>;
    /// The value of metadata key `key` as the handler sees it.
    async fn meta(&self, key: String) -> HandlerResult<Option<String>>;
    async fn count(&self, n: u32) -> HandlerResult<Streaming<u32>>;
}

#[rpc_handler]
impl Vault for VaultHandler {
    async fn read(&self) -> HandlerResult<String> {
        Ok("secret".into())
    }

    async fn wipe(&self) -> HandlerResult<()> {
        Ok(())
    }

    async fn locked(&self) -> Result<(), VaultError> {
        Err(VaultError::Locked)
    }

    async fn meta(&self, key: String) -> HandlerResult<Option<String>> {
        Ok(server::call_metadata().and_then(|m| m.get(&key).map(str::to_owned)))
    }

    async fn count(&self, n: u32) -> HandlerResult<Streaming<u32>> {
        Ok(Streaming::iter(0..n))
    }
}

/// Refuses `wipe` to everyone but `admin`.
struct AdminWipes;

impl Interceptor for AdminWipes {
    fn before(&self, call: &CallInfo) -> Result<(), Refusal> {
        if call.method() == "wipe" && call.identity().name() != "admin" {
            return Err(Refusal::new(format!(
                "{} may not wipe the vault",
                call.identity().name()
            )));
        }
        Ok(())
    }
}

/// What an interceptor saw of one call.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: &'static str,
    identity: String,
    tenant: Option<String>,
    has_deadline: bool,
    outcome: CallOutcome,
    elapsed: Duration,
}

/// Records every call's end.
#[derive(Clone)]
struct Recorder(Arc<Mutex<Vec<Seen>>>, watch::Sender<usize>);

impl Interceptor for Recorder {
    fn before(&self, _call: &CallInfo) -> Result<(), Refusal> {
        Ok(())
    }

    fn after(&self, call: &CallInfo, outcome: CallOutcome, elapsed: Duration) {
        let mut seen = self.0.lock().unwrap();
        seen.push(Seen {
            method: call.method(),
            identity: call.identity().name().to_owned(),
            tenant: call.metadata().get("tenant").map(str::to_owned),
            has_deadline: call.deadline().is_some(),
            outcome,
            elapsed,
        });
        self.1.send_replace(seen.len());
    }
}

async fn vault(recorder: Recorder) -> Served {
    let config = ServerConfig::new_self_signed("127.0.0.1:0")
        .authenticate(|request: UpgradeRequest| async move {
            match request.token().as_deref() {
                Some(name) => Ok(Identity::new(name)),
                None => Ok(Identity::anonymous()),
            }
        })
        .interceptor(recorder)
        .interceptor(AdminWipes);
    Served::spawn(config, factory!(VaultHandler)).await
}

async fn client_of(server: &Served, name: &str) -> VaultClient {
    let client = VaultClient::new(server.client_config().auth_token(name));
    within("connecting", client.connect()).await.unwrap();
    client
}

fn recorder() -> (Recorder, watch::Receiver<usize>) {
    let (tx, rx) = watch::channel(0);
    (Recorder(Arc::default(), tx), rx)
}

#[tokio::test]
async fn an_interceptor_refuses_one_method_for_one_identity() {
    let (recorder, _) = recorder();
    let server = vault(recorder).await;
    let admin = client_of(&server, "admin").await;
    let bob = client_of(&server, "bob").await;

    admin.wipe().await.expect("admin may wipe");
    match bob.wipe().await {
        Err(CallError::Rpc(RpcError::Refused(reason))) => {
            assert_eq!(reason, "bob may not wipe the vault");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Only that method, and the connection carries on.
    assert_eq!(bob.read().await.unwrap(), "secret");
    assert!(bob.is_connected());
}

#[tokio::test]
async fn an_interceptor_sees_every_call_end_with_its_outcome_and_time() {
    let (recorder, mut ended) = recorder();
    let log = recorder.0.clone();
    let server = vault(recorder).await;
    let bob = client_of(&server, "bob").await;

    bob.read().await.unwrap();
    assert!(bob.locked().await.unwrap_err().handler_error().is_some());
    assert!(bob.wipe().await.is_err());
    let items: Vec<u32> = bob
        .count(3)
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(items, [0, 1, 2]);
    bob.with_timeout(Duration::from_secs(30))
        .read()
        .await
        .unwrap();

    within(
        "the interceptor to see five ends",
        ended.wait_for(|n| *n == 5),
    )
    .await
    .unwrap();
    let seen = log.lock().unwrap().clone();
    let outcomes: Vec<_> = seen.iter().map(|s| (s.method, s.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            ("read", CallOutcome::Ok),
            ("locked", CallOutcome::HandlerError),
            // Refused by the interceptor added after this one: this one's `after` still runs.
            ("wipe", CallOutcome::Refused),
            ("count", CallOutcome::Ok),
            ("read", CallOutcome::Ok),
        ]
    );
    assert!(seen.iter().all(|s| s.identity == "bob"));
    assert!(seen.iter().all(|s| s.elapsed < Duration::from_secs(30)));
    // Only the last call had a deadline.
    assert_eq!(
        seen.iter().map(|s| s.has_deadline).collect::<Vec<_>>(),
        [false, false, false, false, true]
    );
}

#[tokio::test]
async fn metadata_reaches_the_interceptor_and_the_handler() {
    let (recorder, mut ended) = recorder();
    let log = recorder.0.clone();
    let server = vault(recorder).await;
    let bob = client_of(&server, "bob").await;

    let metadata = Metadata::new()
        .with("tenant", "acme")
        .unwrap()
        .with("request-id", "r-17")
        .unwrap();
    let tagged = bob.with_metadata(metadata);
    assert_eq!(
        tagged.meta("tenant".into()).await.unwrap().as_deref(),
        Some("acme")
    );
    assert_eq!(
        tagged.meta("request-id".into()).await.unwrap().as_deref(),
        Some("r-17")
    );
    // Per handle: the plain handle sends none.
    assert_eq!(bob.meta("tenant".into()).await.unwrap(), None);

    within("three ends", ended.wait_for(|n| *n == 3))
        .await
        .unwrap();
    let tenants: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.tenant.clone())
        .collect();
    assert_eq!(tenants, [Some("acme".into()), Some("acme".into()), None]);

    // Bounded: what does not fit is refused before anything is sent.
    assert!(matches!(
        Metadata::new().with("blob", "x".repeat(5000)),
        Err(MetadataError::TooLarge(_))
    ));
}

#[tokio::test]
async fn a_peer_without_the_metadata_token_gets_a_refusal_it_knows() {
    let (recorder, _) = recorder();
    let server = vault(recorder).await;
    // The base protocol, as an older client speaks it: no `hardlight.metadata`.
    let offer: Vec<String> = base_offer(hardlight::fingerprint::<dyn Vault>(), None)
        .into_iter()
        .filter(|token| token != "hardlight.metadata")
        .collect();
    let (mut ws, hello) = raw_offering(server.port, offer).await;
    let Ok(ServerFrame::Hello(hello)) = decode_server(&hello) else {
        panic!("expected HELLO");
    };
    assert!(!hello.metadata, "HELLO offers metadata only to who asked");

    let wipe = method_index(<dyn Vault as ServiceSchema>::METHODS, "wipe");
    send_binary(&mut ws, encode_call(1, wipe, &()).unwrap()).await;
    let reply = within("the refusal", async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(bytes))) => return bytes,
                Some(Ok(_)) => continue,
                other => panic!("connection ended: {other:?}"),
            }
        }
    })
    .await;
    let Ok(ServerFrame::Reply {
        call_id,
        status,
        body,
    }) = decode_server(&reply)
    else {
        panic!("expected a REPLY");
    };
    assert_eq!((call_id, status), (1, ReplyStatus::Internal));
    assert_eq!(
        std::str::from_utf8(body).unwrap(),
        "refused: anonymous may not wipe the vault"
            .replace("anonymous", Identity::anonymous().name())
    );
}

/// Tags every call with a request id, refuses `wipe` before it is sent, and records every end.
#[derive(Clone, Default)]
struct ClientSide(Arc<Mutex<Vec<(&'static str, client::CallOutcome)>>>);

impl client::ClientInterceptor for ClientSide {
    fn before(&self, call: &mut client::OutgoingCall) -> Result<(), client::Refusal> {
        if call.method() == "wipe" {
            return Err(client::Refusal::new("this client does not wipe"));
        }
        let id = format!("{}-{}", call.method(), self.0.lock().unwrap().len());
        call.metadata_mut()
            .insert("tenant", id)
            .map_err(|e| client::Refusal::new(e.to_string()))
    }

    fn after(&self, call: &client::OutgoingCall, outcome: client::CallOutcome, _: Duration) {
        self.0.lock().unwrap().push((call.method(), outcome));
    }
}

#[tokio::test]
async fn a_client_interceptor_adds_metadata_refuses_locally_and_sees_each_end() {
    let (recorder, mut ended) = recorder();
    let server_log = recorder.0.clone();
    let server = vault(recorder).await;
    let side = ClientSide::default();
    let config = server
        .client_config()
        .auth_token("admin")
        .interceptor(side.clone());
    let admin = VaultClient::new(config);
    within("connecting", admin.connect()).await.unwrap();

    // The interceptor's metadata reaches the handler (over the handle's own, for the same key).
    let tagged = admin.with_metadata(Metadata::new().with("tenant", "mine").unwrap());
    assert_eq!(
        tagged.meta("tenant".into()).await.unwrap().as_deref(),
        Some("meta-0")
    );
    // Refused before sending: the server's interceptors never see it, though admin may wipe.
    match admin.wipe().await {
        Err(CallError::Rpc(RpcError::Refused(reason))) => {
            assert_eq!(reason, "this client does not wipe");
        }
        other => panic!("expected a local refusal, got {other:?}"),
    }
    assert!(admin.locked().await.is_err());

    within("the server to see two ends", ended.wait_for(|n| *n == 2))
        .await
        .unwrap();
    let server_saw: Vec<_> = server_log
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.method)
        .collect();
    assert_eq!(server_saw, ["meta", "locked"]);
    assert_eq!(
        *side.0.lock().unwrap(),
        [
            ("meta", client::CallOutcome::Ok),
            ("wipe", client::CallOutcome::Refused),
            ("locked", client::CallOutcome::HandlerError),
        ]
    );
}

#[tokio::test]
async fn an_extension_the_peer_did_not_negotiate_is_a_violation() {
    use hardlight::__private::wire::frame::{CallExtensions, encode_call_with};
    let (recorder, _) = recorder();
    let server = vault(recorder).await;
    let read = method_index(<dyn Vault as ServiceSchema>::METHODS, "read");
    let tenant = Metadata::new().with("tenant", "acme").unwrap();
    let parent =
        TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    for (token, extensions) in [
        (
            "hardlight.metadata",
            CallExtensions {
                metadata: Some(&tenant),
                ..Default::default()
            },
        ),
        (
            "hardlight.trace",
            CallExtensions {
                trace: Some(&parent),
                ..Default::default()
            },
        ),
    ] {
        let offer: Vec<String> = base_offer(hardlight::fingerprint::<dyn Vault>(), None)
            .into_iter()
            .filter(|offered| offered != token)
            .collect();
        let (mut ws, _hello) = raw_offering(server.port, offer).await;
        let call = encode_call_with(1, read, &extensions, &()).unwrap();
        send_binary(&mut ws, call).await;
        let (code, reason) = expect_close(&mut ws).await;
        assert_eq!(code, 1002, "{token}: {reason}");
    }
}
